//! IAM policy documents as maps. AWS sends a policy document as text, URL-encoded in some answers;
//! the aws CLI and boto3 decode every member of the model's policy-document shape into a JSON
//! object, and so does this module, so that `query()` reaches into a trust policy. On input, such a
//! member takes a map (sent as its JSON text) as well as the text itself.

use crate::json;
use crate::model::{visit, Table, POLICY_DOCUMENT};
use rhai::{Dynamic, Map};

/// Decodes every policy document in an operation's output, walking it by `shape`. A document that
/// is not JSON once decoded is left as the text AWS sent.
pub fn decode(table: &Table, shape: &str, v: &mut Dynamic) {
    visit(table, shape, v, &is_document, &mut |doc| {
        let Ok(text) = doc.clone().into_string() else { return };
        if let Ok(parsed) = serde_json::from_str::<serde_json::Value>(&unquote(&text)) {
            *doc = json::from_value(&parsed);
        }
    });
}

/// Encodes every policy document given as a map (or list) in an operation's input as JSON text.
pub fn encode(table: &Table, shape: &str, input: &mut Map) {
    let mut v = Dynamic::from_map(std::mem::take(input));
    visit(table, shape, &mut v, &is_document, &mut |doc| {
        if doc.is_map() || doc.is_array() {
            *doc = json::to_value(doc).to_string().into();
        }
    });
    *input = v.try_cast::<Map>().unwrap_or_default();
}

/// A policy document, wherever it is in a value.
fn is_document(name: &str, _: &crate::model::Shape) -> bool {
    name == POLICY_DOCUMENT
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
    use crate::svc::Svc;

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
