//! `runbook drift RUN|FLEET|last|--all`: what a recorded run made or changed, read now, and what is
//! no longer as it left it. The run layer reads and compares (`runbook_run::drift`); this command
//! finds the runs, reaches each where it ran, prints the report and the command that puts things
//! back, and checks a fleet's targets at once.

use crate::import::shell::quoted;
use runbook_bindings::AwsOptions;
use runbook_run::drift::{self, Reader, Resource, State};
use runbook_run::journal;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
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
    /// No report on stdout (a fleet's target, whose report goes to `report_file`).
    pub quiet: bool,
}

/// One run's report.
struct Report {
    run: String,
    start: Value,
    resources: Vec<Resource>,
    /// Why the run could not be read at all.
    failed: Option<String>,
    /// Why there is nothing to read, when there is not (an undo, a run that only removed).
    empty: Option<String>,
    /// What to run to put things back, and what to know before running it.
    fix: (Option<String>, Vec<String>),
    secs: f64,
}

impl Report {
    fn new(start: &Value) -> Report {
        Report {
            run: start["run"].as_str().unwrap_or("?").to_string(),
            start: start.clone(),
            resources: vec![],
            failed: None,
            empty: None,
            fix: (None, vec![]),
            secs: 0.0,
        }
    }
    fn count(&self, word: &str) -> usize {
        self.resources.iter().filter(|r| r.word() == word).count()
    }
    fn drifted(&self) -> bool {
        self.resources.iter().any(Resource::drifted)
    }
    fn failures(&self) -> bool {
        self.failed.is_some() || self.resources.iter().any(|r| matches!(r.state, State::Failed(_)))
    }
    /// `account/region` of the run's home: where its writes went unless made elsewhere.
    fn home(&self) -> String {
        let account = self.start["account"].as_str().unwrap_or_default();
        format!("{account}/{}", self.start["region"].as_str().unwrap_or_default())
    }

    fn to_json(&self) -> Value {
        let drifted = self.drifted();
        json!({
            "run": self.run,
            "file": self.start["file"],
            "started": self.start["time"],
            "drifted": drifted,
            "error": self.failed,
            "note": self.empty,
            "resources": self.resources.iter().map(Resource::to_json).collect::<Vec<_>>(),
            "fix": self.fix.0.as_ref().filter(|_| drifted),
            "fix_notes": if drifted { self.fix.1.clone() } else { vec![] },
            "seconds": (self.secs * 1000.0).round() / 1000.0,
        })
    }

    fn text(&self) -> String {
        let mut o = format!("drift of run {} ({}):\n", self.run, self.start["file"].as_str().unwrap_or("?"));
        if let Some(why) = &self.failed {
            o.push_str(&format!("  not read: {why}\n"));
            return o;
        }
        if let Some(why) = &self.empty {
            o.push_str(&format!("  {why}\n"));
        }
        let home = self.home();
        // Known only from the writes (a run whose start does not record its account).
        let home_account = home.starts_with('/');
        let width = self.resources.iter().map(|r| r.word().len()).max().unwrap_or(0);
        for r in &self.resources {
            let elsewhere = if home_account { !r.place.ends_with(&home) } else { r.place != home };
            let place = if elsewhere { format!(" (in {})", r.place) } else { String::new() };
            let first = r.writes.first().and_then(|w| w["at"].as_str()).filter(|a| !a.is_empty());
            let at = first.map(|a| format!("  [{a}]")).unwrap_or_default();
            o.push_str(&format!("  {:<width$}  {} {}{place}{at}\n", r.word(), r.what, r.id));
            match &r.state {
                State::Changed(changes) => {
                    for c in changes {
                        let set = c.write["at"].as_str().filter(|a| Some(*a) != first && !a.is_empty());
                        let set = set.map(|a| format!(" (set at {a})")).unwrap_or_default();
                        match &c.by {
                            Some(run) => o.push_str(&format!("      {} (set so by run {run})\n", c.diff.member)),
                            None => o.push_str(&format!("      {}{set}\n", c.diff.text())),
                        }
                    }
                }
                State::Gone(Some(run)) => o.push_str(&format!("      removed by run {run}\n")),
                State::Replaced { run, id } => o.push_str(&format!("      run {run} made {id} in its place\n")),
                State::Back(Some(run)) => o.push_str(&format!("      made again by run {run}\n")),
                State::NotRead(why) | State::Failed(why) => o.push_str(&format!("      {why}\n")),
                _ => {}
            }
        }
        if self.drifted() {
            let converge = if self.start["file"].as_str().is_some_and(|f| f.ends_with(".rhai")) {
                " (runbooks converge)"
            } else {
                ""
            };
            match &self.fix.0 {
                Some(fix) => o.push_str(&format!("  to put it back, run it again{converge}:\n    {fix}\n")),
                None => o.push_str("  to put it back:\n"),
            }
            for note in &self.fix.1 {
                o.push_str(&format!("    {note}\n"));
            }
        }
        o
    }

    fn recap(&self) -> String {
        if let Some(why) = &self.failed {
            return format!("runbook: run {}: not read: {why}", self.run);
        }
        let mut parts = Vec::new();
        for word in [
            "changed",
            "gone",
            "back",
            "in sync",
            "changed by a later run",
            "removed by a later run",
            "made again by a later run",
            "made anew by a later run",
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

/// What puts things back: the run again, as it was run (its runbook or aws command, parameters,
/// credentials, region, endpoint, lock, tags, journal and --step), and what to know before running
/// it. `later` are the later runs that changed what it set; `resources` what drift found.
fn fix(
    start: &Value,
    journal_flags: &str,
    later: &[String],
    resources: &[Resource],
    creates: bool,
) -> (Option<String>, Vec<String>) {
    let mut notes = added_rules(resources);
    let Some(file) = start["file"].as_str() else { return (None, notes) };
    let lone = file.strip_prefix("aws ");
    if file.ends_with(".sh") || file.ends_with(".md") {
        notes.push(format!(
            "{file} is a script, which does not compare before it writes: running it again may fail or make \
             things twice; `runbook import {} --idempotent -o FILE.rhai` makes a runbook that writes only what \
             is missing",
            quoted(file)
        ));
        return (None, notes);
    }
    // A create sent alone makes what is gone anew, and cannot change what exists.
    let changed = resources.iter().any(|r| r.drifted() && matches!(r.state, State::Changed(_)));
    if let (Some(_), true) = (lone, changed) {
        if creates {
            notes.push(
                "it was one create, which cannot change what exists: put the values back by hand (runbook aws), \
                 or with a runbook that compares before it writes"
                    .into(),
            );
            return (None, notes);
        }
    }
    let mut words: Vec<String> = match lone {
        Some(_) => vec!["runbook".to_string(), "aws".to_string()],
        None => vec!["runbook".to_string(), "run".to_string(), quoted(file)],
    };
    if lone.is_none() {
        for (name, value) in start["params"].as_object().into_iter().flatten() {
            let text = match value {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            words.push("--set".into());
            if text == "<masked>" {
                let var = name.to_ascii_uppercase();
                words.push(format!("{name}=\"${var}\""));
                notes.push(format!("{name} is secret, and the journal did not keep it: set ${var} to its value first"));
            } else {
                words.push(quoted(&format!("{name}={text}")));
            }
        }
    }
    let creds = &start["credentials"];
    match (creds["role"].as_str(), start["account"].as_str()) {
        // A fleet's target: that account, through the role it was reached with.
        (Some(role), Some(account)) => {
            let name = role.split_once(":role/").map(|(_, n)| n).unwrap_or(role);
            words.extend(["--accounts".into(), account.to_string(), "--assume-role".into(), quoted(name)]);
            if let Some(id) = creds["external_id"].as_str().filter(|x| !x.is_empty()) {
                words.extend(["--external-id".into(), quoted(id)]);
            }
            if let Some(p) = creds["profile"].as_str().filter(|x| !x.is_empty()) {
                words.extend(["--profile".into(), quoted(p)]);
            }
            if let Some(r) = start["region"].as_str() {
                words.extend(["--regions".into(), quoted(r)]);
            }
        }
        _ => {
            for (flag, key) in [("--profile", "profile"), ("--region", "region")] {
                if let Some(v) = start[key].as_str().filter(|v| !v.is_empty()) {
                    words.extend([flag.to_string(), quoted(v)]);
                }
            }
        }
    }
    if let Some(v) = start["endpoint"].as_str().filter(|v| !v.is_empty()) {
        words.extend(["--endpoint-url".to_string(), quoted(v)]);
    }
    match (&start["lock"], lone) {
        (Value::String(name), Some(_)) => words.extend(["--lock".to_string(), quoted(name)]),
        (_, Some(_)) => {}
        (Value::Bool(false), None) => words.push("--no-lock".into()),
        (Value::String(name), None) if *name != crate::run::default_lock_name(Path::new(file)) => {
            words.extend(["--lock".to_string(), quoted(name)]);
        }
        _ => {}
    }
    if start["tagged"] == false {
        words.push("--no-tag".into());
    }
    if start["mode"] == "step" {
        words.push("--step".into());
        notes.push(
            "it was run with --step: answer each write again as you did (a write skipped then is asked again)".into(),
        );
    }
    if !later.is_empty() {
        notes.push(format!(
            "run(s) {} changed what this run set since; running this one again puts its values back over theirs \
             (run theirs again after it to keep them)",
            later.join(", ")
        ));
    }
    let mut command = format!("{}{journal_flags}", words.join(" "));
    // A lone command's run options come before its service; its own words after them.
    if let Some(rest) = lone {
        command.push(' ');
        command.push_str(rest);
    }
    (Some(command), notes)
}

/// The ingress rules added to a group the run made, which running it again does not take away:
/// how to revoke each.
fn added_rules(resources: &[Resource]) -> Vec<String> {
    let mut notes = Vec::new();
    for r in resources.iter().filter(|r| r.what == "ingress rules of") {
        let State::Changed(changes) = &r.state else { continue };
        for c in changes.iter().filter(|c| c.by.is_none() && c.diff.wrote.is_null()) {
            // `tcp 22-22 from 0.0.0.0/0`, `-1 all ports from sg-1`.
            let rule = &c.diff.member;
            let (head, from) = rule.rsplit_once(" from ").unwrap_or((rule, ""));
            let (protocol, ports) = head.split_once(' ').unwrap_or((head, ""));
            let port = match ports.split_once('-') {
                Some((a, b)) if a == b => a.to_string(),
                _ => ports.to_string(),
            };
            let mut command =
                format!("runbook aws ec2 revoke-security-group-ingress --group-id {} --protocol {protocol}", r.id);
            if ports != "all ports" {
                command.push_str(&format!(" --port {port}"));
            }
            match from {
                f if f.starts_with("sg-") => command.push_str(&format!(" --source-group {f}")),
                f if f.contains('.') => command.push_str(&format!(" --cidr {f}")),
                _ => {
                    notes.push(format!("running it again does not take away {rule} on {}: revoke it by hand", r.id));
                    continue;
                }
            }
            notes.push(format!("running it again does not take away {rule} on {}: {command}", r.id));
        }
    }
    notes
}

/// Whether a journal is a run whose writes drift can check: not an undo, not a fleet's own
/// journal, not undone.
fn checkable(records: &[Value], undone: &HashSet<String>) -> bool {
    let Some(start) = records.iter().find(|r| r["type"] == "start") else { return false };
    let id = start["run"].as_str().unwrap_or_default();
    !journal::is_undo(start) && start["kind"] != "fleet" && !undone.contains(id)
}

/// One run's drift: reached where it ran (its credentials), read, compared.
fn check(
    dir: &Path,
    all: &[(String, Vec<Value>)],
    records: &[Value],
    aws: &AwsOptions,
    role: Option<&str>,
    undone: &HashSet<String>,
) -> Report {
    let started = std::time::Instant::now();
    let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
    let mut report = Report::new(&start);
    let run = report.run.clone();
    if start.is_null() {
        report.failed = Some("its journal has no start record: it cannot tell where the run wrote".into());
        return report;
    }
    let damaged = journal::damaged(dir, &run);
    if !damaged.is_empty() {
        let lines: Vec<String> = damaged.iter().map(usize::to_string).collect();
        report.failed = Some(format!(
            "its journal is damaged (line {} not a record): drift does not read a journal it cannot read whole",
            lines.join(", ")
        ));
        return report;
    }
    if let Some(by) = journal::undone_by_in(all, &run) {
        report.failed = Some(format!("it was undone by run {by}: there is nothing of it to read"));
        return report;
    }
    if journal::is_undo(&start) {
        report.empty = Some(format!(
            "it is an undo (of run {}): drift reads what runs made or changed, not what an undo took away",
            start["undo_of"].as_str().unwrap_or("?")
        ));
        return report;
    }
    let recorded = start["region"].as_str();
    if let (Some(given), Some(ran)) = (aws.region.as_deref(), recorded) {
        if given != ran {
            report.failed = Some(format!(
                "it ran in {ran} (its writes elsewhere are read where they went); --region {given} would read another place"
            ));
            return report;
        }
    }
    let mut ctx = match crate::runs::reach_run(&start, records, aws.clone(), role, ("read", "nothing was read")) {
        Ok((ctx, _)) => ctx,
        Err(e) => {
            report.failed = Some(e);
            return report;
        }
    };
    // The runs after it that still stand: a change of theirs is theirs.
    let later: Vec<(String, Vec<Value>)> =
        all.iter().skip_while(|(i, _)| *i != run).skip(1).filter(|(_, r)| checkable(r, undone)).cloned().collect();
    // What the run made moments ago may not be known to AWS yet: a "not found" about it is waited
    // out within the propagation window, as undo does, rather than reported gone; unless a later
    // run removed it.
    let safety = runbook_run::Safety::new(runbook_run::Mode::Run, journal::new_run_id(), false);
    safety.remember_made(&drift::still_made(records, &later));
    ctx.hooks = std::rc::Rc::new(safety);
    let reader = Reader::new(&ctx);
    report.resources = drift::check(&reader, records, &later);
    if report.resources.is_empty() {
        let wrote = records.iter().any(|r| r["type"] == "outcome" && r["ok"] == true);
        report.empty = Some(match wrote {
            true => "its writes only took things away: drift reads what runs made or changed".into(),
            false => "no write of it succeeded: it made or changed nothing".into(),
        });
    }
    let mut by: Vec<String> = Vec::new();
    for r in &report.resources {
        if let State::Changed(changes) = &r.state {
            // The later runs that set what drifted, whether or not it still holds their value.
            by.extend(changes.iter().filter(|c| c.by.is_none()).flat_map(|c| c.since.iter().cloned()));
        }
    }
    by.sort();
    by.dedup();
    let flags = crate::run::journal_flags(dir, std::env::var("RUNBOOK_JOURNAL_PROFILE").ok().as_deref());
    // A lone command that makes things (the catalogue says how it behaves sent again).
    let creates = records.iter().filter(|r| r["type"] == "intent").all(|i| {
        let kind = i["service"]
            .as_str()
            .and_then(runbook_bindings::Svc::by_module)
            .and_then(|svc| runbook_run::kinds::of(svc, i["operation"].as_str()?));
        kind.is_some_and(|k| k.again != runbook_run::kinds::Again::Converges)
    });
    report.fix = fix(&start, &flags, &by, &report.resources, creates);
    report.secs = started.elapsed().as_secs_f64();
    report
}

/// An error that stops the command: exit 1 (2 says that something drifted); as JSON too.
fn fail(msg: &str, format: Format) -> ExitCode {
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&json!({ "error": msg })).unwrap_or_default());
    }
    eoutln!("error: {msg}");
    ExitCode::from(1)
}

pub fn drift(
    journal_args: &crate::args::JournalArgs,
    run: Option<&str>,
    every: bool,
    aws: AwsOptions,
    options: &Options,
) -> ExitCode {
    let dir = journal_args.dir();
    let format = options.format;
    if !dir.is_dir() {
        return fail(&format!("no journal folder {}: no run was recorded there", dir.display()), format);
    }
    let all = journal::read_all(&dir);
    let undone = journal::undone_in(&all);
    let runs: Vec<Vec<Value>> = if every {
        let mut runs: Vec<Vec<Value>> = all
            .iter()
            .filter(|(_, r)| checkable(r, &undone) && journal::changing(r) > 0)
            .map(|(_, r)| r.clone())
            .collect();
        runs.reverse();
        runs
    } else {
        let run = run.unwrap_or("last");
        let run = if run == "last" {
            match journal::last_to_undo(&dir) {
                Ok(id) => id,
                Err(e) => return fail(&e, format),
            }
        } else {
            run.to_string()
        };
        let records = match crate::runs::resolve(&dir, &run) {
            Ok(r) => r,
            Err(e) => return fail(&e, format),
        };
        if crate::fleet::is_fleet(&records) {
            if aws.region.is_some() {
                return fail("a fleet's targets are read each in its own region: leave out --region", format);
            }
            if options.role.is_some() || aws.profile.is_some() {
                return fail("a fleet's targets are read with the credentials each was run with: leave out --profile and --assume-role (or check one target's run by its id)", format);
            }
            let endpoint = aws.endpoint_url.clone().or_else(|| records[0]["endpoint"].as_str().map(str::to_string));
            let fleet = crate::fleet::DriftOptions {
                journal_profile: journal_args.journal_profile.as_deref(),
                concurrency: options.concurrency,
                json: format == Format::Json,
            };
            return crate::fleet::drift(&dir, &records, endpoint.as_deref(), &fleet);
        }
        vec![records]
    };
    let reports: Vec<Report> =
        runs.iter().map(|records| check(&dir, &all, records, &aws, options.role.as_deref(), &undone)).collect();
    let document = match (every, reports.as_slice()) {
        (false, [one]) => one.to_json(),
        _ => json!({ "runs": reports.iter().map(Report::to_json).collect::<Vec<_>>() }),
    };
    if let Some(path) = &options.report_file {
        if let Err(e) = std::fs::write(path, format!("{document}\n")) {
            return fail(&format!("cannot write the report {}: {e}", path.display()), format);
        }
    }
    match (options.quiet, format) {
        (true, _) => {}
        (false, Format::Json) => outln!("{}", serde_json::to_string_pretty(&document).unwrap_or_default()),
        (false, Format::Text) => reports.iter().for_each(|r| out!("{}", r.text())),
    }
    if every && reports.is_empty() {
        eoutln!("runbook: no run in {} wrote something that is not undone: nothing to check", dir.display());
    }
    for r in &reports {
        eoutln!("{}", r.recap());
    }
    if every && !reports.is_empty() {
        let count = |f: &dyn Fn(&Report) -> bool| reports.iter().filter(|r| f(r)).count();
        eoutln!(
            "runbook: drift of {} run(s): {} drifted, {} could not be read in full, {} in sync",
            reports.len(),
            count(&|r| r.drifted()),
            count(&|r| r.failures()),
            count(&|r| !r.drifted() && !r.failures())
        );
    }
    if reports.iter().any(Report::failures) {
        ExitCode::from(1)
    } else if reports.iter().any(Report::drifted) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_is_the_run_again_as_it_was_run() {
        let start = json!({ "file": "runbooks/tutorial.rhai", "params": { "desired_count": "3", "api_token": "<masked>" },
                            "region": "eu-west-1", "endpoint": null, "profile": "ops", "lock": "deploy", "tagged": false });
        let (cmd, notes) = fix(&start, " --journal-dir s3://team/runs", &["run-b".to_string()], &[], false);
        assert_eq!(
            cmd.unwrap(),
            "runbook run runbooks/tutorial.rhai --set desired_count=3 --set api_token=\"$API_TOKEN\" --profile ops \
             --region eu-west-1 --lock deploy --no-tag --journal-dir s3://team/runs"
        );
        assert!(
            notes[0].starts_with("api_token is secret, and the journal did not keep it: set $API_TOKEN"),
            "{notes:?}"
        );
        assert!(notes[1].starts_with("run(s) run-b changed what this run set since"), "{notes:?}");
        // The runbook's own lock is taken anyway; no lock at all is said.
        let own = json!({ "file": "runbooks/tutorial.rhai", "lock": crate::run::default_lock_name(Path::new("runbooks/tutorial.rhai")) });
        assert_eq!(fix(&own, "", &[], &[], false).0.unwrap(), "runbook run runbooks/tutorial.rhai");
        let unlocked = json!({ "file": "runbooks/tutorial.rhai", "lock": false });
        assert_eq!(fix(&unlocked, "", &[], &[], false).0.unwrap(), "runbook run runbooks/tutorial.rhai --no-lock");
        // A lone command: the same command again, its words quoted as it was journaled.
        let aws = json!({ "file": "aws ec2 create-security-group --group-name web --description 'web tier'", "region": "us-east-1" });
        assert_eq!(
            fix(&aws, "", &[], &[], false).0.unwrap(),
            "runbook aws --region us-east-1 ec2 create-security-group --group-name web --description 'web tier'"
        );
        // A script does not compare before it writes: no command, and how to get one that does.
        let (cmd, notes) = fix(&json!({ "file": "deploy.sh" }), "", &[], &[], false);
        assert_eq!(cmd, None);
        assert!(notes[0].contains("runbook import deploy.sh --idempotent"), "{notes:?}");
        // A fleet's target: its account through its role, in its region.
        let target = json!({ "file": "runbooks/create_tg.rhai", "account": "222222222222", "region": "eu-west-1",
                             "credentials": { "role": "arn:aws:iam::222222222222:role/runbook", "external_id": "x-1" } });
        assert_eq!(
            fix(&target, "", &[], &[], false).0.unwrap(),
            "runbook run runbooks/create_tg.rhai --accounts 222222222222 --assume-role runbook --external-id x-1 --regions eu-west-1"
        );
        // A step run again asks again.
        let step = json!({ "file": "runbooks/create_tg.rhai", "mode": "step" });
        let (cmd, notes) = fix(&step, "", &[], &[], false);
        assert!(cmd.unwrap().ends_with(" --step") && notes[0].starts_with("it was run with --step"), "{notes:?}");
    }
}
