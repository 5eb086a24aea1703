//! `runbook.toml`: the defaults a team shares, found in the current folder or the nearest one
//! above it. Flags win over environment variables, which win over the file.
//!
//! ```toml
//! journal_dir = ".runbook/runs"   # relative to the file's folder
//! region = "eu-west-1"
//! profile = "ops"
//! journal_profile = "journals"    # the profile a journal store in S3 is reached with
//! lock_lease = 60                 # seconds
//! ```

use crate::args::{AwsArgs, JournalArgs, LockArgs};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const FILE: &str = "runbook.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    journal_dir: Option<PathBuf>,
    region: Option<String>,
    profile: Option<String>,
    journal_profile: Option<String>,
    lock_lease: Option<u32>,
    /// The folder the file is in.
    #[serde(skip)]
    root: PathBuf,
}

/// The nearest `runbook.toml` at or above `dir`.
fn find(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join(FILE)).find(|p| p.is_file())
}

fn set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

impl Project {
    /// The project file of the current folder, if there is one; an unreadable or wrong one is an
    /// error naming the file, the line and the key.
    pub fn load() -> Result<Project, String> {
        let Ok(cwd) = std::env::current_dir() else { return Ok(Project::default()) };
        let Some(path) = find(&cwd) else { return Ok(Project::default()) };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut project: Project = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(":{}", text[..s.start.min(text.len())].matches('\n').count() + 1))
                .unwrap_or_default();
            format!("{}{at}: {}", path.display(), e.message())
        })?;
        if project.lock_lease.is_some_and(|l| !(3..=3600).contains(&l)) {
            return Err(format!("{}: lock_lease must be 3 to 3600 seconds", path.display()));
        }
        if project.region.as_deref().is_some_and(str::is_empty) {
            return Err(format!("{}: region is empty", path.display()));
        }
        project.root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(project)
    }

    /// Fills in what the flags and the environment leave open.
    pub fn aws(&self, aws: &mut AwsArgs) {
        if aws.region.is_none() && !set("AWS_REGION") && !set("AWS_DEFAULT_REGION") {
            aws.region.clone_from(&self.region);
        }
        if aws.profile.is_none() && !set("AWS_PROFILE") {
            aws.profile.clone_from(&self.profile);
        }
    }

    pub fn journal(&self, journal: &mut JournalArgs) {
        if journal.journal_dir.is_none() && !set("RUNBOOK_JOURNAL_DIR") {
            // A store's address is taken as it is; a folder is relative to the file's.
            journal.journal_dir = self.journal_dir.as_ref().map(|d| match d.to_string_lossy().starts_with("s3://") {
                true => d.clone(),
                false => self.root.join(d),
            });
        }
        if journal.journal_profile.is_none() && !set("RUNBOOK_JOURNAL_PROFILE") {
            journal.journal_profile.clone_from(&self.journal_profile);
        }
    }

    pub fn lock(&self, lock: &mut LockArgs) {
        if lock.lock_lease.is_none() {
            lock.lock_lease = self.lock_lease;
        }
    }
}

/// Imports resolve inside the runbook's own folder.
pub fn runbook_root(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether a runbook file is a shell script or Markdown (run as a script of aws commands) rather
/// than Rhai.
pub fn is_script(file: &Path) -> bool {
    matches!(file.extension().and_then(|e| e.to_str()), Some("sh" | "bash" | "md" | "markdown"))
}
