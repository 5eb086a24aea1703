//! Fleet runs: one runbook across many accounts, regions and profiles, with rate control, one recap
//! and one undo.
//!
//! Targets come from `--regions` × `--profiles`, from `--accounts` with `--assume-role`, or from a
//! `--targets` file. Before anything runs, every target's credentials are resolved (assuming its
//! role) and its account confirmed with STS GetCallerIdentity. Each target then runs as a child
//! `runbook` process of its own: its own engine, context, SDK clients, retry partitions and journal.
//! The parent starts them in batches, at most `--concurrency` at a time, stops starting new ones
//! once `--max-errors` is exceeded, prefixes every line a child prints with its target (whole lines,
//! never interleaved), and ends with a recap. Its own journal lists the children, so `runs`, `show`
//! and `undo` take the fleet as one run.

mod jobs;
mod permissions;
mod progress;
mod record;
mod shards;
mod targets;

pub use jobs::{run_jobs, Job, Status};
pub use record::{drift, is_fleet, render, undo, DriftOptions, UndoOptions};
pub use targets::{reach, targets, Reached, Target};

use crate::args::{Common, LockArgs};
use crate::diagnostics::fail;
use jobs::SIGNAL;
use runbook_run::journal;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// How wide a plan fans out unless told: a plan sends reads only, so its risk is throttling, not
/// damage, and the SDK's per-account, per-region retry partitions absorb that.
pub const PLAN_CONCURRENCY: usize = 10;

/// The fleet options of `run`, `plan` and `undo`.
#[derive(clap::Args, Clone, Default)]
pub struct FleetArgs {
    /// Run in each of these regions (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "R,R")]
    pub regions: Vec<String>,
    /// Run with each of these profiles (comma-separated), in each region
    #[arg(long, value_delimiter = ',', value_name = "P,P")]
    pub profiles: Vec<String>,
    /// Run in each of these accounts (comma-separated) through --assume-role
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub accounts: Vec<String>,
    /// The role to assume in each account: a name, or an ARN with {account} in it
    #[arg(long = "assume-role", value_name = "NAME|ARN")]
    pub assume_role: Option<String>,
    /// The external id the roles' trust policies ask for (a targets file may give one per target)
    #[arg(long = "external-id", value_name = "ID")]
    pub external_id: Option<String>,
    /// A TOML file of targets: per target its account, role, region, profile, external_id and set values
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Targets running at once (default 1 for run and undo, 10 for plan)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: Option<u32>,
    /// Once more targets than this have failed (a count, or a percentage of the targets), no new target starts
    #[arg(long = "max-errors", value_name = "N|P%")]
    pub max_errors: Option<String>,
    /// Batch sizes, counts or percentages, the last one repeating: 1,25%,100% runs a canary first
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub batches: Vec<String>,
    /// Run the targets whose credentials work even if others fail the check before the run
    #[arg(long = "skip-unreachable")]
    pub skip_unreachable: bool,
    /// Write each target's output to DIR/<target>.log instead of the terminal
    #[arg(long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Run the I-th of N parts of the targets (from 1); every shard of one fleet gives one --fleet-id
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Split the targets in N parts, this one's index (from 0) from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub shards: Option<u32>,
    /// The fleet the shards journal as one (default: RUNBOOK_FLEET_ID, else derived from the CI run of a shard)
    #[arg(long = "fleet-id", value_name = "ID")]
    pub fleet_id: Option<String>,
}

impl FleetArgs {
    pub fn active(&self) -> bool {
        !self.regions.is_empty() || !self.profiles.is_empty() || !self.accounts.is_empty() || self.targets.is_some()
    }

    /// A rate or output option given without any targets to apply it to.
    pub fn stray(&self) -> Option<String> {
        let given = [
            (self.assume_role.is_some(), "--assume-role"),
            (self.external_id.is_some(), "--external-id"),
            (self.concurrency.is_some(), "--concurrency"),
            (self.max_errors.is_some(), "--max-errors"),
            (!self.batches.is_empty(), "--batches"),
            (self.skip_unreachable, "--skip-unreachable"),
            (self.output_dir.is_some(), "--output-dir"),
            (self.shard.is_some(), "--shard"),
            (self.shards.is_some(), "--shards"),
            (self.fleet_id.is_some(), "--fleet-id"),
        ];
        given
            .iter()
            .find(|(g, _)| *g)
            .map(|(_, flag)| format!("{flag} is for many targets: add --regions, --profiles, --accounts or --targets"))
    }
}

/// How many failures stop new targets from starting.
fn error_limit(text: Option<&str>, total: usize) -> Result<Option<usize>, String> {
    let Some(text) = text else { return Ok(None) };
    let bad = || format!("--max-errors {text:?}: expected a count (2) or a percentage (10%)");
    match text.strip_suffix('%') {
        Some(p) => {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(Some((p * total as f64 / 100.0).floor() as usize))
        }
        None => text.trim().parse::<usize>().map(Some).map_err(|_| bad()),
    }
}

/// Batch sizes over `total` targets: counts or percentages, the last repeating until all are in.
fn batches(sizes: &[String], total: usize) -> Result<Vec<usize>, String> {
    if sizes.is_empty() {
        return Ok(if total == 0 { vec![] } else { vec![total] });
    }
    let mut parsed = Vec::new();
    for s in sizes {
        let bad = || format!("--batches {s:?}: expected a count (5) or a percentage (25%)");
        let n = match s.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.parse().map_err(|_| bad())?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(bad());
                }
                ((p * total as f64 / 100.0).ceil() as usize).max(1)
            }
            None => s.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad)?,
        };
        parsed.push(n);
    }
    // As Ansible's `serial`: each size is a batch (a percentage of all targets), the last repeating.
    let mut out = Vec::new();
    let mut done = 0;
    let mut i = 0;
    while done < total {
        let n = parsed[i.min(parsed.len() - 1)].min(total - done);
        out.push(n);
        done += n;
        i += 1;
    }
    Ok(out)
}

/// A child's command line in target `t`: `verb FILE`, the values set for all and for it, its
/// region and profile, and the shared options.
fn child_args(
    verb: &str,
    file: &Path,
    sets: &std::collections::BTreeMap<String, String>,
    t: &Target,
    r: &Reached,
    common: &Common,
) -> Vec<String> {
    let mut args = vec![verb.to_string(), file.to_string_lossy().into_owned()];
    let mut all = sets.clone();
    all.extend(t.set.clone());
    for (k, v) in &all {
        args.extend(["--set".into(), format!("{k}={v}")]);
    }
    if let Some(r) = &t.region {
        args.extend(["--region".into(), r.clone()]);
    }
    if let (Some(p), None) = (&t.profile, &r.credentials) {
        args.extend(["--profile".into(), p.clone()]);
    }
    args.extend(shared_args(common));
    args
}

/// The arguments every child gets from the parent's command line, fleet options left out.
fn shared_args(common: &Common) -> Vec<String> {
    let mut a = Vec::new();
    let aws = &common.aws;
    if let Some(u) = &aws.endpoint_url {
        a.extend(["--endpoint-url".into(), u.clone()]);
    }
    if let Some(n) = aws.max_attempts {
        a.extend(["--max-attempts".into(), n.to_string()]);
    }
    if let Some(m) = &aws.retry_mode {
        a.extend(["--retry-mode".into(), m.clone()]);
    }
    if let Some(t) = aws.call_timeout {
        a.extend(["--call-timeout".into(), t.to_string()]);
    }
    if let Some(t) = aws.propagation_timeout {
        a.extend(["--propagation-timeout".into(), t.to_string()]);
    }
    if common.no_tag {
        a.push("--no-tag".into());
    }
    for l in &common.limits {
        a.extend(["--limit".into(), l.clone()]);
    }
    for _ in 0..common.verbose {
        a.push("-v".into());
    }
    if common.show_sensitive {
        a.push("--show-sensitive".into());
    }
    a
}

/// A child's journal options. A store's cache is given as the store, which the child connects to
/// itself, with the store's own profile if it has one.
fn journal_args(dir: &Path, profile: Option<&str>) -> Vec<String> {
    match runbook_run::store::of(dir) {
        Some(store) => {
            let mut a = vec!["--journal-dir".into(), store.spec.text()];
            if let Some(p) = profile {
                a.extend(["--journal-profile".into(), p.to_string()]);
            }
            a
        }
        None => vec!["--journal-dir".into(), dir.to_string_lossy().into_owned()],
    }
}

/// A run child's lock options, as the fleet was given them; each child locks its own place.
fn lock_args(lock: &LockArgs) -> Vec<String> {
    let mut a = Vec::new();
    if let Some(n) = &lock.lock {
        a.extend(["--lock".into(), n.clone()]);
    }
    if lock.no_lock {
        a.push("--no-lock".into());
    }
    if let Some(t) = lock.lock_timeout {
        a.extend(["--lock-timeout".into(), t.to_string()]);
    }
    if let Some(l) = lock.lock_lease {
        a.extend(["--lock-lease".into(), l.to_string()]);
    }
    a
}

/// The environment that puts a child in its target: the assumed role's credentials, or the profile;
/// and how they were obtained, for its journal (undo obtains them again from there).
fn target_env(
    t: &Target,
    label: &str,
    reached: &Reached,
    ids: (&str, &str),
    session: &str,
) -> (Vec<(String, String)>, Vec<String>) {
    let (parent, child_run) = ids;
    let mut env = vec![
        ("RUNBOOK_PARENT_RUN".to_string(), parent.to_string()),
        ("RUNBOOK_RUN_ID".to_string(), child_run.to_string()),
        ("RUNBOOK_TARGET".to_string(), label.to_string()),
        ("RUNBOOK_TARGET_ACCOUNT".to_string(), reached.account.clone()),
    ];
    let mut remove = vec!["RUNBOOK_TARGET_ROLE".to_string(), "RUNBOOK_ASSUMED".to_string()];
    if let Some((key, secret, token)) = &reached.credentials {
        env.push(("AWS_ACCESS_KEY_ID".into(), key.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret.clone()));
        env.push(("AWS_SESSION_TOKEN".into(), token.clone()));
        remove.push("AWS_PROFILE".into());
        if let Some(role) = &t.role {
            remove.retain(|k| k != "RUNBOOK_TARGET_ROLE" && k != "RUNBOOK_ASSUMED");
            env.push(("RUNBOOK_TARGET_ROLE".into(), role.clone()));
            // The credentials given are that role's already: an undo does not assume it again.
            env.push(("RUNBOOK_ASSUMED".into(), role.clone()));
            env.push(("RUNBOOK_TARGET_SESSION".into(), session.to_string()));
            env.push(("RUNBOOK_TARGET_PROFILE".into(), t.profile.clone().unwrap_or_default()));
            env.push(("RUNBOOK_TARGET_EXTERNAL_ID".into(), t.external_id.clone().unwrap_or_default()));
        }
    }
    (env, remove)
}

/// `runbook run|plan FILE` across the targets.
pub fn run(file: &Path, common: &Common, fleet: &FleetArgs, plan: bool, lock: &LockArgs) -> ExitCode {
    if common.aws.region.is_some() && !fleet.regions.is_empty() {
        return fail("--region and --regions both name regions: give one");
    }
    if common.aws.profile.is_some() && !fleet.profiles.is_empty() {
        return fail("--profile and --profiles both name profiles: give one");
    }
    let targets = match targets(fleet, common).and_then(|t| targets::refuse_duplicates(&t).map(|()| t)) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let labels = targets::labels(&targets);
    // What `runbook check` is certain of stops the fleet before any target is reached. A script's
    // parameters are its environment: there is nothing to check them against.
    let script = crate::project::is_script(file);
    if let Some(found) = (!script).then(|| crate::check::before_run(file)).flatten() {
        eout!("{found}");
        return ExitCode::from(2);
    }
    // The fleet's whole list, as every shard reads it; this process runs its part.
    let (all_targets, all_labels) = (targets.clone(), labels.clone());
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let shard = match shards::from(fleet.shard.as_deref(), fleet.shards, &env) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let fleet_id = match fleet_id(fleet, file, shard.as_ref(), &env, plan) {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    // A fleet whose undo finished is over: a run under its id would join what was undone.
    if let Some((id, from)) = fleet_id.as_ref().filter(|_| !plan) {
        if let Some(by) = journal::undone_by(&common.journal.dir(), id) {
            return fail(&format!(
                "fleet {id} (from {from}) was undone by run {by}, and a finished undo is final: give this run \
                 a fleet id of its own"
            ));
        }
    }
    let positions = shards::select(targets.len(), shard.as_ref());
    let targets: Vec<Target> = positions.iter().map(|&i| all_targets[i].clone()).collect();
    let labels: Vec<String> = positions.iter().map(|&i| all_labels[i].clone()).collect();
    if let Some(s) = &shard {
        eoutln!(
            "runbook: shard {} of {} (from {}): {} of the {} targets{}",
            s.index,
            s.count,
            s.from,
            targets.len(),
            all_targets.len(),
            fleet_id.as_ref().map(|(id, from)| format!(", of fleet {id} (from {from})")).unwrap_or_default()
        );
    }
    let sets = match crate::params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let root = crate::project::runbook_root(file);
    for (t, label) in targets.iter().zip(&labels).filter(|_| !script) {
        let mut all = sets.clone();
        all.extend(t.set.clone());
        if let Err(e) = crate::params::check_for(&root, file, &all) {
            return fail(&format!("target {label}: {e}"));
        }
        // Values of the wrong type are refused here, before any target starts, not in one of them.
        if let Err(e) = crate::params::check_types(&root, file, &all) {
            // A value from the targets file's `set` is named there, not as a --set.
            let from_file = t.set.keys().find(|k| e.starts_with(&format!("parameter {k}:")));
            let e = match (from_file, &fleet.targets) {
                (Some(k), Some(path)) => e.replace(
                    &format!("(from --set {k}="),
                    &format!("(from the set of target {label} in {}: {k}=", path.display()),
                ),
                _ => e,
            };
            return fail(&format!("target {label}: {e}"));
        }
    }
    let (limit, sizes) =
        match (error_limit(fleet.max_errors.as_deref(), targets.len()), batches(&fleet.batches, targets.len())) {
            (Ok(l), Ok(s)) => (l, s),
            (Err(e), _) | (_, Err(e)) => return fail(&e),
        };
    let concurrency = fleet.concurrency.map(|c| c as usize).unwrap_or(if plan { PLAN_CONCURRENCY } else { 1 });
    if let Some(dir) = &fleet.output_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(&format!("cannot create --output-dir {}: {e}", dir.display()));
        }
    }
    let parent = journal::new_run_id();
    let session = format!("runbook-{parent}");
    let start_record = |concurrency: usize| {
        json!({
            "type": "start", "run": parent, "time": journal::now(), "started_ms": journal::now_ms(),
            "kind": "fleet", "file": file, "mode": "run",
            "targets": all_targets.iter().zip(&all_labels).map(|(t, l)| json!({ "label": l, "target": t })).collect::<Vec<_>>(),
            "fleet_id": fleet_id.as_ref().map(|(id, _)| id),
            "shard": shard.as_ref().map(|s| json!([s.index, s.count])),
            "concurrency": concurrency, "max_errors": fleet.max_errors, "batches": fleet.batches,
            "endpoint": endpoint_in_force(common), "version": env!("CARGO_PKG_VERSION"),
        })
    };
    if targets.is_empty() {
        // A shard with no part of the list still reports, so the fleet knows it ended.
        if !plan {
            let end = json!({ "type": "end", "time": journal::now(), "outcome": "succeeded", "targets": 0,
                              "succeeded": 0, "failed": 0, "seconds": 0.0 });
            let dir = common.journal.dir();
            if let Err(e) = journal::Journal::create(&dir, &parent)
                .and_then(|mut j| j.append(&start_record(concurrency), true).and_then(|()| j.append(&end, true)))
            {
                return fail(&e);
            }
        }
        eoutln!("runbook: this shard has no targets: nothing to run");
        return ExitCode::SUCCESS;
    }

    // Region names first, before any request: a misspelt one is named at once. A target with a
    // profile is checked once its profile is read (the profile may set an endpoint_url), still
    // before anything is written.
    if endpoint_in_force(common).is_none() {
        for (t, label) in targets.iter().zip(&labels).filter(|(t, _)| t.profile.is_none()) {
            if let Some(Err(e)) = t.region.as_deref().map(runbook_bindings::regions::check) {
                return fail(&format!("target {label}: {e}; nothing was run anywhere"));
            }
        }
    }
    // Before anything is written anywhere: every target's credentials and account.
    let reached = reach(&targets, common.aws.endpoint_url.as_deref(), &session);
    let unreachable: Vec<(usize, String)> =
        reached.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.clone()))).collect();
    for (i, e) in &unreachable {
        eoutln!("[{}] unreachable: {e}", labels[*i]);
    }
    if !unreachable.is_empty() && !fleet.skip_unreachable {
        return fail(&format!(
            "{} of {} targets failed the check before the run; nothing was run anywhere (--skip-unreachable runs the others)",
            unreachable.len(),
            targets.len()
        ));
    }
    if unreachable.len() == targets.len() {
        return fail("no target is reachable; nothing was run");
    }
    // Before a run: the permissions its plan needs, asked of IAM for each target's principal.
    let mut reached = reached;
    if !plan {
        let policy_child = |i: usize| {
            let r = reached[i].as_ref().ok()?;
            let (env, remove) = target_env(&targets[i], &labels[i], r, (&parent, &parent), &session);
            Some((child_args("policy", file, &sets, &targets[i], r, common), env, remove))
        };
        let lacking = permissions::check(&labels, &reached, policy_child);
        for (i, e) in &lacking {
            reached[*i] = Err(e.clone());
        }
        if !lacking.is_empty() && !fleet.skip_unreachable {
            return fail(&format!(
                "{} of {} targets lack permissions the run needs; nothing was run anywhere (--skip-unreachable runs the others)",
                lacking.len(),
                targets.len()
            ));
        }
        if reached.iter().all(|r| r.is_err()) {
            return fail("no target has the permissions the run needs; nothing was run");
        }
    }

    let dir = common.journal.dir();
    let mut parent_journal = if plan {
        None
    } else {
        let start = start_record(concurrency);
        match journal::Journal::create(&dir, &parent).and_then(|mut j| j.append(&start, true).map(|_| j)) {
            Ok(j) => Some(j),
            Err(e) => return fail(&e),
        }
    };

    let mut jobs = Vec::new();
    let mut job_of_target = Vec::new();
    let mut child_runs = Vec::new();
    let mut target_of_job = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let Ok(r) = &reached[i] else {
            job_of_target.push(None);
            continue;
        };
        let child = journal::new_run_id();
        let mut args = child_args(if plan { "plan" } else { "run" }, file, &sets, t, r, common);
        args.extend(journal_args(&dir, common.journal.journal_profile.as_deref()));
        if !plan {
            args.extend(lock_args(lock));
        }
        let (mut env, remove_env) = target_env(t, &labels[i], r, (&parent, &child), &session);
        // The fleet's targets (every shard's) share the places they write in with each other.
        let group = fleet_id.as_ref().map(|(id, _)| id.clone()).unwrap_or_else(|| parent.clone());
        env.push(("RUNBOOK_LOCK_GROUP".into(), group));
        job_of_target.push(Some(jobs.len()));
        target_of_job.push(i);
        child_runs.push(child);
        jobs.push(Job { label: labels[i].clone(), place: format!("{:?}", t.place()), args, env, remove_env });
    }
    let started = Instant::now();
    let times: std::cell::RefCell<Vec<Option<Instant>>> = std::cell::RefCell::new(vec![None; jobs.len()]);
    let mut seconds: Vec<f64> = vec![0.0; jobs.len()];
    let journal_cell = std::cell::RefCell::new(parent_journal.take());
    let statuses = run_jobs(
        &jobs,
        concurrency,
        limit,
        &sizes,
        fleet.output_dir.as_deref(),
        |i| {
            times.borrow_mut()[i] = Some(Instant::now());
            if let Some(j) = journal_cell.borrow_mut().as_mut() {
                let _ = j.append(
                    &json!({ "type": "child", "target": jobs[i].label, "index": positions[target_of_job[i]], "run": child_runs[i], "time": journal::now(), "time_ms": journal::now_ms() }),
                    true,
                );
            }
        },
        |i, status| {
            seconds[i] = times.borrow()[i].map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
            if let Some(j) = journal_cell.borrow_mut().as_mut() {
                let _ = j.append(&json!({ "type": "child_end", "target": jobs[i].label, "index": positions[target_of_job[i]], "run": child_runs[i], "status": status.word(), "time_ms": journal::now_ms() }), true);
            }
        },
    );

    // The recap, from each child's journal.
    let mut rows = Vec::new();
    let mut failed_targets = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        let (status, child) = match (job_of_target[ti], &reached[ti]) {
            (Some(j), _) => (statuses[j].clone(), Some(j)),
            (None, Err(e)) => (Status::Unreachable(e.clone()), None),
            (None, Ok(_)) => (Status::NotStarted, None),
        };
        let records =
            child.filter(|_| !plan).and_then(|j| journal::read(&dir, &child_runs[j]).ok()).unwrap_or_default();
        let end = records.iter().rev().find(|r| r["type"] == "end").cloned().unwrap_or(Value::Null);
        let num = |k: &str| end[k].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let error = match &status {
            Status::Unreachable(e) => e.clone(),
            _ => {
                let what = end["error"]["message"].as_str().or_else(|| end["error"]["code"].as_str()).unwrap_or("");
                // Where it failed, file and line, before what it was.
                match end["error"]["at"].as_str() {
                    Some(at) if !what.is_empty() => format!("{at}: {what}"),
                    _ => what.to_string(),
                }
            }
        };
        let secs = child
            .filter(|_| status != Status::NotStarted)
            .map(|j| format!("{:.1}", seconds[j]))
            .unwrap_or_else(|| "-".into());
        if matches!(status, Status::Failed(_) | Status::NotStarted | Status::Interrupted | Status::Unreachable(_)) {
            failed_targets.push(t.clone());
        }
        rows.push([
            labels[ti].clone(),
            status.word().to_string(),
            num("calls"),
            num("writes"),
            num("created"),
            secs,
            error.lines().next().unwrap_or("").to_string(),
        ]);
    }
    let mut recap = String::new();
    let heads = ["TARGET", "STATUS", "CALLS", "WRITES", "CREATED", "SECONDS", "FIRST ERROR"];
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].len()).chain([heads[c].len()]).max().unwrap_or(0)).collect();
    let line = |cells: [&str; 7]| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate().take(6) {
            l.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        l.push_str(cells[6]);
        format!("{}\n", l.trim_end())
    };
    recap.push_str(&format!("\nRECAP {} of {file}\n", if plan { "plan" } else { "run" }, file = file.display()));
    recap.push_str(&line(heads));
    for r in &rows {
        recap.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]));
    }
    let succeeded = statuses.iter().filter(|s| **s == Status::Succeeded).count();
    let interrupted = SIGNAL.load(Ordering::SeqCst);
    let journal_text = match runbook_run::store::of(&dir) {
        Some(store) => format!("{}/runs/{parent}/", store.spec.text()),
        None => dir.join(format!("{parent}.jsonl")).display().to_string(),
    };
    recap.push_str(&format!(
        "{succeeded} of {} targets succeeded in {:.1} s{}\n",
        targets.len(),
        started.elapsed().as_secs_f64(),
        if plan { String::new() } else { format!("; journal: {journal_text}") }
    ));
    let journal_flags = crate::run::journal_flags(&dir, common.journal.journal_profile.as_deref());
    let outcome = if interrupted != 0 {
        "interrupted"
    } else if failed_targets.is_empty() {
        "succeeded"
    } else {
        "failed"
    };
    if let Some(j) = journal_cell.borrow_mut().as_mut() {
        let _ = j.append(
            &json!({ "type": "end", "time": journal::now(), "outcome": outcome, "targets": targets.len(),
                     "succeeded": succeeded, "failed": failed_targets.len(), "seconds": started.elapsed().as_secs_f64() }),
            true,
        );
    }
    eout!("{}", runbook_bindings::secrets::redact(&recap));
    if !failed_targets.is_empty() && !plan {
        let again = dir.join(format!("{parent}-again.toml"));
        let text = toml_targets(&failed_targets);
        if std::fs::write(&again, text).is_ok() {
            let mut cmd = format!("runbook run {} --targets {}", file.display(), again.display());
            for s in &common.set {
                cmd.push_str(&format!(" --set {s}"));
            }
            for a in shared_args(common) {
                cmd.push_str(&format!(" {a}"));
            }
            // Where its journals go: the store (or folder) this fleet used.
            cmd.push_str(&crate::run::journal_flags(&dir, common.journal.journal_profile.as_deref()));
            // The re-run joins the same fleet, so one undo still covers all of it.
            if let Some((id, _)) = &fleet_id {
                cmd.push_str(&format!(" --fleet-id {id}"));
            }
            eoutln!("re-run the {} that did not succeed: {cmd}", failed_targets.len());
        }
    }
    match (&fleet_id, &shard, plan) {
        (_, _, true) => {}
        (Some((id, _)), Some(s), false) => eoutln!(
            "this was shard {} of {} of fleet {id}: every shard's targets: runbook show {id}{journal_flags}; \
             undo them all: runbook undo {id}{journal_flags}",
            s.index,
            s.count
        ),
        (Some((id, _)), None, false) => eoutln!("undo every target: runbook undo {id}{journal_flags}"),
        (None, _, false) => eoutln!("undo every target: runbook undo {parent}{journal_flags}"),
    }
    if interrupted != 0 {
        return ExitCode::from(128 + interrupted as u8);
    }
    if succeeded == 0 && statuses.iter().all(|s| *s == Status::NotStarted) {
        return ExitCode::from(2);
    }
    if failed_targets.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The fleet id in force, checked, and where it came from. One derived from a CI run is taken
/// only by shards (a CI run may start several fleets of one process each) and names the runbook,
/// so that two runbooks sharded in one CI run stay two fleets.
fn fleet_id(
    fleet: &FleetArgs,
    file: &Path,
    shard: Option<&shards::Shard>,
    env: &std::collections::HashMap<String, String>,
    plan: bool,
) -> Result<Option<(String, String)>, String> {
    let explicit = fleet.fleet_id.is_some() || env.get("RUNBOOK_FLEET_ID").is_some_and(|v| !v.trim().is_empty());
    let found = match shards::fleet_id(fleet.fleet_id.as_deref(), env) {
        Some((id, from)) if !explicit => {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let stem: String =
                stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
            shard.map(|_| (format!("{id}-{stem}"), from))
        }
        other => other,
    };
    if let Some((id, from)) = &found {
        runbook_run::fleets::check_id(id).map_err(|e| format!("{e} (from {from})"))?;
    }
    if found.is_none() && shard.is_some_and(|s| s.count > 1) && !plan {
        return Err(
            "a shard needs the fleet it is part of: give every shard one --fleet-id ID (or RUNBOOK_FLEET_ID); \
                    in GitHub Actions, AWS Batch and GitLab CI it is derived from the CI run"
                .into(),
        );
    }
    Ok(found)
}

/// The endpoint the targets send to: `--endpoint-url`, else AWS_ENDPOINT_URL as the SDK reads it.
fn endpoint_in_force(common: &Common) -> Option<String> {
    common.aws.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok().filter(|u| !u.is_empty()))
}

/// A targets file listing `targets`, for re-running them.
fn toml_targets(targets: &[Target]) -> String {
    let mut o = String::from("# The targets of a fleet run that did not succeed.\n");
    for t in targets {
        o.push_str("\n[[target]]\n");
        for (k, v) in [
            ("account", &t.account),
            ("role", &t.role),
            ("region", &t.region),
            ("profile", &t.profile),
            ("external_id", &t.external_id),
        ] {
            if let Some(v) = v {
                o.push_str(&format!("{k} = {}\n", toml::Value::String(v.clone())));
            }
        }
        if !t.set.is_empty() {
            let pairs: Vec<String> =
                t.set.iter().map(|(k, v)| format!("{k} = {}", toml::Value::String(v.clone()))).collect();
            o.push_str(&format!("set = {{ {} }}\n", pairs.join(", ")));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_error_limits() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(batches(&[], 6).unwrap(), [6]);
        assert_eq!(batches(&s(&["1", "25%", "100%"]), 8).unwrap(), [1, 2, 5]);
        assert_eq!(batches(&s(&["2"]), 5).unwrap(), [2, 2, 1]);
        assert!(batches(&s(&["0"]), 5).is_err());
        assert_eq!(error_limit(Some("0"), 6).unwrap(), Some(0));
        assert_eq!(error_limit(Some("50%"), 6).unwrap(), Some(3));
        assert!(error_limit(Some("many"), 6).unwrap_err().contains("--max-errors"));
    }
}
