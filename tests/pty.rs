//! A pseudo-terminal for the binary: what an operator's terminal receives, byte for byte, and the
//! screen those bytes leave (`vt100`), for tests of what is drawn in place.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const ROWS: u16 = 50;
pub const COLS: u16 = 200;

/// The binary with a terminal of its own as stdin, stdout and stderr (its controlling terminal,
/// so that Ctrl-C typed there interrupts it as a shell's would).
pub struct Terminal {
    master: std::fs::File,
    child: Child,
    seen: Arc<(Mutex<Vec<u8>>, Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    pub fn spawn(mut cmd: Command) -> Terminal {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize { ws_row: ROWS, ws_col: COLS, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors it opened into the integers given.
        let opened = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
        assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here alone.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("a copy of the terminal's descriptor"));
        cmd.stdin(io(&slave)).stdout(io(&slave)).stderr(io(&slave)).env("TERM", "xterm-256color");
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid and ioctl are async-signal-safe; the child makes the terminal its own.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the binary in a terminal");
        drop(slave);
        let seen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (mut from, into) = (master.try_clone().expect("the terminal's master"), seen.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends with EIO once no process holds the terminal.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                into.0.lock().expect("the bytes seen").extend_from_slice(&buf[..n]);
                into.1.notify_all();
            }
        });
        Terminal { master, child, seen, reader: Some(reader) }
    }

    /// Waits until the terminal has received `text` (or `timeout` passes): whether it did.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let (bytes, bell) = &*self.seen;
        let mut seen = bytes.lock().expect("the bytes seen");
        loop {
            if String::from_utf8_lossy(&seen).contains(text) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            seen = bell.wait_timeout(seen, left).expect("the bytes seen").0;
        }
    }

    /// Types Ctrl-C.
    pub fn ctrl_c(&mut self) {
        self.master.write_all(&[3]).expect("type Ctrl-C");
    }

    /// Waits for the binary to end: its exit code and every byte the terminal received.
    pub fn finish(mut self) -> (i32, Vec<u8>) {
        let status = self.child.wait().expect("wait for the binary");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or(status.signal().map(|s| 128 + s)).unwrap_or(-1);
        let bytes = self.seen.0.lock().expect("the bytes seen").clone();
        (code, bytes)
    }
}

/// The screen `bytes` leave on a terminal of [`ROWS`] × [`COLS`]: its rows (scrollback first),
/// trailing blanks trimmed, and the cursor's column.
pub fn screen(bytes: &[u8]) -> (Vec<String>, u16) {
    let size = |n: u16| std::num::NonZeroU16::new(n).expect("a terminal of some size");
    let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 10_000);
    parser.process(bytes);
    let column = parser.screen().cursor_position().1;
    // Every row, the ones scrolled off the top included.
    parser.screen_mut().set_scrollback(usize::MAX);
    let back = parser.screen().scrollback();
    let mut rows: Vec<String> = Vec::new();
    let mut offset = back;
    loop {
        parser.screen_mut().set_scrollback(offset);
        let shown: Vec<String> = parser.screen().rows(0, COLS).collect();
        if offset == back {
            rows.extend(shown);
        } else {
            // Each step down shows one more row at the foot.
            rows.push(shown.last().cloned().unwrap_or_default());
        }
        if offset == 0 {
            break;
        }
        offset -= 1;
    }
    let rows = rows.into_iter().map(|r| r.trim_end().to_string()).collect();
    (rows, column)
}
