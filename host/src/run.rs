//! `runbook run FILE`: parse, check parameters, connect, run, and report.

use crate::cli::Common;
use crate::diagnostics;
use crate::engine;
use crate::params;
use rhai::{EvalAltResult, Scope};
use runbook_bindings::{Context, Interrupt};
use std::path::{Path, PathBuf};
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
            eprintln!("error: internal error: the script thread stopped unexpectedly");
            ExitCode::from(70)
        }),
        Err(e) => fail(&format!("cannot start the script thread: {e}")),
    }
}

pub fn fail(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run_file(file: &Path, common: &Common) -> ExitCode {
    let source = match std::fs::read_to_string(file) {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot read runbook {}: {e}", file.display())),
    };
    let root = runbook_root(file);
    let sets = match params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    if let Err(e) = params::check(&sets, &params::declared(&root, file)) {
        return fail(&e);
    }
    let ctx = match Context::new(&common.aws(), sets) {
        Ok(c) => Rc::new(c),
        Err(e) => return fail(&e),
    };
    install_signal_handlers(&ctx);
    let engine = engine::build(ctx.clone(), &root);
    let mut ast = match engine.compile(&source) {
        Ok(a) => a,
        Err(e) => {
            eprint!("{}", diagnostics::parse_error(file, &e).render());
            return ExitCode::from(1);
        }
    };
    ast.set_source(file.to_string_lossy().as_ref());
    let mut scope = Scope::new();
    let started = std::time::Instant::now();
    match engine.run_ast_with_scope(&mut scope, &ast) {
        Ok(()) => {
            let calls = ctx.stats.calls.get();
            eprintln!(
                "runbook: {} done, {calls} AWS call(s) in {:.2} s",
                file.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => report(&root, file, &e, &ctx.interrupt),
    }
}

/// Prints the diagnostic and picks the exit code: 130 after Ctrl-C, 143 after SIGTERM, 1 otherwise.
pub fn report(root: &Path, file: &Path, e: &EvalAltResult, interrupt: &Interrupt) -> ExitCode {
    let d = diagnostics::runtime_error(root, file, e);
    eprint!("{}", d.render());
    match interrupt.signal() {
        Some(sig) => ExitCode::from(128u8.saturating_add(sig as u8)),
        None => ExitCode::from(1),
    }
}

/// Imports resolve inside the runbook's own folder.
pub fn runbook_root(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn install_signal_handlers(ctx: &Context) {
    let handle = ctx.handle();
    let interrupt: Arc<Interrupt> = ctx.interrupt.clone();
    handle.spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => interrupt.trigger(2),
                    _ = term.recv() => interrupt.trigger(15),
                }
            }
        }
        #[cfg(not(unix))]
        {
            while tokio::signal::ctrl_c().await.is_ok() {
                interrupt.trigger(2);
            }
        }
    });
}
