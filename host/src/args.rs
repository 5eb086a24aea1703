//! The options commands share: how to reach AWS, where journals are kept, how a run locks, and
//! what `run`, `plan` and `repl` take. The lowest file of the host: the commands read these, and
//! `cli` puts them on the command line.

use clap::Args;
use runbook_bindings::AwsOptions;
use std::path::PathBuf;

/// Options shared by `run`, `plan` and `repl`.
#[derive(Args, Clone, Default)]
pub struct Common {
    /// A runbook parameter, read with param("name", default); repeatable
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Do not tag created resources with the run id (tag runbook:run-id)
    #[arg(long = "no-tag")]
    pub no_tag: bool,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// A limit of the run: operations, call-depth, memory (such as 4GiB), string-size, array-size,
    /// map-size, aws-calls; NAME=none lifts one; repeatable
    #[arg(long = "limit", value_name = "NAME=N")]
    pub limits: Vec<String>,
    /// Log every AWS call to stderr (-vv: with its parameters, sensitive members masked)
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print members the service models mark sensitive instead of <sensitive>
    #[arg(long = "show-sensitive")]
    pub show_sensitive: bool,
}

/// How a run locks the places it writes in.
#[derive(Args, Clone, Default)]
pub struct LockArgs {
    /// The lock's name (default: the runbook's path from the project root, the nearest folder above
    /// it with runbook.toml or .git); runs with one name never write in one account and region at once
    #[arg(long = "lock", value_name = "NAME", conflicts_with = "no_lock")]
    pub lock: Option<String>,
    /// Take no lock
    #[arg(long = "no-lock")]
    pub no_lock: bool,
    /// Seconds to wait for a lock another run holds (default: refuse at once, exit 2)
    #[arg(long = "lock-timeout", value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(0..=86400))]
    pub lock_timeout: Option<u32>,
    /// Seconds a lock lasts unless its holder renews it, which it does every third (default 60)
    #[arg(long = "lock-lease", value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(3..=3600))]
    pub lock_lease: Option<u32>,
}

/// How to reach AWS.
#[derive(Args, Clone, Default)]
pub struct AwsArgs {
    /// The AWS profile to use (default: AWS_PROFILE, then "default")
    #[arg(long)]
    pub profile: Option<String>,
    /// The AWS region (default: AWS_REGION, then the profile's region)
    #[arg(long)]
    pub region: Option<String>,
    /// Send every request to this endpoint (for example a local emulator)
    #[arg(long = "endpoint-url", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Attempts per call, retries included (default: AWS_MAX_ATTEMPTS, the profile, then 10)
    #[arg(long = "max-attempts", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: Option<u32>,
    /// Retry mode (default: AWS_RETRY_MODE, the profile, then standard)
    #[arg(long = "retry-mode", value_name = "MODE", value_parser = ["standard", "adaptive"])]
    pub retry_mode: Option<String>,
    /// Seconds one attempt waits for its answer before it counts as lost and is retried (default 60)
    #[arg(long = "call-timeout", value_name = "SECONDS")]
    pub call_timeout: Option<f64>,
    /// Seconds after a create during which AWS's "not found" about it is retried (default 120)
    #[arg(long = "propagation-timeout", value_name = "SECONDS")]
    pub propagation_timeout: Option<f64>,
}

impl AwsArgs {
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: self.max_attempts,
            retry_mode: self.retry_mode.clone(),
            call_timeout: self.call_timeout,
            assume_role: None,
            propagation_timeout: self.propagation_timeout,
        }
    }
}

impl Common {
    pub fn aws(&self) -> AwsOptions {
        self.aws.options()
    }
}

/// Where run journals are kept.
#[derive(Args, Clone, Default)]
pub struct JournalArgs {
    /// The folder of run journals, or a journal store in S3 (s3://BUCKET/PREFIX, with a local cache)
    /// (default: RUNBOOK_JOURNAL_DIR, runbook.toml's journal_dir, then .runbook/runs)
    #[arg(long = "journal-dir", value_name = "DIR|S3")]
    pub journal_dir: Option<PathBuf>,
    /// The AWS profile a journal store in S3 is reached with (default: RUNBOOK_JOURNAL_PROFILE,
    /// runbook.toml's journal_profile, then the command's own credentials)
    #[arg(long = "journal-profile", value_name = "PROFILE")]
    pub journal_profile: Option<String>,
}

impl JournalArgs {
    pub fn dir(&self) -> PathBuf {
        runbook_run::journal::dir(self.journal_dir.as_deref())
    }
}
