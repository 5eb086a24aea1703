//! Secret values and their redaction. The registry holds the credentials found in the environment,
//! parameters whose names suggest a secret, and every value AWS returned in a member the model marks
//! sensitive. Everything the tool prints or writes (script output, diagnostics, logs, the journal)
//! passes through [`redact`], which replaces each of them with `<sensitive>` unless the operator
//! asked to see them (`--show-sensitive`).

use crate::json;
use crate::model::Table;
use rhai::{Array, Dynamic, Map};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

pub const MASK: &str = "<sensitive>";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static SHOW: AtomicBool = AtomicBool::new(false);

/// Values shorter than this are not redacted: masking every "1" or "ab" in the output would hide
/// more than it protects.
const SHORTEST: usize = 6;

pub fn show(yes: bool) {
    SHOW.store(yes, Ordering::SeqCst);
}

pub fn add(secret: &str) {
    if secret.len() < SHORTEST {
        return;
    }
    if let Ok(mut s) = SECRETS.write() {
        if !s.iter().any(|x| x == secret) {
            s.push(secret.to_string());
            // Longest first, so that a secret containing another is replaced whole.
            s.sort_by_key(|x| std::cmp::Reverse(x.len()));
        }
    }
}

/// The credentials of the environment (the SDK never prints them, but a script can read them
/// with `env()`).
pub fn add_from_environment() {
    for name in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"] {
        if let Ok(v) = std::env::var(name) {
            add(&v);
        }
    }
}

/// `text` with every registered secret replaced by `<sensitive>`.
pub fn redact(text: &str) -> Cow<'_, str> {
    if SHOW.load(Ordering::SeqCst) {
        return Cow::Borrowed(text);
    }
    let Ok(secrets) = SECRETS.read() else { return Cow::Borrowed(text) };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in secrets.iter() {
        out = out.replace(s.as_str(), MASK);
    }
    Cow::Owned(out)
}

/// Registers the values of an answer that sit in members the model marks sensitive.
pub fn collect(table: &Table, shape: &str, v: &Dynamic) {
    static REACHES: std::sync::Mutex<Option<std::collections::HashMap<String, bool>>> = std::sync::Mutex::new(None);
    let key = format!("{}:{shape}", table.module);
    let known = REACHES.lock().ok().and_then(|m| m.as_ref().and_then(|m| m.get(&key).copied()));
    let reaches = known.unwrap_or_else(|| {
        let r = reaches_sensitive(table, shape, &mut Vec::new());
        if let Ok(mut m) = REACHES.lock() {
            m.get_or_insert_with(Default::default).insert(key, r);
        }
        r
    });
    if reaches {
        walk(table, shape, v, 0);
    }
}

fn walk(table: &Table, shape_name: &str, v: &Dynamic, depth: usize) {
    let Some(shape) = table.shape(shape_name) else { return };
    if shape.sensitive {
        crate::json::for_each_string(v, &mut |s| add(s));
        return;
    }
    if depth > 32 {
        return;
    }
    match shape.kind.as_str() {
        "structure" => {
            if let Some(m) = v.read_lock::<Map>() {
                for (k, item) in m.iter() {
                    if let Some(target) = shape.member_shape(k) {
                        walk(table, target, item, depth + 1);
                    }
                }
            }
        }
        "list" => {
            if let (Some(member), Some(a)) = (shape.member.as_deref(), v.read_lock::<Array>()) {
                a.iter().for_each(|item| walk(table, member, item, depth + 1));
            }
        }
        "map" => {
            if let (Some(value), Some(m)) = (shape.value.as_deref(), v.read_lock::<Map>()) {
                m.values().for_each(|item| walk(table, value, item, depth + 1));
            }
        }
        _ => {}
    }
}

/// Whether any member below `shape` is sensitive (most answers have none: no walk needed).
fn reaches_sensitive(table: &Table, shape_name: &str, seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s == shape_name) {
        return false;
    }
    seen.push(shape_name.to_string());
    let Some(shape) = table.shape(shape_name) else { return false };
    if shape.sensitive {
        return true;
    }
    let below: Vec<&str> = match shape.kind.as_str() {
        "structure" => shape.members.values().filter_map(|v| v.as_str()).collect(),
        "list" => shape.member.as_deref().into_iter().collect(),
        "map" => shape.value.as_deref().into_iter().collect(),
        _ => vec![],
    };
    below.into_iter().any(|s| reaches_sensitive(table, s, seen))
}

/// The input as the journal, the plan and the prompt show it: members the model marks sensitive
/// are replaced by `<sensitive>`.
pub fn masked_input(table: &Table, op: &str, input: &Map) -> Value {
    let mut v = json::map_to_value(input);
    if let Some(shape) = table.operations.get(op).and_then(|o| o.input.as_deref()) {
        mask(table, shape, &mut v, 0);
    }
    v
}

fn mask(table: &Table, shape_name: &str, v: &mut Value, depth: usize) {
    let Some(shape) = table.shape(shape_name) else { return };
    if shape.sensitive {
        *v = json!("<sensitive>");
        return;
    }
    if depth > 32 {
        return;
    }
    match (shape.kind.as_str(), v) {
        ("structure", Value::Object(m)) => {
            for (k, item) in m.iter_mut() {
                if let Some(target) = shape.member_shape(k) {
                    mask(table, target, item, depth + 1);
                }
            }
        }
        ("list", Value::Array(items)) => {
            if let Some(member) = shape.member.as_deref() {
                items.iter_mut().for_each(|item| mask(table, member, item, depth + 1));
            }
        }
        ("map", Value::Object(m)) => {
            if let Some(value) = shape.value.as_deref() {
                m.values_mut().for_each(|item| mask(table, value, item, depth + 1));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Svc;

    #[test]
    fn sensitive_answers_are_registered_and_redacted_everywhere() {
        let table = Svc::Iam.table().unwrap();
        let mut key = Map::new();
        key.insert("AccessKeyId".into(), "AKIAEXAMPLE123".into());
        key.insert("SecretAccessKey".into(), "wJalrXUtnFEMI-canary-secret".into());
        let mut answer = Map::new();
        answer.insert("AccessKey".into(), key.into());
        collect(table, "CreateAccessKeyResponse", &answer.into());
        assert_eq!(redact("key wJalrXUtnFEMI-canary-secret and AKIAEXAMPLE123"), "key <sensitive> and AKIAEXAMPLE123");
        assert!(!reaches_sensitive(Svc::Elbv2.table().unwrap(), "DescribeTargetGroupsOutput", &mut Vec::new()));
    }
}
