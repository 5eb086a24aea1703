//! `runbook import FILE.sh|FILE.md|- [-o FILE.rhai] [--idempotent]`: a Rhai runbook from a bash
//! script of aws CLI commands (or a Markdown file's ```bash blocks). Each aws command becomes the
//! call the binding layer's `cli` reads it as (the same reading `runbook aws` sends), so the
//! runbook sends the script's requests; `VAR=$(aws … --query Q)` becomes a `let` with `query`,
//! `${VAR:-default}` a parameter, `if ! aws …` a look that catches the service's not-found codes,
//! `[ -z "$X" ]` and friends conditions, `for` loops, `echo` `print`, `sleep` `sleep`, and the text
//! pipelines whose intent is certain (a list turned into words and back) the list itself. What it
//! cannot convert stays as a `// not converted:` comment, listed on stderr, and the exit code is 1.
//! With `--idempotent`, each write is sent only when needed (the call option `converge`, which the
//! run layer answers from its catalogue of write kinds).

pub(crate) mod shell;

use runbook_bindings::cli::{self, args::STANDS_FOR, Action};
use shell::{Part, Token, Word};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// `runbook import`.
pub fn import(file: &Path, out: Option<&Path>, idempotent: bool) -> ExitCode {
    let from_stdin = file == Path::new("-");
    let text = if from_stdin {
        let mut s = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            Ok(_) => s,
            Err(e) => return crate::diagnostics::fail(&format!("cannot read the script from stdin: {e}")),
        }
    } else {
        match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => return crate::diagnostics::fail(&format!("cannot read {}: {e}", file.display())),
        }
    };
    let (bash, lines) = bash_of(file, &text);
    let name = if from_stdin { "stdin".to_string() } else { file.display().to_string() };
    let converted = Importer::new(idempotent).run(&bash);
    let mut rhai = format!("// Imported from {name} by `runbook import`: each aws command is the call it sends.\n");
    rhai.push_str(&converted.text);
    match out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &rhai) {
                return crate::diagnostics::fail(&format!("cannot write {}: {e}", path.display()));
            }
        }
        None => out!("{rhai}"),
    }
    for (line, why, text) in &converted.left {
        let at = lines.as_ref().and_then(|l: &Vec<usize>| l.get(line - 1).copied()).unwrap_or(*line);
        eoutln!("{name}:{at}: not converted ({why}): {}", text.lines().next().unwrap_or_default());
    }
    if converted.left.is_empty() {
        ExitCode::SUCCESS
    } else {
        eoutln!("runbook import: {} line(s) not converted, kept as `// not converted:` comments", converted.left.len());
        ExitCode::from(1)
    }
}

/// The Rhai for a few lines of bash (an aws command pasted into a runbook): what `import` writes for
/// them, or why it cannot convert them.
pub fn convert(bash: &str) -> std::result::Result<String, String> {
    let converted = Importer::new(false).run(bash);
    if let Some((_, why, _)) = converted.left.first() {
        return Err(why.clone());
    }
    if let Some((_, mistake)) = converted.mistakes.first() {
        return Err(mistake.clone());
    }
    Ok(converted.text)
}

/// The aws commands of a script (or of a Markdown file's bash blocks) that the aws CLI would refuse
/// whatever the script's variables hold: a misspelt operation or argument, a required argument
/// missing, a value it cannot read. (line of the file, message), for `check` and before a run.
pub fn mistakes(file: &Path, text: &str) -> Vec<(usize, String)> {
    let (bash, lines) = bash_of(file, text);
    let converted = Importer::new(false).run(&bash);
    converted
        .mistakes
        .into_iter()
        .map(|(line, m)| (lines.as_ref().and_then(|l| l.get(line.wrapping_sub(1)).copied()).unwrap_or(line), m))
        .collect()
}

/// The bash a script file holds: all of it, or for Markdown (by its name) its ```bash, ```sh and
/// ```shell blocks in order, with the file's line of each line of them. Read so by `import`,
/// `check` and the script run alike.
pub fn bash_of(file: &Path, text: &str) -> (String, Option<Vec<usize>>) {
    if !matches!(file.extension().and_then(|e| e.to_str()), Some("md" | "markdown")) {
        return (text.to_string(), None);
    }
    let mut out = String::new();
    let mut lines = Vec::new();
    let mut inside: Option<bool> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match inside {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    inside = Some(matches!(info.split_whitespace().next(), Some("bash" | "sh" | "shell")));
                }
            }
            Some(bash) => {
                if trimmed.starts_with("```") {
                    inside = None;
                } else if bash {
                    out.push_str(line);
                    out.push('\n');
                    lines.push(i + 1);
                }
            }
        }
    }
    (out, Some(lines))
}

/// What a conversion gave: the Rhai text, the lines left as comments (line, why, text), and the aws
/// commands the aws CLI would refuse whatever the variables hold (line, message).
struct Converted {
    text: String,
    left: Vec<(usize, String, String)>,
    mistakes: Vec<(usize, String)>,
}

/// What the script's variables hold, as far as the conversion follows them.
#[derive(Clone, Copy, PartialEq)]
enum Holds {
    List,
    Scalar,
}

struct Importer {
    idempotent: bool,
    out: String,
    depth: usize,
    vars: HashMap<String, Holds>,
    left: Vec<(usize, String, String)>,
    looks: usize,
    /// Blocks opened by `if`/`for` and not closed yet.
    open: Vec<&'static str>,
    /// Variables first set inside a block: declared at the top, since a shell variable outlives
    /// the block that sets it and a Rhai `let` does not.
    hoisted: Vec<String>,
    /// Variables whose assignment was not converted: a line that reads one is not converted either.
    unconverted: std::collections::HashSet<String>,
    /// The aws command of the line being converted, when the aws CLI would refuse it whatever the
    /// script's variables hold (all its words are literal): a certain mistake.
    refused: Option<String>,
    /// Those mistakes: (line, message).
    mistakes: Vec<(usize, String)>,
}

/// A value the Rhai source reads: its expression and what it holds.
struct Expr {
    code: String,
    holds: Holds,
}

type Result<T> = std::result::Result<T, String>;

impl Importer {
    fn new(idempotent: bool) -> Importer {
        Importer {
            idempotent,
            out: String::new(),
            depth: 0,
            vars: HashMap::new(),
            left: Vec::new(),
            looks: 0,
            open: Vec::new(),
            hoisted: Vec::new(),
            unconverted: std::collections::HashSet::new(),
            refused: None,
            mistakes: Vec::new(),
        }
    }

    fn run(mut self, bash: &str) -> Converted {
        for line in shell::logical_lines(bash) {
            let text = line.text.trim();
            if text.is_empty() {
                self.out.push('\n');
                continue;
            }
            if text.starts_with("#!") && line.number == 1 {
                continue;
            }
            let before = self.out.len();
            let depth = self.depth;
            let open = self.open.len();
            if let Err(why) = self.line(text) {
                if let Some(m) = self.refused.take() {
                    self.mistakes.push((line.number, m));
                }
                // What it would have set is unknown from here on.
                if let Ok((tokens, _)) = shell::tokens(text) {
                    let set = tokens.iter().filter_map(|t| if let Token::Word(w) = t { Some(w) } else { None });
                    self.unconverted.extend(set.filter_map(assignment_name));
                }
                // Nothing of a line is kept when part of it cannot be converted.
                self.out.truncate(before);
                self.depth = depth;
                self.open.truncate(open);
                let pad = "    ".repeat(self.depth);
                for (i, l) in text.lines().enumerate() {
                    let head = if i == 0 { "// not converted: " } else { "//     " };
                    let _ = writeln!(self.out, "{pad}{head}{l}");
                }
                self.left.push((line.number, why, text.to_string()));
            }
        }
        while self.open.pop().is_some() {
            self.depth = self.depth.saturating_sub(1);
            self.emit("}");
            self.left.push((0, "a block is not closed".into(), String::new()));
        }
        let mut text = String::new();
        if !self.hoisted.is_empty() {
            text.push_str("// Set inside a block below and read after it, as shell variables are.\n");
            for v in &self.hoisted {
                let _ = writeln!(text, "let {v} = ();");
            }
        }
        text.push_str(&self.out);
        Converted { text, left: self.left, mistakes: self.mistakes }
    }

    fn emit(&mut self, code: &str) {
        let pad = "    ".repeat(self.depth);
        for l in code.lines() {
            let _ = writeln!(self.out, "{pad}{l}");
        }
    }

    /// One logical line: its statements, separated by `;`.
    fn line(&mut self, text: &str) -> Result<()> {
        let (tokens, comment) = shell::tokens(text)?;
        if let Some(c) = comment.filter(|_| tokens.is_empty()) {
            self.emit(&format!("// {c}"));
            return Ok(());
        }
        for statement in tokens.split(|t| *t == Token::Op(";".into())) {
            if !statement.is_empty() {
                self.statement(statement)?;
            }
        }
        Ok(())
    }

    fn statement(&mut self, tokens: &[Token]) -> Result<()> {
        let Some(Token::Word(first)) = tokens.first() else { return Err("a line that starts with an operator".into()) };
        let head = first.literal().unwrap_or_default();
        let rest = &tokens[1..];
        match head.as_str() {
            "then" | "do" if rest.is_empty() => Ok(()),
            "then" | "do" => self.statement(rest),
            "set" => {
                let flags: Vec<String> = words(rest)?.iter().filter_map(Word::literal).collect();
                if flags.iter().all(|f| f.starts_with('-') || f == "pipefail") {
                    self.emit(&format!("// set {}: a runbook stops at its first error", flags.join(" ")));
                    Ok(())
                } else {
                    Err("set with operands".into())
                }
            }
            "if" => {
                let cond = self.condition(rest)?;
                self.emit(&format!("if {cond} {{"));
                self.depth += 1;
                self.open.push("if");
                Ok(())
            }
            "elif" => Err("elif (write it as else + if)".into()),
            "else" => {
                if self.open.last() != Some(&"if") {
                    return Err("else without if".into());
                }
                self.depth -= 1;
                self.emit("} else {");
                self.depth += 1;
                if rest.is_empty() {
                    Ok(())
                } else {
                    self.statement(rest)
                }
            }
            "fi" | "done" => {
                let want = if head == "fi" { "if" } else { "for" };
                if self.open.last() != Some(&want) {
                    return Err(format!("{head} without {want}"));
                }
                self.open.pop();
                self.depth -= 1;
                self.emit("}");
                Ok(())
            }
            "for" => self.for_loop(rest),
            "echo" => self.echo(rest),
            "sleep" => {
                let [Token::Word(w)] = rest else { return Err("sleep takes one number".into()) };
                let e = self.word(w)?;
                let secs = e.code.trim_matches('"').to_string();
                let code = if secs.parse::<f64>().is_ok() { secs } else { e.code };
                self.emit(&format!("sleep({code});"));
                Ok(())
            }
            "true" | ":" if rest.is_empty() => Ok(()),
            "aws" => {
                let (call, output, discarded) = self.aws(rest)?;
                self.emit(&statement(&call.code, &output, discarded, call.holds == Holds::List));
                Ok(())
            }
            "export" | "local" | "readonly" => {
                let [Token::Word(w)] = rest else { return Err(format!("{head} of more than one variable")) };
                self.assignment(w)
            }
            _ if assignment_name(first).is_some() && rest.is_empty() => self.assignment(first),
            other => Err(format!("the command {other}")),
        }
    }

    /// `NAME=value`.
    fn assignment(&mut self, w: &Word) -> Result<()> {
        let name = assignment_name(w).ok_or("not an assignment")?;
        let mut value = w.clone();
        match value.parts.first_mut() {
            Some(Part::Lit(t)) => {
                *t = t[name.len() + 1..].to_string();
                if t.is_empty() {
                    value.parts.remove(0);
                }
            }
            _ => return Err("not an assignment".into()),
        }
        let e = self.word(&value)?;
        let var = rhai_name(&name);
        if self.vars.insert(name, e.holds).is_some() {
            self.emit(&format!("{var} = {};", e.code));
        } else if self.depth > 0 {
            self.hoisted.push(var.clone());
            self.emit(&format!("{var} = {};", e.code));
        } else {
            self.emit(&format!("let {var} = {};", e.code));
        }
        Ok(())
    }

    /// `for X in WORDS; do`.
    fn for_loop(&mut self, rest: &[Token]) -> Result<()> {
        let ws = words(rest)?;
        let name = ws.first().and_then(Word::literal).filter(|n| shell::is_name(n)).ok_or("for without a name")?;
        if ws.get(1).and_then(Word::literal).as_deref() != Some("in") {
            return Err("for without in".into());
        }
        let items = &ws[2..];
        let list = match items {
            [one] if one.parts.len() == 1 && matches!(one.parts[0], Part::Var(..)) => {
                let e = self.word(one)?;
                if e.holds != Holds::List {
                    return Err("for over a variable that is not a list".into());
                }
                e.code
            }
            _ => {
                let codes = items.iter().map(|w| self.word(w).map(|e| e.code)).collect::<Result<Vec<_>>>()?;
                format!("[{}]", codes.join(", "))
            }
        };
        self.vars.insert(name.clone(), Holds::Scalar);
        self.emit(&format!("for {} in {list} {{", rhai_name(&name)));
        self.depth += 1;
        self.open.push("for");
        Ok(())
    }

    /// `echo [-e] WORDS`.
    fn echo(&mut self, rest: &[Token]) -> Result<()> {
        let mut ws = words(rest)?;
        let mut escapes = false;
        while let Some(flag) = ws.first().and_then(Word::literal).filter(|f| f.starts_with('-') && f.len() > 1) {
            match flag.as_str() {
                "-e" => escapes = true,
                "-E" => escapes = false,
                _ => return Err(format!("echo {flag}")),
            }
            ws.remove(0);
        }
        if rest.iter().any(|t| matches!(t, Token::Redirect(..) | Token::Op(_))) {
            return Err("echo into a file or a pipe".into());
        }
        let mut joined = Word::default();
        for (i, w) in ws.iter().enumerate() {
            if i > 0 {
                joined.parts.push(Part::Lit(" ".into()));
            }
            joined.parts.extend(w.parts.iter().cloned().map(|p| match p {
                Part::Lit(t) if escapes => Part::Lit(unescape(&t)),
                other => other,
            }));
        }
        let e = self.interpolated(&joined)?;
        self.emit(&format!("print({e});"));
        Ok(())
    }

    /// A condition of `if`: an aws command (its success), or a test.
    fn condition(&mut self, tokens: &[Token]) -> Result<String> {
        let (negated, tokens) = match tokens.first() {
            Some(Token::Word(w)) if w.literal().as_deref() == Some("!") => (true, &tokens[1..]),
            _ => (false, tokens),
        };
        let Some(Token::Word(first)) = tokens.first() else { return Err("an empty condition".into()) };
        let not = if negated { "!" } else { "" };
        match first.literal().as_deref() {
            Some("aws") => {
                let (call, _, _) = self.aws(&tokens[1..])?;
                self.looks += 1;
                let found = format!("found_{}", self.looks);
                self.emit(&format!(
                    "// Whether it is there: an answer that it is not is false; any other error stops the run.\n\
                     let {found} = true;\n\
                     try {{\n    {};\n}} catch (e) {{\n    if !e.not_found {{\n        throw e;\n    }}\n    {found} = false;\n}}",
                    call.code
                ));
                Ok(format!("{not}{found}"))
            }
            Some("[" | "test" | "[[") => {
                let close = match first.literal().as_deref() {
                    Some("[") => Some("]"),
                    Some("[[") => Some("]]"),
                    _ => None,
                };
                let mut ws = words(&tokens[1..])?;
                if let Some(close) = close {
                    if ws.last().and_then(Word::literal).as_deref() != Some(close) {
                        return Err(format!("a test without {close}"));
                    }
                    ws.pop();
                }
                let test = self.test(&ws)?;
                Ok(if negated { format!("!({test})") } else { test })
            }
            _ => Err("a condition other than an aws command or a test".into()),
        }
    }

    /// `-z W`, `-n W`, `! …`, `A = B`, `A != B`, `A -eq B` and the other comparisons.
    fn test(&mut self, ws: &[Word]) -> Result<String> {
        let lit = |w: &Word| w.literal();
        match ws {
            [bang, rest @ ..] if lit(bang).as_deref() == Some("!") => Ok(format!("!({})", self.test(rest)?)),
            [op, w] if matches!(lit(op).as_deref(), Some("-z" | "-n")) => {
                let e = self.word(w)?;
                let empty = match e.holds {
                    Holds::List => format!("{}.is_empty()", e.code),
                    Holds::Scalar => format!("{} == \"\"", e.code),
                };
                Ok(if lit(op).as_deref() == Some("-z") { empty } else { format!("!({empty})") })
            }
            [a, op, b] => {
                let rhai_op = match lit(op).as_deref() {
                    Some("=" | "==" | "-eq") => "==",
                    Some("!=" | "-ne") => "!=",
                    Some("-gt") => ">",
                    Some("-ge") => ">=",
                    Some("-lt") => "<",
                    Some("-le") => "<=",
                    _ => return Err("a test other than -z, -n or a comparison".into()),
                };
                let (a, b) = (self.word(a)?, self.word(b)?);
                Ok(format!("{} {rhai_op} {}", a.code, b.code))
            }
            _ => Err("a test other than -z, -n or a comparison".into()),
        }
    }

    /// A word as a value: a literal (a number when it is one), a variable, a substitution, or an
    /// interpolated string.
    fn word(&mut self, w: &Word) -> Result<Expr> {
        if let Some(t) = w.literal() {
            if !t.is_empty() && t.parse::<i64>().is_ok() && !t.starts_with('0') || t == "0" {
                return Ok(Expr { code: t, holds: Holds::Scalar });
            }
            return Ok(Expr { code: cli::source::string(&t), holds: Holds::Scalar });
        }
        if let [one] = w.parts.as_slice() {
            return match one {
                Part::Var(name, default) => self.variable(name, default.as_deref()),
                Part::Sub(inner) => self.substitution(inner),
                Part::Lit(_) => Err("unreachable".into()),
            };
        }
        Ok(Expr { code: self.interpolated(w)?, holds: Holds::Scalar })
    }

    fn variable(&self, name: &str, default: Option<&str>) -> Result<Expr> {
        if self.unconverted.contains(name) {
            return Err(format!("it uses ${name}, whose line was not converted"));
        }
        Ok(match (self.vars.get(name), default) {
            (Some(holds), _) => Expr { code: rhai_name(name), holds: *holds },
            (None, Some(d)) => {
                let d = if d.parse::<i64>().is_ok() { d.to_string() } else { cli::source::string(d) };
                Expr { code: format!("param({}, {d})", cli::source::string(name)), holds: Holds::Scalar }
            }
            (None, None) => Expr { code: format!("env({})", cli::source::string(name)), holds: Holds::Scalar },
        })
    }

    /// A string with the word's variables in it: `` `at ${dns}` ``, or a plain literal.
    fn interpolated(&mut self, w: &Word) -> Result<String> {
        if let Some(t) = w.literal() {
            return Ok(cli::source::string(&t));
        }
        let mut s = String::from("`");
        for p in &w.parts {
            match p {
                Part::Lit(t) => s.push_str(&t.replace('`', "``").replace("${", "$\\{")),
                Part::Var(name, default) => {
                    let e = self.variable(name, default.as_deref())?;
                    let _ = write!(s, "${{{}}}", e.code);
                }
                Part::Sub(inner) => {
                    let e = self.substitution(inner)?;
                    let _ = write!(s, "${{{}}}", e.code);
                }
            }
        }
        s.push('`');
        Ok(s)
    }

    /// `$(…)`: an aws command (with the text pipelines that keep its value), or the echo of a
    /// list through the pipeline that turns it into words.
    fn substitution(&mut self, inner: &str) -> Result<Expr> {
        let (tokens, _) = shell::tokens(inner)?;
        let Some(Token::Word(first)) = tokens.first() else { return Err("an empty $(…)".into()) };
        match first.literal().as_deref() {
            Some("aws") => {
                let (call, _, _) = self.aws(&tokens[1..])?;
                Ok(call)
            }
            Some("echo") => {
                let stages: Vec<&[Token]> = tokens.split(|t| *t == Token::Op("|".into())).collect();
                let [Token::Word(w)] = &stages[0][1..] else { return Err("an echo of more than one word".into()) };
                let e = self.word(w)?;
                if e.holds != Holds::List || !stages[1..].iter().all(|s| keeps_list(s)) {
                    return Err("a text pipeline whose meaning is not certain".into());
                }
                Ok(e)
            }
            _ => Err("a $(…) of a command other than aws or echo".into()),
        }
    }

    /// `aws SERVICE OPERATION ARGS [| pipeline] [redirections]`: the call's expression (with its
    /// `--query`), its output format, and whether its output is thrown away.
    fn aws(&mut self, tokens: &[Token]) -> Result<(Expr, String, bool)> {
        let stages: Vec<&[Token]> = tokens.split(|t| *t == Token::Op("|".into())).collect();
        let own = stages[0];
        if !stages[1..].iter().all(|s| keeps_list(s)) {
            return Err("an aws command piped to a command whose meaning is not certain".into());
        }
        let mut texts: Vec<String> = Vec::new();
        let mut stands: Vec<(String, bool)> = Vec::new();
        let mut discarded = false;
        for t in own {
            match t {
                Token::Word(w) => texts.push(self.aws_word(w, &mut stands)?),
                Token::Redirect(op, target) if target == "/dev/null" && (op == ">" || op == "&>" || op == "1>") => {
                    discarded = true;
                }
                Token::Redirect(op, _) if op.starts_with('2') => {}
                Token::Redirect(..) => return Err("an aws command redirected to a file".into()),
                Token::Op(op) => return Err(format!("an aws command followed by {op}")),
            }
        }
        let cmd = match cli::parse(&texts) {
            Ok(c) => c,
            Err(e) => {
                if stands.is_empty() {
                    self.refused = Some(format!(
                        "aws {}: {}",
                        texts.iter().take(2).cloned().collect::<Vec<_>>().join(" "),
                        e.message
                    ));
                }
                return Err(format!("aws {}", e.message));
            }
        };
        if !matches!(cmd.action, Action::Call(_) | Action::Wait(_)) {
            return Err("aws help".into());
        }
        if cmd.pages.as_ref().is_some_and(|p| p.max_items.is_some() || p.start.is_some()) {
            return Err("--max-items or --starting-token (a Rhai call takes every page)".into());
        }
        let write = match &cmd.action {
            Action::Call(op) => cmd.svc.table().ok().and_then(|t| t.operations.get(op)).is_some_and(|o| !o.readonly),
            _ => false,
        };
        let raw = |s: &str| -> Option<(String, bool)> { stood_for(s, &stands) };
        let (code, output, list) = shaped(&cmd, cli::source::call_with(&cmd, &raw, self.idempotent && write));
        let holds = if list { Holds::List } else { Holds::Scalar };
        Ok((Expr { code, holds }, output.to_string(), discarded))
    }

    /// An argument word of an aws command: its text, with each variable or substitution written as
    /// a value that stands for it (see `STANDS_FOR`).
    fn aws_word(&mut self, w: &Word, stands: &mut Vec<(String, bool)>) -> Result<String> {
        let mut text = String::new();
        for p in &w.parts {
            match p {
                Part::Lit(t) => text.push_str(t),
                Part::Var(name, default) => {
                    let e = self.variable(name, default.as_deref())?;
                    text.push_str(&stand(stands, e));
                }
                Part::Sub(inner) => {
                    let e = self.substitution(inner)?;
                    text.push_str(&stand(stands, e));
                }
            }
        }
        Ok(text)
    }
}

/// Whether a `--query` answers a list (which `--output text` prints as words): its last piped part
/// projects (`[*]`, `[]`, a filter `[?…]`, a slice `[0:2]`, a list `[a, b]`, `.*`), rather than
/// picking one element (`[0]`).
fn projects(query: &str) -> bool {
    let last = query.rsplit('|').next().unwrap_or(query);
    let chars: Vec<char> = last.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '`' | '\'' | '"' => {
                let quote = chars[i];
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    i += 1;
                }
            }
            '[' => {
                let mut depth = 1;
                let start = i + 1;
                while i + 1 < chars.len() && depth > 0 {
                    i += 1;
                    match chars[i] {
                        '[' => depth += 1,
                        ']' => depth -= 1,
                        _ => {}
                    }
                }
                let inside: String = chars[start..i.min(chars.len())].iter().collect();
                if inside.trim().parse::<i64>().is_err() {
                    return true;
                }
            }
            '*' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// An aws command's call as a statement: thrown away, or printed as its `--output` asks (JSON,
/// a table, or a value of text).
fn statement(call: &str, output: &str, discarded: bool, list: bool) -> String {
    match (discarded, output) {
        (true, _) => format!("{call};"),
        (false, "table") => format!("print_table({call});"),
        (false, "text") if !list => format!("print({call});"),
        _ => format!("print(to_json({call}));"),
    }
}

/// A command read from an aws line (the REPL's) as the Rhai statement it stands for.
pub fn statement_of(cmd: &cli::Command) -> String {
    let (call, output, list) = shaped(cmd, cli::source::call(cmd));
    statement(&call, output, matches!(cmd.action, Action::Wait(_)), list)
}

/// A call's source with what its command line asks of the answer: its `--query`, and for a table
/// the operation's name as the title. Also the output format, and whether the answer is a list.
fn shaped(cmd: &cli::Command, mut call: String) -> (String, &'static str, bool) {
    let mut list = false;
    if let Some(q) = &cmd.globals.query {
        let _ = write!(call, ".query({})", cli::source::string(q));
        list = projects(q);
    }
    let output = match cmd.globals.output {
        Some(cli::Format::Text) => "text",
        Some(cli::Format::Table) => {
            if let Action::Call(op) = &cmd.action {
                let _ = write!(call, ", {}", cli::source::string(op));
            }
            "table"
        }
        _ => "json",
    };
    (call, output, list)
}

/// A value standing for an expression: `STANDS_FOR`, its index, and an end mark.
fn stand(stands: &mut Vec<(String, bool)>, e: Expr) -> String {
    stands.push((e.code, e.holds == Holds::List));
    format!("{STANDS_FOR}{}\u{E001}", stands.len() - 1)
}

/// The source of a string that holds values standing for expressions: the expression itself
/// when the string is one of them, else an interpolated string.
fn stood_for(s: &str, stands: &[(String, bool)]) -> Option<(String, bool)> {
    if !s.contains(STANDS_FOR) {
        return None;
    }
    let mut pieces: Vec<(bool, String)> = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find(STANDS_FOR) {
        if at > 0 {
            pieces.push((false, rest[..at].to_string()));
        }
        let after = &rest[at + STANDS_FOR.len_utf8()..];
        let end = after.find('\u{E001}')?;
        pieces.push((true, after[..end].to_string()));
        rest = &after[end + '\u{E001}'.len_utf8()..];
    }
    if !rest.is_empty() {
        pieces.push((false, rest.to_string()));
    }
    let expr = |i: &str| i.parse::<usize>().ok().and_then(|i| stands.get(i));
    if let [(true, i)] = pieces.as_slice() {
        return expr(i).cloned();
    }
    let mut out = String::from("`");
    for (is_expr, t) in pieces {
        if is_expr {
            let _ = write!(out, "${{{}}}", expr(&t)?.0);
        } else {
            out.push_str(&t.replace('`', "``").replace("${", "$\\{"));
        }
    }
    out.push('`');
    Some((out, false))
}

/// Whether a pipeline stage only reshapes a list's text without changing what it lists: `tr`
/// deleting blanks or swapping separators, `sed` deleting brackets, quotes or turning commas into
/// blanks.
fn keeps_list(stage: &[Token]) -> bool {
    let ws: Vec<String> =
        stage.iter().filter_map(|t| if let Token::Word(w) = t { w.literal() } else { None }).collect();
    if ws.len() != stage.len() {
        return false;
    }
    let blank = |s: &str| matches!(s, "[:space:]" | "\\t" | "\\n" | " " | "\t" | "\n" | "," | "[:blank:]");
    match ws.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["tr", "-d", set] => blank(set),
        ["tr", from, to] => blank(from) && blank(to),
        ["sed", script] => {
            let Some(body) = script.strip_prefix("s/").and_then(|b| b.strip_suffix("/g")) else { return false };
            matches!(body, "\\[/" | "\\]/" | "\"/" | ",/ " | ",/\\n" | "[][\"]/")
        }
        _ => false,
    }
}

/// The tokens' words, or a problem if an operator or redirection is among them.
fn words(tokens: &[Token]) -> Result<Vec<Word>> {
    tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => Ok(w.clone()),
            Token::Op(op) => Err(format!("the operator {op}")),
            Token::Redirect(op, target) => Err(format!("the redirection {op}{target}")),
        })
        .collect()
}

/// `NAME` of a word `NAME=…`.
fn assignment_name(w: &Word) -> Option<String> {
    let Some(Part::Lit(t)) = w.parts.first() else { return None };
    let (name, _) = t.split_once('=')?;
    shell::is_name(name).then(|| name.to_string())
}

/// A shell variable's Rhai name: lower case, away from Rhai's keywords.
fn rhai_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    const KEYWORDS: &[&str] = &[
        "let",
        "const",
        "if",
        "else",
        "switch",
        "do",
        "while",
        "loop",
        "until",
        "for",
        "in",
        "continue",
        "break",
        "return",
        "throw",
        "try",
        "catch",
        "fn",
        "private",
        "import",
        "export",
        "as",
        "true",
        "false",
        "this",
        "global",
        "print",
        "debug",
        "type_of",
        "eval",
        "call",
        "curry",
        "is_def_var",
        "is_def_fn",
        "is_shared",
        "var",
        "static",
        "shared",
        "sync",
        "async",
        "await",
        "yield",
        "default",
        "void",
        "null",
        "nil",
        "spawn",
        "thread",
        "go",
        "new",
        "use",
        "with",
        "module",
        "package",
        "super",
        "case",
        "public",
        "protected",
        "exit",
        "param",
        "env",
    ];
    if KEYWORDS.contains(&lower.as_str()) {
        format!("{lower}_")
    } else {
        lower
    }
}

/// `\n`, `\t` and `\\` of `echo -e`.
fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(bash: &str, idempotent: bool) -> Converted {
        Importer::new(idempotent).run(bash)
    }

    #[test]
    fn the_tutorials_forms_convert() {
        let c = convert(
            r#"#!/bin/bash
set -euo pipefail
wait_secs=${PROPAGATION_WAIT:-20}
VPC_ID=$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)
SUBNET_IDS=$(aws ec2 describe-subnets --filters Name=vpc-id,Values=$VPC_ID --query 'Subnets[*].SubnetId' --output json | tr -d '[:space:]')
aws elbv2 create-load-balancer --name alb --subnets $(echo $SUBNET_IDS | sed 's/\[//g' | sed 's/\]//g' | sed 's/,/ /g' | sed 's/"//g') >/dev/null
TG_ARN=$(aws elbv2 describe-target-groups --names tg --query 'TargetGroups[0].TargetGroupArn' --output text)
aws ecs update-service --cluster c --service s --load-balancers "targetGroupArn=$TG_ARN,containerName=web,containerPort=80"
if ! aws iam get-role --role-name AWSServiceRoleForECS &> /dev/null; then
    echo "Creating the role..."
    aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com
    sleep "$wait_secs"
fi
TASKS=$(aws ecs list-tasks --cluster c --query 'taskArns[*]' --output text)
if [ -n "$TASKS" ]; then
    aws ecs describe-tasks --cluster c --tasks $TASKS --query 'tasks[*].lastStatus' --output table
fi
echo -e "done at http://$TG_ARN\n"
"#,
            true,
        );
        assert!(c.left.is_empty(), "{:?}\n{}", c.left, c.text);
        for want in [
            "let wait_secs = param(\"PROPAGATION_WAIT\", 20);",
            "let vpc_id = ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).query(\"Vpcs[0].VpcId\");",
            "Filters: [#{ Name: \"vpc-id\", Values: [vpc_id] }]",
            "elbv2::create_load_balancer(#{ Name: \"alb\", Subnets: subnet_ids }, #{ converge: true });",
            "loadBalancers: [#{ containerName: \"web\", containerPort: 80, targetGroupArn: tg_arn }]",
            "iam::get_role(#{ RoleName: \"AWSServiceRoleForECS\" });",
            "if !e.not_found {",
            "if !found_1 {",
            "sleep(wait_secs);",
            "if !(tasks.is_empty()) {",
            "print_table(ecs::describe_tasks(#{ cluster: \"c\", tasks: tasks }).query(\"tasks[*].lastStatus\"), \"DescribeTasks\");",
            "print(`done at http://${tg_arn}\n`);",
        ] {
            assert!(c.text.contains(want), "missing {want}\n{}", c.text);
        }
    }

    #[test]
    fn mistakes_are_the_commands_refused_whatever_the_variables_hold() {
        let found = mistakes(Path::new("x.sh"), "aws ec2 describe-vpcz\naws ec2 describe-vpcs --filterz x\naws ec2 create-security-group --group-name $N --description d\naws ec2 describe-vpcs $MORE\n");
        let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 2], "{found:?}");
        assert!(found[0].1.contains("did you mean describe-vpcs?"), "{found:?}");
    }

    #[test]
    fn a_query_that_projects_answers_a_list() {
        for q in [
            "Subnets[*].SubnetId",
            "Subnets[].SubnetId",
            "Subnets[0:2].SubnetId",
            "Vpcs[?IsDefault].VpcId",
            "[a, b]",
            "Tags[*] | [0].Key | [*]",
        ] {
            assert!(projects(q), "{q}");
        }
        for q in ["Vpcs[0].VpcId", "GroupId", "services[0].{a:b}", "Subnets[*].SubnetId | [0]", "length(Subnets)"] {
            assert!(!projects(q), "{q}");
        }
    }

    #[test]
    fn a_line_that_reads_what_was_not_converted_is_not_converted() {
        let c = convert("SG=$(aws ec2 describe-security-groups --output json | jq -r '.x')\naws ec2 create-tags --resources $SG --tags Key=a,Value=b\naws ec2 describe-vpcs --vpc-ids \"$(aws ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text)\"\necho done\n", false);
        assert_eq!(c.left.len(), 2, "{}", c.text);
        assert!(c.left[1].1.contains("$SG"), "{:?}", c.left);
        assert!(
            c.text.contains("print(\"done\");"),
            "the line after a quoted $(…) stays a line of its own: {}",
            c.text
        );
    }

    #[test]
    fn what_is_not_certain_is_kept_as_a_comment() {
        let c = convert("X=$(aws ec2 describe-vpcs | awk '{print $1}')\nrm -rf /tmp/x\naws ec2 describe-vpcz\n", false);
        assert_eq!(c.left.len(), 3, "{}", c.text);
        assert!(c.text.contains("// not converted: rm -rf /tmp/x"), "{}", c.text);
        assert!(c.left[2].1.contains("describe-vpcs"), "did-you-mean from the CLI reading: {:?}", c.left[2]);
    }
}
