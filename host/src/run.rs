//! `runbook run FILE`: parse, check parameters, connect, run, and report.

use crate::args::Common;
use crate::diagnostics;
use crate::diagnostics::fail;
use crate::engine;
use crate::params;
use crate::project::runbook_root;
use rhai::{EvalAltResult, Scope};
use runbook_bindings::secrets::redact;
use runbook_bindings::{Context, Interrupt};
use runbook_run::{journal, locks};
use runbook_run::{Mode, Safety};
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

/// Runs `f` on the thread scripts run on: a plain thread (never inside the async runtime) with a
/// stack large enough for the SDK's futures.
pub fn on_script_thread(f: impl FnOnce() -> ExitCode + Send + 'static) -> ExitCode {
    let thread = std::thread::Builder::new()
        .name("runbook-script".into())
        .stack_size(runbook_bindings::runtime::SCRIPT_STACK)
        .spawn(f);
    match thread {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            eoutln!("error: internal error: the script thread stopped unexpectedly");
            ExitCode::from(70)
        }),
        Err(e) => fail(&format!("cannot start the script thread: {e}")),
    }
}

/// Connects to AWS with the run's safety settings and, except for a plan, starts its journal. The
/// run layer listens to the context's calls through its hooks.
pub fn connect(
    common: &Common,
    sets: std::collections::BTreeMap<String, String>,
    file: &str,
    mode: Mode,
    limits: &engine::Limits,
    lock: Option<locks::Settings>,
) -> Result<(Rc<Context>, Rc<Safety>), String> {
    let mut ctx = Context::new(&common.aws(), sets)?;
    ctx.max_calls = limits.aws_calls.unwrap_or(u64::MAX);
    runbook_bindings::secrets::show(common.show_sensitive);
    for (name, value) in &ctx.params {
        if journal::secret_name(name) {
            runbook_bindings::secrets::add(value);
        }
    }
    ctx.verbose = common.verbose;
    let root = runbook_root(Path::new(file));
    ctx.runbook_dir = Some(root.clone());
    // A fleet names its targets' runs before starting them (see `fleet`).
    let fleet_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let run_id = fleet_env("RUNBOOK_RUN_ID")
        .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(journal::new_run_id);
    let mut safety = Safety::new(mode, run_id, !common.no_tag).with_root(root);
    // Its undo takes the same lock (false: the run took none).
    let lock_name = lock.as_ref().map(|l| serde_json::json!(l.name)).unwrap_or(serde_json::json!(false));
    if let Some(settings) = lock.filter(|_| mode != Mode::Plan) {
        safety = safety.with_locks(settings);
    }
    let safety = Rc::new(safety);
    if mode != Mode::Plan {
        let start = start_record(&ctx, common, file, mode, lock_name);
        safety.open_journal(&common.journal.dir(), start)?;
    }
    ctx.hooks = safety.clone();
    Ok((Rc::new(ctx), safety))
}

/// A journal's start record: what was run, with which parameters, where, and with which
/// credentials.
pub fn start_record(
    ctx: &Context,
    common: &Common,
    file: &str,
    mode: Mode,
    lock: serde_json::Value,
) -> serde_json::Value {
    let fleet_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let params: serde_json::Map<String, serde_json::Value> =
        ctx.params.iter().map(|(k, v)| (k.clone(), journal::param_value(k, v))).collect();
    serde_json::json!({
        "file": file,
        "mode": if mode == Mode::Step { "step" } else { "run" },
        "params": params,
        "profile": ctx.credentials.profile(),
        "region": ctx.region(),
        "endpoint": ctx.endpoint(),
        "tagged": !common.no_tag,
        "version": env!("CARGO_PKG_VERSION"),
        "parent": fleet_env("RUNBOOK_PARENT_RUN"),
        "target": fleet_env("RUNBOOK_TARGET"),
        "account": fleet_env("RUNBOOK_TARGET_ACCOUNT"),
        "credentials": credentials_record(&ctx.credentials),
        "lock": lock,
    })
}

/// How the run's credentials were obtained, for undo and reconcile to obtain them again: their
/// source (a profile, the environment's keys, ...), or (a fleet's target) the role assumed, its
/// session name and external id, and the profile it was assumed with.
pub fn credentials_record(source: &runbook_bindings::credentials::Source) -> serde_json::Value {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match env("RUNBOOK_TARGET_ROLE") {
        Some(role) => serde_json::json!({
            "role": role,
            "session": env("RUNBOOK_TARGET_SESSION"),
            // Not a secret: it tells a role which party asks, and undo must give it again.
            "external_id": env("RUNBOOK_TARGET_EXTERNAL_ID"),
            "profile": env("RUNBOOK_TARGET_PROFILE"),
        }),
        None => source.record(),
    }
}

pub fn run_file(file: &Path, common: &Common, mode: Mode) -> ExitCode {
    run_file_for(file, common, mode, None)
}

/// `runbook run`: the run locks each place it writes in as `lock` says.
pub fn run_file_locked(file: &Path, common: &Common, mode: Mode, lock: &crate::args::LockArgs) -> ExitCode {
    let settings = (!lock.no_lock).then(|| lock_settings(file, common, lock));
    run_with(file, common, mode, None, settings)
}

/// The lock the undo of a run takes: the one the run took (`--lock` names another), in the folder
/// of the journals; none when the run took none, or with `--no-lock`.
pub fn undo_lock_settings(
    dir: &Path,
    start: &serde_json::Value,
    lock: &crate::args::LockArgs,
) -> Option<locks::Settings> {
    if lock.no_lock {
        return None;
    }
    let name = match (&lock.lock, &start["lock"]) {
        (Some(n), _) => n.clone(),
        (None, serde_json::Value::String(n)) => n.clone(),
        (None, serde_json::Value::Bool(false)) => return None,
        // A journal from before locks were recorded: the runbook's own name, as its run would take.
        (None, _) => default_lock_name(Path::new(start["file"].as_str()?)),
    };
    Some(locks::Settings {
        folder: locks::Folder::of_journal(dir),
        name,
        lease: std::time::Duration::from_secs(u64::from(lock.lock_lease.unwrap_or(60))),
        wait: lock.lock_timeout.map(|s| std::time::Duration::from_secs(u64::from(s))),
        group: lock_group(),
        flags: journal_flags(dir, std::env::var("RUNBOOK_JOURNAL_PROFILE").ok().as_deref().filter(|p| !p.is_empty())),
    })
}

/// The lock a run of `file` takes: its name, lease and wait. A fleet's target takes the same lock
/// as a plain run, in its fleet's group: its `with_region` writes may go to other targets' places,
/// where a sibling's hold is shared.
pub(crate) fn lock_settings(file: &Path, common: &Common, lock: &crate::args::LockArgs) -> locks::Settings {
    locks::Settings {
        folder: locks::Folder::of_journal(&common.journal.dir()),
        name: lock.lock.clone().unwrap_or_else(|| default_lock_name(file)),
        lease: std::time::Duration::from_secs(u64::from(lock.lock_lease.unwrap_or(60))),
        wait: lock.lock_timeout.map(|s| std::time::Duration::from_secs(u64::from(s))),
        group: lock_group(),
        flags: journal_flags(&common.journal.dir(), common.journal.journal_profile.as_deref()),
    }
}

/// The fleet group a fleet gives its targets (`RUNBOOK_LOCK_GROUP`).
fn lock_group() -> Option<String> {
    std::env::var("RUNBOOK_LOCK_GROUP").ok().filter(|g| !g.is_empty())
}

/// The journal options a printed follow-up command needs to find this run: none for the default
/// folder, else the folder or the store (and the store's profile).
pub fn journal_flags(dir: &Path, profile: Option<&str>) -> String {
    match runbook_run::store::of(dir) {
        Some(store) => {
            let profile = profile.map(|p| format!(" --journal-profile {p}")).unwrap_or_default();
            format!(" --journal-dir {}{profile}", store.spec.text())
        }
        None if dir == Path::new(journal::DEFAULT_DIR) => String::new(),
        None => format!(" --journal-dir {}", dir.display()),
    }
}

/// A runbook's path from its project root: the nearest folder above it that holds `runbook.toml`
/// or `.git`, else its own folder. Every clone of a project names its runbooks alike.
pub fn default_lock_name(file: &Path) -> String {
    let Ok(full) = std::fs::canonicalize(file) else {
        return file.to_string_lossy().into_owned();
    };
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d.join("runbook.toml").exists() || d.join(".git").exists() {
            break;
        }
        dir = d.parent();
    }
    let root = dir.or(full.parent()).unwrap_or(Path::new("/"));
    let relative = full.strip_prefix(root).unwrap_or(&full);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Runs (or plans) a runbook file; with `policy`, plans it quietly (the script's lines go to
/// stderr) and prints the IAM policy its run and undo need.
pub fn run_file_for(file: &Path, common: &Common, mode: Mode, policy: Option<&crate::policy::PolicyArgs>) -> ExitCode {
    run_with(file, common, mode, policy, None)
}

fn run_with(
    file: &Path,
    common: &Common,
    mode: Mode,
    policy: Option<&crate::policy::PolicyArgs>,
    lock: Option<locks::Settings>,
) -> ExitCode {
    #[cfg(unix)]
    let parent_pid = std::os::unix::process::parent_id();
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot read runbook {}: {e}", file.display())),
    };
    let root = runbook_root(file);
    let sets = match params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if let Err(e) = params::check_for(&root, file, &sets).and_then(|()| params::check_types(&root, file, &sets)) {
        return fail(&e);
    }
    // What `runbook check` is certain of stops the run before its first request. A fleet's target
    // runs the file its fleet checked already.
    let checked = std::env::var_os("RUNBOOK_PARENT_RUN").is_some_and(|p| !p.is_empty());
    if checked {
        // The fleet warned about its targets' regions already.
        runbook_bindings::runtime::regions_warned_elsewhere();
    }
    if let Some(found) = (!checked).then(|| crate::check::before_run(file)).flatten() {
        eout!("{found}");
        return ExitCode::from(2);
    }
    let limits = match engine::Limits::parse(&common.limits) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let (ctx, safety) = match connect(common, sets, &file.to_string_lossy(), mode, &limits, lock) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    install_signal_handlers(&ctx);
    if let Some(p) = policy {
        safety.needs.narrow(p.narrow);
        runbook_bindings::output::out_to_err(true);
    }
    let engine = engine::build(ctx.clone(), &root, &limits);
    let started = std::time::Instant::now();
    let mut ast = match engine.compile(&source) {
        Ok(a) => a,
        Err(e) => {
            eout!("{}", diagnostics::parse_error(file, &e).render());
            safety.close_journal("failed", Some(serde_json::json!({ "code": "SyntaxError" })), 0, 0.0);
            return ExitCode::from(2);
        }
    };
    ast.set_source(file.to_string_lossy().as_ref());
    let mut scope = Scope::new();
    let result = engine.run_ast_with_scope(&mut scope, &ast);
    let secs = started.elapsed().as_secs_f64();
    let calls = ctx.stats.calls.get();
    #[cfg(unix)]
    if std::env::var_os("RUNBOOK_PARENT_RUN").is_some() && std::os::unix::process::parent_id() != parent_pid {
        // A fleet's target whose fleet process died: it finished on its own.
        safety.note_end("parent_gone", serde_json::json!(true));
    }
    let code = match &result {
        Ok(()) => {
            safety.close_journal("succeeded", None, calls, secs);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let outcome = match ctx.interrupt.signal() {
                Some(_) => "interrupted",
                None if diagnostics::is_stop(e) => "stopped",
                None if diagnostics::is_lock_held(e) => "refused",
                None => "failed",
            };
            let d = diagnostics::runtime_error(&root, file, e);
            safety.close_journal(outcome, Some(diagnostics::error_value(&d, e)), calls, secs);
            report(&d, e, &ctx.interrupt)
        }
    };
    if let Some(p) = policy {
        runbook_bindings::output::out_to_err(false);
        // A plan that stopped did not see all the run would do: its policy would be short.
        return match result {
            Ok(()) => crate::policy::print(file, &ctx, &safety, p),
            Err(_) => code,
        };
    }
    if mode == Mode::Plan {
        out!("{}", redact(&plan_listing(file, &ctx, &safety)));
        crate::policy::check(file, &ctx, &safety);
    }
    // A failed run that wrote nothing has said all there is in its diagnostic.
    if result.is_ok() || !safety.writes().is_empty() {
        let journal = journal_flags(&common.journal.dir(), common.journal.journal_profile.as_deref());
        eout!("{}", redact(&summary(file, &ctx, &safety, result.is_ok(), secs, &journal)));
    }
    // Lines said after the end record, to a closed stream, still reach the journal.
    safety.keep_output();
    code
}

/// The writes a plan found, numbered as their placeholders are, with their parameters.
pub(crate) fn plan_listing(file: &Path, ctx: &Context, safety: &Safety) -> String {
    use std::fmt::Write;
    let writes = safety.writes();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nPlan for {}: {} write(s), none sent; {} read(s) sent, {} answered from the plan",
        file.display(),
        writes.len(),
        ctx.stats.calls.get(),
        safety.plan.answered.get()
    );
    for w in &writes {
        let at = if w.at.is_empty() { String::new() } else { format!("  ({})", w.at) };
        let place = w.place.as_ref().map(|p| format!(" in {p}")).unwrap_or_default();
        let _ = writeln!(o, "\n{:>3}. {}{place}{at}", w.seq, w.function);
        for line in runbook_bindings::json::pretty(&w.input).lines() {
            let _ = writeln!(o, "     {line}");
        }
    }
    o
}

/// The end-of-run lines: calls, writes, what was created, the journal and the undo command.
pub(crate) fn summary(file: &Path, ctx: &Context, safety: &Safety, ok: bool, secs: f64, journal: &str) -> String {
    use runbook_run::State;
    use std::fmt::Write;
    let writes = safety.writes();
    let calls = ctx.stats.calls.get();
    let mut o = String::new();
    let what = match (safety.mode, ok) {
        (Mode::Plan, true) => "planned",
        (_, true) => "done",
        (_, false) => "stopped",
    };
    let sent = writes.iter().filter(|w| matches!(w.state, State::Sent | State::Failed(_) | State::Unknown(_))).count();
    let skipped = writes.iter().filter(|w| w.state == State::Skipped).count();
    // What was made away from home says where.
    let placed = |w: &runbook_run::WriteEntry, items: &[String]| -> Vec<String> {
        let place = w.place.as_ref().map(|p| format!(" (in {p})")).unwrap_or_default();
        items.iter().map(|c| format!("{c}{place}")).collect()
    };
    let created: Vec<String> = writes.iter().flat_map(|w| placed(w, &w.created)).collect();
    let mut line = format!("runbook: {} {what}, {calls} AWS call(s) in {secs:.2} s", file.display());
    if safety.mode != Mode::Plan {
        let _ = write!(line, "; {sent} write(s), {} created", created.len());
        if skipped > 0 {
            let _ = write!(line, ", {skipped} skipped");
        }
    }
    let _ = writeln!(o, "{line}");
    for (i, c) in created.iter().enumerate() {
        let _ = writeln!(o, "  {} {c}", if i == 0 { "created:" } else { "        " });
    }
    let changed: Vec<String> = writes.iter().flat_map(|w| placed(w, &w.changed)).collect();
    for (i, c) in changed.iter().enumerate() {
        let _ = writeln!(o, "  {} {c}", if i == 0 { "changed:" } else { "        " });
    }
    for w in writes.iter().filter(|w| w.reconciled.is_some()) {
        let found = w.reconciled.as_deref().unwrap_or("?");
        let _ = writeln!(o, "  reconciled: {} ({}): its answer was lost; found {found}", w.function, w.at);
    }
    for w in writes.iter().filter(|w| matches!(w.state, State::Unknown(_))) {
        let _ = writeln!(o, "  outcome unknown: {} ({}): no answer came; it may have been done", w.function, w.at);
    }
    if let Some(path) = safety.journal_path() {
        match path.parent().and_then(runbook_run::store::of) {
            Some(store) => {
                let _ = writeln!(
                    o,
                    "  journal: {}/runs/{}/ (cached in {})",
                    store.spec.text(),
                    safety.run_id,
                    path.display()
                );
            }
            None => {
                let _ = writeln!(o, "  journal: {}", path.display());
            }
        }
        if !created.is_empty() || !changed.is_empty() {
            let _ = writeln!(o, "  undo:    runbook undo {}{journal}", safety.run_id);
        }
    }
    o
}

/// Prints the diagnostic and picks the exit code: 130 after Ctrl-C, 143 after SIGTERM, 2 for a
/// syntax error in an imported module (as in the runbook itself) and for a lock another run holds,
/// 1 otherwise.
pub fn report(d: &diagnostics::Diagnostic, e: &EvalAltResult, interrupt: &Interrupt) -> ExitCode {
    eout!("{}", d.render());
    match interrupt.signal() {
        Some(sig) => ExitCode::from(128u8.saturating_add(sig as u8)),
        None if diagnostics::is_syntax(e) || diagnostics::is_lock_held(e) => ExitCode::from(2),
        None => ExitCode::from(1),
    }
}

pub fn install_signal_handlers(ctx: &Context) {
    let interrupt: Arc<Interrupt> = ctx.interrupt.clone();
    ctx.handle().spawn(on_signals(move |signal| interrupt.trigger(signal)));
}

/// Calls `trigger` with 2 on SIGINT (Ctrl-C) and 15 on SIGTERM, for as long as it is polled.
pub async fn on_signals(trigger: impl Fn(i32)) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => trigger(2),
                _ = term.recv() => trigger(15),
            }
        }
    }
    #[cfg(not(unix))]
    {
        while tokio::signal::ctrl_c().await.is_ok() {
            trigger(2);
        }
    }
}
