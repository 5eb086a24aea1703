//! The one place the binding layer lets a layer above act on its calls, the way the SDK's
//! orchestrator lets interceptors in: the bindings call these hooks and know nothing of what
//! listens. The run layer (crate runbook-run: plan, step, journal, reconcile, undo) is one listener;
//! an embedding program that registers plain bindings gets [`Plain`], which sends everything.

use crate::error::CallError;
use crate::svc::Svc;
use rhai::{Dynamic, Map};

/// Sends a write as it is: one call with the SDK's attempts.
pub type SendWrite<'a> = &'a dyn Fn(&Map) -> Result<Dynamic, CallError>;

/// `C` is the context a call runs in ([`crate::runtime::Context`], which holds its hooks).
pub trait Hooks<C: ?Sized> {
    /// A validated write: the listener decides whether and how it is sent; `send` sends it.
    fn write(&self, ctx: &C, svc: Svc, op: &str, input: &Map, send: SendWrite) -> Result<Dynamic, CallError> {
        let _ = (ctx, svc, op);
        send(input)
    }

    /// A validated read about to be sent: an answer instead of sending it (a plan answers reads of
    /// what it only planned).
    fn answer_read(&self, ctx: &C, svc: Svc, op: &str, input: &Map) -> Option<Dynamic> {
        let _ = (ctx, svc, op, input);
        None
    }

    /// A read's answer, once it came.
    fn after_read(&self, ctx: &C, svc: Svc, op: &str, input: &Map, answer: &Result<Dynamic, CallError>) {
        let _ = (ctx, svc, op, input, answer);
    }

    /// Where in the script the next call comes from (`file`, line).
    fn set_site(&self, source: &str, line: Option<usize>) {
        let _ = (source, line);
    }

    /// Whether waits and sleeps return at once (nothing was sent that could be waited for).
    fn planning(&self) -> bool {
        false
    }

    /// An answer that says something is not found: why it is worth sending again (`sg-… was
    /// created 3 s ago`) when the layer above knows the run made it moments ago; `None` lets the
    /// error stand at once.
    fn propagating(&self, ctx: &C, svc: Svc, op: &str, input: &Map, error: &CallError) -> Option<String> {
        let _ = (ctx, svc, op, input, error);
        None
    }

    /// What the script's log lines start with: `(planned) ` during a plan, `(skipped) ` after a
    /// write the operator skipped, so a line never claims what was not done.
    fn log_mark(&self) -> &'static str {
        ""
    }

    /// A value in `input` that stands for the result of a call that was not made, if any.
    fn placeholder_in(&self, input: &Map) -> Option<String> {
        let _ = input;
        None
    }

    /// Something that took time happened: a request answered, a wait or a pause before a retry
    /// ended. The run layer keeps them for the run's timeline.
    fn event(&self, event: &Event) {
        let _ = event;
    }
}

/// What took time in a run, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A request that changes nothing.
    Read,
    /// A request that changes something.
    Write,
    /// A waiter's polls, from the first to the last (its polls are reads of their own).
    Wait,
    /// The pause before a request is sent again while AWS catches up with a create.
    Retry,
    /// Waiting for a lock another run holds.
    Lock,
}

impl EventKind {
    pub fn word(self) -> &'static str {
        match self {
            EventKind::Read => "read",
            EventKind::Write => "write",
            EventKind::Wait => "wait",
            EventKind::Retry => "retry",
            EventKind::Lock => "lock",
        }
    }
}

/// One thing that took time, with when it started (milliseconds since the Unix epoch) and for how
/// long.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    /// `elbv2::describe_target_groups`, `ecs::wait services_stable`, `lock deploy`.
    pub what: String,
    pub started_ms: u64,
    pub ms: u64,
    /// The error code it ended with, if it failed (a retry's: the answer it retries).
    pub error: Option<String>,
    /// A request's attempts (the SDK's own retries), a wait's polls.
    pub count: u32,
    /// What was seen last or why: a wait's last state, a retry's reason.
    pub detail: Option<String>,
    /// The error says that what was asked for does not exist (a look-up before a create, as a
    /// script's `e.not_found` reads it): an answer, not a failure.
    pub not_found: bool,
}

impl Event {
    /// An event that started at `started` (an instant) and ends now.
    pub fn since(kind: EventKind, what: String, started: std::time::Instant) -> Event {
        let ms = started.elapsed().as_millis() as u64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Event {
            kind,
            what,
            started_ms: now.saturating_sub(ms),
            ms,
            error: None,
            count: 1,
            detail: None,
            not_found: false,
        }
    }
}

/// Plain bindings: every call is sent as it is.
#[derive(Debug, Default)]
pub struct Plain;

impl<C: ?Sized> Hooks<C> for Plain {}
