//! Which `param()` reads a run can reach. A run executes the runbook's top level and the top level
//! of each module it imports (a module's top level runs when it is imported). A function runs only
//! when reached code calls it: `alias::name(...)` into the module imported `as alias`, and
//! `name(...)` or `value.name(...)` within one file. `Fn("name")` in reached code counts as a call
//! too. A read in a function nothing reaches is not one of the run's parameters: a `--set` for it
//! would do nothing.

use super::{blank_strings, files, imports_as, scan, without_comments, Read};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The reads of a runbook and its imports, split by whether a run can reach them.
#[derive(Debug, Default)]
pub struct Reach {
    pub reached: Vec<Read>,
    /// Reads in functions nothing on the run's path calls, with the function's name.
    pub unreached: Vec<(Read, String)>,
}

/// A function a file defines: its name and the text from `fn` to its closing brace.
struct Def {
    name: String,
    span: Range<usize>,
}

/// One file of the runbook: its code, functions, reads and the module each alias names.
struct Unit {
    /// The text without comments; strings kept, so that `Fn("name")` is seen.
    code: String,
    /// The same with strings blanked: what is left is code.
    bare: String,
    defs: Vec<Def>,
    reads: Vec<Read>,
    /// `import "x" as alias`: the file of `x`; `None` when the module is an expression.
    aliases: BTreeMap<String, Option<PathBuf>>,
}

impl Unit {
    fn read(root: &Path, path: &Path) -> Option<Unit> {
        let text = std::fs::read_to_string(path).ok()?;
        let code = without_comments(&text);
        let bare = blank_strings(&code);
        let defs = definitions(&bare);
        let mut reads = Vec::new();
        scan(&text, path, &mut reads);
        let aliases = imports_as(&text)
            .into_iter()
            .filter_map(|(module, alias)| Some((alias?, module.map(|m| root.join(format!("{m}.rhai"))))))
            .collect();
        Some(Unit { code, bare, defs, reads, aliases })
    }

    /// The function a text offset is in, or `None` for the top level.
    fn enclosing(&self, offset: usize) -> Option<&Def> {
        self.defs.iter().find(|d| d.span.contains(&offset))
    }

    /// The text ranges of the top level (outside every function) or of the function `name`.
    fn ranges(&self, name: Option<&str>) -> Vec<Range<usize>> {
        match name {
            Some(n) => self.defs.iter().filter(|d| d.name == n).map(|d| d.span.clone()).collect(),
            None => {
                let mut out = Vec::new();
                let mut from = 0;
                for d in &self.defs {
                    out.push(from..d.span.start);
                    from = d.span.end;
                }
                out.push(from..self.code.len());
                out
            }
        }
    }
}

/// The reads of `file` and its imports under `root`, split by whether a run reaches them.
pub fn reach(root: &Path, file: &Path) -> Reach {
    let paths = files(root, file);
    let units: Vec<(PathBuf, Unit)> =
        paths.iter().filter_map(|p| Unit::read(root, p).map(|u| (p.clone(), u))).collect();
    let index: BTreeMap<&Path, usize> = units.iter().enumerate().map(|(i, (p, _))| (p.as_path(), i)).collect();
    // Every file's top level runs: the runbook's, and each import's when it is imported.
    let mut queue: Vec<(usize, Option<String>)> = (0..units.len()).map(|i| (i, None)).collect();
    let mut seen: BTreeSet<(usize, Option<String>)> = queue.iter().cloned().collect();
    while let Some((i, name)) = queue.pop() {
        let unit = &units[i].1;
        for range in unit.ranges(name.as_deref()) {
            for (target, function) in calls(unit, range) {
                let targets: Vec<usize> = match target {
                    Target::Here => vec![i],
                    Target::File(p) => index.get(p.as_path()).copied().into_iter().collect(),
                    Target::Any => (0..units.len()).collect(),
                };
                for t in targets {
                    // `*`: a function pointer made from a computed name could be any of the file's.
                    let defs = units[t].1.defs.iter().filter(|d| function == "*" || d.name == function);
                    for name in defs.map(|d| d.name.clone()).collect::<BTreeSet<_>>() {
                        if seen.insert((t, Some(name.clone()))) {
                            queue.push((t, Some(name)));
                        }
                    }
                }
            }
        }
    }
    let mut out = Reach::default();
    for (i, (_, unit)) in units.iter().enumerate() {
        for r in &unit.reads {
            match unit.enclosing(r.offset) {
                Some(d) if !seen.contains(&(i, Some(d.name.clone()))) => {
                    out.unreached.push((r.clone(), d.name.clone()))
                }
                _ => out.reached.push(r.clone()),
            }
        }
    }
    out
}

/// Where a call's function is defined.
enum Target {
    Here,
    File(PathBuf),
    /// A module imported by expression: any file could be it.
    Any,
}

/// The functions the code in `range` calls: `alias::name(`, `name(` and `.name(` (a script
/// function called as a method), and names in strings (`Fn("name")`).
fn calls(unit: &Unit, range: Range<usize>) -> Vec<(Target, String)> {
    let (code, bare) = (&unit.code[range.clone()], &unit.bare[range]);
    let words = words(code);
    let mut out = Vec::new();
    for (k, &(start, end)) in words.iter().enumerate() {
        let word = &code[start..end];
        let in_string = bare[start..end] != *word;
        let after = &bare[end..];
        let qualified = start >= 2 && &code.as_bytes()[start - 2..start] == b"::";
        if after.starts_with("::") && !in_string {
            let Some(&(s, e)) = words.get(k + 1).filter(|(s, _)| *s == end + 2) else { continue };
            match unit.aliases.get(word) {
                Some(Some(path)) => out.push((Target::File(path.clone()), code[s..e].to_string())),
                Some(None) => out.push((Target::Any, code[s..e].to_string())),
                None => {}
            }
        } else if !qualified && (in_string || after.trim_start().starts_with('(')) {
            out.push((Target::Here, word.to_string()));
            let pointer = word == "Fn" && !in_string;
            if pointer && !after.trim_start()[1..].trim_start().starts_with('"') {
                out.push((Target::Here, "*".to_string()));
            }
        }
    }
    out
}

/// The identifiers of `text`, as byte ranges.
fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let part = c.is_ascii_alphanumeric() || c == '_';
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out.retain(|&(s, _)| !text[s..].starts_with(|c: char| c.is_ascii_digit()));
    out
}

/// The functions defined in `bare` (code with comments and strings blanked): `fn name(...) {...}`
/// at the top level, from the keyword to the closing brace.
fn definitions(bare: &str) -> Vec<Def> {
    let mut out = Vec::new();
    let bytes = bare.as_bytes();
    let mut depth = 0usize;
    let mut open: Option<(String, usize)> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some((name, start)) = open.take() {
                        out.push(Def { name, span: start..i + 1 });
                    }
                }
            }
            b'f' if depth == 0 && open.is_none() && keyword_at(bare, i) => {
                let rest = &bare[i + 2..];
                let name: String =
                    rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    open = Some((name, i));
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether the keyword `fn` starts at `i`, as a word followed by a space.
fn keyword_at(bare: &str, i: usize) -> bool {
    bare[i..].starts_with("fn")
        && !bare[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && bare[i + 2..].starts_with(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_functions_a_run_calls_count() {
        let dir = std::env::temp_dir().join(format!("runbook-reach-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write(
            "lib/s.rhai",
            "// fn commented() { param(\"c\", 0) }\nlet top = param(\"top\", 1);\n\
             fn size() { param(\"size\", 2) }\nfn step() { #{ size: size(), name: \"fn x() {\" } }\n\
             fn other() { param(\"other\", 3) }\nfn by_pointer() { param(\"pointed\", 4) }\n\
             fn pointer() { Fn(\"by_pointer\") }\nfn computed() { param(\"computed\", 7) }\n",
        );
        write(
            "main.rhai",
            "import \"lib/s\" as s;\nlet p = s::step();\nlet f = s::pointer();\n\
             fn unused() { param(\"unused\", 5) }\nfn helper() { param(\"helper\", 6) }\n\
             let r = #{}; r.helper();\nprint(\"other()\");\n",
        );
        let got = reach(&dir, &dir.join("main.rhai"));
        let names: Vec<&str> = got.reached.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["helper", "top", "size", "pointed"]);
        let unreached: Vec<(&str, &str)> = got.unreached.iter().map(|(r, f)| (r.name.as_str(), f.as_str())).collect();
        assert_eq!(unreached, [("unused", "unused"), ("other", "other"), ("computed", "computed")]);
        // An import by expression could be any file: a call through it reaches a function of any.
        write("main.rhai", "let m = \"lib/s\"; import m as s;\ns::other();\n");
        let got = reach(&dir, &dir.join("main.rhai"));
        assert!(got.reached.iter().any(|r| r.name == "other"), "{got:?}");
        assert!(!got.reached.iter().any(|r| r.name == "size"), "{got:?}");
        // A pointer made from a computed name could be any function of the file.
        write("main.rhai", "fn a() { param(\"a\", 1) }\nfn b() { param(\"b\", 2) }\nlet n = \"a\"; call(Fn(n));\n");
        let got = reach(&dir, &dir.join("main.rhai"));
        assert_eq!(got.reached.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
