//! What a kind of write is described with, below everything that reads the descriptions: what a
//! look-up found and how it reads ([`Found`], [`Look`], [`Read`]: used by `reconcile` before and
//! after a write), and what a write created with the calls that remove it ([`Created`], [`Step`],
//! [`Inverse`]: kept in the journal, replayed by `undo`). The lowest file of the run layer: the
//! kinds' own modules (`records`), `reconcile` and `undo` build on it.

use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a look-up found: an id that tells one thing (or one state of it) from another, and the
/// output the write answers when it does it, as far as the look-up can rebuild it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: String,
    pub output: Value,
}

/// One look-up: the reads it makes go through `read`.
pub type Read<'a> = &'a dyn Fn(Svc, &str, Value) -> Result<Value, CallError>;

/// When a look-up is made.
#[derive(Debug, Clone, Copy)]
pub enum Look<'a> {
    /// Before the write is sent: only what identifies the thing is needed.
    Before,
    /// After it may have been done, with what the look-up found before it: the output the write
    /// answers is needed, and for writes that add a new thing each time, only what is new counts.
    After(Option<&'a Found>),
}

/// One resource a write created, with the calls that remove it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub kind: String,
    pub id: String,
    pub undo: Vec<Step>,
    /// The write changed something that existed, and `undo` puts back what it replaced, rather than
    /// removing a thing the write made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restores: bool,
}

/// One call of an undo, optionally retried while AWS answers one of `retry` (a dependency still
/// going away), then optionally followed by a waiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub service: String,
    pub operation: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_input: Option<Value>,
}

pub struct Inverse {
    pub created: Vec<Created>,
    /// Why this write cannot be undone, when it cannot.
    pub not_undoable: Option<String>,
    /// What a put replaced (it existed before the write).
    pub replaced: Option<String>,
}

pub(crate) fn step(service: Svc, operation: &str, input: Value) -> Step {
    Step {
        service: service.module().into(),
        operation: operation.into(),
        input,
        retry: vec![],
        wait: None,
        wait_input: None,
    }
}

impl Step {
    pub(crate) fn retry(mut self, codes: &[&str]) -> Step {
        self.retry = codes.iter().map(|c| c.to_string()).collect();
        self
    }
    pub(crate) fn wait(mut self, waiter: &str, input: Value) -> Step {
        self.wait = Some(waiter.into());
        self.wait_input = Some(input);
        self
    }
}
