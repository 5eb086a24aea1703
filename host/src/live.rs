//! Live completion of resource identifiers in the REPL: inside `elbv2::describe_target_health(#{
//! TargetGroupArn: "`, Tab offers the account's target groups, and a name typed there completes to
//! its ARN. The read comes from the models
//! (`runbook_bindings::resources`); it runs on a worker thread with its own AWS context (one
//! attempt, a short timeout, no journal), so an endpoint that does not answer never holds the
//! prompt longer than [`DEADLINE`]. Answers are kept for [`FRESH`], or until the session writes
//! something; a Tab makes at most one call.

use crate::complete::ValueSpot;
use runbook_bindings::call::invoke;
use runbook_bindings::resources::{self, Reader};
use runbook_bindings::{json, AwsOptions, Context, Svc};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How long a Tab waits for the account's answer. A later answer is kept for the next Tab.
pub const DEADLINE: Duration = Duration::from_millis(1000);
/// How long an answer (or a failure) is reused before the next Tab asks again.
pub const FRESH: Duration = Duration::from_secs(30);

struct Request {
    key: String,
    svc: Svc,
    operation: String,
    input: Value,
}

struct Response {
    key: String,
    answer: Result<Value, String>,
}

enum Entry {
    Asked(Instant),
    Answered(Instant, Result<Value, String>),
}

pub struct Live {
    options: AwsOptions,
    worker: RefCell<Option<(Sender<Request>, Receiver<Response>)>>,
    cache: RefCell<HashMap<String, Entry>>,
}

impl Live {
    pub fn new(options: AwsOptions) -> Live {
        Live { options, worker: RefCell::new(None), cache: RefCell::new(HashMap::new()) }
    }

    /// The account's values for the member at `spot` that begin with what is typed, each with the
    /// resource's name when it has one; empty when the member names no resource or the read fails.
    pub fn candidates(&self, spot: &ValueSpot) -> Vec<(String, String)> {
        let Some(svc) = Svc::by_module(&spot.module) else { return vec![] };
        let given: Vec<String> = spot.given.iter().map(|(k, _)| k.clone()).collect();
        let Some(reader) = resources::reader(svc, &spot.func, &spot.member, &given) else { return vec![] };
        let input: serde_json::Map<String, Value> = spot
            .given
            .iter()
            .filter(|(k, _)| reader.fills.contains(k))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let Some(answer) = self.answer(&reader, Value::Object(input)) else { return vec![] };
        let mut found = resources::values(&reader, &answer);
        // What is typed may begin the value, or the resource's name: `web` completes to the ARN
        // of the target group named web-tg.
        found.retain(|(value, name)| {
            value.starts_with(&spot.prefix) || (!spot.prefix.is_empty() && name.starts_with(&spot.prefix))
        });
        found.dedup();
        found
    }

    /// Drops every kept answer: the session wrote something, and the next Tab asks again.
    pub fn forget(&self) {
        self.cache.borrow_mut().clear();
    }

    fn answer(&self, reader: &Reader, input: Value) -> Option<Value> {
        let key = format!("{}::{} {input}", reader.svc.module(), reader.operation);
        self.collect(Duration::ZERO, &key);
        let fresh = |at: &Instant| at.elapsed() < FRESH;
        let asked = match self.cache.borrow().get(&key) {
            Some(Entry::Answered(at, answer)) if fresh(at) => return answer.as_ref().ok().cloned(),
            Some(Entry::Asked(at)) => fresh(at),
            _ => false,
        };
        if !asked {
            self.ask(Request { key: key.clone(), svc: reader.svc, operation: reader.operation.clone(), input })?;
        }
        self.collect(DEADLINE, &key);
        match self.cache.borrow().get(&key) {
            Some(Entry::Answered(_, answer)) => answer.as_ref().ok().cloned(),
            _ => None,
        }
    }

    /// Sends a request to the worker, starting it on first use.
    fn ask(&self, request: Request) -> Option<()> {
        let mut worker = self.worker.borrow_mut();
        if worker.is_none() {
            *worker = Some(start(self.options.clone()));
        }
        let (tx, _) = worker.as_ref()?;
        let key = request.key.clone();
        tx.send(request).ok()?;
        self.cache.borrow_mut().insert(key, Entry::Asked(Instant::now()));
        Some(())
    }

    /// Keeps the answers that have arrived, waiting up to `wait` for the one of `key`.
    fn collect(&self, wait: Duration, key: &str) {
        let worker = self.worker.borrow();
        let Some((_, rx)) = worker.as_ref() else { return };
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let got = if left.is_zero() {
                rx.try_recv().map_err(|_| RecvTimeoutError::Timeout)
            } else {
                rx.recv_timeout(left)
            };
            let Ok(response) = got else { return };
            let done = response.key == key;
            self.cache.borrow_mut().insert(response.key, Entry::Answered(Instant::now(), response.answer));
            if done {
                return;
            }
        }
    }
}

/// The worker: its own context, one attempt per call, each answer sent back as JSON.
fn start(options: AwsOptions) -> (Sender<Request>, Receiver<Response>) {
    let (tx, requests) = channel::<Request>();
    let (answers, rx) = channel::<Response>();
    let options = AwsOptions { max_attempts: Some(1), call_timeout: Some(DEADLINE.as_secs_f64() * 3.0), ..options };
    // The SDK's futures for EC2 are large in debug builds: the main thread's stack size, not a
    // spawned thread's default.
    let spawned = std::thread::Builder::new().name("runbook-complete".into()).stack_size(8 << 20).spawn(move || {
        let ctx = Context::new(&options, Default::default());
        for request in requests {
            let answer = match &ctx {
                Ok(ctx) => {
                    let input = json::from_value(&request.input).try_cast::<rhai::Map>().unwrap_or_default();
                    invoke(ctx, request.svc, &request.operation, &input, false)
                        .map(|v| json::to_value(&v))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.clone()),
            };
            if answers.send(Response { key: request.key, answer }).is_err() {
                return;
            }
        }
    });
    // Without the worker, no request is answered: Tab offers nothing after its wait.
    drop(spawned);
    (tx, rx)
}
