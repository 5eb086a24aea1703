//! The command line: `run`, `plan`, `policy`, `check`, `test`, `repl`, `runs`, `show`, `undo`, `unlock`,
//! `help`, as clap parses them, and what runbook.toml and a journal store in S3 fill in before a
//! command runs (`main.rs` then hands each to its command).

use crate::args::{AwsArgs, Common, JournalArgs, LockArgs};
use clap::{Parser, Subcommand};
use clap_complete::{ArgValueCandidates, ArgValueCompleter};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "runbook", version, about = "Run AWS runbooks written in Rhai", disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print a line for each poll, retry and target instead of a status drawn again in place
    /// (drawn only when stderr is a terminal; RUNBOOK_NO_PROGRESS=1 does the same)
    #[arg(long = "no-progress", global = true)]
    pub no_progress: bool,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// Print instead the policy `runbook drift` needs for runs of this runbook: the reads of
        /// what its writes make or set
        #[arg(long, conflicts_with_all = ["narrow", "trust", "needs"])]
        drift: bool,
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
    /// Run one aws CLI command: the aws CLI's words, checked against the models, printed as the aws CLI
    /// prints them; a write is journaled as a run (`runbook undo last` takes it back)
    #[command(after_help = "Run options (--no-tag, --journal-dir, --lock, -v, ...) go before SERVICE; the aws CLI's \
                            own options (--region, --profile, --endpoint-url, --output, --query, --no-paginate, \
                            --debug, ...) anywhere after it.\n\
                            Examples:\n  runbook aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text\n  \
                            runbook aws --no-tag elbv2 create-target-group --name web --protocol HTTP --port 80 --vpc-id vpc-1\n  \
                            runbook aws --to rhai ec2 authorize-security-group-ingress --group-id sg-1 --protocol tcp --port 80 --cidr 0.0.0.0/0\n\
                            Exit 0; 2 for a command line the aws CLI would not take; 255 for a value it cannot read or an AWS error.")]
    Aws {
        /// Print what the command stands for instead of sending it: the Rhai call, or the input as
        /// --cli-input-json takes it
        #[arg(long, value_enum, value_name = "rhai|json")]
        to: Option<crate::aws::To>,
        #[command(flatten)]
        common: Common,
        #[command(flatten, next_help_heading = "Locks")]
        lock: LockArgs,
        /// SERVICE OPERATION [ARGS...], as after `aws`
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "SERVICE OPERATION ARGS",
            add = ArgValueCompleter::new(crate::candidates::aws_words)
        )]
        words: Vec<String>,
    },
    /// Write a Rhai runbook from a bash script of aws CLI commands, or a Markdown file's bash blocks
    #[command(after_help = "Each aws command becomes the call it sends; what cannot be converted is kept as a \
                            `// not converted:` comment and listed on stderr (exit 1; 0 when all converted).\n\
                            Example: runbook import setup.sh -o runbooks/setup.rhai --idempotent")]
    Import {
        /// The script (.sh, .md), or - for stdin
        file: PathBuf,
        /// Write the runbook here instead of stdout
        #[arg(short = 'o', long = "output", value_name = "FILE.rhai")]
        output: Option<PathBuf>,
        /// Send each write only when needed: a create whose thing exists is not sent again, a change
        /// that holds already is left alone (the call option converge)
        #[arg(long)]
        idempotent: bool,
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
        #[arg(add = ArgValueCandidates::new(crate::candidates::run_ids))]
        run: String,
        /// Draw the run instead, in FILE (.svg or .html): a lane per target, each call a bar by its
        /// start and duration, the critical path marked
        #[arg(long, value_name = "FILE")]
        timeline: Option<PathBuf>,
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
        #[arg(add = ArgValueCandidates::new(crate::candidates::run_ids))]
        run: String,
        /// Only show what undo would do (remove, restore, or leave and why), sending no write
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
    /// Read back what a recorded run made or changed, and tell what is no longer as it left it
    #[command(after_help = "For each resource the run made or changed and has not undone: in sync, changed \
                            (each member the run set, and what it is now; for a list, what was added and \
                            removed), gone, back (taken away by the run, there again), not read back (and why), \
                            or failed (the read's error). A change a later run made is that run's, not drift. \
                            Reads only. Exit 0 when everything is in sync, 2 when something drifted, 1 on an \
                            error (a read failed, the run cannot be read, a wrong command line).")]
    Drift {
        /// A run id, a unique prefix of one, a fleet id (every target of the fleet), or `last`
        #[arg(add = ArgValueCandidates::new(crate::candidates::run_ids), required_unless_present = "all")]
        run: Option<String>,
        /// Check every run that wrote something and is not undone, newest first
        #[arg(long, conflicts_with = "run")]
        all: bool,
        /// text, or json (one document)
        #[arg(long, value_enum, default_value = "text")]
        format: crate::drift::Format,
        /// Read with this role (a name in the run's account, or an ARN), assumed with the credentials
        /// given; default: the role the run itself assumed, if any
        #[arg(long = "assume-role", value_name = "NAME|ARN")]
        assume_role: Option<String>,
        /// For a fleet run: targets checked at once (default: the fleet's own concurrency)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
        concurrency: Option<u32>,
        /// Write the JSON report to this file as well (a fleet's targets hand theirs over so)
        #[arg(long = "report-file", value_name = "FILE", hide = true)]
        report_file: Option<PathBuf>,
        /// Print no report on stdout (a fleet's targets, whose reports go to --report-file)
        #[arg(long, hide = true)]
        quiet: bool,
        /// How to reach AWS; profile, region and endpoint default to the run's
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        journal: JournalArgs,
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
    /// Serve editors over stdio as a language server: check's diagnostics, completion, hover
    Lsp,
    /// Show the services, a service's operations and waiters, or one operation's parameters
    Help {
        /// `elbv2` or `elbv2::create_target_group`; nothing for the list of services and helpers
        #[arg(add = ArgValueCompleter::new(crate::candidates::help_topics))]
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

/// Fills in from `runbook.toml` what a command's flags and the environment leave open. A fleet's
/// targets name their own places (its runs read the file themselves), and an undo goes where its
/// run went: neither takes the file's region or profile.
pub fn apply_project(command: &mut Command) -> Result<(), String> {
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
        Command::Aws { common: Common { aws, journal, .. }, lock, .. } => (Some(aws), journal, Some(lock)),
        Command::Runs { journal, .. } | Command::Show { journal, .. } | Command::Unlock { journal, .. } => {
            (None, journal, None)
        }
        Command::Undo { journal, lock, .. } => (None, journal, Some(lock)),
        Command::Drift { journal, .. } => (None, journal, None),
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
pub fn open_store(command: &mut Command) -> Result<(), String> {
    // Only the commands that read recorded runs bring the store's records into the cache; a run
    // only adds its own.
    // A run that joins a fleet by its id reads the store too: a fleet undone already is not joined.
    let joins = |f: &crate::fleet::FleetArgs| f.fleet_id.is_some() || f.shard.is_some() || f.shards.is_some();
    let reads =
        matches!(command, Command::Runs { .. } | Command::Show { .. } | Command::Undo { .. } | Command::Drift { .. })
            || matches!(command, Command::Run { fleet, .. } if joins(fleet));
    let (aws, journal) = match command {
        Command::Run { common: Common { aws, journal, .. }, .. }
        | Command::Plan { common: Common { aws, journal, .. }, .. }
        | Command::Policy { common: Common { aws, journal, .. }, .. }
        | Command::Test { common: Common { aws, journal, .. }, .. }
        | Command::Repl { common: Common { aws, journal, .. } }
        | Command::Aws { common: Common { aws, journal, .. }, .. }
        | Command::Undo { aws, journal, .. }
        | Command::Drift { aws, journal, .. } => (Some(&*aws), journal),
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
