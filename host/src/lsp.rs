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
            return Some(Response::new_ok(id, capabilities()));
        }
        if !self.initialized {
            return Some(error(id, ErrorCode::ServerNotInitialized, "initialize comes first".into()));
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
            other => return Some(error(id, ErrorCode::MethodNotFound, format!("runbook lsp does not answer {other}"))),
        };
        Some(match answer {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => error(id, ErrorCode::InvalidParams, e),
        })
    }

    fn notification(&mut self, n: Notification) {
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
        mistakes
            .into_iter()
            .filter(|m| m.file == path)
            .map(|m| {
                let range = word_range(text, m.line, m.column);
                let fixes: Vec<String> = m.notes.iter().flat_map(|n| suggestions(n)).collect();
                let mut message = m.message.clone();
                for note in &m.notes {
                    message.push('\n');
                    message.push_str(note);
                }
                lsp::Diagnostic {
                    range,
                    severity: Some(if m.certain {
                        lsp::DiagnosticSeverity::ERROR
                    } else {
                        lsp::DiagnosticSeverity::WARNING
                    }),
                    source: Some("runbook".into()),
                    message,
                    data: (!fixes.is_empty()).then(|| json!({ "replace": fixes })),
                    ..Default::default()
                }
            })
            .collect()
    }

    /// A quick fix for each "did you mean …?" of the diagnostics the editor sends back.
    // lsp-types keys a workspace edit's changes by URI, a type clippy takes for mutable.
    #[allow(clippy::mutable_key_type)]
    fn code_actions(&self, p: &lsp::CodeActionParams) -> Vec<lsp::CodeActionOrCommand> {
        let mut out = Vec::new();
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

    /// What the REPL's Tab offers at the cursor, as completion items.
    fn completion(&self, at: &lsp::TextDocumentPositionParams) -> lsp::CompletionResponse {
        let text = self.text(at.text_document.uri.as_str());
        let cursor = offset(text, at.position);
        let before = &text[..cursor];
        let variables = variables(text);
        let (start, names) = crate::complete::complete(before, &variables);
        let members = crate::complete::open_call(before)
            .map(|(module, func)| crate::complete::parameters(&module, &func))
            .unwrap_or_default();
        let range = lsp::Range { start: position(text, start), end: at.position };
        let items = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let member = members.iter().find(|(m, _)| *m == name);
                let (kind, detail) = match member {
                    Some((_, true)) => (lsp::CompletionItemKind::FIELD, Some("required".to_string())),
                    Some((_, false)) => (lsp::CompletionItemKind::FIELD, Some("optional".to_string())),
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
        let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let start = text[..cursor].rfind(|c: char| !is_word(c)).map(|i| i + 1).unwrap_or(0);
        let end = text[cursor..].find(|c: char| !is_word(c)).map(|i| cursor + i).unwrap_or(text.len());
        let word = text[start..end].trim_matches(':');
        if word.is_empty() {
            return None;
        }
        let topic = if word.contains("::") { word } else { word.split("::").next().unwrap_or(word) };
        runbook_bindings::Svc::by_module(topic.split("::").next().unwrap_or(""))?;
        let help = crate::help::render(Some(topic)).ok()?;
        Some(lsp::Hover {
            contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: format!("```text\n{help}\n```"),
            }),
            range: Some(lsp::Range { start: position(text, start), end: position(text, end) }),
        })
    }

    /// The script's functions, the parameters it reads and the writes it makes.
    #[allow(deprecated)]
    fn symbols(&self, uri: &str) -> lsp::DocumentSymbolResponse {
        let text = self.text(uri);
        let mut out = Vec::new();
        let mut symbol = |name: String, detail: Option<String>, kind: lsp::SymbolKind, at: usize, len: usize| {
            let range = lsp::Range { start: position(text, at), end: position(text, at + len) };
            out.push(lsp::DocumentSymbol {
                name,
                detail,
                kind,
                tags: None,
                deprecated: None,
                range,
                selection_range: range,
                children: None,
            });
        };
        for f in crate::definitions::split(text).functions {
            if let Some(at) = text.find(&format!("fn {}(", f.name)) {
                symbol(
                    f.name.clone(),
                    Some(format!("fn, {} parameter(s)", f.arity)),
                    lsp::SymbolKind::FUNCTION,
                    at,
                    3 + f.name.len(),
                );
            }
        }
        for (at, name) in param_reads(text) {
            symbol(name.clone(), Some("param()".into()), lsp::SymbolKind::VARIABLE, at, name.len() + 9);
        }
        for (at, module, func) in calls(text) {
            let Some(svc) = runbook_bindings::Svc::by_module(&module) else { continue };
            let Ok(table) = svc.table() else { continue };
            if table.operation_by_fn(&func).is_some_and(|(_, op)| !op.readonly) {
                let name = format!("{module}::{func}");
                let len = name.len();
                symbol(name, Some("write".into()), lsp::SymbolKind::EVENT, at, len);
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
            trigger_characters: Some(vec![":".into(), "{".into(), ",".into(), " ".into()]),
            ..Default::default()
        }),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
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

/// The names a note's "did you mean a or b?" offers.
fn suggestions(note: &str) -> Vec<String> {
    let Some((_, after)) = note.rsplit_once("did you mean ") else { return vec![] };
    let Some(names) = after.strip_suffix('?') else { return vec![] };
    names.split(" or ").map(str::trim).filter(|n| !n.is_empty() && !n.contains(' ')).map(str::to_string).collect()
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
        assert_eq!(path_of("file:///tmp/a%20b.rhai"), PathBuf::from("/tmp/a b.rhai"));
    }
}
