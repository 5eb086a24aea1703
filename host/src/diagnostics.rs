//! Renders a parse or runtime error as: the message, `--> file:line:col`, the line, and a caret.

use rhai::{Dynamic, EvalAltResult, Map, ParseError, Position};
use std::path::{Path, PathBuf};

pub struct Diagnostic {
    pub title: String,
    pub file: PathBuf,
    pub pos: Position,
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// Where it points: `file:line:col`, or the file alone.
    pub fn location(&self) -> String {
        match self.pos.line() {
            Some(line) => format!("{}:{line}:{}", self.file.display(), self.pos.position().unwrap_or(1).max(1)),
            None => self.file.display().to_string(),
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.title);
        out.push_str(&format!("  --> {}\n", self.location()));
        if let Some(line) = self.pos.line() {
            let col = self.pos.position().unwrap_or(1).max(1);
            let text = std::fs::read_to_string(&self.file).unwrap_or_default();
            if let Some(src) = text.lines().nth(line - 1) {
                let gutter = line.to_string().len();
                let pad = " ".repeat(gutter);
                out.push_str(&format!("{pad} |\n{line} | {src}\n{pad} | {}^\n", " ".repeat(col - 1)));
            }
        }
        for n in &self.notes {
            out.push_str(&format!("  = {n}\n"));
        }
        runbook_bindings::secrets::redact(&out).into_owned()
    }
}

pub fn parse_error(file: &Path, e: &ParseError) -> Diagnostic {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    parse_error_in(file, &text, e)
}

/// As [`parse_error`], for source text at hand (the REPL's line).
pub fn parse_error_in(file: &Path, text: &str, e: &ParseError) -> Diagnostic {
    let line = e.position().line().and_then(|l| text.lines().nth(l - 1)).unwrap_or_default();
    let mut notes = Vec::new();
    if bare_map(line) {
        notes.push("object maps are written #{ key: value }; `{ ... }` alone is a block of statements".to_string());
    }
    Diagnostic { title: format!("syntax: {}", e.err_type()), file: file.to_path_buf(), pos: e.position(), notes }
}

/// Whether a line has `{ key:` without the `#` that makes it an object map.
fn bare_map(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices('{').any(|(i, _)| {
        if i > 0 && bytes[i - 1] == b'#' {
            return false;
        }
        let rest = line[i + 1..].trim_start();
        let key: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '"').collect();
        !key.is_empty()
            && rest[key.len()..].trim_start().starts_with(':')
            && !rest[key.len()..].trim_start().starts_with("::")
    })
}

/// Whether the error is a syntax error, in the runbook or in a module it imports.
pub fn is_syntax(e: &EvalAltResult) -> bool {
    matches!(innermost(e), EvalAltResult::ErrorParsing(..))
}

/// Walks through module and function-call wrappers to the innermost error, keeping track of which
/// file each function lives in, so the caret points at the line that failed; the calls that led
/// there follow as notes, innermost first, as a backtrace reads.
pub fn runtime_error(root: &Path, file: &Path, e: &EvalAltResult) -> Diagnostic {
    let runbook = file.to_path_buf();
    let mut file = file.to_path_buf();
    let mut err = e;
    let mut chain = Vec::new();
    let mut outer_pos = e.position();
    loop {
        match err {
            EvalAltResult::ErrorInModule(path, inner, pos) => {
                if !pos.is_none() {
                    chain.push(format!("while importing {path:?} at {}:{}", file.display(), pos_text(*pos)));
                }
                file = source_file(root, &file, path);
                err = inner;
                outer_pos = err.position();
            }
            EvalAltResult::ErrorInFunctionCall(name, source, inner, pos) => {
                chain.push(format!("in {name}(), called at {}:{}", file.display(), pos_text(*pos)));
                if !source.is_empty() {
                    file = source_file(root, &file, source);
                }
                err = inner;
                outer_pos = if err.position().is_none() { *pos } else { err.position() };
            }
            _ => break,
        }
    }
    let pos = if err.position().is_none() { outer_pos } else { err.position() };
    let (title, mut notes) = describe(err);
    // Inside a function: its body sees its parameters and constants, not the script's variables.
    if let (EvalAltResult::ErrorVariableNotFound(name, _), true) = (err, chain.iter().any(|c| c.starts_with("in "))) {
        notes.push(format!(
            "a function does not see the variables of the script around it: pass {name} as a parameter \
             (fn f({name}) {{ … }}, called as f({name})), or use a closure (|| … {name} …), which captures it"
        ));
    }
    // A denial: the one permission named, and where all of them are listed.
    if notes.iter().any(|n| n.contains(" may not call ")) {
        notes.push(format!(
            "`runbook policy {}` prints every permission this runbook and its undo need",
            runbook.display()
        ));
    }
    chain.reverse();
    notes.append(&mut chain);
    Diagnostic { title, file, pos, notes }
}

/// The file a function's or module's source name stands for: the script itself (its source is
/// its path), a path as given, or a module name under the runbook's folder.
fn source_file(root: &Path, current: &Path, source: &str) -> PathBuf {
    let given = Path::new(source);
    let candidates = [given.to_path_buf(), root.join(given), root.join(format!("{source}.rhai"))];
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(p) if same_file(&p, current) => current.to_path_buf(),
        Some(p) => p,
        None => root.join(format!("{source}.rhai")),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Whether the error is an interrupt (Ctrl-C or SIGTERM), however deep in calls and imports.
pub fn is_interrupt(e: &EvalAltResult) -> bool {
    match e {
        EvalAltResult::ErrorTerminated(..) => ending_code(e).is_none_or(|c| c != crate::engine::MEMORY_LIMIT),
        EvalAltResult::ErrorInModule(_, inner, _) | EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => {
            is_interrupt(inner)
        }
        _ => false,
    }
}

/// The innermost error, below the layers of function calls and imports.
pub fn innermost(e: &EvalAltResult) -> &EvalAltResult {
    match e {
        EvalAltResult::ErrorInModule(_, inner, _) | EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => {
            innermost(inner)
        }
        other => other,
    }
}

/// Whether the operator quit at a `--step` prompt.
pub fn is_stop(e: &EvalAltResult) -> bool {
    ending_code(e).is_some_and(|c| c == "StoppedByOperator")
}

/// Whether the run ended because another run holds the lock of a place it was to write in.
pub fn is_lock_held(e: &EvalAltResult) -> bool {
    ending_code(e).is_some_and(|c| c == runbook_bindings::error::LOCK_HELD)
}

/// The code of an error that ended the run (not catchable by the script).
fn ending_code(e: &EvalAltResult) -> Option<String> {
    match innermost(e) {
        EvalAltResult::ErrorTerminated(v, _) => v.read_lock::<rhai::Map>()?.get("code").map(|c| c.to_string()),
        _ => None,
    }
}

/// The error as the journal's end record keeps it: the AWS error map, or the script error's text.
/// `d` is the error's diagnostic, whose `-->` line says where it failed.
pub fn error_value(d: &Diagnostic, e: &EvalAltResult) -> serde_json::Value {
    let at = d.location();
    match innermost(e) {
        EvalAltResult::ErrorRuntime(v, _) | EvalAltResult::ErrorTerminated(v, _) if v.is_map() => {
            let full = runbook_bindings::json::to_value(v);
            serde_json::json!({ "code": full["code"], "message": full["message"], "operation": full["operation"], "at": at })
        }
        _ => serde_json::json!({ "code": "ScriptError", "message": &d.title, "at": at }),
    }
}

fn pos_text(p: Position) -> String {
    match (p.line(), p.position()) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => l.to_string(),
        _ => "?".into(),
    }
}

/// A module that is neither a service nor a file beside the runbook; `runbook check` says the same.
pub fn module_not_found(path: &str) -> (String, Vec<String>) {
    let services: Vec<&str> = runbook_bindings::Svc::ALL.iter().map(|s| s.module()).collect();
    (
        format!("cannot find module {path:?}"),
        vec![format!(
            "the services are {}; `import \"lib/x\"` loads lib/x.rhai beside the runbook",
            services.join(", ")
        )],
    )
}

/// The headline and notes of one error; AWS and validation errors come as maps.
fn describe(err: &EvalAltResult) -> (String, Vec<String>) {
    match err {
        EvalAltResult::ErrorRuntime(v, _) | EvalAltResult::ErrorTerminated(v, _) => match v.read_lock::<Map>() {
            Some(m) => describe_map(&m),
            None if matches!(err, EvalAltResult::ErrorTerminated(..)) => ("interrupted".into(), vec![]),
            None => (format!("{v}"), vec![]),
        },
        EvalAltResult::ErrorFunctionNotFound(sig, _) => function_not_found(sig),
        EvalAltResult::ErrorModuleNotFound(path, _) => module_not_found(path),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            let limit = if what.contains("string") {
                "string-size"
            } else if what.contains("map") {
                "map-size"
            } else {
                "array-size"
            };
            (
                format!("{} is larger than the run allows", what.to_lowercase()),
                vec![format!("raise it with --limit {limit}=N, or lift it with --limit {limit}=none")],
            )
        }
        EvalAltResult::ErrorDotExpr(text, _) if text.contains("for type '()'") => {
            let name = text.split('\'').nth(1).unwrap_or("?");
            (
                format!("cannot read {name} of () (an empty value)"),
                vec!["a look-up that found nothing answers (); check it with `if x == () {...}`".into()],
            )
        }
        EvalAltResult::ErrorParsing(kind, _) => (format!("syntax: {kind}"), vec![]),
        EvalAltResult::ErrorTooManyOperations(_) => (
            "the runbook exceeded its operation limit (a runaway loop?)".into(),
            vec!["raise it with --limit operations=N, or lift it with --limit operations=none".into()],
        ),
        EvalAltResult::ErrorStackOverflow(_) => ("too many nested calls (runaway recursion?)".into(), vec![]),
        other => {
            let text = other.to_string();
            let text = match text.rsplit_once(" (line ") {
                Some((head, _)) => head.to_string(),
                None => text,
            };
            (text, vec![])
        }
    }
}

/// An unknown function: a service function called with the wrong arguments, an operator on
/// values it does not apply to, or a name that does not exist.
fn function_not_found(sig: &str) -> (String, Vec<String>) {
    let name = sig.split(" (").next().unwrap_or(sig);
    let args = sig.split_once(" (").map(|(_, a)| a.trim_end_matches(')')).unwrap_or("");
    let args =
        args.replace("&str | ImmutableString | String", "string").replace("i64", "integer").replace("f64", "float");
    if let Some((module, func)) = name.split_once("::") {
        let known =
            runbook_bindings::Svc::by_module(module).is_some_and(|s| s.operations().iter().any(|(f, _)| *f == func));
        if known {
            return (
                format!("{name} takes an object map of parameters, not ({args})"),
                vec![format!("call it as {name}(#{{ ... }}); `runbook help {name}` lists the parameters")],
            );
        }
    }
    if !name.is_empty() && name.chars().all(|c| !c.is_alphanumeric() && c != '_') {
        return (format!("the operator {name} does not apply to ({args})"), vec![]);
    }
    let (title, notes) = unknown_function(name);
    (format!("{title} ({args})"), notes)
}

/// An unknown function by name, with the suggestions `runbook help` makes; `runbook check` says the
/// same, without the argument types a run adds.
pub fn unknown_function(name: &str) -> (String, Vec<String>) {
    let mut notes = suggestions(name);
    notes.push("`runbook help` lists the services and helpers".into());
    (format!("unknown function {name}"), notes)
}

/// "Did you mean" for an unknown function: the same suggestions as `runbook help`, and the
/// snake_case name when it was written in camelCase or PascalCase (`getRole` → `get_role`).
fn suggestions(name: &str) -> Vec<String> {
    use runbook_bindings::validate::closest;
    let (module, func) = match name.split_once("::") {
        Some((m, f)) => (Some(m), f),
        None => (None, name),
    };
    let svc = match module {
        Some(m) => match runbook_bindings::Svc::by_module(m) {
            Some(s) => Some(s),
            None => {
                let modules: Vec<&str> = runbook_bindings::Svc::ALL.iter().map(|s| s.module()).collect();
                let close = closest(m, modules.iter().copied());
                return match close.first() {
                    Some(c) => vec![format!("there is no module {m}; did you mean {c}::{func}?")],
                    None => vec![format!("there is no module {m}; the modules are {}", modules.join(", "))],
                };
            }
        },
        None => None,
    };
    let names: Vec<&str> = match svc {
        Some(s) => s.operations().iter().map(|(f, _)| *f).chain(s.waiters().iter().map(|(f, _)| *f)).collect(),
        None => runbook_bindings::helpers::HELPERS.iter().filter_map(|(sig, _)| sig.split('(').next()).collect(),
    };
    let prefix = module.map(|m| format!("{m}::")).unwrap_or_default();
    // `getRole`, `DescribeVpcs`: the same letters as a snake_case name, without its underscores.
    if func.chars().any(|c| c.is_ascii_uppercase()) && !func.contains('_') {
        if let Some(snake) = names.iter().find(|n| n.replace('_', "").eq_ignore_ascii_case(func)) {
            return vec![format!("function names are snake_case: did you mean {prefix}{snake}?")];
        }
    }
    let close = closest(func, names.iter().copied());
    if close.is_empty() {
        return vec![];
    }
    let list: Vec<String> = close.iter().map(|c| format!("{prefix}{c}")).collect();
    vec![format!("did you mean {}?", list.join(" or "))]
}

fn field(m: &Map, k: &str) -> Option<String> {
    m.get(k).filter(|v| !v.is_unit()).map(Dynamic::to_string)
}

fn describe_map(m: &Map) -> (String, Vec<String>) {
    let code = field(m, "code").unwrap_or_else(|| "Error".into());
    let message = field(m, "message").unwrap_or_default();
    let service = field(m, "service").unwrap_or_default();
    let operation = field(m, "operation").unwrap_or_default();
    let mut notes = Vec::new();
    let title = if code == crate::engine::MEMORY_LIMIT {
        notes.push("raise it with --limit memory=SIZE (such as 4GiB), or lift it with --limit memory=none".into());
        message.clone()
    } else if code == "Interrupted" {
        let during = if service == "runbook" { operation.clone() } else { format!("{service}::{operation}") };
        format!("interrupted during {during}")
    } else if code == "ValidationError" {
        let problems: Vec<String> = m
            .get("problems")
            .and_then(|p| p.read_lock::<rhai::Array>().map(|a| a.iter().map(Dynamic::to_string).collect()))
            .unwrap_or_else(|| vec![message.clone()]);
        notes.extend(problems);
        notes.push("nothing was sent".into());
        format!("{service}::{operation}: invalid input")
    } else {
        let mut tail = Vec::new();
        if let Some(s) = field(m, "status") {
            tail.push(format!("HTTP {s}"));
        }
        if let Some(r) = field(m, "request_id") {
            tail.push(format!("request id {r}"));
        }
        if !tail.is_empty() {
            notes.push(tail.join(", "));
        }
        if let (true, Some((principal, action))) =
            (runbook_bindings::denied::is_denial(&code), runbook_bindings::denied::named(&message))
        {
            notes.push(format!(
                "{principal} may not call {action}: allow it in one of that principal's IAM policies (or ask \
                 whoever manages them), then run again: what this run made is found and kept"
            ));
        }
        if service.is_empty() {
            format!("{code}: {message}")
        } else {
            format!("{service}::{operation}: {code}: {message}")
        }
    };
    (title, notes)
}

/// Says `error: …` and gives the exit code of a mistake in what was asked (2).
pub fn fail(msg: &str) -> std::process::ExitCode {
    eoutln!("error: {msg}");
    std::process::ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_without_its_hash_is_pointed_at() {
        assert!(bare_map("elbv2::create_target_group({ Name: \"x\" });"));
        assert!(bare_map("let m = {Name: 1};"));
        assert!(!bare_map("let m = #{ Name: 1 };"));
        assert!(!bare_map("if x { ec2::describe_vpcs(); }"));
        assert!(!bare_map("fn f() { elbv2::describe_load_balancers(); }"));
    }

    #[test]
    fn unknown_functions_get_the_suggestions_help_gives() {
        assert_eq!(suggestions("ec2::describe_vpc"), ["did you mean ec2::describe_vpcs?"]);
        assert_eq!(suggestions("iam::getRole"), ["function names are snake_case: did you mean iam::get_role?"]);
        assert_eq!(
            suggestions("ec2::DescribeVpcs"),
            ["function names are snake_case: did you mean ec2::describe_vpcs?"]
        );
        assert_eq!(suggestions("ec3::describe_vpcs"), ["there is no module ec3; did you mean ec2::describe_vpcs?"]);
        assert_eq!(suggestions("qury"), ["did you mean query?"]);
        assert!(suggestions("iam::zzzzzzzzzz").is_empty());
    }
}
