//! IAM policy documents as maps. AWS sends a policy document as text, URL-encoded in some answers;
//! the aws CLI and boto3 decode every member of the model's policy-document shape into a JSON
//! object, and so does this module, so that `query()` reaches into a trust policy. On input, such a
//! member takes a map (sent as its JSON text) as well as the text itself.

use crate::json;
use crate::model::{Table, POLICY_DOCUMENT};
use rhai::{Array, Dynamic, Map};

/// Decodes every policy document in an operation's output, walking it by `shape`. A document that
/// is not JSON once decoded is left as the text AWS sent.
pub fn decode(table: &Table, shape: &str, v: &mut Dynamic) {
    walk(table, shape, v, 0, &|doc| {
        let Ok(text) = doc.clone().into_string() else { return };
        if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&unquote(&text)) {
            *doc = json::from_value(&parsed);
        }
    });
}

/// Encodes every policy document given as a map (or list) in an operation's input as JSON text.
pub fn encode(table: &Table, shape: &str, input: &mut Map) {
    let mut v = Dynamic::from_map(std::mem::take(input));
    walk(table, shape, &mut v, 0, &|doc| {
        if doc.is_map() || doc.is_array() {
            *doc = json::to_value(doc).to_string().into();
        }
    });
    *input = v.try_cast::<Map>().unwrap_or_default();
}

fn walk(table: &Table, shape_name: &str, v: &mut Dynamic, depth: usize, f: &dyn Fn(&mut Dynamic)) {
    if shape_name == POLICY_DOCUMENT {
        f(v);
        return;
    }
    let Some(shape) = table.shape(shape_name) else { return };
    if depth > 32 {
        return;
    }
    match shape.kind.as_str() {
        "structure" => {
            if let Some(mut m) = v.write_lock::<Map>() {
                for (k, item) in m.iter_mut() {
                    if let Some(target) = shape.member_shape(k) {
                        walk(table, target, item, depth + 1, f);
                    }
                }
            }
        }
        "list" => {
            if let (Some(member), Some(mut items)) = (shape.member.as_deref(), v.write_lock::<Array>()) {
                items.iter_mut().for_each(|item| walk(table, member, item, depth + 1, f));
            }
        }
        "map" => {
            if let (Some(value), Some(mut m)) = (shape.value.as_deref(), v.write_lock::<Map>()) {
                m.values_mut().for_each(|item| walk(table, value, item, depth + 1, f));
            }
        }
        _ => {}
    }
}

/// `%XX` sequences decoded, as Python's `urllib.parse.unquote` does (`+` stays `+`).
fn unquote(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Svc;

    #[test]
    fn url_encoded_and_plain_documents_become_maps_and_maps_become_text() {
        let table = Svc::Iam.table().unwrap();
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(unquote(encoded), r#"{"Version":"2012-10-17","Statement":[]}"#);
        assert_eq!(unquote("100%"), "100%");
        let out = serde_json::json!({
            "Role": { "RoleName": "r", "AssumeRolePolicyDocument": encoded },
        });
        let mut v = json::from_value(&out);
        decode(table, "GetRoleResponse", &mut v);
        assert_eq!(json::to_value(&v)["Role"]["AssumeRolePolicyDocument"]["Version"], "2012-10-17");
        let mut list = json::from_value(&serde_json::json!({ "Roles": [{ "AssumeRolePolicyDocument": "{\"a\":1}" }] }));
        decode(table, "ListRolesResponse", &mut list);
        assert_eq!(json::to_value(&list)["Roles"][0]["AssumeRolePolicyDocument"]["a"], 1);
        // Text that is not JSON stays as it came.
        let mut odd = json::from_value(&serde_json::json!({ "PolicyDocument": "not json", "RoleName": "r" }));
        decode(table, "GetRolePolicyResponse", &mut odd);
        assert_eq!(json::to_value(&odd)["PolicyDocument"], "not json");

        let mut input = json::from_value(&serde_json::json!({
            "RoleName": "r", "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [] },
        }))
        .try_cast::<Map>()
        .unwrap();
        encode(table, "CreateRoleRequest", &mut input);
        assert_eq!(input["AssumeRolePolicyDocument"].to_string(), r#"{"Statement":[],"Version":"2012-10-17"}"#);
    }
}
