//! A record of the types of every answer a script gets, for tests that hold a plan's answers to the
//! forms of real ones: with `RUNBOOK_TRACE_TYPES=FILE`, each call appends one line to FILE,
//! `{"function": "iam::get_role", "types": {"Role.AssumeRolePolicyDocument.Statement[]": "map", …},
//! "from_plan": false}`.
//! Without the variable nothing is recorded.

use rhai::Dynamic;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

fn file() -> Option<&'static Mutex<std::fs::File>> {
    FILE.get_or_init(|| {
        let path = std::env::var_os("RUNBOOK_TRACE_TYPES")?;
        std::fs::OpenOptions::new().create(true).append(true).open(path).ok().map(Mutex::new)
    })
    .as_ref()
}

/// Appends the types of `answer`, the answer of `function` (`from_plan`: made up by a plan, not
/// sent), when tracing is on.
pub fn answer(function: &str, answer: &Dynamic, from_plan: bool) {
    let Some(file) = file() else { return };
    let mut types = BTreeMap::new();
    walk(answer, "", &mut types);
    let line = serde_json::json!({ "function": function, "types": types, "from_plan": from_plan });
    if let Ok(mut f) = file.lock() {
        let _ = writeln!(f, "{line}");
    }
}

/// Each value's path (list items as `[]`) and type: map, array, string, int, float, bool, unit.
fn walk(v: &Dynamic, path: &str, out: &mut BTreeMap<String, String>) {
    if let Some(map) = v.read_lock::<rhai::Map>() {
        out.insert(path.to_string(), "map".into());
        for (k, item) in map.iter() {
            let p = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
            walk(item, &p, out);
        }
        return;
    }
    if let Some(list) = v.read_lock::<rhai::Array>() {
        out.insert(path.to_string(), "array".into());
        for item in list.iter() {
            walk(item, &format!("{path}[]"), out);
        }
        return;
    }
    let kind = if v.is_string() {
        "string"
    } else if v.is_int() {
        "int"
    } else if v.is_float() {
        "float"
    } else if v.is_bool() {
        "bool"
    } else if v.is_unit() {
        "unit"
    } else {
        v.type_name()
    };
    out.insert(path.to_string(), kind.into());
}
