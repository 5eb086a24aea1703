//! The aws CLI's language: a command line as `aws` takes it (service, operation, arguments named
//! and shaped from the models, shorthand, JSON, `file://`, the CLI's own arguments for these
//! services, its global options), read into the operation and input map a script would call, and
//! an answer printed as the aws CLI prints it (JSON in the model's order, text, table, YAML, after
//! `--query`). `runbook aws`, the REPL's `aws …` lines and `import` all read commands here, so that
//! the three agree with each other and with the models the rest of the layer validates against.

pub mod args;
pub mod custom;
pub mod error;
pub mod names;
pub mod print;
pub mod shorthand;
pub mod source;

pub use args::{parse, Action, Command, Format, Globals};
pub use error::CliError;
