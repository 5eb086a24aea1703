//! `runbook unlock LOCK`: breaks a run's lock by hand, asking first, and journals that it did.

use crate::diagnostics::fail;
use runbook_run::journal::{self, Journal};
use runbook_run::locks::{Folder, Holder};
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

fn ask(question: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N]: ");
    let _ = err.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => false,
        Ok(_) => matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
    }
}

pub fn unlock(dir: &Path, name: &str, yes: bool) -> ExitCode {
    let started = std::time::Instant::now();
    let folder = Folder::of_journal(dir);
    let all = match folder.list() {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let now = journal::now_ms();
    let found: Vec<&Holder> = all.iter().map(|(_, h)| h).filter(|h| h.lock == name).collect();
    if found.is_empty() {
        let mut names: Vec<&str> = all.iter().map(|(_, h)| h.lock.as_str()).collect();
        names.dedup();
        let held = if names.is_empty() { "none is held".to_string() } else { format!("held: {}", names.join(", ")) };
        let place = runbook_run::store::place(dir);
        return fail(&format!("no lock named {name:?} in {place}/locks ({held})"));
    }
    let id = journal::new_run_id();
    let mut broken = Vec::new();
    for h in found {
        let ended = if h.expires_ms <= now { " (its lease has ended)" } else { "" };
        eoutln!("lock {} in {}/{}: held by {}{ended}", h.lock, h.account, h.region, h.describe());
        if !yes && !ask("break it? The holder, if it still runs, stops before its next write") {
            eoutln!("left alone");
            continue;
        }
        match folder.break_lock(h) {
            Ok(true) => {
                eoutln!("broken");
                broken.push(h.clone());
            }
            Ok(false) => eoutln!("left alone: it changed hands meanwhile"),
            Err(e) => return fail(&e),
        }
    }
    if broken.is_empty() {
        return ExitCode::from(1);
    }
    // The breaking is journaled as a run of its own, so `runbook runs` shows who broke what.
    let record = |j: &mut Journal| -> Result<(), String> {
        let (user, host) = runbook_run::locks::user_and_host();
        // Where the broken locks were: one region, or `many`; no AWS endpoint was called.
        let mut regions: Vec<&str> = broken.iter().map(|h| h.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let region = if regions.len() == 1 { regions[0] } else { "many" };
        j.append(
            &json!({ "type": "start", "run": id, "time": journal::now(), "started_ms": journal::now_ms(),
                     "kind": "unlock", "mode": "unlock", "file": format!("(unlock {name})"), "lock": name,
                     "region": region, "endpoint": "-",
                     "user": user, "host": host, "version": env!("CARGO_PKG_VERSION") }),
            true,
        )?;
        for h in &broken {
            j.append(&json!({ "type": "unlocked", "time": journal::now(), "holder": h }), true)?;
        }
        j.append(
            &json!({ "type": "end", "time": journal::now(), "outcome": "succeeded", "calls": 0, "writes": 0,
                     "created": 0, "seconds": started.elapsed().as_secs_f64(), "unlocked": broken.len() }),
            true,
        )
    };
    match Journal::create(dir, &id).and_then(|mut j| record(&mut j).map(|()| j.path().to_path_buf())) {
        Ok(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            eoutln!("journal: {}/{name}", runbook_run::store::place(dir));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("the locks were broken, but {e}")),
    }
}
