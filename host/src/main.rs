//! `runbook`: runs AWS runbooks written in Rhai.

#[macro_use]
extern crate runbook_bindings;

mod check;
mod cli;
mod complete;
mod definitions;
mod diagnostics;
mod engine;
mod fleet;
mod help;
mod live;
mod params;
mod policy;
mod project;
mod repl;
mod run;
mod runs;
mod shell;
mod testing;
mod unlock;

fn main() -> std::process::ExitCode {
    cli::main()
}
