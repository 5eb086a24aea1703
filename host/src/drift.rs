//! `runbook drift RUN|FLEET|last|--all`: what a recorded run made or changed, read now, and what is
//! no longer as it left it. The run layer reads and compares (`runbook_run::drift`); this command
//! finds the runs, reaches each where it ran, prints the report and the command that puts things
//! back, and checks a fleet's targets at once.

use runbook_bindings::AwsOptions;
use runbook_run::drift::{self, Reader, Resource, State};
use runbook_run::journal;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub struct Options {
    pub format: Format,
    pub role: Option<String>,
    pub concurrency: Option<u32>,
    pub report_file: Option<PathBuf>,
}

/// An error that stops the command: exit 1 (2 says that something drifted).
fn fail(msg: &str) -> ExitCode {
    eoutln!("error: {msg}");
    ExitCode::from(1)
}

/// One run's report.
struct Report {
    run: String,
    start: Value,
    resources: Vec<Resource>,
    /// Why the run could not be read at all.
    failed: Option<String>,
    secs: f64,
}

impl Report {
    fn count(&self, word: &str) -> usize {
        self.resources.iter().filter(|r| r.word() == word).count()
    }
    fn drifted(&self) -> bool {
        self.resources.iter().any(Resource::drifted)
    }
    fn failures(&self) -> bool {
        self.failed.is_some() || self.resources.iter().any(|r| matches!(r.state, State::Failed(_)))
    }

    fn to_json(&self) -> Value {
        json!({
            "run": self.run,
            "file": self.start["file"],
            "started": self.start["time"],
            "drifted": self.drifted(),
            "error": self.failed,
            "resources": self.resources.iter().map(Resource::to_json).collect::<Vec<_>>(),
            "fix": fix(&self.start).filter(|_| self.drifted()),
            "seconds": (self.secs * 1000.0).round() / 1000.0,
        })
    }

    fn text(&self) -> String {
        let mut o = format!("drift of run {} ({}):\n", self.run, self.start["file"].as_str().unwrap_or("?"));
        if let Some(why) = &self.failed {
            o.push_str(&format!("  not read: {why}\n"));
            return o;
        }
        if self.resources.is_empty() {
            o.push_str("  it made or changed nothing that is still there to read (no write succeeded)\n");
        }
        let places: Vec<&str> = self.resources.iter().map(|r| r.place.as_str()).collect();
        let several = places.iter().any(|p| *p != places[0]);
        let width = self.resources.iter().map(|r| r.word().len()).max().unwrap_or(0);
        for r in &self.resources {
            let place = if several { format!(" (in {})", r.place) } else { String::new() };
            let at = r.writes.first().and_then(|w| w["at"].as_str()).map(|a| format!("  [{a}]")).unwrap_or_default();
            o.push_str(&format!("  {:<width$}  {} {}{place}{at}\n", r.word(), r.what, r.id));
            match &r.state {
                State::Changed(diffs) => {
                    for (d, by) in diffs {
                        match by {
                            Some(run) => o.push_str(&format!("      {} (set so by run {run})\n", d.member)),
                            None => o.push_str(&format!("      {}\n", d.text())),
                        }
                    }
                }
                State::Gone(Some(run)) => o.push_str(&format!("      removed by run {run}\n")),
                State::Back(Some(run)) => o.push_str(&format!("      made again by run {run}\n")),
                State::NotRead(why) | State::Failed(why) => o.push_str(&format!("      {why}\n")),
                _ => {}
            }
        }
        o
    }

    fn recap(&self) -> String {
        let mut parts = Vec::new();
        for word in [
            "changed",
            "gone",
            "back",
            "in sync",
            "changed by a later run",
            "removed by a later run",
            "made again by a later run",
            "not read back",
            "failed",
        ] {
            let n = self.count(word);
            if n > 0 || word == "in sync" {
                parts.push(format!("{n} {word}"));
            }
        }
        format!("runbook: run {}: {}, in {:.2} s", self.run, parts.join(", "), self.secs)
    }
}

/// The command that puts things back: the run's runbook again, with its recorded parameters and
/// in its place (runbooks converge). `None` when the run was no runbook (a lone aws command).
fn fix(start: &Value) -> Option<String> {
    let file = start["file"].as_str()?;
    if !(file.ends_with(".rhai") || file.ends_with(".sh") || file.ends_with(".md")) {
        return None;
    }
    let mut words = vec!["runbook".to_string(), "run".to_string(), quoted(file)];
    for (name, value) in start["params"].as_object().into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        words.push("--set".into());
        words.push(quoted(&format!("{name}={text}")));
    }
    for (flag, key) in [("--profile", "profile"), ("--region", "region"), ("--endpoint-url", "endpoint")] {
        if let Some(v) = start[key].as_str().filter(|v| !v.is_empty()) {
            words.push(flag.into());
            words.push(quoted(v));
        }
    }
    Some(words.join(" "))
}

/// A word as a shell reads it back.
fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Whether a journal is a run whose writes drift can check: not an undo, not a fleet's own
/// journal, not undone.
fn checkable(records: &[Value], undone: &std::collections::HashSet<String>) -> bool {
    let Some(start) = records.iter().find(|r| r["type"] == "start") else { return false };
    let is_undo = start["mode"] == "undo" || !start["undo_of"].is_null();
    let id = start["run"].as_str().unwrap_or_default();
    !is_undo && start["kind"] != "fleet" && !undone.contains(id)
}

/// One run's drift: reached where it ran (its credentials), read, compared.
fn check(
    all: &[(String, Vec<Value>)],
    records: &[Value],
    aws: &AwsOptions,
    role: Option<&str>,
    undone: &std::collections::HashSet<String>,
) -> Report {
    let started = std::time::Instant::now();
    let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
    let run = start["run"].as_str().unwrap_or("?").to_string();
    let mut report = Report { run: run.clone(), start: start.clone(), resources: vec![], failed: None, secs: 0.0 };
    if let Some(by) = journal::undone_by_in(all, &run) {
        report.failed = Some(format!("it was undone by run {by}: there is nothing of it to read"));
        return report;
    }
    let mut ctx = match crate::runs::reach_run(&start, records, aws.clone(), role, ("read", "nothing was read")) {
        Ok((ctx, _)) => ctx,
        Err(e) => {
            report.failed = Some(e);
            return report;
        }
    };
    // What the run made moments ago may not be known to AWS yet: a "not found" about it is waited
    // out within the propagation window, as undo does, rather than reported gone.
    let safety = runbook_run::Safety::new(runbook_run::Mode::Run, journal::new_run_id(), false);
    safety.remember_made(records);
    ctx.hooks = std::rc::Rc::new(safety);
    // The runs after it that still stand: a change of theirs is theirs.
    let later: Vec<(String, Vec<Value>)> =
        all.iter().skip_while(|(i, _)| *i != run).skip(1).filter(|(_, r)| checkable(r, undone)).cloned().collect();
    let reader = Reader::new(&ctx);
    report.resources = drift::check(&reader, records, &later);
    report.secs = started.elapsed().as_secs_f64();
    report
}

pub fn drift(
    journal_args: &crate::args::JournalArgs,
    run: Option<&str>,
    every: bool,
    aws: AwsOptions,
    options: &Options,
) -> ExitCode {
    let dir = journal_args.dir();
    let all = journal::read_all(&dir);
    let undone = journal::undone_in(&all);
    let runs: Vec<Vec<Value>> = if every {
        let mut runs: Vec<Vec<Value>> = all
            .iter()
            .filter(|(_, r)| checkable(r, &undone) && journal::changing(r) > 0)
            .map(|(_, r)| r.clone())
            .collect();
        runs.reverse();
        if runs.is_empty() {
            eoutln!("runbook: no run in {} wrote something that is not undone: nothing to check", dir.display());
            return ExitCode::SUCCESS;
        }
        runs
    } else {
        let run = run.unwrap_or("last");
        let run = if run == "last" {
            match journal::last_to_undo(&dir) {
                Ok(id) => id,
                Err(e) => return fail(&e),
            }
        } else {
            run.to_string()
        };
        let records = match crate::runs::resolve(&dir, &run) {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        if crate::fleet::is_fleet(&records) {
            if options.role.is_some() || aws.profile.is_some() {
                return fail("a fleet's targets are read with the credentials each was run with: leave out --profile and --assume-role (or check one target's run by its id)");
            }
            let endpoint = aws.endpoint_url.clone().or_else(|| records[0]["endpoint"].as_str().map(str::to_string));
            let fleet = crate::fleet::DriftOptions {
                journal_profile: journal_args.journal_profile.as_deref(),
                concurrency: options.concurrency,
                json: options.format == Format::Json,
            };
            return crate::fleet::drift(&dir, &records, endpoint.as_deref(), &fleet);
        }
        vec![records]
    };
    let reports: Vec<Report> =
        runs.iter().map(|records| check(&all, records, &aws, options.role.as_deref(), &undone)).collect();
    let document = match (every, reports.as_slice()) {
        (false, [one]) => one.to_json(),
        _ => json!({ "runs": reports.iter().map(Report::to_json).collect::<Vec<_>>() }),
    };
    if let Some(path) = &options.report_file {
        if let Err(e) = std::fs::write(path, format!("{document}\n")) {
            return fail(&format!("cannot write the report {}: {e}", path.display()));
        }
    }
    match options.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&document).unwrap_or_default()),
        Format::Text => {
            for r in &reports {
                out!("{}", r.text());
                if let Some(fix) = fix(&r.start).filter(|_| r.drifted()) {
                    outln!("  to put it back, run its runbook again (runbooks converge):\n    {fix}");
                }
            }
        }
    }
    for r in &reports {
        eoutln!("{}", r.recap());
    }
    if reports.iter().any(Report::failures) {
        ExitCode::from(1)
    } else if reports.iter().any(Report::drifted) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
