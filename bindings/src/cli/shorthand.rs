//! The aws CLI's shorthand syntax: `Key=Value,Key2=[a,b],Key3={Inner=x}`. A value that follows a
//! comma without a key of its own joins the previous key's value as a list (`Values=a,b`); quotes
//! (`'…'` or `"…"`) keep commas, brackets and equal signs in a value; spaces around keys and values
//! are dropped. The result is text, lists and keyed maps in the order written; the model's shapes
//! give the text its type afterwards (see `args`).

use serde_json::{Map, Value};

/// Parses `text` as a keyed shorthand structure, or says where it stops making sense.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser { s: text.chars().collect(), i: 0 };
    let v = p.keyvals(None)?;
    p.skip_space();
    if p.i < p.s.len() {
        return Err(p.error("expected a comma or the end"));
    }
    Ok(v)
}

struct Parser {
    s: Vec<char>,
    i: usize,
}

impl Parser {
    fn error(&self, what: &str) -> String {
        let text: String = self.s.iter().collect();
        format!("{what} at character {} of {text:?}", self.i + 1)
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }

    /// `key=value` pairs separated by commas, up to `close` (or the end of the text).
    fn keyvals(&mut self, close: Option<char>) -> Result<Value, String> {
        let mut m = Map::new();
        loop {
            self.skip_space();
            if close.is_some() && self.peek() == close {
                break;
            }
            let key = self.key()?;
            self.skip_space();
            if self.peek() != Some('=') {
                return Err(self.error(&format!("expected '=' after {key:?}")));
            }
            self.i += 1;
            let value = self.value_list(close)?;
            m.insert(key, value);
            self.skip_space();
            match self.peek() {
                Some(',') => self.i += 1,
                c if c == close => break,
                None => break,
                Some(_) => return Err(self.error("expected a comma")),
            }
        }
        Ok(Value::Object(m))
    }

    fn key(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || "-_.#/:@*".contains(c)) {
            self.i += 1;
        }
        if self.i == start {
            return Err(self.error("expected a key"));
        }
        Ok(self.s[start..self.i].iter().collect())
    }

    /// Whether a `key=` starts here (the next item is a new key, not another value of a list).
    fn key_follows(&self) -> bool {
        let mut j = self.i;
        while self.s.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        let start = j;
        while self.s.get(j).is_some_and(|&c| c.is_alphanumeric() || "-_.#/:@*".contains(c)) {
            j += 1;
        }
        while self.s.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        j > start && self.s.get(j) == Some(&'=')
    }

    /// A value, and the values after it that have no key of their own: `a` or `a,b,c`.
    fn value_list(&mut self, close: Option<char>) -> Result<Value, String> {
        let first = self.value(close)?;
        let mut more = Vec::new();
        loop {
            let save = self.i;
            self.skip_space();
            if self.peek() != Some(',') {
                self.i = save;
                break;
            }
            self.i += 1;
            if self.key_follows()
                || (close.is_some() && {
                    self.skip_space();
                    self.peek() == close
                })
            {
                self.i = save;
                break;
            }
            more.push(self.value(close)?);
        }
        if more.is_empty() {
            return Ok(first);
        }
        let mut all = vec![first];
        all.extend(more);
        Ok(Value::Array(all))
    }

    fn value(&mut self, close: Option<char>) -> Result<Value, String> {
        self.skip_space();
        match self.peek() {
            Some('[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(']') {
                        self.i += 1;
                        break;
                    }
                    items.push(self.value(Some(']'))?);
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.i += 1,
                        Some(']') => {}
                        _ => return Err(self.error("expected ',' or ']' in a list")),
                    }
                }
                Ok(Value::Array(items))
            }
            Some('{') => {
                self.i += 1;
                let v = self.keyvals(Some('}'))?;
                if self.peek() != Some('}') {
                    return Err(self.error("expected '}'"));
                }
                self.i += 1;
                Ok(v)
            }
            Some(q @ ('\'' | '"')) => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != q) {
                    self.i += 1;
                }
                if self.peek() != Some(q) {
                    return Err(self.error("a quote is not closed"));
                }
                let text: String = self.s[start..self.i].iter().collect();
                self.i += 1;
                Ok(Value::String(text))
            }
            _ => {
                let start = self.i;
                while self.peek().is_some_and(|c| c != ',' && Some(c) != close && c != ']' && c != '}') {
                    self.i += 1;
                }
                let text: String = self.s[start..self.i].iter().collect();
                Ok(Value::String(text.trim().to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn shorthand_reads_as_the_cli_reads_it() {
        for (text, want) in [
            ("Name=isDefault,Values=true", json!({"Name": "isDefault", "Values": "true"})),
            ("Name=x,Values=a,b", json!({"Name": "x", "Values": ["a", "b"]})),
            ("Name=x,Values=[a,b]", json!({"Name": "x", "Values": ["a", "b"]})),
            ("Key=c,Value='x,y'", json!({"Key": "c", "Value": "x,y"})),
            ("Key=a,Value=\"q=1,2\"", json!({"Key": "a", "Value": "q=1,2"})),
            ("Key=Name,Value=web server", json!({"Key": "Name", "Value": "web server"})),
            ("Name = x , Values = a", json!({"Name": "x", "Values": "a"})),
            (
                "awsvpcConfiguration={subnets=[s1,s2],securityGroups=[g],assignPublicIp=ENABLED}",
                json!({"awsvpcConfiguration": {"subnets": ["s1", "s2"], "securityGroups": ["g"], "assignPublicIp": "ENABLED"}}),
            ),
            (
                "Changes=[{Action=UPSERT,ResourceRecordSet={Name=a.example.com,TTL=60,ResourceRecords=[{Value=1.2.3.4}]}}]",
                json!({"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {"Name": "a.example.com", "TTL": "60", "ResourceRecords": [{"Value": "1.2.3.4"}]}}]}),
            ),
            ("a=,b=1", json!({"a": "", "b": "1"})),
        ] {
            assert_eq!(parse(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn broken_shorthand_says_where() {
        for text in ["Name", "Name=x,Values=[a", "Key='open", "a={b=1", "=x"] {
            let e = parse(text).unwrap_err();
            assert!(e.contains("at character"), "{text}: {e}");
        }
    }
}
