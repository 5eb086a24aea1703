//! What Tab offers for the arguments that name things: `help` topics and run ids. Shared by the
//! command line's definitions (`cli`) and the shell scripts that ask for them (`shell`).

use clap_complete::CompletionCandidate;
use runbook_bindings::Svc;
use std::ffi::OsStr;

/// `help` topics: services, then `service::function` (operations and waiters) once a service is typed.
pub fn help_topics(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let mut topics: Vec<String> = Vec::new();
    for svc in Svc::ALL {
        let module = svc.module();
        if typed.starts_with(&format!("{module}::")) {
            topics.extend(crate::complete::functions(svc).into_iter().map(|f| format!("{module}::{f}")));
        } else {
            topics.push(module.to_string());
            topics.push(format!("{module}::"));
        }
    }
    topics.into_iter().filter(|t| t.starts_with(typed.as_ref())).map(CompletionCandidate::new).collect()
}

/// The journal folder completion reads. A store that does not answer leaves its cache as it is.
fn completion_dir() -> std::path::PathBuf {
    use runbook_run::store::{S3Store, Spec};
    let mut journal = crate::args::JournalArgs::default();
    if let Ok(project) = crate::project::Project::load() {
        project.journal(&mut journal);
    }
    let given = match &journal.journal_dir {
        Some(d) => d.to_string_lossy().into_owned(),
        None => std::env::var("RUNBOOK_JOURNAL_DIR").unwrap_or_default(),
    };
    let Ok(Some(spec)) = Spec::parse(&given) else { return journal.dir() };
    let profile = journal
        .journal_profile
        .clone()
        .or_else(|| std::env::var("RUNBOOK_JOURNAL_PROFILE").ok().filter(|p| !p.trim().is_empty()));
    let cache = spec.cache_dir();
    if let Ok(store) = S3Store::connect(spec, profile.as_deref(), None, None, profile.is_some()) {
        let _ = store.pull(&cache);
    }
    cache
}

/// Run ids of the journal folder (`RUNBOOK_JOURNAL_DIR`, runbook.toml, else `.runbook/runs`), or
/// of a journal store (its cache, after bringing into it what the store holds), newest first, each
/// with its runbook; fleet ids; and `last`.
pub fn run_ids() -> Vec<CompletionCandidate> {
    let dir = completion_dir();
    let mut ids = runbook_run::journal::list_ids(&dir).unwrap_or_default();
    ids.reverse();
    let mut out = vec![CompletionCandidate::new("last").help(Some("the newest run".into()))];
    // A sharded fleet by its fleet id, as `show` and `undo` take it.
    for (fleet, shards) in runbook_run::fleets::all(&dir) {
        let n = shards.len();
        out.push(CompletionCandidate::new(fleet).help(Some(format!("a fleet of {n} shard run(s)").into())));
    }
    for id in ids {
        let records = runbook_run::journal::read(&dir, &id).unwrap_or_default();
        let s = runbook_run::journal::summarize(&id, &records);
        out.push(CompletionCandidate::new(id).help(Some(format!("{} ({})", s.file, s.outcome).into())));
    }
    out
}

/// `runbook aws …` words, completed as the REPL completes an aws line: the words typed so far are
/// the completion request's own arguments, after `aws`.
pub fn aws_words(current: &OsStr) -> Vec<CompletionCandidate> {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().rposition(|a| a == "aws") else { return vec![] };
    let mut words: Vec<&str> = args[at + 1..].iter().map(String::as_str).collect();
    // The word being completed is the request's last argument.
    if words.last().is_some_and(|w| OsStr::new(w) == current) {
        words.pop();
    }
    let line = format!("aws {} {}", words.join(" "), current.to_string_lossy());
    let found = match crate::complete::aws_line(line.trim_start()) {
        Some(crate::complete::AwsWord::Names(_, names)) => names.into_iter().map(|n| (n, String::new())).collect(),
        Some(crate::complete::AwsWord::Value(spot)) => crate::live::Live::new(Default::default()).candidates(&spot),
        None => Vec::new(),
    };
    found
        .into_iter()
        .map(|(v, label)| CompletionCandidate::new(v).help((!label.is_empty()).then(|| label.into())))
        .collect()
}
