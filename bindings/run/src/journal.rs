//! The journal of a run: one JSON object per line in `<dir>/<run-id>.jsonl`.
//!
//! Records, in order: `start` (file, parameters, profile, region, endpoint), then for every write an
//! `intent` (written and synced to disk before the request leaves) and an `outcome` (request id,
//! duration, error code, or what it created and how to undo it), and `end`. A run that was killed
//! has an `intent` without its `outcome` and no `end`: the journal still tells which call was in
//! flight.
//!
//! A record may carry `events`: what took time since the record before, for the run's timeline
//! (`show --timeline`): each request sent (`kind` read or write, `what` the function, `t` its start
//! in milliseconds since the Unix epoch, `ms` how long it took, `n` the SDK's attempts when more
//! than one, `error` its code, `at` the runbook line, `seq` a write's), each waiter's polls as one
//! `wait` (`n` polls, `detail` the last state seen), each pause before a retry while AWS catches up
//! (`retry`, with its reason), and each wait for a lock another run holds (`lock`). They ride on
//! the next record (no record or store object of their own; a killed run loses those since its
//! last record); a long stretch without records gets an `events` record of its own every 500.

use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where journals go unless `--journal-dir` or `RUNBOOK_JOURNAL_DIR` says otherwise.
pub const DEFAULT_DIR: &str = ".runbook/runs";

pub fn dir(flag: Option<&Path>) -> PathBuf {
    match flag {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("RUNBOOK_JOURNAL_DIR").map(PathBuf::from).unwrap_or_else(|| DEFAULT_DIR.into()),
    }
}

/// A new run id: UTC time to the second, sortable, plus six random hex digits.
pub fn new_run_id() -> String {
    let stamp: String = now().chars().filter(char::is_ascii_alphanumeric).collect();
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    // Six hex digits: runs started in the same second (a test suite starts dozens) must not collide.
    format!("{}-{:06x}", stamp.trim_end_matches('Z').to_lowercase(), random & 0xff_ffff)
}

/// Milliseconds since the Unix epoch: orders runs started within one second.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The current UTC time as `2026-11-24T09:05:12Z`.
pub fn now() -> String {
    utc(SystemTime::now())
}

/// A time as `2026-11-24T09:05:12Z` (UTC, to the second).
pub fn utc(at: SystemTime) -> String {
    aws_smithy_types::DateTime::from(at)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .map(|s| match s.split_once('.') {
            Some((secs, _)) => format!("{secs}Z"),
            None => s,
        })
        .unwrap_or_default()
}

pub struct Journal {
    path: PathBuf,
    file: File,
    /// The S3 store this folder caches, the run id, and how many records it holds.
    store: Option<(std::sync::Arc<super::store::S3Store>, String, u64)>,
}

impl Journal {
    /// Creates the journal file of a new run (and its folder).
    pub fn create(dir: &Path, run_id: &str) -> Result<Journal, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the journal folder {}: {e}", dir.display()))?;
        let path = dir.join(format!("{run_id}.jsonl"));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("cannot create the journal {}: {e}", path.display()))?;
        let store = super::store::of(dir).map(|s| (s, run_id.to_string(), 0));
        Ok(Journal { path, file, store })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. With `sync`, returns only once it is on disk, and in the journal store
    /// when the folder caches one.
    pub fn append(&mut self, record: &Value, sync: bool) -> Result<(), String> {
        let mut line = runbook_bindings::secrets::redact(&record.to_string()).into_owned();
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) })
            .map_err(|e| format!("cannot write the journal {}: {e}", self.path.display()))?;
        if let Some((store, run, n)) = &mut self.store {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            // No request waits for the start record: it reaches the store while the run goes on.
            let wait = sync && record["type"] != "start";
            store.append(run, *n, line.trim_end(), dir, wait);
            *n += 1;
        }
        Ok(())
    }

    /// Why this journal's records stopped reaching its store, if they did, once every record sent
    /// so far has arrived or failed.
    pub fn store_failure(&self) -> Option<String> {
        let (store, _, _) = self.store.as_ref()?;
        store.flush(self.path.parent().unwrap_or(Path::new(".")));
        store.failure()
    }
}

/// The records of a run. A last line cut short by a crash is left out.
pub fn read(dir: &Path, run_id: &str) -> Result<Vec<Value>, String> {
    let path = find(dir, run_id)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// The lines of a run's journal (numbered from 1) that are not records, other than a last line cut
/// short by a crash: a journal damaged since it was written, which a reader must not take whole.
pub fn damaged(dir: &Path, run_id: &str) -> Vec<usize> {
    let Ok(text) = find(dir, run_id).and_then(|p| std::fs::read_to_string(&p).map_err(|e| e.to_string())) else {
        return vec![];
    };
    let lines: Vec<&str> = text.lines().collect();
    let cut_short = |i: usize| i + 1 == lines.len() && !text.ends_with('\n');
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| serde_json::from_str::<Value>(l).map_or(true, |v| !v.is_object()) && !cut_short(*i))
        .map(|(i, _)| i + 1)
        .collect()
}

/// The run that undid `id` completely, if one did. Undoing again would remove whatever has since
/// been made under the same names (a cluster's ARN is its name), so a finished undo is final.
pub fn undone_by(dir: &Path, id: &str) -> Option<String> {
    list_ids(dir).ok()?.into_iter().rev().find(|other| undoes(&read_exact(dir, other).unwrap_or_default(), id))
}

/// [`undone_by`] of journals read already.
pub fn undone_by_in(all: &[(String, Vec<Value>)], id: &str) -> Option<String> {
    all.iter().rev().find(|(_, records)| undoes(records, id)).map(|(other, _)| other.clone())
}

/// Whether a run's start record says it is an undo.
pub fn is_undo(start: &Value) -> bool {
    start["mode"] == "undo" || !start["undo_of"].is_null()
}

/// Whether a journal is a finished undo of `id`.
fn undoes(records: &[Value], id: &str) -> bool {
    let start = records.iter().find(|r| r["type"] == "start");
    let end = records.iter().rev().find(|r| r["type"] == "end");
    start.is_some_and(|s| s["undo_of"] == id) && end.is_some_and(|e| e["outcome"] == "succeeded")
}

/// The ids of the runs a finished undo undid.
pub fn undone_ids(dir: &Path) -> std::collections::HashSet<String> {
    undone_in(&read_all(dir))
}

/// Every journal of a folder, each read once, oldest first: what a listing works from.
pub fn read_all(dir: &Path) -> Vec<(String, Vec<Value>)> {
    list_ids(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| Some((id.clone(), read_exact(dir, &id).ok()?)))
        .collect()
}

/// [`undone_ids`] of journals read already.
pub fn undone_in(all: &[(String, Vec<Value>)]) -> std::collections::HashSet<String> {
    all.iter()
        .filter_map(|(_, records)| {
            let of = records.first()?["undo_of"].as_str()?.to_string();
            let end = records.iter().rev().find(|r| r["type"] == "end")?;
            (end["outcome"] == "succeeded").then_some(of)
        })
        .collect()
}

/// The id `run_id` names: itself, the one run it is a unique prefix of, or `last`.
pub fn resolve_id(dir: &Path, run_id: &str) -> Result<String, String> {
    let path = find(dir, run_id)?;
    Ok(path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
}

/// The records of the run with exactly this id.
pub fn read_exact(dir: &Path, run_id: &str) -> Result<Vec<Value>, String> {
    let path = dir.join(format!("{run_id}.jsonl"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// The runs a fleet's journal names, in the order they started.
pub fn children(records: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| r["type"] == "child") {
        if let Some(id) = r["run"].as_str() {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// How many writes a run made; a fleet's are its targets' together.
pub fn writes_of(dir: &Path, records: &[Value]) -> usize {
    if records.first().is_some_and(|r| r["kind"] == "fleet") {
        return children(records).iter().map(|c| read_exact(dir, c).map(|r| writes_of(dir, &r)).unwrap_or(0)).sum();
    }
    changing(records)
}

/// A run's writes that changed something (or may have): each intent, less those whose outcome says
/// the value held already or that AWS refused it (a failure whose outcome is known).
pub fn changing(records: &[Value]) -> usize {
    let settled: std::collections::HashSet<u64> = records
        .iter()
        .filter(|r| r["type"] == "outcome")
        .filter(|r| r["unchanged"] == true || (r["ok"] == false && r["unknown"] != true))
        .filter_map(|r| r["seq"].as_u64())
        .collect();
    records.iter().filter(|r| r["type"] == "intent" && !r["seq"].as_u64().is_some_and(|s| settled.contains(&s))).count()
}

/// The fleet a journal is a shard of.
pub fn fleet_of(records: &[Value]) -> Option<&str> {
    let start = records.first()?;
    (start["kind"] == "fleet" && start["mode"] != "undo").then(|| start["fleet_id"].as_str()).flatten()
}

/// The run `undo last` means: the newest one that wrote something, is not an undo nor one target
/// of a fleet (its fleet is), and has not been undone. A shard of a fleet gives its fleet's id.
pub fn last_to_undo(dir: &Path) -> Result<String, String> {
    let ids = list_ids(dir)?;
    if ids.is_empty() {
        return Err(no_runs(dir));
    }
    let undone = undone_ids(dir);
    for id in ids.iter().rev() {
        let records = read_exact(dir, id).unwrap_or_default();
        let Some(start) = records.first() else { continue };
        if !start["undo_of"].is_null() || !start["parent"].is_null() || start["mode"] == "undo" {
            continue;
        }
        // A shard is undone with its fleet, and `last` is the fleet.
        let fleet = fleet_of(&records);
        if writes_of(dir, &records) == 0 || undone.contains(id) || fleet.is_some_and(|f| undone.contains(f)) {
            continue;
        }
        return Ok(fleet.unwrap_or(id).to_string());
    }
    Err(format!("no run in {} wrote anything that is not undone already (see `runbook runs`)", dir.display()))
}

/// The journal of `run_id`, which may be shortened to any unique prefix, or `last`.
fn find(dir: &Path, run_id: &str) -> Result<PathBuf, String> {
    let ids = list_ids(dir)?;
    if run_id == "last" {
        // The newest run of a runbook or the REPL; an undo is not what `undo last` means.
        return ids
            .iter()
            .rev()
            .map(|id| dir.join(format!("{id}.jsonl")))
            .find(|path| {
                let first = std::fs::read_to_string(path).ok().and_then(|t| t.lines().next().map(str::to_string));
                // Nor is one target of a fleet: `last` is the fleet.
                first
                    .and_then(|l| serde_json::from_str::<Value>(&l).ok())
                    .is_some_and(|r| r["undo_of"].is_null() && r["parent"].is_null())
            })
            .ok_or_else(|| no_runs(dir));
    }
    let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(run_id)).collect();
    match matches.as_slice() {
        [one] => Ok(dir.join(format!("{one}.jsonl"))),
        [] => Err(format!("no run {run_id:?} in {} (see `runbook runs`)", dir.display())),
        many => Err(format!(
            "{run_id:?} matches {} runs in {}: {}",
            many.len(),
            dir.display(),
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn no_runs(dir: &Path) -> String {
    format!("no runs recorded in {}", dir.display())
}

/// The ids of the recorded runs, oldest first.
pub fn list_ids(dir: &Path) -> Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read the journal folder {}: {e}", dir.display())),
    };
    let ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".jsonl")).map(str::to_string))
        .collect();
    // Ids sort by the second a run started; runs of one second by the milliseconds their start
    // records give (the ids' random parts say nothing of order).
    let mut keyed: Vec<(String, u64, String)> = ids
        .into_iter()
        .map(|id| {
            let ms = started_ms(&dir.join(format!("{id}.jsonl")));
            (id.chars().take(15).collect(), ms, id)
        })
        .collect();
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, _, id)| id).collect())
}

/// The `started_ms` of a journal's start record (0 for journals written before it was kept).
fn started_ms(path: &Path) -> u64 {
    use std::io::BufRead;
    let Ok(file) = File::open(path) else { return 0 };
    let mut first = String::new();
    let _ = std::io::BufReader::new(file).read_line(&mut first);
    serde_json::from_str::<Value>(&first).ok().and_then(|r| r["started_ms"].as_u64()).unwrap_or(0)
}

/// One line of `runbook runs`.
pub struct RunSummary {
    pub id: String,
    pub file: String,
    pub started: String,
    pub outcome: String,
    pub writes: usize,
    /// Writes the operator skipped at a `--step` prompt: a run with some did not find everything
    /// done.
    pub skipped: usize,
    pub region: String,
    /// The endpoint the run sent to, or `AWS` when it used AWS's own.
    pub endpoint: String,
}

/// One line of `runbook runs` for the run `id`, whose journal is in `dir` (a fleet's targets are
/// read for its writes and endpoint); a run undone since says `undone`.
pub fn summarize_in(dir: &Path, id: &str, records: &[Value], undone: &std::collections::HashSet<String>) -> RunSummary {
    let mut s = summarize(id, records);
    if records.first().is_some_and(|r| r["kind"] == "fleet") {
        s.writes = writes_of(dir, records);
        // Where the targets really sent: their own start records know the endpoint in force.
        if let Some(e) = children(records)
            .iter()
            .find_map(|c| read_exact(dir, c).ok()?.first()?["endpoint"].as_str().map(str::to_string))
        {
            s.endpoint = e;
        }
    }
    if s.writes > 0 && undone.contains(id) {
        s.outcome = "undone".into();
    }
    s
}

pub fn summarize(id: &str, records: &[Value]) -> RunSummary {
    let start = records.iter().find(|r| r["type"] == "start");
    let end = records.iter().rev().find(|r| r["type"] == "end");
    let writes = changing(records);
    // A fleet: its targets' outcomes in place of a region.
    if start.is_some_and(|s| s["kind"] == "fleet") {
        let targets = start.and_then(|s| s["targets"].as_array()).map(Vec::len).unwrap_or(0);
        let outcome = end.and_then(|e| e["outcome"].as_str()).unwrap_or("unfinished").to_string();
        let file = start.and_then(|s| s["file"].as_str()).unwrap_or("?");
        let what = if start.is_some_and(|s| s["mode"] == "undo") {
            let undone = end.and_then(|e| e["succeeded"].as_u64()).unwrap_or(0);
            format!("(fleet: {undone} of {targets} targets undone)")
        } else {
            let succeeded = end.and_then(|e| e["succeeded"].as_u64()).unwrap_or(0);
            format!("(fleet: {succeeded} of {targets} targets succeeded)")
        };
        // One region for all targets is named; several are `many`.
        let mut regions: Vec<&str> = start
            .and_then(|s| s["targets"].as_array())
            .into_iter()
            .flatten()
            .map(|t| t["target"]["region"].as_str().unwrap_or("?"))
            .collect();
        regions.dedup();
        let region = match regions.as_slice() {
            [one] => one.to_string(),
            _ => "many".into(),
        };
        return RunSummary {
            id: id.to_string(),
            file: format!("{file} {what}"),
            started: start.and_then(|s| s["time"].as_str()).unwrap_or("?").to_string(),
            outcome,
            writes: 0,
            skipped: 0,
            region,
            endpoint: start.and_then(|s| s["endpoint"].as_str()).unwrap_or("AWS").to_string(),
        };
    }
    let outcome = match end {
        Some(e) => e["outcome"].as_str().unwrap_or("?").to_string(),
        None => "unfinished".to_string(),
    };
    let text = |v: Option<&Value>, k: &str| v.and_then(|r| r[k].as_str()).unwrap_or("?").to_string();
    let endpoint = match start.map(|r| &r["endpoint"]) {
        Some(Value::String(e)) => e.clone(),
        Some(Value::Null) => "AWS".to_string(),
        _ => "?".to_string(),
    };
    RunSummary {
        id: id.to_string(),
        file: text(start, "file"),
        started: text(start, "time"),
        outcome,
        writes,
        skipped: records.iter().filter(|r| r["type"] == "skipped").count(),
        region: text(start, "region"),
        endpoint,
    }
}

/// A write's place away from home (its intent's `place`) as people read it: `eu-west-1`, or
/// `111111111111/eu-west-1` in another account.
pub fn place_text(place: &Value) -> Option<String> {
    let region = place["region"].as_str()?;
    Some(match (place["account"].as_str(), place["role"].as_str()) {
        (Some(a), Some(_)) => format!("{a}/{region}"),
        _ => region.to_string(),
    })
}

/// Whether a parameter's name suggests that its value is a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["secret", "password", "passwd", "token", "credential", "private", "apikey", "api_key"]
        .iter()
        .any(|w| n.contains(w))
}

/// A parameter's value as the journal keeps it: masked when its name suggests a secret.
pub fn param_value(name: &str, value: &str) -> Value {
    if secret_name(name) {
        json!("<masked>")
    } else {
        json!(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time_and_differ() {
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), "20261124t090512-3f9a0c".len(), "{a}");
        assert_eq!(a[..15], b[..15].to_string()[..15]);
        assert!(now().ends_with('Z'));
    }

    #[test]
    fn a_cut_last_line_is_ignored_and_prefixes_resolve() {
        let dir = std::env::temp_dir().join(format!("runbook-journal-test-{}", std::process::id()));
        let mut j = Journal::create(&dir, "20260101t000000-aaaa").unwrap();
        j.append(&json!({"type": "start", "file": "x.rhai", "time": "t"}), true).unwrap();
        j.append(&json!({"type": "intent", "seq": 1}), true).unwrap();
        std::fs::OpenOptions::new().append(true).open(j.path()).unwrap().write_all(b"{\"type\":\"outc").unwrap();
        let records = read(&dir, "20260101").unwrap();
        assert_eq!(records.len(), 2);
        let s = summarize("x", &records);
        assert_eq!((s.outcome.as_str(), s.writes), ("unfinished", 1));
        assert!(read(&dir, "2025").unwrap_err().contains("no run"));
        assert!(Journal::create(&dir, "20260101t000000-aaaa").is_err(), "a journal is never overwritten");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secret_looking_parameters_are_masked() {
        assert_eq!(param_value("db_password", "hunter2"), json!("<masked>"));
        assert_eq!(param_value("cluster", "c1"), json!("c1"));
    }
}
