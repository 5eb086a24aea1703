//! What a generated operation hands back besides its answer: the future it runs as, and the request
//! id AWS gave the answer, kept for the call path to journal.

use crate::error::CallError;
use rhai::Dynamic;
use std::future::Future;
use std::pin::Pin;

thread_local! {
    static REQUEST_ID: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Remembers the request id of the answer just received. Generated operations call this; the call
/// path takes it with [`take_request_id`] after `block_on`, which polls the future on this same thread.
pub fn note_request_id(out: &impl aws_types::request_id::RequestId) {
    REQUEST_ID.with(|r| *r.borrow_mut() = out.request_id().map(str::to_string));
}

pub fn take_request_id() -> Option<String> {
    REQUEST_ID.with(|r| r.borrow_mut().take())
}

pub fn peek_request_id() -> Option<String> {
    REQUEST_ID.with(|r| r.borrow().clone())
}

/// One operation on its way: the SDK call, its input converted, its answer converted back.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Dynamic, CallError>> + 'a>>;
