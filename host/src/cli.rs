//! Command-line interface: `run`, `repl`, `help`.

use clap::{Args, Parser, Subcommand};
use runbook_bindings::AwsOptions;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "runbook", version, about = "Run AWS runbooks written in Rhai", disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a runbook file
    Run {
        /// The runbook (.rhai)
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Explore AWS interactively
    Repl {
        #[command(flatten)]
        common: Common,
    },
    /// Show the services, a service's operations and waiters, or one operation's parameters
    Help {
        /// `elbv2` or `elbv2::create_target_group`; nothing for the list of services and helpers
        topic: Option<String>,
    },
}

/// Options shared by `run` and `repl`.
#[derive(Args, Clone, Default)]
pub struct Common {
    /// A runbook parameter, read with param("name", default); repeatable
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// The AWS profile to use (default: AWS_PROFILE, then "default")
    #[arg(long)]
    pub profile: Option<String>,
    /// The AWS region (default: AWS_REGION, then the profile's region)
    #[arg(long)]
    pub region: Option<String>,
    /// Send every request to this endpoint (for example a local emulator)
    #[arg(long = "endpoint-url", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl Common {
    pub fn aws(&self) -> AwsOptions {
        AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Run { file, common } => crate::run::on_script_thread(move || crate::run::run_file(&file, &common)),
        Command::Repl { common } => crate::run::on_script_thread(move || crate::repl::repl(&common)),
        Command::Help { topic } => crate::help::help(topic.as_deref()),
    }
}
