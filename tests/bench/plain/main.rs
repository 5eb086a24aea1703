//! The benchmark's plain engine: a Rhai script run by `rhai::Engine::new()`, nothing registered and
//! no limits set, to measure runbook's engine against (tests/bench/scripts.py).
//!
//! Usage: plain-rhai FILE

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: plain-rhai FILE");
        return ExitCode::from(2);
    };
    let engine = rhai::Engine::new();
    match engine.run_file(file.into()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
