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

/// The tag (Rhai's per-value tag) of a value AWS returned in a member the model marks sensitive.
/// Printing a result shows such a value as `<sensitive>` whole, whatever its length; the script
/// still gets the value itself.
pub const SENSITIVE: i32 = 0x5e5;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static SHOW: AtomicBool = AtomicBool::new(false);

/// Values shorter than this are not redacted: masking every "1" or "ab" in the output would hide
/// more than it protects.
const SHORTEST: usize = 6;

pub fn show(yes: bool) {
    SHOW.store(yes, Ordering::SeqCst);
}

/// Whether the operator asked to see sensitive values (`--show-sensitive`).
pub fn showing() -> bool {
    SHOW.load(Ordering::SeqCst)
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

/// Marks the values of an answer that sit in members the model marks sensitive ([`SENSITIVE`]),
/// and registers their text for [`redact`], which also catches them in text a script builds.
pub fn collect(table: &Table, shape: &str, v: &mut Dynamic) {
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
        crate::model::visit(table, shape, v, &|_, s| s.sensitive, &mut |sensitive| {
            crate::json::for_each_string(sensitive, &mut |s| add(s));
            mark(sensitive);
        });
    }
}

/// Marks a sensitive value and everything in it, so that a part taken out of it and printed on
/// its own is masked too.
fn mark(v: &mut Dynamic) {
    v.set_tag(SENSITIVE);
    if v.is_map() {
        if let Some(mut m) = v.write_lock::<Map>() {
            m.values_mut().for_each(mark);
        }
    } else if let Some(mut a) = v.write_lock::<Array>() {
        a.iter_mut().for_each(mark);
    }
}

/// A copy of `v` to print: every value marked [`SENSITIVE`] replaced whole by `<sensitive>`
/// (unless the operator asked to see them). Values without marks are shared, not copied.
pub fn masked(v: &Dynamic) -> Dynamic {
    if showing() {
        return v.clone();
    }
    if v.tag() == SENSITIVE && !empty(v) {
        return MASK.into();
    }
    if let Some(m) = v.read_lock::<Map>() {
        if m.values().any(has_mark) {
            return Dynamic::from_map(m.iter().map(|(k, x)| (k.clone(), masked(x))).collect());
        }
    } else if let Some(a) = v.read_lock::<Array>() {
        if a.iter().any(has_mark) {
            return Dynamic::from_array(a.iter().map(masked).collect());
        }
    }
    v.clone()
}

/// An empty text, list or map hides nothing, and prints as it is.
fn empty(v: &Dynamic) -> bool {
    v.read_lock::<Map>().is_some_and(|m| m.is_empty())
        || v.read_lock::<Array>().is_some_and(|a| a.is_empty())
        || v.read_lock::<rhai::ImmutableString>().is_some_and(|s| s.is_empty())
}

fn has_mark(v: &Dynamic) -> bool {
    v.tag() == SENSITIVE
        || v.read_lock::<Map>().is_some_and(|m| m.values().any(has_mark))
        || v.read_lock::<Array>().is_some_and(|a| a.iter().any(has_mark))
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
    use crate::svc::Svc;

    #[test]
    fn sensitive_answers_are_registered_and_redacted_everywhere() {
        let table = Svc::Iam.table().unwrap();
        let mut key = Map::new();
        key.insert("AccessKeyId".into(), "AKIAEXAMPLE123".into());
        key.insert("SecretAccessKey".into(), "wJalrXUtnFEMI-canary-secret".into());
        let mut answer = Map::new();
        answer.insert("AccessKey".into(), key.into());
        let mut answer: Dynamic = answer.into();
        collect(table, "CreateAccessKeyResponse", &mut answer);
        assert_eq!(redact("key wJalrXUtnFEMI-canary-secret and AKIAEXAMPLE123"), "key <sensitive> and AKIAEXAMPLE123");
        // Printed, the marked member is masked whole; the answer itself keeps the value.
        let shown = crate::json::to_value(&masked(&answer));
        assert_eq!(shown["AccessKey"]["SecretAccessKey"], MASK);
        assert_eq!(shown["AccessKey"]["AccessKeyId"], "AKIAEXAMPLE123");
        assert_eq!(crate::json::to_value(&answer)["AccessKey"]["SecretAccessKey"], "wJalrXUtnFEMI-canary-secret");
        assert!(!reaches_sensitive(Svc::Elbv2.table().unwrap(), "DescribeTargetGroupsOutput", &mut Vec::new()));
    }
}
