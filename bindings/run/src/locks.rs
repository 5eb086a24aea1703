//! Leased locks: a run holds one for each place it writes in (account and region) under its lock
//! name, so two runs of one runbook never write in one place at once.
//!
//! A lock is taken at the run's first write in a place, before that write's intent is journaled, so
//! a refused run has written nothing there. Its holder renews the lease every third of it from a
//! thread of its own; a holder that dies stops renewing, and the lock is free once the lease ends.
//! A holder on the same host that has exited (killed with SIGKILL, say) frees it at once: its
//! process is asked for. The run gives its locks back after its end record.
//!
//! Local journal folders keep locks as files in `<journal dir>/locks/`, one JSON document per lock
//! naming its holder. Every change to them is a compare-and-swap made under an exclusive
//! `flock` of `locks/.guard`: take only if absent or expired, renew and release only if still
//! the holder's. A journal store in S3 keeps them as objects `locks/…` and makes the same
//! changes with conditional writes: `If-None-Match: *` to create, `If-Match` of the ETag read to
//! renew, take over an expired one, or remove.

use super::store::{Put, S3Store};
use runbook_bindings::error::CallError;
use runbook_bindings::hooks::{Event, EventKind};
use runbook_bindings::live::Status;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Who holds a lock, as its file says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    /// The lock name: by default the runbook's path from the project root.
    pub lock: String,
    pub account: String,
    pub region: String,
    /// The run id holding it.
    pub run: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// When it was taken (UTC).
    pub since: String,
    pub lease_s: u64,
    /// When the lease ends unless renewed, in milliseconds since the epoch, and as UTC text.
    pub expires_ms: u64,
    pub expires: String,
    /// The fleet the holder is a target of: the fleet's other targets write in its place beside
    /// it (a `with_region` block), any other run waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Holder {
    /// `run 20261202t… (ana@build-7, pid 4242) since 2026-12-02T10:00:00Z, lease until …`
    pub fn describe(&self) -> String {
        format!(
            "run {} ({}@{}, pid {}) since {}, its lease until {}",
            self.run, self.user, self.host, self.pid, self.since, self.expires
        )
    }

    /// Whether the lock is free for another run: its lease ended, or its holder ran on this host
    /// and has exited (killed, say), which a holder elsewhere cannot be seen to do.
    fn free(&self, now_ms: u64, host: &str) -> bool {
        self.expires_ms <= now_ms || (self.host == host && !alive(self.pid))
    }
}

/// The locks of a journal folder: files in its `locks/`, or objects in the S3 store it caches.
#[derive(Clone)]
pub struct Folder {
    dir: PathBuf,
    remote: Option<Arc<S3Store>>,
    /// The lock objects this process wrote, by key: their ETag and holder, so that a renewal or a
    /// give-back is one conditional request (it fails if anyone changed the object since).
    written: Arc<Mutex<std::collections::HashMap<String, (String, Holder)>>>,
}

/// The file name of one lock: readable parts of its key and a hash that keeps keys apart that read
/// alike once their separators are replaced.
fn file_name(account: &str, region: &str, name: &str) -> String {
    let key = format!("{account}\n{region}\n{name}");
    let readable: String = format!("{account}.{region}.{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(120)
        .collect();
    format!("{readable}.{:08x}.json", fnv1a(key.as_bytes()) as u32)
}

/// A lock object of the store and its ETag.
fn read_object(store: &S3Store, key: &str) -> Result<Option<(Holder, String)>, String> {
    match store.get(key)? {
        None => Ok(None),
        Some((body, etag)) => serde_json::from_slice(&body)
            .map(|h| Some((h, etag)))
            .map_err(|e| format!("the lock object {key} is not a lock's: {e}")),
    }
}

fn json_of(holder: &Holder) -> Result<Vec<u8>, String> {
    serde_json::to_vec_pretty(holder).map_err(|e| e.to_string())
}

impl Folder {
    pub fn of_journal(journal_dir: &Path) -> Folder {
        Folder { dir: journal_dir.join("locks"), remote: super::store::of(journal_dir), written: Default::default() }
    }

    fn file(&self, account: &str, region: &str, name: &str) -> PathBuf {
        self.dir.join(file_name(account, region, name))
    }

    /// Takes the lock in the store: created if absent, replaced if free, each only if nobody
    /// changed it since it was read.
    fn take_object(&self, store: &S3Store, holder: &Holder) -> Result<Option<Holder>, String> {
        let key = format!("locks/{}", file_name(&holder.account, &holder.region, &holder.lock));
        let body = json_of(holder)?;
        // Mostly there is none: one request takes it.
        if let Put::Done(etag) = store.put_new(&key, body.clone())? {
            self.remember(&key, etag, holder);
            return Ok(None);
        }
        for _ in 0..8 {
            let put = match read_object(store, &key)? {
                None => store.put_new(&key, body.clone())?,
                Some((h, etag)) if h.run == holder.run || h.free(super::journal::now_ms(), &holder.host) => {
                    store.put_if_match(&key, body.clone(), &etag)?
                }
                Some((h, _)) => return Ok(Some(h)),
            };
            if let Put::Done(etag) = put {
                self.remember(&key, etag, holder);
                return Ok(None);
            }
        }
        Err(format!("the lock object {key} kept changing while it was taken"))
    }

    fn remember(&self, key: &str, etag: String, holder: &Holder) {
        if let Ok(mut w) = self.written.lock() {
            w.insert(key.to_string(), (etag, holder.clone()));
        }
    }

    fn written(&self, key: &str) -> Option<(String, Holder)> {
        self.written.lock().ok()?.get(key).cloned()
    }

    /// Runs `f` with the folder's guard held: one change at a time, across processes.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create the lock folder {}: {e}", self.dir.display()))?;
        let path = self.dir.join(".guard");
        let guard = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        guard.lock().map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        let out = f();
        let _ = guard.unlock();
        out
    }

    fn read(path: &Path) -> Result<Option<Holder>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("the lock file {} is not a lock's: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read the lock file {}: {e}", path.display())),
        }
    }

    /// Writes whole or not at all: a reader never sees half a holder.
    fn write(path: &Path, holder: &Holder) -> Result<(), String> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(holder).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write the lock file {}: {e}", path.display()))
    }

    /// Takes the lock for `holder` if nobody holds it or its holder's lease has ended; otherwise
    /// returns the holder.
    pub fn try_take(&self, holder: &Holder) -> Result<Option<Holder>, String> {
        if let Some(store) = &self.remote {
            return self.take_object(store, holder);
        }
        let path = self.file(&holder.account, &holder.region, &holder.lock);
        self.guarded(|| match Folder::read(&path)? {
            Some(h) if h.run != holder.run && !h.free(super::journal::now_ms(), &holder.host) => Ok(Some(h)),
            _ => Folder::write(&path, holder).map(|()| None),
        })
    }

    /// Extends the lease of `run`'s lock to `expires_ms`. False when `run` holds it no longer (its
    /// lease ended and another run took it, or it was broken by hand).
    fn renew(&self, account: &str, region: &str, name: &str, run: &str, lease: Duration) -> Result<bool, String> {
        if let Some(store) = &self.remote {
            let key = format!("locks/{}", file_name(account, region, name));
            // From the object as this process last wrote it; if it changed since, it is not ours.
            let (etag, mut h) = match self.written(&key) {
                Some(w) => w,
                None => match read_object(store, &key)? {
                    Some((h, etag)) => (etag, h),
                    None => return Ok(false),
                },
            };
            if h.run != run {
                return Ok(false);
            }
            (h.expires_ms, h.expires) = expiry(lease);
            return match store.put_if_match(&key, json_of(&h)?, &etag)? {
                Put::Done(etag) => {
                    self.remember(&key, etag, &h);
                    Ok(true)
                }
                Put::Refused => Ok(false),
            };
        }
        let path = self.file(account, region, name);
        self.guarded(|| match Folder::read(&path)? {
            Some(mut h) if h.run == run => {
                let (ms, text) = expiry(lease);
                h.expires_ms = ms;
                h.expires = text;
                Folder::write(&path, &h).map(|()| true)
            }
            _ => Ok(false),
        })
    }

    /// Gives `run`'s lock back; a lock another run holds now is left alone.
    fn release(&self, account: &str, region: &str, name: &str, run: &str) -> Result<(), String> {
        if let Some(store) = &self.remote {
            let key = format!("locks/{}", file_name(account, region, name));
            if let Some((etag, _)) = self.written(&key).filter(|(_, h)| h.run == run) {
                if store.delete_if_match(&key, &etag)? {
                    return Ok(());
                }
            }
            // Changed since this process wrote it: given back only if it is still this run's.
            if let Some((h, etag)) = read_object(store, &key)? {
                if h.run == run {
                    store.delete_if_match(&key, &etag)?;
                }
            }
            return Ok(());
        }
        let path = self.file(account, region, name);
        self.guarded(|| match Folder::read(&path)? {
            Some(h) if h.run == run => {
                std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        })
    }

    /// Every lock in the folder, held or with its lease ended.
    pub fn list(&self) -> Result<Vec<(PathBuf, Holder)>, String> {
        if let Some(store) = &self.remote {
            let mut out = Vec::new();
            for key in store.list("locks/")?.into_iter().filter(|k| k.ends_with(".json")) {
                if let Some((h, _)) = read_object(store, &key)? {
                    out.push((PathBuf::from(key), h));
                }
            }
            return Ok(by_name(out));
        }
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read the lock folder {}: {e}", self.dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(h) = Folder::read(&path)? {
                    out.push((path, h));
                }
            }
        }
        Ok(by_name(out))
    }

    /// Removes the lock `found` names if it still names the same holder; returns whether it did.
    pub fn break_lock(&self, found: &Holder) -> Result<bool, String> {
        if let Some(store) = &self.remote {
            let key = format!("locks/{}", file_name(&found.account, &found.region, &found.lock));
            return match read_object(store, &key)? {
                Some((h, etag)) if h.run == found.run => store.delete_if_match(&key, &etag),
                _ => Ok(false),
            };
        }
        let path = self.file(&found.account, &found.region, &found.lock);
        self.guarded(|| match Folder::read(&path)? {
            Some(h) if h.run == found.run => {
                std::fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                Ok(true)
            }
            _ => Ok(false),
        })
    }
}

/// Whether process `pid` of this host still runs.
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return true };
        // Signal 0 only asks whether the process exists; EPERM means it does, as another user's.
        // SAFETY: kill(2) with signal 0 sends nothing and touches no memory of this process.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Locks in the order `runbook unlock` lists them: by name, then account and region.
fn by_name(mut locks: Vec<(PathBuf, Holder)>) -> Vec<(PathBuf, Holder)> {
    locks.sort_by(|a, b| (&a.1.lock, &a.1.account, &a.1.region).cmp(&(&b.1.lock, &b.1.account, &b.1.region)));
    locks
}

/// FNV-1a: a hash that stays the same across builds, for file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The end of a lease starting now, in milliseconds and as UTC text.
fn expiry(lease: Duration) -> (u64, String) {
    let at = std::time::SystemTime::now() + lease;
    let ms = at.duration_since(std::time::SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    (ms, super::journal::utc(at))
}

/// Who runs this process: the user and host a holder names.
pub fn user_and_host() -> (String, String) {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()))
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into());
    (user, host)
}

/// The name of the user this process runs as, from the system's user database.
fn account_name() -> Option<String> {
    #[cfg(unix)]
    {
        // SAFETY: getpwuid returns a pointer into static storage (or null), read at once; runbook
        // asks it from one thread at a time, only here.
        unsafe {
            let pw = libc::getpwuid(libc::getuid());
            if pw.is_null() || (*pw).pw_name.is_null() {
                return None;
            }
            let name = std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned();
            Some(name).filter(|n| !n.is_empty())
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// How a run locks: its lock name, lease and how long it waits for a held lock.
#[derive(Clone)]
pub struct Settings {
    pub folder: Folder,
    pub name: String,
    pub lease: Duration,
    /// `None`: a held lock refuses the run at once.
    pub wait: Option<Duration>,
    /// The fleet this run is a target of (its id, or its parent run's): a lock a sibling holds is
    /// shared, not waited for.
    pub group: Option<String>,
    /// The journal options a printed `runbook unlock` needs to find the lock (` --journal-dir
    /// s3://…`), empty for the default folder.
    pub flags: String,
}

/// A lock this run holds, and the thread renewing it.
struct Held {
    account: String,
    region: String,
    stop: Arc<(Mutex<bool>, Condvar)>,
    lost: Arc<AtomicBool>,
    /// When the lease was last taken or renewed.
    renewed: Arc<Mutex<std::time::Instant>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

/// The locks of one run.
pub struct Locks {
    settings: Settings,
    run: String,
    held: Mutex<Vec<Held>>,
}

/// A wait for a lock another run holds: shown while it lasts, told as an event when it ends.
struct Waiting<'a> {
    started: std::time::Instant,
    what: String,
    /// Set once the lock is found held.
    status: Option<Status>,
    waited_for: &'a dyn Fn(Event),
    /// Who held it when last asked.
    holder: String,
    /// The wait ended at the lock timeout, the lock still held.
    refused: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.status.take().is_some() {
            let mut event = Event::since(EventKind::Lock, std::mem::take(&mut self.what), self.started);
            event.detail = Some(format!("held by {}", self.holder));
            event.error = self.refused.then(|| "LockHeld".to_string());
            (self.waited_for)(event);
        }
    }
}

/// What stops a write: the lock is another run's, or this run's was taken from it.
fn refused(message: String) -> CallError {
    CallError::Transport {
        service: "runbook".into(),
        operation: "lock".into(),
        code: runbook_bindings::error::LOCK_HELD.into(),
        message,
        retryable: false,
    }
}

impl Locks {
    pub fn new(settings: Settings, run: &str) -> Locks {
        Locks { settings, run: run.to_string(), held: Mutex::new(Vec::new()) }
    }

    /// Holds the lock of (`account`, `region`) before a write there: already held, taken now, or
    /// waited for up to the settings' wait (`pause` sleeps, and returns an error on interrupt).
    pub fn ensure(
        &self,
        account: &str,
        region: &str,
        pause: &dyn Fn(f64) -> Result<(), CallError>,
        waited_for: &dyn Fn(Event),
    ) -> Result<(), CallError> {
        let name = &self.settings.name;
        if let Ok(held) = self.held.lock() {
            if let Some(h) = held.iter().find(|h| h.account == account && h.region == region) {
                // A renewal missed (the process was stopped, the disk slow): the lease may have
                // ended, so it is renewed now or the write does not go.
                let stale = h.renewed.lock().map(|t| t.elapsed() >= self.settings.lease * 2 / 3).unwrap_or(true);
                if stale && !h.lost.load(Ordering::SeqCst) {
                    match self.settings.folder.renew(account, region, name, &self.run, self.settings.lease) {
                        Ok(true) => {
                            if let Ok(mut t) = h.renewed.lock() {
                                *t = std::time::Instant::now();
                            }
                        }
                        Ok(false) => h.lost.store(true, Ordering::SeqCst),
                        Err(e) => return Err(refused(format!("cannot renew the lock {name:?}: {e}"))),
                    }
                }
                if h.lost.load(Ordering::SeqCst) {
                    return Err(refused(format!(
                        "the lock {name:?} in {account}/{region} is this run's no longer (its lease could not be \
                         renewed, or `runbook unlock` broke it); no write is sent without it"
                    )));
                }
                return Ok(());
            }
        }
        let started = std::time::Instant::now();
        let (user, host) = user_and_host();
        let mut said = false;
        let mut tries = 0;
        // Once the lock is found held: the wait, on the status line and, when it ends, as an event.
        let mut wait = Waiting {
            started,
            what: format!("lock {name} in {account}/{region}"),
            status: None,
            waited_for,
            holder: String::new(),
            refused: false,
        };
        loop {
            let (expires_ms, expires) = expiry(self.settings.lease);
            let me = Holder {
                lock: name.clone(),
                account: account.into(),
                region: region.into(),
                run: self.run.clone(),
                user: user.clone(),
                host: host.clone(),
                pid: std::process::id(),
                since: super::journal::now(),
                lease_s: self.settings.lease.as_secs(),
                expires_ms,
                expires,
                group: self.settings.group.clone(),
            };
            let other =
                self.settings.folder.try_take(&me).map_err(|e| refused(format!("cannot take the lock: {e}")))?;
            let Some(other) = other else {
                self.hold(account, region);
                return Ok(());
            };
            // Held by another target of this fleet: its hold keeps other runs out of the place,
            // and this run looks again at its next write there (it may then take it itself).
            if other.group.is_some() && other.group == self.settings.group {
                return Ok(());
            }
            let waited = started.elapsed();
            match self.settings.wait {
                Some(limit) if waited < limit => {
                    if !said {
                        let line = format!(
                            "[lock] {name} in {account}/{region} is held by {}; waiting up to {} s",
                            other.describe(),
                            limit.as_secs()
                        );
                        eoutln!("{line}");
                        wait.status = Some(Status::start(line));
                        said = true;
                    }
                    tries += 1;
                    wait.holder = other.describe();
                    if let Some(status) = &wait.status {
                        status.set(format!(
                            "[lock] waiting for {name} in {account}/{region} (up to {} s, asked {tries} times), held by {}",
                            limit.as_secs(),
                            other.describe()
                        ));
                    }
                    pause((limit - waited).as_secs_f64().min(1.0))?
                }
                Some(limit) => {
                    wait.refused = true;
                    return Err(refused(format!(
                        "the lock {name:?} in {account}/{region} is held by {}; waited {} s (--lock-timeout)",
                        other.describe(),
                        limit.as_secs()
                    )));
                }
                None => {
                    return Err(refused(format!(
                        "the lock {name:?} in {account}/{region} is held by {}; `--lock-timeout SECONDS` waits \
                         for it, `runbook unlock {name}{}` breaks it",
                        other.describe(),
                        self.settings.flags
                    )))
                }
            }
        }
    }

    /// Starts renewing a lock just taken.
    fn hold(&self, account: &str, region: &str) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let lost = Arc::new(AtomicBool::new(false));
        let (folder, name, run, lease) =
            (self.settings.folder.clone(), self.settings.name.clone(), self.run.clone(), self.settings.lease);
        let renewed = Arc::new(Mutex::new(std::time::Instant::now()));
        let (acc, reg, stop2, lost2) = (account.to_string(), region.to_string(), stop.clone(), lost.clone());
        let renewed2 = renewed.clone();
        let renewer = std::thread::Builder::new()
            .name("runbook-lock".into())
            .spawn(move || {
                let (flag, bell) = &*stop2;
                let Ok(mut stopped) = flag.lock() else { return };
                loop {
                    let Ok((s, _)) = bell.wait_timeout(stopped, lease / 3) else { return };
                    stopped = s;
                    if *stopped {
                        return;
                    }
                    // A failed renewal is tried again at the next third; the lease covers two.
                    match folder.renew(&acc, &reg, &name, &run, lease) {
                        Ok(true) => {
                            if let Ok(mut t) = renewed2.lock() {
                                *t = std::time::Instant::now();
                            }
                        }
                        Ok(false) => {
                            lost2.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(_) => {}
                    }
                }
            })
            .ok();
        if let Ok(mut held) = self.held.lock() {
            held.push(Held { account: account.into(), region: region.into(), stop, lost, renewed, renewer });
        }
    }

    /// Stops renewing and gives back every lock this run holds.
    pub fn release_all(&self) {
        let held = match self.held.lock() {
            Ok(mut h) => std::mem::take(&mut *h),
            Err(_) => return,
        };
        for mut h in held {
            if let Ok(mut stopped) = h.stop.0.lock() {
                *stopped = true;
                h.stop.1.notify_all();
            }
            if let Some(t) = h.renewer.take() {
                let _ = t.join();
            }
            if let Err(e) = self.settings.folder.release(&h.account, &h.region, &self.settings.name, &self.run) {
                eoutln!("warning: {e}; the lock frees itself when its lease ends");
            }
        }
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        self.release_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(run: &str, lease_ms: u64) -> Holder {
        let now = super::super::journal::now_ms();
        Holder {
            lock: "runbooks/tutorial.rhai".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            run: run.into(),
            user: "u".into(),
            host: "h".into(),
            pid: 1,
            since: "2026-12-02T00:00:00Z".into(),
            lease_s: lease_ms / 1000,
            expires_ms: now + lease_ms,
            expires: "later".into(),
            group: None,
        }
    }

    #[test]
    fn a_held_lock_refuses_another_run_until_its_lease_ends_or_it_is_released() {
        let dir = std::env::temp_dir().join(format!("runbook-locks-{}", super::super::journal::new_run_id()));
        let folder = Folder::of_journal(&dir);
        assert_eq!(folder.try_take(&holder("a", 60_000)).unwrap(), None);
        // The holder itself takes it again; another run is told who holds it.
        assert_eq!(folder.try_take(&holder("a", 60_000)).unwrap(), None);
        assert_eq!(folder.try_take(&holder("b", 60_000)).unwrap().map(|h| h.run), Some("a".to_string()));
        // Renewal by a run that does not hold it is refused; release by it leaves the lock alone.
        let (acc, reg, name) = ("123456789012", "us-east-1", "runbooks/tutorial.rhai");
        assert!(!folder.renew(acc, reg, name, "b", Duration::from_secs(60)).unwrap());
        folder.release(acc, reg, name, "b").unwrap();
        assert_eq!(folder.list().unwrap().len(), 1);
        // Another place or another name is another lock.
        let mut elsewhere = holder("b", 60_000);
        elsewhere.region = "eu-west-1".into();
        assert_eq!(folder.try_take(&elsewhere).unwrap(), None);
        // An ended lease frees it.
        let mut ended = holder("c", 0);
        ended.lock = "other".into();
        assert_eq!(folder.try_take(&ended).unwrap(), None);
        assert_eq!(folder.try_take(&holder("d", 60_000)).unwrap().map(|h| h.run), Some("a".to_string()));
        let mut after = holder("d", 60_000);
        after.lock = "other".into();
        assert_eq!(folder.try_take(&after).unwrap(), None, "c's lease had ended");
        folder.release(acc, reg, name, "a").unwrap();
        assert_eq!(folder.try_take(&holder("d", 60_000)).unwrap(), None);
        // Keys that read alike once sanitized stay apart.
        assert_ne!(folder.file("1", "r", "a/b"), folder.file("1", "r", "a_b"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_run_renews_its_lease_and_gives_the_lock_back() {
        let dir = std::env::temp_dir().join(format!("runbook-locks-{}", super::super::journal::new_run_id()));
        let settings = Settings {
            folder: Folder::of_journal(&dir),
            name: "n".into(),
            lease: Duration::from_millis(300),
            wait: None,
            group: None,
            flags: String::new(),
        };
        let locks = Locks::new(settings.clone(), "run-1");
        let no_pause = |_: f64| Ok(());
        locks.ensure("1", "r", &no_pause, &|_| {}).unwrap();
        let first = settings.folder.list().unwrap()[0].1.expires_ms;
        // Renewed at each third of the lease: the file's expiry moves on.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while settings.folder.list().unwrap()[0].1.expires_ms == first {
            assert!(std::time::Instant::now() < deadline, "the lease was never renewed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let other = Locks::new(settings.clone(), "run-2");
        let e = other.ensure("1", "r", &no_pause, &|_| {}).unwrap_err();
        assert_eq!(e.code(), "LockHeld");
        assert!(e.to_string().contains("is held by run run-1 ("), "{e}");
        locks.release_all();
        assert!(settings.folder.list().unwrap().is_empty());
        other.ensure("1", "r", &no_pause, &|_| {}).unwrap();
        drop(other);
        assert!(settings.folder.list().unwrap().is_empty(), "dropping the run's locks gives them back");

        // Targets of one fleet share a place one of them holds; any other run is refused.
        let fleet = Settings { group: Some("fleet-1".into()), ..settings.clone() };
        let (holder, sibling) = (Locks::new(fleet.clone(), "run-3"), Locks::new(fleet, "run-4"));
        holder.ensure("1", "r", &no_pause, &|_| {}).unwrap();
        sibling.ensure("1", "r", &no_pause, &|_| {}).unwrap();
        let held = settings.folder.list().unwrap();
        assert_eq!((held.len(), held[0].1.run.as_str()), (1, "run-3"), "the sibling writes beside the holder");
        let outsider = Locks::new(Settings { group: Some("fleet-2".into()), ..settings.clone() }, "run-5");
        assert_eq!(outsider.ensure("1", "r", &no_pause, &|_| {}).unwrap_err().code(), "LockHeld");
        let plain = Locks::new(settings.clone(), "run-6");
        assert_eq!(plain.ensure("1", "r", &no_pause, &|_| {}).unwrap_err().code(), "LockHeld");
        // Once the holder is done, the sibling's next write there takes the lock itself.
        holder.release_all();
        sibling.ensure("1", "r", &no_pause, &|_| {}).unwrap();
        assert_eq!(settings.folder.list().unwrap()[0].1.run, "run-4");
        sibling.release_all();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
