//! botocore's service, paginator and waiter models, read from the installed botocore package.

use serde_json::Value;
use std::io::Read;
use std::path::Path;

pub struct Models {
    pub api_version: String,
    pub service: Value,
    pub paginators: Value,
    pub waiters: Value,
}

impl Models {
    /// Loads the newest API version under `data/<service>/`.
    pub fn load(dir: &Path) -> Result<Models, String> {
        let mut versions: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        versions.sort();
        let api_version = versions.pop().ok_or_else(|| format!("{}: no API version directory", dir.display()))?;
        let vdir = dir.join(&api_version);
        let service =
            read_json(&vdir, "service-2.json")?.ok_or_else(|| format!("{}: no service-2.json", vdir.display()))?;
        let paginators = read_json(&vdir, "paginators-1.json")?.unwrap_or(Value::Null);
        let waiters = read_json(&vdir, "waiters-2.json")?.unwrap_or(Value::Null);
        Ok(Models { api_version, service, paginators, waiters })
    }
}

/// Reads `name` or `name.gz`; `None` when neither exists.
fn read_json(dir: &Path, name: &str) -> Result<Option<Value>, String> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    let text = if plain.exists() {
        std::fs::read_to_string(&plain).map_err(|e| format!("{}: {e}", plain.display()))?
    } else if gz.exists() {
        let bytes = std::fs::read(&gz).map_err(|e| format!("{}: {e}", gz.display()))?;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| format!("{}: {e}", gz.display()))?;
        s
    } else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

/// The version string of the botocore package (`__version__` in its `__init__.py`).
pub fn botocore_version(pkg: &Path) -> Result<String, String> {
    let init = pkg.join("__init__.py");
    let text = std::fs::read_to_string(&init).map_err(|e| format!("{}: {e}", init.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .ok_or_else(|| format!("{}: no __version__", init.display()))
}
