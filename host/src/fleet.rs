//! Fleet runs: one runbook across many accounts, regions and profiles, with rate control, one recap
//! and one undo.
//!
//! Targets come from `--regions` × `--profiles`, from `--accounts` with `--assume-role`, or from a
//! `--targets` file. Before anything runs, every target's credentials are resolved (assuming its
//! role) and its account confirmed with STS GetCallerIdentity. Each target then runs as a child
//! `runbook` process of its own: its own engine, context, SDK clients, retry partitions and journal.
//! The parent starts them in batches, at most `--concurrency` at a time, stops starting new ones
//! once `--max-errors` is exceeded, prefixes every line a child prints with its target (whole lines,
//! never interleaved), and ends with a recap. Its own journal lists the children, so `runs`, `show`
//! and `undo` take the fleet as one run.

use crate::cli::Common;
use crate::run::fail;
use runbook_bindings::run::journal;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How wide a plan fans out unless told: a plan sends reads only, so its risk is throttling, not
/// damage, and the SDK's per-account, per-region retry partitions absorb that.
pub const PLAN_CONCURRENCY: usize = 10;

/// The fleet options of `run`, `plan` and `undo`.
#[derive(clap::Args, Clone, Default)]
pub struct FleetArgs {
    /// Run in each of these regions (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "R,R")]
    pub regions: Vec<String>,
    /// Run with each of these profiles (comma-separated), in each region
    #[arg(long, value_delimiter = ',', value_name = "P,P")]
    pub profiles: Vec<String>,
    /// Run in each of these accounts (comma-separated) through --assume-role
    #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
    pub accounts: Vec<String>,
    /// The role to assume in each account: a name, or an ARN with {account} in it
    #[arg(long = "assume-role", value_name = "NAME|ARN")]
    pub assume_role: Option<String>,
    /// A TOML file of targets: per target its account, role, region, profile and set values
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Targets running at once (default 1 for run and undo, 10 for plan)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: Option<u32>,
    /// Once more targets than this have failed (a count, or a percentage of the targets), no new target starts
    #[arg(long = "max-errors", value_name = "N|P%")]
    pub max_errors: Option<String>,
    /// Batch sizes, counts or percentages, the last one repeating: 1,25%,100% runs a canary first
    #[arg(long, value_delimiter = ',', value_name = "SIZES")]
    pub batches: Vec<String>,
    /// Run the targets whose credentials work even if others fail the check before the run
    #[arg(long = "skip-unreachable")]
    pub skip_unreachable: bool,
    /// Write each target's output to DIR/<target>.log instead of the terminal
    #[arg(long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

impl FleetArgs {
    pub fn active(&self) -> bool {
        !self.regions.is_empty() || !self.profiles.is_empty() || !self.accounts.is_empty() || self.targets.is_some()
    }

    /// A rate or output option given without any targets to apply it to.
    pub fn stray(&self) -> Option<String> {
        let given = [
            (self.assume_role.is_some(), "--assume-role"),
            (self.concurrency.is_some(), "--concurrency"),
            (self.max_errors.is_some(), "--max-errors"),
            (!self.batches.is_empty(), "--batches"),
            (self.skip_unreachable, "--skip-unreachable"),
            (self.output_dir.is_some(), "--output-dir"),
        ];
        given
            .iter()
            .find(|(g, _)| *g)
            .map(|(_, flag)| format!("{flag} is for many targets: add --regions, --profiles, --accounts or --targets"))
    }
}

/// One place a runbook runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The role's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

impl Target {
    /// `111111111111/eu-west-1`, `ops/eu-west-1`, or `eu-west-1`.
    pub fn label(&self) -> String {
        let place = self.account.clone().or_else(|| self.profile.clone());
        match (place, &self.region) {
            (Some(p), Some(r)) => format!("{p}/{r}"),
            (Some(p), None) => p,
            (None, Some(r)) => r.clone(),
            (None, None) => "default".into(),
        }
    }
}

/// A role name, an ARN template with `{account}`, or an ARN, as the ARN for `account`.
fn role_arn(role: &str, account: Option<&str>) -> Result<String, String> {
    if role.starts_with("arn:") {
        return match account {
            Some(a) => Ok(role.replace("{account}", a)),
            None if role.contains("{account}") => {
                Err(format!("the role {role} names {{account}}, but the target has no account"))
            }
            None => Ok(role.to_string()),
        };
    }
    match account {
        Some(a) => Ok(format!("arn:aws:iam::{a}:role/{role}")),
        None => Err(format!("the role {role:?} is a name: the target needs an account to assume it in")),
    }
}

/// The account id in a role ARN (`arn:aws:iam::<account>:role/...`).
fn arn_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_string)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    target: Vec<FileTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    account: Option<String>,
    role: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The targets the options name, in order.
pub fn targets(args: &FleetArgs, common: &Common) -> Result<Vec<Target>, String> {
    if let Some(file) = &args.targets {
        if !args.regions.is_empty() || !args.profiles.is_empty() || !args.accounts.is_empty() {
            return Err("--targets lists every target: leave out --regions, --profiles and --accounts".into());
        }
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("cannot read --targets {}: {e}", file.display()))?;
        let parsed: TargetsFile = toml::from_str(&text).map_err(|e| format!("--targets {}: {e}", file.display()))?;
        let mut out = Vec::new();
        for (i, t) in parsed.target.into_iter().enumerate() {
            let role = match (&t.role, &args.assume_role) {
                (Some(r), _) | (None, Some(r)) => Some(
                    role_arn(r, t.account.as_deref())
                        .map_err(|e| format!("--targets {} target {}: {e}", file.display(), i + 1))?,
                ),
                (None, None) => None,
            };
            let account = t.account.or_else(|| role.as_deref().and_then(arn_account));
            let set = t.set.iter().map(|(k, v)| (k.clone(), toml_text(v))).collect();
            out.push(Target {
                account,
                role,
                region: t.region.or_else(|| common.aws.region.clone()),
                profile: t.profile.or_else(|| common.aws.profile.clone()),
                set,
            });
        }
        if out.is_empty() {
            return Err(format!("--targets {} lists no [[target]]", file.display()));
        }
        return Ok(out);
    }
    if !args.accounts.is_empty() && args.assume_role.is_none() {
        return Err("--accounts needs --assume-role NAME (the role to assume in each account)".into());
    }
    for a in &args.accounts {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("--accounts {a:?}: an account id is 12 digits"));
        }
    }
    let regions: Vec<Option<String>> = if args.regions.is_empty() {
        vec![common.aws.region.clone()]
    } else {
        args.regions.iter().map(|r| Some(r.clone())).collect()
    };
    let profiles: Vec<Option<String>> = if args.profiles.is_empty() {
        vec![common.aws.profile.clone()]
    } else {
        args.profiles.iter().map(|p| Some(p.clone())).collect()
    };
    let accounts: Vec<Option<String>> =
        if args.accounts.is_empty() { vec![None] } else { args.accounts.iter().map(|a| Some(a.clone())).collect() };
    let mut out = Vec::new();
    for account in &accounts {
        for profile in &profiles {
            for region in &regions {
                let role = match (&args.assume_role, account) {
                    (Some(r), a) => Some(role_arn(r, a.as_deref())?),
                    (None, _) => None,
                };
                let account = account.clone().or_else(|| role.as_deref().and_then(arn_account));
                out.push(Target {
                    account,
                    role,
                    region: region.clone(),
                    profile: profile.clone(),
                    set: BTreeMap::new(),
                });
            }
        }
    }
    Ok(out)
}

/// What the check before the run found for one target: credentials to hand to its child.
#[derive(Clone)]
pub struct Reached {
    pub account: String,
    /// Temporary credentials from the assumed role: (key id, secret, session token).
    pub credentials: Option<(String, String, String)>,
}

/// Resolves every target's credentials (assuming its role) and confirms its account with
/// GetCallerIdentity. One answer per target, in order.
pub fn reach(targets: &[Target], endpoint: Option<&str>, session: &str) -> Vec<Result<Reached, String>> {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return targets.iter().map(|_| Err(format!("cannot start the async runtime: {e}"))).collect(),
    };
    targets.iter().map(|t| rt.block_on(reach_one(t, endpoint, session))).collect()
}

async fn reach_one(t: &Target, endpoint: Option<&str>, session: &str) -> Result<Reached, String> {
    use aws_config::BehaviorVersion;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build(),
        );
    if let Some(p) = &t.profile {
        runbook_bindings::runtime::check_profile(p, "--profiles")?;
        loader = loader.profile_name(p);
    }
    if let Some(r) = &t.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(u) = endpoint {
        loader = loader.endpoint_url(u);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err("no region: pass --regions, --region or AWS_REGION, or give the target a region".into());
    }
    let mut credentials = None;
    let config = match &t.role {
        Some(arn) => {
            let creds = runbook_bindings::runtime::assume_role(&config, arn, session)
                .await
                .map_err(|e| format!("cannot assume {arn}: {e}"))?;
            credentials = Some((
                creds.access_key_id().to_string(),
                creds.secret_access_key().to_string(),
                creds.session_token().unwrap_or_default().to_string(),
            ));
            config
                .to_builder()
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
                .build()
        }
        None => config,
    };
    let account = runbook_bindings::runtime::caller_account(&config).await.map_err(|e| e.to_string())?;
    if let Some(expected) = &t.account {
        if *expected != account {
            return Err(format!("the credentials are for account {account}, not {expected}"));
        }
    }
    Ok(Reached { account, credentials })
}

/// How many failures stop new targets from starting.
fn error_limit(text: Option<&str>, total: usize) -> Result<Option<usize>, String> {
    let Some(text) = text else { return Ok(None) };
    let bad = || format!("--max-errors {text:?}: expected a count (2) or a percentage (10%)");
    match text.strip_suffix('%') {
        Some(p) => {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(Some((p * total as f64 / 100.0).floor() as usize))
        }
        None => text.trim().parse::<usize>().map(Some).map_err(|_| bad()),
    }
}

/// Batch sizes over `total` targets: counts or percentages, the last repeating until all are in.
fn batches(sizes: &[String], total: usize) -> Result<Vec<usize>, String> {
    if sizes.is_empty() {
        return Ok(if total == 0 { vec![] } else { vec![total] });
    }
    let mut parsed = Vec::new();
    for s in sizes {
        let bad = || format!("--batches {s:?}: expected a count (5) or a percentage (25%)");
        let n = match s.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.parse().map_err(|_| bad())?;
                if !(p > 0.0 && p <= 100.0) {
                    return Err(bad());
                }
                ((p * total as f64 / 100.0).ceil() as usize).max(1)
            }
            None => s.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad)?,
        };
        parsed.push(n);
    }
    // As Ansible's `serial`: each size is a batch (a percentage of all targets), the last repeating.
    let mut out = Vec::new();
    let mut done = 0;
    let mut i = 0;
    while done < total {
        let n = parsed[i.min(parsed.len() - 1)].min(total - done);
        out.push(n);
        done += n;
        i += 1;
    }
    Ok(out)
}

/// One child process to run: its target, arguments and environment.
pub struct Job {
    pub label: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub remove_env: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed(i32),
    Interrupted,
    NotStarted,
    Unreachable(String),
}

impl Status {
    fn word(&self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed(_) => "failed",
            Status::Interrupted => "interrupted",
            Status::NotStarted => "not started",
            Status::Unreachable(_) => "unreachable",
        }
    }
}

/// Set by SIGINT/SIGTERM in the parent: running children are told, no new one starts.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

fn watch_signals() {
    let _ = std::thread::Builder::new().name("runbook-signals".into()).spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(crate::run::on_signals(|signal| SIGNAL.store(signal, Ordering::SeqCst)));
    });
}

fn signal_child(pid: u32, signal: i32) {
    #[cfg(unix)]
    // SAFETY: sends a signal to a child process this process started and has not yet reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Where a child's lines go: the terminal with its target in front, or its own log file.
#[derive(Clone)]
enum Sink {
    Terminal(Arc<Mutex<()>>),
    File(Arc<Mutex<std::fs::File>>),
}

fn pump(
    stream: impl std::io::Read + Send + 'static,
    label: String,
    sink: Sink,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            match &sink {
                Sink::Terminal(lock) => {
                    let _held = lock.lock();
                    if to_stderr {
                        let _ = writeln!(std::io::stderr(), "[{label}] {line}");
                    } else {
                        let _ = writeln!(std::io::stdout(), "[{label}] {line}");
                    }
                }
                Sink::File(f) => {
                    if let Ok(mut f) = f.lock() {
                        let _ = writeln!(f, "{line}");
                    }
                }
            }
        }
    })
}

/// Runs the jobs under rate control: in batches, `concurrency` at a time, none started once more
/// than `max_errors` failed or a signal came. `on_start` and `on_end` see each job's index.
pub fn run_jobs(
    jobs: &[Job],
    concurrency: usize,
    max_errors: Option<usize>,
    batch_sizes: &[usize],
    output_dir: Option<&Path>,
    mut on_start: impl FnMut(usize),
    mut on_end: impl FnMut(usize, &Status),
) -> Vec<Status> {
    watch_signals();
    let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("runbook"));
    let terminal = Arc::new(Mutex::new(()));
    let mut statuses = vec![Status::NotStarted; jobs.len()];
    let (tx, rx) = mpsc::channel::<(usize, Option<i32>)>();
    let mut running: BTreeMap<usize, u32> = BTreeMap::new();
    let mut failures = 0;
    let mut next = 0;
    let mut told = false;
    for &size in batch_sizes {
        let end = (next + size).min(jobs.len());
        let mut queue: Vec<usize> = (next..end).collect();
        queue.reverse();
        next = end;
        loop {
            let stop = SIGNAL.load(Ordering::SeqCst) != 0 || max_errors.is_some_and(|m| failures > m);
            while !stop && running.len() < concurrency {
                let Some(i) = queue.pop() else { break };
                let job = &jobs[i];
                let mut cmd = Command::new(&program);
                cmd.args(&job.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
                for k in &job.remove_env {
                    cmd.env_remove(k);
                }
                cmd.envs(job.env.iter().map(|(k, v)| (k, v)));
                let sink = match output_dir {
                    Some(dir) => {
                        let name: String = job
                            .label
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
                            .collect();
                        match std::fs::File::create(dir.join(format!("{name}.log"))) {
                            Ok(f) => Sink::File(Arc::new(Mutex::new(f))),
                            Err(e) => {
                                eprintln!("[{}] cannot write its log in {}: {e}", job.label, dir.display());
                                Sink::Terminal(terminal.clone())
                            }
                        }
                    }
                    None => Sink::Terminal(terminal.clone()),
                };
                match cmd.spawn() {
                    Ok(mut child) => {
                        on_start(i);
                        if output_dir.is_some() {
                            let _held = terminal.lock();
                            eprintln!("[{}] started", job.label);
                        }
                        running.insert(i, child.id());
                        let out = child.stdout.take().map(|s| pump(s, job.label.clone(), sink.clone(), false));
                        let err = child.stderr.take().map(|s| pump(s, job.label.clone(), sink, true));
                        let tx = tx.clone();
                        std::thread::spawn(move || {
                            let status = child.wait().ok();
                            // Every line is out before the end is reported.
                            for h in [out, err].into_iter().flatten() {
                                let _ = h.join();
                            }
                            let _ = tx.send((i, status.and_then(|s| exit_code(&s))));
                        });
                    }
                    Err(e) => {
                        eprintln!("[{}] cannot start: {e}", job.label);
                        statuses[i] = Status::Failed(-1);
                        failures += 1;
                        on_end(i, &statuses[i]);
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            let signal = SIGNAL.load(Ordering::SeqCst);
            if signal != 0 && !told {
                told = true;
                for pid in running.values() {
                    signal_child(*pid, signal);
                }
            }
            if let Ok((i, code)) = rx.recv_timeout(Duration::from_millis(100)) {
                running.remove(&i);
                statuses[i] = match code {
                    Some(0) => Status::Succeeded,
                    Some(130) | Some(143) => Status::Interrupted,
                    Some(c) => Status::Failed(c),
                    None => Status::Interrupted,
                };
                if matches!(statuses[i], Status::Failed(_)) {
                    failures += 1;
                }
                if output_dir.is_some() {
                    let _held = terminal.lock();
                    eprintln!("[{}] {}", jobs[i].label, statuses[i].word());
                }
                on_end(i, &statuses[i]);
            }
        }
        if SIGNAL.load(Ordering::SeqCst) != 0 || max_errors.is_some_and(|m| failures > m) {
            break;
        }
    }
    statuses
}

fn exit_code(status: &std::process::ExitStatus) -> Option<i32> {
    if let Some(c) = status.code() {
        return Some(c);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        return status.signal().map(|s| 128 + s);
    }
    #[allow(unreachable_code)]
    None
}

/// The arguments every child gets from the parent's command line, fleet options left out.
fn shared_args(common: &Common) -> Vec<String> {
    let mut a = Vec::new();
    let aws = &common.aws;
    if let Some(u) = &aws.endpoint_url {
        a.extend(["--endpoint-url".into(), u.clone()]);
    }
    if let Some(n) = aws.max_attempts {
        a.extend(["--max-attempts".into(), n.to_string()]);
    }
    if let Some(m) = &aws.retry_mode {
        a.extend(["--retry-mode".into(), m.clone()]);
    }
    if let Some(t) = aws.call_timeout {
        a.extend(["--call-timeout".into(), t.to_string()]);
    }
    if common.no_tag {
        a.push("--no-tag".into());
    }
    for l in &common.limits {
        a.extend(["--limit".into(), l.clone()]);
    }
    for _ in 0..common.verbose {
        a.push("-v".into());
    }
    if common.show_sensitive {
        a.push("--show-sensitive".into());
    }
    a
}

/// The environment that puts a child in its target: the assumed role's credentials, or the profile.
fn target_env(t: &Target, reached: &Reached, parent: &str, child_run: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = vec![
        ("RUNBOOK_PARENT_RUN".to_string(), parent.to_string()),
        ("RUNBOOK_RUN_ID".to_string(), child_run.to_string()),
        ("RUNBOOK_TARGET".to_string(), t.label()),
        ("RUNBOOK_TARGET_ACCOUNT".to_string(), reached.account.clone()),
    ];
    let mut remove = Vec::new();
    if let Some((key, secret, token)) = &reached.credentials {
        env.push(("AWS_ACCESS_KEY_ID".into(), key.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret.clone()));
        env.push(("AWS_SESSION_TOKEN".into(), token.clone()));
        remove.push("AWS_PROFILE".into());
    }
    (env, remove)
}

/// `runbook run|plan FILE` across the targets.
pub fn run(file: &Path, common: &Common, fleet: &FleetArgs, plan: bool) -> ExitCode {
    if common.aws.region.is_some() && !fleet.regions.is_empty() {
        return fail("--region and --regions both name regions: give one");
    }
    if common.aws.profile.is_some() && !fleet.profiles.is_empty() {
        return fail("--profile and --profiles both name profiles: give one");
    }
    let targets = match targets(fleet, common) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let sets = match crate::params::parse_sets(&common.set) {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let root = crate::run::runbook_root(file);
    let declared = crate::params::declared(&root, file);
    let defaults: BTreeMap<String, Option<String>> =
        crate::params::reads(&root, file).into_iter().rev().map(|r| (r.name, r.default)).collect();
    for t in &targets {
        let mut all = sets.clone();
        all.extend(t.set.clone());
        if let Err(e) = crate::params::check(&all, &declared) {
            return fail(&format!("target {}: {e}", t.label()));
        }
        // Values of the wrong type are refused here, before any target starts, not in one of them.
        for (name, value) in &all {
            if let Some(Some(default)) = defaults.get(name) {
                if let Err(e) =
                    runbook_bindings::helpers::typed_param(name, value, &crate::params::typed_default(default))
                {
                    return fail(&format!("target {}: {e}", t.label()));
                }
            }
        }
    }
    let (limit, sizes) =
        match (error_limit(fleet.max_errors.as_deref(), targets.len()), batches(&fleet.batches, targets.len())) {
            (Ok(l), Ok(s)) => (l, s),
            (Err(e), _) | (_, Err(e)) => return fail(&e),
        };
    let concurrency = fleet.concurrency.map(|c| c as usize).unwrap_or(if plan { PLAN_CONCURRENCY } else { 1 });
    if let Some(dir) = &fleet.output_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return fail(&format!("cannot create --output-dir {}: {e}", dir.display()));
        }
    }
    let parent = journal::new_run_id();
    let session = format!("runbook-{parent}");

    // Before anything is written anywhere: every target's credentials and account.
    let reached = reach(&targets, common.aws.endpoint_url.as_deref(), &session);
    let unreachable: Vec<(usize, String)> =
        reached.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.clone()))).collect();
    for (i, e) in &unreachable {
        eprintln!("[{}] unreachable: {e}", targets[*i].label());
    }
    if !unreachable.is_empty() && !fleet.skip_unreachable {
        return fail(&format!(
            "{} of {} targets failed the check before the run; nothing was run anywhere (--skip-unreachable runs the others)",
            unreachable.len(),
            targets.len()
        ));
    }
    if unreachable.len() == targets.len() {
        return fail("no target is reachable; nothing was run");
    }

    let dir = common.journal.dir();
    let mut parent_journal = if plan {
        None
    } else {
        let start = json!({
            "type": "start", "run": parent, "time": journal::now(), "kind": "fleet", "file": file, "mode": "run",
            "targets": targets.iter().map(|t| json!({ "label": t.label(), "target": t })).collect::<Vec<_>>(),
            "concurrency": concurrency, "max_errors": fleet.max_errors, "batches": fleet.batches,
            "endpoint": common.aws.endpoint_url, "version": env!("CARGO_PKG_VERSION"),
        });
        match journal::Journal::create(&dir, &parent).and_then(|mut j| j.append(&start, true).map(|_| j)) {
            Ok(j) => Some(j),
            Err(e) => return fail(&e),
        }
    };

    let mut jobs = Vec::new();
    let mut job_of_target = Vec::new();
    let mut child_runs = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let Ok(r) = &reached[i] else {
            job_of_target.push(None);
            continue;
        };
        let child = journal::new_run_id();
        let mut args = vec![if plan { "plan" } else { "run" }.to_string(), file.to_string_lossy().into_owned()];
        let mut all = sets.clone();
        all.extend(t.set.clone());
        for (k, v) in &all {
            args.extend(["--set".into(), format!("{k}={v}")]);
        }
        if let Some(r) = &t.region {
            args.extend(["--region".into(), r.clone()]);
        }
        if let (Some(p), None) = (&t.profile, &r.credentials) {
            args.extend(["--profile".into(), p.clone()]);
        }
        args.extend(["--journal-dir".into(), dir.to_string_lossy().into_owned()]);
        args.extend(shared_args(common));
        let (env, remove_env) = target_env(t, r, &parent, &child);
        job_of_target.push(Some(jobs.len()));
        child_runs.push(child);
        jobs.push(Job { label: t.label(), args, env, remove_env });
    }
    let started = Instant::now();
    let times: std::cell::RefCell<Vec<Option<Instant>>> = std::cell::RefCell::new(vec![None; jobs.len()]);
    let mut seconds: Vec<f64> = vec![0.0; jobs.len()];
    let journal_cell = std::cell::RefCell::new(parent_journal.take());
    let statuses = run_jobs(
        &jobs,
        concurrency,
        limit,
        &sizes,
        fleet.output_dir.as_deref(),
        |i| {
            times.borrow_mut()[i] = Some(Instant::now());
            if let Some(j) = journal_cell.borrow_mut().as_mut() {
                let _ = j.append(
                    &json!({ "type": "child", "target": jobs[i].label, "run": child_runs[i], "time": journal::now() }),
                    true,
                );
            }
        },
        |i, status| {
            seconds[i] = times.borrow()[i].map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
            if let Some(j) = journal_cell.borrow_mut().as_mut() {
                let _ = j.append(&json!({ "type": "child_end", "target": jobs[i].label, "run": child_runs[i], "status": status.word() }), true);
            }
        },
    );

    // The recap, from each child's journal.
    let mut rows = Vec::new();
    let mut failed_targets = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        let (status, child) = match (job_of_target[ti], &reached[ti]) {
            (Some(j), _) => (statuses[j].clone(), Some(j)),
            (None, Err(e)) => (Status::Unreachable(e.clone()), None),
            (None, Ok(_)) => (Status::NotStarted, None),
        };
        let records =
            child.filter(|_| !plan).and_then(|j| journal::read(&dir, &child_runs[j]).ok()).unwrap_or_default();
        let end = records.iter().rev().find(|r| r["type"] == "end").cloned().unwrap_or(Value::Null);
        let num = |k: &str| end[k].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let error = match &status {
            Status::Unreachable(e) => e.clone(),
            _ => end["error"]["message"].as_str().or_else(|| end["error"]["code"].as_str()).unwrap_or("").to_string(),
        };
        let secs = child
            .filter(|_| status != Status::NotStarted)
            .map(|j| format!("{:.1}", seconds[j]))
            .unwrap_or_else(|| "-".into());
        if matches!(status, Status::Failed(_) | Status::NotStarted | Status::Interrupted | Status::Unreachable(_)) {
            failed_targets.push(t.clone());
        }
        rows.push([
            t.label(),
            status.word().to_string(),
            num("calls"),
            num("writes"),
            num("created"),
            secs,
            error.lines().next().unwrap_or("").to_string(),
        ]);
    }
    let mut recap = String::new();
    let heads = ["TARGET", "STATUS", "CALLS", "WRITES", "CREATED", "SECONDS", "FIRST ERROR"];
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().map(|r| r[c].len()).chain([heads[c].len()]).max().unwrap_or(0)).collect();
    let line = |cells: [&str; 7]| {
        let mut l = String::new();
        for (c, cell) in cells.iter().enumerate().take(6) {
            l.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        l.push_str(cells[6]);
        format!("{}\n", l.trim_end())
    };
    recap.push_str(&format!("\nRECAP {} of {file}\n", if plan { "plan" } else { "run" }, file = file.display()));
    recap.push_str(&line(heads));
    for r in &rows {
        recap.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]]));
    }
    let succeeded = statuses.iter().filter(|s| **s == Status::Succeeded).count();
    let interrupted = SIGNAL.load(Ordering::SeqCst);
    recap.push_str(&format!(
        "{succeeded} of {} targets succeeded in {:.1} s{}\n",
        targets.len(),
        started.elapsed().as_secs_f64(),
        if plan { String::new() } else { format!("; journal: {}", dir.join(format!("{parent}.jsonl")).display()) }
    ));
    let outcome = if interrupted != 0 {
        "interrupted"
    } else if failed_targets.is_empty() {
        "succeeded"
    } else {
        "failed"
    };
    if let Some(j) = journal_cell.borrow_mut().as_mut() {
        let _ = j.append(
            &json!({ "type": "end", "time": journal::now(), "outcome": outcome, "targets": targets.len(),
                     "succeeded": succeeded, "failed": failed_targets.len(), "seconds": started.elapsed().as_secs_f64() }),
            true,
        );
    }
    eprint!("{}", runbook_bindings::secrets::redact(&recap));
    if !failed_targets.is_empty() && !plan {
        let again = dir.join(format!("{parent}-again.toml"));
        let text = toml_targets(&failed_targets);
        if std::fs::write(&again, text).is_ok() {
            let mut cmd = format!("runbook run {} --targets {}", file.display(), again.display());
            for s in &common.set {
                cmd.push_str(&format!(" --set {s}"));
            }
            for a in shared_args(common) {
                cmd.push_str(&format!(" {a}"));
            }
            eprintln!("re-run the {} that did not succeed: {cmd}", failed_targets.len());
        }
    }
    if !plan {
        eprintln!("undo every target: runbook undo {parent}");
    }
    if interrupted != 0 {
        return ExitCode::from(128 + interrupted as u8);
    }
    if succeeded == 0 && statuses.iter().all(|s| *s == Status::NotStarted) {
        return ExitCode::from(2);
    }
    if failed_targets.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A targets file listing `targets`, for re-running them.
fn toml_targets(targets: &[Target]) -> String {
    let mut o = String::from("# The targets of a fleet run that did not succeed.\n");
    for t in targets {
        o.push_str("\n[[target]]\n");
        for (k, v) in [("account", &t.account), ("role", &t.role), ("region", &t.region), ("profile", &t.profile)] {
            if let Some(v) = v {
                o.push_str(&format!("{k} = {}\n", toml::Value::String(v.clone())));
            }
        }
        if !t.set.is_empty() {
            let pairs: Vec<String> =
                t.set.iter().map(|(k, v)| format!("{k} = {}", toml::Value::String(v.clone()))).collect();
            o.push_str(&format!("set = {{ {} }}\n", pairs.join(", ")));
        }
    }
    o
}

/// Whether a journal's records are a fleet's.
pub fn is_fleet(records: &[Value]) -> bool {
    records.first().is_some_and(|r| r["kind"] == "fleet")
}

/// `runbook show FLEET`: its targets and each child's outcome.
pub fn render(records: &[Value]) -> String {
    let start = &records[0];
    let mut o = format!(
        "run {} (fleet): {} across {} targets\n",
        start["run"].as_str().unwrap_or("?"),
        start["file"].as_str().unwrap_or("?"),
        start["targets"].as_array().map(Vec::len).unwrap_or(0)
    );
    for t in start["targets"].as_array().into_iter().flatten() {
        let label = t["label"].as_str().unwrap_or("?");
        let run = records.iter().find(|r| r["type"] == "child" && r["target"] == label).and_then(|r| r["run"].as_str());
        let status = records
            .iter()
            .find(|r| r["type"] == "child_end" && r["target"] == label)
            .and_then(|r| r["status"].as_str());
        o.push_str(&format!(
            "  {label:<28} {:<12} {}\n",
            status.unwrap_or(if run.is_some() { "unfinished" } else { "not started" }),
            run.unwrap_or("-")
        ));
    }
    if let Some(end) = records.iter().rev().find(|r| r["type"] == "end") {
        o.push_str(&format!(
            "  ended {}: {}, {} of {} targets succeeded\n",
            end["time"].as_str().unwrap_or("?"),
            end["outcome"].as_str().unwrap_or("?"),
            end["succeeded"],
            end["targets"]
        ));
    } else {
        o.push_str("  no end record: the fleet run was killed\n");
    }
    o
}

/// `runbook undo FLEET`: every child's undo, newest target first, with its target's credentials,
/// under the same rate control.
pub fn undo(dir: &Path, records: &[Value], endpoint: Option<&str>, concurrency: Option<u32>, dry: bool) -> ExitCode {
    let start = &records[0];
    let parent = start["run"].as_str().unwrap_or("?").to_string();
    let mut targets = Vec::new();
    let mut children = Vec::new();
    for t in start["targets"].as_array().into_iter().flatten() {
        let label = t["label"].as_str().unwrap_or("?");
        let Some(run) =
            records.iter().find(|r| r["type"] == "child" && r["target"] == label).and_then(|r| r["run"].as_str())
        else {
            continue;
        };
        let Ok(target) = serde_json::from_value::<Target>(t["target"].clone()) else { continue };
        targets.push(target);
        children.push(run.to_string());
    }
    targets.reverse();
    children.reverse();
    if targets.is_empty() {
        eprintln!("fleet run {parent} started no target: nothing to undo");
        return ExitCode::SUCCESS;
    }
    let reached = reach(&targets, endpoint, &format!("runbook-undo-{parent}"));
    for (i, r) in reached.iter().enumerate() {
        if let Err(e) = r {
            eprintln!("[{}] unreachable: {e}", targets[i].label());
        }
    }
    if reached.iter().any(Result::is_err) {
        return fail("some targets failed the check before the undo; nothing was undone");
    }
    let mut jobs = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let Ok(r) = &reached[i] else { continue };
        let mut args =
            vec!["undo".to_string(), children[i].clone(), "--journal-dir".into(), dir.to_string_lossy().into_owned()];
        if dry {
            args.push("--plan".into());
        }
        if let (Some(p), None) = (&t.profile, &r.credentials) {
            args.extend(["--profile".into(), p.clone()]);
        }
        if let Some(u) = endpoint {
            args.extend(["--endpoint-url".into(), u.to_string()]);
        }
        let (mut env, remove_env) = target_env(t, r, &parent, &journal::new_run_id());
        env.retain(|(k, _)| k != "RUNBOOK_RUN_ID" && k != "RUNBOOK_PARENT_RUN");
        jobs.push(Job { label: t.label(), args, env, remove_env });
    }
    let concurrency = concurrency.map(|c| c as usize).unwrap_or(1);
    let statuses = run_jobs(&jobs, concurrency, None, &[jobs.len()], None, |_| {}, |_, _| {});
    let ok = statuses.iter().filter(|s| **s == Status::Succeeded).count();
    eprintln!("runbook: undo of fleet run {parent}: {ok} of {} targets undone", jobs.len());
    let signal = SIGNAL.load(Ordering::SeqCst);
    if signal != 0 {
        return ExitCode::from(128 + signal as u8);
    }
    if ok == jobs.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_error_limits() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(batches(&[], 6).unwrap(), [6]);
        assert_eq!(batches(&s(&["1", "25%", "100%"]), 8).unwrap(), [1, 2, 5]);
        assert_eq!(batches(&s(&["2"]), 5).unwrap(), [2, 2, 1]);
        assert!(batches(&s(&["0"]), 5).is_err());
        assert_eq!(error_limit(Some("0"), 6).unwrap(), Some(0));
        assert_eq!(error_limit(Some("50%"), 6).unwrap(), Some(3));
        assert!(error_limit(Some("many"), 6).unwrap_err().contains("--max-errors"));
    }

    #[test]
    fn roles_become_arns_in_their_accounts() {
        assert_eq!(role_arn("deploy", Some("111111111111")).unwrap(), "arn:aws:iam::111111111111:role/deploy");
        assert_eq!(
            role_arn("arn:aws:iam::{account}:role/ops/deploy", Some("222222222222")).unwrap(),
            "arn:aws:iam::222222222222:role/ops/deploy"
        );
        assert!(role_arn("deploy", None).is_err());
        assert_eq!(arn_account("arn:aws:iam::333333333333:role/x").as_deref(), Some("333333333333"));
    }
}
