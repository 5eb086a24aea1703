//! A parameter's allowed values, as `param(name, default, allowed)` writes them: an array of values
//! or an integer range. Read from the runbook's text without running it, so that `params` lists
//! them, `check` finds a default they leave out, and `--set` refuses a value before anything runs.

use super::Read;
use rhai::Dynamic;

/// The value `text` (an allowed-values argument) evaluates to: an array or an integer range. The
/// text must be a literal: a value computed from the run is known only when it runs.
pub fn allowed_value(text: &str) -> Result<Dynamic, String> {
    let mut engine = rhai::Engine::new();
    engine.set_max_operations(10_000);
    engine.on_print(|_| {});
    let literal = || format!("the allowed values {text} are not a literal array or integer range");
    let value = engine.eval_expression::<Dynamic>(text).map_err(|_| literal())?;
    let fits = value.is_array()
        || value.is::<std::ops::Range<rhai::INT>>()
        || value.is::<std::ops::RangeInclusive<rhai::INT>>();
    if fits {
        Ok(value)
    } else {
        Err(literal())
    }
}

/// Whether `value` is one `read` allows; `from` says where the value came from.
pub fn check(read: &Read, value: &Dynamic, from: &str) -> Result<(), String> {
    let Some(text) = read.allowed.as_deref() else { return Ok(()) };
    let allowed = allowed_value(text)?;
    runbook_bindings::helpers::allowed_param(&read.name, value, &allowed, from)
}

/// The allowed values of `read` as `runbook params` shows them: `cpu|memory` or `2..=10`.
pub fn shown(read: &Read) -> Option<String> {
    let text = read.allowed.as_deref()?;
    let Ok(value) = allowed_value(text) else { return Some(text.to_string()) };
    match value.clone().try_cast::<rhai::Array>() {
        Some(items) => Some(items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("|")),
        None => Some(text.split_whitespace().collect()),
    }
}

/// The default's value, when its text is a literal (what `check` compares with the allowed values).
pub fn default_value(read: &Read) -> Option<Dynamic> {
    let text = read.default.as_deref()?;
    rhai::Engine::new().eval_expression::<Dynamic>(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(default: &str, allowed: &str) -> Read {
        Read {
            name: "n".into(),
            default: Some(default.into()),
            allowed: Some(allowed.into()),
            file: "a.rhai".into(),
            line: 1,
            offset: 0,
        }
    }

    #[test]
    fn allowed_values_are_read_from_the_text() {
        let r = read("\"cpu\"", "[\"cpu\", \"memory\"]");
        assert_eq!(shown(&r).unwrap(), "cpu|memory");
        assert!(check(&r, &Dynamic::from("memory"), "").is_ok());
        assert!(check(&r, &Dynamic::from("gpu"), "").unwrap_err().contains("not one of cpu, memory"));
        let r = read("3", "2 ..= 10");
        assert_eq!(shown(&r).unwrap(), "2..=10");
        assert!(check(&r, &Dynamic::from_int(1), "").unwrap_err().contains("outside 2..=10"));
        assert_eq!(default_value(&r).unwrap().as_int().unwrap(), 3);
        let r = read("1", "limits()");
        assert!(allowed_value("limits()").unwrap_err().contains("not a literal array or integer range"));
        assert!(check(&r, &Dynamic::from_int(1), "").is_err());
        assert!(allowed_value("\"a\"").is_err());
    }
}
