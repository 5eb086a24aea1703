//! A fleet as it goes, on two lines at the foot of the terminal: how many targets are done, running,
//! failed and waiting (for a slot or a later batch), the time so far and an estimate of what is
//! left; then the slowest running target and its last line. Drawn only where
//! [`runbook_bindings::live`] draws; the targets' lines scroll above it as they always did.

use runbook_bindings::live::Status;
use std::time::{Duration, Instant};

/// What the fleet is at, as the loop that starts its children knows it.
pub struct Counts<'a> {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Running targets: label, since when, the last line it printed.
    pub running: Vec<(&'a str, Instant, &'a str)>,
    /// Not started, in the batch under way (waiting for a slot, or for their place to be free).
    pub queued: usize,
    /// Not started, in later batches.
    pub later: usize,
    /// The batch under way (from 1) and how many there are.
    pub batch: (usize, usize),
    /// How long each finished target took.
    pub durations: &'a [Duration],
    pub concurrency: usize,
}

pub struct Progress {
    head: Status,
    slowest: Status,
}

impl Progress {
    pub fn start(total: usize) -> Progress {
        let head = Status::start(format!("fleet: 0/{total} done"));
        let slowest = Status::with_template("  {msg}", 2, String::new());
        Progress { head, slowest }
    }

    /// Whether it is drawn (else nothing need be counted for it).
    pub fn drawn(&self) -> bool {
        self.head.drawn()
    }

    pub fn update(&self, c: &Counts) {
        if !self.head.drawn() {
            return;
        }
        self.head.set(head_line(c));
        self.slowest.set(slowest_line(c));
    }
}

/// `fleet: 3/8 done (1 failed) · 2 running · 1 queued · 2 in later batches (batch 1 of 2) · ~1m20s left`
pub fn head_line(c: &Counts) -> String {
    let done = c.succeeded + c.failed;
    let mut line = format!("fleet: {done}/{} done", c.total);
    if c.failed > 0 {
        line.push_str(&format!(" ({} failed)", c.failed));
    }
    line.push_str(&format!(" · {} running", c.running.len()));
    if c.queued > 0 {
        line.push_str(&format!(" · {} queued", c.queued));
    }
    if c.later > 0 {
        line.push_str(&format!(" · {} waiting for a later batch", c.later));
    }
    if c.batch.1 > 1 {
        line.push_str(&format!(" (batch {} of {})", c.batch.0, c.batch.1));
    }
    let running: Vec<Duration> = c.running.iter().map(|(_, since, _)| since.elapsed()).collect();
    let left = estimate(c.durations, &running, c.queued + c.later, c.concurrency);
    // Past the estimate, the running targets are late: it has nothing more to say.
    if let Some(left) = left.filter(|l| l.as_secs() > 0) {
        line.push_str(&format!(" · ~{} left", words(left)));
    }
    line
}

/// `slowest: [111111111111/eu-west-1] 45s: ecs::wait_services_stable: poll 3: …`
fn slowest_line(c: &Counts) -> String {
    match c.running.iter().min_by_key(|(_, since, _)| *since) {
        Some((label, since, last)) => {
            let last = if last.is_empty() { "started" } else { last };
            format!("slowest: [{label}] {}: {last}", words(since.elapsed()))
        }
        None => String::new(),
    }
}

/// What is left, from the targets finished so far: each running target takes the mean less what
/// it has run, each target not started the mean, `concurrency` at a time. `None` before any target
/// finished (nothing to go on).
pub fn estimate(done: &[Duration], running: &[Duration], not_started: usize, concurrency: usize) -> Option<Duration> {
    if done.is_empty() {
        return None;
    }
    let mean = done.iter().sum::<Duration>() / done.len() as u32;
    let running_left = running.iter().map(|r| mean.saturating_sub(*r)).max().unwrap_or_default();
    let rounds = not_started.div_ceil(concurrency.max(1)) as u32;
    Some(running_left + mean * rounds)
}

/// `45s`, `3m05s`, `1h02m`.
pub fn words(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_the_mean_of_finished_targets_for_each_round_left() {
        let secs = Duration::from_secs;
        assert_eq!(estimate(&[], &[secs(5)], 3, 2), None);
        // Two done at 10 s and 20 s (mean 15): one running for 5 s has 10 s left, then four not
        // started, two at a time, two rounds of 15 s.
        assert_eq!(estimate(&[secs(10), secs(20)], &[secs(5)], 4, 2), Some(secs(40)));
        // A running target past the mean has nothing left by the estimate.
        assert_eq!(estimate(&[secs(10)], &[secs(30)], 0, 1), Some(secs(0)));
        assert_eq!(estimate(&[secs(10)], &[], 3, 0), Some(secs(30)));
    }

    #[test]
    fn the_head_line_counts_every_state_and_the_slowest_target_leads_the_second() {
        let now = Instant::now();
        let earlier = now.checked_sub(Duration::from_secs(65)).unwrap_or(now);
        let c = Counts {
            total: 8,
            succeeded: 2,
            failed: 1,
            running: vec![("a/us-east-1", now, "ecs::run_task"), ("b/eu-west-1", earlier, "waiting")],
            queued: 1,
            later: 2,
            batch: (1, 2),
            durations: &[Duration::from_secs(30)],
            concurrency: 2,
        };
        let head = head_line(&c);
        assert_eq!(
            head.split(" · ~").next(),
            Some("fleet: 3/8 done (1 failed) · 2 running · 1 queued · 2 waiting for a later batch (batch 1 of 2)")
        );
        assert!(head.ends_with("left"), "{head}");
        let slowest = slowest_line(&c);
        assert!(slowest.starts_with("slowest: [b/eu-west-1] 1m0"), "{slowest}");
        assert!(slowest.ends_with(": waiting"), "{slowest}");
        assert_eq!(words(Duration::from_secs(3725)), "1h02m");
    }
}
