//! Tagging writes: each service names its tagging calls and their members in its own words. A
//! tagging kind's entry carries its [`Tagging`]; undo removes the keys it added and puts back the
//! values it replaced, and `since` reads the tags back.

use super::{found, read_now, s, step, text, Before, Created, Fact, Found, Inverse, Kind, Look, Read};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};

/// A write that sets tags on resources, in its service's words: the write and its opposite, and
/// their members (resources, the tag list, a tag's key and value, and the opposite's list of
/// keys); and the read that lists a resource's tags, with where its answer holds them.
#[derive(Debug, Clone, Copy)]
pub struct Tagging {
    pub set: &'static str,
    pub unset: &'static str,
    pub resources: &'static str,
    pub tags: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub unset_keys: &'static str,
    pub read: &'static str,
    /// A JSON pointer to the tag list in the read's answer.
    pub list: &'static str,
}

impl Tagging {
    /// The resources a tagging input names: a list, or ECS's and ACM's single ARN.
    pub fn resources_of(&self, input: &Value) -> Vec<String> {
        match &input[self.resources] {
            Value::String(r) => vec![r.clone()],
            v => v.as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        }
    }

    /// The read of one resource's tags now.
    pub fn read_of(&self, svc: Svc, resource: &str) -> Value {
        match svc {
            Svc::Ec2 => json!({ "Filters": [{ "Name": "resource-id", "Values": [resource] }] }),
            Svc::Elbv2 => json!({ "ResourceArns": [resource] }),
            _ => json!({ self.resources: resource }),
        }
    }

    /// The input that names one resource: a list of one, or ECS's and ACM's single ARN.
    fn on(&self, svc: Svc, resource: &str) -> Value {
        match svc {
            Svc::Ecs | Svc::Acm => json!({ self.resources: resource }),
            _ => json!({ self.resources: [resource] }),
        }
    }

    /// Undo of a tagging write some of whose keys were set before it: the keys it added are
    /// removed, and the values it replaced are put back.
    fn restore(&self, svc: Svc, i: &Value, found: &Found) -> Inverse {
        let before = found.output["before"].as_array().cloned().unwrap_or_default();
        let resources = self.resources_of(i);
        let keys: Vec<String> = i[self.tags]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t[self.key].as_str().map(str::to_string))
            .collect();
        let mut created = Vec::new();
        for r in &resources {
            let old: Vec<&Value> = before.iter().filter(|b| b["resource"] == r.as_str()).collect();
            let was = |k: &str| old.iter().any(|b| b["key"] == k);
            let new: Vec<&String> = keys.iter().filter(|k| !was(k)).collect();
            if !new.is_empty() {
                let mut input = self.on(svc, r);
                input[self.unset_keys] = match svc {
                    // EC2 and ACM name the tags to delete as tags.
                    Svc::Ec2 | Svc::Acm => json!(new.iter().map(|k| json!({ "Key": k })).collect::<Vec<_>>()),
                    _ => json!(new),
                };
                let undo = vec![step(svc, self.unset, input)];
                created.push(Created { kind: "tags on".into(), id: r.clone(), undo, restores: false });
            }
            if !old.is_empty() {
                let mut input = self.on(svc, r);
                input[self.tags] = json!(old
                    .iter()
                    .map(|b| json!({ self.key: b["key"], self.value: b["value"] }))
                    .collect::<Vec<_>>());
                let undo = vec![step(svc, self.set, input)];
                created.push(Created { kind: "earlier tags on".into(), id: r.clone(), undo, restores: true });
            }
        }
        Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) }
    }
}

/// A tagging kind's restore: when some of its keys were set before it.
pub(super) fn restore(kind: &Kind, i: &Value, before: &Before) -> Option<Inverse> {
    match (kind.tagging, before) {
        (Some(t), Before::Present(found)) => Some(t.restore(kind.svc, i, found)),
        _ => None,
    }
}

/// The values the keys a tagging write sets had before it, as `{ "before": [{ resource, key,
/// value }] }`: found when any of them was set already (undo puts those values back).
fn tags_before(existing: Vec<(String, String, Value)>, keys: &[String]) -> Option<Found> {
    let before: Vec<Value> = existing
        .into_iter()
        .filter(|(_, k, _)| keys.contains(k))
        .map(|(r, k, v)| json!({ "resource": r, "key": k, "value": v }))
        .collect();
    if before.is_empty() {
        return None;
    }
    let id = before.iter().map(|b| format!("{}={}", b["key"].as_str().unwrap_or("?"), b["value"])).collect::<Vec<_>>();
    found(format!("tags {}", id.join(", ")), json!({ "before": before }))
}

fn keys_of(tags: &Value, key: &str) -> Vec<String> {
    tags.as_array().into_iter().flatten().filter_map(|t| t[key].as_str().map(str::to_string)).collect()
}

pub(super) fn elbv2_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Elbv2, "DescribeTags", json!({ "ResourceArns": s(i, "ResourceArns") }))?;
    let existing = out["TagDescriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let r = d["ResourceArn"].as_str().unwrap_or_default().to_string();
            d["Tags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| (r.clone(), t["Key"].as_str().unwrap_or_default().to_string(), t["Value"].clone()))
        })
        .collect();
    Ok(tags_before(existing, &keys_of(&i["Tags"], "Key")))
}

pub(super) fn ec2_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let filters = json!([{ "Name": "resource-id", "Values": s(i, "Resources") }]);
    let out = read(Svc::Ec2, "DescribeTags", json!({ "Filters": filters }))?;
    let existing = out["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (text("ResourceId"), text("Key"), t["Value"].clone())
        })
        .collect();
    Ok(tags_before(existing, &keys_of(&i["Tags"], "Key")))
}

pub(super) fn ecs_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    tags_of_arn(read, i, Svc::Ecs, "ListTagsForResource", ["resourceArn", "tags", "key", "value"])
}

pub(super) fn acm_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    tags_of_arn(read, i, Svc::Acm, "ListTagsForCertificate", ["CertificateArn", "Tags", "Key", "Value"])
}

/// The tags a resource named by its ARN has now, read with `op`; `names` are the members for the
/// ARN, the tag list (the same in the tagging input and the answer), a tag's key and its value.
fn tags_of_arn(read: Read, i: &Value, svc: Svc, op: &str, names: [&str; 4]) -> Result<Option<Found>, CallError> {
    let [arn_member, list, key, value] = names;
    let arn = text(i, arn_member).to_string();
    let out = read(svc, op, json!({ arn_member: arn }))?;
    let existing = out[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (arn.clone(), t[key].as_str().unwrap_or_default().to_string(), t[value].clone()))
        .collect();
    Ok(tags_before(existing, &keys_of(&i[list], key)))
}

/// A tagging write: each resource with the tags it set, and the values those keys have now.
pub(super) fn tags_changed(kind: &Kind, reads: Read, input: &Value) -> Result<Vec<Fact>, CallError> {
    let (Some(t), svc) = (kind.tagging, kind.svc) else { return Ok(vec![]) };
    let mut facts = Vec::new();
    for r in t.resources_of(input) {
        let tags = |list: &Value| -> serde_json::Map<String, Value> {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| Some((x[t.key].as_str()?.to_string(), x[t.value].clone())))
                .collect()
        };
        let wrote = tags(&input[t.tags]);
        let now = read_now(reads, svc, t.read, t.read_of(svc, &r))?
            .map(|n| Value::Object(tags(n.pointer(t.list).unwrap_or(&Value::Null))));
        facts.push(Fact { what: "tags on".into(), id: r, wrote: Some(Value::Object(wrote)), now });
    }
    Ok(facts)
}
