//! A journal store in S3 (`--journal-dir s3://BUCKET/PREFIX`), kept beside a local cache folder.
//!
//! The cache folder is an ordinary journal folder, and everything that reads journals reads it; the
//! store makes it shared:
//! - every record a journal appends is also an object `PREFIX/runs/<run-id>/<n>.json`, created with
//!   `If-None-Match: *` (nothing is ever overwritten) before `append` returns, so an intent is in
//!   S3 before its request leaves;
//! - [`S3Store::pull`] brings into the cache the records other machines wrote;
//! - locks are objects `PREFIX/locks/<name>.json`, created with `If-None-Match: *` and renewed or
//!   removed with `If-Match` of the ETag read ([`crate::locks`]).
//!
//! The store is registered for its cache folder ([`register`]); `Journal::create` and the lock
//! folder of that folder find it there. When S3 fails in the middle of a run, the run goes on with
//! the cache alone and says so once, and its end record marks it (`store_failed`).

use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// `s3://BUCKET/PREFIX`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub bucket: String,
    pub prefix: String,
}

impl Spec {
    /// `None` for a local folder; an error for an `s3://` address that is not one.
    pub fn parse(text: &str) -> Result<Option<Spec>, String> {
        let Some(rest) = text.strip_prefix("s3://") else { return Ok(None) };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = (3..=63).contains(&bucket.len())
            && bucket.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "journal store {text}: {bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            ));
        }
        Ok(Some(Spec { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() }))
    }

    pub fn text(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The local cache of this store: under `RUNBOOK_CACHE_DIR`, `XDG_CACHE_HOME/runbook` or
    /// `~/.cache/runbook`, then `journals/BUCKET/PREFIX`.
    pub fn cache_dir(&self) -> PathBuf {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let base = env("RUNBOOK_CACHE_DIR")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("runbook")))
            .or_else(|| env("HOME").map(|d| d.join(".cache/runbook")))
            .unwrap_or_else(|| PathBuf::from(".runbook/cache"));
        let mut dir = base.join("journals").join(&self.bucket);
        for part in self.prefix.split('/').filter(|p| !p.is_empty() && *p != "." && *p != "..") {
            dir = dir.join(part);
        }
        dir
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_string()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

/// The answer to a conditional write.
#[derive(Debug, PartialEq)]
pub enum Put {
    /// Written; the object's new ETag.
    Done(String),
    /// The condition failed (412 PreconditionFailed, or 409 while another write of it is under way).
    Refused,
}

/// A record on its way to the store: its number and the put.
type Pending = (u64, tokio::task::JoinHandle<Result<Put, String>>);

pub struct S3Store {
    pub spec: Spec,
    client: aws_sdk_s3::Client,
    rt: tokio::runtime::Runtime,
    /// The first failure of an append, after which the run's records stay in the cache.
    failed: Mutex<Option<String>>,
    /// Records on their way to the store that nothing waits for yet: (record number, the put).
    pending: Mutex<Vec<Pending>>,
}

fn message(e: &(impl std::error::Error + 'static)) -> String {
    runbook_bindings::error::causes(e)
}

impl S3Store {
    /// A client for the store: the given profile, region and endpoint, else the environment's. A
    /// profile's credentials win over the environment's keys; with `profile_only`, its region does
    /// too (a journal profile: the store's account is not the run's).
    pub fn connect(
        spec: Spec,
        profile: Option<&str>,
        region: Option<&str>,
        endpoint: Option<&str>,
        profile_only: bool,
    ) -> Result<S3Store, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runbook-store")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the journal store's runtime: {e}"))?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let (Some(p), true) = (profile, profile_only) {
            loader = loader.region(aws_config::profile::ProfileFileRegionProvider::builder().profile_name(p).build());
        }
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        if let Some(u) = endpoint {
            loader = loader.endpoint_url(u);
        }
        // A profile named for the store or the command signs with its own credentials, whatever the
        // environment holds.
        let config = rt.block_on(runbook_bindings::credentials::load(loader, profile));
        let mut builder = aws_sdk_s3::config::Builder::from(&config);
        if config.region().is_none() {
            // A bucket's own region answers wherever the request is signed for; us-east-1 is S3's default.
            builder = builder.region(aws_config::Region::new("us-east-1"));
        }
        // A local endpoint (an emulator) takes the bucket in the path, not in the host name.
        if config.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        Ok(S3Store {
            spec,
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            rt,
            failed: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Runs `fut` on the store's runtime from any thread, inside another runtime or not.
    fn block<T: Send + 'static>(&self, fut: impl std::future::Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv() {
            Ok(v) => v,
            // The runtime dropped the task: only when it is shutting down, which the store outlives.
            Err(_) => std::process::abort(),
        }
    }

    /// Whether the bucket answers: a store that cannot be reached is said at once, not at the
    /// first write. A list below the prefix needs no more than the store's own permissions.
    pub fn check(&self) -> Result<(), String> {
        let req = self.client.list_objects_v2().bucket(&self.spec.bucket).prefix(self.spec.key("")).max_keys(1);
        self.block(async move { req.send().await })
            .map(|_| ())
            .map_err(|e| format!("journal store {}: the bucket does not answer: {}", self.spec.text(), message(&e)))
    }

    /// Creates `key` (under the prefix) unless it exists.
    pub fn put_new(&self, key: &str, body: Vec<u8>) -> Result<Put, String> {
        self.put(key, body, None)
    }

    /// Replaces `key` if its ETag is still `etag`.
    pub fn put_if_match(&self, key: &str, body: Vec<u8>, etag: &str) -> Result<Put, String> {
        self.put(key, body, Some(etag))
    }

    fn put(&self, key: &str, body: Vec<u8>, etag: Option<&str>) -> Result<Put, String> {
        self.block(self.put_request(key, body, etag))
    }

    /// The conditional put of `key`, to be run on the store's runtime.
    fn put_request(
        &self,
        key: &str,
        body: Vec<u8>,
        etag: Option<&str>,
    ) -> impl std::future::Future<Output = Result<Put, String>> + Send + 'static {
        let (bucket, full) = (self.spec.bucket.clone(), self.spec.key(key));
        let mut req = self.client.put_object().bucket(&bucket).key(&full).body(ByteStream::from(body));
        // A replacement of an object that is gone is refused as one that changed.
        let gone = if etag.is_some() { Some(404) } else { None };
        req = match etag {
            Some(e) => req.if_match(e),
            None => req.if_none_match("*"),
        };
        async move {
            match req.send().await {
                Ok(o) => Ok(Put::Done(o.e_tag().unwrap_or_default().to_string())),
                Err(e) if matches!(status(&e), Some(412 | 409)) || (gone.is_some() && status(&e) == gone) => {
                    Ok(Put::Refused)
                }
                Err(e) => Err(format!("cannot write s3://{bucket}/{full}: {}", message(&e))),
            }
        }
    }

    /// The object and its ETag, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, String> {
        let full = self.spec.key(key);
        let req = self.client.get_object().bucket(&self.spec.bucket).key(&full);
        let out = self.block(async move {
            match req.send().await {
                Ok(o) => {
                    let etag = o.e_tag().unwrap_or_default().to_string();
                    o.body.collect().await.map(|b| Some((b.into_bytes().to_vec(), etag))).map_err(|e| e.to_string())
                }
                Err(e) if status(&e) == Some(404) => Ok(None),
                Err(e) => Err(message(&e)),
            }
        });
        out.map_err(|e| format!("cannot read s3://{}/{full}: {e}", self.spec.bucket))
    }

    /// Removes `key` if its ETag is still `etag`; false when it changed or is gone.
    pub fn delete_if_match(&self, key: &str, etag: &str) -> Result<bool, String> {
        let full = self.spec.key(key);
        let req = self.client.delete_object().bucket(&self.spec.bucket).key(&full).if_match(etag);
        match self.block(async move { req.send().await }) {
            Ok(_) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 404 | 409)) => Ok(false),
            Err(e) => Err(format!("cannot remove s3://{}/{full}: {}", self.spec.bucket, message(&e))),
        }
    }

    /// The keys under `under` (below the prefix), without the prefix.
    pub fn list(&self, under: &str) -> Result<Vec<String>, String> {
        let full = self.spec.key(under);
        let strip = self.spec.key("");
        let req = self.client.list_objects_v2().bucket(&self.spec.bucket).prefix(&full).into_paginator().send();
        let pages = self.block(async move { req.collect::<Vec<_>>().await });
        let mut keys = Vec::new();
        for page in pages {
            let page = page.map_err(|e| format!("cannot list s3://{}/{full}: {}", self.spec.bucket, message(&e)))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    keys.push(k.strip_prefix(&strip).unwrap_or(k).to_string());
                }
            }
        }
        Ok(keys)
    }

    /// Appends record `n` (from 0) of `run`; after a failure, says so once and keeps to the cache.
    /// With `sync` (an intent: its request waits for it), returns once this record is in the
    /// store, and whether it is. Without, the record is sent while the run goes on, and the run's
    /// end waits for it ([`S3Store::flush`]): a run killed before then has every intent in the
    /// store, and undo settles a write whose outcome is missing by looking.
    pub fn append(&self, run: &str, n: u64, line: &str, cache: &Path, sync: bool) -> bool {
        if self.failed.lock().map(|f| f.is_some()).unwrap_or(true) {
            return false;
        }
        let key = format!("runs/{run}/{n:08}.json");
        let put = self.put_request(&key, line.as_bytes().to_vec(), None);
        if !sync {
            let handle = self.rt.spawn(put);
            if let Ok(mut p) = self.pending.lock() {
                p.push((n, handle));
            }
            return true;
        }
        let result = self.block(put);
        self.settle(n, &key, result, cache)
    }

    /// Waits for the records on their way; false (said once) when one did not arrive.
    pub fn flush(&self, cache: &Path) -> bool {
        let pending: Vec<Pending> = self.pending.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
        let mut ok = true;
        for (n, handle) in pending {
            let result = self.block(handle).unwrap_or_else(|e| Err(format!("the write of record {n} was lost: {e}")));
            ok &= self.settle(n, &format!("record {n}"), result, cache);
        }
        ok
    }

    fn settle(&self, n: u64, key: &str, result: Result<Put, String>, cache: &Path) -> bool {
        let result = match result {
            Ok(Put::Done(_)) => return true,
            Ok(Put::Refused) => format!("s3://{}/{} exists already", self.spec.bucket, self.spec.key(key)),
            Err(e) => e,
        };
        let first = self
            .failed
            .lock()
            .map(|mut f| {
                let first = f.is_none();
                f.get_or_insert(result.clone());
                first
            })
            .unwrap_or(false);
        if first {
            eoutln!(
                "warning: journal store {}: {result}; this run's records from {n} on are kept only in {}",
                self.spec.text(),
                cache.display()
            );
        }
        false
    }

    /// Why appends stopped reaching the store, if they did.
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }

    /// Brings into `cache` every record of the store it does not hold yet; returns how many.
    pub fn pull(&self, cache: &Path) -> Result<usize, String> {
        use std::io::Write;
        std::fs::create_dir_all(cache).map_err(|e| format!("cannot create the cache {}: {e}", cache.display()))?;
        let mut by_run: std::collections::BTreeMap<String, Vec<(u64, String)>> = Default::default();
        for key in self.list("runs/")? {
            let mut parts = key.trim_start_matches("runs/").splitn(2, '/');
            let (Some(run), Some(file)) = (parts.next(), parts.next()) else { continue };
            let Some(n) = file.strip_suffix(".json").and_then(|n| n.parse::<u64>().ok()) else { continue };
            by_run.entry(run.to_string()).or_default().push((n, key.clone()));
        }
        let mut fetched = 0;
        for (run, mut records) in by_run {
            if !run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                continue;
            }
            records.sort();
            let path = cache.join(format!("{run}.jsonl"));
            let have = std::fs::read_to_string(&path).map(|t| t.lines().count() as u64).unwrap_or(0);
            // Records in order, up to the first not there yet (a run's outcomes arrive while it
            // goes on): the cache never holds one out of its place.
            let missing: Vec<&(u64, String)> = records
                .iter()
                .filter(|(n, _)| *n >= have)
                .enumerate()
                .take_while(|(i, (n, _))| *n == have + *i as u64)
                .map(|(_, r)| r)
                .collect();
            if missing.is_empty() {
                continue;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot write the cache {}: {e}", path.display()))?;
            for (_, key) in missing {
                let Some((body, _)) = self.get(key)? else { continue };
                let mut line = String::from_utf8_lossy(&body).trim_end().to_string();
                line.push('\n');
                file.write_all(line.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                fetched += 1;
            }
        }
        Ok(fetched)
    }
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// The store registered for a cache folder, if any.
type Registered = Mutex<Vec<(PathBuf, Arc<S3Store>)>>;

fn registry() -> &'static Registered {
    static STORES: OnceLock<Registered> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(Vec::new()))
}

/// Makes `store` the store of its cache folder: journals created there and its locks use it.
pub fn register(store: Arc<S3Store>) -> PathBuf {
    let dir = store.spec.cache_dir();
    if let Ok(mut r) = registry().lock() {
        r.retain(|(d, _)| d != &dir);
        r.push((dir.clone(), store));
    }
    dir
}

/// The store of the journal folder `dir`, if it is a store's cache.
pub fn of(dir: &Path) -> Option<Arc<S3Store>> {
    registry().lock().ok()?.iter().find(|(d, _)| d == dir).map(|(_, s)| s.clone())
}

/// Where a journal folder's records are, for people: the store (`s3://BUCKET/PREFIX`) when the
/// folder is a store's local cache, else the folder.
pub fn place(dir: &Path) -> String {
    match of(dir) {
        Some(store) => store.spec.text(),
        None => dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_stores_are_parsed_and_wrong_ones_named() {
        assert_eq!(Spec::parse(".runbook/runs").unwrap(), None);
        let s = Spec::parse("s3://team-journals/prod/runs/").unwrap().unwrap();
        assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("team-journals", "prod/runs"));
        assert_eq!(s.key("runs/x/00000000.json"), "prod/runs/runs/x/00000000.json");
        assert_eq!(s.text(), "s3://team-journals/prod/runs");
        let bare = Spec::parse("s3://team-journals").unwrap().unwrap();
        assert_eq!(bare.key("locks/a.json"), "locks/a.json");
        let e = Spec::parse("s3://Team_Journals/x").unwrap_err();
        assert!(e.contains("\"Team_Journals\" is not an S3 bucket name"), "{e}");
        assert!(Spec::parse("s3://").is_err());
        // A prefix cannot climb out of the cache.
        let odd = Spec::parse("s3://abc/../../etc").unwrap().unwrap();
        assert!(odd.cache_dir().ends_with("journals/abc/etc"), "{:?}", odd.cache_dir());
    }
}
