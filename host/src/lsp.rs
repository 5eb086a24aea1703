//! `runbook lsp`: a language server over stdio for editors, from the same knowledge as `check`,
//! `help` and the REPL's completion (nothing here knows a model or a rule of its own).
//!
//! - Diagnostics as a file is opened, changed and saved: every mistake `runbook check` finds, with
//!   the range of the word it is about; certain ones are errors, advice is a warning.
//! - Quick fixes (code actions) from a mistake's "did you mean …?".
//! - Completion: modules, functions, waiters, helpers, variables, and inside an operation's map its
//!   members, required ones first.
//! - Hover: an operation's or a service's `runbook help`.
//! - Document symbols: the script's functions, the parameters it reads, and its writes.
//!
//! Messages are framed and parsed by the `lsp-server` crate, their contents typed by `lsp-types`.
//! A message that is not JSON is answered with a parse error and the server reads on.

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The open documents, by URI: their text.
struct Server {
    checker: crate::check::Checker,
    documents: HashMap<String, String>,
    initialized: bool,
    shutdown: bool,
    /// Live resource ids and ARNs in completion, read from the account as the REPL reads them:
    /// only when the editor's settings turn it on (`"live": true`), since it calls AWS.
    live: Option<crate::live::Live>,
}

/// Writes one message on stdout (lsp-server's framing).
fn send(message: Message) {
    let mut out = std::io::stdout().lock();
    let _ = message.write(&mut out);
}

/// A parse error, answered as JSON-RPC says (its id is null: the message had none that could be
/// read).
fn parse_error(what: &str) {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": ErrorCode::ParseError as i32, "message": what } });
    let text = body.to_string();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "Content-Length: {}\r\n\r\n{text}", text.len());
    let _ = out.flush();
}

/// `runbook lsp`: serves until the client says `exit` or closes stdin.
pub fn serve() -> ExitCode {
    let mut server = Server {
        checker: crate::check::Checker::new(),
        documents: HashMap::new(),
        initialized: false,
        shutdown: false,
        live: None,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let message = match Message::read(&mut input) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                parse_error(&format!("not a message runbook lsp can read: {e}"));
                continue;
            }
            Err(_) => break,
        };
        match message {
            Message::Request(r) => {
                if let Some(response) = server.request(r) {
                    send(Message::Response(response));
                }
            }
            Message::Notification(n) if n.method == "exit" => {
                return if server.shutdown { ExitCode::SUCCESS } else { ExitCode::from(1) };
            }
            Message::Notification(n) => server.notification(n),
            Message::Response(_) => {}
        }
        let _ = input.fill_buf();
    }
    if server.shutdown {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn error(id: RequestId, code: ErrorCode, message: String) -> Response {
    Response::new_err(id, code as i32, message)
}

impl Server {
    fn request(&mut self, r: Request) -> Option<Response> {
        let id = r.id.clone();
        if r.method == "initialize" {
            self.initialized = true;
            self.configure(&r.params["initializationOptions"]);
            return Some(Response::new_ok(id, capabilities()));
        }
        if !self.initialized {
            return Some(error(id, ErrorCode::ServerNotInitialized, "initialize comes first".into()));
        }
        if self.shutdown {
            return Some(error(
                id,
                ErrorCode::InvalidRequest,
                "the server is shut down: only exit is taken now".into(),
            ));
        }
        if r.method == "shutdown" {
            self.shutdown = true;
            return Some(Response::new_ok(id, Value::Null));
        }
        let answer = match r.method.as_str() {
            "textDocument/completion" => {
                params::<lsp::CompletionParams>(&r).map(|p| json!(self.completion(&p.text_document_position)))
            }
            "textDocument/hover" => {
                params::<lsp::HoverParams>(&r).map(|p| json!(self.hover(&p.text_document_position_params)))
            }
            "textDocument/codeAction" => params::<lsp::CodeActionParams>(&r).map(|p| json!(self.code_actions(&p))),
            "textDocument/documentSymbol" => {
                params::<lsp::DocumentSymbolParams>(&r).map(|p| json!(self.symbols(p.text_document.uri.as_str())))
            }
            "textDocument/definition" => params::<lsp::GotoDefinitionParams>(&r)
                .map(|p| json!(self.definition(&p.text_document_position_params))),
            "textDocument/signatureHelp" => {
                params::<lsp::SignatureHelpParams>(&r).map(|p| json!(self.signature(&p.text_document_position_params)))
            }
            other => return Some(error(id, ErrorCode::MethodNotFound, format!("runbook lsp does not answer {other}"))),
        };
        Some(match answer {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => error(id, ErrorCode::InvalidParams, e),
        })
    }

    /// The editor's settings for runbook: `{ "live": true, "profile": "ops", "region": "eu-west-1" }`.
    fn configure(&mut self, settings: &Value) {
        if settings["live"] != true {
            self.live = None;
            return;
        }
        // An empty setting (VS Code's default) is the environment's, as no setting is.
        let text = |k: &str| settings[k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
        let aws = crate::args::AwsArgs { profile: text("profile"), region: text("region"), ..Default::default() };
        self.live = Some(crate::live::Live::new(aws.options()));
    }

    fn notification(&mut self, n: Notification) {
        if n.method == "workspace/didChangeConfiguration" {
            let settings = n.params["settings"].get("runbook").cloned().unwrap_or(n.params["settings"].clone());
            self.configure(&settings);
            return;
        }
        let uri_text = match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params) else { return };
                let uri = p.text_document.uri.to_string();
                self.documents.insert(uri.clone(), p.text_document.text);
                Some(uri)
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params) else { return };
                let uri = p.text_document.uri.to_string();
                // Full sync: the last change is the whole text.
                if let Some(change) = p.content_changes.into_iter().next_back() {
                    self.documents.insert(uri.clone(), change.text);
                }
                Some(uri)
            }
            "textDocument/didSave" => {
                let Ok(p) = serde_json::from_value::<lsp::DidSaveTextDocumentParams>(n.params) else { return };
                let uri = p.text_document.uri.to_string();
                if let Some(text) = p.text {
                    self.documents.insert(uri.clone(), text);
                }
                Some(uri)
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) else { return };
                let uri = p.text_document.uri.to_string();
                self.documents.remove(&uri);
                publish(&uri, vec![]);
                None
            }
            _ => None,
        };
        if let Some(uri) = uri_text {
            let diagnostics = self.diagnostics(&uri);
            publish(&uri, diagnostics);
        }
    }

    fn text(&self, uri: &str) -> &str {
        self.documents.get(uri).map(String::as_str).unwrap_or("")
    }

    /// What `runbook check` finds in the document, as the editor shows it.
    fn diagnostics(&self, uri: &str) -> Vec<lsp::Diagnostic> {
        let text = self.text(uri);
        let path = path_of(uri);
        let mistakes = if crate::project::is_script(&path) {
            crate::check::script(&path, text)
        } else {
            let root = crate::project::runbook_root(&path);
            self.checker.file(&path, &root, text)
        };
        let mut out = Vec::new();
        for m in mistakes.into_iter().filter(|m| m.file == path) {
            let range = word_range(text, m.line, m.column);
            let severity =
                Some(if m.certain { lsp::DiagnosticSeverity::ERROR } else { lsp::DiagnosticSeverity::WARNING });
            let diagnostic = |range: lsp::Range, message: String, fixes: Vec<String>| lsp::Diagnostic {
                range,
                severity,
                source: Some("runbook".into()),
                message,
                data: (!fixes.is_empty()).then(|| json!({ "replace": fixes })),
                ..Default::default()
            };
            // An operation's input problems, each on the key or value it is about, with its fix.
            let call = offset(text, range.start);
            let mut rest = Vec::new();
            for note in &m.notes {
                match member_range(text, call, note) {
                    Some((at, quoted)) => {
                        let fixes = suggestions(note)
                            .into_iter()
                            .map(|f| if quoted { format!("\"{f}\"") } else { f })
                            .collect();
                        let here = lsp::Range { start: position(text, at.start), end: position(text, at.end) };
                        out.push(diagnostic(
                            here,
                            format!("{}: {note}", m.message.trim_end_matches(": invalid input")),
                            fixes,
                        ));
                    }
                    None => rest.push(note.clone()),
                }
            }
            if rest.len() < m.notes.len() && rest.iter().all(|n| n.starts_with("`runbook help")) {
                continue;
            }
            let fixes: Vec<String> = rest.iter().flat_map(|n| suggestions(n)).collect();
            let mut message = m.message.clone();
            for note in &rest {
                message.push('\n');
                message.push_str(note);
            }
            out.push(diagnostic(range, message, fixes));
        }
        out
    }

    /// A quick fix for each "did you mean …?" of the diagnostics the editor sends back.
    // lsp-types keys a workspace edit's changes by URI, a type clippy takes for mutable.
    #[allow(clippy::mutable_key_type)]
    fn code_actions(&self, p: &lsp::CodeActionParams) -> Vec<lsp::CodeActionOrCommand> {
        let mut out = Vec::new();
        // The kinds the editor asks for, when it names them.
        let wanted = |kind: &lsp::CodeActionKind| {
            p.context.only.as_ref().is_none_or(|only| only.iter().any(|o| kind.as_str().starts_with(o.as_str())))
        };
        if let Some(action) = self.convert_action(p).filter(|_| wanted(&lsp::CodeActionKind::REFACTOR_REWRITE)) {
            out.push(lsp::CodeActionOrCommand::CodeAction(action));
        }
        if !wanted(&lsp::CodeActionKind::QUICKFIX) {
            return out;
        }
        for d in &p.context.diagnostics {
            let fixes = d.data.as_ref().and_then(|v| v["replace"].as_array().cloned()).unwrap_or_default();
            for fix in fixes.iter().filter_map(Value::as_str) {
                let edit = lsp::TextEdit { range: d.range, new_text: fix.to_string() };
                let changes = HashMap::from([(p.text_document.uri.clone(), vec![edit])]);
                out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
                    title: format!("Change to {fix}"),
                    kind: Some(lsp::CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![d.clone()]),
                    edit: Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                    is_preferred: Some(fixes.len() == 1),
                    ..Default::default()
                }));
            }
        }
        out
    }

    /// "Convert aws CLI command to Rhai" on the lines of the range that hold aws commands (pasted
    /// as they are, after `$ `, or commented out), as `runbook import` converts them; disabled,
    /// with the reason, when import cannot.
    #[allow(clippy::mutable_key_type)]
    fn convert_action(&self, p: &lsp::CodeActionParams) -> Option<lsp::CodeAction> {
        // A bash script is the aws CLI's language already.
        if crate::project::is_script(&path_of(p.text_document.uri.as_str())) {
            return None;
        }
        let text = self.text(p.text_document.uri.as_str());
        let lines: Vec<&str> = text.split('\n').collect();
        let (mut first, mut last) =
            (p.range.start.line as usize, (p.range.end.line as usize).min(lines.len().saturating_sub(1)));
        // The whole command: the lines a `\` at their end continues.
        let continued = |i: usize| lines.get(i).is_some_and(|l| l.trim_end().ends_with('\\'));
        while first > 0 && continued(first - 1) {
            first -= 1;
        }
        while continued(last) && last + 1 < lines.len() {
            last += 1;
        }
        let strip = |l: &str| -> String {
            let t = l.trim_start();
            let t = t.strip_prefix("//").or_else(|| t.strip_prefix('#')).unwrap_or(t).trim_start();
            t.strip_prefix("$ ").unwrap_or(t).to_string()
        };
        let chosen: Vec<String> = lines.get(first..=last)?.iter().map(|l| strip(l)).collect();
        if !chosen.iter().any(|l| l.starts_with("aws ")) {
            return None;
        }
        let indent: String = lines[first].chars().take_while(|c| c.is_whitespace()).collect();
        let title = "Convert aws CLI command to Rhai".to_string();
        let converted = match crate::import::convert(&format!("{}\n", chosen.join("\n"))) {
            Ok(rhai) => rhai,
            Err(why) => {
                return Some(lsp::CodeAction {
                    title,
                    kind: Some(lsp::CodeActionKind::REFACTOR_REWRITE),
                    disabled: Some(lsp::CodeActionDisabled { reason: why }),
                    ..Default::default()
                })
            }
        };
        let new_text: String = converted.lines().map(|l| format!("{indent}{l}\n")).collect();
        let end = if last + 1 < lines.len() {
            lsp::Position { line: last as u32 + 1, character: 0 }
        } else {
            position(text, text.len())
        };
        let range = lsp::Range { start: lsp::Position { line: first as u32, character: 0 }, end };
        let changes = HashMap::from([(p.text_document.uri.clone(), vec![lsp::TextEdit { range, new_text }])]);
        Some(lsp::CodeAction {
            title,
            kind: Some(lsp::CodeActionKind::REFACTOR_REWRITE),
            edit: Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }),
            ..Default::default()
        })
    }

    /// What the REPL's Tab offers at the cursor, as completion items.
    fn completion(&self, at: &lsp::TextDocumentPositionParams) -> lsp::CompletionResponse {
        let uri = at.text_document.uri.as_str();
        let text = self.text(uri);
        let cursor = offset(text, at.position);
        let before = &text[..cursor];
        // The position as it is in the text: one past a line's end or the file's is its end.
        let here = position(text, cursor);
        let none = lsp::CompletionResponse::List(lsp::CompletionList { is_incomplete: false, items: vec![] });
        // A bash script's words are the aws CLI's, not Rhai's.
        if crate::project::is_script(&path_of(uri)) {
            return none;
        }
        let variables = variables(text);
        if let Some(list) = self.value_completion(uri, text, before, here) {
            return list;
        }
        let word_start = before.len()
            - before
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .map(char::len_utf8)
                .sum::<usize>();
        // In a comment or a string nothing is code; after a `.` a property or method comes, which
        // the models do not name.
        if in_comment_or_string(before) || before[..word_start].ends_with('.') {
            return none;
        }
        // Inside a map nested in an operation's input: its members, from the model.
        let nested = crate::complete::open_nested(before)
            .map(|(module, func, path)| crate::complete::nested_parameters(&module, &func, &path))
            .unwrap_or_default();
        if !nested.is_empty() {
            let start = name_start(before);
            let given = given_keys(before);
            let range = lsp::Range { start: position(text, start), end: here };
            let items = nested
                .into_iter()
                .filter(|(m, _)| m.starts_with(&before[start..]) && !given.contains(m))
                .enumerate()
                .map(|(i, (m, required))| lsp::CompletionItem {
                    label: m.clone(),
                    kind: Some(lsp::CompletionItemKind::FIELD),
                    detail: Some(if required { "required" } else { "optional" }.to_string()),
                    sort_text: Some(format!("{i:05}")),
                    text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit { range, new_text: m })),
                    ..Default::default()
                })
                .collect();
            return lsp::CompletionResponse::List(lsp::CompletionList { is_incomplete: false, items });
        }
        // Inside another map that is no operation's input at its top level: nothing rather than
        // every module.
        if crate::complete::open_call(before).is_none()
            && options_map(before).is_none()
            && open_map(before).is_some()
            && !at_value(before)
        {
            return none;
        }
        let (start, names) = match options_map(before) {
            // In a call's options map (its second argument): the options the call takes.
            Some(func) => {
                let typed = name_start(before);
                let options = if func.starts_with("wait_") {
                    runbook_bindings::WAIT_OPTIONS
                } else {
                    runbook_bindings::CALL_OPTIONS
                };
                (typed, options.iter().filter(|o| o.starts_with(&before[typed..])).map(|o| o.to_string()).collect())
            }
            None => {
                let (start, mut names) = crate::complete::complete(before, &variables);
                if crate::complete::open_call(before).is_none() {
                    let word = &before[start..];
                    names.extend(self.script_functions(uri, text).into_iter().filter(|f| f.starts_with(word)));
                    names.sort();
                    names.dedup();
                }
                (start, names)
            }
        };
        let members = crate::complete::open_call(before)
            .map(|(module, func)| crate::complete::parameters(&module, &func))
            .unwrap_or_default();
        // Members the map gives already are not offered again.
        let given = given_keys(before);
        let names: Vec<String> = names.into_iter().filter(|n| members.is_empty() || !given.contains(n)).collect();
        let range = lsp::Range { start: position(text, start), end: here };
        // A member's type, whether required, its limits: its line of the operation's help.
        let help = crate::complete::open_call(before)
            .filter(|_| !members.is_empty())
            .and_then(|(module, func)| crate::help::render(Some(&format!("{module}::{func}"))).ok())
            .unwrap_or_default();
        let about = |name: &str, fallback: &str| -> String {
            let line = member_help(&help, name).and_then(|h| h.lines().next().map(str::to_string));
            line.and_then(|l| l.split_once(": ").map(|(_, d)| d.to_string())).unwrap_or_else(|| fallback.to_string())
        };
        let items = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let member = members.iter().find(|(m, _)| *m == name);
                let (kind, detail) = match member {
                    Some((_, true)) => (lsp::CompletionItemKind::FIELD, Some(about(&name, "required"))),
                    Some((_, false)) => (lsp::CompletionItemKind::FIELD, Some(about(&name, "optional"))),
                    None if name.ends_with("::") => (lsp::CompletionItemKind::MODULE, None),
                    None if name.contains("::") => (lsp::CompletionItemKind::FUNCTION, None),
                    None if variables.contains(&name) => (lsp::CompletionItemKind::VARIABLE, None),
                    None => (lsp::CompletionItemKind::FUNCTION, None),
                };
                lsp::CompletionItem {
                    label: name.clone(),
                    kind: Some(kind),
                    detail,
                    // The order given: required members first, as the REPL offers them.
                    sort_text: Some(format!("{i:05}")),
                    text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit { range, new_text: name })),
                    ..Default::default()
                }
            })
            .collect();
        lsp::CompletionResponse::List(lsp::CompletionList { is_incomplete: false, items })
    }

    /// `runbook help` of the operation or service under the cursor.
    fn hover(&self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::Hover> {
        let text = self.text(at.text_document.uri.as_str());
        let cursor = offset(text, at.position);
        let (start, end) = word_at(text, cursor);
        let word = text[start..end].trim_matches(':');
        let range = Some(lsp::Range { start: position(text, start), end: position(text, end) });
        let markdown = |value: String| {
            Some(lsp::Hover {
                contents: lsp::HoverContents::Markup(lsp::MarkupContent { kind: lsp::MarkupKind::Markdown, value }),
                range,
            })
        };
        if let Some(name) = param_name_at(text, cursor) {
            return markdown(self.param_hover(at.text_document.uri.as_str(), &name));
        }
        if word.is_empty() {
            return None;
        }
        // A member of an operation's input: its line of the operation's help.
        let rest = text[start + text[start..end].find(word).unwrap_or(0) + word.len()..].trim_start();
        let key = rest.starts_with(':') && !rest.starts_with("::");
        if let Some((module, func)) = enclosing_call(&text[..start]).filter(|_| key) {
            let help = crate::help::render(Some(&format!("{module}::{func}"))).ok()?;
            return markdown(format!("```text\n{}\n```", member_help(&help, word)?));
        }
        let topic = if word.contains("::") { word } else { word.split("::").next().unwrap_or(word) };
        if runbook_bindings::Svc::by_module(topic.split("::").next().unwrap_or("")).is_none() {
            // A function of the script or of a module it imports: its definition's first line and
            // the comment above it.
            let uri = at.text_document.uri.as_str();
            let (source, name) = match word.split_once("::") {
                Some((alias, func)) => (std::fs::read_to_string(module_file(uri, text, alias)?).ok()?, func),
                None => (text.to_string(), word),
            };
            return markdown(format!("```rhai\n{}\n```", definition_of(&source, name)?));
        }
        let help = crate::help::render(Some(topic)).ok()?;
        markdown(format!("```text\n{help}\n```"))
    }

    /// In a string value: the names `param("` reads across the project, or the values the model
    /// allows for the member (an enum).
    fn value_completion(
        &self,
        uri: &str,
        text: &str,
        before: &str,
        at: lsp::Position,
    ) -> Option<lsp::CompletionResponse> {
        let (start, values, kind, detail) =
            if let Some(typed) = before.rsplit_once("param(\"").map(|(_, t)| t).filter(|t| !t.contains(['"', '\n'])) {
                // Not the read being typed: it names the word typed so far.
                let line = before.matches('\n').count() + 1;
                let path = path_of(uri);
                let reads = self.reads(uri);
                let others = reads.into_iter().filter(|r| !(r.file == path && r.line == line && r.name == typed));
                let mut names: Vec<String> =
                    others.map(|r| r.name).filter(|n| !n.is_empty() && n.starts_with(typed)).collect();
                names.sort();
                names.dedup();
                (before.len() - typed.len(), names, lsp::CompletionItemKind::VARIABLE, "parameter")
            } else {
                let spot = crate::complete::value_spot(before)?;
                let values: Vec<String> = crate::complete::enum_values(&spot.module, &spot.func, &spot.member)
                    .into_iter()
                    .filter(|v| v.starts_with(&spot.prefix))
                    .collect();
                // The spot is found in the line the cursor is on, as the REPL finds it.
                let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                if values.is_empty() {
                    return self.live_values(text, &spot, line_start, at);
                }
                (line_start + spot.start, values, lsp::CompletionItemKind::ENUM_MEMBER, "allowed value")
            };
        let range = lsp::Range { start: position(text, start), end: at };
        let items = values
            .into_iter()
            .map(|v| lsp::CompletionItem {
                label: v.clone(),
                kind: Some(kind),
                detail: Some(detail.to_string()),
                text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit { range, new_text: v })),
                ..Default::default()
            })
            .collect();
        Some(lsp::CompletionResponse::List(lsp::CompletionList { is_incomplete: false, items }))
    }

    /// The script's functions, and those of the modules it imports under their names
    /// (`names::tg_name`).
    fn script_functions(&self, uri: &str, text: &str) -> Vec<String> {
        let mut out: Vec<String> = crate::definitions::split(text).functions.into_iter().map(|f| f.name).collect();
        for alias in crate::params::imports_as(text).into_iter().filter_map(|(_, alias)| alias) {
            let Some(file) = module_file(uri, text, &alias) else { continue };
            let Ok(source) = std::fs::read_to_string(&file) else { continue };
            let functions = crate::definitions::split(&source).functions;
            out.extend(functions.into_iter().map(|f| format!("{alias}::{}", f.name)));
        }
        out
    }

    /// The account's resources for a member that names one, when live completion is on.
    fn live_values(
        &self,
        text: &str,
        spot: &crate::complete::ValueSpot,
        line_start: usize,
        at: lsp::Position,
    ) -> Option<lsp::CompletionResponse> {
        let found = self.live.as_ref()?.candidates(spot);
        if found.is_empty() {
            return None;
        }
        let range = lsp::Range { start: position(text, line_start + spot.start), end: at };
        let items = found
            .into_iter()
            .map(|(value, name)| lsp::CompletionItem {
                label: value.clone(),
                kind: Some(lsp::CompletionItemKind::VALUE),
                detail: (!name.is_empty()).then_some(name),
                text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit { range, new_text: value })),
                ..Default::default()
            })
            .collect();
        Some(lsp::CompletionResponse::List(lsp::CompletionList { is_incomplete: false, items }))
    }

    /// Every `param()` read of the document and of the runbooks it imports (as saved).
    fn reads(&self, uri: &str) -> Vec<crate::params::Read> {
        let path = path_of(uri);
        let root = crate::project::runbook_root(&path);
        crate::params::all_reads_with(&root, &path, self.text(uri))
    }

    /// A parameter: its default, its allowed values, and every read of it.
    fn param_hover(&self, uri: &str, name: &str) -> String {
        let reads: Vec<crate::params::Read> = self.reads(uri).into_iter().filter(|r| r.name == name).collect();
        let mut o = format!("**parameter `{name}`** (`--set {name}=…`)\n\n");
        for r in &reads {
            let default = r.default.as_deref().map(|d| format!("default `{d}`")).unwrap_or_else(|| "required".into());
            let allowed = r.allowed.as_deref().map(|a| format!(", one of `{a}`")).unwrap_or_default();
            o.push_str(&format!("- {}:{}: {default}{allowed}\n", r.file.display(), r.line));
        }
        o
    }

    /// Where what is under the cursor is defined: an imported module, a function of one, a
    /// function of the script, or a parameter's reads.
    fn definition(&self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::GotoDefinitionResponse> {
        let uri = at.text_document.uri.as_str();
        let text = self.text(uri);
        let cursor = offset(text, at.position);
        let path = path_of(uri);
        let root = crate::project::runbook_root(&path);
        let place = |file: &Path, range: lsp::Range| -> Option<lsp::Location> {
            let uri = format!("file://{}", std::path::absolute(file).ok()?.display()).parse().ok()?;
            Some(lsp::Location { uri, range })
        };
        // The start of a line (from 1).
        let line_at = |n: usize| {
            let at = lsp::Position { line: n.saturating_sub(1) as u32, character: 0 };
            lsp::Range { start: at, end: at }
        };
        if let Some(name) = param_name_at(text, cursor) {
            let found: Vec<lsp::Location> = self
                .reads(uri)
                .iter()
                .filter(|r| r.name == name)
                .filter_map(|r| place(&r.file, line_at(r.line)))
                .collect();
            return (!found.is_empty()).then_some(lsp::GotoDefinitionResponse::Array(found));
        }
        // `import "lib/x"`: the module's file.
        let line_start = text[..cursor].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = text[cursor..].find('\n').map(|i| cursor + i).unwrap_or(text.len());
        let line = &text[line_start..line_end];
        if line.trim_start().starts_with("import") {
            let module = crate::params::imports(line).into_iter().flatten().next()?;
            let file = crate::check::resolve(&root, &path, &module)?;
            return place(&file, line_at(1)).map(lsp::GotoDefinitionResponse::Scalar);
        }
        let (start, end) = word_at(text, cursor);
        let word = &text[start..end];
        // A function's name where it is defined: its range.
        let name_at = |source: &str, name: &str| -> Option<lsp::Range> {
            let at = source.find(&format!("fn {name}("))? + 3;
            Some(lsp::Range { start: position(source, at), end: position(source, at + name.len()) })
        };
        if let Some((alias, func)) = word.split_once("::") {
            let file = module_file(uri, text, alias)?;
            // A module that is not UTF-8 text: its file, from the top.
            let range = std::fs::read_to_string(&file).ok().and_then(|t| name_at(&t, func)).unwrap_or(line_at(1));
            return place(&file, range).map(lsp::GotoDefinitionResponse::Scalar);
        }
        let range = name_at(text, word)?;
        Some(lsp::GotoDefinitionResponse::Scalar(lsp::Location { uri: at.text_document.uri.clone(), range }))
    }

    /// Inside a service call: the operation's members, the one being given active.
    fn signature(&self, at: &lsp::TextDocumentPositionParams) -> Option<lsp::SignatureHelp> {
        let text = self.text(at.text_document.uri.as_str());
        let before = &text[..offset(text, at.position)];
        let (module, func) = enclosing_call(before)?;
        let members = crate::complete::parameters(&module, &func);
        if members.is_empty() {
            return None;
        }
        let help = crate::help::render(Some(&format!("{module}::{func}"))).ok()?;
        let mut label = format!("{module}::{func}(#{{ ");
        let mut parameters = Vec::new();
        for (i, (m, required)) in members.iter().enumerate() {
            if i > 0 {
                label.push_str(", ");
            }
            let from = label.encode_utf16().count() as u32;
            label.push_str(m);
            if !required {
                label.push('?');
            }
            parameters.push(lsp::ParameterInformation {
                label: lsp::ParameterLabel::LabelOffsets([from, label.encode_utf16().count() as u32]),
                documentation: member_help(&help, m).map(lsp::Documentation::String),
            });
        }
        label.push_str(" })");
        // The member being given: the last key written at the map's top level.
        // The key of the entry the cursor is in: read on past the cursor when it is in the key (or
        // at its start, just after a comma).
        let after = &text[before.len()..];
        let key = current_key(before).map(|k| {
            let entry = &before[before.rfind([',', '{']).map(|i| i + 1).unwrap_or(0)..];
            if entry.contains(':') {
                return k;
            }
            let rest = if k.is_empty() { after.trim_start() } else { after };
            let more: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            format!("{k}{more}")
        });
        let active = key
            .and_then(|k| {
                let exact = members.iter().position(|(m, _)| *m == k);
                exact.or_else(|| members.iter().position(|(m, _)| !k.is_empty() && m.starts_with(&k)))
            })
            .map(|i| i as u32);
        Some(lsp::SignatureHelp {
            signatures: vec![lsp::SignatureInformation {
                label,
                documentation: help.lines().next().map(|l| lsp::Documentation::String(l.to_string())),
                parameters: Some(parameters),
                active_parameter: active,
            }],
            active_signature: Some(0),
            active_parameter: active,
        })
    }

    /// The script's functions, the parameters it reads and the writes it makes.
    #[allow(deprecated)]
    fn symbols(&self, uri: &str) -> lsp::DocumentSymbolResponse {
        let text = self.text(uri);
        let mut out = Vec::new();
        let span = |at: usize, len: usize| lsp::Range { start: position(text, at), end: position(text, at + len) };
        let symbol =
            |name: String, detail: Option<String>, kind: lsp::SymbolKind, range: lsp::Range| lsp::DocumentSymbol {
                name,
                detail,
                kind,
                tags: None,
                deprecated: None,
                range,
                selection_range: range,
                children: None,
            };
        for f in crate::definitions::split(text).functions {
            let whole = text.find(f.text.trim()).map(|at| (at, f.text.trim().len()));
            let Some((at, len)) =
                whole.or_else(|| text.find(&format!("fn {}(", f.name)).map(|at| (at, 3 + f.name.len())))
            else {
                continue;
            };
            // The whole definition, its name selected.
            let name_at = text[at..].find(&f.name).map(|i| at + i).unwrap_or(at);
            let detail = Some(format!("fn, {} parameter(s)", f.arity));
            let mut s = symbol(f.name.clone(), detail, lsp::SymbolKind::FUNCTION, span(at, len));
            s.selection_range = span(name_at, f.name.len());
            out.push(s);
        }
        for (at, name) in param_reads(text) {
            out.push(symbol(name.clone(), Some("param()".into()), lsp::SymbolKind::VARIABLE, span(at, name.len() + 9)));
        }
        for (at, module, func) in calls(text) {
            let Some(svc) = runbook_bindings::Svc::by_module(&module) else { continue };
            let Ok(table) = svc.table() else { continue };
            if table.operation_by_fn(&func).is_some_and(|(_, op)| !op.readonly) {
                let name = format!("{module}::{func}");
                let len = name.len();
                out.push(symbol(name, Some("write".into()), lsp::SymbolKind::EVENT, span(at, len)));
            }
        }
        out.sort_by_key(|s| (s.range.start.line, s.range.start.character));
        lsp::DocumentSymbolResponse::Nested(out)
    }
}

fn params<P: serde::de::DeserializeOwned>(r: &Request) -> Result<P, String> {
    serde_json::from_value(r.params.clone()).map_err(|e| format!("{}: the parameters do not fit: {e}", r.method))
}

fn publish(uri: &str, diagnostics: Vec<lsp::Diagnostic>) {
    let params = json!({ "uri": uri, "diagnostics": diagnostics });
    send(Message::Notification(Notification::new("textDocument/publishDiagnostics".into(), params)));
}

fn capabilities() -> Value {
    let caps = lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(lsp::TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(lsp::TextDocumentSyncKind::FULL),
            save: Some(lsp::TextDocumentSyncSaveOptions::SaveOptions(lsp::SaveOptions { include_text: Some(true) })),
            ..Default::default()
        })),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![":".into(), "{".into(), ",".into(), "\"".into()]),
            ..Default::default()
        }),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        signature_help_provider: Some(lsp::SignatureHelpOptions {
            trigger_characters: Some(vec!["{".into(), ",".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    json!({ "capabilities": caps, "serverInfo": { "name": "runbook", "version": env!("CARGO_PKG_VERSION") } })
}

/// The file a `file://` URI names (an untitled buffer is taken as a file of the current folder).
fn path_of(uri: &str) -> PathBuf {
    match uri.strip_prefix("file://") {
        Some(p) => PathBuf::from(percent_decoded(p)),
        None => Path::new(".").join(uri.rsplit('/').next().unwrap_or("untitled.rhai")),
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte offset of an LSP position (UTF-16 columns) in `text`, clamped to it.
fn offset(text: &str, at: lsp::Position) -> usize {
    let mut line_start = 0;
    for _ in 0..at.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..].find('\n').map(|i| line_start + i).unwrap_or(text.len());
    let mut units = 0;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= at.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_end
}

/// The LSP position (UTF-16 columns) of a byte offset of `text`.
fn position(text: &str, at: usize) -> lsp::Position {
    let at = at.min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let character: usize = before[line_start..].chars().map(char::len_utf16).sum();
    lsp::Position { line: line as u32, character: character as u32 }
}

/// The range of the word at a mistake's line and column (Rhai's, from 1, in characters): a name
/// with its module (`ec2::describe_vpc`), else the one character there.
fn word_range(text: &str, line: usize, column: usize) -> lsp::Range {
    let start_line = line.saturating_sub(1);
    let mut line_start = 0;
    for _ in 0..start_line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => break,
        }
    }
    let line_end = text[line_start..].find('\n').map(|i| line_start + i).unwrap_or(text.len());
    let line_text = &text[line_start..line_end];
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let at = line_text.char_indices().nth(column.saturating_sub(1)).map(|(i, _)| i).unwrap_or(0);
    // Rhai places a call in a module at its function's name: the range starts at the module's.
    let start = match line_text[..at].strip_suffix("::") {
        Some(head) => head.rfind(|c: char| !is_word(c)).map(|i| i + 1).unwrap_or(0),
        None => at,
    };
    let len = line_text[start..].find(|c: char| !is_word(c)).unwrap_or(line_text.len() - start);
    let len = if len == 0 { line_text[start..].chars().next().map(char::len_utf8).unwrap_or(0) } else { len };
    lsp::Range { start: position(text, line_start + start), end: position(text, line_start + start + len) }
}

/// Where in the call at byte `call` of `text` an input problem (`Port: expected integer, got
/// string`, `unknown key VpcID (did you mean VpcId?)`) is: the value of the member, or the unknown
/// key; and whether that value is a quoted string.
fn member_range(text: &str, call: usize, note: &str) -> Option<(std::ops::Range<usize>, bool)> {
    let (key, value) = match note.strip_prefix("unknown key ").or_else(|| note.strip_prefix("unknown option ")) {
        Some(rest) => (rest.split_whitespace().next()?.to_string(), false),
        None => {
            let (path, _) = note.split_once(": ")?;
            if !path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')) {
                return None;
            }
            let last = path.rsplit('.').next()?;
            (last.split('[').next()?.to_string(), true)
        }
    };
    if key.is_empty() {
        return None;
    }
    // The call's own text: to the end of its statement.
    let end = text[call..].find(");").map(|i| call + i + 1).unwrap_or(text.len());
    let bare = crate::params::blank_strings(&text[call..end]);
    let mut from = 0;
    let at = loop {
        let i = from + bare[from..].find(key.as_str())?;
        let before_ok = bare[..i].chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after = bare[i + key.len()..].trim_start();
        if before_ok && after.starts_with(':') && !after.starts_with("::") {
            break call + i;
        }
        from = i + key.len();
    };
    if !value {
        return Some((at..at + key.len(), false));
    }
    let colon = at + text[at..].find(':')? + 1;
    let start = colon + (text[colon..].len() - text[colon..].trim_start().len());
    let rest = &text[start..end];
    let len = if let Some(body) = rest.strip_prefix('"') {
        body.find('"').map(|i| i + 2)?
    } else {
        let bare = crate::params::blank_strings(rest);
        let mut depth = 0i32;
        bare.char_indices()
            .find(|(_, c)| {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' if depth > 0 => depth -= 1,
                    _ => {}
                }
                depth == 0 && matches!(c, ',' | '}' | ')' | '\n')
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len())
    };
    let value = text[start..start + len].trim_end();
    Some((start..start + value.len(), value.starts_with('"')))
}

/// The names a note's "did you mean a or b?" offers.
fn suggestions(note: &str) -> Vec<String> {
    let Some((_, after)) = note.rsplit_once("did you mean ") else { return vec![] };
    let Some((names, _)) = after.split_once('?') else { return vec![] };
    names.split(" or ").map(str::trim).filter(|n| !n.is_empty() && !n.contains(' ')).map(str::to_string).collect()
}

/// The `module::func` whose call the end of `before` is inside (its parentheses not closed), strings
/// skipped.
fn enclosing_call(before: &str) -> Option<(String, String)> {
    enclosing_call_at(before).map(|(_, module, func)| (module, func))
}

/// [`enclosing_call`], with where its `(` is in `before`.
fn enclosing_call_at(before: &str) -> Option<(usize, String, String)> {
    // Strings blanked, read from the start: one not closed yet (a value being typed) is one.
    let bare = crate::params::blank_strings(before);
    let mut depth = 0i32;
    for (i, c) in bare.char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '[' | '{' => depth -= 1,
            '(' if depth > 0 => depth -= 1,
            '(' => {
                let head = bare[..i].trim_end();
                let name: String = head
                    .chars()
                    .rev()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let (module, func) = name.split_once("::")?;
                runbook_bindings::Svc::by_module(module)?;
                return Some((i, module.to_string(), func.to_string()));
            }
            _ => {}
        }
    }
    None
}

/// The function whose options map (its second argument, `#{ … }`) the end of `before` is in, at a
/// key's place.
fn options_map(before: &str) -> Option<String> {
    let (open, _, func) = enclosing_call_at(before)?;
    // From the call's `(`: a comma at its top level, then the map the cursor is in.
    let bare = crate::params::blank_strings(before);
    let args = &bare[open + 1..];
    let mut depth = 0i32;
    let mut commas = 0;
    let mut map_open = None;
    for (i, c) in args.char_indices() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if c == '{' && depth == 1 && commas == 1 && args[..i].ends_with('#') {
                    map_open = Some(i);
                }
            }
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => commas += 1,
            _ => {}
        }
    }
    let inside = &args[map_open? + 1..];
    if depth != 1 {
        return None;
    }
    let without_word = inside.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_').trim_end();
    (without_word.is_empty() || without_word.ends_with(',')).then_some(func)
}

/// A function's definition line in `source`, with the `//` comment lines just above it.
fn definition_of(source: &str, name: &str) -> Option<String> {
    let at = source.find(&format!("fn {name}("))?;
    let line_start = source[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = source[at..].find('\n').map(|i| at + i).unwrap_or(source.len());
    let mut lines: Vec<&str> = vec![source[line_start..line_end].trim_end_matches('{').trim_end()];
    for above in source[..line_start].lines().rev() {
        if !above.trim_start().starts_with("//") {
            break;
        }
        lines.insert(0, above.trim());
    }
    Some(lines.join("\n"))
}

/// The word at byte `cursor` of `text`, a module's `::` included: (start, end).
fn word_at(text: &str, cursor: usize) -> (usize, usize) {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let start = text[..cursor].rfind(|c: char| !is_word(c)).map(|i| i + 1).unwrap_or(0);
    let end = text[cursor..].find(|c: char| !is_word(c)).map(|i| cursor + i).unwrap_or(text.len());
    (start, end)
}

/// The file of the module the document `text` (at `uri`) imports as `alias`.
fn module_file(uri: &str, text: &str, alias: &str) -> Option<PathBuf> {
    let module = crate::params::imports_as(text).into_iter().find(|(_, a)| a.as_deref() == Some(alias))?.0?;
    let path = path_of(uri);
    crate::check::resolve(&crate::project::runbook_root(&path), &path, &module)
}

/// Where the name being typed at the end of `before` starts (a key or an option: no `::`).
fn name_start(before: &str) -> usize {
    let typed: usize =
        before.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').map(char::len_utf8).sum();
    before.len() - typed
}

/// Whether the end of `before` is in a `//` comment or a string not closed yet.
fn in_comment_or_string(before: &str) -> bool {
    let line = &before[before.rfind('\n').map(|i| i + 1).unwrap_or(0)..];
    let bare = crate::params::blank_strings(line);
    if bare.contains("//") {
        return true;
    }
    // An odd number of quotes on the line: the last string is open.
    bare.chars().filter(|c| *c == '"').count() % 2 == 1
}

/// Where the innermost map literal not closed yet at the end of `before` opens (its `#`).
fn open_map(before: &str) -> Option<usize> {
    let bare = crate::params::blank_strings(before);
    let mut depth = 0i32;
    for (i, c) in bare.char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '{' if bare[..i].ends_with('#') => return Some(i - 1),
            '(' | '[' | '{' => return None,
            _ => {}
        }
    }
    None
}

/// The entry of the innermost open map that the end of `before` is in (its text since the `#{` or
/// the last comma at the map's top level, strings blanked).
fn open_entry(before: &str) -> Option<String> {
    let open = open_map(before)?;
    let bare = crate::params::blank_strings(&before[open + 2..]);
    let mut depth = 0i32;
    let mut entry = 0;
    for (i, c) in bare.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => entry = i + 1,
            _ => {}
        }
    }
    Some(bare[entry..].to_string())
}

/// Whether the end of `before` is at a value of a map entry (after its `key:`).
fn at_value(before: &str) -> bool {
    open_entry(before).is_some_and(|e| e.contains(':'))
}

/// The keys the innermost open map of `before` gives already.
fn given_keys(before: &str) -> Vec<String> {
    let Some(open) = open_map(before) else { return vec![] };
    let bare = crate::params::blank_strings(&before[open + 2..]);
    let mut keys = Vec::new();
    let mut depth = 0i32;
    let mut word = String::new();
    for c in bare.chars() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ':' if depth == 0 && !word.is_empty() => keys.push(std::mem::take(&mut word)),
            c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
            _ => word.clear(),
        }
    }
    keys
}

/// The member of the innermost open map that the end of `before` is at: the key of the entry being
/// written, or the part of a key typed so far.
fn current_key(before: &str) -> Option<String> {
    let entry = open_entry(before)?;
    let key = match entry.split_once(':') {
        Some((key, _)) => key,
        None => &entry,
    };
    Some(key.trim().to_string())
}

/// A member's lines of an operation's help (`  Name: string (required)` and the lines under it).
fn member_help(help: &str, member: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|l| !l.trim_start().starts_with(&format!("{member}:")));
    let first = lines.next()?;
    let indent = first.len() - first.trim_start().len();
    let mut out = vec![first.trim_start().to_string()];
    out.extend(
        lines
            .take_while(|l| l.len() - l.trim_start().len() > indent && !l.trim().is_empty())
            .map(|l| l[indent..].to_string()),
    );
    Some(out.join("\n"))
}

/// The name of the `param("name"` the cursor is in or on, if it is in one.
fn param_name_at(text: &str, cursor: usize) -> Option<String> {
    let line_start = text[..cursor].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[cursor..].find('\n').map(|i| cursor + i).unwrap_or(text.len());
    let line = &text[line_start..line_end];
    for (i, m) in line.match_indices("param(\"") {
        let from = line_start + i + m.len();
        let len = text[from..line_end].find('"')?;
        if (line_start + i..=from + len).contains(&cursor) {
            return Some(text[from..from + len].to_string());
        }
    }
    None
}

/// The names `let` and `const` bind in `text`, for completion.
fn variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in ["let ", "const "] {
        for (i, _) in text.match_indices(word) {
            let rest = &text[i + word.len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Each `param("name"` of `text`: where it is and the name.
fn param_reads(text: &str) -> Vec<(usize, String)> {
    text.match_indices("param(\"")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            Some((i, rest[..rest.find('"')?].to_string()))
        })
        .collect()
}

/// Each `module::func(` call of `text`: where it is, the module and the function.
fn calls(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for svc in runbook_bindings::Svc::ALL {
        let prefix = format!("{}::", svc.module());
        for (i, _) in text.match_indices(&prefix) {
            if i > 0 && text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &text[i + prefix.len()..];
            let func: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if rest[func.len()..].trim_start().starts_with('(') {
                out.push((i, svc.module().to_string(), func));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_ranges_cover_the_word() {
        let text = "let é = 1;\nec2::describe_vpc(#{});\n";
        assert_eq!(position(text, text.find("ec2").unwrap()), lsp::Position { line: 1, character: 0 });
        assert_eq!(offset(text, lsp::Position { line: 0, character: 5 }), text.find(" =").unwrap());
        let r = word_range(text, 2, 1);
        assert_eq!((r.start.character, r.end.character), (0, 17));
        assert_eq!(suggestions("there is no module ec3; did you mean ec2::describe_vpcs?"), ["ec2::describe_vpcs"]);
        assert_eq!(suggestions("did you mean a or b?"), ["a", "b"]);
        assert_eq!(suggestions("unknown key VpcID (did you mean VpcId?)"), ["VpcId"]);
        let call = "elbv2::create_target_group(#{ Name: \"t\", Protocol: \"HTTPX\", Port: \"80\", VpcID: \"v\" });";
        let at = |note: &str| member_range(call, 0, note).map(|(r, q)| (&call[r], q));
        assert_eq!(at("Port: expected integer, got string"), Some(("\"80\"", true)));
        assert_eq!(at("unknown key VpcID (did you mean VpcId?)"), Some(("VpcID", false)));
        assert_eq!(at("Protocol: invalid value \"HTTPX\"; allowed: HTTP"), Some(("\"HTTPX\"", true)));
        assert_eq!(at("`runbook help elbv2::create_target_group` shows its parameters"), None);
        assert_eq!(path_of("file:///tmp/a%20b.rhai"), PathBuf::from("/tmp/a b.rhai"));
        let before = "elbv2::create_target_group(#{ Name: names::tg_name(app), Port: port(), Protocol: \"HT";
        assert_eq!(current_key(before).as_deref(), Some("Protocol"));
        let module = "// Names.\n// The target group's.\nfn tg_name(app) {\n    app + \"-tg\"\n}\n";
        assert_eq!(
            definition_of(module, "tg_name").as_deref(),
            Some("// Names.\n// The target group's.\nfn tg_name(app)")
        );
        assert_eq!(current_key("x(#{ Name: \"t\", Proto").as_deref(), Some("Proto"));
        assert_eq!(current_key("x(#{ Name: f(a, b), Port: 8").as_deref(), Some("Port"));
        assert_eq!(current_key("x(#{ Tags: [#{ Key: \"k\" }], VpcId: ").as_deref(), Some("VpcId"));
        assert!(at_value("x(#{ Name: my") && !at_value("x(#{ Name: 1, Po"));
        let nested = |before: &str| crate::complete::open_nested(before).map(|(_, f, p)| (f, p));
        let filters = "ec2::describe_vpcs(#{ Filters: [#{ Name: \"a\", ";
        assert_eq!(nested(filters), Some(("describe_vpcs".into(), vec!["Filters".to_string()])));
        assert_eq!(
            nested("elbv2::create_target_group(#{ Name: \"t\", Matcher: #{ Ht"),
            Some(("create_target_group".into(), vec!["Matcher".to_string()]))
        );
        assert_eq!(nested("ec2::describe_vpcs(#{ Fil"), None);
        assert_eq!(nested("ec2::describe_vpcs(#{ Filters: [#{ Name: "), None);
        let members: Vec<String> = crate::complete::nested_parameters("ec2", "describe_vpcs", &["Filters".into()])
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(members, ["Name", "Values"]);
        assert_eq!(enclosing_call(before), Some(("elbv2".into(), "create_target_group".into())));
        let waiting = "elbv2::wait_load_balancer_available(#{ LoadBalancerArns: [a] }, #{ time";
        assert_eq!(options_map(waiting).as_deref(), Some("wait_load_balancer_available"));
        assert_eq!(
            options_map("ec2::describe_vpcs(#{ Filters: [] }, #{ paginate: true, "),
            Some("describe_vpcs".into())
        );
        assert_eq!(options_map("ec2::describe_vpcs(#{ Fil"), None);
        assert_eq!(options_map("ec2::describe_vpcs(#{ Filters: [] }, #{ paginate: "), None);
    }
}
