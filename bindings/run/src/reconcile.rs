//! Finding what a write made, by asking AWS with the look-ups and "already done" codes of the
//! catalogue of write kinds (`kinds`). Three callers use it:
//! - before a write is sent, to record what was there (`before` in the journal's intent): whether
//!   a put created or replaced, and whether a thing found later was made by this run;
//! - after an attempt whose answer was lost, to settle the write without sending it twice
//!   ([`send`]);
//! - undo, for a write that was in flight when its run ended.
//!
//! Only reads are sent from here; this layer knows nothing of plans, journals or runs.

use rhai::{Dynamic, Map};
use runbook_bindings::attempts::CallLog;
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use runbook_bindings::json;
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub use crate::kinds::{absent, gone, Again, Before, Found, Kind as Entry, Look, Read};

/// The kind of a write that has a look-up. Writes without one are sent again after a lost answer,
/// as the SDK itself would.
pub fn entry_for(svc: Svc, op: &str) -> Option<&'static Entry> {
    crate::kinds::of(svc, op).filter(|k| k.find.is_some())
}

/// The reads an entry's look-up makes for a write with this input, without sending them (each
/// read is answered with an empty object, so the look-up goes as far as it can).
pub fn reads_of(entry: &Entry, input: &Value) -> Vec<(Svc, String)> {
    let seen = std::cell::RefCell::new(Vec::new());
    let read = |s: Svc, o: &str, _: Value| -> Result<Value, CallError> {
        let mut seen = seen.borrow_mut();
        if !seen.iter().any(|(x, y): &(Svc, String)| *x == s && y == o) {
            seen.push((s, o.to_string()));
        }
        Ok(json!({}))
    };
    for look in [Look::Before, Look::After(None)] {
        let _ = entry.look(&read, input, look);
    }
    seen.into_inner()
}

/// How a write ended, after as many sends as it took.
pub struct Sent {
    pub result: Result<Dynamic, CallError>,
    /// Attempts whose answer was lost.
    pub lost: u32,
    /// Times the write was sent again by this layer after a lost answer.
    pub resent: u32,
    /// Set when a lost attempt had done the write: what the look-up found.
    pub reconciled: Option<Found>,
}

/// Sends a write; when an attempt's answer is lost, settles it: looks for what the write made and
/// answers that, or sends it again when nothing was made. A duplicate error after a lost attempt
/// means the lost attempt did the write. `send` makes one call (with the SDK's own retries for
/// answered errors) and leaves its attempts in `ctx.attempts`; `value` is `input` as JSON, for the
/// look-ups.
pub fn send(
    ctx: &Context,
    svc: Svc,
    op: &str,
    (input, value): (&Map, &Value),
    before: Option<&Found>,
    send: impl Fn(&Map) -> Result<Dynamic, CallError>,
) -> Sent {
    let entry = entry_for(svc, op);
    let mut sent = Sent { result: Ok(Dynamic::UNIT), lost: 0, resent: 0, reconciled: None };
    let bound = ctx.max_attempts.max(1);
    loop {
        let result = send(input);
        let log: CallLog = ctx.attempts.log();
        sent.lost += log.lost;
        let error = match result {
            Ok(out) => {
                sent.result = Ok(out);
                return sent;
            }
            Err(e) => e,
        };
        if sent.lost == 0 || error.is_interrupt() {
            sent.result = Err(error);
            return sent;
        }
        let name = svc.function(op);
        let duplicate = entry.as_ref().is_some_and(|e| e.duplicate.contains(&error.code()));
        if crate::kinds::removes(op) && gone(&error) {
            eoutln!("[reconcile] {name}: an earlier attempt's answer was lost; {} says it is done", error.code());
            sent.reconciled = Some(Found { id: "gone".into(), output: json!({}) });
            sent.result = Ok(json::from_value(&json!({})));
            return sent;
        }
        if !log.stopped_after_loss && !duplicate {
            sent.result = Err(error);
            return sent;
        }
        let look = entry.as_ref().filter(|e| duplicate || e.again != Again::Converges);
        if let Some(e) = look {
            let reader = |s: Svc, o: &str, i: Value| read(ctx, s, o, i);
            // AWS may not show yet what the lost attempt made. After a duplicate answer, it is there:
            // look for it for as long as the propagation window. A write that adds a new thing each
            // time is sent again only after a miss that lasted `settle_time`; one that fails as a
            // duplicate is sent again at once, and a duplicate answer then says it was done.
            let (patience, why) = if duplicate {
                (ctx.propagation_timeout, format!("{} says it exists", error.code()))
            } else if e.again == Again::Adds {
                (settle_time(ctx), "a look-up may lag behind a write moments ago".to_string())
            } else {
                (Duration::ZERO, String::new())
            };
            match look_patiently(ctx, &name, e, &reader, (value, before), patience, &why) {
                Ok(Some(found)) if before.is_none_or(|b| b.id != found.id) => {
                    eoutln!(
                        "[reconcile] {name}: an attempt's answer was lost, and it had done the write: found {}",
                        found.id
                    );
                    sent.result = Ok(json::from_value(&found.output));
                    sent.reconciled = Some(found);
                    return sent;
                }
                Ok(_) if duplicate => {
                    // The duplicate is not this run's doing: the script decides, as without a loss.
                    sent.result = Err(error);
                    return sent;
                }
                Ok(_) => {}
                Err(look_error) => {
                    eoutln!("[reconcile] {name}: could not look for what the lost attempt did: {look_error}");
                    sent.result = Err(error);
                    return sent;
                }
            }
        } else if duplicate {
            sent.result = Err(error);
            return sent;
        }
        if sent.resent + 1 >= bound {
            sent.result = Err(error);
            return sent;
        }
        sent.resent += 1;
        eoutln!("[reconcile] {name}: an attempt's answer was lost and nothing shows it was done; sending it again");
    }
}

/// How long a look-up that finds nothing is repeated before the miss is believed: an eighth of the
/// propagation window (15 s by default). AWS's filtered describes and lists lag behind a create as
/// reads by id do, so one miss moments after a write does not prove it made nothing.
pub fn settle_time(ctx: &Context) -> Duration {
    ctx.propagation_timeout / 8
}

/// Looks for what a write made, with what was there `before` it; while the look-up finds nothing,
/// looks again after growing pauses (1 s, 2 s, …) until `patience` has passed, each time saying so
/// (`why` says why a miss is not believed yet). What it finds is answered whether it is new or not.
pub fn look_patiently(
    ctx: &Context,
    name: &str,
    entry: &Entry,
    read: Read,
    (input, before): (&Value, Option<&Found>),
    patience: Duration,
    why: &str,
) -> Result<Option<Found>, CallError> {
    let started = Instant::now();
    let mut pause = 1.0f64;
    loop {
        if let Some(found) = entry.look(read, input, Look::After(before))? {
            return Ok(Some(found));
        }
        let left = patience.saturating_sub(started.elapsed()).as_secs_f64();
        if left <= 0.0 {
            return Ok(None);
        }
        let wait = pause.min(left);
        eoutln!("[reconcile] {name}: a look-up finds nothing yet ({why}); looking again in {wait:.1}s");
        ctx.sleep(name, wait)?;
        pause *= 2.0;
    }
}

/// What a look-up after the write must not take for the write's: what was there before it, and,
/// for a write that adds a new thing each time, also the values `known` gives, what this run made
/// (a look-up before the write may have missed what the run made moments earlier).
pub fn seen(entry: Option<&Entry>, before: Option<&Found>, known: impl FnOnce() -> Vec<String>) -> Option<Found> {
    if entry.is_none_or(|e| e.again != Again::Adds) {
        return before.cloned();
    }
    let known = known();
    if known.is_empty() {
        return before.cloned();
    }
    let mut ids: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    ids.extend(known.iter().map(String::as_str));
    Some(Found { id: ids.join(" "), output: Value::Null })
}

/// One read, sent as it is (no plan, no cache), its answer as JSON.
pub fn read(ctx: &Context, svc: Svc, op: &str, input: Value) -> Result<Value, CallError> {
    let input = json::from_value(&input).try_cast::<Map>().unwrap_or_default();
    runbook_bindings::call::send(ctx, svc, op, &input).map(|out| json::to_value(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_there_before_survives_the_journal() {
        let present = Before::Present(Found { id: "sg-1".into(), output: Value::Null });
        for b in [Before::Absent, present, Before::Unknown("Throttling: rate exceeded".into())] {
            assert_eq!(Before::from_json(&b.to_json().unwrap()), b);
        }
        assert_eq!(Before::NotLooked.to_json(), None);
        assert_eq!(Before::from_json(&Value::Null), Before::NotLooked);
    }

    #[test]
    fn every_write_the_runbooks_and_undo_make_has_a_look_up_or_converges() {
        // The creates, authorizes, registers, puts and attaches of the runbooks, the examples and
        // undo's own inverses that can leave something behind when their answer is lost.
        let listed = [
            (Svc::Ecs, "CreateCluster"),
            (Svc::Ecs, "RegisterTaskDefinition"),
            (Svc::Ecs, "CreateService"),
            (Svc::Ecs, "RunTask"),
            (Svc::Elbv2, "CreateTargetGroup"),
            (Svc::Elbv2, "CreateLoadBalancer"),
            (Svc::Elbv2, "CreateListener"),
            (Svc::Elbv2, "CreateRule"),
            (Svc::Elbv2, "RegisterTargets"),
            (Svc::Ec2, "CreateSecurityGroup"),
            (Svc::Ec2, "AuthorizeSecurityGroupIngress"),
            (Svc::Iam, "CreateServiceLinkedRole"),
            (Svc::Iam, "CreateRole"),
            (Svc::Iam, "PutRolePolicy"),
            (Svc::Iam, "AttachRolePolicy"),
            (Svc::ApplicationAutoscaling, "RegisterScalableTarget"),
            (Svc::ApplicationAutoscaling, "PutScalingPolicy"),
        ];
        for (svc, op) in listed {
            assert!(entry_for(svc, op).is_some(), "{} {op}", svc.module());
            assert!(svc.table().unwrap().operations.contains_key(op), "{} {op} is an operation", svc.module());
        }
        let removes = crate::kinds::removes;
        assert!(removes("DeleteTargetGroup") && removes("RevokeSecurityGroupIngress") && !removes("CreateRule"));
    }
}
