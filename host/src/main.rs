//! `runbook`, the host: the binary that runs AWS runbooks written in Rhai. It parses the command
//! line (`cli`, `args`), builds the script engine (`engine`), and carries out each command in a
//! file of its own; it may call every layer below it: the run layer (runbook-run), which it joins
//! to a run's context as the context's hooks (`run::connect`), and the binding layer
//! (runbook-bindings), whose functions it registers in the engine.

#[macro_use]
extern crate runbook_bindings;

mod args;
mod aws;
mod candidates;
mod check;
mod cli;
mod complete;
mod definitions;
mod diagnostics;
mod drift;
mod engine;
mod fleet;
mod help;
mod import;
mod live;
mod lsp;
mod memory;
mod params;
mod policy;
mod project;
mod repl;
mod run;
mod runs;
mod script;
mod shell;
mod testing;
mod timeline;
mod unlock;

use clap::Parser;
use cli::{apply_project, open_store, Cli, Command};
use runbook_run::Mode;
use std::process::ExitCode;

/// The heap, counted for the run's memory limit (see `memory`).
#[global_allocator]
static HEAP: memory::Counting = memory::Counting;

/// Parses the command line and hands the command to the file that carries it out.
fn main() -> ExitCode {
    if let Some(code) = crate::script::as_aws() {
        return code;
    }
    crate::shell::answer_if_asked();
    // `drift` exits 2 when something drifted: its own mistakes exit 1, so that a job that alerts
    // on 2 is not set off by a typo.
    let mistake = if std::env::args().nth(1).as_deref() == Some("drift") { 1 } else { 2 };
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { mistake } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.no_progress {
        runbook_bindings::live::disable();
    }
    let mut command = cli.command;
    if let Err(e) = apply_project(&mut command).and_then(|()| open_store(&mut command)) {
        eoutln!("error: {e}");
        return ExitCode::from(mistake);
    }
    match command {
        Command::Run { file, step, common, lock, fleet } if fleet.active() => {
            if step {
                return crate::diagnostics::fail(
                    "--step asks before each write of one run: it does not go with many targets",
                );
            }
            crate::fleet::run(&file, &common, &fleet, false, &lock)
        }
        Command::Plan { file, common, fleet } if fleet.active() => {
            crate::fleet::run(&file, &common, &fleet, true, &args::LockArgs::default())
        }
        Command::Run { file, step, common, lock, fleet } => {
            if let Some(e) = fleet.stray() {
                return crate::diagnostics::fail(&e);
            }
            let mode = if step { Mode::Step } else { Mode::Run };
            if crate::project::is_script(&file) {
                return crate::run::on_script_thread(move || crate::script::run_locked(&file, &common, mode, &lock));
            }
            crate::run::on_script_thread(move || crate::run::run_file_locked(&file, &common, mode, &lock))
        }
        Command::Plan { file, common, fleet } => {
            if let Some(e) = fleet.stray() {
                return crate::diagnostics::fail(&e);
            }
            if crate::project::is_script(&file) {
                return crate::run::on_script_thread(move || crate::script::run(&file, &common, Mode::Plan, None));
            }
            crate::run::on_script_thread(move || crate::run::run_file(&file, &common, Mode::Plan))
        }
        Command::Policy { file, narrow, trust, external_id, needs, drift, common } => {
            if crate::project::is_script(&file) {
                return crate::diagnostics::fail(
                    "runbook policy reads Rhai runbooks: import the script first (runbook import), or plan it",
                );
            }
            let args = crate::policy::PolicyArgs { narrow, trust, external_id, needs, drift };
            if let Err(e) = args.check() {
                return crate::diagnostics::fail(&e);
            }
            crate::run::on_script_thread(move || crate::run::run_file_for(&file, &common, Mode::Plan, Some(&args)))
        }
        Command::Params { file } if crate::project::is_script(&file) => crate::diagnostics::fail(&format!(
            "runbook params reads Rhai runbooks; {} is a script, whose parameters are the environment variables it reads (--set NAME=VALUE sets them)",
            file.display()
        )),
        Command::Params { file } => crate::params::show(&file),
        Command::Test { paths, .. } if paths.iter().any(|p| crate::project::is_script(p)) => crate::diagnostics::fail(
            "runbook test runs the fn test_*() of *_test.rhai files; a script is checked with `runbook check` and tried with `runbook plan`",
        ),
        Command::Test { paths, live, common } => {
            crate::run::on_script_thread(move || crate::testing::run(&paths, &common, live))
        }
        Command::Check { paths, format } => crate::run::on_script_thread(move || crate::check::run(&paths, format)),
        Command::Unlock { lock, yes, journal } => crate::unlock::unlock(&journal.dir(), &lock, yes),
        Command::Runs { writes, journal } => crate::runs::list(&journal.dir(), writes),
        Command::Show { run, timeline, journal } => {
            let dir = journal.dir();
            let flags = crate::run::journal_flags(&dir, journal.journal_profile.as_deref());
            match timeline {
                Some(file) => crate::runs::draw(&dir, &run, &file),
                None => crate::runs::show(&dir, &run, &flags),
            }
        }
        Command::Undo { run, plan, force, assume_role, concurrency, aws, journal, lock } => {
            let aws = aws.options();
            crate::run::on_script_thread(move || {
                crate::runs::undo(&journal, &run, aws, assume_role, (plan, force), concurrency, &lock)
            })
        }
        Command::Drift { run, all, format, assume_role, concurrency, report_file, quiet, aws, journal } => {
            let aws = aws.options();
            let options = crate::drift::Options { format, role: assume_role, concurrency, report_file, quiet };
            crate::run::on_script_thread(move || crate::drift::drift(&journal, run.as_deref(), all, aws, &options))
        }
        Command::Aws { to, common, lock, words } => crate::aws::aws(common, lock, to, words),
        Command::Import { file, output, idempotent } => {
            crate::run::on_script_thread(move || crate::import::import(&file, output.as_deref(), idempotent))
        }
        Command::Repl { common } => crate::run::on_script_thread(move || crate::repl::repl(&common)),
        Command::Help { topic } => crate::help::help(topic.as_deref()),
        Command::Lsp => crate::run::on_script_thread(crate::lsp::serve),
        Command::Completions { shell } => crate::shell::script(&shell),
    }
}
