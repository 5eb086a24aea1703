//! Waiters, run from the models' acceptors: poll the operation, match each acceptor (JMESPath on the
//! output, HTTP status, or error code), print what was seen, and stop on success, failure or timeout.

use crate::call::{invoke, Svc};
use crate::error::CallError;
use crate::json;
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
    let label = format!("{}::{}", svc.module(), waiter.func);
    let delay = opts.delay.unwrap_or(waiter.delay as f64).max(0.0);
    let timeout = opts.timeout.unwrap_or(waiter.delay as f64 * waiter.max_attempts as f64);
    let started = Instant::now();
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        let result = invoke(ctx, svc, &waiter.operation, input, true);
        let (outcome, seen) = evaluate(&waiter.acceptors, &result);
        let elapsed = started.elapsed().as_secs_f64();
        match outcome {
            Some(Outcome::Success) => {
                eprintln!("{label}: done after {attempt} poll(s), {elapsed:.0}s ({seen})");
                return result.or(Ok(Dynamic::UNIT));
            }
            Some(Outcome::Failure) => {
                return Err(CallError::Waiter {
                    service: svc.module().into(),
                    operation: waiter.func.clone(),
                    code: "WaiterFailure".into(),
                    message: format!("reached a failure state after {attempt} poll(s): {seen}"),
                });
            }
            Some(Outcome::Retry) => {}
            // An error that no acceptor expects ends the wait with that error.
            None => {
                let _ = result?;
            }
        }
        if elapsed + delay > timeout {
            return Err(CallError::Waiter {
                service: svc.module().into(),
                operation: waiter.func.clone(),
                code: "WaiterTimeout".into(),
                message: format!(
                    "gave up after {attempt} poll(s) in {elapsed:.0}s (timeout {timeout:.0}s); last seen: {seen}"
                ),
            });
        }
        eprintln!("{label}: poll {attempt}: {seen}; next in {delay:.0}s");
        ctx.sleep(&waiter.func, delay)?;
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
