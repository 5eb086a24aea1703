//! The bash `import` reads: logical lines (continuations joined, comments apart) split into words
//! of literal text, variables (`$X`, `${X}`, `${X:-default}`) and command substitutions (`$(…)`),
//! and the operators between commands (`|`, `&&`, `||`, `;`, redirections).

/// One part of a word.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    /// A variable, with the default of `${X:-default}`.
    Var(String, Option<String>),
    /// `$(…)`: the command inside, as written.
    Sub(String),
}

/// A word: its parts, and whether any of it was quoted (a quoted empty word is still a word).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Word {
    pub parts: Vec<Part>,
    pub quoted: bool,
}

impl Word {
    /// The word's text when it is literal throughout.
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(t) => s.push_str(t),
                _ => return None,
            }
        }
        Some(s)
    }
}

/// A token of a command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Word(Word),
    /// `|`, `||`, `&&`, `;`, `&`.
    Op(String),
    /// A redirection: its operator (`>`, `>>`, `&>`, `2>`, `2>&1`, `<`) and target.
    Redirect(String, String),
}

/// A logical line: its first line number in the file and its text, continuations joined.
#[derive(Debug, Clone)]
pub struct Line {
    pub number: usize,
    pub text: String,
}

/// Joins lines that end in a backslash with the next, and keeps `$(…)` and quotes that span lines
/// together.
pub fn logical_lines(source: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in source.lines().enumerate() {
        if current.is_empty() {
            start = i + 1;
        }
        if let Some(body) = line.strip_suffix('\\') {
            current.push_str(body);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        if open_quote(&current) {
            current.push('\n');
            continue;
        }
        out.push(Line { number: start, text: std::mem::take(&mut current) });
    }
    if !current.is_empty() {
        out.push(Line { number: start, text: current });
    }
    out
}

/// Whether a quote or `$(` is still open at the end of the text.
fn open_quote(text: &str) -> bool {
    let mut single = false;
    let mut double = false;
    let mut depth = 0i32;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if !single => i += 1,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '$' if !single && chars.get(i + 1) == Some(&'(') => {
                depth += 1;
                i += 1;
            }
            // A `$(…)` opened inside double quotes closes inside them too.
            ')' if !single && depth > 0 => depth -= 1,
            '#' if !single && !double && depth == 0 && (i == 0 || chars[i - 1].is_whitespace()) => return false,
            _ => {}
        }
        i += 1;
    }
    single || double || depth > 0
}

/// A line's tokens and its trailing comment, or why the line cannot be read.
pub fn tokens(text: &str) -> Result<(Vec<Token>, Option<String>), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut word = Word::default();
    let mut lit = String::new();
    let mut i = 0;
    let flush_lit = |word: &mut Word, lit: &mut String| {
        if !lit.is_empty() {
            word.parts.push(Part::Lit(std::mem::take(lit)));
        }
    };
    let end_word = |tokens: &mut Vec<Token>, word: &mut Word, lit: &mut String| {
        flush_lit(word, lit);
        if !word.parts.is_empty() || word.quoted {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => {
                end_word(&mut tokens, &mut word, &mut lit);
                i += 1;
            }
            '#' if word.parts.is_empty() && lit.is_empty() && !word.quoted => {
                end_word(&mut tokens, &mut word, &mut lit);
                let comment: String = chars[i + 1..].iter().collect();
                return Ok((tokens, Some(comment.trim().to_string())));
            }
            '\'' => {
                word.quoted = true;
                let end = chars[i + 1..].iter().position(|&x| x == '\'').ok_or("a ' is not closed")?;
                lit.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                word.quoted = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() && "\"\\$`".contains(chars[i + 1]) {
                        lit.push(chars[i + 1]);
                        i += 2;
                    } else if chars[i] == '$' {
                        flush_lit(&mut word, &mut lit);
                        let (part, next) = dollar(&chars, i)?;
                        word.parts.push(part);
                        i = next;
                    } else if chars[i] == '`' {
                        return Err("backquotes `…` (use $(…))".into());
                    } else {
                        lit.push(chars[i]);
                        i += 1;
                    }
                }
                if i >= chars.len() {
                    return Err("a \" is not closed".into());
                }
                i += 1;
            }
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    lit.push(n);
                }
                i += 2;
            }
            '$' => {
                flush_lit(&mut word, &mut lit);
                let (part, next) = dollar(&chars, i)?;
                word.parts.push(part);
                i = next;
            }
            '`' => return Err("backquotes `…` (use $(…))".into()),
            '|' | ';' | '&' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if two == "&>" {
                    end_word(&mut tokens, &mut word, &mut lit);
                    let (target, next) = redirect_target(&chars, i + 2);
                    tokens.push(Token::Redirect("&>".into(), target));
                    i = next;
                    continue;
                }
                end_word(&mut tokens, &mut word, &mut lit);
                let op = if two == "||" || two == "&&" { two } else { c.to_string() };
                i += op.len();
                tokens.push(Token::Op(op));
            }
            '>' | '<' => {
                // A file descriptor just before (`2>`) belongs to the redirection.
                let mut op = String::new();
                if word.parts.is_empty() && (lit == "1" || lit == "2") {
                    op = std::mem::take(&mut lit);
                }
                end_word(&mut tokens, &mut word, &mut lit);
                op.push(c);
                i += 1;
                if c == '>' && chars.get(i) == Some(&'>') {
                    op.push('>');
                    i += 1;
                }
                if chars.get(i) == Some(&'&') {
                    op.push('&');
                    i += 1;
                }
                let (target, next) = redirect_target(&chars, i);
                tokens.push(Token::Redirect(op, target));
                i = next;
            }
            '(' | ')' | '{' | '}' if word.parts.is_empty() && lit.is_empty() && !word.quoted => {
                return Err(format!("a subshell or group `{c}`"));
            }
            _ => {
                lit.push(c);
                i += 1;
            }
        }
    }
    end_word(&mut tokens, &mut word, &mut lit);
    Ok((tokens, None))
}

fn redirect_target(chars: &[char], mut i: usize) -> (String, usize) {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let start = i;
    while i < chars.len() && !chars[i].is_whitespace() && !";|&".contains(chars[i]) {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}

/// `$X`, `${X}`, `${X:-default}` or `$(…)` starting at `i` (the `$`): the part and where it ends.
fn dollar(chars: &[char], i: usize) -> Result<(Part, usize), String> {
    match chars.get(i + 1) {
        Some('(') => {
            let mut depth = 1;
            let mut j = i + 2;
            let mut single = false;
            let mut double = false;
            while j < chars.len() {
                match chars[j] {
                    '\'' if !double => single = !single,
                    '"' if !single => double = !double,
                    '(' if !single && !double => depth += 1,
                    ')' if !single && !double => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err("a $( is not closed".into());
            }
            Ok((Part::Sub(chars[i + 2..j].iter().collect()), j + 1))
        }
        Some('{') => {
            let end = chars[i + 2..].iter().position(|&c| c == '}').ok_or("a ${ is not closed")? + i + 2;
            let inner: String = chars[i + 2..end].iter().collect();
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (inner.clone(), None),
            };
            if !is_name(&name) {
                return Err(format!("the expansion ${{{inner}}}"));
            }
            Ok((Part::Var(name, default), end + 1))
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            Ok((Part::Var(chars[i + 1..j].iter().collect(), None), j))
        }
        Some(c) => Err(format!("the special variable ${c}")),
        None => Ok((Part::Lit("$".into()), i + 1)),
    }
}

/// Whether a text is a shell variable name.
pub fn is_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A word as a shell reads it back: as it is when it holds nothing the shell would read, else in
/// single quotes.
pub fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        tokens(text).unwrap().0
    }

    #[test]
    fn words_variables_and_substitutions_are_told_apart() {
        let t = words(r#"X=$(aws ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text) # the VPC"#);
        assert_eq!(t.len(), 1);
        let Token::Word(w) = &t[0] else { panic!("{t:?}") };
        assert_eq!(w.parts[0], Part::Lit("X=".into()));
        assert!(matches!(&w.parts[1], Part::Sub(s) if s.contains("--query 'Vpcs[0].VpcId'")));
        let t = words(r#"echo "at http://$DNS and ${WAIT:-20}" > /dev/null 2>&1"#);
        assert_eq!(t.len(), 4, "{t:?}");
        let Token::Word(w) = &t[1] else { panic!() };
        assert_eq!(
            w.parts,
            vec![
                Part::Lit("at http://".into()),
                Part::Var("DNS".into(), None),
                Part::Lit(" and ".into()),
                Part::Var("WAIT".into(), Some("20".into()))
            ]
        );
        assert_eq!(t[2], Token::Redirect(">".into(), "/dev/null".into()));
        assert_eq!(t[3], Token::Redirect("2>&".into(), "1".into()));
        let t = words("if ! aws iam get-role --role-name R &> /dev/null; then");
        assert!(t.contains(&Token::Redirect("&>".into(), "/dev/null".into())) && t.contains(&Token::Op(";".into())));
    }

    #[test]
    fn continuations_and_open_quotes_make_one_line() {
        let lines = logical_lines("a \\\n  b\nc '{\n\"x\": 1}'\nd");
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, vec!["a    b", "c '{\n\"x\": 1}'", "d"]);
        assert_eq!(lines.iter().map(|l| l.number).collect::<Vec<_>>(), vec![1, 3, 5]);
    }
}
