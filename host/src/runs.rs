//! `runbook runs`, `runbook show RUN`, `runbook undo RUN`: the recorded runs and their undoing.

use crate::run::fail;
use runbook_bindings::run::journal;
use runbook_bindings::run::{Mode, Safety};
use runbook_bindings::{AwsOptions, Context};
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
        eprintln!("no runs recorded in {}", dir.display());
        return ExitCode::SUCCESS;
    }
    // A fleet's children are shown through their fleet (`runbook show FLEET`).
    let runs: Vec<journal::RunSummary> = ids
        .iter()
        .map(|id| (id, journal::read(dir, id).unwrap_or_default()))
        .filter(|(_, records)| records.first().is_none_or(|r| r["parent"].is_null()))
        .map(|(id, records)| journal::summarize(id, &records))
        .filter(|s| !only_writes || s.writes > 0)
        .collect();
    if runs.is_empty() {
        eprintln!("no run in {} wrote anything", dir.display());
        return ExitCode::SUCCESS;
    }
    let region = runs.iter().map(|s| s.region.len()).max().unwrap_or(0).max("REGION".len());
    let endpoint = runs.iter().map(|s| s.endpoint.len()).max().unwrap_or(0).max("ENDPOINT".len());
    println!(
        "{:<22} {:<21} {:<12} {:>6}  {:<region$}  {:<endpoint$}  FILE",
        "RUN", "STARTED", "OUTCOME", "WRITES", "REGION", "ENDPOINT"
    );
    for s in runs {
        println!(
            "{:<22} {:<21} {:<12} {:>6}  {:<region$}  {:<endpoint$}  {}",
            s.id, s.started, s.outcome, s.writes, s.region, s.endpoint, s.file
        );
    }
    ExitCode::SUCCESS
}

pub fn show(dir: &Path, run: &str) -> ExitCode {
    let records = match journal::read(dir, run) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if crate::fleet::is_fleet(&records) {
        print!("{}", crate::fleet::render(&records));
        return ExitCode::SUCCESS;
    }
    print!("{}", render(&records));
    ExitCode::SUCCESS
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A run, as `runbook show` prints it.
pub fn render(records: &[Value]) -> String {
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
        "  started {}; region {}; endpoint {}; profile {}",
        text(&start["time"]),
        text(&start["region"]),
        text(&start["endpoint"]),
        text(&start["profile"])
    );
    if let Some(params) = start["params"].as_object().filter(|p| !p.is_empty()) {
        let list: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", text(v))).collect();
        let _ = writeln!(o, "  parameters: {}", list.join(" "));
    }
    let mut created = 0;
    for intent in records.iter().filter(|r| r["type"] == "intent" || r["type"] == "skipped") {
        let seq = &intent["seq"];
        let head = format!("{:>4}  {}  {}", seq.to_string(), text(&intent["function"]), text(&intent["at"]));
        if intent["type"] == "skipped" {
            let _ = writeln!(o, "{head}\n        skipped by the operator");
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
                    let _ = writeln!(o, "        cannot be undone: {reason}");
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
            let _ = write!(
                o,
                "  ended {}: {}, {} AWS call(s), {} write(s), {} created, {} s",
                text(&end["time"]),
                text(&end["outcome"]),
                end["calls"],
                end["writes"],
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
        let _ = writeln!(o, "  undo: runbook undo {id}");
    }
    o
}

/// The run that undid `id` completely, if one did. Undoing again would remove whatever has since
/// been made under the same names (a cluster's ARN is its name), so a finished undo is final.
fn undone_by(dir: &Path, id: &str) -> Option<String> {
    journal::list_ids(dir).ok()?.into_iter().rev().find(|other| {
        let records = journal::read(dir, other).unwrap_or_default();
        let start = records.iter().find(|r| r["type"] == "start");
        let end = records.iter().rev().find(|r| r["type"] == "end");
        start.is_some_and(|s| s["undo_of"] == id) && end.is_some_and(|e| e["outcome"] == "succeeded")
    })
}

pub fn undo(dir: &Path, run: &str, overrides: AwsOptions, dry: bool, concurrency: Option<u32>) -> ExitCode {
    let records = match journal::read(dir, run) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    if crate::fleet::is_fleet(&records) {
        let endpoint = overrides.endpoint_url.clone().or_else(|| records[0]["endpoint"].as_str().map(str::to_string));
        return crate::fleet::undo(dir, &records, endpoint.as_deref(), concurrency, dry);
    }
    let Some(start) = records.iter().find(|r| r["type"] == "start") else {
        return fail(&format!("the journal of run {run} has no start record"));
    };
    let id = text(&start["run"]);
    if let Some(by) = undone_by(dir, &id) {
        println!("run {id} was undone already by run {by}; nothing to do (see `runbook show {by}`)");
        return ExitCode::SUCCESS;
    }
    let recorded = |k: &str| start[k].as_str().map(str::to_string);
    let aws = AwsOptions {
        profile: overrides.profile.clone().or_else(|| recorded("profile")),
        region: overrides.region.clone().or_else(|| recorded("region")),
        endpoint_url: overrides.endpoint_url.clone().or_else(|| recorded("endpoint")),
        ..overrides
    };
    let mut ctx = match Context::new(&aws, Default::default()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let safety = std::rc::Rc::new(Safety::new(Mode::Run, journal::new_run_id(), false));
    ctx.hooks = safety.clone();
    if !dry {
        let start = serde_json::json!({
            "file": format!("undo {id}"),
            "mode": "undo",
            "undo_of": id,
            "params": {},
            "profile": aws.profile,
            "region": ctx.region(),
            "endpoint": ctx.endpoint(),
            "version": env!("CARGO_PKG_VERSION"),
        });
        if let Err(e) = safety.open_journal(dir, start) {
            return fail(&e);
        }
    }
    crate::run::install_signal_handlers(&ctx);
    println!("{} run {id} ({}), newest write first:", if dry { "Would undo" } else { "Undoing" }, text(&start["file"]));
    let started = std::time::Instant::now();
    let report = runbook_bindings::run::undo::undo(&ctx, &records, dry);
    let secs = started.elapsed().as_secs_f64();
    if dry {
        return ExitCode::SUCCESS;
    }
    let outcome = match (ctx.interrupt.signal(), report.failed + report.unsettled) {
        (Some(_), _) => "interrupted",
        (None, 0) => "succeeded",
        _ => "failed",
    };
    safety.close_journal(outcome, None, ctx.stats.calls.get(), secs);
    let restored = if report.restored > 0 { format!("{} restored, ", report.restored) } else { String::new() };
    eprintln!(
        "runbook: undo of {id} {outcome}: {} removed, {restored}{} already gone, {} left as they were, {} failed, in {secs:.2} s",
        report.removed,
        report.already_gone,
        report.left + report.moot,
        report.failed
    );
    if report.unsettled > 0 {
        eprintln!(
            "runbook: {} write(s) in flight when run {id} ended could not be settled: what they made may remain",
            report.unsettled
        );
    }
    match (ctx.interrupt.signal(), report.failed + report.unsettled) {
        (Some(sig), _) => ExitCode::from(128u8.saturating_add(sig as u8)),
        (None, 0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
