//! An answer as the aws CLI prints it: `--query` first, then JSON (four-space indents, members in
//! the model's order, a `--query` hash in the order it names its keys), text (tab-separated rows,
//! as the CLI lays them out) or table (see `table`).

use super::Format;
use crate::model::Table;
use serde_json::Value;
use std::collections::HashSet;

/// The printed answer, or the query's problem. `output` is the operation's output shape, whose
/// member order JSON follows; `title` heads a table (the operation's name).
pub fn render(
    table: &Table,
    output: Option<&str>,
    answer: &Value,
    format: Format,
    query: Option<&str>,
    title: &str,
) -> Result<String, String> {
    let value = match query {
        Some(q) => crate::json::query(answer, q)?,
        None => answer.clone(),
    };
    let orders = Orders::new(table, output, query);
    Ok(match format {
        Format::Json => {
            if query.is_none() && value.as_object().is_some_and(|m| m.is_empty()) {
                return Ok(String::new());
            }
            let mut out = String::new();
            json_into(&value, &orders, 0, true, &mut out);
            out.push('\n');
            out
        }
        Format::Text => {
            let mut out = String::new();
            text_into(&value, None, None, &mut out);
            out
        }
        // Nothing for an empty value, as `table::render` draws it.
        Format::Table => crate::table::render(&value, Some(title)),
    })
}

/// The orders objects are printed in: the key lists of the query's `{…}` hashes, then the member
/// lists of the structures the output shape holds, shallowest first.
struct Orders {
    hashes: Vec<Vec<String>>,
    structures: Vec<Vec<String>>,
}

impl Orders {
    fn new(table: &Table, output: Option<&str>, query: Option<&str>) -> Orders {
        let mut structures = Vec::new();
        let mut seen = HashSet::new();
        let mut queue: std::collections::VecDeque<String> = output.map(str::to_string).into_iter().collect();
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) || seen.len() > 4000 {
                continue;
            }
            let Some(shape) = table.shape(&name) else { continue };
            match shape.kind.as_str() {
                "structure" => {
                    structures.push(shape.member_names().map(str::to_string).collect());
                    queue.extend(shape.members.values().filter_map(|v| v.as_str().map(str::to_string)));
                }
                "list" => queue.extend(shape.member.clone()),
                "map" => queue.extend(shape.value.clone()),
                _ => {}
            }
        }
        Orders { hashes: query.map(hash_keys).unwrap_or_default(), structures }
    }

    /// The keys of an object in the order the aws CLI prints them.
    fn keys<'a>(&self, m: &'a serde_json::Map<String, Value>, top: bool) -> Vec<&'a String> {
        let mut keys: Vec<&String> = m.keys().collect();
        let has = |list: &Vec<String>| keys.iter().all(|k| list.contains(k));
        let rank: Option<&Vec<String>> = self
            .hashes
            .iter()
            .find(|h| h.len() == keys.len() && has(h))
            .or_else(|| self.structures.iter().find(|s| has(s)));
        match rank {
            Some(order) => keys.sort_by_key(|k| order.iter().position(|o| o == *k)),
            // The token of an answer cut short by --max-items comes last.
            None if top => keys.sort_by_key(|k| *k == "NextToken"),
            None => {}
        }
        keys
    }
}

/// The keys of each `{key: value, …}` of a JMESPath expression, in the order written.
fn hash_keys(expr: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = expr.chars().collect();
    let mut found: Vec<Vec<String>> = Vec::new();
    // For each open bracket: the index in `found` of its hash, if it is `{`.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut expecting_key = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '`' | '"' => {
                let start = i + 1;
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if c == '"' && expecting_key {
                    if let Some(Some(h)) = stack.last() {
                        let key: String = chars[start..i.min(chars.len())].iter().collect();
                        found[*h].push(key);
                    }
                    expecting_key = false;
                }
            }
            '{' => {
                found.push(Vec::new());
                stack.push(Some(found.len() - 1));
                expecting_key = true;
            }
            '[' | '(' => {
                stack.push(None);
                expecting_key = false;
            }
            '}' | ']' | ')' => {
                stack.pop();
                expecting_key = false;
            }
            ',' => expecting_key = matches!(stack.last(), Some(Some(_))),
            c if expecting_key && (c.is_alphabetic() || c == '_') => {
                let start = i;
                while i + 1 < chars.len() && (chars[i + 1].is_alphanumeric() || chars[i + 1] == '_') {
                    i += 1;
                }
                if let Some(Some(h)) = stack.last() {
                    found[*h].push(chars[start..=i].iter().collect());
                }
                expecting_key = false;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// JSON as the aws CLI prints it (Python's `json.dumps` with four-space indents).
fn json_into(v: &Value, orders: &Orders, depth: usize, top: bool, out: &mut String) {
    let pad = |n: usize| "    ".repeat(n);
    match v {
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(m) => {
            out.push_str("{\n");
            let keys = orders.keys(m, top);
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push_str(": ");
                json_into(&m[k.as_str()], orders, depth + 1, false, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                json_into(item, orders, depth + 1, false, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Number(n) => out.push_str(&crate::table::python_number(n)),
        other => out.push_str(&other.to_string()),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// The text output: an object's scalars on one tab-separated line (sorted by key, after the
/// upper-cased key it is under), then its lists and objects, each under its key; a list of
/// objects one line each, over the scalar keys any of them has.
fn text_into(v: &Value, identifier: Option<&str>, scalar_keys: Option<&[String]>, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut scalars: Vec<String> = Vec::new();
            let mut rest: Vec<(&String, &Value)> = Vec::new();
            match scalar_keys {
                None => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    for k in keys {
                        if is_scalar(&m[k]) {
                            scalars.push(crate::table::scalar_text(&m[k]));
                        } else {
                            rest.push((k, &m[k]));
                        }
                    }
                }
                Some(keys) => {
                    for k in keys {
                        scalars.push(m.get(k).map(crate::table::scalar_text).unwrap_or_default());
                    }
                    let mut others: Vec<&String> = m.keys().filter(|k| !keys.contains(k)).collect();
                    others.sort();
                    rest.extend(others.into_iter().map(|k| (k, &m[k])));
                }
            }
            if !scalars.is_empty() {
                if let Some(id) = identifier {
                    scalars.insert(0, id.to_uppercase());
                }
                out.push_str(&scalars.join("\t"));
                out.push('\n');
            }
            for (k, item) in rest {
                text_into(item, Some(k), None, out);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                return;
            }
            if items.iter().any(Value::is_object) {
                let mut keys: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|m| m.iter().filter(|(_, v)| is_scalar(v)).map(|(k, _)| k.clone()))
                    .collect();
                keys.sort();
                keys.dedup();
                for item in items {
                    text_into(item, identifier, Some(&keys), out);
                }
            } else if items.iter().any(Value::is_array) {
                let scalars: Vec<Value> = items.iter().filter(|i| is_scalar(i)).cloned().collect();
                if !scalars.is_empty() {
                    scalar_list(&scalars, identifier, out);
                }
                for item in items.iter().filter(|i| !is_scalar(i)) {
                    text_into(item, identifier, None, out);
                }
            } else {
                scalar_list(items, identifier, out);
            }
        }
        scalar => {
            out.push_str(&crate::table::scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn scalar_list(items: &[Value], identifier: Option<&str>, out: &mut String) {
    match identifier {
        Some(id) => {
            for item in items {
                out.push_str(&format!("{}\t{}\n", id.to_uppercase(), crate::table::scalar_text(item)));
            }
        }
        None => {
            out.push_str(&items.iter().map(crate::table::scalar_text).collect::<Vec<_>>().join("\t"));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hash_keys;

    #[test]
    fn a_query_names_its_hash_keys_in_order() {
        assert_eq!(
            hash_keys("services[0].{desiredCount:desiredCount,runningCount:runningCount,pendingCount:pendingCount}"),
            vec![vec!["desiredCount", "runningCount", "pendingCount"]]
        );
        assert_eq!(
            hash_keys(
                "tasks[*].{TaskId:taskArn,IP:attachments[0].details[?name==`privateIPv4Address`].value[0], \"x y\": a}"
            ),
            vec![vec!["TaskId", "IP", "x y"]]
        );
        assert_eq!(hash_keys("a.{b: {c: d, e: f}, g: h}"), vec![vec!["b", "g"], vec!["c", "e"]]);
    }
}
