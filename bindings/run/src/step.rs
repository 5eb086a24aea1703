//! `--step`: the operator is asked before each write.

use std::io::{BufRead, Write};

/// An operator's answer at a `--step` prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    All,
    Quit,
}

/// Asks on the terminal: the question on standard error, one line from standard input.
pub fn ask_on_terminal(question: &str) -> Answer {
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\n{}send it? [y]es / [n]o, skip / [a]ll the rest / [q]uit: ",
        runbook_bindings::secrets::redact(question)
    );
    let _ = err.flush();
    loop {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => return Answer::Quit,
            Ok(_) => {}
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Answer::Yes,
            "n" | "no" => return Answer::No,
            "a" | "all" => return Answer::All,
            "q" | "quit" => return Answer::Quit,
            _ => {
                let _ = write!(err, "answer y, n, a or q: ");
                let _ = err.flush();
            }
        }
    }
}
