//! Rhai values ⇄ JSON, for `to_json`, `query` and waiters.

use base64::Engine as _;
use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

/// A script map as JSON, without copying it into a `Dynamic` first.
pub fn map_to_value(m: &Map) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_value(v))).collect())
}

/// Calls `f` with every string inside `v`, however deeply nested in arrays and maps.
pub fn for_each_string(v: &Dynamic, f: &mut impl FnMut(&str)) {
    if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
        f(s.as_str());
    } else if let Some(a) = v.read_lock::<Array>() {
        a.iter().for_each(|x| for_each_string(x, f));
    } else if let Some(m) = v.read_lock::<Map>() {
        m.values().for_each(|x| for_each_string(x, f));
    }
}

/// [`for_each_string`] over the values of a map.
pub fn for_each_string_in(m: &Map, f: &mut impl FnMut(&str)) {
    m.values().for_each(|x| for_each_string(x, f));
}

pub fn to_value(v: &Dynamic) -> Value {
    if v.is_unit() {
        Value::Null
    } else if let Ok(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = v.as_int() {
        Value::Number(i.into())
    } else if let Ok(f) = v.as_float() {
        Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
    } else if let Some(a) = v.read_lock::<Array>() {
        Value::Array(a.iter().map(to_value).collect())
    } else if let Some(m) = v.read_lock::<Map>() {
        map_to_value(&m)
    } else if v.is_blob() {
        let bytes = v.clone().into_blob().unwrap_or_default();
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        Value::String(v.to_string())
    }
}

pub fn from_value(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => Dynamic::from_array(a.iter().map(from_value).collect()),
        Value::Object(m) => Dynamic::from_map(m.iter().map(|(k, v)| (k.as_str().into(), from_value(v))).collect()),
    }
}

/// Pretty JSON with four-space indents, like the aws CLI's output.
pub fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    match serde::Serialize::serialize(v, &mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(e) => format!("<unprintable: {e}>"),
    }
}

/// JMESPath's built-in functions as the specification defines them: `avg([])` is null (the
/// jmespath crate's own divides by zero and fails).
static RUNTIME: std::sync::LazyLock<jmespath::Runtime> = std::sync::LazyLock::new(|| {
    use jmespath::functions::{ArgumentType, CustomFunction, Signature};
    let mut rt = jmespath::Runtime::new();
    rt.register_builtin_functions();
    let numbers = Signature::new(vec![ArgumentType::TypedArray(Box::new(ArgumentType::Number))], None);
    let avg = CustomFunction::new(
        numbers,
        Box::new(|args, _| {
            let values: Vec<f64> =
                args.first().and_then(|a| a.as_array()).into_iter().flatten().filter_map(|v| v.as_number()).collect();
            let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
            let number = mean.and_then(serde_json::Number::from_f64);
            Ok(jmespath::Rcvar::new(number.map(jmespath::Variable::Number).unwrap_or(jmespath::Variable::Null)))
        }),
    );
    rt.register_function("avg", Box::new(avg));
    rt
});

/// Evaluates a JMESPath expression the way `aws ... --query` does.
pub fn query(v: &Value, expr: &str) -> Result<Value, String> {
    let compiled = compile_query(expr)?;
    let found = compiled.search(v).map_err(|e| format!("query {expr:?} failed: {}", first_line(&e)))?;
    serde_json::to_value(&*found).map_err(|e| format!("query {expr:?}: {e}"))
}

/// Reads a JMESPath expression without applying it: whether it is one, as the aws CLI reads
/// `--query` before it sends anything.
pub fn check_query(expr: &str) -> Result<(), String> {
    compile_query(expr).map(|_| ())
}

fn compile_query(expr: &str) -> Result<jmespath::Expression<'static>, String> {
    RUNTIME.compile(&legacy_literals(expr)).map_err(|e| format!("invalid query {expr:?}: {}", first_line(&e)))
}

fn first_line(e: &jmespath::JmespathError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// The aws CLI (through jmespath.py) still accepts the old literal form `` `foo` `` whose content is not
/// JSON, reading it as the string "foo"; the seed tutorial's own queries rely on it. Rewrites such
/// literals to JSON strings so they mean the same here.
fn legacy_literals(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len() + 8);
    let mut chars = expr.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), '\\') => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
                let _ = q;
            }
            (Some(q), c) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '`') => {
                let mut lit = String::new();
                while let Some(n) = chars.next() {
                    match n {
                        '\\' if chars.peek() == Some(&'`') => {
                            lit.push('`');
                            chars.next();
                        }
                        '`' => break,
                        n => lit.push(n),
                    }
                }
                if serde_json::from_str::<Value>(lit.trim()).is_ok() {
                    out.push('`');
                    out.push_str(&lit.replace('`', "\\`"));
                    out.push('`');
                } else {
                    let json = Value::String(lit.trim_start().to_string()).to_string();
                    out.push('`');
                    out.push_str(&json.replace('`', "\\`"));
                    out.push('`');
                }
            }
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_queries() {
        let v = json!({"LoadBalancers": [{"DNSName": "a.example", "Port": 80, "Up": true}]});
        let d = from_value(&v);
        assert_eq!(to_value(&d), v);
        assert_eq!(query(&v, "LoadBalancers[0].DNSName").unwrap(), json!("a.example"));
        assert!(query(&v, "LoadBalancers[").unwrap_err().contains("invalid query"));
    }

    #[test]
    fn legacy_literals_read_as_strings_like_the_aws_cli() {
        let v = json!({"details": [{"name": "privateIPv4Address", "value": "10.0.0.5"}, {"name": "x", "value": "y"}]});
        // What jmespath.py (the aws CLI) answers for both: `[0]` applies to each projected string.
        assert_eq!(query(&v, "details[?name==`privateIPv4Address`].value[0]").unwrap(), json!([]));
        assert_eq!(query(&v, "details[?name==`privateIPv4Address`].value | [0]").unwrap(), json!("10.0.0.5"));
        assert_eq!(legacy_literals("a[?b==`1`]"), "a[?b==`1`]");
        assert_eq!(legacy_literals("a[?b=='`x`']"), "a[?b=='`x`']");
        assert_eq!(legacy_literals("a[?b==`foo`]"), "a[?b==`\"foo\"`]");
    }
}
