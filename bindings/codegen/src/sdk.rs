//! What the pinned aws-sdk-rust crate actually contains, read from its source.
//!
//! The botocore model says what the API has; the SDK crate may be older or newer. The generator only
//! emits names it has seen here, so the generated code always compiles against the pinned crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A struct or enum declared in the SDK crate.
#[derive(Debug, Default)]
pub struct SdkType {
    /// `pub` fields of a struct, or variant names of an enum.
    pub fields: BTreeSet<String>,
    pub is_enum: bool,
    /// `build()` returns a `Result` (the structure has required members).
    pub fallible: bool,
}

#[derive(Debug, Default)]
pub struct SdkCrate {
    /// Types under `crate::types`, by Rust name.
    pub types: BTreeMap<String, SdkType>,
    /// Operation module name → (input fields, output fields).
    pub operations: BTreeMap<String, (SdkType, SdkType)>,
}

impl SdkCrate {
    pub fn read(src: &Path) -> Result<SdkCrate, String> {
        let mut krate = SdkCrate::default();
        let types_dir = src.join("types");
        for entry in read_dir(&types_dir)? {
            if entry.extension().is_some_and(|e| e == "rs") {
                let text = read(&entry)?;
                for (name, ty) in parse_types(&text) {
                    krate.types.insert(name, ty);
                }
            }
        }
        let ops_dir = src.join("operation");
        for entry in read_dir(&ops_dir)? {
            if !entry.is_dir() {
                continue;
            }
            let Some(op) = entry.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            let input = parse_first(&read(&entry.join(format!("_{op}_input.rs")))?);
            let output = parse_first(&read(&entry.join(format!("_{op}_output.rs")))?);
            krate.operations.insert(op, (input, output));
        }
        Ok(krate)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in rd {
        out.push(entry.map_err(|e| format!("{}: {e}", dir.display()))?.path());
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_first(text: &str) -> SdkType {
    parse_types(text).into_iter().next().map(|(_, t)| t).unwrap_or_default()
}

/// Reads the top-level `pub struct X {` / `pub enum X {` items of a generated SDK file, their fields or
/// variants, and whether the builder of X is fallible.
fn parse_types(text: &str) -> Vec<(String, SdkType)> {
    let mut out: Vec<(String, SdkType)> = Vec::new();
    let mut current: Option<(String, SdkType)> = None;
    for line in text.lines() {
        if let Some((_, ty)) = current.as_mut() {
            if line == "}" {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                continue;
            }
            if ty.is_enum {
                // `    Variant(Type),`
                let l = line.trim_start();
                if line.starts_with("    ") && !line.starts_with("     ") {
                    if let Some(p) = l.find('(') {
                        let name = &l[..p];
                        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()) {
                            ty.fields.insert(name.to_string());
                        }
                    }
                }
            } else if let Some(rest) = line.strip_prefix("    pub ") {
                if let Some(p) = rest.find(':') {
                    ty.fields.insert(rest[..p].to_string());
                }
            }
            continue;
        }
        for (prefix, is_enum) in [("pub struct ", false), ("pub enum ", true)] {
            if let Some(rest) = line.strip_prefix(prefix) {
                if let Some(name) = rest.strip_suffix(" {") {
                    if !name.ends_with("Builder") {
                        current = Some((name.to_string(), SdkType { is_enum, ..SdkType::default() }));
                    }
                }
            }
        }
    }
    // `pub fn build(self) -> Result<..>`, possibly wrapped over several lines by rustfmt.
    let fallible = text.split("pub fn build(").skip(1).any(|rest| {
        let signature = rest.split('{').next().unwrap_or("");
        signature.contains("Result<")
    });
    for (_, ty) in out.iter_mut() {
        ty.fallible = fallible;
    }
    out
}

/// The SDK's snake_case for a model name: split at lower→Upper and at ACRONYMWord boundaries, and
/// between letters and digits the way smithy-rs does, then lowercase.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '_' || c == '.' || c == ' ' {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            continue;
        }
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if (prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Letters and digits only, lowercased: the key used to pair a model name with an SDK name when the
/// mechanical mapping and the SDK disagree on word boundaries (`IPv6Address`, `S3Key`).
pub fn loose(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// Finds the SDK field for a model member name.
pub fn field_for(member: &str, fields: &BTreeSet<String>) -> Option<String> {
    let s = snake(member);
    for candidate in [s.clone(), format!("r#{s}")] {
        if fields.contains(&candidate) {
            return Some(candidate);
        }
    }
    let key = loose(member);
    let mut found =
        fields.iter().filter(|f| loose(f.trim_start_matches("r#")) == key || loose(f) == format!("{key}value"));
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(first.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_follows_the_sdk() {
        assert_eq!(snake("HealthCheckIntervalSeconds"), "health_check_interval_seconds");
        assert_eq!(snake("VpcId"), "vpc_id");
        assert_eq!(snake("DNSName"), "dns_name");
        assert_eq!(snake("desiredCount"), "desired_count");
        assert_eq!(snake("CreateTargetGroup"), "create_target_group");
        assert_eq!(snake("AWSServiceName"), "aws_service_name");
    }

    #[test]
    fn fields_pair_loosely_when_boundaries_differ() {
        let fields: BTreeSet<String> = ["ipv6_address", "r#type", "s3_key"].map(String::from).into();
        assert_eq!(field_for("Ipv6Address", &fields).as_deref(), Some("ipv6_address"));
        assert_eq!(field_for("IPv6Address", &fields).as_deref(), Some("ipv6_address"));
        assert_eq!(field_for("Type", &fields).as_deref(), Some("r#type"));
        assert_eq!(field_for("S3Key", &fields).as_deref(), Some("s3_key"));
        assert_eq!(field_for("Missing", &fields), None);
    }

    #[test]
    fn parses_structs_enums_and_fallibility() {
        let text = "pub struct Tag {\n    pub key: ::std::option::Option<String>,\n    pub r#type: i32,\n}\npub struct TagBuilder {\n    pub(crate) key: X,\n}\nimpl TagBuilder {\n    pub fn build(self) -> ::std::result::Result<Tag, E> {}\n}\npub enum U {\n    /// doc\n    PolicyArn(::std::string::String),\n    #[non_exhaustive]\n    Unknown,\n}\n";
        let types = parse_types(text);
        assert_eq!(types.len(), 2);
        assert_eq!(types[0].0, "Tag");
        assert!(types[0].1.fields.contains("r#type"));
        assert!(types[0].1.fallible);
        assert!(types[1].1.is_enum);
        assert_eq!(types[1].1.fields.iter().collect::<Vec<_>>(), ["PolicyArn"]);
    }
}
