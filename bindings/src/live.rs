//! What a long wait is doing, on a line at the foot of the terminal that is drawn again in place:
//! a waiter's polls, a pause before a retry, a held lock, a fleet's targets.
//!
//! Only when stderr is a terminal (and `TERM` is not `dumb`), and not after [`disable`]
//! (`--no-progress`, `RUNBOOK_NO_PROGRESS`). Elsewhere (CI, pipes, a fleet's children, `--output-dir`
//! logs) every line is printed as before and nothing is drawn. While a status is shown, each line
//! runbook prints (`output::write`) takes it off first and draws it again after, so lines
//! and the status never mix.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

static DISABLED: AtomicBool = AtomicBool::new(false);
/// Every status shown, each on its own line (a waiter's inside a fleet's parent is not: a child's
/// stderr is a pipe).
static SHOWN: OnceLock<MultiProgress> = OnceLock::new();

fn shown() -> &'static MultiProgress {
    SHOWN.get_or_init(|| {
        MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(Box::new(Foot::default()), 10))
    })
}

/// The foot of the terminal on stderr, as indicatif draws on it: a whole frame is written at once
/// (nothing half-drawn if the process ends between two writes), and its lines are taken as
/// [`MARGIN`] columns narrower than the terminal. indicatif fills each line with spaces to the
/// width it is given; filled to the terminal's, the cursor would wait past the last column, and
/// the `^C` a terminal echoes for Ctrl-C would wrap onto a row of its own that leaves the status
/// above it when it is cleared.
#[derive(Debug, Default)]
struct Foot {
    /// The frame being written, and the column the cursor is at in it.
    frame: std::sync::Mutex<(Vec<u8>, usize)>,
}

/// Columns left free at the end of a status line.
const MARGIN: usize = 3;

impl Foot {
    /// Moves the cursor `n` places (`A` up, `B` down, `C` right, `D` left).
    fn cursor(&self, n: usize, way: char) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.put(&format!("\x1b[{n}{way}")),
        }
    }

    /// Adds `text` to the frame. indicatif writes a status's lines one after another, each filled
    /// with spaces to the width, counting on the terminal to wrap to the next row; with the margin
    /// left free, the next row is begun here instead, once a row holds the width.
    fn put(&self, text: &str) -> std::io::Result<()> {
        let width = indicatif::TermLike::width(self) as usize;
        let Ok(mut guard) = self.frame.lock() else { return Ok(()) };
        let (frame, column) = &mut *guard;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                // An escape sequence takes no column: `ESC [ … final byte`.
                '\x1b' => {
                    frame.push(0x1b);
                    if chars.peek() == Some(&'[') {
                        for e in chars.by_ref() {
                            let mut b = [0; 4];
                            frame.extend_from_slice(e.encode_utf8(&mut b).as_bytes());
                            if e.is_ascii_alphabetic() {
                                break;
                            }
                        }
                    }
                }
                '\r' | '\n' => {
                    frame.push(c as u8);
                    *column = 0;
                }
                c => {
                    if *column >= width {
                        frame.extend_from_slice(b"\r\n");
                        *column = 0;
                    }
                    let mut b = [0; 4];
                    frame.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                    *column += 1;
                }
            }
        }
        Ok(())
    }
}

impl indicatif::TermLike for Foot {
    fn width(&self) -> u16 {
        columns().saturating_sub(MARGIN).max(10) as u16
    }

    fn height(&self) -> u16 {
        rows().max(2) as u16
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(s)?;
        self.put("\n")
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        let frame = match self.frame.lock() {
            Ok(mut frame) => std::mem::take(&mut frame.0),
            Err(_) => return Ok(()),
        };
        let mut err = std::io::stderr().lock();
        err.write_all(&frame)?;
        err.flush()
    }
}

/// No status is drawn from now on (`--no-progress`).
pub fn disable() {
    DISABLED.store(true, Ordering::SeqCst);
}

/// Whether statuses are drawn: stderr is a terminal that can redraw a line, and nobody said not to.
pub fn enabled() -> bool {
    !DISABLED.load(Ordering::SeqCst)
        && std::env::var_os("RUNBOOK_NO_PROGRESS").is_none_or(|v| v.is_empty() || v == "0")
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
        && std::io::stderr().is_terminal()
}

/// Runs `write` with the statuses (if any is shown) taken off the terminal, and draws them again
/// after.
pub(crate) fn around_write(write: impl FnOnce()) {
    match SHOWN.get() {
        Some(multi) => multi.suspend(write),
        None => write(),
    }
}

/// A status line, shown from [`Status::start`] until it is dropped; then it is cleared, leaving
/// the terminal as it was before it was drawn.
pub struct Status {
    bar: Option<ProgressBar>,
    /// Columns the template takes besides the message.
    around: usize,
}

impl Status {
    /// A status that reads `{spinner} {elapsed} {message}`; drawn only where [`enabled`].
    pub fn start(message: String) -> Status {
        Status::with_template("{spinner:.cyan} {elapsed:>4} {msg}", 7, message)
    }

    /// A status of one line in indicatif's template language, whose text other than `{msg}` takes
    /// `around` columns.
    pub fn with_template(template: &str, around: usize, message: String) -> Status {
        if !enabled() {
            return Status { bar: None, around };
        }
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = shown().add(ProgressBar::new_spinner().with_style(style));
        let status = Status { bar: Some(bar), around };
        status.set(message);
        if let Some(bar) = &status.bar {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        status
    }

    /// Whether this status is drawn (else its caller prints lines as before).
    pub fn drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Shows `message`, cut to the terminal's width: a line that filled the width would leave the
    /// cursor past its end, where the `^C` a terminal echoes for Ctrl-C wraps onto a row the
    /// status then does not clear.
    pub fn set(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(fit(&message, columns().saturating_sub(self.around + MARGIN + 1)));
        }
    }
}

impl Drop for Status {
    fn drop(&mut self) {
        let Some(bar) = self.bar.take() else { return };
        bar.finish_and_clear();
        shown().remove(&bar);
    }
}

/// The terminal's size on stderr: (rows, columns), or 24 × 80 when it does not say.
fn size() -> (usize, usize) {
    #[cfg(unix)]
    {
        let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes the window size of the terminal on fd 2 into `size`.
        let asked = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) };
        if asked == 0 && size.ws_col > 0 && size.ws_row > 0 {
            return (size.ws_row as usize, size.ws_col as usize);
        }
    }
    (24, 80)
}

fn columns() -> usize {
    size().1
}

fn rows() -> usize {
    size().0
}

/// `text` in at most `width` characters, cut with `…`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_stderr_is_not_a_terminal_or_progress_is_off() {
        // Under the test harness stderr is captured, not a terminal.
        let status = Status::start("waiting".into());
        assert!(!status.drawn() || std::io::stderr().is_terminal());
        disable();
        assert!(!enabled());
        assert!(!Status::start("waiting".into()).drawn());
    }

    #[test]
    fn a_status_is_cut_to_the_width_it_has() {
        assert_eq!(fit("poll 3: active", 20), "poll 3: active");
        assert_eq!(fit("poll 3: provisioning", 10), "poll 3: p…");
        assert_eq!(fit("é", 0), "…");
    }
}
