//! `--set name=value`: parsed, and checked against the parameters the runbook reads, so that a
//! misspelt name is an error before anything runs rather than a silently ignored value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub mod allowed;
mod reach;

pub use reach::reach;

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

/// One `param("name", default, allowed)` read: where, and the source text of the default (`None`
/// when the parameter is required) and of the allowed values (`None` when any value goes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub name: String,
    pub default: Option<String>,
    pub allowed: Option<String>,
    pub file: PathBuf,
    pub line: usize,
    /// Where the read is in the file's text without its comments.
    pub offset: usize,
}

/// The parameter names a run of the runbook can read (see [`reads`]).
#[cfg(test)]
pub fn declared(root: &Path, file: &Path) -> BTreeSet<String> {
    reads(root, file).into_iter().map(|r| r.name).collect()
}

/// The `param(...)` reads a run of the runbook can reach, in its own code and in the runbooks it
/// imports (see [`reach`]), the runbook's own first.
pub fn reads(root: &Path, file: &Path) -> Vec<Read> {
    reach::reach(root, file).reached
}

/// Every `param(...)` read in the runbook and the runbooks it imports, whether a run reaches it or
/// not: what `runbook check` compares, as it checks functions nothing calls.
/// The runbook's text is `own` (as `check` read it, or an editor's buffer not yet saved): its
/// imports are those of `own`, the modules' as saved.
pub fn all_reads_with(root: &Path, file: &Path, own: &str) -> Vec<Read> {
    let mut found = Vec::new();
    for f in files_with(root, file, Some(own)) {
        let text = if f == file { Some(own.to_string()) } else { std::fs::read_to_string(&f).ok() };
        if let Some(text) = text {
            scan(&text, &f, &mut found);
        }
    }
    found
}

/// The runbook and the runbooks it imports, followed from import to import as the module resolver
/// finds them (`<root>/<name>.rhai`), the runbook first. Only when an import names its module with
/// an expression rather than a string does every runbook of the folder count, since any of them
/// could be the one imported.
pub fn files(root: &Path, file: &Path) -> Vec<std::path::PathBuf> {
    files_with(root, file, None)
}

/// [`files`], the runbook's own text being `own` when given.
fn files_with(root: &Path, file: &Path, own: Option<&str>) -> Vec<std::path::PathBuf> {
    let mut order = Vec::new();
    let mut queue = std::collections::VecDeque::from([file.to_path_buf()]);
    let mut seen = BTreeSet::new();
    let mut dynamic = false;
    while let Some(f) = queue.pop_front() {
        if !seen.insert(f.clone()) {
            continue;
        }
        let text = match own.filter(|_| f == file) {
            Some(text) => text.to_string(),
            None => match std::fs::read_to_string(&f) {
                Ok(text) => text,
                Err(_) => continue,
            },
        };
        order.push(f);
        for import in imports(&text) {
            match import {
                Some(module) => queue.push_back(root.join(format!("{module}.rhai"))),
                None => dynamic = true,
            }
        }
    }
    if dynamic {
        let mut all = Vec::new();
        collect_rhai(root, &mut all, 0);
        all.sort();
        order.extend(all.into_iter().filter(|f| !seen.contains(f)));
    }
    order
}

/// The module of each `import` statement in `text`: `Some(name)` for a string literal, `None` for
/// an expression.
pub fn imports(text: &str) -> Vec<Option<String>> {
    imports_as(text).into_iter().map(|(module, _)| module).collect()
}

/// Each `import` statement in `text`: its module, as [`imports`] gives it, and the name after
/// `as`, when there is one.
pub fn imports_as(text: &str) -> Vec<(Option<String>, Option<String>)> {
    // The word in comments and strings is no import: only code counts.
    let code = without_comments(text);
    let bare = blank_strings(&code);
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = bare[from..].find("import") {
        let start = from + i;
        from = start + "import".len();
        let before = bare[..start].chars().next_back();
        let rest = &code[from..];
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
        // The statement's code up to its `;`, strings blanked, holds ` as name` when it has one.
        let statement = &bare[from..];
        let statement = &statement[..statement.find(';').unwrap_or(statement.len())];
        let alias = statement
            .split_whitespace()
            .skip_while(|w| *w != "as")
            .nth(1)
            .map(|w| w.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>());
        out.push((literal.map(str::to_string), alias.filter(|a| !a.is_empty())));
    }
    out
}

/// The text with the contents of its string literals blanked (their quotes kept), byte for byte,
/// so that offsets in it are offsets in the text: what is left is code.
pub fn blank_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    let mut quote: Option<char> = None;
    let blank = |out: &mut String, c: char| {
        if c == '\n' {
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    };
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                out.push(c);
            }
            Some(_) => {
                blank(&mut out, c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        blank(&mut out, n);
                    }
                }
            }
            None => {
                if c == '"' || c == '`' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The runbook files `paths` name: each folder's `.rhai` files (sorted), with the folder they were
/// found in; each file as given. `Err` names a path that is neither.
pub fn rhai_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Option<PathBuf>)>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect_rhai(p, &mut found, 0);
            found.sort();
            files.extend(found.into_iter().map(|f| (f, Some(p.clone()))));
        } else if p.is_file() {
            files.push((p.clone(), None));
        } else {
            return Err(format!("cannot read {}: no such file or folder", p.display()));
        }
    }
    Ok(files)
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

/// The `param("name")`, `param("name", default)` and `param("name", default, allowed)` calls in a
/// runbook's text, outside comments.
fn scan(text: &str, file: &Path, found: &mut Vec<Read>) {
    let code = without_comments(text);
    for (at, rest) in param_calls(&code) {
        let Some((name, after)) = literal_name(rest) else { continue };
        let args = after.strip_prefix(',').and_then(arguments).unwrap_or_default();
        let arg = |i: usize| args.get(i).map(|a| a.trim().to_string());
        let line = code[..at].matches('\n').count() + 1;
        found.push(Read { name, default: arg(0), allowed: arg(1), file: file.to_path_buf(), line, offset: at });
    }
}

/// The lines of `param(...)` calls whose name is not a string literal: `params` and `--set` cannot
/// know what they read, so `runbook check` reports them.
pub fn computed_names(text: &str) -> Vec<usize> {
    let code = without_comments(text);
    param_calls(&code)
        .filter(|(_, rest)| literal_name(rest).is_none())
        .map(|(at, _)| code[..at].matches('\n').count() + 1)
        .collect()
}

/// Each `param(` call in `code`: its offset and the text after the parenthesis.
fn param_calls(code: &str) -> impl Iterator<Item = (usize, &str)> {
    code.match_indices("param(")
        .filter(|(at, _)| !code[..*at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.'))
        .map(|(at, _)| (at, &code[at + "param(".len()..]))
}

/// The name of a `param(` call whose first argument is one plain string literal, and the text
/// after it (from the `,` or `)` that ends the argument).
fn literal_name(rest: &str) -> Option<(String, &str)> {
    let q = rest.trim_start().strip_prefix('"')?;
    let end = q.find('"')?;
    let name = &q[..end];
    let after = q[end + 1..].trim_start();
    let plain = !name.contains('\\') && (after.starts_with(',') || after.starts_with(')'));
    plain.then(|| (name.to_string(), after))
}

/// The text with `//` and `/* */` comments blanked (newlines kept), strings left alone.
pub fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '`' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '/' && chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            None if c == '/' && chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// The arguments that start `text`, split at the commas between them, up to the `)` closing the
/// call (brackets and strings inside them skipped).
fn arguments(text: &str) -> Option<Vec<&str>> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            ')' if depth == 0 => {
                out.push(&text[start..i]);
                return Some(out);
            }
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A word as a shell reads it: quoted when it holds anything but plain characters.
fn shell_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "_-=.,/:@+%".contains(c)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The type a parameter takes, from its default's text: what `--set` values are converted to.
pub fn kind(default: Option<&str>) -> &'static str {
    let Some(d) = default else { return "string (required)" };
    if d.starts_with('"') || d.starts_with('`') {
        "string"
    } else if d == "true" || d == "false" {
        "bool"
    } else if d.starts_with('[') {
        "array (comma-separated)"
    } else if d.parse::<i64>().is_ok() || d.replace('_', "").parse::<i64>().is_ok() {
        "integer"
    } else if d.parse::<f64>().is_ok() {
        "float"
    } else {
        "as its default's value"
    }
}

/// A value of the type a default's text has, for checking a `--set` value against it.
pub fn typed_default(default: &str) -> rhai::Dynamic {
    match kind(Some(default)) {
        "integer" => rhai::Dynamic::from_int(0),
        "float" => rhai::Dynamic::from_float(0.0),
        "bool" => rhai::Dynamic::from_bool(false),
        "array (comma-separated)" => rhai::Dynamic::from_array(vec![]),
        _ => rhai::Dynamic::from(String::new()),
    }
}

/// `runbook params FILE`: the runbook's opening comment, then each parameter it and its imports
/// read, with its type, default and the `--set` that gives it.
pub fn show(file: &Path) -> std::process::ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return crate::diagnostics::fail(&format!("cannot read runbook {}: {e}", file.display())),
    };
    // A file that does not parse is refused as `run` refuses it: what it reads cannot be known.
    let mut engine = rhai::Engine::new();
    crate::engine::syntax(&mut engine);
    if let Err(e) = engine.compile(&text) {
        eout!("{}", crate::diagnostics::parse_error(file, &e).render());
        return std::process::ExitCode::from(2);
    }
    out!("{}", render(file, &text));
    std::process::ExitCode::SUCCESS
}

pub fn render(file: &Path, text: &str) -> String {
    let mut o = format!("{}\n", file.display());
    let opening: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.trim_start().starts_with("//"))
        .map(|l| {
            l.trim_start().trim_start_matches('/').strip_prefix(' ').unwrap_or(l.trim_start().trim_start_matches('/'))
        })
        .collect();
    for l in &opening {
        o.push_str(&format!("  {l}\n").replace("  \n", "\n"));
    }
    let root = crate::project::runbook_root(file);
    let mut reads = reads(&root, file);
    // A parameter read in several places is shown once, where it is first read.
    let mut shown = BTreeSet::new();
    reads.retain(|r| shown.insert(r.name.clone()));
    if reads.is_empty() {
        o.push_str("\nNo parameters.\n");
        return o;
    }
    o.push_str(&format!("\nParameters ({}), read by the runbook and its imports:\n", reads.len()));
    let limited = reads.iter().any(|r| r.allowed.is_some());
    let mut rows: Vec<Vec<String>> = vec![["NAME", "TYPE", "DEFAULT", "ALLOWED", "SET", "READ AT"]
        .iter()
        .filter(|h| limited || **h != "ALLOWED")
        .map(|h| h.to_string())
        .collect()];
    for r in &reads {
        let place = r.file.strip_prefix(&root).unwrap_or(&r.file);
        let value = match r.default.as_deref() {
            Some(d) if d.starts_with('"') => d.trim_matches('"').to_string(),
            Some(d) if d.starts_with('[') => {
                let inner = d.trim_start_matches('[').trim_end_matches(']');
                inner.split(',').map(|i| i.trim().trim_matches('"')).collect::<Vec<_>>().join(",")
            }
            Some(d) if kind(Some(d)) != "as its default's value" => d.to_string(),
            _ => "VALUE".to_string(),
        };
        let mut row = vec![
            r.name.clone(),
            kind(r.default.as_deref()).to_string(),
            r.default.clone().unwrap_or_else(|| "(none)".into()),
        ];
        if limited {
            row.push(allowed::shown(r).unwrap_or_default());
        }
        row.push(format!("--set {}", shell_word(&format!("{}={value}", r.name))));
        row.push(format!("{}:{}", place.display(), r.line));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i + 1 == columns { c.clone() } else { format!("{c:<w$}") })
            .collect();
        o.push_str(&format!("  {}\n", cells.join("  ")));
    }
    o
}

/// Every `--set` name must be a parameter the runbook reads.
/// Checks each `--set` value against the type of its parameter's default, before anything runs:
/// `--set desired_count=three` is refused here, not half-way through the run.
pub fn check_types(root: &Path, file: &Path, given: &BTreeMap<String, String>) -> Result<(), String> {
    let reads = reads(root, file);
    for (name, value) in given {
        // Each read converts the value to its default's type and checks it against its allowed
        // values, as the run will.
        for read in reads.iter().filter(|r| r.name == *name) {
            let at = |e: String| format!("{e}\n  --> {}:{}", read.file.display(), read.line);
            let typed = match read.default.as_deref() {
                Some(default) => {
                    runbook_bindings::helpers::typed_param(name, value, &typed_default(default)).map_err(at)?
                }
                None => rhai::Dynamic::from(value.clone()),
            };
            allowed::check(read, &typed, &format!(" (from --set {name}={value})")).map_err(at)?;
        }
    }
    Ok(())
}

pub fn check(given: &BTreeMap<String, String>, declared: &BTreeSet<String>) -> Result<(), String> {
    for name in given.keys() {
        if !declared.contains(name) {
            let close = runbook_bindings::validate::closest(name, declared.iter().map(String::as_str));
            let hint =
                if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(" or ")) };
            let known: Vec<&str> = declared.iter().map(String::as_str).collect();
            let list = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(format!(
                "unknown parameter --set {name}{hint}; this runbook's parameters: {list} (`runbook params FILE` \
                 shows their types and defaults)"
            ));
        }
    }
    Ok(())
}

/// [`check`] for the runbook `file` under `root`, against the parameters its run can reach. A
/// name read elsewhere is named with where: by another runbook of the folder, or in a function
/// this run never calls. A value set for what does not run does nothing, so it is refused.
pub fn check_for(root: &Path, file: &Path, given: &BTreeMap<String, String>) -> Result<(), String> {
    let mine = reach(root, file);
    let declared: BTreeSet<String> = mine.reached.iter().map(|r| r.name.clone()).collect();
    check(given, &declared).map_err(|e| {
        let Some(name) = given.keys().find(|n| !declared.contains(*n)) else { return e };
        let mut others = Vec::new();
        collect_rhai(root, &mut others, 0);
        others.sort();
        let readers: Vec<String> = others
            .iter()
            .filter(|f| f.as_path() != file)
            .filter_map(|f| {
                let r = reach(root, f).reached.into_iter().find(|r| &r.name == name)?;
                Some(match r.file == *f {
                    true => format!("{}:{}", f.display(), r.line),
                    false => format!("{} (at {}:{})", f.display(), r.file.display(), r.line),
                })
            })
            .collect();
        if !readers.is_empty() {
            return format!("{e}; {name} is read by {}, which {} does not run", readers.join(" and "), file.display());
        }
        let uncalled: Vec<String> = mine
            .unreached
            .iter()
            .filter(|(r, _)| &r.name == name)
            .map(|(r, f)| format!("in fn {f}() at {}:{}", r.file.display(), r.line))
            .collect();
        match uncalled.is_empty() {
            true => e,
            false => format!("{e}; {name} is read {}, which {} never calls", uncalled.join(" and "), file.display()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_parsed_and_checked() {
        assert_eq!(parse_sets(&["a=1".into(), "b=x=y".into()]).unwrap()["b"], "x=y");
        assert!(parse_sets(&["novalue".into()]).unwrap_err().contains("expected NAME=VALUE"));
        assert!(parse_sets(&["a b=1".into()]).unwrap_err().contains("letters, digits"));
        let mut found = Vec::new();
        let text = "let n = param(\"tg_name\", \"x\");\n// param(\"commented\", 1)\nlet p = param( \"port\", min(80, 90));\nlet r = param(\"region\");";
        scan(text, Path::new("a.rhai"), &mut found);
        let got: Vec<(&str, Option<&str>, usize)> =
            found.iter().map(|r| (r.name.as_str(), r.default.as_deref(), r.line)).collect();
        assert_eq!(got, [("tg_name", Some("\"x\""), 1), ("port", Some("min(80, 90)"), 3), ("region", None, 4)]);
        let mut limited = Vec::new();
        scan("param(\"m\", \"cpu\", [\"cpu\", \"memory\"]); param(\"n\", 2, 1..=4)", Path::new("a.rhai"), &mut limited);
        let got: Vec<Option<&str>> = limited.iter().map(|r| r.allowed.as_deref()).collect();
        assert_eq!(got, [Some("[\"cpu\", \"memory\"]"), Some("1..=4")]);
        let names: BTreeSet<String> = found.into_iter().map(|r| r.name).collect();
        let given = parse_sets(&["tg_nam=y".into()]).unwrap();
        let e = check(&given, &names).unwrap_err();
        assert!(e.contains("did you mean tg_name?"), "{e}");
    }

    #[test]
    fn types_follow_the_default() {
        assert_eq!(kind(Some("80")), "integer");
        assert_eq!(kind(Some("70.0")), "float");
        assert_eq!(kind(Some("true")), "bool");
        assert_eq!(kind(Some("\"x\"")), "string");
        assert_eq!(kind(Some("[\"a\", \"b\"]")), "array (comma-separated)");
        assert_eq!(kind(Some("min(1, 2)")), "as its default's value");
        assert_eq!(kind(None), "string (required)");
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
        // The word in a comment or a string is no import of anything.
        write(
            "main.rhai",
            "// each import runs a step\nimport \"step\";\nprint(\"import it all\"); let a = param(\"a\", 1);",
        );
        let names = declared(&dir, &dir.join("main.rhai"));
        assert_eq!(names.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        // A value for a parameter only another runbook reads is refused, naming that runbook.
        let given = BTreeMap::from([("d".to_string(), "5".to_string())]);
        let e = check_for(&dir, &dir.join("main.rhai"), &given).unwrap_err();
        assert!(e.contains(&format!("d is read by {}:1, which", dir.join("other.rhai").display())), "{e}");
        // A function nothing calls reads nothing for this run.
        write("main.rhai", "import \"step\";\nfn later() { param(\"l\", 1) }\nlet a = param(\"a\", 1);");
        let given = BTreeMap::from([("l".to_string(), "2".to_string())]);
        let e = check_for(&dir, &dir.join("main.rhai"), &given).unwrap_err();
        assert!(e.contains(&format!("l is read in fn later() at {}:2, which", dir.join("main.rhai").display())), "{e}");
        // An import by expression could load any runbook of the folder.
        write("main.rhai", "let m = \"step\"; import m as s; let a = param(\"a\", 1);");
        let names = declared(&dir, &dir.join("main.rhai"));
        assert_eq!(names.iter().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
