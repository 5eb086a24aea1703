//! The shards of one fleet, read as one fleet journal.
//!
//! A fleet split over several processes (`--shard I/N`, on as many machines) has one journal per
//! shard: a fleet journal whose start record names the fleet (`fleet_id`) and the shard
//! (`shard: [I, N]`), lists every target of the fleet, and records the children of its own part.
//! [`gather`] reads them as one: `runs`, `show` and `undo` take the fleet id where they take a run
//! id. Each child record carries its target's entry from its own shard's start, so a fleet whose
//! shards read different targets files still undoes every child where it ran.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub use crate::journal::fleet_of;

/// Whether `text` may name a fleet: letters, digits, `.`, `_` and `-`, at most 100.
pub fn check_id(text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 100
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "fleet id {text:?}: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ))
    }
}

/// The shard journals of each fleet in `dir`, by fleet id, each list oldest first.
pub fn all(dir: &Path) -> BTreeMap<String, Vec<(String, Vec<Value>)>> {
    all_in(&super::journal::read_all(dir))
}

/// [`all`] of journals read already.
pub fn all_in(journals: &[(String, Vec<Value>)]) -> BTreeMap<String, Vec<(String, Vec<Value>)>> {
    let mut fleets: BTreeMap<String, Vec<(String, Vec<Value>)>> = BTreeMap::new();
    for (id, records) in journals {
        if let Some(fleet) = fleet_of(records).map(str::to_string) {
            fleets.entry(fleet).or_default().push((id.clone(), records.clone()));
        }
    }
    fleets
}

/// The shard journals of the fleet `fleet`, oldest first; empty when no journal names it.
pub fn shards(dir: &Path, fleet: &str) -> Vec<(String, Vec<Value>)> {
    all(dir).remove(fleet).unwrap_or_default()
}

/// The fleet `fleet` as one fleet journal, or `None` when no shard of it is recorded.
pub fn gather(dir: &Path, fleet: &str) -> Option<Vec<Value>> {
    let shards = shards(dir, fleet);
    merge(fleet, &shards)
}

/// Shard journals as one: the first shard's start (its targets are the fleet's), every shard's
/// child records, and an end once every shard has ended.
pub fn merge(fleet: &str, shards: &[(String, Vec<Value>)]) -> Option<Vec<Value>> {
    let first = shards.first()?.1.first()?;
    let count = shards.iter().filter_map(|(_, r)| r[0]["shard"][1].as_u64()).max().unwrap_or(1);
    let seen: std::collections::BTreeSet<u64> = shards.iter().filter_map(|(_, r)| r[0]["shard"][0].as_u64()).collect();
    let missing: Vec<u64> = (1..=count).filter(|i| !seen.contains(i)).collect();
    let mut start = first.clone();
    start["run"] = json!(fleet);
    // By shard, a re-run after the shard it repeats.
    let mut runs: Vec<(u64, Value)> = shards
        .iter()
        .map(|(id, r)| {
            let at = r[0]["shard"][0].as_u64().unwrap_or(u64::MAX);
            (at, json!({ "run": id, "shard": r[0]["shard"], "ended": r.iter().any(|x| x["type"] == "end") }))
        })
        .collect();
    runs.sort_by_key(|(at, _)| *at);
    start["shard_runs"] = json!(runs.into_iter().map(|(_, r)| r).collect::<Vec<_>>());
    start["shard_count"] = json!(count);
    start["missing_shards"] = json!(missing);
    if let Some(o) = start.as_object_mut() {
        o.remove("shard");
    }
    let mut out = vec![start];
    let mut last_status: BTreeMap<String, String> = BTreeMap::new();
    let mut ended = true;
    let mut interrupted = false;
    let mut time = String::new();
    let mut body: Vec<(u64, Value)> = Vec::new();
    for (shard_run, records) in shards {
        let targets = records[0]["targets"].as_array().cloned().unwrap_or_default();
        let shard_ms = records[0]["started_ms"].as_u64().unwrap_or(0);
        let mut started_ms: BTreeMap<String, u64> = BTreeMap::new();
        for r in records.iter().filter(|r| r["type"] == "child" || r["type"] == "child_end") {
            let mut r = r.clone();
            let run = r["run"].as_str().unwrap_or("").to_string();
            if r["type"] == "child" {
                if let Some(entry) = r["index"].as_u64().and_then(|i| targets.get(i as usize)) {
                    r["entry"] = entry.clone();
                }
                // The shard that started it: its slots are that process's own.
                r["shard_run"] = json!(shard_run);
                started_ms.insert(run.clone(), r["time_ms"].as_u64().unwrap_or(shard_ms));
            } else if let Some(label) = r["target"].as_str() {
                last_status.insert(label.to_string(), r["status"].as_str().unwrap_or("?").to_string());
            }
            body.push((started_ms.get(&run).copied().unwrap_or(shard_ms), r));
        }
        match records.iter().rev().find(|r| r["type"] == "end") {
            Some(end) => {
                interrupted |= end["outcome"] == "interrupted";
                time = time.max(end["time"].as_str().unwrap_or("").to_string());
            }
            None => ended = false,
        }
    }
    // Children of all shards in the order they started: undo goes newest first in each place.
    body.sort_by_key(|(ms, _)| *ms);
    out.extend(body.into_iter().map(|(_, r)| r));
    if ended {
        let total = out[0]["targets"].as_array().map(Vec::len).unwrap_or(0);
        let succeeded = last_status.values().filter(|s| *s == "succeeded").count();
        let outcome = if interrupted {
            "interrupted"
        } else if !missing.is_empty() {
            "incomplete"
        } else if succeeded == total {
            "succeeded"
        } else {
            "failed"
        };
        out.push(json!({ "type": "end", "time": time, "outcome": outcome, "targets": total,
                         "succeeded": succeeded, "failed": total - succeeded }));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(i: u64, n: u64, children: &[(usize, &str, &str, &str)], end: bool) -> Vec<Value> {
        let targets: Vec<Value> = ["a/us-east-1", "b/us-east-1", "c/eu-west-1"]
            .iter()
            .map(|l| json!({ "label": l, "target": { "account": &l[..1], "region": &l[2..] } }))
            .collect();
        let mut r = vec![json!({ "type": "start", "run": format!("s{i}"), "kind": "fleet", "mode": "run",
                                 "fleet_id": "deploy-7", "shard": [i, n], "targets": targets })];
        for (index, label, run, status) in children {
            r.push(json!({ "type": "child", "target": label, "index": index, "run": run }));
            r.push(json!({ "type": "child_end", "target": label, "index": index, "run": run, "status": status }));
        }
        if end {
            r.push(json!({ "type": "end", "time": format!("2026-12-02T10:0{i}:00Z"), "outcome": "succeeded" }));
        }
        r
    }

    #[test]
    fn shards_read_as_one_fleet_with_each_child_where_its_shard_put_it() {
        let one = shard(1, 2, &[(0, "a/us-east-1", "c1", "succeeded"), (2, "c/eu-west-1", "c3", "failed")], true);
        let two = shard(2, 2, &[(1, "b/us-east-1", "c2", "succeeded")], true);
        assert_eq!(fleet_of(&one), Some("deploy-7"));
        let m = merge("deploy-7", &[("s1".into(), one.clone()), ("s2".into(), two.clone())]).unwrap();
        assert_eq!(m[0]["run"], "deploy-7");
        assert_eq!(m[0]["shard_count"], 2);
        let entries: Vec<&Value> = m.iter().filter(|r| r["type"] == "child").map(|r| &r["entry"]["target"]).collect();
        assert_eq!(entries[2]["account"], "b", "shard 2's child takes its target from shard 2's start");
        let end = m.last().unwrap();
        assert_eq!(
            (end["outcome"].as_str(), end["succeeded"].as_u64(), end["failed"].as_u64()),
            (Some("failed"), Some(2), Some(1))
        );

        // A re-run of shard 1 that succeeded where the first failed: the newest status counts.
        let again = shard(1, 2, &[(2, "c/eu-west-1", "c4", "succeeded")], true);
        let m = merge("deploy-7", &[("s1".into(), one.clone()), ("s2".into(), two), ("s3".into(), again)]).unwrap();
        assert_eq!(m.last().unwrap()["outcome"], "succeeded");

        // One shard of two reported: incomplete, and which is missing is said.
        let m = merge("deploy-7", &[("s1".into(), one.clone())]).unwrap();
        assert_eq!(m[0]["missing_shards"], json!([2]));
        assert_eq!(m.last().unwrap()["outcome"], "incomplete");
        // A shard still running (no end): the fleet has no end yet.
        let running = shard(2, 2, &[], false);
        let m = merge("deploy-7", &[("s1".into(), one), ("s2".into(), running)]).unwrap();
        assert!(m.iter().all(|r| r["type"] != "end"));

        assert!(check_id("github-123.4_x").is_ok());
        assert!(check_id("-x").is_err() && check_id("a/b").is_err() && check_id("").is_err());
    }
}
