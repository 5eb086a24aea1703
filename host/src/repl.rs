//! `runbook repl`: statements evaluated in one session; results printed as JSON; errors printed
//! as diagnostics without ending the session.

use crate::cli::Common;
use crate::diagnostics;
use crate::engine;
use crate::params;
use rhai::Scope;
use runbook_bindings::Context;
use rustyline::error::ReadlineError;
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;

pub fn repl(common: &Common) -> ExitCode {
    let sets = match params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return crate::run::fail(&e),
    };
    let ctx = match Context::new(&common.aws(), sets) {
        Ok(c) => Rc::new(c),
        Err(e) => return crate::run::fail(&e),
    };
    crate::run::install_signal_handlers(&ctx);
    let root = Path::new(".");
    let engine = engine::build(ctx.clone(), root);
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => return crate::run::fail(&format!("cannot start the line editor: {e}")),
    };
    println!(
        "runbook {} — region {}, endpoint {}. `runbook help` lists services; Ctrl-D exits.",
        env!("CARGO_PKG_VERSION"),
        ctx.region().unwrap_or("?"),
        ctx.endpoint().unwrap_or("AWS")
    );
    let mut scope = Scope::new();
    let mut buffer = String::new();
    let input_file = Path::new("<repl>");
    loop {
        let prompt = if buffer.is_empty() { "runbook> " } else { "    ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                let ast = match engine.compile_with_scope(&scope, &buffer) {
                    Ok(ast) => ast,
                    Err(e) if is_incomplete(&e) => continue,
                    Err(e) => {
                        eprint!("{}", diagnostics::parse_error(input_file, &e).render());
                        buffer.clear();
                        continue;
                    }
                };
                let _ = editor.add_history_entry(buffer.trim_end());
                buffer.clear();
                ctx.interrupt.clear();
                match engine.eval_ast_with_scope::<rhai::Dynamic>(&mut scope, &ast) {
                    Ok(v) if v.is_unit() => {}
                    Ok(v) if v.is_string() => println!("{v}"),
                    Ok(v) => println!("{}", runbook_bindings::json::pretty(&runbook_bindings::json::to_value(&v))),
                    Err(e) => eprint!("{}", diagnostics::runtime_error(root, input_file, &e).render()),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => return ExitCode::SUCCESS,
            Err(e) => return crate::run::fail(&format!("reading input: {e}")),
        }
    }
}

/// Input that ends before a statement does: an open bracket or string.
fn is_incomplete(e: &rhai::ParseError) -> bool {
    use rhai::ParseErrorType as P;
    matches!(e.err_type(), P::MissingToken(..) | P::UnexpectedEOF)
        || matches!(e.err_type(), P::BadInput(rhai::LexError::UnterminatedString))
}
