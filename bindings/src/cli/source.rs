//! A command as the Rhai call it stands for: `ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault",
//! Values: ["true"] }] })`, for `runbook aws --to rhai`, the REPL's `:save` and `import`.

use super::{Action, Command};
use rhai::Dynamic;

/// The call's Rhai source (an expression, without a semicolon).
pub fn call(cmd: &Command) -> String {
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
    let paginate = match (&cmd.action, &cmd.pages) {
        (Action::Call(op), None) if has_paginator(cmd, op) => ", #{ paginate: false }",
        _ => "",
    };
    let input = cmd.first_request();
    if input.is_empty() && paginate.is_empty() {
        return format!("{module}::{func}()");
    }
    format!("{module}::{func}({}{paginate})", value(&Dynamic::from_map(input), 0))
}

fn has_paginator(cmd: &Command, op: &str) -> bool {
    cmd.svc.table().ok().and_then(|t| t.operations.get(op)).is_some_and(|o| o.paginator.is_some())
}

/// A value as a Rhai literal; maps wider than a line are laid out one member a line.
pub fn value(v: &Dynamic, depth: usize) -> String {
    let short = inline(v);
    if short.len() + depth * 4 <= 96 {
        return short;
    }
    let pad = "    ".repeat(depth + 1);
    let end = "    ".repeat(depth);
    if let Some(m) = v.read_lock::<rhai::Map>() {
        let items: Vec<String> = m.iter().map(|(k, x)| format!("{pad}{}: {},", key(k), value(x, depth + 1))).collect();
        return format!("#{{\n{}\n{end}}}", items.join("\n"));
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        let items: Vec<String> = a.iter().map(|x| format!("{pad}{},", value(x, depth + 1))).collect();
        return format!("[\n{}\n{end}]", items.join("\n"));
    }
    short
}

fn inline(v: &Dynamic) -> String {
    if let Some(m) = v.read_lock::<rhai::Map>() {
        if m.is_empty() {
            return "#{}".into();
        }
        let items: Vec<String> = m.iter().map(|(k, x)| format!("{}: {}", key(k), inline(x))).collect();
        return format!("#{{ {} }}", items.join(", "));
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        return format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", "));
    }
    if let Ok(s) = v.clone().into_immutable_string() {
        return string(&s);
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
