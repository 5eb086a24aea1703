//! The layers, as the code has them: each crate depends only on the crates below it (host →
//! run layer → binding layer → generated operations), and inside each the files import each
//! other without a circle, so that every file has a place in an order where it imports only files
//! below it. Read from the sources, without building anything.

use runbook_tests::root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crates, lowest first: (folder, package name).
const CRATES: [(&str, &str); 4] = [
    ("bindings/generated", "runbook-ops"),
    ("bindings", "runbook-bindings"),
    ("bindings/run", "runbook-run"),
    ("host", "runbook"),
];

/// The folders of files checked for circles: each crate's, and their sub-modules'.
const FOLDERS: [&str; 7] = [
    "bindings/generated/src",
    "bindings/src",
    "bindings/run/src",
    "bindings/run/src/kinds",
    "host/src",
    "host/src/fleet",
    "host/src/params",
];

#[test]
fn each_crate_depends_only_on_the_crates_below_it() {
    for (i, (folder, name)) in CRATES.iter().enumerate() {
        let manifest = std::fs::read_to_string(root().join(folder).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
        for (upper, upper_name) in &CRATES[i..] {
            let named = deps.lines().any(|l| l.trim_start().starts_with(&format!("{upper_name} ")));
            assert!(!named, "{name} ({folder}) depends on {upper_name} ({upper}), which is not below it");
        }
    }
}

/// What each top-level file of `folder` imports of its siblings: `crate::x`, `super::x` and
/// `use crate::{x, …}`, outside comments and the file's tests.
fn imports(folder: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: BTreeMap<String, String> = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".rs")?.to_string();
            Some((name, std::fs::read_to_string(&path).ok()?))
        })
        .collect();
    let mut graph = BTreeMap::new();
    for (name, text) in &files {
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut uses = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            for prefix in ["crate::", "super::"] {
                for part in line.split(prefix).skip(1) {
                    let names: Vec<&str> = match part.strip_prefix('{') {
                        Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                        None => vec![part],
                    };
                    for n in names {
                        let word: String =
                            n.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                        if word != *name && files.contains_key(&word) {
                            uses.insert(word);
                        }
                    }
                }
            }
        }
        graph.insert(name.clone(), uses);
    }
    graph
}

/// A circle in `graph`, as the files along it, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            let mut found = path[i..].to_vec();
            found.push(at.to_string());
            return Some(found);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_string());
        for next in graph.get(at).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|k| visit(k, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_files_of_each_layer_import_each_other_without_a_circle() {
    for folder in FOLDERS {
        let graph = imports(&root().join(folder));
        assert!(graph.len() > 2, "{folder}: {graph:?}");
        if let Some(c) = circle(&graph) {
            panic!("{folder}: a lower file imports an upper one: {}", c.join(" → "));
        }
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [("call", "runtime"), ("runtime", "hooks"), ("hooks", "call"), ("svc", "model")] {
        graph.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(circle(&graph).unwrap(), ["call", "runtime", "hooks", "call"]);
    graph.get_mut("hooks").unwrap().clear();
    assert_eq!(circle(&graph), None);
}
