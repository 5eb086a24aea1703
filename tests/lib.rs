//! Test harness: a private emulator per test, the real `runbook` binary, and SDK clients for checking
//! the emulator's state independently of the runbooks.

// Test support: a setup step that fails is a failing test, so panicking is the right response here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod aws_like;
pub mod proxy;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root: of the checkout whose tests run (cargo and cargo-nextest say it as they
/// start a test), not only of the one this binary was compiled in. Two checkouts sharing a target
/// directory share test binaries when their sources agree, and a binary from the other checkout
/// would read that checkout's runbooks and README.
pub fn root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR"))).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The Python environment with the emulator (and the aws CLI).
pub fn venv() -> PathBuf {
    std::env::var_os("RUNBOOK_VENV").map(PathBuf::from).unwrap_or_else(|| root().join(".venv"))
}

/// The `runbook` binary of this build (next to the test binary's `deps/` folder).
pub fn runbook_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let bin = dir.join("runbook");
    assert!(bin.exists(), "{} is missing: build the workspace first (make test does)", bin.display());
    bin
}

/// A moto server on 127.0.0.1, on a port of its own, stopped when dropped.
pub struct Emulator {
    process: Process,
    pub url: String,
    /// Where the runs against this emulator keep their journals.
    pub journal: PathBuf,
}

impl Emulator {
    pub fn start() -> Emulator {
        Self::start_with(&[])
    }

    /// An emulator whose server process has these environment variables (moto reads some). It is
    /// forked from the pool that `RUNBOOK_EMULATOR_POOL` names when that is set (make test starts
    /// one: tests/emulator/with-pool.sh), else started as a process of its own.
    pub fn start_with(env: &[(&str, &str)]) -> Emulator {
        if let Some(pool) = std::env::var_os("RUNBOOK_EMULATOR_POOL") {
            if let Some(emu) = Self::from_pool(Path::new(&pool), env) {
                return emu;
            }
        }
        let venv = venv();
        let moto = venv.join("bin/moto_server");
        assert!(moto.exists(), "{} is missing: run tests/emulator/setup.sh (make test does)", moto.display());
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let url = format!("http://127.0.0.1:{port}");
            let mut emu = Emulator { process: Process::Spawned(child), url, journal: journal_dir() };
            let status = Command::new(venv.join("bin/python"))
                .arg(root().join("tests/emulator/configure.py"))
                .arg(&emu.url)
                .status()
                .expect("run configure.py");
            if status.success() {
                return emu;
            }
            emu.process.stop();
        }
        panic!("the emulator did not start");
    }

    /// An emulator forked from the pool listening on the Unix socket `pool` (tests/emulator/pool.py);
    /// none when `env` holds a variable moto reads only as it starts.
    fn from_pool(pool: &Path, env: &[(&str, &str)]) -> Option<Emulator> {
        use std::io::{BufRead, Write};
        let mut conn = std::os::unix::net::UnixStream::connect(pool)
            .unwrap_or_else(|e| panic!("the emulator pool at {} does not answer: {e}", pool.display()));
        let words: String = env.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        conn.write_all(format!("start{words}\n").as_bytes()).expect("ask the pool for an emulator");
        let mut line = String::new();
        std::io::BufReader::new(conn).read_line(&mut line).expect("the pool's answer");
        if line.starts_with("own:") {
            return None;
        }
        let mut answer = line.split_whitespace().map(str::parse::<u32>);
        let (Some(Ok(port)), Some(Ok(pid))) = (answer.next(), answer.next()) else {
            panic!("the emulator pool answered {line:?}, not \"PORT PID\"");
        };
        Some(Emulator {
            process: Process::Forked(pid),
            url: format!("http://127.0.0.1:{port}"),
            journal: journal_dir(),
        })
    }

    /// Turns the emulator's IAM enforcement on (every request must come from a principal whose
    /// policies allow it) or off, through its `/moto-api/reset-auth` endpoint.
    pub fn enforce_iam(&self, on: bool) {
        use std::io::{Read, Write};
        let body = if on { "0" } else { "inf" };
        let host = self.url.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(host).expect("reach the emulator");
        let request = format!(
            "POST /moto-api/reset-auth HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).expect("send reset-auth");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("reset-auth answer");
        assert!(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"), "{answer}");
    }

    /// `runbook ARGS` against this emulator.
    pub fn runbook(&self) -> Run {
        Run::new().env("AWS_ENDPOINT_URL", &self.url).env("RUNBOOK_JOURNAL_DIR", &self.journal.to_string_lossy())
    }

    /// `runbook run runbooks/tutorial.rhai` (emulator mode) through a proxy that forwards `operation`
    /// to this emulator but never answers it; returns once that request has reached the emulator,
    /// with the run still waiting for its answer. Stderr is piped.
    pub fn tutorial_stalled_at(&self, operation: &'static str) -> (proxy::Proxy, Child) {
        self.tutorial_stalled_at_nth(&[operation], 1)
    }

    /// Like [`Emulator::tutorial_stalled_at`], for the `n`th request (from 1) whose operation is
    /// one of `operations`.
    pub fn tutorial_stalled_at_nth(&self, operations: &[&str], n: usize) -> (proxy::Proxy, Child) {
        self.tutorial_stalled_at_nth_through(operations, n, None)
    }

    /// As [`Emulator::tutorial_stalled_at_nth`], through the AWS-like mode with `settings` when
    /// given: the run before the stall meets latency, lag and throttling.
    pub fn tutorial_stalled_at_nth_through(
        &self,
        operations: &[&str],
        n: usize,
        settings: Option<aws_like::Settings>,
    ) -> (proxy::Proxy, Child) {
        let ops: Vec<String> = operations.iter().map(|o| o.to_string()).collect();
        let matched = std::sync::atomic::AtomicUsize::new(0);
        let stall = move |r: &proxy::Request| {
            let op = r.operation();
            (ops.contains(&op) && matched.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == n)
                .then_some(proxy::Action::Stall)
        };
        let proxy = match settings {
            Some(s) => aws_like::AwsLike::start_with(&self.url, s, stall).proxy,
            None => proxy::Proxy::start(&self.url, move |r| stall(r).unwrap_or(proxy::Action::Forward)),
        };
        let child = command(runbook_bin(), &proxy.url)
            .args(["run", "runbooks/tutorial.rhai", "--set", "emulator=true", "--set", "propagation_wait=0"])
            .env("RUNBOOK_JOURNAL_DIR", &self.journal)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start runbook");
        let started = Instant::now();
        let mut child = child;
        while proxy.forwarded().iter().filter(|op| operations.contains(&op.as_str())).count() < n {
            let ended = child.try_wait().ok().flatten().is_some();
            if ended || started.elapsed() > Duration::from_secs(180) {
                let _ = child.kill();
                let out = child.wait_with_output().expect("the run's output");
                panic!(
                    "the run never reached {operations:?} #{n} ({:?}); it said:\n{}",
                    proxy.forwarded(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (proxy, child)
    }

    /// Runs a runbook that prints `to_json(EXPR)` for each expression, and returns the values.
    pub fn json_of(&self, expressions: &[String]) -> Vec<serde_json::Value> {
        let text: String = expressions.iter().map(|e| format!("print(to_json({e}));\nprint(\"<end>\");\n")).collect();
        let file = script("json_of.rhai", &text);
        let out = self.runbook().args(["run", &file.to_string_lossy()]).output().success();
        let values: Vec<serde_json::Value> = out
            .stdout
            .split("<end>\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| serde_json::from_str(s).expect("JSON from to_json"))
            .collect();
        assert_eq!(values.len(), expressions.len(), "{}", out.stdout);
        values
    }

    /// The journal records of this emulator's newest run.
    pub fn last_journal(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.journal)
            .expect("journal folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        // Run ids sort by the second a run started; two runs in one second sort by their random
        // suffix, so the file created last decides.
        let created = |p: &PathBuf| {
            let m = std::fs::metadata(p).expect("journal metadata");
            m.created().or_else(|_| m.modified()).expect("journal time")
        };
        files.sort_by_key(|p| (created(p), p.clone()));
        let text = std::fs::read_to_string(files.last().expect("a journal")).expect("read journal");
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect()
    }

    /// `runbook repl` against this emulator, in a pseudo-terminal, with its history in `history`.
    pub fn repl(&self, history: &Path) -> rexpect::session::PtySession {
        let mut cmd = command(runbook_bin(), &self.url);
        cmd.arg("repl").env("RUNBOOK_HISTORY", history).env("TERM", "xterm").env("RUNBOOK_JOURNAL_DIR", &self.journal);
        let mut p = rexpect::session::spawn_command(cmd, Some(15_000)).expect("start runbook repl in a pty");
        p.exp_string("runbook> ").expect("the first prompt");
        p
    }

    pub fn clients(&self) -> Clients {
        Clients::new(&self.url)
    }

    /// The aws CLI of .venv against this emulator (`--output json`), its answer parsed; the state
    /// oracle for services the tests hold no SDK client of.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let out = aws_cli(&self.url).args(args).args(["--output", "json"]).output().expect("run the aws CLI");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}

/// A folder of its own for the journals of the runs against one emulator.
fn journal_dir() -> PathBuf {
    std::env::temp_dir().join(format!("runbook-journal-{}-{}", std::process::id(), unique()))
}

/// A gate for a holder runbook, to be put after the runbook's first write: `--set gate=PATH` holds
/// the run until [`open_gate`] makes PATH, however slowly the test goes on a busy machine (or a
/// minute, which bounds a plan of it: a plan does not sleep, and a fleet plans the runbook before
/// its targets run). Without `gate` the run goes on at once.
#[macro_export]
macro_rules! gate_wait {
    () => {
        "let gate = param(\"gate\", \"\");\n\
         let open = gate == \"\";\n\
         let polls = 0;\n\
         while !open && polls < 1200 { try { read_file(gate); open = true; } catch { sleep(0.05); polls += 1; } }\n"
    };
}

/// A new gate path beside the runbook `file` (so that the runbook may read it).
pub fn gate_beside(file: &str) -> String {
    static GATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = GATES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Path::new(file).with_file_name(format!("open-{n}")).to_string_lossy().into_owned()
}

/// Opens a gate: the holder waiting on it goes on.
pub fn open_gate(gate: &str) {
    std::fs::write(gate, "").expect("open the gate");
}

/// Waits until `child` (spawned with stderr piped) has said `text` on stderr, then opens `gate`;
/// returns the child's exit code and all it said once it has ended.
pub fn open_once_said(mut child: Child, text: &str, gate: &str) -> (Option<i32>, String) {
    use std::io::BufRead;
    let mut said = String::new();
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    while !said.contains(text) {
        let before = said.len();
        lines.read_line(&mut said).expect("read stderr");
        assert!(said.len() > before, "it ended without saying {text:?}: {said}");
    }
    open_gate(gate);
    std::io::Read::read_to_string(&mut lines, &mut said).expect("read stderr");
    (child.wait().expect("wait for it").code(), said)
}

/// An emulator's server: a process the test started, or one the pool forked (the pool reaps it).
enum Process {
    Spawned(Child),
    Forked(u32),
}

impl Process {
    fn stop(&mut self) {
        match self {
            Process::Spawned(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Process::Forked(pid) => {
                if let Ok(pid) = libc::pid_t::try_from(*pid) {
                    // SAFETY: kill(2) with a pid the pool gave and a constant signal; no memory is shared.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.process.stop();
        let _ = std::fs::remove_dir_all(&self.journal);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The AWS environment of every process the tests start: fixed credentials and region (under the
/// SDK's name and the aws CLI's), and none of the user's own AWS files.
pub const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_CONFIG_FILE", "/nonexistent/runbook-test-config"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/runbook-test-credentials"),
];

/// `program` run from the repository root with `AWS_ENV`, sending every request to `endpoint`.
pub fn command(program: impl AsRef<std::ffi::OsStr>, endpoint: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(root()).envs(AWS_ENV.iter().copied()).env("AWS_ENDPOINT_URL", endpoint).env_remove("AWS_PROFILE");
    cmd
}

/// The aws CLI of .venv against `endpoint`, as [`command`] runs programs; forked from the emulator
/// pool when there is one (tests/emulator/forked.py), which spares each call the CLI's imports.
pub fn aws_cli(endpoint: &str) -> Command {
    let mut cmd = command(venv().join("bin/python"), endpoint);
    cmd.args(["-S"]).arg(root().join("tests/emulator/forked.py")).arg("aws");
    cmd
}

/// A Python script of the tests (with .venv's packages), forked from the emulator pool when there
/// is one.
pub fn python_script(script: &Path) -> Command {
    let mut cmd = Command::new(venv().join("bin/python"));
    cmd.arg("-S").arg(root().join("tests/emulator/forked.py")).arg("script").arg(script);
    cmd
}

/// Where tests/emulator/bin/aws is: put first on PATH, a script's `aws` is the aws CLI of .venv,
/// forked from the pool when there is one.
pub fn aws_cli_folder() -> PathBuf {
    root().join("tests/emulator/bin")
}

/// One invocation of the binary.
pub struct Run {
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn success(self) -> Output {
        assert_eq!(self.code, 0, "runbook failed\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

impl Run {
    pub fn new() -> Run {
        let mut env: Vec<(String, String)> = AWS_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Runs without an emulator of their own keep their journals out of the repository.
        let journals = std::env::temp_dir().join(format!("runbook-journal-{}", std::process::id()));
        env.push(("RUNBOOK_JOURNAL_DIR".into(), journals.to_string_lossy().into_owned()));
        Run { args: vec![], env, dir: None }
    }

    /// Runs in `dir` instead of the repository's root.
    pub fn in_dir(mut self, dir: &Path) -> Run {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Run {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Run {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn unset(mut self, k: &str) -> Run {
        self.env.retain(|(key, _)| key != k);
        self
    }

    /// `run FILE` for a runbook of the repository, with `--set` pairs.
    pub fn runbook(self, file: &str, sets: &[&str]) -> Run {
        let path = root().join(file);
        let mut args = vec!["run".to_string(), path.to_string_lossy().into_owned()];
        for s in sets {
            args.push("--set".into());
            args.push((*s).into());
        }
        self.args(args)
    }

    /// The command this invocation is, with no standard streams set.
    pub fn command(self) -> Command {
        let mut cmd = Command::new(runbook_bin());
        let dir = self.dir.clone().unwrap_or_else(root);
        cmd.args(&self.args).current_dir(dir).env_remove("AWS_PROFILE").env_remove("AWS_ENDPOINT_URL");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts the binary with its output piped, for tests that act while it runs.
    pub fn spawn(self) -> std::process::Child {
        let mut cmd = self.command();
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("start runbook")
    }

    pub fn output(self) -> Output {
        let out = self.command().stdin(Stdio::null()).output().expect("run runbook");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The cases of the bad-input corpus (`tests/corpus/*.rhai`), sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/corpus"))
        .expect("tests/corpus")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    files.sort();
    files
}

/// Writes a runbook into a fresh temporary folder and returns its path.
pub fn script(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runbook-test-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("temp dir");
    }
    std::fs::write(&path, text).expect("write script");
    path
}

fn unique() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    t + u128::from(N.fetch_add(1, Ordering::SeqCst))
}

/// A small deterministic generator (xorshift64): the same sequence on every run of a seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.draw() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.draw() % 100 < percent
    }
}

/// SDK clients on the emulator, for assertions that do not go through runbook.
pub struct Clients {
    rt: tokio::runtime::Runtime,
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
}

impl Clients {
    fn new(url: &str) -> Clients {
        Clients::in_region(url, "us-east-1", None)
    }

    /// Clients in `region` of `account`, through the role `role` assumed there (the emulator answers
    /// an assumed role with credentials for that role's account), or of the default account.
    pub fn in_region(url: &str, region: &str, account_role: Option<(&str, &str)>) -> Clients {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let creds = aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "tests");
        let load = |creds: aws_sdk_ecs::config::Credentials| {
            rt.block_on(
                aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.to_string()))
                    .endpoint_url(url)
                    .credentials_provider(creds)
                    .load(),
            )
        };
        let mut config = load(creds);
        if let Some((account, role)) = account_role {
            let sts = aws_sdk_sts::Client::new(&config);
            let arn = format!("arn:aws:iam::{account}:role/{role}");
            let out =
                rt.block_on(sts.assume_role().role_arn(arn).role_session_name("tests").send()).expect("assume role");
            let c = out.credentials().expect("credentials");
            let assumed = aws_sdk_ecs::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "tests-assumed",
            );
            config = load(assumed);
        }
        Clients {
            ecs: aws_sdk_ecs::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            ec2: aws_sdk_ec2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            acm: aws_sdk_acm::Client::new(&config),
            route53: aws_sdk_route53::Client::new(&config),
            rt,
        }
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn default_vpc(&self) -> String {
        let f = aws_sdk_ec2::types::Filter::builder().name("isDefault").values("true").build();
        let out = self.block_on(self.ec2.describe_vpcs().filters(f).send()).unwrap();
        out.vpcs()[0].vpc_id().unwrap().to_string()
    }

    pub fn default_subnets(&self) -> Vec<aws_sdk_ec2::types::Subnet> {
        let f = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(self.default_vpc()).build();
        self.block_on(self.ec2.describe_subnets().filters(f).send()).unwrap().subnets().to_vec()
    }

    pub fn target_group(&self, name: &str) -> aws_sdk_elasticloadbalancingv2::types::TargetGroup {
        let out = self.block_on(self.elbv2.describe_target_groups().names(name).send()).unwrap();
        out.target_groups()[0].clone()
    }

    /// Security groups by EC2 filter (`group-name`, `vpc-id`, ...).
    pub fn security_groups(&self, filter: &str, value: &str) -> Vec<aws_sdk_ec2::types::SecurityGroup> {
        let f = aws_sdk_ec2::types::Filter::builder().name(filter).values(value).build();
        let out = self.block_on(self.ec2.describe_security_groups().filters(f).send()).unwrap();
        out.security_groups().to_vec()
    }

    pub fn load_balancer(&self, name: &str) -> aws_sdk_elasticloadbalancingv2::types::LoadBalancer {
        let out = self.block_on(self.elbv2.describe_load_balancers().names(name).send()).unwrap();
        out.load_balancers()[0].clone()
    }

    pub fn listeners(&self, load_balancer_arn: &str) -> Vec<aws_sdk_elasticloadbalancingv2::types::Listener> {
        let out = self.block_on(self.elbv2.describe_listeners().load_balancer_arn(load_balancer_arn).send()).unwrap();
        out.listeners().to_vec()
    }

    pub fn service(&self, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
        let out = self.block_on(self.ecs.describe_services().cluster(cluster).services(name).send()).unwrap();
        out.services()[0].clone()
    }

    pub fn scalable_targets(&self, resource: &str) -> Vec<aws_sdk_applicationautoscaling::types::ScalableTarget> {
        use aws_sdk_applicationautoscaling::types::ServiceNamespace;
        let req = self.autoscaling.describe_scalable_targets().service_namespace(ServiceNamespace::Ecs);
        self.block_on(req.resource_ids(resource).send()).unwrap().scalable_targets().to_vec()
    }

    pub fn scaling_policies(&self, resource: &str) -> Vec<aws_sdk_applicationautoscaling::types::ScalingPolicy> {
        use aws_sdk_applicationautoscaling::types::ServiceNamespace;
        let req = self.autoscaling.describe_scaling_policies().service_namespace(ServiceNamespace::Ecs);
        self.block_on(req.resource_id(resource).send()).unwrap().scaling_policies().to_vec()
    }

    /// ECS service-linked roles, found by their path (the emulator names them differently).
    pub fn ecs_service_linked_roles(&self) -> usize {
        let req = self.iam.list_roles().path_prefix("/aws-service-role/ecs.amazonaws.com/");
        self.block_on(req.send()).unwrap().roles().len()
    }
}

impl Clients {
    /// Everything of the kinds the tutorial touches, described by names and settings (not by the
    /// ids the emulator makes up), sorted: equal lists mean equal states, on one emulator or two.
    pub fn state(&self) -> Vec<String> {
        let mut s = Vec::new();
        let tgs = self.block_on(self.elbv2.describe_target_groups().send()).unwrap();
        let tg_name = |arn: Option<&str>| {
            tgs.target_groups()
                .iter()
                .find(|t| t.target_group_arn() == arn)
                .and_then(|t| t.target_group_name())
                .map(str::to_string)
        };
        for t in tgs.target_groups() {
            let h = self
                .block_on(self.elbv2.describe_target_health().target_group_arn(t.target_group_arn().unwrap()).send());
            s.push(format!(
                "target group {:?} {:?}:{:?} {:?} check {:?} every {:?}s, {} target(s)",
                t.target_group_name(),
                t.protocol(),
                t.port(),
                t.target_type(),
                t.health_check_path(),
                t.health_check_interval_seconds(),
                h.unwrap().target_health_descriptions().len()
            ));
        }
        let sgs = self.block_on(self.ec2.describe_security_groups().send()).unwrap();
        let sg_name =
            |id: &str| sgs.security_groups().iter().find(|g| g.group_id() == Some(id)).and_then(|g| g.group_name());
        for g in sgs.security_groups() {
            let rules: Vec<String> = g
                .ip_permissions()
                .iter()
                .map(|p| {
                    let cidrs: Vec<&str> = p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect();
                    format!("{:?} {:?}-{:?} {cidrs:?}", p.ip_protocol(), p.from_port(), p.to_port())
                })
                .collect();
            s.push(format!("security group {:?} rules {rules:?}", g.group_name()));
        }
        let lbs = self.block_on(self.elbv2.describe_load_balancers().send()).unwrap();
        for lb in lbs.load_balancers() {
            let groups: Vec<_> = lb.security_groups().iter().map(|g| sg_name(g)).collect();
            s.push(format!(
                "load balancer {:?} {:?} {:?} groups {groups:?}",
                lb.load_balancer_name(),
                lb.scheme(),
                lb.r#type()
            ));
            for l in self.listeners(lb.load_balancer_arn().unwrap()) {
                let to: Vec<_> = l.default_actions().iter().map(|a| tg_name(a.target_group_arn())).collect();
                s.push(format!("listener {:?} {:?}:{:?} to {to:?}", lb.load_balancer_name(), l.protocol(), l.port()));
            }
        }
        let clusters = self.block_on(self.ecs.list_clusters().send()).unwrap();
        let arns: Vec<String> = clusters.cluster_arns().to_vec();
        if !arns.is_empty() {
            let described = self.block_on(self.ecs.describe_clusters().set_clusters(Some(arns)).send()).unwrap();
            for cl in described.clusters().iter().filter(|cl| cl.status() == Some("ACTIVE")) {
                let arn = cl.cluster_arn().unwrap();
                s.push(format!("cluster {:?}", cl.cluster_name()));
                let services = self.block_on(self.ecs.list_services().cluster(arn).send()).unwrap();
                if !services.service_arns().is_empty() {
                    let req =
                        self.ecs.describe_services().cluster(arn).set_services(Some(services.service_arns().to_vec()));
                    for svc in self.block_on(req.send()).unwrap().services() {
                        let lbs: Vec<_> = svc.load_balancers().iter().map(|l| tg_name(l.target_group_arn())).collect();
                        s.push(format!(
                            "service {:?} desired {} load balancers {lbs:?}",
                            svc.service_name(),
                            svc.desired_count()
                        ));
                    }
                }
                let running = aws_sdk_ecs::types::DesiredStatus::Running;
                let tasks = self.block_on(self.ecs.list_tasks().cluster(arn).desired_status(running).send());
                s.push(format!(
                    "cluster {:?}: {} running task(s)",
                    cl.cluster_name(),
                    tasks.unwrap().task_arns().len()
                ));
            }
        }
        let active = aws_sdk_ecs::types::TaskDefinitionStatus::Active;
        let tds = self.block_on(self.ecs.list_task_definitions().status(active).send()).unwrap();
        s.extend(
            tds.task_definition_arns().iter().map(|a| format!("task definition {}", a.rsplit('/').next().unwrap_or(a))),
        );
        let roles = self.block_on(self.iam.list_roles().send()).unwrap();
        s.extend(roles.roles().iter().map(|r| format!("role {}", r.role_name())));
        let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs;
        let targets = self.block_on(self.autoscaling.describe_scalable_targets().service_namespace(ns.clone()).send());
        for t in targets.unwrap().scalable_targets() {
            s.push(format!("scalable target {} {}-{}", t.resource_id(), t.min_capacity(), t.max_capacity()));
        }
        let policies =
            self.block_on(self.autoscaling.describe_scaling_policies().service_namespace(ns).send()).unwrap();
        for p in policies.scaling_policies() {
            let target = p.target_tracking_scaling_policy_configuration().map(|c| c.target_value());
            s.push(format!("scaling policy {} {:?} target {target:?}", p.policy_name(), p.policy_type()));
        }
        let certs = self.block_on(self.acm.list_certificates().send()).unwrap();
        for c in certs.certificate_summary_list() {
            s.push(format!("certificate {:?} {:?} {:?}", c.domain_name(), c.r#type(), c.status()));
        }
        let zones = self.block_on(self.route53.list_hosted_zones().send()).unwrap();
        for z in zones.hosted_zones() {
            s.push(format!("hosted zone {}", z.name()));
            let records =
                self.block_on(self.route53.list_resource_record_sets().hosted_zone_id(z.id()).send()).unwrap();
            for r in records.resource_record_sets().iter().filter(|r| !matches!(r.r#type().as_str(), "SOA" | "NS")) {
                let values: Vec<&str> = r.resource_records().iter().map(|v| v.value()).collect();
                let alias = r.alias_target().map(|a| a.dns_name());
                s.push(format!("record {} {} {values:?} alias {alias:?}", r.name(), r.r#type().as_str()));
            }
        }
        s.sort();
        s
    }
}

/// The tutorial's Application Auto Scaling resource id.
pub const SERVICE_RESOURCE: &str = "service/rent-a-room-cluster/rent-a-room-service";

/// Polls `f` until it returns `Some`, for state the emulator reaches shortly after a call.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
