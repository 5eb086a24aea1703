//! The regions the pinned SDK knows, read from the partition data its endpoint resolver embeds
//! (`src/endpoint_lib.rs` of any service crate holds it as a JSON byte string), so that a region
//! name can be checked before anything is sent.

use std::path::Path;

/// `regions.rs`: every region of every partition, with its partition and description. The
/// partitions' `*-global` pseudo-regions are left out: no call is made there.
pub fn generate(crate_dir: &Path, krate: &str, version: &str) -> Result<String, String> {
    let path = crate_dir.join("src").join("endpoint_lib.rs");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let open = "new_from_json(b\"";
    let start = text.find(open).ok_or_else(|| format!("{}: no partition data found", path.display()))? + open.len();
    let length =
        text[start..].find("\")").ok_or_else(|| format!("{}: the partition data does not end", path.display()))?;
    let json = unescape(&text[start..start + length]);
    let data: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("{}: the partition data: {e}", path.display()))?;
    let mut rows = Vec::new();
    for partition in data["partitions"].as_array().into_iter().flatten() {
        let id = partition["id"].as_str().unwrap_or_default();
        for (name, region) in partition["regions"].as_object().into_iter().flatten() {
            if name.ends_with("-global") {
                continue;
            }
            let description = region["description"].as_str().unwrap_or_default();
            rows.push(format!("    ({id:?}, {name:?}, {description:?}),\n"));
        }
    }
    if rows.is_empty() {
        return Err(format!("{}: the partition data lists no region", path.display()));
    }
    Ok(format!(
        "// Written by runbook-codegen from the partition data of {krate} {version}; never edited by hand.\n\n\
         /// (partition, region, description) of every region the SDK's endpoint resolver knows.\n\
         pub const REGIONS: &[(&str, &str, &str)] = &[\n{}];\n",
        rows.concat()
    ))
}

/// A Rust byte string's text as the bytes it stands for: `\"` and `\\` are the escapes it uses.
fn unescape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(match next {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            }
        } else {
            out.push(c);
        }
    }
    out
}
