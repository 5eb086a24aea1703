//! Command-line interface: `run`, `plan`, `policy`, `check`, `test`, `repl`, `runs`, `show`, `undo`, `unlock`, `help`.

use clap::{Args, Parser, Subcommand};
use clap_complete::{ArgValueCandidates, ArgValueCompleter};
use runbook_bindings::AwsOptions;
use runbook_run::Mode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "runbook", version, about = "Run AWS runbooks written in Rhai", disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a runbook file
    Run {
        /// The runbook (.rhai)
        file: PathBuf,
        /// Show each write (an operation that changes something) and ask before sending it
        #[arg(long)]
        step: bool,
        #[command(flatten)]
        common: Common,
        #[command(flatten, next_help_heading = "Locks")]
        lock: LockArgs,
        #[command(flatten, next_help_heading = "Many targets")]
        fleet: crate::fleet::FleetArgs,
    },
    /// Show the writes a runbook would make, without making them (reads are sent)
    Plan {
        /// The runbook (.rhai)
        file: PathBuf,
        #[command(flatten)]
        common: Common,
        #[command(flatten, next_help_heading = "Many targets")]
        fleet: crate::fleet::FleetArgs,
    },
    /// Print the IAM policy a runbook's run and its undo need (JSON), from a plan of the run
    #[command(after_help = "Actions come from a plan against the account the options reach: its reads, its writes, \
                            the look-ups before each write, and the calls undo would make (in statements of \
                            their own, Sid Undo…). Permissions IAM checks beside a call are added: tagging on \
                            create, iam:PassRole, iam:CreateServiceLinkedRole, sts:AssumeRole.")]
    Policy {
        /// The runbook (.rhai)
        file: PathBuf,
        /// Name the resources the plan knows (names and ARNs the runbook gives) where the action's
        /// resource type is certain, instead of "*"
        #[arg(long)]
        narrow: bool,
        /// Print as well the trust policy a fleet's --assume-role role needs: who assumes it, an
        /// account id or a principal's ARN
        #[arg(long, value_name = "ACCOUNT|ARN")]
        trust: Option<String>,
        /// The external id that trust policy asks for
        #[arg(long = "external-id", value_name = "ID", requires = "trust")]
        external_id: Option<String>,
        /// Print each action with the runbook line that needs it, as JSON lines (a fleet's check)
        #[arg(long, hide = true, conflicts_with_all = ["narrow", "trust"])]
        needs: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Find the mistakes in runbooks without AWS: unknown functions, inputs the models refuse, bad imports
    #[command(after_help = "Exit 0 when no mistake is found, 1 when one is, 2 when a path cannot be read. \
                            No credentials, region or network are used.")]
    Check {
        /// Runbook files or folders (every .rhai under them)
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// text, json, or github (annotations for GitHub Actions)
        #[arg(long, value_enum, default_value = "text")]
        format: crate::check::Format,
    },
    /// Run the fn test_*() of *_test.rhai files, each in a fresh engine, with mocks of AWS operations
    #[command(after_help = "Helpers: assert(cond[, message]), assert_eq(a, b), expect_error(|| ..., \"Code\"), \
                            mock(\"svc::function\", |input| answer), aws_error(code, message), calls(\"svc::function\"), \
                            run_runbook(path[, #{ params }]), plan_of(path[, #{ params }]). Calls no mock stands in \
                            for go where the options say. Exit 1 when a test fails.")]
    Test {
        /// Test files, or folders holding *_test.rhai files (default: the current folder)
        paths: Vec<PathBuf>,
        /// Send calls no mock stands in for to the configured endpoint (else they fail as
        /// NotMocked); their writes are journaled, and `runbook undo` removes them
        #[arg(long)]
        live: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Show a runbook's opening comment and the parameters it and its imports read
    Params {
        /// The runbook (.rhai)
        file: PathBuf,
    },
    /// Explore AWS interactively
    Repl {
        #[command(flatten)]
        common: Common,
    },
    /// List the recorded runs
    Runs {
        /// Only the runs that wrote something
        #[arg(long)]
        writes: bool,
        #[command(flatten)]
        journal: JournalArgs,
    },
    /// Show one recorded run: its parameters, every write and its outcome
    Show {
        /// A run id, a unique prefix of one, a fleet id (every shard of the fleet), or `last`
        #[arg(add = ArgValueCandidates::new(crate::shell::run_ids))]
        run: String,
        #[command(flatten)]
        journal: JournalArgs,
    },
    /// Remove what a recorded run created, newest first
    #[command(
        after_help = "Unless given, --profile, --region and --endpoint-url are the ones the run used, and a role \
                            the run assumed is assumed again. The account these credentials reach is confirmed \
                            with STS first: undo refuses (exit 2) if it is not the run's.\n\
                            `last` is the newest run that wrote something and is not undone."
    )]
    Undo {
        /// A run id, a unique prefix of one, a fleet id (every shard of the fleet), or `last`
        #[arg(add = ArgValueCandidates::new(crate::shell::run_ids))]
        run: String,
        /// Only show what would be removed
        #[arg(long)]
        plan: bool,
        /// Put back values that a later run or a hand changed since the run (undo refuses them
        /// otherwise); a value that points at something gone is never put back
        #[arg(long)]
        force: bool,
        /// Undo as this role (a name in the run's account, or an ARN), assumed with the credentials
        /// given; default: the role the run itself assumed, if any
        #[arg(long = "assume-role", value_name = "NAME|ARN")]
        assume_role: Option<String>,
        /// For a fleet run: targets undone at once (default 1)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
        concurrency: Option<u32>,
        /// How to reach AWS; profile, region and endpoint default to the run's
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        journal: JournalArgs,
        /// The undo takes the lock its run took (by name, in each place it writes in)
        #[command(flatten, next_help_heading = "Locks")]
        lock: LockArgs,
    },
    /// Break a run's lock by hand: for a holder that cannot give it back (its lease ends by itself)
    #[command(after_help = "Lists the locks named LOCK in the journal folder's locks/ and their holders, asks \
                            before breaking each (--yes does not ask), and journals what it broke as a run of \
                            its own. The holder, if it still runs, stops before its next write.")]
    Unlock {
        /// The lock's name: by default a runbook's path from the project root (`runbooks/tutorial.rhai`)
        lock: String,
        /// Break without asking
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        journal: JournalArgs,
    },
    /// Show the services, a service's operations and waiters, or one operation's parameters
    Help {
        /// `elbv2` or `elbv2::create_target_group`; nothing for the list of services and helpers
        #[arg(add = ArgValueCompleter::new(crate::shell::help_topics))]
        topic: Option<String>,
    },
    /// Print the script that makes a shell complete runbook's commands, flags, help topics and run ids
    #[command(after_help = "bash: source <(runbook completions bash)   (or put it in ~/.bashrc)\n\
                            zsh:  source <(runbook completions zsh)\n\
                            fish: runbook completions fish | source")]
    Completions {
        #[arg(value_parser = ["bash", "zsh", "fish", "elvish", "powershell"])]
        shell: String,
    },
}

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
    /// A limit of the run: operations, call-depth, string-size, array-size, map-size, aws-calls; repeatable
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

/// Fills in from `runbook.toml` what a command's flags and the environment leave open. A fleet's
/// targets name their own places (its runs read the file themselves), and an undo goes where its
/// run went: neither takes the file's region or profile.
fn apply_project(command: &mut Command) -> Result<(), String> {
    let (aws, journal, lock) = match command {
        Command::Run { common: Common { aws, journal, .. }, lock, fleet, .. } => {
            (Some(aws).filter(|_| !fleet.active()), journal, Some(lock))
        }
        Command::Plan { common: Common { aws, journal, .. }, fleet, .. } => {
            (Some(aws).filter(|_| !fleet.active()), journal, None)
        }
        Command::Policy { common: Common { aws, journal, .. }, .. }
        | Command::Test { common: Common { aws, journal, .. }, .. }
        | Command::Repl { common: Common { aws, journal, .. } } => (Some(aws), journal, None),
        Command::Runs { journal, .. } | Command::Show { journal, .. } | Command::Unlock { journal, .. } => {
            (None, journal, None)
        }
        Command::Undo { journal, lock, .. } => (None, journal, Some(lock)),
        _ => return Ok(()),
    };
    let project = crate::project::Project::load()?;
    if let Some(aws) = aws {
        project.aws(aws);
    }
    project.journal(journal);
    if let Some(lock) = lock {
        project.lock(lock);
    }
    Ok(())
}

/// A journal folder given as `s3://BUCKET/PREFIX` (flag, environment or runbook.toml): connects
/// the store with the command's credentials, brings its records into the local cache for the
/// commands that read runs, and gives the command the cache as its folder, which writes through
/// to the store.
fn open_store(command: &mut Command) -> Result<(), String> {
    // Only the commands that read recorded runs bring the store's records into the cache; a run
    // only adds its own.
    // A run that joins a fleet by its id reads the store too: a fleet undone already is not joined.
    let joins = |f: &crate::fleet::FleetArgs| f.fleet_id.is_some() || f.shard.is_some() || f.shards.is_some();
    let reads = matches!(command, Command::Runs { .. } | Command::Show { .. } | Command::Undo { .. })
        || matches!(command, Command::Run { fleet, .. } if joins(fleet));
    let (aws, journal) = match command {
        Command::Run { common: Common { aws, journal, .. }, .. }
        | Command::Plan { common: Common { aws, journal, .. }, .. }
        | Command::Policy { common: Common { aws, journal, .. }, .. }
        | Command::Test { common: Common { aws, journal, .. }, .. }
        | Command::Repl { common: Common { aws, journal, .. } }
        | Command::Undo { aws, journal, .. } => (Some(&*aws), journal),
        Command::Runs { journal, .. } | Command::Show { journal, .. } | Command::Unlock { journal, .. } => {
            (None, journal)
        }
        _ => return Ok(()),
    };
    let given = match &journal.journal_dir {
        Some(d) => d.to_string_lossy().into_owned(),
        None => std::env::var("RUNBOOK_JOURNAL_DIR").unwrap_or_default(),
    };
    let journal_profile = journal
        .journal_profile
        .clone()
        .or_else(|| std::env::var("RUNBOOK_JOURNAL_PROFILE").ok().filter(|p| !p.trim().is_empty()));
    let Some(spec) = runbook_run::store::Spec::parse(&given)? else {
        return match journal_profile {
            Some(p) => Err(format!(
                "the journal profile {p} (--journal-profile or RUNBOOK_JOURNAL_PROFILE) is for a journal store in S3 \
                 (--journal-dir s3://BUCKET/PREFIX); the journals go to the folder {}",
                if given.is_empty() { runbook_run::journal::DEFAULT_DIR } else { &given }
            )),
            None => Ok(()),
        };
    };
    // The store's own profile reaches it in its own region; else the command's credentials do.
    let (profile, region, endpoint) = match (aws, &journal_profile) {
        (Some(a), Some(p)) => (Some(p.as_str()), None, a.endpoint_url.as_deref()),
        (None, Some(p)) => (Some(p.as_str()), None, None),
        (Some(a), None) => (a.profile.as_deref(), a.region.as_deref(), a.endpoint_url.as_deref()),
        (None, None) => (None, None, None),
    };
    let store = runbook_run::store::S3Store::connect(spec, profile, region, endpoint, journal_profile.is_some())?;
    store.check().map_err(|e| match &journal_profile {
        Some(p) => format!("{e} (the store is reached with the journal profile {p})"),
        None => e,
    })?;
    if reads {
        store.pull(&store.spec.cache_dir())?;
    }
    journal.journal_dir = Some(runbook_run::store::register(std::sync::Arc::new(store)));
    journal.journal_profile = journal_profile;
    Ok(())
}

pub fn main() -> ExitCode {
    crate::shell::answer_if_asked();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut command = cli.command;
    if let Err(e) = apply_project(&mut command).and_then(|()| open_store(&mut command)) {
        return crate::run::fail(&e);
    }
    match command {
        Command::Run { file, step, common, lock, fleet } if fleet.active() => {
            if step {
                return crate::run::fail("--step asks before each write of one run: it does not go with many targets");
            }
            crate::fleet::run(&file, &common, &fleet, false, &lock)
        }
        Command::Plan { file, common, fleet } if fleet.active() => {
            crate::fleet::run(&file, &common, &fleet, true, &LockArgs::default())
        }
        Command::Run { file, step, common, lock, fleet } => {
            if let Some(e) = fleet.stray() {
                return crate::run::fail(&e);
            }
            let mode = if step { Mode::Step } else { Mode::Run };
            crate::run::on_script_thread(move || crate::run::run_file_locked(&file, &common, mode, &lock))
        }
        Command::Plan { file, common, fleet } => {
            if let Some(e) = fleet.stray() {
                return crate::run::fail(&e);
            }
            crate::run::on_script_thread(move || crate::run::run_file(&file, &common, Mode::Plan))
        }
        Command::Policy { file, narrow, trust, external_id, needs, common } => {
            let args = crate::policy::PolicyArgs { narrow, trust, external_id, needs };
            if let Err(e) = args.check() {
                return crate::run::fail(&e);
            }
            crate::run::on_script_thread(move || crate::run::run_file_for(&file, &common, Mode::Plan, Some(&args)))
        }
        Command::Params { file } => crate::params::show(&file),
        Command::Test { paths, live, common } => {
            crate::run::on_script_thread(move || crate::testing::run(&paths, &common, live))
        }
        Command::Check { paths, format } => crate::run::on_script_thread(move || crate::check::run(&paths, format)),
        Command::Unlock { lock, yes, journal } => crate::unlock::unlock(&journal.dir(), &lock, yes),
        Command::Runs { writes, journal } => crate::runs::list(&journal.dir(), writes),
        Command::Show { run, journal } => {
            let dir = journal.dir();
            let flags = crate::run::journal_flags(&dir, journal.journal_profile.as_deref());
            crate::runs::show(&dir, &run, &flags)
        }
        Command::Undo { run, plan, force, assume_role, concurrency, aws, journal, lock } => {
            let aws = aws.options();
            crate::run::on_script_thread(move || {
                crate::runs::undo(&journal, &run, aws, assume_role, (plan, force), concurrency, &lock)
            })
        }
        Command::Repl { common } => crate::run::on_script_thread(move || crate::repl::repl(&common)),
        Command::Help { topic } => crate::help::help(topic.as_deref()),
        Command::Completions { shell } => crate::shell::script(&shell),
    }
}
