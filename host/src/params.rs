//! `--set name=value`: parsed, and checked against the parameters the runbook reads, so that a
//! misspelt name is an error before anything runs rather than a silently ignored value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for s in sets {
        let Some((name, value)) = s.split_once('=') else {
            return Err(format!("malformed --set {s:?}: expected NAME=VALUE"));
        };
        let name = name.trim();
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!("malformed --set {s:?}: the name must be letters, digits and _"));
        }
        if out.insert(name.to_string(), value.to_string()).is_some() {
            return Err(format!("--set {name} is given twice"));
        }
    }
    Ok(out)
}

/// The parameter names used as `param("name"...)` in the runbook and in every runbook of its folder
/// (imports can read parameters too).
pub fn declared(root: &Path, file: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut files = vec![file.to_path_buf()];
    collect_rhai(root, &mut files, 0);
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            scan(&text, &mut names);
        }
    }
    names
}

fn collect_rhai(dir: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) {
    if depth > 4 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rhai(&p, out, depth + 1);
        } else if p.extension().is_some_and(|x| x == "rhai") {
            out.push(p);
        }
    }
}

fn scan(text: &str, names: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(i) = rest.find("param(") {
        rest = &rest[i + "param(".len()..];
        let t = rest.trim_start();
        if let Some(q) = t.strip_prefix('"') {
            if let Some(end) = q.find('"') {
                names.insert(q[..end].to_string());
            }
        }
    }
}

/// Every `--set` name must be a parameter the runbook reads.
pub fn check(given: &BTreeMap<String, String>, declared: &BTreeSet<String>) -> Result<(), String> {
    for name in given.keys() {
        if !declared.contains(name) {
            let close = runbook_bindings::validate::closest(name, declared.iter().map(String::as_str));
            let hint =
                if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(" or ")) };
            let known: Vec<&str> = declared.iter().map(String::as_str).collect();
            let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(format!("unknown parameter --set {name}{hint}; this runbook's parameters: {list}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_parsed_and_checked() {
        assert_eq!(parse_sets(&["a=1".into(), "b=x=y".into()]).unwrap()["b"], "x=y");
        assert!(parse_sets(&["novalue".into()]).unwrap_err().contains("expected NAME=VALUE"));
        assert!(parse_sets(&["a b=1".into()]).unwrap_err().contains("letters, digits"));
        let mut names = BTreeSet::new();
        scan(r#"let n = param("tg_name", "x"); let p = param( "port", 80);"#, &mut names);
        assert_eq!(names.iter().collect::<Vec<_>>(), ["port", "tg_name"]);
        let given = parse_sets(&["tg_nam=y".into()]).unwrap();
        let e = check(&given, &names).unwrap_err();
        assert!(e.contains("did you mean tg_name?"), "{e}");
    }
}
