//! Lines for the operator, on stdout and stderr, that never stop a run.
//!
//! `println!` panics when its stream is gone (`runbook run ... | head -2`, or a fleet parent that
//! died and took its pipes with it). A run must not stop between two writes for that: every line of
//! runbook goes through [`write`] (the [`outln!`](crate::outln) family of macros). The first write
//! that fails marks its stream closed; from then on that stream's lines are kept here, and the run
//! layer moves them into the run's journal ([`take_kept`]), so nothing the run said is lost.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// One of the two streams a line goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Out => "stdout",
            Stream::Err => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Out => 0,
            Stream::Err => 1,
        }
    }
}

static CLOSED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// Streams that closed and have not been reported yet.
static NEWLY_CLOSED: Mutex<Vec<Stream>> = Mutex::new(Vec::new());
/// Lines written after their stream closed, for the journal; the oldest go past [`KEPT_MAX`].
static KEPT: Mutex<Vec<(Stream, String)>> = Mutex::new(Vec::new());
const KEPT_MAX: usize = 10_000;

/// Whether the lines for stdout go to stderr (while stdout is kept for one document: `policy`).
static OUT_TO_ERR: AtomicBool = AtomicBool::new(false);

/// Sends the lines for stdout to stderr (`true`) or back to stdout.
pub fn out_to_err(on: bool) {
    OUT_TO_ERR.store(on, Ordering::SeqCst);
}

/// Writes `text` to `stream` as it is (no newline added), and flushes it. A stream that cannot be
/// written is marked closed; its text is kept for the journal instead.
pub fn write(stream: Stream, text: &str) {
    let stream = if stream == Stream::Out && OUT_TO_ERR.load(Ordering::SeqCst) { Stream::Err } else { stream };
    if !CLOSED[stream.index()].load(Ordering::SeqCst) {
        let mut written = Ok(());
        crate::live::around_write(|| written = send(stream, text));
        if written.is_ok() {
            return;
        }
        if !CLOSED[stream.index()].swap(true, Ordering::SeqCst) {
            if let Ok(mut news) = NEWLY_CLOSED.lock() {
                news.push(stream);
            }
        }
    }
    keep(stream, text);
}

/// Writes and flushes `text` on `stream`.
fn send(stream: Stream, text: &str) -> std::io::Result<()> {
    match stream {
        Stream::Out => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|()| o.flush())
        }
        Stream::Err => {
            let mut e = std::io::stderr().lock();
            e.write_all(text.as_bytes()).and_then(|()| e.flush())
        }
    }
}

/// Keeps a line its closed stream could not take, for the journal.
fn keep(stream: Stream, text: &str) {
    if let Ok(mut kept) = KEPT.lock() {
        if kept.len() >= KEPT_MAX {
            kept.remove(0);
        }
        kept.push((stream, text.trim_end_matches('\n').to_string()));
    }
}

/// Whether `stream` has been found closed.
pub fn closed(stream: Stream) -> bool {
    CLOSED[stream.index()].load(Ordering::SeqCst)
}

/// The streams found closed since the last call.
pub fn take_newly_closed() -> Vec<Stream> {
    NEWLY_CLOSED.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
}

/// The lines written since their stream closed, oldest first; they are not kept again.
pub fn take_kept() -> Vec<(Stream, String)> {
    KEPT.lock().map(|mut k| std::mem::take(&mut *k)).unwrap_or_default()
}

/// `println!` that never panics: see [`write`].
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write($crate::output::Stream::Out, "\n") };
    ($($arg:tt)*) => { $crate::output::write($crate::output::Stream::Out, &format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that never panics: see [`write`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write($crate::output::Stream::Out, &format!($($arg)*)) };
}

/// `eprintln!` that never panics: see [`write`].
#[macro_export]
macro_rules! eoutln {
    () => { $crate::output::write($crate::output::Stream::Err, "\n") };
    ($($arg:tt)*) => { $crate::output::write($crate::output::Stream::Err, &format!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that never panics: see [`write`].
#[macro_export]
macro_rules! eout {
    ($($arg:tt)*) => { $crate::output::write($crate::output::Stream::Err, &format!($($arg)*)) };
}
