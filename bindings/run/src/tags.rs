//! What a run adds to a write's input before it is sent: the run's tag on what it creates, and an
//! idempotency token where the model has a member for one.

use rhai::{Array, Map};
use runbook_bindings::model::Table;

/// The tag key put on resources a run creates.
pub use crate::kinds::RUN_TAG;

/// Adds the run's tag to a creating write whose input takes tags: `Tags`/`tags` lists of key/value
/// structures, string maps, or EC2's `TagSpecifications` for the resource type the operation creates.
pub fn tag(table: &Table, op: &str, input: &mut Map, run_id: &str) {
    // ACM requests and imports make a certificate; a re-import (naming the certificate) takes no tags.
    let certificate = matches!(op, "RequestCertificate" | "ImportCertificate") && !input.contains_key("CertificateArn");
    // EC2's CreateTags tags what exists; it makes nothing to tag.
    let creates = certificate
        || (["Create", "Register", "Run", "Allocate"].iter().any(|v| op.starts_with(v)) && op != "CreateTags");
    let Some(shape) = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s)) else {
        return;
    };
    if !creates {
        return;
    }
    for member in ["Tags", "tags"] {
        let Some(target) = shape.member_shape(member).and_then(|s| table.shape(s)) else { continue };
        if target.kind == "map" {
            let mut m = input.get(member).and_then(|v| v.read_lock::<Map>().map(|m| m.clone())).unwrap_or_default();
            m.entry(RUN_TAG.into()).or_insert_with(|| run_id.into());
            input.insert(member.into(), m.into());
            return;
        }
        let Some(item) = target.member.as_deref().and_then(|s| table.shape(s)) else { continue };
        let (k, v) = if item.member_shape("Key").is_some() { ("Key", "Value") } else { ("key", "value") };
        if item.member_shape(k).is_none() || item.member_shape(v).is_none() {
            continue;
        }
        push_tag(input, member, k, v, run_id);
        return;
    }
    if shape.member_shape("TagSpecifications").is_some() {
        let Some(resource) = ec2_resource_type(table, op) else { return };
        let mut specs: Array =
            input.get("TagSpecifications").and_then(|v| v.read_lock::<Array>().map(|a| a.clone())).unwrap_or_default();
        let existing = specs.iter_mut().find(|s| {
            s.read_lock::<Map>().and_then(|m| m.get("ResourceType").map(|r| r.to_string())) == Some(resource.clone())
        });
        match existing {
            Some(spec) => {
                if let Some(mut m) = spec.write_lock::<Map>() {
                    push_tag(&mut m, "Tags", "Key", "Value", run_id);
                }
            }
            None => {
                let mut spec = Map::new();
                spec.insert("ResourceType".into(), resource.into());
                push_tag(&mut spec, "Tags", "Key", "Value", run_id);
                specs.push(spec.into());
            }
        }
        input.insert("TagSpecifications".into(), specs.into());
    }
}

fn push_tag(m: &mut Map, member: &str, k: &str, v: &str, run_id: &str) {
    let mut tags: Array = m.get(member).and_then(|t| t.read_lock::<Array>().map(|a| a.clone())).unwrap_or_default();
    let present = tags
        .iter()
        .any(|t| t.read_lock::<Map>().is_some_and(|t| t.get(k).map(|x| x.to_string()) == Some(RUN_TAG.into())));
    if !present {
        let mut t = Map::new();
        t.insert(k.into(), RUN_TAG.into());
        t.insert(v.into(), run_id.into());
        tags.push(t.into());
    }
    m.insert(member.into(), tags.into());
}

/// The EC2 resource type an operation creates (`CreateSecurityGroup` → `security-group`), when the
/// model's ResourceType enum has it.
fn ec2_resource_type(table: &Table, op: &str) -> Option<String> {
    let kind = match op {
        "RunInstances" => "instance".to_string(),
        _ => {
            let rest = op.strip_prefix("Create").or_else(|| op.strip_prefix("Allocate"))?;
            let mut s = String::new();
            for (i, c) in rest.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    s.push('-');
                }
                s.push(c.to_ascii_lowercase());
            }
            if op == "AllocateAddress" {
                "elastic-ip".to_string()
            } else {
                s
            }
        }
    };
    let spec = table.shape("TagSpecification")?;
    let values = &table.shape(spec.member_shape("ResourceType")?)?.values;
    values.contains(&kind).then_some(kind)
}

/// Puts a token into each idempotency-token member the script left empty (EC2 `ClientToken`, ECS
/// `clientToken`, …): one per write intent, the same on every attempt and resend, so AWS itself
/// does the write once. Returns the member and the token.
pub fn idempotency_token(table: &Table, op: &str, input: &mut Map, run_id: &str, seq: u64) -> Option<(String, String)> {
    let shape = table.operations.get(op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s))?;
    let member = shape.idempotency_tokens.iter().find(|m| !input.contains_key(m.as_str()))?;
    let token = format!("{run_id}-{seq}");
    input.insert(member.as_str().into(), token.clone().into());
    Some((member.clone(), token))
}
