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

/// The parameter names used as `param("name"...)` in the runbook and in the runbooks it imports,
/// followed from import to import as the module resolver finds them (`<root>/<name>.rhai`). Only
/// when an import names its module with an expression rather than a string does every runbook of
/// the folder count, since any of them could be the one imported.
pub fn declared(root: &Path, file: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut queue = vec![file.to_path_buf()];
    let mut seen = BTreeSet::new();
    let mut dynamic = false;
    while let Some(f) = queue.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        scan(&text, &mut names);
        for import in imports(&text) {
            match import {
                Some(module) => queue.push(root.join(format!("{module}.rhai"))),
                None => dynamic = true,
            }
        }
    }
    if dynamic {
        let mut files = Vec::new();
        collect_rhai(root, &mut files, 0);
        for f in files.iter().filter(|f| !seen.contains(*f)) {
            if let Ok(text) = std::fs::read_to_string(f) {
                scan(&text, &mut names);
            }
        }
    }
    names
}

/// The module of each `import` statement in `text`: `Some(name)` for a string literal, `None` for
/// an expression.
fn imports(text: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("import") {
        let start = from + i;
        from = start + "import".len();
        let before = text[..start].chars().next_back();
        let rest = &text[from..];
        let word =
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && rest.starts_with(|c: char| c.is_whitespace());
        if !word {
            continue;
        }
        let rest = rest.trim_start();
        let literal = rest.chars().next().filter(|q| *q == '"' || *q == '`').and_then(|q| {
            let body = &rest[1..];
            body.find(q).map(|end| &body[..end])
        });
        out.push(literal);
    }
    out
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

    #[test]
    fn parameters_come_from_the_runbook_and_what_it_imports() {
        let dir = std::env::temp_dir().join(format!("runbook-params-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write("main.rhai", "import \"step\"; // reimport(\"x\")\nlet a = param(\"a\", 1);");
        write("step.rhai", "import `lib/common` as c; let b = param(\"b\", 2);");
        write("lib/common.rhai", "let c = param(\"c\", 3); import \"step\";");
        write("other.rhai", "let d = param(\"d\", 4);");
        let names = declared(&dir, &dir.join("main.rhai"));
        assert_eq!(names.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        // An import by expression could load any runbook of the folder.
        write("main.rhai", "let m = \"step\"; import m as s; let a = param(\"a\", 1);");
        let names = declared(&dir, &dir.join("main.rhai"));
        assert_eq!(names.iter().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
