//! `runbook repl`: statements evaluated in one session, results printed as JSON (or a table, or
//! text), errors printed as diagnostics without ending the session, Tab completion, history, and
//! `:save` to turn what worked into a runbook.

use crate::args::Common;
use crate::complete;
use crate::definitions;
use crate::diagnostics;
use crate::engine;
use crate::params;
use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use runbook_bindings::secrets::{masked, redact};
use runbook_bindings::{json, table, Context};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

/// The REPL's commands: (usage, what it does). `:help` prints this table.
const COMMANDS: &[(&str, &str)] = &[
    (":help", "this list"),
    (":help SERVICE::FUNCTION", "an operation's parameters and result (also help(\"elbv2::create_target_group\"))"),
    (":format json|table|text", "how results are printed (default json)"),
    (":load FILE", "runs a runbook in this session; its variables, functions and imports stay"),
    (":save FILE", "writes this session as a runbook: each function's last definition, then the statements that ran"),
    (":fns", "the functions this session defined"),
    (":vars", "the variables this session holds, with their types"),
    (":quit", "leaves (so does Ctrl-D)"),
    ("aws SERVICE OPERATION ...", "an aws CLI command, printed as the aws CLI prints it; :save writes its Rhai call"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Table,
    Text,
}

struct ReplHelper {
    variables: Rc<RefCell<Vec<String>>>,
    live: crate::live::Live,
}

/// Candidates with their labels (a resource's name) beside them, in one column.
fn labelled(found: Vec<(String, String)>) -> Vec<Pair> {
    let width = found.iter().map(|(v, _)| v.len()).max().unwrap_or(0);
    found
        .into_iter()
        .map(|(value, label)| {
            let display = if label.is_empty() { value.clone() } else { format!("{value:<width$}  {label}") };
            Pair { display, replacement: value }
        })
        .collect()
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(&self, line: &str, pos: usize, _: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        // An aws command line: its services, operations, arguments, enum values and resources.
        match complete::aws_line(&line[..pos]) {
            Some(complete::AwsWord::Names(start, names)) => {
                return Ok((start, labelled(names.into_iter().map(|n| (n, String::new())).collect())))
            }
            Some(complete::AwsWord::Value(spot)) => return Ok((spot.start, labelled(self.live.candidates(&spot)))),
            None => {}
        }
        // Inside a string value of a member that names a resource: the account's values.
        if let Some(spot) = complete::value_spot(&line[..pos]) {
            return Ok((spot.start, labelled(self.live.candidates(&spot))));
        }
        let (start, names) = complete::complete(&line[..pos], &self.variables.borrow());
        Ok((start, names.into_iter().map(|n| Pair { display: n.clone(), replacement: n }).collect()))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
    fn hint(&self, line: &str, pos: usize, _: &rustyline::Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        complete::hint(line)
    }
}

impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

/// Where history is kept: `RUNBOOK_HISTORY`, else the XDG state folder.
fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RUNBOOK_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("runbook/history"))
}

struct Session {
    engine: Engine,
    scope: Scope<'static>,
    ctx: Rc<Context>,
    format: Format,
    /// Statements that ran without error, in order, without their function definitions: what
    /// `:save` writes after the functions.
    saved: Vec<String>,
    /// The functions defined so far (and the closures' hidden ones): every entry runs with them.
    functions: AST,
    /// The last definition of each function, by name and number of parameters.
    definitions: Vec<definitions::Function>,
    variables: Rc<RefCell<Vec<String>>>,
}

pub fn repl(common: &Common) -> ExitCode {
    let sets = match params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return crate::diagnostics::fail(&e),
    };
    let limits = match engine::Limits::parse(&common.limits) {
        Ok(l) => l,
        Err(e) => return crate::diagnostics::fail(&e),
    };
    let (ctx, safety) = match crate::run::connect(common, sets, "<repl>", runbook_run::Mode::Run, &limits, None) {
        Ok(c) => c,
        Err(e) => return crate::diagnostics::fail(&e),
    };
    crate::run::install_signal_handlers(&ctx);
    // The line editor owns the terminal, its prompt and cursor: waits print a line per poll here
    // rather than draw a status under it.
    runbook_bindings::live::disable();
    let mut engine = engine::build(ctx.clone(), Path::new("."), &limits);
    engine.register_fn("help", || out!("{}", crate::help::render(None).unwrap_or_default()));
    engine.register_fn("help", |topic: &str| match crate::help::render(Some(topic)) {
        Ok(text) => out!("{text}"),
        Err(e) => eoutln!("error: {e}"),
    });
    let variables = Rc::new(RefCell::new(Vec::new()));
    // Tab lists every candidate and completes their common prefix, as shells do.
    let config = rustyline::Config::builder().completion_type(rustyline::CompletionType::List).build();
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => return crate::diagnostics::fail(&format!("cannot start the line editor: {e}")),
    };
    editor.set_helper(Some(ReplHelper { variables: variables.clone(), live: crate::live::Live::new(common.aws()) }));
    let history = history_file();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    outln!(
        "runbook {} — region {}, endpoint {}, credentials {}\n:help lists the commands, help(\"elbv2::create_target_group\") an operation; Ctrl-D leaves.",
        env!("CARGO_PKG_VERSION"),
        ctx.region().unwrap_or("?"),
        ctx.endpoint().unwrap_or("AWS"),
        ctx.credentials.text(),
    );
    let mut session = Session {
        engine,
        scope: Scope::new(),
        ctx,
        format: Format::Json,
        saved: Vec::new(),
        functions: AST::empty(),
        definitions: Vec::new(),
        variables,
    };
    let mut buffer = String::new();
    let started = std::time::Instant::now();
    loop {
        let prompt = if buffer.is_empty() { "runbook> " } else { "   ...> " };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && is_aws_line(&line) {
                    let _ = editor.add_history_entry(line.trim());
                    let writes = safety.write_count();
                    session.aws(line.trim());
                    if safety.write_count() != writes {
                        if let Some(helper) = editor.helper() {
                            helper.live.forget();
                        }
                    }
                    if let Some(h) = &history {
                        save_history(&mut editor, h);
                    }
                    continue;
                }
                if buffer.is_empty() && line.trim_start().starts_with(':') {
                    let _ = editor.add_history_entry(line.trim());
                    if !session.command(line.trim()) {
                        break;
                    }
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if buffer.trim().is_empty() {
                    buffer.clear();
                    continue;
                }
                match session.engine.compile_with_scope(&session.scope, &buffer) {
                    Err(e) if is_incomplete(&e) => continue,
                    Err(e) => eout!("{}", diagnostics::parse_error_in(Path::new("<repl>"), &buffer, &e).render()),
                    Ok(_) => {
                        let _ = editor.add_history_entry(buffer.trim_end());
                        let text = std::mem::take(&mut buffer);
                        let writes = safety.write_count();
                        session.eval(&text);
                        // What the entry wrote may be what the next Tab should offer.
                        if safety.write_count() != writes {
                            if let Some(helper) = editor.helper() {
                                helper.live.forget();
                            }
                        }
                    }
                }
                buffer.clear();
                if let Some(h) = &history {
                    save_history(&mut editor, h);
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return crate::diagnostics::fail(&format!("reading input: {e}")),
        }
    }
    if let Some(h) = &history {
        save_history(&mut editor, h);
    }
    let ctx = &session.ctx;
    safety.close_journal("ended", None, ctx.stats.calls.get(), started.elapsed().as_secs_f64());
    let created: usize = safety.writes().iter().map(|w| w.created.len()).sum();
    if created > 0 {
        eoutln!("this session created {created} resource(s); undo them with: runbook undo {}", safety.run_id);
    }
    ExitCode::SUCCESS
}

fn save_history(editor: &mut Editor<ReplHelper, DefaultHistory>, path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        eoutln!("warning: cannot save history to {}: {e}", path.display());
    }
}

impl Session {
    /// Runs `text` in the session, with the functions defined so far; keeps the functions and
    /// imports it defines, and records it for `:save` when it succeeds.
    fn eval(&mut self, text: &str) -> bool {
        self.ctx.interrupt.clear();
        let result = self.run_entry(text, None);
        self.ctx.interrupt.clear();
        let ok = match result {
            Ok(v) => {
                self.print(&v);
                true
            }
            Err(e) => {
                self.report(&e, Path::new("<repl>"));
                false
            }
        };
        self.refresh_variables();
        ok
    }

    /// Compiles and runs an entry (or a `:load`ed file) with the session's functions. Definitions
    /// stay even when a statement after them fails; the statements are saved only on success.
    fn run_entry(&mut self, text: &str, file: Option<&Path>) -> Result<Dynamic, Box<EvalAltResult>> {
        let mut ast = self.engine.compile_with_scope(&self.scope, text)?;
        if let Some(f) = file {
            ast.set_source(f.to_string_lossy().as_ref());
        }
        let combined = self.functions.merge(&ast);
        let result = self.engine.eval_ast_with_scope::<Dynamic>(&mut self.scope, &combined);
        self.functions = combined.clone_functions_only();
        let split = definitions::split(text);
        for f in split.functions {
            self.definitions.retain(|d| !(d.name == f.name && d.arity == f.arity));
            self.definitions.push(f);
        }
        if result.is_ok() {
            for (path, name) in definitions::imports(text) {
                self.keep_import(&path, &name);
            }
            if !split.rest.trim().is_empty() {
                let rest = split.rest.trim().to_string();
                self.saved.push(match file {
                    Some(f) => format!("// from {}\n{rest}", f.display()),
                    None => rest,
                });
            }
        }
        result
    }

    /// Keeps an imported module for later entries, as a module of the engine under its alias.
    fn keep_import(&mut self, path: &str, name: &str) {
        match self.engine.module_resolver().resolve(&self.engine, None, path, Position::NONE) {
            Ok(module) => {
                self.engine.register_static_module(name, module);
            }
            Err(e) => eoutln!("warning: the module {path:?} cannot be kept for later entries: {e}"),
        }
    }

    /// The names Tab completion offers as variables: what the session's scope holds now.
    fn refresh_variables(&self) {
        *self.variables.borrow_mut() = self.scope.iter().map(|(name, ..)| name.to_string()).collect();
    }

    fn report(&self, e: &EvalAltResult, file: &Path) {
        if diagnostics::is_interrupt(e) {
            eoutln!("interrupted; the session's variables are kept");
            return;
        }
        eout!("{}", diagnostics::runtime_error(Path::new("."), file, e).render());
    }

    fn print(&self, v: &Dynamic) {
        if v.is_unit() {
            return;
        }
        match self.format {
            Format::Json if v.is_string() => outln!("{}", redact(&v.to_string())),
            Format::Json => outln!("{}", redact(&json::pretty(&json::to_value(&masked(v))))),
            Format::Table => out!("{}", redact(&table::render(&json::to_value(&masked(v)), None))),
            Format::Text => outln!("{}", redact(&masked(v).to_string())),
        }
    }

    /// A `:command`; false when the session should end.
    fn command(&mut self, line: &str) -> bool {
        let (cmd, arg) = match line.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (line, ""),
        };
        match (cmd, arg) {
            (":quit" | ":q" | ":exit", _) => return false,
            (":help", "") => {
                for (usage, what) in COMMANDS {
                    outln!("  {usage:<26} {what}");
                }
            }
            (":help", topic) => match crate::help::render(Some(topic)) {
                Ok(text) => out!("{text}"),
                Err(e) => eoutln!("error: {e}"),
            },
            (":format", "json") => self.format = Format::Json,
            (":format", "table") => self.format = Format::Table,
            (":format", "text") => self.format = Format::Text,
            (":format", other) => eoutln!("error: unknown format {other:?}; use json, table or text"),
            (":fns", "") => self.list_functions(),
            (":vars", "") => self.list_variables(),
            (":load", "") | (":save", "") => eoutln!("error: {cmd} needs a file name"),
            (":load", file) => self.load(Path::new(file)),
            (":save", file) => self.save(Path::new(file)),
            (other, _) => eoutln!("error: unknown command {other}; :help lists the commands"),
        }
        true
    }

    fn load(&mut self, file: &Path) {
        let source = match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => return eoutln!("error: cannot read {}: {e}", file.display()),
        };
        self.ctx.interrupt.clear();
        match self.run_entry(&source, Some(file)) {
            Ok(_) => outln!("loaded {}", file.display()),
            Err(e) => self.report(&e, file),
        }
        self.refresh_variables();
    }

    /// `:fns`: the functions defined so far, as they can be called.
    fn list_functions(&self) {
        if self.definitions.is_empty() {
            outln!("no functions defined in this session");
        }
        for f in &self.definitions {
            outln!("  {}", f.text.lines().next().unwrap_or("").trim_end_matches('{').trim_end());
        }
    }

    /// `:vars`: the session's variables and the type of each value.
    fn list_variables(&self) {
        if self.scope.is_empty() {
            outln!("no variables in this session");
        }
        for (name, constant, value) in self.scope.iter() {
            let kind = if constant { "const" } else { "let" };
            outln!("  {kind} {name}: {}", value.type_name());
        }
    }

    fn save(&self, file: &Path) {
        let mut text = String::from(
            "// Saved from a runbook REPL session: the last definition of each function, then the statements\n\
             // that ran without error, in order.\n",
        );
        for f in &self.definitions {
            text.push_str(&f.text);
            text.push_str("\n\n");
        }
        // Only what a runbook can run: a call only the REPL has would stop the saved runbook there.
        let mut kept = 0;
        let mut left_out = 0;
        for s in &self.saved {
            for stmt in definitions::statements(s) {
                if definitions::repl_only(&stmt) {
                    left_out += 1;
                    continue;
                }
                kept += 1;
                text.push_str(&stmt);
                if !stmt.ends_with(';') && !stmt.ends_with('}') {
                    text.push(';');
                }
                text.push('\n');
            }
        }
        let left = if left_out > 0 {
            format!(" ({left_out} REPL-only statement(s) such as help() left out)")
        } else {
            String::new()
        };
        match std::fs::write(file, text) {
            Ok(()) => outln!(
                "saved {} function(s) and {kept} statement(s) to {}{left}",
                self.definitions.len(),
                file.display()
            ),
            Err(e) => eoutln!("error: cannot write {}: {e}", file.display()),
        }
    }
}

/// A line in the aws CLI's words (`aws ec2 describe-vpcs ...`) rather than Rhai.
fn is_aws_line(line: &str) -> bool {
    let t = line.trim_start();
    t == "aws" || t.starts_with("aws ") || t.starts_with("aws\t")
}

impl Session {
    /// `aws SERVICE OPERATION ...`: sent as `runbook aws` sends it (through the session's run),
    /// printed as the aws CLI prints it; once it succeeds, `:save` writes the call it stands for.
    /// `$name` is a session variable's value (a list, unquoted, as one word each).
    fn aws(&mut self, line: &str) {
        use runbook_bindings::cli;
        let words = match self.aws_words(line) {
            Ok(w) => w,
            Err(e) => return eoutln!("error: {e}"),
        };
        let cmd = match cli::parse(&words) {
            Ok(c) => c,
            Err(e) => return eoutln!("runbook aws: error: {e}"),
        };
        if let cli::Action::Help(op) = &cmd.action {
            crate::aws::help(cmd.svc, op);
            return;
        }
        self.ctx.interrupt.clear();
        let done = crate::aws::execute(&self.ctx, &cmd);
        self.ctx.interrupt.clear();
        out!("{}", redact(&done.stdout));
        eout!("{}", redact(&done.stderr));
        if done.code == 0 {
            self.saved.push(crate::import::statement_of(&cmd));
        }
    }

    /// The words of an aws line after `aws`, with the session's variables in place.
    fn aws_words(&self, line: &str) -> Result<Vec<String>, String> {
        use crate::import::shell::{tokens, Part, Token};
        let (tokens, _) = tokens(line.trim_start().trim_start_matches("aws"))?;
        let mut words = Vec::new();
        for t in tokens {
            let Token::Word(w) = t else { return Err("an aws line in the REPL takes no pipes or redirections".into()) };
            if let [Part::Var(name, _)] = w.parts.as_slice() {
                if let Some(list) = self.scope.get_value::<rhai::Array>(name).filter(|_| !w.quoted) {
                    words.extend(list.iter().map(|v| v.to_string()));
                    continue;
                }
            }
            let mut text = String::new();
            for p in &w.parts {
                match p {
                    Part::Lit(s) => text.push_str(s),
                    Part::Var(name, default) => match (self.scope.get_value::<Dynamic>(name), default) {
                        (Some(v), _) => text.push_str(&v.to_string()),
                        (None, Some(d)) => text.push_str(d),
                        (None, None) => return Err(format!("${name}: the session has no variable {name}")),
                    },
                    Part::Sub(_) => return Err("$(…) is not taken in the REPL: set a variable first".into()),
                }
            }
            words.push(text);
        }
        Ok(words)
    }
}

/// Input that ends before its statement does: an open bracket or string.
fn is_incomplete(e: &rhai::ParseError) -> bool {
    use rhai::ParseErrorType as P;
    matches!(e.err_type(), P::MissingToken(..) | P::UnexpectedEOF)
        || matches!(e.err_type(), P::BadInput(rhai::LexError::UnterminatedString))
}
