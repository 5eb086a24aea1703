//! End-to-end tests: the real `runbook` binary against a private emulator each, with the emulator's
//! state checked through independent SDK calls.

// Test code: an unexpected None or error is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod authoring;
mod aws_cli;
mod aws_like;
mod before;
mod cli;
mod compare;
mod converge;
mod corpus;
mod crashes;
mod credentials;
mod diagnose;
mod diagnostics;
mod drift;
mod edges;
mod examples;
mod faults;
mod fidelity;
mod fleet;
mod https;
mod layers;
mod locks;
mod lsp;
mod model;
mod parity;
mod permissions;
mod progress;
mod query;
mod readme;
mod repl;
mod safety;
mod secrets;
mod shards;
mod store;
mod trust;
mod tutorial;
mod undo_since;
