//! `runbook completions SHELL`: the script that makes a shell complete runbook's subcommands,
//! flags, `help` topics and run ids. The script calls runbook back (clap's completion engine) to
//! learn the candidates, so topics follow the build and run ids follow the journal folder.

use clap::CommandFactory;
use clap_complete::env::Shells;
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
        return crate::diagnostics::fail(&format!("no completions for the shell {shell:?}"));
    };
    let mut out = std::io::stdout();
    match completer.write_registration(VAR, "runbook", "runbook", &program, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::diagnostics::fail(&format!("cannot write the completion script: {e}")),
    }
}
