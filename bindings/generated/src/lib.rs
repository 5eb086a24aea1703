//! runbook-ops: the lowest layer. Every operation of the seven services that this build includes,
//! as a function from a Rhai map to a future of the SDK call and back to a Rhai value, written by
//! `runbook-codegen` (`make generate`) from the service models, with the conversion traits they
//! use, the error type every call answers, and the request id of the last answer.
//!
//! It calls only the SDK crates and Rhai's value types: nothing here knows of scripts, engines,
//! runs or journals. The binding layer (`runbook-bindings`) sits on top: it picks the client for a
//! place and calls [`generated`]`::<service>::call`, and reads each service's `TABLE` (the model's
//! shapes), `OPERATIONS` and `WAITERS`. This crate changes only when the generator runs, so an edit
//! in the layers above does not compile it again.

pub mod convert;
pub mod error;
pub mod generated;
pub mod request;
