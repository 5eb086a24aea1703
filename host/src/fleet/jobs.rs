//! The children of a fleet: started in batches under `--concurrency` and `--max-errors`, their
//! lines prefixed whole with their target, signals passed on.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// One child process to run: its target, arguments and environment.
pub struct Job {
    pub label: String,
    /// Where it runs (account, role, region, profile): jobs of one place never run at once.
    pub place: String,
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
    pub fn word(&self) -> &'static str {
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
pub(super) static SIGNAL: AtomicI32 = AtomicI32::new(0);

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

/// The last line each running job printed, for the live display.
type LastLines = Arc<Mutex<BTreeMap<usize, String>>>;

fn pump(
    stream: impl std::io::Read + Send + 'static,
    (job, label): (usize, String),
    sink: Sink,
    to_stderr: bool,
    last: LastLines,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut last) = last.lock() {
                last.insert(job, line.clone());
            }
            match &sink {
                Sink::Terminal(lock) => {
                    let _held = lock.lock();
                    if to_stderr {
                        runbook_bindings::output::write(
                            runbook_bindings::output::Stream::Err,
                            &format!("[{label}] {line}\n"),
                        );
                    } else {
                        runbook_bindings::output::write(
                            runbook_bindings::output::Stream::Out,
                            &format!("[{label}] {line}\n"),
                        );
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
    // On a terminal: the fleet at a glance, drawn again in place below the targets' lines.
    let progress = super::progress::Progress::start(jobs.len());
    let last_lines: LastLines = Arc::new(Mutex::new(BTreeMap::new()));
    let mut since: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut durations: Vec<Duration> = Vec::new();
    for (batch, &size) in batch_sizes.iter().enumerate() {
        let end = (next + size).min(jobs.len());
        let mut queue: Vec<usize> = (next..end).collect();
        queue.reverse();
        next = end;
        loop {
            let stop = SIGNAL.load(Ordering::SeqCst) != 0 || max_errors.is_some_and(|m| failures > m);
            while !stop && running.len() < concurrency {
                // The next job whose place is free: two targets in one place run one after another.
                let Some(at) = queue.iter().rposition(|&q| running.keys().all(|&r| jobs[r].place != jobs[q].place))
                else {
                    break;
                };
                let i = queue.remove(at);
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
                                eoutln!("[{}] cannot write its log in {}: {e}", job.label, dir.display());
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
                            eoutln!("[{}] started", job.label);
                        }
                        running.insert(i, child.id());
                        since.insert(i, Instant::now());
                        let pumped =
                            |s, sink, to_stderr| pump(s, (i, job.label.clone()), sink, to_stderr, last_lines.clone());
                        let out = child
                            .stdout
                            .take()
                            .map(|s| pumped(Box::new(s) as Box<dyn std::io::Read + Send>, sink.clone(), false));
                        let err = child.stderr.take().map(|s| pumped(Box::new(s), sink, true));
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
                        eoutln!("[{}] cannot start: {e}", job.label);
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
            if progress.drawn() {
                let last = last_lines.lock().map(|l| l.clone()).unwrap_or_default();
                let running_now: Vec<(&str, Instant, &str)> = running
                    .keys()
                    .map(|r| {
                        let line = last.get(r).map(String::as_str).unwrap_or("");
                        (jobs[*r].label.as_str(), since.get(r).copied().unwrap_or_else(Instant::now), line)
                    })
                    .collect();
                let done = |s: &Status| matches!(s, Status::Succeeded | Status::Failed(_) | Status::Interrupted);
                progress.update(&super::progress::Counts {
                    total: jobs.len(),
                    succeeded: statuses.iter().filter(|s| **s == Status::Succeeded).count(),
                    failed: statuses.iter().filter(|s| done(s) && **s != Status::Succeeded).count(),
                    running: running_now,
                    queued: queue.len(),
                    later: jobs.len() - next,
                    batch: (batch + 1, batch_sizes.len()),
                    durations: &durations,
                    concurrency,
                });
            }
            if let Ok((i, code)) = rx.recv_timeout(Duration::from_millis(100)) {
                running.remove(&i);
                if let Some(t) = since.get(&i) {
                    durations.push(t.elapsed());
                }
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
                    eoutln!("[{}] {}", jobs[i].label, statuses[i].word());
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
