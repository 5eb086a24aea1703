//! A fleet's journal: `runbook show FLEET` and `runbook undo FLEET`.

use super::jobs::{run_jobs, Job, Status, SIGNAL};
use super::targets::{reach, Target};
use crate::diagnostics::fail;
use runbook_run::journal;
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// Whether a journal's records are a fleet's.
pub fn is_fleet(records: &[Value]) -> bool {
    records.first().is_some_and(|r| r["kind"] == "fleet")
}

/// The targets a fleet started, newest last: (label, its target, its run id).
fn started(records: &[Value]) -> Vec<(String, Option<Target>, String)> {
    let targets = records[0]["targets"].as_array().cloned().unwrap_or_default();
    journal::children(records)
        .into_iter()
        .filter_map(|run| {
            let child = records.iter().find(|r| r["type"] == "child" && r["run"] == run.as_str())?;
            let label = child["target"].as_str().unwrap_or("?").to_string();
            // Its shard's entry (a gathered fleet); else by its index; a journal written before
            // indexes names the target by its label.
            let entry = match (child.get("entry"), child["index"].as_u64()) {
                (Some(e), _) => Some(e),
                (None, Some(i)) => targets.get(i as usize),
                (None, None) => targets.iter().find(|t| t["label"] == label.as_str()),
            };
            let target = entry.and_then(|t| serde_json::from_value::<Target>(t["target"].clone()).ok());
            Some((label, target, run))
        })
        .collect()
}

/// A child's command line for one target's recorded run: `command RUN`, its journal, and how it
/// reaches the target (the target's profile unless the parent hands over credentials, the
/// endpoint).
fn child_args(
    (command, run): (&str, &str),
    dir: &Path,
    journal_profile: Option<&str>,
    (t, r): (&Target, &super::Reached),
    endpoint: Option<&str>,
) -> Vec<String> {
    let mut args = vec![command.to_string(), run.to_string()];
    args.extend(super::journal_args(dir, journal_profile));
    if let (Some(p), None) = (&t.profile, &r.credentials) {
        args.extend(["--profile".into(), p.clone()]);
    }
    if let Some(u) = endpoint {
        args.extend(["--endpoint-url".into(), u.to_string()]);
    }
    args
}

/// The target of each child, as the fleet journal of `parent` recorded it.
fn where_they_ran(parent: &str, children: &[(String, Option<Target>, String)]) -> Result<Vec<Target>, String> {
    children
        .iter()
        .map(|(label, target, run)| {
            target.clone().ok_or_else(|| {
                format!("the fleet journal of {parent} does not say where target {label} (run {run}) ran")
            })
        })
        .collect()
}

/// `runbook show FLEET`: its targets and each child's outcome, one line per child run.
pub fn render(records: &[Value]) -> String {
    let start = &records[0];
    let undo = start["mode"] == "undo";
    // One shard alone lists its own part of the targets.
    let shard = start["shard"].as_array().and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
    let mine = |position: usize| shard.is_none_or(|(i, n)| n == 0 || position as u64 % n == i - 1);
    let what = match (shard, start["fleet_id"].as_str(), start["shard_count"].as_u64()) {
        (Some((i, n)), Some(f), _) => format!("fleet {f}, shard {i} of {n}"),
        (None, Some(_), Some(n)) => format!("fleet of {n} shard{}", if n == 1 { "" } else { "s" }),
        _ if undo => "fleet undo".to_string(),
        _ => "fleet".to_string(),
    };
    let mut o = format!(
        "run {} ({what}): {} across {} targets\n",
        start["run"].as_str().unwrap_or("?"),
        start["file"].as_str().unwrap_or("?"),
        start["targets"].as_array().map(|t| (0..t.len()).filter(|p| mine(*p)).count()).unwrap_or(0)
    );
    let children = started(records);
    for (label, _, run) in &children {
        let status = records
            .iter()
            .find(|r| r["type"] == "child_end" && r["run"] == run.as_str())
            .and_then(|r| r["status"].as_str())
            .unwrap_or("unfinished");
        o.push_str(&format!("  {label:<28} {status:<12} {run}\n"));
    }
    if !undo {
        for (_, t) in start["targets"].as_array().into_iter().flatten().enumerate().filter(|(p, _)| mine(*p)) {
            let label = t["label"].as_str().unwrap_or("?");
            if !children.iter().any(|(l, _, _)| l == label) {
                o.push_str(&format!("  {label:<28} {:<12} -\n", "not started"));
            }
        }
    }
    for s in start["shard_runs"].as_array().into_iter().flatten() {
        let (i, n) = (&s["shard"][0], &s["shard"][1]);
        let which = if i.is_null() { "a re-run".to_string() } else { format!("shard {i} of {n}") };
        let state = if s["ended"] == true { "ended" } else { "no end record: killed, or still running" };
        o.push_str(&format!("  {which:<28} {state}: run {}\n", s["run"].as_str().unwrap_or("?")));
    }
    if let Some(missing) = start["missing_shards"].as_array().filter(|m| !m.is_empty()) {
        let list: Vec<String> = missing.iter().map(Value::to_string).collect();
        o.push_str(&format!(
            "  shard(s) {} of {} not recorded: not started yet, or their journal is elsewhere\n",
            list.join(", "),
            start["shard_count"]
        ));
    }
    if let Some(end) = records.iter().rev().find(|r| r["type"] == "end") {
        o.push_str(&format!(
            "  ended {}: {}, {} of {} targets {}\n",
            end["time"].as_str().unwrap_or("?"),
            end["outcome"].as_str().unwrap_or("?"),
            end["succeeded"],
            end["targets"],
            if undo { "undone" } else { "succeeded" }
        ));
    } else {
        o.push_str("  no end record: the fleet run was killed\n");
    }
    o
}

/// `runbook undo FLEET`: every child's undo, newest target first, each with the credentials its
/// target ran with, under the same rate control; targets of one place one after another. The undo
/// has a fleet journal of its own, which marks the fleet undone once every target is.
/// How `undo FLEET` goes: its children's journal profile and locks, how many at once, or only a plan.
pub struct UndoOptions<'a> {
    pub journal_profile: Option<&'a str>,
    pub concurrency: Option<u32>,
    pub dry: bool,
    /// Put back values changed since (`undo --force`).
    pub force: bool,
    pub lock: &'a crate::args::LockArgs,
}

pub fn undo(dir: &Path, records: &[Value], endpoint: Option<&str>, options: &UndoOptions) -> ExitCode {
    let (concurrency, dry) = (options.concurrency, options.dry);
    let start = &records[0];
    let parent = start["run"].as_str().unwrap_or("?").to_string();
    if start["mode"] == "undo" {
        return fail(&format!("run {parent} is the undo of a fleet; it cannot be undone in turn"));
    }
    if let Some(by) = journal::undone_by(dir, &parent) {
        // A gathered fleet may have gained a shard (a re-run) since: then the undo goes again, and
        // the targets undone already say so.
        let undone_ms = journal::read_exact(dir, &by).ok().and_then(|r| r.first()?["started_ms"].as_u64()).unwrap_or(0);
        let newer = start["shard_runs"].as_array().into_iter().flatten().any(|s| {
            let ms =
                s["run"].as_str().and_then(|id| journal::read_exact(dir, id).ok()?.first()?["started_ms"].as_u64());
            ms.unwrap_or(0) > undone_ms
        });
        if !newer {
            outln!("fleet run {parent} was undone already by run {by}; nothing to do (see `runbook show {by}`)");
            return ExitCode::SUCCESS;
        }
    }
    let mut children = started(records);
    children.reverse();
    let targets = match where_they_ran(&parent, &children) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    if targets.is_empty() {
        eoutln!("fleet run {parent} started no target: nothing to undo");
        return ExitCode::SUCCESS;
    }
    let undo_id = journal::new_run_id();
    let reached = reach(&targets, endpoint, &format!("runbook-undo-{parent}"));
    for (i, r) in reached.iter().enumerate() {
        if let Err(e) = r {
            eoutln!("[{}] unreachable: {e}", children[i].0);
        }
    }
    if reached.iter().any(Result::is_err) {
        return fail("some targets failed the check before the undo; nothing was undone");
    }
    let mut jobs = Vec::new();
    let mut undo_runs = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let Ok(r) = &reached[i] else { continue };
        let (label, _, run) = &children[i];
        let mut args = child_args(("undo", run), dir, options.journal_profile, (t, r), endpoint);
        args.extend(super::lock_args(options.lock));
        if dry {
            args.push("--plan".into());
        }
        if options.force {
            args.push("--force".into());
        }
        let child_undo = journal::new_run_id();
        let (mut env, remove_env) =
            super::target_env(t, label, r, (&undo_id, &child_undo), &format!("runbook-undo-{parent}"));
        env.push(("RUNBOOK_LOCK_GROUP".into(), undo_id.clone()));
        undo_runs.push(child_undo);
        jobs.push(Job { label: label.clone(), place: format!("{:?}", t.place()), args, env, remove_env });
    }
    let journal_cell = std::cell::RefCell::new(None);
    if !dry {
        let start = serde_json::json!({
            "type": "start", "run": undo_id, "time": journal::now(), "started_ms": journal::now_ms(),
            "kind": "fleet", "mode": "undo",
            "undo_of": parent, "file": format!("undo {parent}"),
            "targets": children.iter().zip(&targets).map(|((l, _, _), t)| serde_json::json!({ "label": l, "target": t })).collect::<Vec<_>>(),
            "endpoint": endpoint, "version": env!("CARGO_PKG_VERSION"),
        });
        match journal::Journal::create(dir, &undo_id).and_then(|mut j| j.append(&start, true).map(|_| j)) {
            Ok(j) => *journal_cell.borrow_mut() = Some(j),
            Err(e) => return fail(&e),
        }
    }
    let concurrency = concurrency.map(|c| c as usize).unwrap_or(1);
    let note = |record: Value| {
        if let Some(j) = journal_cell.borrow_mut().as_mut() {
            let _ = j.append(&record, true);
        }
    };
    let statuses = run_jobs(
        &jobs,
        concurrency,
        None,
        &[jobs.len()],
        None,
        |i| {
            note(
                serde_json::json!({ "type": "child", "target": jobs[i].label, "index": i, "run": undo_runs[i], "time": journal::now(), "time_ms": journal::now_ms() }),
            )
        },
        |i, status| {
            note(
                serde_json::json!({ "type": "child_end", "target": jobs[i].label, "index": i, "run": undo_runs[i], "status": status.word(), "time_ms": journal::now_ms() }),
            )
        },
    );
    let ok = statuses.iter().filter(|s| **s == Status::Succeeded).count();
    let signal = SIGNAL.load(Ordering::SeqCst);
    let outcome = match (signal, ok == jobs.len()) {
        (0, true) => "succeeded",
        (0, false) => "failed",
        _ => "interrupted",
    };
    note(serde_json::json!({ "type": "end", "time": journal::now(), "outcome": outcome, "targets": jobs.len(),
                             "succeeded": ok, "failed": jobs.len() - ok }));
    if dry {
        eoutln!(
            "runbook: plan of the undo of fleet run {parent}: {} targets would be undone, as listed above",
            jobs.len()
        );
    } else {
        eoutln!(
            "runbook: undo of fleet run {parent} {outcome}: {ok} of {} targets undone; journal: {undo_id}",
            jobs.len()
        );
    }
    if signal != 0 {
        return ExitCode::from(128 + signal as u8);
    }
    // A target whose undo was refused (another run's lock, a value changed since), with none
    // failing otherwise, is refused as a single undo is: exit 2.
    let refused = statuses.contains(&Status::Failed(2));
    let failed = statuses.iter().any(|s| !matches!(s, Status::Succeeded | Status::Failed(2)));
    match (ok == jobs.len(), refused && !failed) {
        (true, _) => ExitCode::SUCCESS,
        (false, true) => ExitCode::from(2),
        (false, false) => ExitCode::from(1),
    }
}

/// How `drift FLEET` goes: its children's journal profile, how many at once, and the form of the
/// report.
pub struct DriftOptions<'a> {
    pub journal_profile: Option<&'a str>,
    pub concurrency: Option<u32>,
    pub json: bool,
}

/// `runbook drift FLEET`: every target's drift at once (the fleet's own concurrency unless told),
/// each with the credentials its target ran with, then one recap. Reads only: nothing is
/// journaled. As JSON, one document with each target's report.
pub fn drift(dir: &Path, records: &[Value], endpoint: Option<&str>, options: &DriftOptions) -> ExitCode {
    let start = &records[0];
    let parent = start["run"].as_str().unwrap_or("?").to_string();
    if start["mode"] == "undo" {
        return drift_fail(&format!("run {parent} is the undo of a fleet: it made nothing to check"));
    }
    if let Some(by) = journal::undone_by(dir, &parent) {
        return drift_fail(&format!("fleet run {parent} was undone by run {by}: there is nothing of it to read"));
    }
    let children = started(records);
    let targets = match where_they_ran(&parent, &children) {
        Ok(t) => t,
        Err(e) => return drift_fail(&e),
    };
    if targets.is_empty() {
        eoutln!("fleet run {parent} started no target: nothing to check");
        return ExitCode::SUCCESS;
    }
    let reached = reach(&targets, endpoint, &format!("runbook-drift-{parent}"));
    let reports =
        Reports(std::env::temp_dir().join(format!("runbook-drift-{}-{}", std::process::id(), journal::now_ms())));
    if let Err(e) = std::fs::create_dir_all(reports.path()) {
        return drift_fail(&format!("cannot make a folder for the targets' reports: {e}"));
    }
    let mut jobs = Vec::new();
    let mut statuses = vec![Status::NotStarted; targets.len()];
    let mut index = Vec::new();
    let mut undone = vec![false; targets.len()];
    for (i, t) in targets.iter().enumerate() {
        let (label, _, run) = &children[i];
        // A target undone on its own has nothing left to read.
        if journal::undone_by(dir, run).is_some() {
            undone[i] = true;
            continue;
        }
        let r = match &reached[i] {
            Ok(r) => r,
            Err(e) => {
                eoutln!("[{label}] unreachable: {e}");
                statuses[i] = Status::Unreachable(e.clone());
                continue;
            }
        };
        let mut args = child_args(("drift", run), dir, options.journal_profile, (t, r), endpoint);
        args.extend(["--report-file".into(), reports.path().join(format!("{i}.json")).to_string_lossy().into_owned()]);
        // As JSON, the one document is the parent's: the targets print none of their own.
        if options.json {
            args.push("--quiet".into());
        }
        let (env, remove_env) = super::target_env(t, label, r, (&parent, run), &format!("runbook-drift-{parent}"));
        index.push(i);
        jobs.push(Job { label: label.clone(), place: format!("{:?}", t.place()), args, env, remove_env });
    }
    let concurrency = options
        .concurrency
        .map(|c| c as usize)
        .or_else(|| start["concurrency"].as_u64().map(|c| c as usize))
        .unwrap_or(1)
        .max(1);
    let ran = run_jobs(&jobs, concurrency, None, &[jobs.len()], None, |_| {}, |_, _| {});
    for (j, status) in ran.into_iter().enumerate() {
        statuses[index[j]] = status;
    }
    let signal = SIGNAL.load(Ordering::SeqCst);
    let mut in_sync = Vec::new();
    let mut drifted = Vec::new();
    let mut failed = Vec::new();
    let mut documents = Vec::new();
    for (i, (label, _, run)) in children.iter().enumerate() {
        let report = std::fs::read_to_string(reports.path().join(format!("{i}.json")))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let word = match &statuses[i] {
            _ if undone[i] => "undone",
            Status::Succeeded => {
                in_sync.push(label.clone());
                "in_sync"
            }
            Status::Failed(2) => {
                drifted.push(label.clone());
                "drifted"
            }
            other => {
                failed.push(label.clone());
                other.word()
            }
        };
        let error = match &statuses[i] {
            Status::Unreachable(e) => Some(Value::from(e.clone())),
            _ => report.as_ref().map(|r| r["error"].clone()).filter(|e| !e.is_null()),
        };
        documents
            .push(serde_json::json!({ "target": label, "run": run, "state": word, "error": error, "report": report }));
    }
    if options.json {
        let document = serde_json::json!({ "fleet": parent, "file": start["file"], "targets": documents });
        outln!("{}", serde_json::to_string_pretty(&document).unwrap_or_default());
    }
    let named = |labels: &[String]| if labels.is_empty() { String::new() } else { format!(" ({})", labels.join(", ")) };
    let undone_count = undone.iter().filter(|u| **u).count();
    let undone_text = if undone_count > 0 { format!(", {undone_count} undone") } else { String::new() };
    eoutln!(
        "runbook: drift of fleet run {parent}: {} of {} targets in sync, {} drifted{}, {} failed{}{undone_text}",
        in_sync.len(),
        children.len(),
        drifted.len(),
        named(&drifted),
        failed.len(),
        named(&failed)
    );
    if signal != 0 {
        return ExitCode::from(128 + signal as u8);
    }
    match (failed.is_empty(), drifted.is_empty()) {
        (false, _) => ExitCode::from(1),
        (true, false) => ExitCode::from(2),
        (true, true) => ExitCode::SUCCESS,
    }
}

/// An error that stops `drift FLEET`: exit 1 (2 says that something drifted).
fn drift_fail(msg: &str) -> ExitCode {
    eoutln!("error: {msg}");
    ExitCode::from(1)
}

/// A folder for the targets' reports, removed with what is in it when the check ends.
struct Reports(std::path::PathBuf);

impl Reports {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Reports {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
