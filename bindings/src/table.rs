//! The aws CLI's `--output table` layout, for `print_table`, the REPL's `:format table` and
//! `runbook aws --output table`. A value becomes sections: an object's scalar members one row
//! under a header of their names (a single one as a name and value row), a list of objects one row
//! each under the names any of them has, a list of scalars one row each; each object or list
//! inside is a section of its own, titled with its key and drawn one level in (a border `|` more on
//! each side). The table is as wide as its widest section, each section's columns scaled to that
//! width; a table wider than the terminal (80 columns when output is not a terminal, `COLUMNS` when
//! set) draws each one-row section as name and value rows instead. Checked against the aws CLI by
//! `tests/e2e/aws_cli.rs`.

use serde_json::Value;

/// The table of `v`, under `title` (the CLI's is the operation's name); empty when `v` holds nothing.
pub fn render(v: &Value, title: Option<&str>) -> String {
    let mut sections = vec![Section::new(None, 0)];
    let top = sections.len() - 1;
    if !fill(v, title, 0, &mut sections, top) {
        return String::new();
    }
    let mut width = sections.iter().map(Section::width).max().unwrap_or(0);
    if width > terminal_width() {
        for s in sections.iter_mut().filter(|s| !s.headers.is_empty() && s.rows.len() == 1) {
            let row = s.rows.remove(0);
            s.rows = std::mem::take(&mut s.headers).into_iter().zip(row).map(|(h, v)| vec![h, v]).collect();
        }
        width = sections.iter().map(Section::width).max().unwrap_or(0);
    }
    let mut out = format!("{}\n", "-".repeat(width));
    for s in &sections {
        s.draw(width, &mut out);
    }
    out
}

/// A scalar as the table (and the text output) writes it: Python's `str` of the value the aws CLI
/// holds (`True`, `None`, a float with its `.0`).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => python_number(n),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number as Python writes it: a float keeps its `.0`.
pub fn python_number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (_, Some(u), _) => u.to_string(),
        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        _ => n.to_string(),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// The width of the terminal output goes to: `COLUMNS`, else the terminal's, else 80.
fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|n| *n > 0) {
        return n;
    }
    terminal_columns().unwrap_or(80)
}

#[cfg(unix)]
fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills the winsize it is given; a descriptor that is no terminal fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

#[cfg(not(unix))]
fn terminal_columns() -> Option<usize> {
    None
}

/// One titled part of a table.
struct Section {
    title: Option<String>,
    indent: usize,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Section {
    fn new(title: Option<&str>, indent: usize) -> Section {
        Section { title: title.map(str::to_string), indent, headers: Vec::new(), rows: Vec::new() }
    }

    /// Each column's widest text (its header's included).
    fn columns(&self) -> Vec<usize> {
        let count = self.headers.len().max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        (0..count)
            .map(|c| {
                let cells = self.rows.iter().filter_map(|r| r.get(c)).chain(self.headers.get(c));
                cells.map(|t| t.chars().count()).max().unwrap_or(0)
            })
            .collect()
    }

    /// The width this section needs: its columns with their padding, or its title, inside its
    /// borders and the borders of the sections it is in.
    fn width(&self) -> usize {
        let outer = 2 + 2 * self.indent;
        let cells: usize = self.columns().iter().map(|w| w + 4).sum();
        let title = self.title.as_ref().map(|t| t.chars().count()).unwrap_or(0);
        (cells + outer).max(title + outer)
    }

    fn draw(&self, table_width: usize, out: &mut String) {
        let width = table_width.saturating_sub(2 * self.indent);
        let edge = "|".repeat(self.indent);
        let mut line = |text: String| {
            out.push_str(&edge);
            out.push_str(&text);
            out.push_str(&edge);
            out.push('\n');
        };
        if let Some(t) = &self.title {
            line(centered(t, width, "|", "|"));
            if self.headers.is_empty() && self.rows.is_empty() {
                line(format!("+{}+", "-".repeat(width.saturating_sub(2))));
            }
        }
        if self.headers.is_empty() && self.rows.is_empty() {
            return;
        }
        let widths = scaled(&self.columns().iter().map(|w| w + 4).collect::<Vec<_>>(), width);
        let rule = || -> String {
            widths
                .iter()
                .enumerate()
                .map(|(i, w)| match i {
                    0 => format!("+{}+", "-".repeat(w.saturating_sub(2))),
                    _ => format!("{}+", "-".repeat(w.saturating_sub(1))),
                })
                .collect()
        };
        let left = |i: usize| if i == 0 { "|" } else { "" };
        if !self.headers.is_empty() {
            line(rule());
            line(
                widths.iter().zip(&self.headers).enumerate().map(|(i, (w, h))| centered(h, *w, left(i), "|")).collect(),
            );
        }
        if !self.rows.is_empty() {
            line(rule());
            for row in &self.rows {
                let cells = widths.iter().enumerate().map(|(i, w)| {
                    let text = row.get(i).map(String::as_str).unwrap_or("");
                    left_aligned(text, *w, left(i), "|")
                });
                line(cells.collect());
            }
            line(rule());
        }
    }
}

/// Text centred in a cell of `width` (edges included): it starts half the width in, less half
/// its length and one.
fn centered(text: &str, width: usize, left: &str, right: &str) -> String {
    let len = text.chars().count();
    let start = (width / 2).saturating_sub(len / 2 + 1);
    let used = left.len() + start + len + right.len();
    format!("{left}{}{text}{}{right}", " ".repeat(start), " ".repeat(width.saturating_sub(used)))
}

/// Text after two spaces (none when it would not fit), in a cell of `width` (edges included).
fn left_aligned(text: &str, width: usize, left: &str, right: &str) -> String {
    let len = text.chars().count();
    let pad = if width >= len + 2 + left.len() + right.len() { 2 } else { 0 };
    let used = left.len() + pad + len + right.len();
    format!("{left}{}{text}{}{right}", " ".repeat(pad), " ".repeat(width.saturating_sub(used)))
}

/// Column widths scaled to add up to `total`: each in proportion, rounded half to even, and the
/// difference the rounding leaves taken from the first columns or given to the last.
fn scaled(widths: &[usize], total: usize) -> Vec<usize> {
    let sum: usize = widths.iter().sum();
    if sum == 0 {
        return widths.to_vec();
    }
    let factor = total as f64 / sum as f64;
    let mut out: Vec<i64> = widths.iter().map(|w| round_half_even(*w as f64 * factor)).collect();
    let mut off: i64 = out.iter().sum::<i64>() - total as i64;
    while off != 0 {
        if off > 0 {
            for w in out.iter_mut() {
                *w -= 1;
                off -= 1;
                if off == 0 {
                    break;
                }
            }
        } else {
            for w in out.iter_mut().rev() {
                *w += 1;
                off += 1;
                if off == 0 {
                    break;
                }
            }
        }
    }
    out.into_iter().map(|w| usize::try_from(w).unwrap_or(0)).collect()
}

fn round_half_even(x: f64) -> i64 {
    let floor = x.floor();
    let rest = x - floor;
    let down = floor as i64;
    if rest > 0.5 || (rest == 0.5 && down % 2 != 0) {
        down + 1
    } else {
        down
    }
}

/// Adds `v` to the table: into the section at `current`, or under `title` in a section of its own
/// at `indent`. False when `v` holds nothing to show.
fn fill(v: &Value, title: Option<&str>, indent: usize, sections: &mut Vec<Section>, current: usize) -> bool {
    let empty = match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if empty {
        return false;
    }
    let mut at = current;
    if title.is_some() {
        sections.push(Section::new(title, indent));
        at = sections.len() - 1;
    }
    match v {
        Value::Object(m) => {
            let (scalars, nested) = split(m);
            match scalars.as_slice() {
                [] => {}
                [only] => sections[at].rows.push(vec![only.clone(), scalar_text(&m[only])]),
                many => {
                    sections[at].headers = many.to_vec();
                    sections[at].rows.push(many.iter().map(|k| scalar_text(&m[k])).collect());
                }
            }
            for k in nested {
                let next = sections.len() - 1;
                fill(&m[&k], Some(&k), indent + 1, sections, next);
            }
        }
        Value::Array(items) if items.first().is_some_and(Value::is_object) => {
            let mut headers: Vec<String> = Vec::new();
            let mut nested: Vec<String> = Vec::new();
            for m in items.iter().filter_map(Value::as_object) {
                let (s, n) = split(m);
                headers.extend(s);
                nested.extend(n);
            }
            headers.sort();
            headers.dedup();
            nested.sort();
            nested.dedup();
            sections[at].headers = headers.clone();
            for (i, item) in items.iter().enumerate() {
                let Some(m) = item.as_object() else { continue };
                if i > 0 && !nested.is_empty() {
                    sections.push(Section::new(title, indent));
                    at = sections.len() - 1;
                    sections[at].headers = headers.clone();
                }
                sections[at].rows.push(headers.iter().map(|h| m.get(h).map(scalar_text).unwrap_or_default()).collect());
                for k in nested.iter().filter(|k| m.contains_key(k.as_str())) {
                    let next = sections.len() - 1;
                    fill(&m[k.as_str()], Some(k), indent + 1, sections, next);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Array(inner) if inner.iter().all(is_scalar) => {
                        sections[at].rows.push(inner.iter().map(scalar_text).collect());
                    }
                    x if is_scalar(x) => sections[at].rows.push(vec![scalar_text(x)]),
                    x => {
                        let last = sections.len() - 1;
                        fill(x, None, indent, sections, last);
                    }
                }
            }
        }
        _ => {}
    }
    true
}

/// An object's keys, sorted: those of scalar values, then the others.
fn split(m: &serde_json::Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let (s, n): (Vec<&String>, Vec<&String>) = keys.into_iter().partition(|k| is_scalar(&m[k.as_str()]));
    (s.into_iter().cloned().collect(), n.into_iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_of_scalars_is_one_row() {
        let v = json!({"desiredCount": 3, "pendingCount": 0, "runningCount": 3});
        let t = render(&v, Some("DescribeServices"));
        let expected = "\
--------------------------------------------------
|                DescribeServices                |
+--------------+----------------+----------------+
| desiredCount | pendingCount   | runningCount   |
+--------------+----------------+----------------+
|  3           |  0             |  3             |
+--------------+----------------+----------------+
";
        assert_eq!(t, expected);
    }

    #[test]
    fn a_list_of_scalars_is_one_column() {
        let t = render(&json!(["arn:a", "arn:bb"]), Some("ListTasks"));
        let expected = "\
------------
| ListTasks|
+----------+
|  arn:a   |
|  arn:bb  |
+----------+
";
        assert_eq!(t, expected);
    }
}
