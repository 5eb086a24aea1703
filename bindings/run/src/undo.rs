//! What a write created and how to remove it again, decided when it succeeds and kept in the
//! journal; and `runbook undo`, which replays those inverses newest first.

use super::reconcile::{self, gone, Again, Before};
use rhai::Map;
use runbook_bindings::call::{invoke, Svc};
use runbook_bindings::error::CallError;
use runbook_bindings::json;
use runbook_bindings::runtime::Context;
use runbook_bindings::waiter::{self, WaitOptions};
use serde_json::{json, Value};

pub use crate::kinds::{Created, Inverse, Step};

/// What a successful write created and the calls that remove it, from its kind in the catalogue
/// (`kinds`). `before` is what its look-up found before it was sent (see `reconcile`): a write
/// that returned, updated or replaced something that existed already created nothing, and undo
/// leaves that thing alone; a kind that restores puts back what it found.
pub fn inverse(svc: Svc, op: &str, i: &Value, o: &Value, before: &Before) -> Inverse {
    let kind = crate::kinds::of(svc, op);
    if let Some(inv) = kind.and_then(|k| k.restore.and_then(|restore| restore(k, i, before))) {
        return inv;
    }
    let again = kind.filter(|k| k.find.is_some()).map(|k| k.again);
    if again.is_some_and(|a| a != Again::Adds) {
        match before {
            Before::Present(found) if again == Some(Again::Converges) => {
                let mut inv = not_undoable(&format!(
                    "it set {}, which existed before this call; what was there before was not recorded",
                    found.id
                ));
                inv.replaced = Some(found.id.clone());
                return inv;
            }
            Before::Present(_) => {
                return not_undoable("what it names existed before this call, which returned or updated it")
            }
            Before::Unknown(why) => {
                return not_undoable(&format!("could not tell whether what it names existed before this call ({why})"))
            }
            Before::Absent | Before::NotLooked => {}
        }
    }
    match kind.and_then(|k| k.remove) {
        Some(remove) => Inverse { created: remove(i, o), not_undoable: None, replaced: None },
        None => not_undoable(&without_kind(op)),
    }
}

/// Why undo cannot undo a write the catalogue has no removal for, by what its name says it does.
pub fn without_kind(op: &str) -> String {
    if crate::kinds::removes(op) {
        "it removes something, and what it removed was not recorded".into()
    } else if crate::kinds::makes(op) {
        format!("it makes something undo does not know how to remove yet (the catalogue of write kinds has no entry for {op})")
    } else {
        "it changes something in place, and the values it replaced were not recorded".into()
    }
}

fn not_undoable(reason: &str) -> Inverse {
    Inverse { created: vec![], not_undoable: Some(reason.into()), replaced: None }
}

/// What undo did with one write.
#[derive(Debug, Default)]
pub struct Report {
    pub removed: usize,
    /// Changed settings put back as they were before the run.
    pub restored: usize,
    pub already_gone: usize,
    pub left: usize,
    /// Changes in place to resources the run created (and undo removes).
    pub moot: usize,
    pub failed: usize,
    /// Writes in flight when the run ended whose outcome undo could not find out.
    pub unsettled: usize,
    /// Why undo stopped before its first removal in a place: another run holds its lock.
    pub refused: Option<String>,
    /// Values not put back: a later run or a hand changed them since, or they name something gone.
    pub conflicts: usize,
}

/// What a write in flight at the end of its run turned out to have done.
enum Settled {
    /// It was done: an outcome record as a success would have written it.
    Made(Value),
    /// It made nothing to remove; the text says why.
    Nothing(String),
    /// Undo cannot tell; the text says why.
    Unknown(String),
}

/// Looks up what an in-flight write made, with the look-up the run used (see `reconcile`). It is
/// this run's only when it was not there before the write (the intent's `before`).
fn settle(ctx: &Context, intent: &Value, known: &[String]) -> Settled {
    let (Some(svc), Some(op)) = (intent["service"].as_str().and_then(Svc::by_module), intent["operation"].as_str())
    else {
        return Settled::Unknown("the journal does not name its operation".into());
    };
    let input = &intent["input"];
    let before = Before::from_json(&intent["before"]);
    let Some(entry) = reconcile::entry_for(svc, op) else {
        // Without a look-up, a write that changes in place is treated like one that succeeded:
        // its inverse says whether undo can do anything about it.
        let inv = inverse(svc, op, input, &Value::Null, &Before::NotLooked);
        if inv.not_undoable.is_some() && inv.created.is_empty() {
            return Settled::Made(
                json!({ "ok": true, "created": [], "not_undoable": inv.not_undoable, "found": "a change in place" }),
            );
        }
        return Settled::Unknown("there is no way to look up what it made".into());
    };
    if let Before::Unknown(why) = &before {
        return Settled::Unknown(format!("the run could not tell what existed before it ({why})"));
    }
    let read = |s: Svc, o: &str, i: Value| reconcile::read(ctx, s, o, i);
    // What the run's other writes made is not this one's, even where its look-up before it lagged.
    let seen = reconcile::seen(Some(entry), before.found(), || known.to_vec());
    // Moments after the run ended, AWS may not show yet what the write made: a miss is believed only
    // once it has lasted a while.
    let name = svc.function(op);
    let why = "a look-up may lag behind a write moments ago";
    let patience = reconcile::settle_time(ctx);
    match reconcile::look_patiently(ctx, &name, entry, &read, (input, seen.as_ref()), patience, why) {
        Ok(Some(found)) if before.found().is_some_and(|b| b.id == found.id) => {
            Settled::Nothing(format!("{} existed before it and is left alone", found.id))
        }
        Ok(Some(found)) => {
            let inv = inverse(svc, op, input, &found.output, &Before::Absent);
            Settled::Made(json!({
                "ok": true, "found": found.id, "created": inv.created, "not_undoable": inv.not_undoable,
            }))
        }
        Ok(None) => Settled::Nothing("it made nothing (a look-up finds nothing it made)".into()),
        Err(e) => Settled::Unknown(format!("the look-up failed: {e}")),
    }
}

/// Where an intent's write was made, entered for as long as the guard lives.
pub(crate) struct Away<'a>(Option<&'a Context>);

impl<'a> Away<'a> {
    pub(crate) fn enter(ctx: &'a Context, place: &Value) -> Result<Away<'a>, CallError> {
        if !place.is_object() {
            return Ok(Away(None));
        }
        ctx.enter(place["region"].as_str(), place["role"].as_str())?;
        Ok(Away(Some(ctx)))
    }
}

impl Drop for Away<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = self.0 {
            ctx.leave();
        }
    }
}

/// Undoes a run from its journal records, newest write first. With `dry`, only says what it would do.
pub fn undo(
    ctx: &Context,
    records: &[Value],
    dry: bool,
    made: &super::propagation::Made,
    since: &super::since::Since,
) -> Report {
    let mut report = Report::default();
    let intents: Vec<&Value> = records.iter().filter(|r| r["type"] == "intent").collect();
    let created_ids: Vec<String> = records
        .iter()
        .filter(|r| r["type"] == "outcome")
        .flat_map(|r| r["created"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    // Values of the run this undo leaves in place (a restore refused), with their write: what they
    // name is not removed from under them.
    let mut held: Vec<(String, String)> = Vec::new();
    for intent in intents.iter().rev() {
        let seq = &intent["seq"];
        let func = intent["function"].as_str().unwrap_or("?");
        let outcome = records.iter().find(|r| r["type"] == "outcome" && &r["seq"] == seq);
        let place = super::journal::place_text(&intent["place"]).map(|p| format!(" (in {p})")).unwrap_or_default();
        let head = format!("{:>4}  {func}{place}", seq.to_string());
        // A write made inside with_region/with_target is undone where it was made.
        let _away = match Away::enter(ctx, &intent["place"]) {
            Ok(guard) => guard,
            Err(e) => {
                outln!("{head}: could not reach {} to undo it: {}: {e}", intent["place"], e.code());
                report.failed += 1;
                continue;
            }
        };
        // Away from home, the place must be the account the write went to: a role's trust or an
        // account's setup may have changed since. Nothing is undone, nor called gone, from elsewhere.
        if let (false, Some(needed)) = (intent["place"].is_null(), intent["account"].as_str()) {
            match ctx.account() {
                Ok(reached) if reached == needed => {}
                Ok(reached) => {
                    outln!("{head}: not undone: it was made in account {needed}, and undo reached {reached} there");
                    report.failed += 1;
                    continue;
                }
                Err(e) => {
                    outln!("{head}: not undone: cannot confirm account {needed} there: {}: {e}", e.code());
                    report.failed += 1;
                    continue;
                }
            }
        }
        let outcome = outcome.filter(|o| o["unknown"] != true);
        // A write in flight when the run ended (or whose answer never came) is settled by looking.
        let settled;
        let outcome = match outcome {
            Some(o) => o,
            None => match settle(ctx, intent, &created_ids) {
                Settled::Made(o) => {
                    outln!("{head}: was in flight when the run ended; it was done: {}", o["found"]);
                    // What it made is as young as the write: a "not found" about it while AWS catches
                    // up is waited out, not taken for "already gone".
                    let mut record = o.clone();
                    (record["type"], record["seq"], record["time"]) =
                        (json!("outcome"), seq.clone(), intent["time"].clone());
                    made.note_journal(&[(*intent).clone(), record]);
                    settled = o;
                    &settled
                }
                Settled::Nothing(what) => {
                    outln!("{head}: was in flight when the run ended; {what}");
                    continue;
                }
                Settled::Unknown(why) => {
                    outln!(
                        "{head}: was in flight when the run ended, and {why}; look for what it made (tag {}={})",
                        super::tags::RUN_TAG,
                        records.first().and_then(|r| r["run"].as_str()).unwrap_or("?")
                    );
                    report.left += 1;
                    report.unsettled += 1;
                    continue;
                }
            },
        };
        if outcome["ok"] != true {
            outln!("{head}: failed with {}; nothing to undo", outcome["error"]["code"].as_str().unwrap_or("an error"));
            continue;
        }
        if let Some(reason) = outcome["not_undoable"].as_str() {
            let (moot, text) = not_undone_text(records, intent, reason);
            outln!("{head}: {text}");
            if moot {
                report.moot += 1;
            } else {
                report.left += 1;
            }
            continue;
        }
        let created: Vec<Created> = serde_json::from_value(outcome["created"].clone()).unwrap_or_default();
        let place = records.first().map(|start| super::since::place_of(start, intent)).unwrap_or_default();
        for c in created.iter().rev() {
            let (verb, done) = if c.restores { ("restore", "restored") } else { ("remove", "removed") };
            // An undo run again after one that stopped part-way: what that one did is done.
            if let Some(by) = since.undone_by(&c.id) {
                outln!("{head}: {} {} was {} already by undo run {by}", c.kind, c.id, done);
                report.already_gone += 1;
                continue;
            }
            // What later runs use is not removed from under them.
            if let Some(why) = since.used(&c.kind, &c.id, &place).filter(|_| !c.restores) {
                let would = if dry { "would not remove" } else { "not removed" };
                outln!("{head}: {would} {} {}: {why}", c.kind, c.id);
                report.conflicts += 1;
                continue;
            }
            // What a value this undo left in place names is not removed from under it.
            if let Some(seq) = held
                .iter()
                .find(|(_, s)| super::since::names(s, &c.id) || super::since::names(&c.id, s))
                .map(|(q, _)| q)
                .filter(|_| !c.restores && !since.force)
            {
                let would = if dry { "would not remove" } else { "not removed" };
                outln!(
                    "{head}: {would} {} {}: write {seq} of this run, whose undo was left, still uses it",
                    c.kind,
                    c.id
                );
                report.conflicts += 1;
                continue;
            }
            // What this run added is not removed over a value set since (a tag key, a record).
            if !c.restores {
                let steps: Vec<Value> = c.undo.iter().map(|s| s.input.clone()).collect();
                match super::since::overwritten(ctx, (&c.kind, &c.id), intent, &steps, since) {
                    Ok(None) => {}
                    Ok(Some(why)) => {
                        let would = if dry { "would not remove" } else { "not removed" };
                        outln!("{head}: {would} {why}");
                        report.conflicts += 1;
                        continue;
                    }
                    Err(e) => {
                        outln!("{head}: not removed: cannot read {} {} as it is now: {}: {e}", c.kind, c.id, e.code());
                        report.failed += 1;
                        continue;
                    }
                }
            }
            // A value is put back only over what this run wrote, and never pointing at something gone.
            if c.restores {
                let steps: Vec<Value> = c.undo.iter().map(|s| s.input.clone()).collect();
                match super::since::blocked(ctx, (&c.kind, &c.id, &place), &steps, intent, since) {
                    Ok(None) => {}
                    Ok(Some(why)) => {
                        let would = if dry { "would not restore" } else { "not restored" };
                        outln!("{head}: {would} {} {}: {why}", c.kind, c.id);
                        report.conflicts += 1;
                        // The run's value stays: what it names stays with it.
                        let mut strings = Vec::new();
                        super::since::collect(&intent["input"], &mut strings);
                        held.extend(strings.into_iter().map(|s| (seq.to_string(), s)));
                        continue;
                    }
                    Err(e) => {
                        outln!(
                            "{head}: not restored: cannot read {} {} as it is now: {}: {}",
                            c.kind,
                            c.id,
                            e.code(),
                            e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default()
                        );
                        report.failed += 1;
                        continue;
                    }
                }
            }
            if dry {
                outln!("{head}: would {verb} {} {}", c.kind, c.id);
                for s in &c.undo {
                    outln!(
                        "        {}::{} {}",
                        s.service,
                        runbook_bindings::call::function_name(&s.service, &s.operation),
                        s.input
                    );
                }
                continue;
            }
            // Once a value was not put back, what it still points at stays in use: waiting for
            // that to end would wait for nothing.
            match remove(ctx, c, report.conflicts == 0) {
                Ok(true) => {
                    outln!("{head}: {done} {} {}", c.kind, c.id);
                    if c.restores {
                        report.restored += 1;
                    } else {
                        report.removed += 1;
                    }
                }
                Ok(false) => {
                    outln!("{head}: {} {} was already gone", c.kind, c.id);
                    report.already_gone += 1;
                }
                Err(e) if e.code() == runbook_bindings::error::LOCK_HELD => {
                    report.refused = Some(e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default());
                    return report;
                }
                Err(e) => {
                    outln!(
                        "{head}: could not {verb} {} {}: {}: {}",
                        c.kind,
                        c.id,
                        e.code(),
                        e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default()
                    );
                    report.failed += 1;
                    if e.is_interrupt() {
                        return report;
                    }
                }
            }
        }
    }
    report
}

/// What `show` and `undo` both say of a write that cannot be undone: it changed something the run
/// created (and goes away with it), or why not.
pub fn not_undone_text(records: &[Value], intent: &Value, reason: &str) -> (bool, String) {
    let created: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["type"] == "outcome")
        .flat_map(|r| r["created"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| Some((c["kind"].as_str()?.to_string(), c["id"].as_str()?.to_string())))
        .collect();
    match changed_created(intent, &created) {
        Some(id) => (true, format!("not undone, and need not be: it changed {id}, which this run created")),
        None => (false, format!("not undone: {reason}")),
    }
}

/// The resource this run created that a write changed in place, if it names one (by id, or by the
/// name an ARN ends with): such a change goes away with the resource. Where several match (an
/// `update_service` names its cluster and a target group too), the one of the kind the operation
/// acts on (`UpdateService`: a service) is the one changed; else the first named.
fn changed_created(intent: &Value, created: &[(String, String)]) -> Option<String> {
    let mut strings = Vec::new();
    super::since::collect(&intent["input"], &mut strings);
    let operation = intent["operation"].as_str().unwrap_or_default().to_ascii_lowercase();
    let named: Vec<&(String, String)> =
        created.iter().filter(|(_, id)| strings.iter().any(|s| super::since::names(s, id))).collect();
    let acted_on = named.iter().find(|(kind, _)| operation.contains(&kind.replace(' ', "").to_ascii_lowercase()));
    acted_on.or(named.first()).map(|(_, id)| id.clone())
}

/// Runs one resource's undo steps, retrying the answers a step names only when `patient`.
/// `Ok(false)` when it was already gone.
fn remove(ctx: &Context, c: &Created, patient: bool) -> Result<bool, CallError> {
    for (n, s) in c.undo.iter().enumerate() {
        let svc = Svc::by_module(&s.service).ok_or_else(|| CallError::Transport {
            service: s.service.clone(),
            operation: s.operation.clone(),
            code: "UnknownService".into(),
            message: format!("the journal names an unknown service {}", s.service),
            retryable: false,
        })?;
        let input = json::from_value(&s.input).try_cast::<Map>().unwrap_or_default();
        let started = std::time::Instant::now();
        loop {
            match invoke(ctx, svc, &s.operation, &input, true) {
                // A change batch is done once Route 53 has it on every name server.
                Ok(out) if svc == Svc::Route53 && s.operation == "ChangeResourceRecordSets" => {
                    let id = json::to_value(&out)["ChangeInfo"]["Id"].clone();
                    if id.is_string() {
                        let wi = json::from_value(&json!({ "Id": id })).try_cast::<Map>().unwrap_or_default();
                        let options = WaitOptions { timeout: Some(900.0), delay: None };
                        let _ = waiter::wait(ctx, svc, "ResourceRecordSetsChanged", &wi, options)?;
                    }
                    break;
                }
                Ok(_) => break,
                Err(e) if gone(&e) => {
                    if n == 0 || c.undo.len() == n + 1 {
                        return Ok(false);
                    }
                    // A later step may still find something (a service already scaled to 0).
                    break;
                }
                Err(e) if patient && s.retry.iter().any(|r| r == e.code()) && started.elapsed().as_secs() < 600 => {
                    eoutln!("[undo] {}::{}: {}; retrying in 5s", s.service, s.operation, e.code());
                    ctx.sleep(&s.operation, 5.0)?;
                }
                Err(e) => return Err(e),
            }
        }
        if let (Some(w), Some(wi)) = (&s.wait, &s.wait_input) {
            let wi = json::from_value(wi).try_cast::<Map>().unwrap_or_default();
            let _ = waiter::wait(ctx, svc, w, &wi, WaitOptions { timeout: Some(900.0), delay: None })?;
        }
    }
    Ok(true)
}
