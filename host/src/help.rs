//! `runbook help [svc | svc::op]`: what the generated tables know, without the model's prose; each
//! operation links its page in the AWS API reference.

use runbook_bindings::helpers::HELPERS;
use runbook_bindings::model::Table;
use runbook_bindings::waiter::{extra_waiters, EXTRA_WAITERS};
use runbook_bindings::Svc;
use std::process::ExitCode;

pub fn help(topic: Option<&str>) -> ExitCode {
    match render(topic) {
        Ok(text) => {
            out!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => crate::diagnostics::fail(&e),
    }
}

pub fn render(topic: Option<&str>) -> Result<String, String> {
    let Some(topic) = topic else { return Ok(overview()) };
    if topic == "regions" {
        return Ok(format!(
            "Regions this build's SDK knows (region, partition, name); any other name needs --endpoint-url:\n{}",
            runbook_bindings::regions::listing()
        ));
    }
    let (module, func) = match topic.split_once("::") {
        Some((m, f)) => (m, Some(f)),
        None => (topic, None),
    };
    let svc = Svc::by_module(module).ok_or_else(|| {
        let names: Vec<&str> = Svc::ALL.iter().map(|s| s.module()).collect();
        // A prefix (`elb` for elbv2) or a near miss (`ec3`).
        let mut meant: Vec<String> =
            names.iter().filter(|n| !module.is_empty() && n.starts_with(module)).map(|n| n.to_string()).collect();
        if meant.is_empty() {
            meant = runbook_bindings::validate::closest(module, names.iter().copied());
        }
        let hint = if meant.is_empty() { String::new() } else { format!("; did you mean {}?", meant.join(" or ")) };
        format!(
            "no service {module:?}{hint} (services: {}; `runbook help regions` lists the regions)",
            names.join(", ")
        )
    })?;
    let table = svc.table().map_err(|e| e.to_string())?;
    match func {
        None => Ok(service(svc, table)),
        Some(f) => operation(svc, table, f),
    }
}

fn overview() -> String {
    let mut o = String::from("Services (module::function, named like the aws CLI's commands):\n");
    for svc in Svc::ALL {
        o.push_str(&format!(
            "  {:<24} {} operations, {} waiters\n",
            svc.module(),
            svc.operations().len(),
            svc.waiters().len()
        ));
    }
    o.push_str("\nHelpers:\n");
    for (sig, what) in HELPERS {
        let words: Vec<String> = what.split(' ').map(str::to_string).collect();
        let text = wrap_words(&words, 35, 100);
        o.push_str(&format!("  {sig:<32} {}\n", text.trim_start()));
    }
    o.push_str(
        "\nMore: runbook help SERVICE, runbook help SERVICE::FUNCTION, runbook help SERVICE::Shape, runbook help regions\n",
    );
    o
}

fn service(svc: Svc, table: &Table) -> String {
    let mut o = format!("{} ({}, API {}): operations\n", svc.module(), table.service_id, table.api_version);
    for (func, _) in svc.operations() {
        o.push_str(&format!("  {}::{func}\n", svc.module()));
    }
    let extra: Vec<&str> = extra_waiters(svc.module()).collect();
    if !svc.waiters().is_empty() || !extra.is_empty() {
        o.push_str("waiters\n");
        for func in svc.waiters().iter().map(|(f, _)| *f).chain(extra) {
            o.push_str(&format!("  {}::{func}\n", svc.module()));
        }
    }
    o
}

fn operation(svc: Svc, table: &Table, func: &str) -> Result<String, String> {
    if let Some((m, f, what)) = EXTRA_WAITERS.iter().find(|(m, f, _)| *m == svc.module() && *f == func) {
        return Ok(format!("{m}::{f}(input, #{{ timeout: secs, delay: secs }})\n\nWaits until {what}\n"));
    }
    if let Some((_, waiter)) = svc.waiters().iter().find(|(f, _)| *f == func) {
        return waiter_help(svc, table, func, waiter);
    }
    let Some((name, op)) = table.operation_by_fn(func).filter(|(n, _)| svc.operations().iter().any(|(_, o)| o == n))
    else {
        if table.shape(func).is_some() {
            return Ok(shape_help(svc, table, func));
        }
        return Err(unknown(svc, table, func));
    };
    let m = svc.module();
    let mut o = format!("{m}::{func}(#{{ ... }})   [{name}]\n\nParameters:\n");
    match op.input.as_deref().and_then(|s| table.shape(s)) {
        Some(shape) if !shape.members.is_empty() => {
            let mut names: Vec<&str> = shape.member_names().collect();
            names.sort_by_key(|n| !shape.required.iter().any(|r| r == n));
            for n in names {
                o.push_str(&member_line(table, shape, n, 2, true));
                nested(table, shape.member_shape(n).unwrap_or(""), 6, true, &mut o, &mut vec![]);
            }
        }
        _ => o.push_str("  (none)\n"),
    }
    o.push_str("\nResult:\n");
    match op.output.as_deref().and_then(|s| table.shape(s)) {
        Some(shape) if !shape.members.is_empty() => {
            for n in shape.member_names() {
                o.push_str(&member_line(table, shape, n, 2, false));
                nested(table, shape.member_shape(n).unwrap_or(""), 6, false, &mut o, &mut vec![]);
            }
        }
        _ => o.push_str("  (empty map)\n"),
    }
    if let Some(p) = &op.paginator {
        let keys = p.result_key.as_ref().map(|k| k.to_vec().join(", ")).unwrap_or_default();
        o.push_str(&format!(
            "\nPaginated: all pages are fetched and {keys} merged; pass #{{ paginate: false }} as a second argument for one page.\n"
        ));
    }
    o.push_str(&format!("\nA type named above is a shape: runbook help {m}::Shape shows its members.\n"));
    o.push_str(&format!("AWS API reference: {}\n", table.reference_url(name)));
    Ok(o)
}

/// The error for a name that is neither a function nor a shape of the service, with the closest
/// of either kind: snake_case names are compared with functions, others with shapes too.
fn unknown(svc: Svc, table: &Table, name: &str) -> String {
    let funcs = svc.operations().iter().map(|(f, _)| *f);
    if let Some(snake) = funcs.clone().find(|f| f.replace('_', "").eq_ignore_ascii_case(name)) {
        return format!(
            "{} has no function {name}; function names are snake_case: did you mean {snake}?",
            svc.module()
        );
    }
    let shape_like = name.starts_with(|c: char| c.is_ascii_uppercase());
    let close = if shape_like {
        let mut shapes: Vec<&str> = table.shape_names().collect();
        shapes.sort_unstable();
        runbook_bindings::validate::closest(name, shapes.into_iter())
    } else {
        runbook_bindings::validate::closest(name, funcs)
    };
    let hint = if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(" or ")) };
    let what = if shape_like { "function or shape" } else { "function" };
    format!("{} has no {what} {name}{hint}", svc.module())
}

/// `runbook help SVC::Shape`: a shape's members to the depth help shows results, or its values,
/// and the operations whose result holds it.
fn shape_help(svc: Svc, table: &Table, name: &str) -> String {
    let m = svc.module();
    let Some(shape) = table.shape(name) else { return String::new() };
    let mut o = format!("{m}::{name}: {}\n", kind_words(table, name));
    match shape.kind.as_str() {
        "structure" if !shape.document && !shape.members.is_empty() => {
            o.push_str("\nMembers:\n");
            for n in shape.member_names() {
                o.push_str(&member_line(table, shape, n, 2, false));
                nested(table, shape.member_shape(n).unwrap_or(""), 6, false, &mut o, &mut vec![name.to_string()]);
            }
        }
        "list" | "map" => {
            let inner = if shape.kind == "list" { shape.member.as_deref() } else { shape.value.as_deref() };
            if let Some(inner) = inner.filter(|i| table.shape(i).is_some_and(|s| s.kind == "structure")) {
                o.push_str(&format!("\nMembers of {inner}:\n"));
                nested(table, inner, 2, false, &mut o, &mut vec![]);
            }
        }
        "string" if !shape.values.is_empty() => {
            o.push_str("\nValues:");
            o.push_str(&wrap(&shape.values, 2, 100, 100));
            o.push('\n');
        }
        _ => {}
    }
    let mut used_in: Vec<&str> = table
        .operations
        .values()
        .filter(|op| svc.operations().iter().any(|(f, _)| *f == op.func))
        .filter(|op| op.output.as_deref().is_some_and(|out| holds(table, out, name)))
        .map(|op| op.func.as_str())
        .collect();
    used_in.sort_unstable();
    if !used_in.is_empty() {
        o.push_str("\nIn the result of:");
        let names: Vec<String> = used_in.iter().map(|f| format!("{m}::{f}")).collect();
        o.push_str(&wrap(&names, 2, 100, 100));
        o.push('\n');
    }
    o
}

/// What kind of shape a name is, in words.
fn kind_words(table: &Table, name: &str) -> String {
    match table.shape(name) {
        Some(s) if s.kind == "structure" && !s.document && !s.union => "structure".into(),
        Some(s) if s.kind == "string" && !s.values.is_empty() => format!("string enum, {} values", s.values.len()),
        _ => table.describe(name),
    }
}

/// Whether a result shape holds `wanted` as a member, or as the element of a list or map member.
fn holds(table: &Table, shape_name: &str, wanted: &str) -> bool {
    let Some(s) = table.shape(shape_name) else { return false };
    s.member_names().filter_map(|n| s.member_shape(n)).any(|target| {
        target == wanted
            || table
                .shape(target)
                .is_some_and(|t| t.member.as_deref() == Some(wanted) || t.value.as_deref() == Some(wanted))
    })
}

/// One member as help shows it: name, type, whether required (for parameters) and an enum's values.
fn member_line(table: &Table, shape: &runbook_bindings::model::Shape, n: &str, indent: usize, input: bool) -> String {
    let target = shape.member_shape(n).unwrap_or("");
    let mut line = format!("{}{n}: {}", " ".repeat(indent), table.describe(target));
    if input {
        line.push_str(if shape.required.iter().any(|r| r == n) { " (required)" } else { " (optional)" });
        // A policy document's limits are its JSON text's, which a map is written as: not the map's.
        let document = table.describe(target).starts_with("policy document");
        if let Some(limits) = table.shape(target).filter(|_| !document).and_then(limits) {
            line.push_str(&format!(", {limits}"));
        }
    }
    if let Some(s) = table.shape(target) {
        let values = if s.values.is_empty() {
            s.member.as_deref().and_then(|m| table.shape(m)).map(|m| m.values.clone()).unwrap_or_default()
        } else {
            s.values.clone()
        };
        if !values.is_empty() {
            line.push_str(" one of:");
            let used = line.len();
            line.push_str(&wrap(&values, indent + 4, 100, used));
        }
    }
    line.push('\n');
    line
}

/// What the model bounds an input member's value by, as the validator checks it: a number's range,
/// a string's length and (a short one) its pattern, a list's number of items.
fn limits(s: &runbook_bindings::model::Shape) -> Option<String> {
    let n = |v: f64| if v.fract() == 0.0 { format!("{}", v as i64) } else { v.to_string() };
    let span = match (s.min, s.max) {
        (Some(a), Some(b)) => Some(format!("{} to {}", n(a), n(b))),
        (Some(a), None) => Some(format!("at least {}", n(a))),
        (None, Some(b)) => Some(format!("at most {}", n(b))),
        (None, None) => None,
    };
    let mut out: Vec<String> = Vec::new();
    match s.kind.as_str() {
        "integer" | "long" | "float" | "double" => out.extend(span),
        "string" => out.extend(span.map(|l| format!("length {l}"))),
        "list" => out.extend(span.map(|l| format!("{l} items"))),
        _ => {}
    }
    if s.kind == "string" && s.values.is_empty() {
        // Short and readable: the model's Unicode escapes (`\u0020-\u00FF`) say little to a reader.
        let readable = |p: &&String| p.len() <= 40 && !p.contains("\\u");
        out.extend(s.pattern.as_ref().filter(readable).map(|p| format!("pattern {p}")));
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// Values as comma-separated lines of at most `width` columns, each indented by `indent`; a list
/// that fits stays on the line it follows, which is `used` columns long.
fn wrap(values: &[String], indent: usize, width: usize, used: usize) -> String {
    let all = values.join(", ");
    if used + 1 + all.len() <= width {
        return format!(" {all}");
    }
    let items: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| if i + 1 < values.len() { format!("{v},") } else { v.clone() })
        .collect();
    format!("\n{}{}", " ".repeat(indent), wrap_words(&items, indent, width))
}

/// Words as lines of at most `width` columns, each after the first indented by `indent`.
fn wrap_words(words: &[String], indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for w in words {
        if !line.is_empty() && indent + line.len() + 1 + w.len() > width {
            out.push_str(&line);
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    out.push_str(&line);
    out
}

/// Members of a nested structure (or of a list's structure), once per shape.
fn nested(table: &Table, shape_name: &str, indent: usize, input: bool, o: &mut String, seen: &mut Vec<String>) {
    let Some(s) = table.shape(shape_name) else { return };
    let target = match s.kind.as_str() {
        "list" => s.member.clone().unwrap_or_default(),
        "map" => s.value.clone().unwrap_or_default(),
        _ => shape_name.to_string(),
    };
    let Some(t) = table.shape(&target) else { return };
    if t.kind != "structure" || t.document || seen.contains(&target) || indent > 10 {
        return;
    }
    seen.push(target.clone());
    for n in t.member_names() {
        o.push_str(&member_line(table, t, n, indent, input));
        nested(table, t.member_shape(n).unwrap_or(""), indent + 4, input, o, seen);
    }
}

fn waiter_help(svc: Svc, table: &Table, func: &str, waiter: &str) -> Result<String, String> {
    let w = table.waiters.get(waiter).ok_or_else(|| format!("no waiter {waiter}"))?;
    let op_fn = table.operations.get(&w.operation).map(|o| o.func.as_str()).unwrap_or("?");
    let m = svc.module();
    let mut o = format!(
        "{m}::{func}(input, #{{ timeout: secs, delay: secs }})   [waiter {waiter}]\n\n\
         Polls {m}::{op_fn} with the same input every {}s, up to {} times (timeout {}s), until:\n",
        w.delay,
        w.max_attempts,
        w.delay * w.max_attempts
    );
    for a in &w.acceptors {
        let what = match (&a.matcher[..], &a.argument) {
            ("error", _) => format!("error code is {}", a.expected),
            ("status", _) => format!("HTTP status is {}", a.expected),
            (kind, Some(arg)) => format!("{kind} {arg} == {}", a.expected),
            (kind, None) => format!("{kind} == {}", a.expected),
        };
        o.push_str(&format!("  {:<8} when {what}\n", a.state));
    }
    o.push_str(&format!("\nParameters: see runbook help {m}::{op_fn}\n"));
    Ok(o)
}
