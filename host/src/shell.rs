//! `runbook completions SHELL`: the script that makes a shell complete runbook's subcommands,
//! flags, `help` topics and run ids. The script calls runbook back (clap's completion engine) to
//! learn the candidates, so topics follow the build and run ids follow the journal folder.

use clap::CommandFactory;
use clap_complete::env::Shells;
use clap_complete::CompletionCandidate;
use runbook_bindings::Svc;
use std::ffi::OsStr;
use std::process::ExitCode;

/// The variable under which the script calls runbook back.
pub const VAR: &str = "COMPLETE";

/// Answers a completion request from a shell and exits, if this process is one.
pub fn answer_if_asked() {
    clap_complete::CompleteEnv::with_factory(crate::cli::Cli::command).var(VAR).complete();
}

/// bash's completion, which clap's script leaves to bash's word splitting: bash splits words at
/// the characters of COMP_WORDBREAKS, `:` among them, so `help elbv2::create_t` reached runbook as
/// `elbv2`, `::`, `create_t` and completed nothing. This one gives runbook the words as typed
/// (split at blanks only, up to the cursor), and since bash replaces only what follows the last
/// `:`, strips the part of each candidate before it.
const BASH: &str = r#"
_runbook_complete() {
    local IFS=$'\013'
    local line="${COMP_LINE:0:COMP_POINT}"
    local -a words
    IFS=$' \t\n' read -r -a words <<< "$line"
    if [[ "$line" =~ [[:space:]]$ ]]; then
        words+=("")
    fi
    local index=$(( ${#words[@]} - 1 ))
    local current="${words[index]}"
    local -a found
    found=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$index" \
        _CLAP_COMPLETE_COMP_TYPE="${COMP_TYPE:-9}" \
        _CLAP_COMPLETE_SPACE=false \
        COMPLETE="bash" \
        "PROGRAM" -- "${words[@]}" \
    ) ) || { unset COMPREPLY; return; }
    if [[ "$current" == *:* && "${COMP_WORDBREAKS-:}" == *:* ]]; then
        local head="${current%"${current##*:}"}"
        found=( "${found[@]#"$head"}" )
    fi
    COMPREPLY=( "${found[@]}" )
    if [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
        compopt -o nospace 2> /dev/null
    fi
}
complete -o nospace -o bashdefault -F _runbook_complete runbook
"#;

pub fn script(shell: &str) -> ExitCode {
    // The script calls this very binary back, wherever it is installed.
    let program =
        std::env::current_exe().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| "runbook".into());
    if shell == "bash" {
        let quoted = program.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$").replace('`', "\\`");
        out!("{}", BASH.replace("PROGRAM", &quoted));
        return ExitCode::SUCCESS;
    }
    let shells = Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        return crate::run::fail(&format!("no completions for the shell {shell:?}"));
    };
    let mut out = std::io::stdout();
    match completer.write_registration(VAR, "runbook", "runbook", &program, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::run::fail(&format!("cannot write the completion script: {e}")),
    }
}

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
    let mut journal = crate::cli::JournalArgs::default();
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
