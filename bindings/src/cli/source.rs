//! A command as the Rhai call it stands for: `ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault",
//! Values: ["true"] }] })`, for `runbook aws --to rhai`, the REPL's `:save` and `import`.

use super::{Action, Command};
use rhai::Dynamic;

/// The call's Rhai source (an expression, without a semicolon).
pub fn call(cmd: &Command) -> String {
    call_with(cmd, &|_| None, false)
}

/// A string's own source in place of its literal: an expression, and whether it stands for a list
/// (then a list of it alone is the expression itself). `import` writes script variables so.
pub type Raw<'a> = &'a dyn Fn(&str) -> Option<(String, bool)>;

/// [`call`], with `raw` deciding the source of strings, and with `converge` (a write sent only
/// when needed) among the call's options.
pub fn call_with(cmd: &Command, raw: Raw, converge: bool) -> String {
    let module = cmd.svc.module();
    let func = match &cmd.action {
        Action::Call(op) | Action::Help(op) => crate::svc::function_name(module, op),
        Action::Wait(w) => cmd
            .svc
            .waiters()
            .iter()
            .find(|(_, name)| name == w)
            .map(|(f, _)| (*f).to_string())
            .unwrap_or_else(|| format!("wait_{w}")),
    };
    let mut options = Vec::new();
    if let (Action::Call(op), None) = (&cmd.action, &cmd.pages) {
        if has_paginator(cmd, op) {
            options.push("paginate: false");
        }
    }
    if converge {
        options.push("converge: true");
    }
    let options = if options.is_empty() { String::new() } else { format!(", #{{ {} }}", options.join(", ")) };
    let input = cmd.first_request();
    if input.is_empty() && options.is_empty() {
        return format!("{module}::{func}()");
    }
    format!("{module}::{func}({}{options})", value_with(&Dynamic::from_map(input), 0, raw))
}

fn has_paginator(cmd: &Command, op: &str) -> bool {
    cmd.svc.table().ok().and_then(|t| t.operations.get(op)).is_some_and(|o| o.paginator.is_some())
}

/// A value as a Rhai literal; maps wider than a line are laid out one member a line.
pub fn value(v: &Dynamic, depth: usize) -> String {
    value_with(v, depth, &|_| None)
}

fn value_with(v: &Dynamic, depth: usize, raw: Raw) -> String {
    let short = inline(v, raw);
    if short.len() + depth * 4 <= 96 && !short.contains('\n') {
        return short;
    }
    let pad = "    ".repeat(depth + 1);
    let end = "    ".repeat(depth);
    if let Some(m) = v.read_lock::<rhai::Map>() {
        let items: Vec<String> =
            m.iter().map(|(k, x)| format!("{pad}{}: {},", key(k), value_with(x, depth + 1, raw))).collect();
        return format!("#{{\n{}\n{end}}}", items.join("\n"));
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        if let Some(list) = spread(&a, raw) {
            return list;
        }
        let items: Vec<String> = a.iter().map(|x| format!("{pad}{},", value_with(x, depth + 1, raw))).collect();
        return format!("[\n{}\n{end}]", items.join("\n"));
    }
    short
}

/// A list of one string that stands for a list: that list's expression.
fn spread(a: &rhai::Array, raw: Raw) -> Option<String> {
    match a.as_slice() {
        [one] => {
            one.read_lock::<rhai::ImmutableString>().and_then(|s| raw(&s)).filter(|(_, list)| *list).map(|(e, _)| e)
        }
        _ => None,
    }
}

fn inline(v: &Dynamic, raw: Raw) -> String {
    if let Some(m) = v.read_lock::<rhai::Map>() {
        if m.is_empty() {
            return "#{}".into();
        }
        let items: Vec<String> = m.iter().map(|(k, x)| format!("{}: {}", key(k), inline(x, raw))).collect();
        return format!("#{{ {} }}", items.join(", "));
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        if let Some(list) = spread(&a, raw) {
            return list;
        }
        return format!("[{}]", a.iter().map(|x| inline(x, raw)).collect::<Vec<_>>().join(", "));
    }
    if let Ok(s) = v.clone().into_immutable_string() {
        return raw(&s).map(|(e, _)| e).unwrap_or_else(|| string(&s));
    }
    if let Ok(f) = v.as_float() {
        return if f.fract() == 0.0 && f.is_finite() { format!("{f:.1}") } else { f.to_string() };
    }
    if v.is_blob() {
        use base64::Engine as _;
        let bytes = v.clone().into_blob().unwrap_or_default();
        // A blob member takes base64 text.
        return string(&base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    if v.is_unit() {
        return "()".into();
    }
    v.to_string()
}

/// A map key: bare when it is an identifier, else quoted.
fn key(k: &str) -> String {
    let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        string(k)
    }
}

/// A Rhai string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
