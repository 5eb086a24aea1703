//! The definitions in a REPL entry: its top-level `fn` blocks and `import` statements, told apart
//! from the statements around them, so that a session keeps them and `:save` writes each function
//! once, in its last form.

/// One function definition: its name, its number of parameters and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub arity: usize,
    pub text: String,
}

/// An entry split into its function definitions and the rest, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub functions: Vec<Function>,
    pub rest: String,
}

/// Splits Rhai source at its top-level `fn` (and `private fn`) definitions. Strings, comments and
/// nested blocks are skipped over, so a `fn` inside them is left alone.
pub fn split(source: &str) -> Split {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Split::default();
    let (mut i, mut depth, mut last) = (0, 0usize, 0);
    while i < chars.len() {
        if let Some(next) = code_step(&chars, i, &mut depth) {
            i = next;
            continue;
        }
        if depth == 0 && (word_at(&chars, i, "fn") || word_at(&chars, i, "private")) {
            if let Some(f) = function_at(&chars, i) {
                out.rest.extend(&chars[last..i]);
                i = f.1;
                last = i;
                out.functions.push(f.0);
                continue;
            }
        }
        i += 1;
    }
    out.rest.extend(&chars[last.min(chars.len())..]);
    if out.rest.trim().is_empty() {
        out.rest.clear();
    }
    out
}

/// Functions only the REPL has: a saved runbook that called them would fail at that line, after
/// its earlier writes were sent.
pub const REPL_ONLY: &[&str] = &["help"];

/// The top-level statements of `source` (functions already split off), each with its `;`: split
/// at `;` and after a `}` that closes a block at the top level, outside strings and comments.
pub fn statements(source: &str) -> Vec<String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut depth, mut last) = (0, 0usize, 0);
    let cut = |end: usize, last: &mut usize, out: &mut Vec<String>| {
        let text: String = chars[*last..end].iter().collect();
        if !text.trim().is_empty() {
            out.push(text.trim().to_string());
        }
        *last = end;
    };
    while i < chars.len() {
        if let Some(next) = code_step(&chars, i, &mut depth) {
            // `if x { ... }` ends its statement at the line's end.
            let rest_of_line: String = chars[next..].iter().take_while(|c| **c != '\n').collect();
            let ends = chars[i] == '}' && depth == 0 && rest_of_line.trim().is_empty();
            i = next;
            if ends {
                cut(i, &mut last, &mut out);
            }
            continue;
        }
        i += 1;
        if chars[i - 1] == ';' && depth == 0 {
            cut(i, &mut last, &mut out);
        }
    }
    cut(chars.len(), &mut last, &mut out);
    out
}

/// Whether a statement calls a function only the REPL has (outside strings and comments).
pub fn repl_only(statement: &str) -> bool {
    let chars: Vec<char> = statement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match skip_text(&chars, i) {
            Some(next) => i = next,
            None => {
                let called = REPL_ONLY.iter().any(|f| {
                    word_at(&chars, i, f)
                        && (i == 0 || chars[i - 1] != ':')
                        && chars[i + f.len()..].iter().find(|c| !c.is_whitespace()) == Some(&'(')
                });
                if called {
                    return true;
                }
                i += 1;
            }
        }
    }
    false
}

/// The `import "path" as name;` statements at the top level of an entry: (path, name).
pub fn imports(source: &str) -> Vec<(String, String)> {
    let rest = split(source).rest;
    rest.split(';')
        .filter_map(|stmt| {
            let s = stmt.trim().strip_prefix("import")?.trim_start();
            let (path, alias) = s.strip_prefix('"')?.split_once('"')?;
            let name = alias.trim().strip_prefix("as")?.trim();
            (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| (path.to_string(), name.to_string()))
        })
        .collect()
}

/// One step over what is not plain code: a string or comment is skipped whole, and a bracket moves
/// `depth`. Where that step ends, or `None` at any other character.
fn code_step(chars: &[char], i: usize, depth: &mut usize) -> Option<usize> {
    if let Some(next) = skip_text(chars, i) {
        return Some(next);
    }
    match chars[i] {
        '{' | '(' | '[' => *depth += 1,
        '}' | ')' | ']' => *depth = depth.saturating_sub(1),
        _ => return None,
    }
    Some(i + 1)
}

/// Where a string or a comment that starts at `i` ends (just past it), if one starts there.
fn skip_text(chars: &[char], i: usize) -> Option<usize> {
    match (chars[i], chars.get(i + 1)) {
        ('"' | '`' | '\'', _) => Some(skip_string(chars, i)),
        ('/', Some('/')) => Some((i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len())),
        ('/', Some('*')) => {
            let end = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == '*' && chars[j + 1] == '/');
            Some(end.map(|j| j + 2).unwrap_or(chars.len()))
        }
        _ => None,
    }
}

fn word_at(chars: &[char], i: usize, word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    let before_ok = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let after = chars.get(i + w.len());
    before_ok && chars[i..].starts_with(&w) && !after.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// A function definition starting at `i` (at `fn` or `private fn`), and where it ends.
fn function_at(chars: &[char], mut i: usize) -> Option<(Function, usize)> {
    let start = i;
    if word_at(chars, i, "private") {
        i += "private".len();
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
    }
    if !word_at(chars, i, "fn") {
        return None;
    }
    i += 2;
    let open = (i..chars.len()).find(|&j| chars[j] == '(')?;
    let name: String = chars[i..open].iter().collect::<String>().trim().to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let close = (open..chars.len()).find(|&j| chars[j] == ')')?;
    let params: String = chars[open + 1..close].iter().collect();
    let arity = params.split(',').filter(|p| !p.trim().is_empty()).count();
    let body = (close..chars.len()).find(|&j| chars[j] == '{')?;
    let end = block_end(chars, body)?;
    let text: String = chars[start..end].iter().collect();
    Some((Function { name, arity, text }, end))
}

/// The index just past the `}` that closes the block opened at `open`.
fn block_end(chars: &[char], open: usize) -> Option<usize> {
    let (mut i, mut depth) = (open, 0usize);
    while i < chars.len() {
        match chars[i] {
            '"' | '`' | '\'' => {
                i = skip_string(chars, i);
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index just past the string (or character) literal that starts at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != quote {
        if chars[j] == '\\' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repl_only_statements_are_found_and_others_kept() {
        let text = "let x = 1;\nhelp(\"elbv2\");\nif x > 0 { print(\"help(\") }\nhelp();\nprint(x)";
        let s = statements(text);
        assert_eq!(s, ["let x = 1;", "help(\"elbv2\");", "if x > 0 { print(\"help(\") }", "help();", "print(x)"]);
        let kept: Vec<&String> = s.iter().filter(|t| !repl_only(t)).collect();
        assert_eq!(kept, ["let x = 1;", "if x > 0 { print(\"help(\") }", "print(x)"]);
        assert!(!repl_only("let helpful = 2;") && !repl_only("x.help_text"));
        let one = "let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).query(\"Vpcs[0].VpcId\");";
        assert_eq!(statements(one), [one]);
    }

    #[test]
    fn functions_are_told_from_statements() {
        let s =
            split("let a = 1;\nfn double(x) { x * 2 }\nprint(\"fn not(here) {\");\nprivate fn h() { #{ k: 1 } }\na");
        let names: Vec<(&str, usize)> = s.functions.iter().map(|f| (f.name.as_str(), f.arity)).collect();
        assert_eq!(names, [("double", 1), ("h", 0)]);
        assert_eq!(s.functions[0].text, "fn double(x) { x * 2 }");
        assert_eq!(s.rest, "let a = 1;\n\nprint(\"fn not(here) {\");\n\na");
        assert_eq!(split("fn f(a, b) {\n  // }\n  a + b\n}").functions[0].arity, 2);
        assert_eq!(split("fn only() { 1 }").rest, "");
    }

    #[test]
    fn imports_are_found() {
        assert_eq!(
            imports("import \"lib/aws\" as aws; let x = 1; import \"h\" as h2;"),
            [("lib/aws".to_string(), "aws".to_string()), ("h".to_string(), "h2".to_string())]
        );
        assert!(imports("let s = \"import\";").is_empty());
    }
}
