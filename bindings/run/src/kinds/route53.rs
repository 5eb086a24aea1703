//! Route 53's kinds of write: hosted zones, and record sets. What a `ChangeResourceRecordSets`
//! replaced is looked up before it is sent, and the change batch that undoes it is kept: a batch's
//! changes are applied together by Route 53, so its undo is one batch too: each CREATE deleted,
//! each DELETE created again, each UPSERT put back as it was (or deleted, when the name and type
//! had no record before).

use super::{
    at, found, item, one, read_now, s, settings, step, Again::*, Before, Created, Fact, Found, Inverse, Kind, Look,
    Read,
};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Route53;

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Route53, "CreateHostedZone", Duplicates)
        .duplicate(&["HostedZoneAlreadyExists"])
        .find(hosted_zone)
        .not_found(&["NoSuchHostedZone"])
        .present(|r, _, id| {
            let zone = item(r, Route53, "GetHostedZone", json!({ "Id": id }), "/HostedZone")?;
            // Its name ends with a dot; the create's settings are its `Config`.
            Ok(zone.map(|z| json!({ "CallerReference": z["CallerReference"], "HostedZoneConfig": z["Config"] })))
        })
        .remove(|_, o| {
            // Its records other than SOA and NS go first: undo removes the run's, newest first.
            one("hosted zone", at(o, "HostedZone.Id"), |id| {
                vec![step(Route53, "DeleteHostedZone", json!({ "Id": id })).retry(&["HostedZoneNotEmpty"])]
            })
        }),
    Kind::new(Route53, "ChangeResourceRecordSets", Converges)
        .find(before)
        .restore(|_, i, b| {
            Some(match b {
                Before::Unknown(why) => Inverse {
                    created: vec![],
                    not_undoable: Some(format!("could not tell which records existed before this call ({why})")),
                    replaced: None,
                },
                _ => inverse(i, b.found()),
            })
        })
        .read_back(records_changed),
];

/// A hosted zone with the input's name and caller reference (the reference tells a retry of this
/// create from another zone of the same name).
fn hosted_zone(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Route53, "ListHostedZonesByName", json!({ "DNSName": s(i, "Name") }))?;
    Ok(out["HostedZones"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|z| z["CallerReference"] == i["CallerReference"])
        .and_then(|z| found(z["Id"].as_str()?, json!({ "HostedZone": z }))))
}

/// A record set's identity within its zone: its name (lower case, with the final dot), its type,
/// and its set identifier when it has one (weighted, latency, failover … records).
pub fn key(record: &Value) -> (String, String, String) {
    let mut name = record["Name"].as_str().unwrap_or_default().to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    // Route 53 answers `*` as the octal escape `\052`.
    let name = name.replace("\\052", "*");
    let text = |k: &str| record[k].as_str().unwrap_or_default().to_string();
    (name, text("Type"), text("SetIdentifier"))
}

fn changes(i: &Value) -> Vec<Value> {
    i["ChangeBatch"]["Changes"].as_array().cloned().unwrap_or_default()
}

/// The record sets that the batch's changes name and that exist: `{ "before": [record sets] }`,
/// found when any does. One read per change, starting at its name and type.
pub fn before(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let zone = i["HostedZoneId"].clone();
    let mut existing: Vec<Value> = Vec::new();
    for change in changes(i) {
        let wanted = &change["ResourceRecordSet"];
        let (name, kind, _) = key(wanted);
        let request = json!({ "HostedZoneId": zone, "StartRecordName": name, "StartRecordType": kind });
        let out = read(Svc::Route53, "ListResourceRecordSets", request)?;
        for record in out["ResourceRecordSets"].as_array().into_iter().flatten() {
            if key(record) == key(wanted) && !existing.iter().any(|e| key(e) == key(record)) {
                existing.push(record.clone());
            }
        }
    }
    if existing.is_empty() {
        return Ok(None);
    }
    let id = existing
        .iter()
        .map(|r| {
            let (name, kind, set) = key(r);
            if set.is_empty() {
                format!("{name} {kind}")
            } else {
                format!("{name} {kind} ({set})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Some(Found { id, output: json!({ "before": existing }) }))
}

/// The undo of a change batch, given the record sets its look-up found before it was sent.
pub fn inverse(i: &Value, before: Option<&Found>) -> Inverse {
    let zone = i["HostedZoneId"].as_str().unwrap_or_default().to_string();
    let old: Vec<Value> = before.and_then(|f| f.output["before"].as_array().cloned()).unwrap_or_default();
    let mut undo_changes = Vec::new();
    let mut restores = false;
    for change in changes(i).iter().rev() {
        let record = &change["ResourceRecordSet"];
        let was = old.iter().find(|o| key(o) == key(record));
        let (action, set) = match (change["Action"].as_str().unwrap_or_default(), was) {
            ("CREATE", _) => ("DELETE", record.clone()),
            ("DELETE", _) => {
                restores = true;
                ("CREATE", record.clone())
            }
            ("UPSERT", Some(old)) => {
                restores = true;
                ("UPSERT", old.clone())
            }
            ("UPSERT", None) => ("DELETE", record.clone()),
            (other, _) => {
                return Inverse {
                    created: vec![],
                    not_undoable: Some(format!("its change batch has the action {other:?}, which undo does not know")),
                    replaced: None,
                }
            }
        };
        undo_changes.push(json!({ "Action": action, "ResourceRecordSet": set }));
    }
    let names: Vec<String> = changes(i)
        .iter()
        .map(|c| {
            let (name, kind, _) = key(&c["ResourceRecordSet"]);
            format!("{name} {kind}")
        })
        .collect();
    let input = json!({ "HostedZoneId": zone, "ChangeBatch": { "Changes": undo_changes } });
    let undo = vec![step(Svc::Route53, "ChangeResourceRecordSets", input)];
    let kind = if restores { "earlier records" } else { "records" };
    let created = vec![Created { kind: kind.into(), id: format!("{} in {zone}", names.join(", ")), undo, restores }];
    Inverse { created, not_undoable: None, replaced: before.map(|b| b.id.clone()) }
}

/// A Route 53 change batch: each record it created or upserted as it set it, and each it deleted
/// absent.
fn records_changed(_: &Kind, reads: Read, input: &Value) -> Result<Vec<Fact>, CallError> {
    let zone = input["HostedZoneId"].clone();
    let mut facts = Vec::new();
    for change in input["ChangeBatch"]["Changes"].as_array().into_iter().flatten() {
        let record = &change["ResourceRecordSet"];
        let wanted = key(record);
        let request = json!({ "HostedZoneId": zone, "StartRecordName": wanted.0, "StartRecordType": wanted.1 });
        let page = read_now(reads, Svc::Route53, "ListResourceRecordSets", request)?;
        let now = page.and_then(|p| p["ResourceRecordSets"].as_array()?.iter().find(|r| key(r) == wanted).cloned());
        let id = match wanted.2.as_str() {
            "" => format!("{} {} in {}", wanted.0, wanted.1, zone.as_str().unwrap_or("?")),
            set => format!("{} {} ({set}) in {}", wanted.0, wanted.1, zone.as_str().unwrap_or("?")),
        };
        // The name matched already, as Route 53 compares names (case, final dot).
        let wrote = (change["Action"] != "DELETE").then(|| settings(record, &["Name"]));
        facts.push(Fact { what: "record".into(), id, wrote, now });
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cname(name: &str, value: &str) -> Value {
        json!({ "Name": name, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{ "Value": value }] })
    }

    fn batch(changes: Vec<(&str, Value)>) -> Value {
        let changes: Vec<Value> =
            changes.into_iter().map(|(a, r)| json!({ "Action": a, "ResourceRecordSet": r })).collect();
        json!({ "HostedZoneId": "/hostedzone/Z1", "ChangeBatch": { "Changes": changes } })
    }

    fn undo_changes(inv: &Inverse) -> Vec<(String, String)> {
        inv.created[0].undo[0].input["ChangeBatch"]["Changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let value = c["ResourceRecordSet"]["ResourceRecords"][0]["Value"].as_str().unwrap_or("").to_string();
                (c["Action"].as_str().unwrap().to_string(), value)
            })
            .collect()
    }

    #[test]
    fn an_upsert_of_a_new_name_is_deleted_and_of_an_existing_one_put_back() {
        let i = batch(vec![("UPSERT", cname("a.example.com", "new")), ("UPSERT", cname("B.example.com.", "new"))]);
        let old = Found { id: "b".into(), output: json!({ "before": [cname("b.example.com.", "old")] }) };
        let inv = inverse(&i, Some(&old));
        assert_eq!(
            undo_changes(&inv),
            [("UPSERT".to_string(), "old".to_string()), ("DELETE".to_string(), "new".to_string())],
            "newest change first; the existing name gets its old value"
        );
        assert!(inv.created[0].restores);
        let fresh = inverse(&i, None);
        assert_eq!(undo_changes(&fresh), [("DELETE".into(), "new".into()), ("DELETE".into(), "new".into())]);
        assert!(!fresh.created[0].restores);
    }

    #[test]
    fn a_create_is_deleted_and_a_delete_created_again() {
        let i = batch(vec![("CREATE", cname("a.example.com", "x")), ("DELETE", cname("c.example.com", "y"))]);
        assert_eq!(undo_changes(&inverse(&i, None)), [("CREATE".into(), "y".into()), ("DELETE".into(), "x".into())]);
    }

    #[test]
    fn the_look_up_finds_only_the_named_records_and_reads_from_their_name() {
        let asked = std::cell::RefCell::new(Vec::new());
        let read = |_: Svc, _: &str, input: Value| -> Result<Value, CallError> {
            asked.borrow_mut().push(input["StartRecordName"].as_str().unwrap_or("").to_string());
            // Route 53 lists from the start name on: the next name is answered too.
            Ok(json!({ "ResourceRecordSets": [cname("a.example.com.", "old"), cname("b.example.com.", "other")] }))
        };
        let i = batch(vec![("UPSERT", cname("A.example.com", "new"))]);
        let found = before(&read, &i, Look::Before).unwrap().unwrap();
        assert_eq!(found.id, "a.example.com. CNAME");
        assert_eq!(found.output["before"].as_array().unwrap().len(), 1);
        assert_eq!(*asked.borrow(), ["a.example.com."]);
        let none = |_: Svc, _: &str, _: Value| -> Result<Value, CallError> { Ok(json!({ "ResourceRecordSets": [] })) };
        assert!(before(&none, &i, Look::Before).unwrap().is_none());
    }
}
