//! `runbook aws [RUN OPTIONS] SERVICE OPERATION [ARGS…]`: one aws CLI command line, read by the
//! binding layer's `cli` into the call a script would make, sent through the same layers (its
//! validation, place, attempts, and for a write the run layer's journal, lock, tag and undo), and
//! printed as the aws CLI prints it, with its exit codes: 0, 2 for a command line it does not take,
//! 255 for a value or an AWS error, 130 after Ctrl-C.

use crate::args::{Common, LockArgs};
use crate::run;
use runbook_bindings::cli::{self, Action, Command, Format};
use runbook_bindings::{CallError, Context, Svc};
use runbook_run::Mode;
use std::process::ExitCode;
use std::rc::Rc;

/// What `--to` prints instead of sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// The Rhai call the command stands for
    Rhai,
    /// The input as `--cli-input-json` takes it
    Json,
}

pub fn aws(common: Common, lock: LockArgs, to: Option<To>, words: Vec<String>) -> ExitCode {
    // Script values live on the script thread: the command is read there too.
    run::on_script_thread(move || command(common, lock, to, words))
}

fn command(common: Common, lock: LockArgs, to: Option<To>, words: Vec<String>) -> ExitCode {
    if words.iter().map(String::as_str).eq(["--version"]) {
        outln!("runbook {} (speaks the language of aws-cli 1)", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let cmd = match cli::parse(&words) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    if let Some(to) = to {
        return translate(&cmd, to);
    }
    if let Action::Help(op) = &cmd.action {
        return help(cmd.svc, op);
    }
    if let Some(refused) = refused_global(&cmd) {
        return usage_error(&cli::CliError::usage(refused));
    }
    // As a shell reads it back: the journal's title of the run, and the command drift re-runs.
    let quoted: Vec<String> = words.iter().map(|w| crate::import::shell::quoted(w)).collect();
    let line = format!("aws {}", quoted.join(" "));
    send(common, lock, cmd, line)
}

/// The aws CLI's options this tool does not honour, and why.
fn refused_global(cmd: &Command) -> Option<String> {
    let g = &cmd.globals;
    if g.no_sign_request {
        return Some("--no-sign-request: runbook signs every request (these services take no unsigned ones)".into());
    }
    if g.no_verify_ssl {
        return Some("--no-verify-ssl: runbook always verifies the endpoint's certificate".into());
    }
    if g.ca_bundle.is_some() {
        return Some("--ca-bundle: give the bundle to the SDK with AWS_CA_BUNDLE instead".into());
    }
    None
}

fn usage_error(e: &cli::CliError) -> ExitCode {
    eoutln!("runbook aws: error: {e}");
    ExitCode::from(e.code)
}

/// `--to rhai` / `--to json`: the command's call or input, nothing sent.
fn translate(cmd: &Command, to: To) -> ExitCode {
    match to {
        To::Rhai => outln!("{}", cli::source::call(cmd)),
        To::Json => {
            let input = runbook_bindings::json::map_to_value(&cmd.first_request());
            outln!("{}", runbook_bindings::json::pretty(&input));
        }
    }
    ExitCode::SUCCESS
}

/// `aws SERVICE OPERATION help`: the arguments in the CLI's names, with the model's types.
pub(crate) fn help(svc: Svc, op: &str) -> ExitCode {
    let Ok(table) = svc.table() else { return ExitCode::from(255) };
    if op.is_empty() {
        let service = cli::args::service_name(svc);
        outln!("aws {service} OPERATION [ARGS]  (in Rhai: {}::function)\n", svc.module());
        for (func, _) in svc.operations() {
            outln!("  {}", cli::args::operation_name(func));
        }
        outln!("\naws {service} wait WAITER [ARGS]:");
        for (_, waiter) in svc.waiters() {
            outln!("  {}", cli::names::kebab(waiter));
        }
        return ExitCode::SUCCESS;
    }
    let input = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s));
    let func = runbook_bindings::svc::function_name(svc.module(), op);
    outln!(
        "aws {} {}  ({op}; in Rhai: {}::{func})\n",
        cli::args::service_name(svc),
        cli::args::operation_name(&func),
        svc.module()
    );
    for (name, target) in cli::args::argument_specs(svc, table, op, true) {
        let (kind, required) = match &target {
            cli::args::Target::Member(m) => {
                let shape = input.and_then(|s| s.member_shape(m)).unwrap_or("?");
                let values = table.shape(shape).map(|s| s.values.as_slice()).unwrap_or_default();
                let kind = match values {
                    [] if table.shape(shape).is_some_and(|s| s.kind == "boolean") => "flag".to_string(),
                    [] => table.describe(shape),
                    few if few.len() <= 8 => format!("one of {}", few.join(", ")),
                    many => format!("one of {}, ... ({} values)", many[..8].join(", "), many.len()),
                };
                (kind, input.is_some_and(|s| s.required.iter().any(|r| r == m)))
            }
            cli::args::Target::NoMember(_) => ("flag".to_string(), false),
            cli::args::Target::Custom(e) => {
                let kind = match e.kind {
                    cli::custom::ExtraKind::Scalar => "string",
                    cli::custom::ExtraKind::List => "list of strings",
                    cli::custom::ExtraKind::Flag(_) => "flag",
                };
                (format!("{kind} (the aws CLI's own argument)"), false)
            }
            cli::args::Target::StartingToken => ("string (pagination: where to go on)".to_string(), false),
            cli::args::Target::PageSize => ("integer (pagination: items per request)".to_string(), false),
            cli::args::Target::MaxItems => ("integer (pagination: items in all)".to_string(), false),
            cli::args::Target::InputJson => ("the input as JSON (or file://)".to_string(), false),
        };
        outln!("  {name:<44} {kind}{}", if required { "  (required)" } else { "" });
    }
    outln!("\nrunbook help {}::{func} shows the members and the answer's shape.", svc.module());
    ExitCode::SUCCESS
}

/// Sends the command and prints its answer or error.
fn send(mut common: Common, lock: LockArgs, cmd: Command, line: String) -> ExitCode {
    let g = &cmd.globals;
    if g.region.is_some() {
        common.aws.region = g.region.clone();
    }
    if g.profile.is_some() {
        common.aws.profile = g.profile.clone();
    }
    if g.endpoint_url.is_some() {
        common.aws.endpoint_url = g.endpoint_url.clone();
    }
    if let Some(secs) = g.read_timeout.filter(|s| *s > 0.0) {
        common.aws.call_timeout = Some(secs);
    }
    if g.debug {
        common.verbose = common.verbose.max(2);
    }
    let Ok(table) = cmd.svc.table() else { return ExitCode::from(255) };
    let writes = match &cmd.action {
        Action::Call(op) => !table.operations.get(op).is_some_and(|o| o.readonly),
        _ => false,
    };
    let limits = match crate::engine::Limits::parse(&common.limits) {
        Ok(l) => l,
        Err(e) => return crate::diagnostics::fail(&e),
    };
    // A write the model refuses is reported before a run is started for it: nothing is sent,
    // nothing journaled.
    if let (true, Action::Call(op)) = (writes, &cmd.action) {
        if let Err(e) = runbook_bindings::call::validated(cmd.svc, op, &cmd.input) {
            let (text, code) = report(&cmd, &e, None);
            eout!("{text}");
            return ExitCode::from(code);
        }
    }
    let (ctx, safety) = if writes {
        // A lone command locks only when a lock is named (a runbook's default name is its path).
        let named = lock.lock.is_some() && !lock.no_lock;
        let settings = named.then(|| run::lock_settings(std::path::Path::new(&line), &common, &lock));
        match run::connect(&common, Default::default(), &line, Mode::Run, &limits, settings) {
            Ok((ctx, safety)) => (ctx, Some(safety)),
            Err(e) => return crate::diagnostics::fail(&e),
        }
    } else {
        match Context::new(&common.aws(), Default::default()) {
            Ok(mut ctx) => {
                ctx.verbose = common.verbose;
                runbook_bindings::secrets::show(common.show_sensitive);
                (Rc::new(ctx), None)
            }
            Err(e) => return crate::diagnostics::fail(&e),
        }
    };
    run::install_signal_handlers(&ctx);
    let started = std::time::Instant::now();
    let done = execute(&ctx, &cmd);
    out!("{}", done.stdout);
    eout!("{}", done.stderr);
    if let Some(safety) = safety {
        let secs = started.elapsed().as_secs_f64();
        let calls = ctx.stats.calls.get();
        match &done.error {
            None => safety.close_journal("succeeded", None, calls, secs),
            Some(error) => {
                let outcome = if ctx.interrupt.signal().is_some() { "interrupted" } else { "failed" };
                safety.close_journal(outcome, Some(error.clone()), calls, secs);
            }
        }
        if common.verbose > 0 {
            if let Some(path) = safety.journal_path() {
                eoutln!("runbook: journal {}; undo: runbook undo {}", path.display(), safety.run_id);
            }
        }
        safety.keep_output();
    }
    ExitCode::from(done.code)
}

/// What a command printed and its exit code; for a failed one, the error as a journal keeps it.
pub struct Done {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
    pub error: Option<serde_json::Value>,
}

impl Done {
    fn failed(stderr: String, code: u8, error: serde_json::Value) -> Done {
        Done { stdout: String::new(), stderr, code, error: Some(error) }
    }
}

/// Sends a command through `ctx` (with whatever hooks it has: a lone command's, or the run of the
/// script it is part of) and gives what the aws CLI would print. A `--region` other than the
/// context's sends it there, as a script's `with_region` does.
pub fn execute(ctx: &Context, cmd: &Command) -> Done {
    let Ok(table) = cmd.svc.table() else {
        return Done::failed(
            "runbook aws: the service's model is missing from this build\n".into(),
            255,
            serde_json::json!({}),
        );
    };
    // One run signs as one identity and sends to one endpoint: a command cannot change them.
    let other = |what: &str, given: &str, own: Option<&str>| {
        let own = own.unwrap_or("the default");
        let text = format!(
            "runbook aws: error: {what} {given} is not this run's ({own}): give it to runbook itself, before the script or session\n"
        );
        Done::failed(text, 2, serde_json::json!({ "code": "OtherIdentity", "message": what }))
    };
    if let Some(p) = cmd.globals.profile.as_deref().filter(|p| Some(*p) != ctx.credentials.profile()) {
        return other("--profile", p, ctx.credentials.profile());
    }
    let same = |a: &str, b: Option<&str>| b.is_some_and(|b| a.trim_end_matches('/') == b.trim_end_matches('/'));
    if let Some(e) = cmd.globals.endpoint_url.as_deref().filter(|e| !same(e, ctx.endpoint())) {
        return other("--endpoint-url", e, ctx.endpoint());
    }
    let away = cmd.globals.region.as_deref().filter(|r| Some(*r) != ctx.region());
    if let Some(region) = away {
        if let Err(e) = ctx.enter(Some(region), None) {
            return Done::failed(
                format!("\n{e}\n"),
                255,
                serde_json::json!({ "code": e.code(), "message": e.to_string() }),
            );
        }
    }
    let result = match &cmd.action {
        Action::Call(op) => runbook_bindings::call::invoke_paged(ctx, cmd.svc, op, &cmd.input, cmd.pages.as_ref()),
        Action::Wait(w) => {
            runbook_bindings::waiter::wait(ctx, cmd.svc, w, &cmd.input, Default::default()).map(|_| (().into(), None))
        }
        Action::Help(_) => Ok((().into(), None)),
    };
    if away.is_some() {
        ctx.leave();
    }
    match result {
        Ok((answer, resume)) => match &cmd.action {
            Action::Call(op) => print_answer(cmd, table, op, &answer, resume.as_ref()),
            _ => Done { stdout: String::new(), stderr: String::new(), code: 0, error: None },
        },
        Err(e) => {
            let error = serde_json::json!({ "code": e.code(), "message": e.to_string() });
            let (text, code) = report(cmd, &e, Some(ctx));
            Done::failed(text, code, error)
        }
    }
}

fn print_answer(
    cmd: &Command,
    table: &runbook_bindings::model::Table,
    op: &str,
    answer: &rhai::Dynamic,
    resume: Option<&runbook_bindings::call::Resume>,
) -> Done {
    let ok = |stdout: String| Done { stdout, stderr: String::new(), code: 0, error: None };
    let mut value = runbook_bindings::json::to_value(answer);
    let output = table.operations.get(op).and_then(|o| o.output.as_deref());
    if output.is_none() {
        return ok(String::new());
    }
    let format = cmd.globals.output.unwrap_or_else(default_format);
    let query = cmd.globals.query.as_deref();
    let token = resume.map(|r| r.encode());
    // Text prints the answer, then where to resume as an answer of its own (the query applies to
    // both); JSON and table print the token as a member of the answer.
    let mut after = None;
    match (&token, format, value.as_object_mut()) {
        (Some(t), Format::Text, _) => after = Some(serde_json::json!({ "NextToken": { "NextToken": t } })),
        (Some(t), _, Some(m)) => {
            m.insert("NextToken".into(), t.clone().into());
        }
        _ => {}
    }
    let printed = cli::print::render(table, output, &value, format, query, op).and_then(|text| match &after {
        Some(more) => cli::print::render(table, None, more, format, query, op).map(|t| format!("{text}{t}")),
        None => Ok(text),
    });
    match printed {
        Ok(text) => ok(text),
        Err(e) => Done::failed(format!("\n{e}\n"), 255, serde_json::json!({ "code": "InvalidQuery", "message": e })),
    }
}

/// The output format when `--output` is not given: AWS_DEFAULT_OUTPUT, else JSON.
fn default_format() -> Format {
    match std::env::var("AWS_DEFAULT_OUTPUT").as_deref() {
        Ok("text") => Format::Text,
        Ok("table") => Format::Table,
        _ => Format::Json,
    }
}

/// An error as the aws CLI reports it, with its exit code.
fn report(cmd: &Command, e: &CallError, ctx: Option<&Context>) -> (String, u8) {
    if let Some(sig) = ctx.and_then(|c| c.interrupt.signal()) {
        return (String::new(), 128u8.saturating_add(sig as u8));
    }
    let op = match &cmd.action {
        Action::Call(op) | Action::Help(op) => op.clone(),
        Action::Wait(w) => w.clone(),
    };
    let text = match e {
        CallError::Aws { code, message, .. } => {
            format!("\nAn error occurred ({code}) when calling the {op} operation: {message}\n")
        }
        CallError::Validation { problems, .. } => format!("\nParameter validation failed:\n{}\n", problems.join("\n")),
        CallError::Waiter { message, .. } => format!("\nWaiter {op} failed: {message}\n"),
        CallError::Interrupted { .. } => return (String::new(), 130),
        CallError::Transport { message, .. } | CallError::Stopped { message, .. } => format!("\n{message}\n"),
    };
    (text, 255)
}
