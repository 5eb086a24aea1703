//! Waiters, run from the models' acceptors: poll the operation, match each acceptor (JMESPath on the
//! output, HTTP status, or error code), print what was seen, and stop on success, failure or timeout.

use crate::call::{invoke, Svc};
use crate::error::CallError;
use crate::hooks::{Event, EventKind};
use crate::json;
use crate::live::Status;
use crate::model::{Acceptor, Waiter};
use crate::runtime::Context;
use rhai::{Dynamic, Map};
use serde_json::Value;
use std::time::Instant;

/// How long to wait and how often to poll; `None` keeps the model's values.
#[derive(Debug, Default, Clone, Copy)]
pub struct WaitOptions {
    pub timeout: Option<f64>,
    pub delay: Option<f64>,
}

enum Outcome {
    Success,
    Failure,
    Retry,
}

pub fn wait(ctx: &Context, svc: Svc, waiter_name: &str, input: &Map, opts: WaitOptions) -> Result<Dynamic, CallError> {
    let table = svc.table()?;
    let waiter: &Waiter = table.waiters.get(waiter_name).ok_or_else(|| CallError::Transport {
        service: svc.module().into(),
        operation: waiter_name.into(),
        code: "UnknownWaiter".into(),
        message: format!("{} has no waiter {waiter_name}", svc.module()),
        retryable: false,
    })?;
    let delay = opts.delay.unwrap_or(waiter.delay as f64).max(0.0);
    let timeout = opts.timeout.unwrap_or(waiter.delay as f64 * waiter.max_attempts as f64);
    let once = not_waited(ctx, input);
    poll(ctx, svc.module(), &waiter.func, delay, timeout, once, |attempt| {
        let result = invoke(ctx, svc, &waiter.operation, input, true);
        let (outcome, seen) = evaluate(&waiter.acceptors, &result);
        match outcome {
            Some(Outcome::Success) => Ok((Some(result.unwrap_or(Dynamic::UNIT)), seen)),
            Some(Outcome::Failure) => Err(CallError::Waiter {
                service: svc.module().into(),
                operation: waiter.func.clone(),
                code: "WaiterFailure".into(),
                message: format!("reached a failure state after {attempt} poll(s): {seen}"),
            }),
            Some(Outcome::Retry) => Ok((None, seen)),
            // An error that no acceptor expects ends the wait with that error.
            None => result.map(|_| (None, seen)),
        }
    })
}

/// A plan does not wait (its writes were not sent), nor does a wait on something a skipped step
/// would have made: one poll, then on.
fn not_waited(ctx: &Context, input: &Map) -> bool {
    ctx.hooks.planning() || ctx.hooks.placeholder_in(input).is_some()
}

/// The loop every waiter shares: `check(attempt)` polls once and answers the result when done
/// (`None` to poll again) with what it saw; each poll prints a line, and the wait gives up, saying
/// what it saw last, after a poll at `timeout` (the pause before it cut short to reach it).
fn poll(
    ctx: &Context,
    service: &str,
    func: &str,
    delay: f64,
    timeout: f64,
    once: bool,
    mut check: impl FnMut(u64) -> Result<(Option<Dynamic>, String), CallError>,
) -> Result<Dynamic, CallError> {
    let label = format!("{service}::{func}");
    let started = Instant::now();
    let mut attempt = 0u64;
    // On a terminal, the polls show on one line drawn again in place; elsewhere, a line each.
    let status = Status::start(format!("{label}: first poll"));
    let ended = |attempt: u64, error: Option<&str>, seen: &str| {
        let mut event = Event::since(EventKind::Wait, label.clone(), started);
        event.count = attempt as u32;
        event.error = error.map(str::to_string);
        event.detail = Some(seen.to_string());
        ctx.hooks.event(&event);
    };
    loop {
        attempt += 1;
        let (done, seen) = match check(attempt) {
            Ok(polled) => polled,
            Err(e) => {
                ended(attempt, Some(e.code()), "");
                return Err(e);
            }
        };
        if once {
            eoutln!("{label}: not waited: the plan changes nothing to wait for ({seen})");
            return Ok(done.unwrap_or(Dynamic::UNIT));
        }
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(result) = done {
            drop(status);
            eoutln!("{label}: done after {attempt} poll(s), {elapsed:.0}s ({seen})");
            ended(attempt, None, &seen);
            return Ok(result);
        }
        // The last poll comes at the timeout itself, not a delay before it.
        if elapsed >= timeout {
            ended(attempt, Some("WaiterTimeout"), &seen);
            return Err(CallError::Waiter {
                service: service.into(),
                operation: func.into(),
                code: "WaiterTimeout".into(),
                message: format!(
                    "gave up after {attempt} poll(s) in {elapsed:.0}s (timeout {timeout:.0}s); last seen: {seen}"
                ),
            });
        }
        let pause = delay.min(timeout - elapsed);
        let next = if pause.fract() == 0.0 { format!("{pause:.0}") } else { format!("{pause:.1}") };
        let line = format!("{label}: poll {attempt}: {seen}; next in {next}s");
        match status.drawn() {
            true => status.set(format!("{line} (timeout {timeout:.0}s)")),
            false => eoutln!("{line}"),
        }
        if let Err(e) = ctx.sleep(func, pause) {
            ended(attempt, Some(e.code()), &seen);
            return Err(e);
        }
    }
}

/// The first acceptor that matches, and a short description of what the poll saw.
fn evaluate(acceptors: &[Acceptor], result: &Result<Dynamic, CallError>) -> (Option<Outcome>, String) {
    let output = result.as_ref().ok().map(json::to_value);
    let mut seen: Vec<String> = Vec::new();
    let mut matched = None;
    for a in acceptors {
        let hit = match (a.matcher.as_str(), &output, result) {
            ("error", _, Err(e)) => match &a.expected {
                Value::Bool(b) => *b,
                expected => expected.as_str() == Some(e.code()),
            },
            ("error", _, Ok(_)) => a.expected == Value::Bool(false),
            ("status", _, Ok(_)) => a.expected.as_u64() == Some(200),
            ("status", _, Err(CallError::Aws { status: Some(s), .. })) => a.expected.as_u64() == Some(u64::from(*s)),
            (kind @ ("path" | "pathAll" | "pathAny"), Some(out), _) => {
                let arg = a.argument.as_deref().unwrap_or("@");
                let value = json::query(out, arg).unwrap_or(Value::Null);
                let text = format!("{arg} = {}", short(&value));
                if !seen.contains(&text) {
                    seen.push(text);
                }
                match kind {
                    "path" => value == a.expected,
                    "pathAll" => value.as_array().is_some_and(|v| !v.is_empty() && v.iter().all(|x| *x == a.expected)),
                    _ => value.as_array().is_some_and(|v| v.contains(&a.expected)),
                }
            }
            _ => false,
        };
        if hit && matched.is_none() {
            matched = Some(match a.state.as_str() {
                "success" => Outcome::Success,
                "failure" => Outcome::Failure,
                _ => Outcome::Retry,
            });
        }
    }
    if let Err(e) = result {
        seen.push(format!("error {}", e.code()));
    }
    if seen.is_empty() {
        seen.push("no output to match".into());
    }
    (matched, seen.join(", "))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.char_indices().nth(117).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// Waiters written here rather than taken from a model: (module, function, what it waits for).
pub const EXTRA_WAITERS: &[(&str, &str, &str)] = &[(
    "ecs",
    "wait_deployment_complete",
    "#{ cluster, services: [..] } (or service: ..): every service's PRIMARY deployment has rolloutState \
     COMPLETED, runningCount == desiredCount, and, when it has target groups, at least desiredCount \
     healthy targets in each. Default delay 15 s, timeout 1800 s.",
)];

/// The function names of `EXTRA_WAITERS` in one script module.
pub fn extra_waiters(module: &str) -> impl Iterator<Item = &'static str> + '_ {
    EXTRA_WAITERS.iter().filter(move |(m, ..)| *m == module).map(|(_, f, _)| *f)
}

/// `ecs::wait_deployment_complete`: services-stable is not enough after a forced deployment, which
/// keeps the old tasks running (and counted) until the new ones pass their health checks.
pub fn wait_deployment_complete(ctx: &Context, input: &Map, opts: WaitOptions) -> Result<Dynamic, CallError> {
    let fail = |code: &str, message: String| CallError::Waiter {
        service: "ecs".into(),
        operation: "wait_deployment_complete".into(),
        code: code.into(),
        message,
    };
    let mut request = Map::new();
    for (k, v) in input.iter() {
        match k.as_str() {
            "cluster" => request.insert("cluster".into(), v.clone()),
            "service" => request.insert("services".into(), Dynamic::from_array(vec![v.clone()])),
            "services" => request.insert("services".into(), v.clone()),
            other => {
                return Err(CallError::Validation {
                    service: "ecs".into(),
                    operation: "wait_deployment_complete".into(),
                    problems: vec![format!("unknown key {other} (valid: cluster, service, services)")],
                })
            }
        };
    }
    if !request.contains_key("services") {
        return Err(CallError::Validation {
            service: "ecs".into(),
            operation: "wait_deployment_complete".into(),
            problems: vec!["missing required member services (or service)".into()],
        });
    }
    let delay = opts.delay.unwrap_or(15.0).max(0.0);
    let timeout = opts.timeout.unwrap_or(1800.0);
    poll(ctx, "ecs", "wait_deployment_complete", delay, timeout, not_waited(ctx, input), |_| {
        let out = invoke(ctx, Svc::Ecs, "DescribeServices", &request, true)?;
        let doc = json::to_value(&out);
        let mut seen = Vec::new();
        let mut done = true;
        let services = doc["services"].as_array().cloned().unwrap_or_default();
        if let Some(missing) = doc["failures"].as_array().filter(|f| !f.is_empty()) {
            return Err(fail("WaiterFailure", format!("services not found: {}", Value::Array(missing.clone()))));
        }
        for s in &services {
            let name = s["serviceName"].as_str().unwrap_or("?");
            let primary = s["deployments"].as_array().and_then(|d| d.iter().find(|d| d["status"] == "PRIMARY"));
            let rollout = primary.and_then(|p| p["rolloutState"].as_str()).unwrap_or("?");
            if rollout == "FAILED" {
                let why = primary.and_then(|p| p["rolloutStateReason"].as_str()).unwrap_or("");
                return Err(fail("WaiterFailure", format!("{name}: the deployment failed: {why}")));
            }
            let running = s["runningCount"].as_i64().unwrap_or(0);
            let desired = s["desiredCount"].as_i64().unwrap_or(0);
            let deployments = s["deployments"].as_array().map(Vec::len).unwrap_or(0);
            let mut line = format!("{name}: rollout {rollout}, running {running}/{desired}, deployments {deployments}");
            done &= rollout == "COMPLETED" && running == desired;
            for lb in s["loadBalancers"].as_array().into_iter().flatten() {
                let Some(tg) = lb["targetGroupArn"].as_str() else { continue };
                let mut q = Map::new();
                q.insert("TargetGroupArn".into(), tg.into());
                let health = json::to_value(&invoke(ctx, Svc::Elbv2, "DescribeTargetHealth", &q, true)?);
                let healthy =
                    json::query(&health, "TargetHealthDescriptions[?TargetHealth.State=='healthy'] | length(@)")
                        .ok()
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0);
                line.push_str(&format!(", healthy targets {healthy}/{desired}"));
                done &= healthy >= desired;
            }
            seen.push(line);
        }
        Ok((done.then_some(out), seen.join("; ")))
    })
}
