//! `print_table`: the aws CLI's `--output table` look. Scalars of an object form one row, a list of
//! objects one row each; nested objects and lists follow as sub-tables titled with their key.

use serde_json::Value;

pub fn render(v: &Value, title: Option<&str>) -> String {
    let mut out = String::new();
    render_into(v, title, &mut out);
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("None".into()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn render_into(v: &Value, title: Option<&str>, out: &mut String) {
    let mut headers: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut nested: Vec<(String, &Value)> = Vec::new();
    match v {
        Value::Object(m) => {
            let mut row = Vec::new();
            for (k, item) in m {
                match scalar(item) {
                    Some(s) => {
                        headers.push(k.clone());
                        row.push(s);
                    }
                    None => nested.push((k.clone(), item)),
                }
            }
            if !row.is_empty() {
                rows.push(row);
            }
        }
        Value::Array(items) if items.iter().all(|i| i.is_object()) && !items.is_empty() => {
            for item in items {
                if let Value::Object(m) = item {
                    for (k, x) in m {
                        if scalar(x).is_some() && !headers.contains(k) {
                            headers.push(k.clone());
                        }
                    }
                }
            }
            for item in items {
                if let Value::Object(m) = item {
                    rows.push(headers.iter().map(|h| m.get(h).and_then(scalar).unwrap_or_default()).collect());
                    for (k, x) in m {
                        if scalar(x).is_none() {
                            nested.push((k.clone(), x));
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match scalar(item) {
                    Some(s) => rows.push(vec![s]),
                    None => nested.push((title.unwrap_or_default().to_string(), item)),
                }
            }
        }
        other => rows.push(vec![scalar(other).unwrap_or_default()]),
    }
    draw(title, &headers, &rows, out);
    for (k, item) in nested {
        render_into(item, Some(&k), out);
    }
}

fn draw(title: Option<&str>, headers: &[String], rows: &[Vec<String>], out: &mut String) {
    let ncols = headers.len().max(rows.iter().map(Vec::len).max().unwrap_or(0));
    if ncols == 0 && title.is_none() {
        return;
    }
    let mut widths: Vec<usize> = (0..ncols)
        .map(|c| {
            let h = headers.get(c).map(|h| h.chars().count() + 2).unwrap_or(0);
            let cells = rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count() + 4).max().unwrap_or(0);
            h.max(cells)
        })
        .collect();
    let inner = |w: &[usize]| w.iter().sum::<usize>() + w.len().saturating_sub(1);
    let title_len = title.map(|t| t.chars().count() + 2).unwrap_or(0);
    if widths.is_empty() {
        widths.push(title_len);
    }
    if inner(&widths) < title_len {
        let extra = title_len - inner(&widths);
        if let Some(last) = widths.last_mut() {
            *last += extra;
        }
    }
    let total = inner(&widths);
    let rule: String = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(*w));
            s.push('+');
        }
        s
    };
    if let Some(t) = title {
        out.push_str(&format!("{}\n", "-".repeat(total + 2)));
        out.push_str(&format!("|{}|\n", center(t, total)));
    }
    if ncols == 0 {
        out.push_str(&format!("{}\n", "-".repeat(total + 2)));
        return;
    }
    out.push_str(&rule);
    out.push('\n');
    if !headers.is_empty() {
        out.push('|');
        for (h, w) in headers.iter().zip(&widths) {
            out.push_str(&center(h, *w));
            out.push('|');
        }
        out.push('\n');
        out.push_str(&rule);
        out.push('\n');
    }
    for row in rows {
        out.push('|');
        for (c, w) in widths.iter().enumerate() {
            let cell = row.get(c).map(String::as_str).unwrap_or("");
            let pad = w.saturating_sub(cell.chars().count() + 2);
            out.push_str(&format!("  {cell}{}|", " ".repeat(pad)));
        }
        out.push('\n');
    }
    out.push_str(&rule);
    out.push('\n');
}

fn center(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let left = (width - len) / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(width - len - left))
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
----------------------------------------------
|              DescribeServices              |
+--------------+--------------+--------------+
| desiredCount | pendingCount | runningCount |
+--------------+--------------+--------------+
|  3           |  0           |  3           |
+--------------+--------------+--------------+
";
        assert_eq!(t, expected);
    }

    #[test]
    fn a_list_of_scalars_is_one_column() {
        let t = render(&json!(["arn:a", "arn:bb"]), Some("ListTasks"));
        let expected = "\
-------------
| ListTasks |
+-----------+
|  arn:a    |
|  arn:bb   |
+-----------+
";
        assert_eq!(t, expected);
    }
}
