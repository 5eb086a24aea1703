//! Drift: what a run made or changed, read now and compared with what its writes set. Each
//! resource is in sync, changed (member by member), gone, or cannot be read back; a change that a
//! later run's write made is that run's, not drift. Reads only: the reader refuses any operation
//! the models do not mark read-only.

use super::kinds::{self, Difference, Fact, Standing};
use super::since::{collect, names, place_of};
use super::undo::Away;
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// One resource a run made or changed, and where it stands now.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `account/region`.
    pub place: String,
    pub what: String,
    pub id: String,
    /// The run's writes that made or changed it: `{ seq, function, at }`.
    pub writes: Vec<Value>,
    pub state: State,
}

/// A member not as the run set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub diff: Difference,
    /// The later run that set it to what it is now, when one did.
    pub by: Option<String>,
    /// Every later run that set it since (to this value or another): running this run again puts
    /// its value back over theirs.
    pub since: Vec<String>,
    /// The run's write that set it: `{ seq, function, at }`.
    pub write: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    InSync,
    /// Members that are not as the run set them, each with the later run that set it so, when one
    /// did (then it is that run's change, not drift).
    Changed(Vec<Change>),
    /// Not there; with the later run that removed it, when one did.
    Gone(Option<String>),
    /// Not there, and a later run's same step (the same runbook line) made another in its place:
    /// a re-run after it was deleted.
    Replaced {
        run: String,
        id: String,
    },
    /// The run took it away, and it is there again; with the later run that made it, when one did.
    Back(Option<String>),
    /// Why what the write did cannot be read back.
    NotRead(String),
    /// Reading it failed: the code and message.
    Failed(String),
}

impl Resource {
    /// Whether it is not as the run (or a later run) left it.
    pub fn drifted(&self) -> bool {
        match &self.state {
            State::Changed(d) => d.iter().any(|c| c.by.is_none()),
            State::Gone(by) | State::Back(by) => by.is_none(),
            State::Replaced { .. } => false,
            _ => false,
        }
    }

    /// `in sync`, `changed`, `gone`, `back`, `changed by a later run`, `not read back`, `failed`.
    pub fn word(&self) -> &'static str {
        match &self.state {
            State::InSync => "in sync",
            State::Changed(_) if !self.drifted() => "changed by a later run",
            State::Gone(Some(_)) => "removed by a later run",
            State::Back(Some(_)) => "made again by a later run",
            State::Replaced { .. } => "made anew by a later run",
            State::Changed(_) => "changed",
            State::Gone(None) => "gone",
            State::Back(None) => "back",
            State::NotRead(_) => "not read back",
            State::Failed(_) => "failed",
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "place": self.place, "kind": self.what, "id": self.id, "state": self.word().replace(' ', "_"),
                            "writes": self.writes });
        match &self.state {
            State::Changed(d) => {
                v["changes"] = json!(d
                    .iter()
                    .map(|c| {
                        let mut j = c.diff.to_json();
                        j["by"] = json!(c.by);
                        j["set_at"] = c.write["at"].clone();
                        j
                    })
                    .collect::<Vec<_>>())
            }
            State::Gone(by) | State::Back(by) => v["by"] = json!(by),
            State::Replaced { run, id } => {
                v["by"] = json!(run);
                v["replaced_by"] = json!(id);
            }
            State::NotRead(why) | State::Failed(why) => v["reason"] = json!(why),
            State::InSync => {}
        }
        v
    }
}

/// Reads for drift: each read once per place (several runs and writes name the same thing), and
/// only reads.
pub struct Reader<'a> {
    ctx: &'a Context,
    answers: RefCell<HashMap<String, Result<Value, CallError>>>,
    /// Every read sent: `service::Operation`, for the policy drift needs.
    pub sent: RefCell<Vec<String>>,
}

impl<'a> Reader<'a> {
    pub fn new(ctx: &'a Context) -> Reader<'a> {
        Reader { ctx, answers: RefCell::new(HashMap::new()), sent: RefCell::new(Vec::new()) }
    }

    fn read(&self, svc: Svc, op: &str, input: Value) -> Result<Value, CallError> {
        let readonly = svc.table().ok().and_then(|t| t.operations.get(op).map(|o| o.readonly));
        if readonly != Some(true) {
            return Err(CallError::Validation {
                service: svc.module().into(),
                operation: op.into(),
                problems: vec![format!("drift only reads, and {op} is not a read")],
            });
        }
        let key = format!("{}|{}|{op}|{input}", self.ctx.place_key(), svc.module());
        if let Some(answer) = self.answers.borrow().get(&key) {
            return answer.clone();
        }
        let name = format!("{}::{op}", svc.module());
        if !self.sent.borrow().contains(&name) {
            self.sent.borrow_mut().push(name);
        }
        let answer = super::reconcile::read(self.ctx, svc, op, input);
        self.answers.borrow_mut().insert(key, answer.clone());
        answer
    }
}

/// One fact of one write, or why there is none.
#[derive(Debug, Clone)]
struct Got {
    place: String,
    write: Value,
    what: Result<Fact, (String, String, State)>,
}

/// What a run's writes made or set, read now: a fact per resource and write, in write order. With
/// `only`, the writes that name none of those ids are left out (a later run's other resources).
fn facts(reader: &Reader, records: &[Value], only: Option<&[String]>) -> Vec<Got> {
    let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
    let mut out = Vec::new();
    for intent in records.iter().filter(|r| r["type"] == "intent") {
        let (Some(svc), Some(op)) = (intent["service"].as_str().and_then(Svc::by_module), intent["operation"].as_str())
        else {
            continue;
        };
        let outcome = records.iter().find(|r| r["type"] == "outcome" && r["seq"] == intent["seq"]);
        if let Some(ids) = only {
            let mut strings = Vec::new();
            collect(&intent["input"], &mut strings);
            if let Some(o) = outcome {
                collect(&o["created"], &mut strings);
            }
            if !strings.iter().any(|s| ids.iter().any(|id| names(s, id) || names(id, s))) {
                continue;
            }
        }
        let place = place_of(&start, intent);
        let write = json!({ "seq": intent["seq"], "function": intent["function"], "at": intent["at"] });
        let outcome = match outcome {
            Some(o) if o["unknown"] != true => o,
            // Killed, or its answer never came: whether it was done is not known from here.
            _ => {
                let what = intent["function"].as_str().unwrap_or(op).to_string();
                let why = "it was in flight when the run ended, so whether it was done is not known; \
                           `runbook undo` settles it by looking, `runbook show` lists it";
                let id = format!("write {}", intent["seq"]);
                out.push(Got { place, write, what: Err((what, id, State::Failed(why.into()))) });
                continue;
            }
        };
        if outcome["ok"] != true {
            continue;
        }
        // What a run took away is not a thing it made or changed.
        if kinds::removes(op) && kinds::of(svc, op).is_none() {
            continue;
        }
        let function = intent["function"].as_str().unwrap_or(op).to_string();
        let created: Vec<(String, String)> = outcome["created"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["restores"] != true)
            .filter_map(|c| Some((c["kind"].as_str()?.to_string(), c["id"].as_str()?.to_string())))
            .collect();
        // A state for each thing the write made, or for the write itself when it names none.
        let each = |state: State| -> Vec<Got> {
            let named = match created.is_empty() {
                true => vec![(function.clone(), format!("write {}", intent["seq"]))],
                false => created.clone(),
            };
            let got = |(what, id): (String, String)| Got {
                place: place.clone(),
                write: write.clone(),
                what: Err((what, id, state.clone())),
            };
            named.into_iter().map(got).collect()
        };
        let Some(kind) = kinds::of(svc, op) else {
            let why = format!(
                "runbook has no catalogue entry for {}::{op}, so it cannot read back what it did",
                svc.module()
            );
            out.extend(each(State::NotRead(why)));
            continue;
        };
        if !kind.readable() {
            let why = kind
                .unread
                .map(str::to_string)
                .unwrap_or_else(|| format!("runbook does not know how to read back what {}::{op} made", svc.module()));
            out.extend(each(State::NotRead(why)));
            continue;
        }
        let read = |s: Svc, o: &str, i: Value| reader.read(s, o, i);
        let got =
            Away::enter(reader.ctx, &intent["place"]).and_then(|_away| kind.facts(&read, &intent["input"], &created));
        match got {
            Ok(facts) => {
                out.extend(facts.into_iter().map(|f| Got { place: place.clone(), write: write.clone(), what: Ok(f) }))
            }
            Err(e) => out.extend(each(State::Failed(format!("{}: {e}", e.code())))),
        }
    }
    out
}

/// A resource's facts of one run, in write order.
struct Merged {
    place: String,
    what: String,
    id: String,
    writes: Vec<Value>,
    /// Each fact with its write.
    facts: Vec<(Fact, Value)>,
    other: Option<State>,
}

impl Merged {
    /// Where it stands: each member as the newest of the run's writes that set it reads it back
    /// (each write's read names members as that write gave them); gone or back as the newest says.
    #[cfg(test)]
    fn standing(&self) -> Option<Standing> {
        self.changes().map(|(standing, _)| standing)
    }

    /// Where it stands, and for each member not as written, the write that set it.
    fn changes(&self) -> Option<(Standing, Vec<Value>)> {
        let (last, _) = self.facts.last()?;
        match last.standing() {
            Standing::Gone => return Some((Standing::Gone, vec![])),
            Standing::Back => return Some((Standing::Back, vec![])),
            _ if last.wrote.is_none() => return Some((Standing::InSync, vec![])),
            _ => {}
        }
        let (mut diffs, mut by) = (Vec::new(), Vec::new());
        for (i, (f, write)) in self.facts.iter().enumerate() {
            let Standing::Changed(mine) = f.standing() else { continue };
            let newer = &self.facts[i + 1..];
            for d in mine {
                if !newer.iter().any(|(n, _)| n.wrote.as_ref().is_some_and(|w| at_path(w, &d.member).is_some())) {
                    diffs.push(d);
                    by.push(write.clone());
                }
            }
        }
        Some(if diffs.is_empty() { (Standing::InSync, vec![]) } else { (Standing::Changed(diffs), by) })
    }

    /// The value the newest of its writes set at `member`.
    fn set_at(&self, member: &str) -> Option<&Value> {
        self.facts.iter().rev().find_map(|(f, _)| at_path(f.wrote.as_ref()?, member))
    }

    /// Whether it is the resource `what` `id` in `place`: by the same id, or by a name its ARN
    /// ends with (an update names a service by name, its create's answer by ARN).
    fn is(&self, place: &str, what: &str, id: &str) -> bool {
        self.place == place && self.what == what && (self.id == id || names(id, &self.id) || names(&self.id, id))
    }
}

fn merge(got: Vec<Got>) -> Vec<Merged> {
    let mut out: Vec<Merged> = Vec::new();
    for g in got {
        let (what, id) = match &g.what {
            Ok(f) => (f.what.clone(), f.id.clone()),
            Err((what, id, _)) => (what.clone(), id.clone()),
        };
        let i = match out.iter().position(|m| m.is(&g.place, &what, &id)) {
            Some(i) => i,
            None => {
                out.push(Merged { place: g.place.clone(), what, id, writes: vec![], facts: vec![], other: None });
                out.len() - 1
            }
        };
        let m = &mut out[i];
        if !m.writes.contains(&g.write) {
            m.writes.push(g.write.clone());
        }
        match g.what {
            Ok(f) => m.facts.push((f, g.write)),
            Err((_, _, state)) => m.other = Some(state),
        }
    }
    out
}

/// The value at a dotted member path.
fn at_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    // A member named with dots of its own (`tcp 80-80 from 0.0.0.0/0`) is one key.
    v.get(path).or_else(|| path.split('.').try_fold(v, |cur, k| cur.get(k)))
}

/// A later run, its facts merged, and its records.
type Later<'r> = (String, Vec<Merged>, &'r [Value]);

/// The later runs that wrote in one of `places`, newest first, with their facts of the resources
/// `ids` name (only those are read).
fn later_merged<'r>(
    reader: &Reader,
    later: &'r [(String, Vec<Value>)],
    places: &[&str],
    ids: &[String],
) -> Vec<Later<'r>> {
    later
        .iter()
        .rev()
        .filter(|(_, recs)| {
            let start = recs.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
            recs.iter().any(|r| r["type"] == "intent" && places.contains(&place_of(&start, r).as_str()))
        })
        .map(|(id, recs)| (id.clone(), merge(facts(reader, recs, Some(ids))), recs.as_slice()))
        .collect()
}

/// Where a resource stands, and on a security group the run made, the ingress rules it has that
/// no write of the run gave it (added by hand, or by a later run): a group made for a purpose
/// opens no more than its runbook says. (Egress is left alone: AWS gives a new group an
/// allow-all egress rule of its own.)
fn with_rules_added(m: &Merged, mine: &[Merged]) -> Option<(Standing, Vec<Value>)> {
    let (standing, mut by) = m.changes()?;
    let made = m.what == "ingress rules of" && mine.iter().any(|g| g.is(&m.place, "security group", &m.id));
    let now = m.facts.last().and_then(|(f, _)| f.now.as_ref()?.as_object().cloned());
    let (true, Some(now)) = (made, now) else { return Some((standing, by)) };
    let given = |rule: &str| m.facts.iter().any(|(f, _)| f.wrote.as_ref().is_some_and(|w| w.get(rule).is_some()));
    let first = m.writes.first().cloned().unwrap_or_default();
    let mut added = Vec::new();
    for (rule, v) in now.into_iter().filter(|(rule, _)| !given(rule)) {
        added.push(Difference { member: rule, wrote: Value::Null, now: v, added: vec![], removed: vec![] });
        by.push(first.clone());
    }
    Some(match (standing, added.is_empty()) {
        (s, true) => (s, by),
        (Standing::Changed(mut d), false) => {
            d.extend(added);
            (Standing::Changed(d), by)
        }
        (Standing::InSync, false) => (Standing::Changed(added), by),
        (s, false) => (s, vec![]),
    })
}

/// The later run, newest first, that made a thing of the same kind in the same place in the
/// place of `m`, which is gone: by the same step (the same runbook line, with the same names in
/// its input) or under the same name (an ARN that differs only in its last part,
/// `targetgroup/web/<new id>`). Its id, as that run's outcome gives it.
fn replaced(m: &Merged, records: &[Value], later: &[(String, Vec<Value>)]) -> Option<(String, String)> {
    let lines: Vec<&str> = m.writes.iter().filter_map(|w| w["at"].as_str()).filter(|a| !a.is_empty()).collect();
    // The names the write that made it gave (`Name`, `GroupName`, `serviceName` …).
    let names_of = |input: &Value| -> Vec<(String, Value)> {
        let named = |k: &String| k.ends_with("Name") || k.ends_with("name");
        input.as_object().into_iter().flatten().filter(|(k, _)| named(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let seqs: Vec<&Value> = m.writes.iter().map(|w| &w["seq"]).collect();
    let mine =
        records.iter().find(|r| r["type"] == "intent" && seqs.contains(&&r["seq"])).map(|i| names_of(&i["input"]));
    let same_name = |other: &str| match (m.id.rsplit_once('/'), other.rsplit_once('/')) {
        (Some((a, _)), Some((b, _))) => a == b && a.contains('/'),
        _ => false,
    };
    later.iter().rev().find_map(|(run, recs)| {
        let start = recs.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
        succeeded(recs).find_map(|(intent, outcome)| {
            if place_of(&start, intent) != m.place {
                return None;
            }
            let step = intent["at"].as_str().is_some_and(|a| lines.contains(&a))
                && mine.as_ref().is_some_and(|n| *n == names_of(&intent["input"]));
            let made = outcome["created"].as_array()?.iter().find(|c| {
                let id = c["id"].as_str().unwrap_or_default();
                c["kind"] == m.what.as_str() && id != m.id && (step || same_name(id))
            })?;
            Some((run.clone(), made["id"].as_str()?.to_string()))
        })
    })
}

/// The intents of a run's records whose write succeeded, each with its outcome.
fn succeeded(recs: &[Value]) -> impl Iterator<Item = (&Value, &Value)> {
    recs.iter().filter(|r| r["type"] == "intent").filter_map(move |intent| {
        let outcome = recs.iter().find(|o| o["type"] == "outcome" && o["seq"] == intent["seq"] && o["ok"] == true)?;
        Some((intent, outcome))
    })
}

/// The successful writes of a run's records that name `id`, with their input.
fn naming<'a>(recs: &'a [Value], id: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    succeeded(recs).map(|(intent, _)| intent).filter(move |intent| {
        let mut strings = Vec::new();
        collect(&intent["input"], &mut strings);
        strings.iter().any(|s| names(s, id))
    })
}

/// A run's records with what later runs removed left out of what it made: a "not found" about
/// those is no lag to wait out (see `propagation`).
pub fn still_made(records: &[Value], later: &[(String, Vec<Value>)]) -> Vec<Value> {
    let mut removed = Vec::new();
    for (_, recs) in later {
        for (intent, _) in succeeded(recs).filter(|(i, _)| i["operation"].as_str().is_some_and(kinds::removes)) {
            collect(&intent["input"], &mut removed);
        }
    }
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(created) = r["created"].as_array_mut() {
                created.retain(|c| c["id"].as_str().is_none_or(|id| !removed.iter().any(|s| names(s, id))));
            }
            r
        })
        .collect()
}

/// Drift of one run: every resource it made or changed, read now. `later` are the runs that
/// started after it and are neither undos nor undone, oldest first: a change one of them made
/// is attributed to it.
pub fn check(reader: &Reader, records: &[Value], later: &[(String, Vec<Value>)]) -> Vec<Resource> {
    let mine = merge(facts(reader, records, None));
    let places: Vec<&str> = mine.iter().map(|m| m.place.as_str()).collect();
    let ids: Vec<String> = mine.iter().map(|m| m.id.clone()).collect();
    // Later runs in the same places, newest first, read only when something is not as this run
    // left it.
    let mut theirs: Option<Vec<Later>> = None;
    let mut out = Vec::new();
    for m in &mine {
        let state = match (&m.other, with_rules_added(m, &mine)) {
            (Some(state), _) => state.clone(),
            (None, None) => continue,
            (None, Some((standing, set_by))) => match standing {
                Standing::InSync => State::InSync,
                Standing::Changed(diffs) => {
                    let runs = theirs.get_or_insert_with(|| later_merged(reader, later, &places, &ids));
                    // The newest later run that set this member of this resource to the value it
                    // has now: read back by its kind, or given in the input of a write that names
                    // the resource (a write the catalogue cannot read back).
                    let set_since = |d: &Difference| -> Vec<String> {
                        let setter = |(run, merged, recs): &&Later| {
                            let read = merged
                                .iter()
                                .find(|t| t.is(&m.place, &m.what, &m.id))
                                .and_then(|t| t.set_at(&d.member));
                            let given = naming(recs, &m.id).any(|i| at_path(&i["input"], &d.member).is_some());
                            (read.is_some() || given).then(|| run.clone())
                        };
                        runs.iter().filter_map(|r| setter(&r)).collect()
                    };
                    let by = |d: &Difference| -> Option<String> {
                        runs.iter().find_map(|(run, merged, recs)| {
                            let read = merged
                                .iter()
                                .find(|t| t.is(&m.place, &m.what, &m.id))
                                .and_then(|t| t.set_at(&d.member));
                            let given = || naming(recs, &m.id).filter_map(|i| at_path(&i["input"], &d.member)).last();
                            // A member taken away (a tag, a rule) by a later write that removes
                            // from the resource.
                            let removes = |i: &Value| i["operation"].as_str().is_some_and(kinds::removes);
                            if d.now.is_null() && naming(recs, &m.id).any(removes) {
                                return Some(Some(run.clone()));
                            }
                            // A later write of the whole of it (a record upserted anew) whose
                            // values hold now: what it is now is that run's.
                            let theirs = merged.iter().find(|t| t.is(&m.place, &m.what, &m.id));
                            if read.is_none()
                                && theirs.and_then(Merged::changes).is_some_and(|(s, _)| s == Standing::InSync)
                            {
                                return Some(Some(run.clone()));
                            }
                            let set = read.or_else(given)?;
                            Some(kinds::holds(set, &d.now).then(|| run.clone()))
                        })?
                    };
                    let changes = diffs.into_iter().zip(set_by).map(|(d, write)| Change {
                        by: by(&d),
                        since: set_since(&d),
                        diff: d,
                        write,
                    });
                    State::Changed(changes.collect())
                }
                Standing::Gone => {
                    // A later run's successful removal that names it.
                    let runs = theirs.get_or_insert_with(|| later_merged(reader, later, &places, &ids));
                    let by = runs.iter().find_map(|(run, _, recs)| {
                        let removed = naming(recs, &m.id).any(|i| i["operation"].as_str().is_some_and(kinds::removes));
                        removed.then(|| run.clone())
                    });
                    match (by, replaced(m, records, later)) {
                        (None, Some((run, id))) => State::Replaced { run, id },
                        (by, _) => State::Gone(by),
                    }
                }
                Standing::Back => {
                    let runs = theirs.get_or_insert_with(|| later_merged(reader, later, &places, &ids));
                    let by = runs.iter().find_map(|(run, merged, _)| {
                        let theirs = merged.iter().find(|t| t.is(&m.place, &m.what, &m.id))?;
                        theirs.facts.last()?.0.wrote.as_ref().map(|_| run.clone())
                    });
                    State::Back(by)
                }
            },
        };
        out.push(Resource {
            place: m.place.clone(),
            what: m.what.clone(),
            id: m.id.clone(),
            writes: m.writes.clone(),
            state,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_path_reads_a_value() {
        let v = json!({ "A": { "B": 2 } });
        assert_eq!(at_path(&v, "A.B"), Some(&json!(2)));
        assert_eq!(at_path(&v, "A.C"), None);
    }

    #[test]
    fn facts_of_one_resource_merge_and_a_failure_or_unread_write_stands_alone() {
        let fact = |wrote: Value, now: Value| Fact {
            what: "service".into(),
            id: "arn:s".into(),
            wrote: Some(wrote),
            now: Some(now),
        };
        let got = vec![
            Got {
                place: "1/r".into(),
                write: json!({ "seq": 1 }),
                what: Ok(fact(json!({ "desiredCount": 1 }), json!({ "desiredCount": 3 }))),
            },
            Got {
                place: "1/r".into(),
                write: json!({ "seq": 2 }),
                what: Ok(fact(json!({ "desiredCount": 3 }), json!({ "desiredCount": 3 }))),
            },
            Got {
                place: "2/r".into(),
                write: json!({ "seq": 3 }),
                what: Ok(fact(json!({ "desiredCount": 3 }), json!({ "desiredCount": 5 }))),
            },
            Got {
                place: "1/r".into(),
                write: json!({ "seq": 4 }),
                what: Err(("run_task".into(), "write 4".into(), State::NotRead("x".into()))),
            },
        ];
        let merged = merge(got);
        assert_eq!(merged.len(), 3, "one resource per place and id");
        assert_eq!(merged[0].writes, [json!({ "seq": 1 }), json!({ "seq": 2 })]);
        // The second write set the count the first did: its read-back decides, and it holds.
        assert_eq!(merged[0].standing(), Some(Standing::InSync));
        assert_eq!(merged[0].set_at("desiredCount"), Some(&json!(3)));
        assert_eq!(merged[1].place, "2/r");
        assert!(matches!(merged[1].standing(), Some(Standing::Changed(d)) if d[0].member == "desiredCount"));
        // An update names the service by name, its create by ARN: one resource.
        let by_name = Got {
            place: "1/r".into(),
            write: json!({ "seq": 5 }),
            what: Ok(Fact { what: "service".into(), id: "s".into(), wrote: Some(json!({})), now: None }),
        };
        let create = Got {
            place: "1/r".into(),
            write: json!({ "seq": 1 }),
            what: Ok(Fact {
                what: "service".into(),
                id: "arn:aws:ecs:r:1:service/c/s".into(),
                wrote: Some(json!({})),
                now: None,
            }),
        };
        assert_eq!(merge(vec![create, by_name]).len(), 1);
        assert_eq!(merged[2].other, Some(State::NotRead("x".into())));
    }
}
