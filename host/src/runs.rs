//! `runbook runs`, `runbook show RUN`, `runbook undo RUN`: the recorded runs and their undoing.

use crate::diagnostics::fail;
use runbook_bindings::{AwsOptions, Context};
use runbook_run::{fleets, journal};
use runbook_run::{Mode, Safety};
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

/// `runbook runs [--writes]`: one line per recorded run, oldest first.
pub fn list(dir: &Path, only_writes: bool) -> ExitCode {
    let ids = match journal::list_ids(dir) {
        Ok(ids) => ids,
        Err(e) => return fail(&e),
    };
    if ids.is_empty() {
        eoutln!("no runs recorded in {}", dir.display());
        return ExitCode::SUCCESS;
    }
    // A fleet's children are shown through their fleet (`runbook show FLEET`), and the shards of
    // one fleet as that fleet, where its first shard is. Each journal is read once.
    let all = journal::read_all(dir);
    let undone = journal::undone_in(&all);
    let mut fleets = fleets::all_in(&all);
    let runs: Vec<journal::RunSummary> = all
        .iter()
        .filter(|(_, records)| records.first().is_none_or(|r| r["parent"].is_null()))
        .filter_map(|(id, records)| match fleets::fleet_of(records).map(str::to_string) {
            None => Some(journal::summarize_in(dir, id, records, &undone)),
            Some(fleet) => {
                let shards = fleets.remove(&fleet)?;
                let merged = fleets::merge(&fleet, &shards)?;
                Some(journal::summarize_in(dir, &fleet, &merged, &undone))
            }
        })
        .filter(|s| !only_writes || s.writes > 0)
        .collect();
    if runs.is_empty() {
        eoutln!("no run in {} wrote anything", dir.display());
        return ExitCode::SUCCESS;
    }
    let region = runs.iter().map(|s| s.region.len()).max().unwrap_or(0).max("REGION".len());
    let endpoint = runs.iter().map(|s| s.endpoint.len()).max().unwrap_or(0).max("ENDPOINT".len());
    outln!(
        "{:<22} {:<21} {:<12} {:>6}  {:<region$}  {:<endpoint$}  FILE",
        "RUN",
        "STARTED",
        "OUTCOME",
        "WRITES",
        "REGION",
        "ENDPOINT"
    );
    for s in runs {
        // A run that found everything as it should be: `undo last` passes over it. One whose
        // writes were skipped at a `--step` prompt did not.
        let outcome = match s.outcome.as_str() {
            "succeeded" if s.writes == 0 && s.skipped == 0 => "no change",
            "succeeded" if s.writes == 0 => "skipped",
            o => o,
        };
        outln!(
            "{:<22} {:<21} {:<12} {:>6}  {:<region$}  {:<endpoint$}  {}",
            s.id,
            s.started,
            outcome,
            s.writes,
            s.region,
            s.endpoint,
            s.file
        );
    }
    ExitCode::SUCCESS
}

/// The records `run` names: a fleet id (every shard of the fleet, as one), a run id or a unique
/// prefix of one, or `last` (a shard's fleet, when the newest run is a shard).
pub fn resolve(dir: &Path, run: &str) -> Result<Vec<Value>, String> {
    resolve_in(dir, &journal::read_all(dir), run)
}

/// [`resolve`] among the folder's journals read already (`all`).
fn resolve_in(dir: &Path, all: &[(String, Vec<Value>)], run: &str) -> Result<Vec<Value>, String> {
    let mut fleets = fleets::all_in(all);
    if let Some(records) = fleets.remove(run).and_then(|shards| fleets::merge(run, &shards)) {
        return Ok(records);
    }
    let id = journal::resolve_id(dir, run)?;
    let records = match all.iter().find(|(i, _)| *i == id) {
        Some((_, records)) => records.clone(),
        None => journal::read(dir, &id)?,
    };
    if run == "last" {
        if let Some(f) = fleets::fleet_of(&records) {
            if let Some(merged) = fleets.remove(f).and_then(|shards| fleets::merge(f, &shards)) {
                return Ok(merged);
            }
        }
    }
    Ok(records)
}

/// `runbook show RUN`; `flags` are the journal options its printed `undo` needs (`--journal-dir
/// s3://…`).
pub fn show(dir: &Path, run: &str, flags: &str) -> ExitCode {
    let records = match resolve(dir, run) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if crate::fleet::is_fleet(&records) {
        out!("{}", crate::fleet::render(&records));
        return ExitCode::SUCCESS;
    }
    out!("{}", render(&records, flags));
    ExitCode::SUCCESS
}

/// `runbook show RUN --timeline FILE`.
pub fn draw(dir: &Path, run: &str, file: &Path) -> ExitCode {
    match resolve(dir, run).and_then(|records| crate::timeline::write(dir, &records, file)) {
        Ok(said) => {
            eoutln!("timeline: {said}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A run, as `runbook show` prints it.
pub fn render(records: &[Value], flags: &str) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let Some(start) = records.iter().find(|r| r["type"] == "start") else {
        return "the journal has no start record\n".into();
    };
    let id = text(&start["run"]);
    let _ = writeln!(o, "run {id}: {} ({})", text(&start["file"]), text(&start["mode"]));
    if let Some(of) = start["undo_of"].as_str() {
        let _ = writeln!(o, "  undoes run {of}");
    }
    let _ = writeln!(
        o,
        "  started {}; region {}; endpoint {}; credentials {}",
        text(&start["time"]),
        text(&start["region"]),
        text(&start["endpoint"]),
        match start["credentials"].is_object() {
            true => runbook_bindings::credentials::text_of(&start["credentials"]),
            false => format!("profile {}", text(&start["profile"])),
        }
    );
    if let Some(params) = start["params"].as_object().filter(|p| !p.is_empty()) {
        let list: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", text(v))).collect();
        let _ = writeln!(o, "  parameters: {}", list.join(" "));
    }
    let mut created = 0;
    for intent in records.iter().filter(|r| r["type"] == "intent" || r["type"] == "skipped") {
        let seq = &intent["seq"];
        let place = journal::place_text(&intent["place"]).map(|p| format!(" in {p}")).unwrap_or_default();
        let head = format!("{:>4}  {}{place}  {}", seq.to_string(), text(&intent["function"]), text(&intent["at"]));
        if intent["type"] == "skipped" {
            let why = match intent["converged"].as_str() {
                Some("exists") => "not sent (converge): what it makes exists already",
                Some("unchanged") => "not sent (converge): what it sets holds already",
                _ => "skipped by the operator",
            };
            let _ = writeln!(o, "{head}\n        {why}");
            continue;
        }
        let _ = writeln!(o, "{head}");
        let _ = writeln!(o, "        input {}", intent["input"]);
        match records.iter().find(|r| r["type"] == "outcome" && &r["seq"] == seq) {
            None => {
                let _ = writeln!(o, "        IN FLIGHT when the run ended: no outcome recorded");
            }
            Some(out) if out["ok"] == true => {
                let _ = writeln!(o, "        ok in {} ms, request {}", out["ms"], text(&out["request_id"]));
                if let Some(found) = out["reconciled"]["found"].as_str() {
                    let _ = writeln!(
                        o,
                        "        reconciled: {} answer(s) lost, then found {found}, which the lost attempt made",
                        out["lost"]
                    );
                }
                if let Some(replaced) = out["replaced"].as_str() {
                    let _ = writeln!(o, "        replaced {replaced}, which existed before");
                }
                for c in out["created"].as_array().into_iter().flatten() {
                    created += 1;
                    let verb = if c["restores"] == true { "undo restores the" } else { "created" };
                    let _ = writeln!(o, "        {verb} {} {}", text(&c["kind"]), text(&c["id"]));
                }
                if let Some(reason) = out["not_undoable"].as_str() {
                    let (_, said) = runbook_run::undo::not_undone_text(records, intent, reason);
                    let _ = writeln!(o, "        {said}");
                }
            }
            Some(out) if out["unknown"] == true => {
                let _ = writeln!(
                    o,
                    "        OUTCOME UNKNOWN after {}: {} (it may have been done)",
                    text(&out["error"]["code"]),
                    text(&out["error"]["message"])
                );
            }
            Some(out) => {
                let _ = writeln!(
                    o,
                    "        FAILED {}: {} (request {})",
                    text(&out["error"]["code"]),
                    text(&out["error"]["message"]),
                    text(&out["request_id"])
                );
            }
        }
    }
    match records.iter().rev().find(|r| r["type"] == "end") {
        Some(end) => {
            // Writes sent; those not sent are counted apart, as the run's own summary counts them.
            let sent = records.iter().filter(|r| r["type"] == "intent").count();
            let skipped = records.iter().filter(|r| r["type"] == "skipped").count();
            let skipped = if skipped > 0 { format!(", {skipped} skipped") } else { String::new() };
            let _ = write!(
                o,
                "  ended {}: {}, {} AWS call(s), {sent} write(s), {} created{skipped}, {} s",
                text(&end["time"]),
                text(&end["outcome"]),
                end["calls"],
                end["created"],
                end["seconds"]
            );
            if !end["error"].is_null() {
                let _ = write!(o, "; {}: {}", text(&end["error"]["code"]), text(&end["error"]["message"]));
            }
            let _ = writeln!(o);
        }
        None => {
            let _ = writeln!(o, "  no end record: the run was killed or is still running");
        }
    }
    if created > 0 {
        let _ = writeln!(o, "  undo: runbook undo {id}{flags}");
    }
    o
}

/// The role `--assume-role` names for `undo`: an ARN, or a role name in `account`.
fn role_for(role: &str, account: Option<&str>) -> Result<String, String> {
    if role.starts_with("arn:") {
        return Ok(role.to_string());
    }
    match account {
        Some(a) => Ok(format!("arn:aws:iam::{a}:role/{role}")),
        None => Err(format!("--assume-role {role:?} is a name, and the run recorded no account: give the role's ARN")),
    }
}

/// The account a run's writes went to at home: recorded at its start (a fleet's target) or with
/// each write.
fn home_account(records: &[Value]) -> Option<String> {
    let start = records.iter().find(|r| r["type"] == "start")?;
    start["account"].as_str().map(str::to_string).or_else(|| {
        records
            .iter()
            .filter(|r| r["type"] == "intent" && r["place"].is_null())
            .find_map(|r| r["account"].as_str().map(str::to_string))
    })
}

/// The context a recorded run is reached again with, to undo it or read what it made (`verb`):
/// its profile, or the role it ran as assumed again (a fleet's environment may hand the role's
/// credentials over already), unless `overrides` or `role` say otherwise; the profile, region and
/// endpoint default to the run's. Never from the wrong place: the account the credentials reach
/// must be the one the run wrote in.
pub fn reach_run(
    start: &Value,
    records: &[Value],
    overrides: AwsOptions,
    role: Option<&str>,
    (verb, nothing): (&str, &str),
) -> Result<(Context, AwsOptions), String> {
    let id = text(&start["run"]);
    let recorded = |k: &str| start[k].as_str().map(str::to_string);
    let creds = &start["credentials"];
    let needed = home_account(records);
    let session = format!("runbook-{verb}-{id}");
    let assumed_already = std::env::var("RUNBOOK_ASSUMED").ok().filter(|r| Some(r.as_str()) == creds["role"].as_str());
    let assume = match (role, &overrides.profile) {
        (Some(r), _) => Some((role_for(r, needed.as_deref())?, session, None)),
        (None, Some(_)) => None,
        (None, None) => match creds["role"].as_str() {
            Some(_) if assumed_already.is_some() => None,
            Some(arn) => Some((arn.to_string(), session, creds["external_id"].as_str().map(str::to_string))),
            None => None,
        },
    };
    let profile = overrides.profile.clone().or_else(|| match &assume {
        Some(_) if role.is_none() => creds["profile"].as_str().map(str::to_string),
        Some(_) => None,
        None if assumed_already.is_some() => None,
        None => creds["profile"].as_str().map(str::to_string).or_else(|| recorded("profile")),
    });
    let aws = AwsOptions {
        profile,
        region: overrides.region.clone().or_else(|| recorded("region")),
        endpoint_url: overrides.endpoint_url.clone().or_else(|| recorded("endpoint")),
        assume_role: assume,
        ..overrides
    };
    let ctx = Context::new(&aws, Default::default())?;
    if let Some(needed) = &needed {
        match ctx.account() {
            Ok(reached) if reached == *needed => {}
            Ok(reached) => {
                return Err(format!(
                    "run {id} wrote in account {needed}, but these credentials reach account {reached}; {nothing}. \
                     {} it with credentials for {needed}: --profile NAME or --assume-role ROLE",
                    capitalized(verb)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "cannot confirm the account for run {id} (it wrote in {needed}): {}: {e}; {nothing}",
                    e.code()
                ))
            }
        }
    }
    Ok((ctx, aws))
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub fn undo(
    journal: &crate::args::JournalArgs,
    run: &str,
    overrides: AwsOptions,
    role: Option<String>,
    (dry, force): (bool, bool),
    concurrency: Option<u32>,
    lock: &crate::args::LockArgs,
) -> ExitCode {
    let dir = &journal.dir();
    let run = if run == "last" {
        match journal::last_to_undo(dir) {
            Ok(id) => {
                eoutln!("runbook: `last` is run {id}, the newest run that wrote something and is not undone");
                id
            }
            Err(e) => return fail(&e),
        }
    } else {
        run.to_string()
    };
    // Each journal is read once: for the run undone, whether it was, and what came after it.
    let all = journal::read_all(dir);
    let records = match resolve_in(dir, &all, &run) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if crate::fleet::is_fleet(&records) {
        if role.is_some() || overrides.profile.is_some() {
            return fail("a fleet's targets are undone with the credentials each was run with: leave out --profile and --assume-role (or undo one target's run by its id)");
        }
        let endpoint = overrides.endpoint_url.clone().or_else(|| records[0]["endpoint"].as_str().map(str::to_string));
        let fleet = crate::fleet::UndoOptions {
            journal_profile: journal.journal_profile.as_deref(),
            concurrency,
            dry,
            force,
            lock,
        };
        return crate::fleet::undo(dir, &records, endpoint.as_deref(), &fleet);
    }
    let Some(start) = records.iter().find(|r| r["type"] == "start") else {
        return fail(&format!("the journal of run {run} has no start record"));
    };
    let id = text(&start["run"]);
    if let Some(by) = journal::undone_by_in(&all, &id) {
        outln!("run {id} was undone already by run {by}; nothing to do (see `runbook show {by}`)");
        return ExitCode::SUCCESS;
    }
    let needed = home_account(&records);
    let (mut ctx, aws) = match reach_run(start, &records, overrides, role.as_deref(), ("undo", "nothing was undone")) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let undo_id = std::env::var("RUNBOOK_RUN_ID")
        .ok()
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(journal::new_run_id);
    let mut safety = Safety::new(Mode::Run, undo_id, false);
    // Not while a run holds the place's lock: the undo takes the run's own lock.
    if let Some(settings) = crate::run::undo_lock_settings(dir, start, lock).filter(|_| !dry) {
        safety = safety.with_locks(settings);
    }
    let safety = std::rc::Rc::new(safety);
    // What the run made moments ago may still be unknown to AWS: a "not found" about it is waited
    // out within the propagation window rather than taken for "already gone".
    safety.remember_made(&records);
    ctx.hooks = safety.clone();
    if !dry {
        let start = serde_json::json!({
            "file": format!("undo {id}"),
            "mode": "undo",
            "undo_of": id,
            "params": {},
            "profile": ctx.credentials.profile(),
            "region": ctx.region(),
            "endpoint": ctx.endpoint(),
            "version": env!("CARGO_PKG_VERSION"),
            "account": needed,
            "credentials": match &aws.assume_role {
                Some((arn, session, _)) => serde_json::json!({ "role": arn, "session": session, "profile": aws.profile }),
                None => crate::run::credentials_record(&ctx.credentials),
            },
            "parent": std::env::var("RUNBOOK_PARENT_RUN").ok().filter(|v| !v.is_empty()),
        });
        if let Err(e) = safety.open_journal(dir, start) {
            return fail(&e);
        }
    }
    crate::run::install_signal_handlers(&ctx);
    outln!("{} run {id} ({}), newest write first:", if dry { "Would undo" } else { "Undoing" }, text(&start["file"]));
    let started = std::time::Instant::now();
    let since = later_writes(&all, &id, force);
    let report = runbook_run::undo::undo(&ctx, &records, dry, safety.made(), &since);
    let secs = started.elapsed().as_secs_f64();
    if dry {
        return if report.conflicts > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    if let Some(why) = &report.refused {
        // Nothing was removed in that place: the undo can be run again once the lock is free.
        safety.close_journal("refused", None, ctx.stats.calls.get(), secs);
        eoutln!("error: undo of {id} refused: {why}; nothing more was undone");
        return ExitCode::from(2);
    }
    let outcome = match (ctx.interrupt.signal(), report.failed + report.unsettled, report.conflicts) {
        (Some(_), _, _) => "interrupted",
        (None, 0, 0) => "succeeded",
        (None, 0, _) => "refused",
        _ => "failed",
    };
    safety.close_journal(outcome, None, ctx.stats.calls.get(), secs);
    let mut restored = if report.restored > 0 { format!("{} restored, ", report.restored) } else { String::new() };
    if report.conflicts > 0 {
        restored.push_str(&format!("{} not restored or removed (changed or used since), ", report.conflicts));
    }
    eoutln!(
        "runbook: undo of {id} {outcome}: {} removed, {restored}{} already gone, {} left as they were, {} failed, in {secs:.2} s",
        report.removed,
        report.already_gone,
        report.left + report.moot,
        report.failed
    );
    if report.unsettled > 0 {
        eoutln!(
            "runbook: {} write(s) in flight when run {id} ended could not be settled: what they made may remain",
            report.unsettled
        );
    }
    match (ctx.interrupt.signal(), report.failed + report.unsettled, report.conflicts) {
        (Some(sig), _, _) => ExitCode::from(128u8.saturating_add(sig as u8)),
        (None, 0, 0) => ExitCode::SUCCESS,
        (None, 0, _) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// What the runs after `id` did, for undo to see before it puts values back or removes: every run
/// that started later, is not an undo and is not undone; and the earlier undos of `id` itself.
fn later_writes(all: &[(String, Vec<Value>)], id: &str, force: bool) -> runbook_run::since::Since {
    let undone = journal::undone_in(all);
    let after: Vec<&(String, Vec<Value>)> =
        all.iter().skip_while(|(i, _)| i != id).skip(1).filter(|(i, _)| !undone.contains(i)).collect();
    let is_undo = |records: &[Value]| records.first().is_some_and(journal::is_undo);
    let later = after.iter().filter(|(_, r)| !is_undo(r)).map(|(i, r)| (i.as_str(), r.as_slice()));
    let undos = after.iter().filter(|(_, r)| r.first().is_some_and(|s| s["undo_of"] == id));
    runbook_run::since::Since::from_journals(later, force)
        .with_earlier_undos(undos.map(|(i, r)| (i.as_str(), r.as_slice())))
}
