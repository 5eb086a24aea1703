//! What changed since a run, as its undo sees it before it puts a value back: a later run that
//! wrote the same thing (the journals say so), a value that is no longer what the run wrote (a
//! hand change), and a resource the value to restore points at that no longer exists. Undo refuses
//! the step in the first two cases unless forced, and always in the third.

use super::reconcile::Read;
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};

/// What undo knows beyond its run's own journal.
#[derive(Debug, Default, Clone)]
pub struct Since {
    /// What later runs (not undone) changed in place or will restore, by resource id. A place is
    /// `account/region` ([`place_of`]).
    pub later: Vec<Later>,
    /// Every value later runs' writes named (ids, ARNs, names), with the run and the place: what
    /// they use. A name in another account or region is another thing.
    pub named: Vec<(String, String, String)>,
    /// What earlier undos of this same run did (each call that succeeded, by the values its input
    /// named): an undo run again after one that stopped part-way does not do it twice.
    pub undone: Vec<(String, String)>,
    /// Restore over a later change all the same (`runbook undo --force`).
    pub force: bool,
}

/// A thing a later run changed in place.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Later {
    pub id: String,
    pub run: String,
    pub place: String,
    /// What of it (`settings of target group`, `attributes of target group`), when its outcome
    /// says; `None` matches any.
    pub kind: Option<String>,
    /// The members its undo would put back ([`members`]); `None` when not known (any overlaps).
    pub members: Option<Vec<String>>,
}

/// The members an undo step's input puts back: its keys, but for a list of `{ Key, Value }`
/// pairs each key of the list (`Attributes/stickiness.enabled`, `Tags/team`), and without the
/// members that only name the thing (their value is `id`, or names it).
pub fn members(input: &Value, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in input.as_object().into_iter().flatten() {
        // `TargetGroupArn: "<id>"`, `ResourceArns: ["<id>"]`: what it is, not what it sets.
        let naming = |x: &Value| x.as_str().is_some_and(|s| names(s, id) || names(id, s));
        if naming(v) || v.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(naming)) {
            continue;
        }
        let pairs: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("Key").or_else(|| x.get("key"))?.as_str())
            .collect();
        match pairs.is_empty() {
            true => out.push(k.clone()),
            false => out.extend(pairs.iter().map(|p| format!("{k}/{p}"))),
        }
    }
    out
}

impl Since {
    /// From the journals of the runs that started after the one undone, oldest first; runs undone
    /// already and undo runs are left out by the caller.
    pub fn from_journals<'a>(runs: impl IntoIterator<Item = (&'a str, &'a [Value])>, force: bool) -> Since {
        let mut later = Vec::new();
        let mut named = Vec::new();
        for (run, records) in runs {
            let start = records.iter().find(|r| r["type"] == "start").cloned().unwrap_or_default();
            for intent in records.iter().filter(|r| r["type"] == "intent") {
                let mut strings = Vec::new();
                collect(&intent["input"], &mut strings);
                let place = place_of(&start, intent);
                named.extend(strings.into_iter().map(|s| (s, run.to_string(), place.clone())));
            }
            for outcome in records.iter().filter(|r| r["type"] == "outcome" && r["ok"] == true) {
                let intent = records.iter().find(|r| r["type"] == "intent" && r["seq"] == outcome["seq"]);
                let place = place_of(&start, intent.unwrap_or(&Value::Null));
                let mut restored = Vec::new();
                for c in outcome["created"].as_array().into_iter().flatten() {
                    if let (true, Some(id)) = (c["restores"] == true, c["id"].as_str()) {
                        // What of it, and which members: its undo's steps say.
                        let mut m = Vec::new();
                        for step in c["undo"].as_array().into_iter().flatten() {
                            m.extend(members(&step["input"], id));
                        }
                        let kind = c["kind"].as_str().map(str::to_string);
                        later.push(Later {
                            id: id.into(),
                            run: run.into(),
                            place: place.clone(),
                            kind,
                            members: Some(m),
                        });
                        restored.push(id.to_string());
                    }
                }
                // A replacement its restores do not describe: the whole of it.
                if let Some(id) = outcome["replaced"].as_str().filter(|id| !restored.iter().any(|r| r == id)) {
                    later.push(Later { id: id.into(), run: run.into(), place: place.clone(), ..Later::default() });
                }
            }
        }
        later.dedup();
        named.dedup();
        Since { later, named, undone: Vec::new(), force }
    }

    /// Adds the journals of earlier undos of the same run.
    pub fn with_earlier_undos<'a>(mut self, undos: impl IntoIterator<Item = (&'a str, &'a [Value])>) -> Since {
        for (run, records) in undos {
            for outcome in records.iter().filter(|r| r["type"] == "outcome" && r["ok"] == true) {
                let Some(intent) = records.iter().find(|r| r["type"] == "intent" && r["seq"] == outcome["seq"]) else {
                    continue;
                };
                let mut strings = Vec::new();
                collect(&intent["input"], &mut strings);
                self.undone.extend(strings.into_iter().map(|s| (s, run.to_string())));
            }
        }
        self
    }

    /// The earlier undo of this run that removed or restored `id` already, if one did.
    pub fn undone_by(&self, id: &str) -> Option<&str> {
        self.undone.iter().find(|(s, _)| s == id).map(|(_, run)| run.as_str())
    }

    /// Why a resource the run created must not be removed now: later runs' writes name it (by its
    /// id, or by the name its ARN ends with), so they use it. `None` when forced or unused.
    pub fn used(&self, kind: &str, id: &str, place: &str) -> Option<String> {
        if self.force {
            return None;
        }
        let mut runs: Vec<&str> = Vec::new();
        for (s, run, there) in &self.named {
            if there == place && names(s, id) && !runs.contains(&run.as_str()) {
                runs.push(run);
            }
        }
        if runs.is_empty() {
            return None;
        }
        let (word, them) = if runs.len() == 1 { ("run", "it") } else { ("runs", "them") };
        Some(format!(
            "{word} {} used {kind} {id} since; undo {them} first (newest first), or pass --force to remove it anyway",
            runs.join(", ")
        ))
    }

    /// The later runs that changed what of `id` (`kind`) in `place` an undo step puts back
    /// (`members`), each once, oldest first.
    fn writers(&self, (kind, id, place): (&str, &str, &str), members: &[String]) -> Vec<&str> {
        let mut runs: Vec<&str> = Vec::new();
        for l in &self.later {
            let same = l.id == id && l.place == place && l.kind.as_deref().is_none_or(|k| k == kind);
            let overlaps = match &l.members {
                Some(theirs) if !members.is_empty() => theirs.iter().any(|m| members.contains(m)),
                _ => true,
            };
            if same && overlaps && !runs.contains(&l.run.as_str()) {
                runs.push(&l.run);
            }
        }
        runs
    }
}

/// Where a journaled write went: `account/region`, its own region when made inside
/// `with_region`/`with_target`, else its run's.
pub fn place_of(start: &Value, intent: &Value) -> String {
    let region = intent["place"]["region"].as_str().or(start["region"].as_str()).unwrap_or_default();
    format!("{}/{region}", intent["account"].as_str().unwrap_or_default())
}

/// Why a restoring undo step must not run now (`kind` and `id` name what it restores, `steps` are
/// its calls' inputs, `intent` the run's write, made in `place`); `None` when it may.
pub fn blocked(
    ctx: &Context,
    (kind, id, place): (&str, &str, &str),
    steps: &[Value],
    intent: &Value,
    since: &Since,
) -> Result<Option<String>, CallError> {
    // Never, forced or not: a value that points at something gone (other than the thing itself:
    // then there is nothing to put back, and the step finds it gone).
    for step in steps {
        if let Some(gone) = dangling(ctx, step, id)? {
            return Ok(Some(format!("putting it back would point {kind} {id} at {gone}, which no longer exists")));
        }
    }
    if since.force {
        return Ok(None);
    }
    let members: Vec<String> = steps.iter().flat_map(|s| members(s, id)).collect();
    let writers = since.writers((kind, id, place), &members);
    if !writers.is_empty() {
        let (runs, them) = if writers.len() == 1 { ("run", "it") } else { ("runs", "them") };
        return Ok(Some(format!(
            "{runs} {} changed {kind} {id} since; undo {them} first (newest first), or pass --force to put back \
             this run's value over {them}",
            writers.join(", ")
        )));
    }
    let read = |svc: Svc, op: &str, input: Value| super::reconcile::read(ctx, svc, op, input);
    Ok(changed(&read, intent)?.map(|what| {
        format!(
            "{kind} {id} was changed since this run, by hand or by a run undone since ({what}); --force puts this run's \
             value back over it"
        )
    }))
}

/// Why removing what a write added (tag keys, records, a registration) must not happen now: one of
/// its values is another now, set by a later run or by hand, and removing it would take that away.
/// A value that is simply gone is no reason: the removal finds it gone. `None` when forced.
pub fn overwritten(
    ctx: &Context,
    (kind, id): (&str, &str),
    intent: &Value,
    steps: &[Value],
    since: &Since,
) -> Result<Option<String>, CallError> {
    let (Some(svc), Some(op)) = (intent["service"].as_str().and_then(Svc::by_module), intent["operation"].as_str())
    else {
        return Ok(None);
    };
    let Some(k) = crate::kinds::of(svc, op).filter(|k| k.read_back.is_some() && !since.force) else { return Ok(None) };
    let reads = |svc: Svc, op: &str, input: Value| super::reconcile::read(ctx, svc, op, input);
    // Tag keys and rules are removed one by one: one that is gone is no reason. A record or a
    // registration is removed whole: any value now another is.
    let by_member = k.tagging.is_some() || k.op.starts_with("Authorize");
    // One by one: only the members the steps name are theirs to remove (a write's other keys were
    // there before it, and another step puts those back).
    let mut named = Vec::new();
    steps.iter().for_each(|s| collect(s, &mut named));
    let removes = |member: &str| !by_member || named.iter().any(|n| n == member);
    for fact in k.facts(&reads, &intent["input"], &[])? {
        let crate::kinds::Standing::Changed(diffs) = fact.standing() else { continue };
        let taken = |d: &&crate::kinds::Difference| {
            !d.wrote.is_null() && (!d.now.is_null() || !by_member) && removes(&d.member)
        };
        if let Some(d) = diffs.iter().find(taken) {
            return Ok(Some(format!(
                "{kind} {id}: {} since this run; removing it would take that away (--force removes it all the same)",
                d.text()
            )));
        }
    }
    Ok(None)
}

/// Whether a write about to be sent would change nothing: of the kinds of write whose undo puts a
/// value back (a listener's settings, Route 53 records, tags), one whose every value holds already.
/// Read through `reads`, which answers from the run's recent reads (the look-up before the write
/// read the same); an error counts as a change.
pub fn unchanged(reads: Read, svc: Svc, op: &str, input: &Value) -> bool {
    // Forcing a new deployment changes what runs even where every setting holds.
    input["forceNewDeployment"] != true && holds(reads, svc, op, input)
}

/// Whether what a write sets holds already, as its kind reads it back; a forced deployment
/// counts as nothing set (a `converge` write skips it when the rest holds).
pub fn holds(reads: Read, svc: Svc, op: &str, input: &Value) -> bool {
    // The kinds that read back what they set.
    let Some(kind) = crate::kinds::of(svc, op).filter(|k| k.read_back.is_some()) else { return false };
    // A Route 53 batch that creates or deletes is refused when it would change nothing.
    let upserts = input["ChangeBatch"]["Changes"].as_array().is_none_or(|c| c.iter().all(|c| c["Action"] == "UPSERT"));
    upserts && matches!(kind.changed(reads, input), Ok(None))
}

/// What the run's write set that is not so any more, read back as its kind says; `None` when all
/// of it still holds, or its kind cannot read it back.
fn changed(reads: Read, intent: &Value) -> Result<Option<String>, CallError> {
    let (Some(svc), Some(op)) = (intent["service"].as_str().and_then(Svc::by_module), intent["operation"].as_str())
    else {
        return Ok(None);
    };
    let Some(kind) = crate::kinds::of(svc, op).filter(|k| k.read_back.is_some()) else { return Ok(None) };
    // What is gone has nothing to put a value back on: the undo's step finds it gone.
    let facts = kind.facts(reads, &intent["input"], &[])?;
    if !facts.is_empty() && facts.iter().all(|f| f.standing() == crate::kinds::Standing::Gone) {
        return Ok(None);
    }
    Ok(crate::kinds::first_change(&facts))
}

/// A target group or certificate that a value to restore names and that no longer exists.
fn dangling(ctx: &Context, input: &Value, itself: &str) -> Result<Option<String>, CallError> {
    let reads = |svc: Svc, op: &str, input: Value| super::reconcile::read(ctx, svc, op, input);
    let reads: Read = &reads;
    let mut strings = Vec::new();
    collect(input, &mut strings);
    for s in strings.into_iter().filter(|s| s != itself) {
        let looked = if s.contains(":elasticloadbalancing:") && s.contains(":targetgroup/") {
            crate::kinds::read_now(reads, Svc::Elbv2, "DescribeTargetGroups", json!({ "TargetGroupArns": [s] }))?
        } else if s.starts_with("arn:") && s.contains(":acm:") && s.contains(":certificate/") {
            crate::kinds::read_now(reads, Svc::Acm, "DescribeCertificate", json!({ "CertificateArn": s }))?
        } else {
            continue;
        };
        if looked.is_none() {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Every string inside a journaled input, each once: the ids, ARNs and names a write names.
pub fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !out.contains(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect(x, out)),
        _ => {}
    }
}

/// Whether a string a write named names `id`: the id itself, or the name an ARN ends with
/// (`web` for `…:cluster/web`).
pub(crate) fn names(s: &str, id: &str) -> bool {
    !s.is_empty() && (s == id || id.ends_with(&format!("/{s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_runs_are_named_by_what_they_changed() {
        let b = vec![json!({ "type": "outcome", "ok": true, "replaced": "listener-1", "created": [
            { "kind": "settings of listener", "id": "listener-1", "restores": true, "undo": [] }
        ] })];
        let c = vec![json!({ "type": "outcome", "ok": false, "replaced": "listener-2" })];
        let since = Since::from_journals([("run-b", b.as_slice()), ("run-c", c.as_slice())], false);
        let all = |id| ("settings of listener", id, "/");
        assert_eq!(since.writers(all("listener-1"), &[]), ["run-b"]);
        // A failed write changed nothing.
        assert!(since.writers(all("listener-2"), &[]).is_empty());
        // What later writes name, by ARN or by the name an ARN ends with, they use, in their place.
        let d = vec![
            json!({ "type": "start", "region": "us-east-1" }),
            json!({ "type": "intent", "account": "1", "input": { "cluster": "web", "service": "api" } }),
        ];
        let since = Since::from_journals([("run-d", d.as_slice())], false);
        let cluster = "arn:aws:ecs:us-east-1:1:cluster/web";
        let used = since.used("cluster", cluster, "1/us-east-1").unwrap();
        assert!(used.starts_with("run run-d used cluster arn:aws:ecs:us-east-1:1:cluster/web since"), "{used}");
        assert!(since.used("cluster", "arn:aws:ecs:us-east-1:1:cluster/webs", "1/us-east-1").is_none());
        assert!(since.used("cluster", cluster, "2/us-east-1").is_none(), "another account's web is another");
        assert!(since.used("cluster", cluster, "1/eu-west-1").is_none(), "and another region's");
        assert!(Since { force: true, ..since }.used("cluster", cluster, "1/us-east-1").is_none());
    }

    #[test]
    fn a_later_change_of_other_members_or_another_part_is_no_conflict() {
        let tg = "arn:aws:elasticloadbalancing:r:1:targetgroup/web/1";
        let restore = |kind: &str, input: Value| json!({ "kind": kind, "id": tg, "restores": true, "undo": [{ "service": "elbv2", "operation": "X", "input": input }] });
        let b = vec![json!({ "type": "outcome", "ok": true, "replaced": tg, "created": [
            restore("settings of target group", json!({ "TargetGroupArn": tg, "HealthCheckIntervalSeconds": 30 }))
        ] })];
        let c = vec![json!({ "type": "outcome", "ok": true, "replaced": tg, "created": [
            restore("attributes of target group", json!({ "TargetGroupArn": tg, "Attributes": [{ "Key": "stickiness.enabled", "Value": "false" }] }))
        ] })];
        let since = Since::from_journals([("run-b", b.as_slice()), ("run-c", c.as_slice())], false);
        let settings = ("settings of target group", tg, "/");
        // Another member of the same settings: no conflict; the same member: run-b's.
        assert!(since.writers(settings, &["HealthCheckPath".into()]).is_empty());
        assert_eq!(since.writers(settings, &["HealthCheckIntervalSeconds".into()]), ["run-b"]);
        // The attributes are another part of the group; their keys are members of their own.
        let attributes = ("attributes of target group", tg, "/");
        assert_eq!(since.writers(attributes, &["Attributes/stickiness.enabled".into()]), ["run-c"]);
        assert!(since.writers(attributes, &["Attributes/deregistration_delay.timeout_seconds".into()]).is_empty());
        assert_eq!(
            members(&json!({ "TargetGroupArn": tg, "Attributes": [{ "Key": "a", "Value": "1" }], "Port": 80 }), tg),
            ["Attributes/a", "Port"]
        );
        assert_eq!(
            members(&json!({ "ResourceArns": [tg], "Tags": [{ "Key": "team", "Value": "x" }] }), tg),
            ["Tags/team"]
        );
    }
}
