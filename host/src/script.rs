//! `runbook run|plan SCRIPT.sh` (or a Markdown file, its ```bash blocks in order): the script runs
//! in bash with `aws` resolving to runbook, and every aws command of it is a call of **one** run:
//! one journal, one lock, one recap, one undo.
//!
//! The run lives in this process. bash finds `aws` first on its PATH in a folder of this run's, a
//! link to this binary; started under that name with `RUNBOOK_AWS_SOCKET` set, the binary reads
//! its command line where the script runs it (its folder for `file://`) and hands it to this
//! process through the socket, which sends it through the run's context and answers what the aws
//! CLI would print and its exit code (see [`client`]).
//!
//! A plan sends no write (each is answered with a placeholder, without spaces so that the shell
//! keeps it one word), and runs no command but `aws` and plain text tools: its PATH holds nothing
//! else, so every other command is listed as "would run" instead (see [`prelude`]).

use crate::args::Common;
use crate::run;
use runbook_bindings::cli;
use runbook_run::{locks, Mode, Safety};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;

/// The variable that tells a started `aws` where its run listens.
pub const SOCKET_VAR: &str = "RUNBOOK_AWS_SOCKET";
/// The script's line of the command being run (set by the DEBUG trap).
const LINE_VAR: &str = "RUNBOOK_SCRIPT_LINE";

/// The programs a plan runs besides `aws`: text tools, which change nothing outside the script.
const PLAN_TOOLS: &[&str] = &[
    "tr", "sed", "cut", "grep", "egrep", "fgrep", "jq", "head", "tail", "sort", "uniq", "wc", "test", "[", "basename",
    "dirname", "base64", "cat", "seq", "expr", "printf", "echo", "true", "false",
];

/// What the run's folder holds: the `aws` link, the socket, the bash to run, the trap's setup.
struct Folder {
    dir: PathBuf,
}

impl Folder {
    fn new() -> Result<Folder, String> {
        let dir = std::env::temp_dir().join(format!("runbook-script-{}-{}", std::process::id(), journal_suffix()));
        std::fs::create_dir_all(dir.join("bin")).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find runbook's own binary: {e}"))?;
        std::os::unix::fs::symlink(&exe, dir.join("bin/aws"))
            .map_err(|e| format!("cannot link aws to runbook: {e}"))?;
        Ok(Folder { dir })
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn journal_suffix() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:x}")
}

/// The setup bash reads before the script (`BASH_ENV`): the DEBUG trap that tells each `aws` its
/// line; in a plan, a PATH of `aws` and the text tools alone, with every other command found
/// nowhere and listed instead (`command_not_found_handle`), `sleep` not waited, `sed -i` listed,
/// and a command given by its path or a write to a file with `>` ending the plan there, since bash
/// cannot be kept from doing either.
fn prelude(mode: Mode, skipped: &Path) -> String {
    let mut s = String::from("set -T\n");
    if mode != Mode::Plan {
        s.push_str(&format!("trap 'export {LINE_VAR}=$LINENO' DEBUG\n"));
        return s;
    }
    s.push_str(&format!(
        r#"__runbook_skip() {{
    printf '%s\t%s\n' "${{{LINE_VAR}:-?}}" "$*" >> '{skipped}'
}}
command_not_found_handle() {{
    __runbook_skip "$@"
    return 0
}}
sleep() {{
    return 0
}}
sed() {{
    local a
    for a in "$@"; do
        case "$a" in
            -i*|--in-place*) __runbook_skip sed "$@"; return 0 ;;
        esac
    done
    command sed "$@"
}}
__runbook_plan() {{
    case "${{FUNCNAME[1]:-}}" in
        __runbook_*|command_not_found_handle|sed|sleep) return 0 ;;
    esac
    export {LINE_VAR}=$1
    local first=${{2%%[[:space:]]*}}
    local redirect='>>?[[:space:]]*([^[:space:]&]+)'
    local why=
    case "$first" in
        *=*) ;;
        */*) why="runs $first by its path" ;;
    esac
    if [[ -z "$why" && $2 =~ $redirect ]]; then
        case "${{BASH_REMATCH[1]}}" in
            /dev/null|/dev/stdout|/dev/stderr) ;;
            *) why="writes to ${{BASH_REMATCH[1]}}" ;;
        esac
    fi
    if [[ -n "$why" ]]; then
        __runbook_skip "$2"
        printf 'runbook plan: line %s %s, which a plan does not do: the plan ends here\n' "$1" "$why" >&2
        exit 3
    fi
}}
trap '__runbook_plan "$LINENO" "$BASH_COMMAND"' DEBUG
"#,
        skipped = skipped.display()
    ));
    s
}

/// The PATH of a plan: `aws` and links to the text tools a plan runs, found on `path`.
fn plan_path(bin: &Path, path: &str) -> String {
    for tool in PLAN_TOOLS {
        let found = std::env::split_paths(path).map(|d| d.join(tool)).find(|p| p.is_file());
        if let Some(found) = found {
            let _ = std::os::unix::fs::symlink(found, bin.join(tool));
        }
    }
    bin.display().to_string()
}

enum Event {
    Call(UnixStream),
    Exited(Option<i32>),
}

/// `runbook run SCRIPT`: the run locks each place it writes in as `lock` says, as a runbook's does.
pub fn run_locked(file: &Path, common: &Common, mode: Mode, lock: &crate::args::LockArgs) -> ExitCode {
    let settings = (!lock.no_lock).then(|| run::lock_settings(file, common, lock));
    run(file, common, mode, settings)
}

/// Runs (or plans) a script as one run.
pub fn run(file: &Path, common: &Common, mode: Mode, lock: Option<locks::Settings>) -> ExitCode {
    let fail = crate::diagnostics::fail;
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
    };
    let (bash, md_lines) = crate::import::bash_of(file, &text);
    if md_lines.as_ref().is_some_and(Vec::is_empty) {
        return fail(&format!("{} has no ```bash block to run", file.display()));
    }
    let sets = match crate::params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if let Some(bad) = sets.keys().find(|k| !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return fail(&format!(
            "--set {bad}=…: a script reads parameters as environment variables, and {bad:?} is not a variable name"
        ));
    }
    // A parameter the script never reads is a misspelling: refused before anything runs.
    let read = variables_read(&bash);
    if let Some(unread) = sets.keys().find(|k| !read.contains(k.as_str())) {
        let near = runbook_bindings::validate::closest(unread, read.iter().map(String::as_str));
        let hint = near.first().map(|n| format!(" (did you mean {n}?)")).unwrap_or_default();
        return fail(&format!("--set {unread}=…: {} never reads ${unread}{hint}", file.display()));
    }
    // An aws command the aws CLI would refuse stops the run before its first request, as
    // `runbook check` finds it. A fleet's target runs what its fleet checked already.
    let checked = std::env::var_os("RUNBOOK_PARENT_RUN").is_some_and(|p| !p.is_empty());
    let mistakes = if checked { Vec::new() } else { crate::check::script(file, &text) };
    if !mistakes.is_empty() {
        for m in &mistakes {
            eoutln!("error: {}\n  --> {}:{}", m.message, m.file.display(), m.line);
        }
        eoutln!(
            "runbook: {} mistake(s) found before the run (as `runbook check` finds them); nothing was sent",
            mistakes.len()
        );
        return ExitCode::from(2);
    }
    let limits = match crate::engine::Limits::parse(&common.limits) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let folder = match Folder::new() {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let skipped = folder.dir.join("skipped");
    let setup = folder.dir.join("prelude.sh");
    let script = match &md_lines {
        Some(_) => folder.dir.join("script.sh"),
        None => file.to_path_buf(),
    };
    let written = std::fs::write(&setup, prelude(mode, &skipped)).and_then(|()| {
        if md_lines.is_some() {
            std::fs::write(&script, &bash)
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        return fail(&format!("cannot write the script's setup in {}: {e}", folder.dir.display()));
    }
    let socket = folder.dir.join("aws.sock");
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {}: {e}", socket.display())),
    };
    let (ctx, safety) = match run::connect(common, sets.clone(), &file.to_string_lossy(), mode, &limits, lock) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    run::install_signal_handlers(&ctx);
    let inherited = std::env::var("PATH").unwrap_or_default();
    let bin = folder.dir.join("bin");
    let path = match mode {
        Mode::Plan => plan_path(&bin, &inherited),
        _ => format!("{}:{inherited}", bin.display()),
    };
    // bash itself from the PATH runbook was given (a plan's PATH holds no shell).
    let shell = std::env::split_paths(&inherited).map(|d| d.join("bash")).find(|p| p.is_file());
    let mut command = std::process::Command::new(shell.unwrap_or_else(|| PathBuf::from("/bin/bash")));
    command.arg(&script).env("PATH", path).env(SOCKET_VAR, &socket).env("BASH_ENV", &setup);
    for (k, v) in &sets {
        command.env(k, v);
    }
    // bash and what it starts are a process group of their own, which the run ends when it is
    // interrupted (SIGTERM; Ctrl-C reaches them from the terminal too); bash ends with the run's
    // process if that is killed. At a terminal they stay in the run's group, so that the script
    // may read from the terminal, and the run ends bash alone.
    let own_group = !std::io::IsTerminal::is_terminal(&std::io::stdin());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if own_group {
            command.process_group(0);
        }
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; it only asks for a signal when the parent ends.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    let started = std::time::Instant::now();
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            safety.close_journal("failed", Some(json!({ "code": "NoBash", "message": e.to_string() })), 0, 0.0);
            return fail(&format!("cannot start bash for {}: {e}", file.display()));
        }
    };
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let target = if own_group { -pid } else { pid };
    let (tx, rx) = mpsc::channel::<Event>();
    let calls = tx.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if calls.send(Event::Call(stream)).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        let status = child.wait().ok().and_then(|s| s.code());
        let _ = tx.send(Event::Exited(status));
    });
    let source = file.to_string_lossy().into_owned();
    let mut forwarded = false;
    let status = loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(Event::Call(stream)) => serve(stream, &ctx, &safety, &source, md_lines.as_deref(), mode),
            Ok(Event::Exited(status)) => break status,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
        // The run was interrupted: so is the script, whatever it is running.
        if let (Some(sig), false, true) = (ctx.interrupt.signal(), forwarded, pid > 0) {
            #[cfg(unix)]
            // SAFETY: kill only sends a signal, to the script's process group or bash.
            unsafe {
                libc::kill(target, sig);
            }
            forwarded = true;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let ok = status == Some(0);
    let calls = ctx.stats.calls.get();
    match (ctx.interrupt.signal(), status) {
        (Some(_), _) => safety.close_journal("interrupted", None, calls, secs),
        (None, Some(0)) => safety.close_journal("succeeded", None, calls, secs),
        (None, other) => {
            let message = match other {
                Some(code) => format!("the script exited with {code}"),
                None => "the script was ended by a signal".to_string(),
            };
            safety.close_journal("failed", Some(json!({ "code": "ScriptFailed", "message": message })), calls, secs);
        }
    }
    if mode == Mode::Plan {
        out!("{}", runbook_bindings::secrets::redact(&run::plan_listing(file, &ctx, &safety)));
        let listed = std::fs::read_to_string(&skipped).unwrap_or_default();
        if !listed.is_empty() {
            outln!("\nNot run in a plan (they would run):");
            for line in listed.lines() {
                let (at, command) = line.split_once('\t').unwrap_or(("?", line));
                outln!("  {}:{}  {command}", file.display(), script_line(at, md_lines.as_deref()));
            }
        }
    }
    if ok || !safety.writes().is_empty() {
        let journal = run::journal_flags(&common.journal.dir(), common.journal.journal_profile.as_deref());
        eout!("{}", runbook_bindings::secrets::redact(&run::summary(file, &ctx, &safety, ok, secs, &journal)));
    }
    safety.keep_output();
    match (ctx.interrupt.signal(), status) {
        (Some(sig), _) => ExitCode::from(128u8.saturating_add(sig as u8)),
        (None, Some(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, None) => ExitCode::from(1),
    }
}

/// The names of the variables a script reads (`$NAME`, `${NAME…}`).
fn variables_read(bash: &str) -> std::collections::BTreeSet<String> {
    let chars: Vec<char> = bash.chars().collect();
    let mut out = std::collections::BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let start = if chars.get(i + 1) == Some(&'{') { i + 2 } else { i + 1 };
            let mut j = start;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                out.insert(chars[start..j].iter().collect());
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// The file's line of a line of the bash run: itself, or for Markdown the line it came from.
fn script_line(at: &str, md_lines: Option<&[usize]>) -> String {
    match (at.parse::<usize>(), md_lines) {
        (Ok(n), Some(lines)) => lines.get(n.saturating_sub(1)).map(|l| l.to_string()).unwrap_or_else(|| at.to_string()),
        _ => at.to_string(),
    }
}

/// One `aws` command of the script: read its request, send it through the run, answer.
fn serve(
    mut stream: UnixStream,
    ctx: &runbook_bindings::Context,
    safety: &Safety,
    file: &str,
    md: Option<&[usize]>,
    mode: Mode,
) {
    let mut text = String::new();
    let request: Value = match stream.read_to_string(&mut text) {
        Ok(_) => serde_json::from_str(&text).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let words: Vec<String> =
        request["words"].as_array().into_iter().flatten().filter_map(|w| w.as_str().map(str::to_string)).collect();
    let cwd = PathBuf::from(request["cwd"].as_str().unwrap_or("."));
    let line = request["line"].as_str().map(|l| script_line(l, md)).and_then(|l| l.parse::<usize>().ok());
    safety.set_site(file, line);
    let answer = match cli::args::parse_in(&words, &cwd) {
        Ok(mut cmd) => {
            if mode == Mode::Plan {
                // Read as the shell gave them, then back to the plan's own form.
                for v in cmd.input.values_mut() {
                    unshell(v);
                }
            }
            let done = crate::aws::execute(ctx, &cmd);
            json!({ "stdout": done.stdout, "stderr": done.stderr, "code": done.code })
        }
        Err(e) => json!({ "stdout": "", "stderr": format!("runbook aws: error: {e}\n"), "code": e.code }),
    };
    let answer = match mode {
        Mode::Plan => placeholders_to_shell(&answer.to_string()),
        _ => answer.to_string(),
    };
    let _ = stream.write_all(answer.as_bytes());
}

/// The plan's placeholders inside a value, from their shell form back to the plan's.
fn unshell(v: &mut rhai::Dynamic) {
    if let Ok(s) = v.clone().into_immutable_string() {
        if s.contains('<') {
            *v = placeholders_from_shell(&s).into();
        }
        return;
    }
    if let Some(mut items) = v.write_lock::<rhai::Array>() {
        items.iter_mut().for_each(unshell);
        return;
    }
    if let Some(mut m) = v.write_lock::<rhai::Map>() {
        m.values_mut().for_each(unshell);
    }
}

/// A plan's placeholders as one shell word that shorthand takes whole:
/// `<elbv2.create_target_group#1 TargetGroups[0].TargetGroupArn>` is written
/// `<elbv2.create_target_group#1:TargetGroups(0).TargetGroupArn>`.
fn placeholders_to_shell(text: &str) -> String {
    swap_in_placeholders(text, [(' ', ':'), ('[', '('), (']', ')')])
}

fn placeholders_from_shell(text: &str) -> String {
    swap_in_placeholders(text, [(':', ' '), ('(', '['), (')', ']')])
}

/// In each `<svc.function#N…>` (or `<svc.function…>`), replaces the separator after the label
/// (`swaps[0]`) and the brackets of the path after it (`swaps[1..]`).
fn swap_in_placeholders(text: &str, swaps: [(char, char); 3]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if chars[i] != '<' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (chars[j].is_ascii_lowercase() || chars[j].is_ascii_digit() || "_.#".contains(chars[j]))
        {
            j += 1;
        }
        let label: String = chars[i + 1..j].iter().collect();
        let end = chars[j..].iter().position(|&c| c == '>').map(|p| j + p);
        match end {
            Some(end) if chars[j] == swaps[0].0 && label.contains('.') => {
                out.push_str(&label);
                out.push(swaps[0].1);
                for &c in &chars[j + 1..end] {
                    out.push(swaps[1..].iter().find(|(from, _)| *from == c).map(|(_, to)| *to).unwrap_or(c));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// This binary started as `aws`: with a run's socket in the environment, a command of that run's
/// script; without, `runbook aws` itself (a link named `aws` makes runbook the aws command).
pub fn as_aws() -> Option<ExitCode> {
    let name = std::env::args_os().next().map(PathBuf::from)?;
    if name.file_name().and_then(|n| n.to_str()) != Some("aws") {
        return None;
    }
    let words: Vec<String> = std::env::args().skip(1).collect();
    let Some(socket) = std::env::var_os(SOCKET_VAR).filter(|s| !s.is_empty()) else {
        return Some(crate::aws::aws(Common::default(), Default::default(), None, words));
    };
    Some(client(Path::new(&socket), words))
}

/// Hands a command to its run and prints the answer.
fn client(socket: &Path, words: Vec<String>) -> ExitCode {
    let cwd = std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_else(|_| ".".into());
    let request = json!({ "words": words, "cwd": cwd, "line": std::env::var(LINE_VAR).ok() });
    let answer = UnixStream::connect(socket).and_then(|mut s| {
        s.write_all(request.to_string().as_bytes())?;
        s.shutdown(std::net::Shutdown::Write)?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        Ok(text)
    });
    let answer: Value = match answer {
        Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        Err(e) => {
            eprintln!("runbook aws: cannot reach the run of this script at {}: {e}", socket.display());
            return ExitCode::from(255);
        }
    };
    let _ = std::io::stdout().write_all(answer["stdout"].as_str().unwrap_or("").as_bytes());
    let _ = std::io::stderr().write_all(answer["stderr"].as_str().unwrap_or("").as_bytes());
    ExitCode::from(answer["code"].as_u64().and_then(|c| u8::try_from(c).ok()).unwrap_or(255))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_cross_the_shell_as_one_word_and_come_back() {
        let answer = r#"{"GroupId": "<ec2.create_security_group#1 GroupId>", "x": "a b <c", "y": "<a.b#2 L[0].M>"}"#;
        let shell = placeholders_to_shell(answer);
        assert_eq!(
            shell,
            r#"{"GroupId": "<ec2.create_security_group#1:GroupId>", "x": "a b <c", "y": "<a.b#2:L(0).M>"}"#
        );
        assert_eq!(placeholders_from_shell("Type=forward,Arn=<a.b#2:L(0).M>"), "Type=forward,Arn=<a.b#2 L[0].M>");
        assert_eq!(
            placeholders_from_shell("<ec2.create_security_group#1:GroupId>"),
            "<ec2.create_security_group#1 GroupId>"
        );
        assert_eq!(placeholders_from_shell("arn:aws:x"), "arn:aws:x");
    }
}
