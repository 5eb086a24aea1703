//! Script helpers beside the AWS modules: `query`, `to_json`, `from_json`, `print_table`, `param`,
//! `env`, `sleep`, and the logging helpers `info`, `warn`, `step`.

use crate::at;
use crate::json;
use crate::runtime::Context;
use crate::table;
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, ImmutableString, Map, NativeCallContext, Position, INT};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

/// (signature, what it does) of every helper; `runbook help` prints this list.
pub const HELPERS: &[(&str, &str)] = &[
    (
        "query(value, expr)",
        "JMESPath query, with the same results as the aws CLI's --query; () when nothing matches; also value.query(expr)",
    ),
    ("to_json(value)", "the value as pretty JSON text (four-space indents, like the aws CLI)"),
    ("from_json(text)", "parses JSON text into maps, arrays, strings and numbers"),
    ("print_table(value)", "prints the value in the aws CLI's table layout"),
    ("print_table(value, title)", "the same, under a title row"),
    ("param(name)", "the runbook parameter given with --set name=value; an error when it is missing"),
    (
        "param(name, default)",
        "the parameter, converted to the type of default (integer, float, bool, string, array), or default",
    ),
    (
        "param(name, default, allowed)",
        "the same, limited to an array of values ([\"cpu\", \"memory\"]) or an integer range (2..=10)",
    ),
    ("env(name)", "the environment variable, or () when it is not set"),
    (
        "read_file(path)",
        "a local file's text (a path relative to the current folder, as the aws CLI's file://); only files \
         inside the runbook's folder or the current folder, or a path given with --set",
    ),
    ("sleep(seconds)", "pauses (integer or float seconds); Ctrl-C interrupts it"),
    (
        "days_until(timestamp)",
        "days from now until a timestamp as AWS answers them (2027-05-01T12:00:00+00:00); negative once it has passed",
    ),
    ("target()", "where calls go: #{ account, region, profile } (the account asked of STS once)"),
    ("with_region(region, block)", "runs the closure || { ... } with its calls in another region; undo goes there too"),
    (
        "with_target(target, block)",
        "the same in another account: target is #{ account, role, region }, the role assumed in that account",
    ),
    ("ec2_tags(type, tags)", "TagSpecifications for an EC2 create: a map of tags, or just the Name as a string"),
    ("ec2_named(type, name)", "the live EC2 resource of that type whose Name tag is name, or () when there is none"),
    ("ec2_named(type, name, filters)", "the same, narrowed by describe filters: #{ \"vpc-id\": vpc }"),
    ("info(message)", "prints a log line to stderr"),
    ("warn(message)", "prints a warning line to stderr"),
    ("step(message)", "prints a step heading to stdout"),
];

/// Days from `now` until the ISO-8601 timestamp `t` (fractional; negative when it has passed).
fn days_until(t: &str, now: std::time::SystemTime) -> Result<f64, String> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let parsed = DateTime::from_str(t, Format::DateTime)
        .or_else(|_| DateTime::from_str(&t.replace("+00:00", "Z"), Format::DateTime))
        .map_err(|_| format!("days_until: {t:?} is not a timestamp (expected 2027-05-01T12:00:00+00:00)"))?;
    let now = DateTime::from(now);
    let secs =
        (parsed.secs() - now.secs()) as f64 + (f64::from(parsed.subsec_nanos()) - f64::from(now.subsec_nanos())) / 1e9;
    Ok(secs / 86_400.0)
}

/// A script error with the message alone; `at` places it at the call.
pub(crate) fn runtime_error(msg: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(msg.into(), Position::NONE).into()
}

/// Whether a parameter's value is one its runbook allows: `allowed` is an array of the allowed
/// values, or an integer range (`1..=10`, `0..100`) that numbers must fall in. An array value is
/// checked element by element. `Err` says what is allowed; `from` names where the value came from.
pub fn allowed_param(name: &str, value: &Dynamic, allowed: &Dynamic, from: &str) -> Result<(), String> {
    if let Some(items) = value.clone().try_cast::<Array>() {
        return items.iter().try_for_each(|v| allowed_param(name, v, allowed, from));
    }
    let shown = if value.is_string() { format!("{:?}", value.to_string()) } else { value.to_string() };
    let number = value.as_int().map(|i| i as f64).or_else(|_| value.as_float());
    let range = |lo: INT, hi: INT, text: String| -> Result<(), String> {
        match number {
            Ok(n) if n >= lo as f64 && n <= hi as f64 => Ok(()),
            Ok(_) => Err(format!("parameter {name}: {shown} is outside {text}{from}")),
            Err(_) => Err(format!("parameter {name}: {shown} is not a number in {text}{from}")),
        }
    };
    if let Some(r) = allowed.clone().try_cast::<std::ops::Range<INT>>() {
        return range(r.start, r.end - 1, format!("{}..{}", r.start, r.end));
    }
    if let Some(r) = allowed.clone().try_cast::<std::ops::RangeInclusive<INT>>() {
        return range(*r.start(), *r.end(), format!("{}..={}", r.start(), r.end()));
    }
    let Some(choices) = allowed.clone().try_cast::<Array>() else {
        return Err(format!(
            "parameter {name}: its allowed values must be an array or an integer range, not {}",
            allowed.type_name()
        ));
    };
    let same = |c: &Dynamic| match (number, c.as_int().map(|i| i as f64).or_else(|_| c.as_float())) {
        (Ok(a), Ok(b)) => a == b,
        _ => c.type_name() == value.type_name() && c.to_string() == value.to_string(),
    };
    if choices.iter().any(same) {
        return Ok(());
    }
    let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
    Err(format!("parameter {name}: {shown} is not one of {}{from}", list.join(", ")))
}

/// Converts a `--set` value to the type of the runbook's default.
pub fn typed_param(name: &str, raw: &str, default: &Dynamic) -> Result<Dynamic, String> {
    let bad = |what: &str| format!("parameter {name}: expected {what}, got {raw:?} (from --set {name}={raw})");
    if default.is_int() {
        raw.trim().parse::<INT>().map(Dynamic::from_int).map_err(|_| bad("an integer"))
    } else if default.is_float() {
        raw.trim().parse::<f64>().map(Dynamic::from_float).map_err(|_| bad("a number"))
    } else if default.is_bool() {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true.into()),
            "false" | "no" | "0" | "off" => Ok(false.into()),
            _ => Err(bad("true or false")),
        }
    } else if default.is_array() {
        Ok(raw
            .split(',')
            .map(|s| Dynamic::from(s.trim().to_string()))
            .filter(|s| !s.to_string().is_empty())
            .collect::<Vec<_>>()
            .into())
    } else {
        Ok(raw.into())
    }
}

pub fn register(engine: &mut Engine, ctx: Rc<Context>, used_params: Rc<RefCell<BTreeSet<String>>>) {
    engine.register_fn(
        "query",
        |nc: NativeCallContext, v: Dynamic, expr: &str| -> Result<Dynamic, Box<EvalAltResult>> {
            json::query(&json::to_value(&v), expr).map(|r| json::from_value(&r)).map_err(|e| at(runtime_error(e), &nc))
        },
    );
    // Typed overloads too: Rhai's own `to_json` for maps would otherwise win over a Dynamic one.
    let shown = |v: &Dynamic| json::pretty(&json::to_value(&crate::secrets::masked(v)));
    engine.register_fn("to_json", move |v: Dynamic| -> String { shown(&v) });
    engine.register_fn("to_json", move |v: Map| -> String { shown(&v.into()) });
    engine.register_fn("to_json", move |v: Array| -> String { shown(&v.into()) });
    // Printing a result (print, debug, `${..}`) shows members the model marks sensitive as
    // <sensitive>, whole; the script still holds the values.
    for name in ["print", "to_string"] {
        engine.register_fn(name, |v: Map| -> String { crate::secrets::masked(&v.into()).to_string() });
        engine.register_fn(name, |v: Array| -> String { crate::secrets::masked(&v.into()).to_string() });
    }
    for name in ["debug", "to_debug"] {
        engine.register_fn(name, |v: Map| -> String { format!("{:?}", crate::secrets::masked(&v.into())) });
        engine.register_fn(name, |v: Array| -> String { format!("{:?}", crate::secrets::masked(&v.into())) });
    }
    engine.register_fn("from_json", |nc: NativeCallContext, text: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        serde_json::from_str::<serde_json::Value>(text)
            .map(|v| json::from_value(&v))
            .map_err(|e| at(runtime_error(format!("from_json: invalid JSON: {e}")), &nc))
    });
    engine.register_fn("days_until", |nc: NativeCallContext, t: &str| -> Result<f64, Box<EvalAltResult>> {
        days_until(t, std::time::SystemTime::now()).map_err(|e| at(runtime_error(e), &nc))
    });
    engine.register_fn("print_table", |v: Dynamic| {
        out!("{}", crate::secrets::redact(&table::render(&json::to_value(&crate::secrets::masked(&v)), None)));
    });
    engine.register_fn("print_table", |v: Dynamic, title: &str| {
        let shown = json::to_value(&crate::secrets::masked(&v));
        out!("{}", crate::secrets::redact(&table::render(&shown, Some(title))));
    });

    let (c, used) = (ctx.clone(), used_params.clone());
    engine.register_fn("param", move |nc: NativeCallContext, name: &str| -> Result<Dynamic, Box<EvalAltResult>> {
        used.borrow_mut().insert(name.to_string());
        c.params
            .get(name)
            .map(|v| Dynamic::from(v.clone()))
            .ok_or_else(|| at(runtime_error(format!("missing parameter {name}: pass --set {name}=VALUE")), &nc))
    });
    let (c, used) = (ctx.clone(), used_params.clone());
    engine.register_fn(
        "param",
        move |nc: NativeCallContext, name: &str, default: Dynamic| -> Result<Dynamic, Box<EvalAltResult>> {
            used.borrow_mut().insert(name.to_string());
            match c.params.get(name) {
                Some(raw) => typed_param(name, raw, &default).map_err(|e| at(runtime_error(e), &nc)),
                None => Ok(default),
            }
        },
    );
    // `param(name, default, allowed)`: the value the run takes, given or default, must be allowed.
    let (c, used) = (ctx.clone(), used_params);
    engine.register_fn(
        "param",
        move |nc: NativeCallContext,
              name: &str,
              default: Dynamic,
              allowed: Dynamic|
              -> Result<Dynamic, Box<EvalAltResult>> {
            used.borrow_mut().insert(name.to_string());
            let Some(raw) = c.params.get(name) else {
                allowed_param(name, &default, &allowed, " (its default)").map_err(|e| at(runtime_error(e), &nc))?;
                return Ok(default);
            };
            let value = typed_param(name, raw, &default).map_err(|e| at(runtime_error(e), &nc))?;
            allowed_param(name, &value, &allowed, &format!(" (from --set {name}={raw})"))
                .map_err(|e| at(runtime_error(e), &nc))?;
            Ok(value)
        },
    );

    let c = ctx.clone();
    engine.register_fn("read_file", move |nc: NativeCallContext, path: &str| -> Result<String, Box<EvalAltResult>> {
        let allowed = readable(&c, path).map_err(|e| at(runtime_error(format!("read_file: {e}")), &nc))?;
        std::fs::read_to_string(allowed)
            .map_err(|e| at(runtime_error(format!("read_file: cannot read {path}: {e}")), &nc))
    });
    engine.register_fn("env", |name: &str| -> Dynamic {
        std::env::var(name).map(Dynamic::from).unwrap_or(Dynamic::UNIT)
    });
    let c = ctx.clone();
    engine.register_fn("sleep", move |nc: NativeCallContext, secs: INT| -> Result<(), Box<EvalAltResult>> {
        sleep(&c, secs as f64).map_err(|e| at(e, &nc))
    });
    let c = ctx.clone();
    engine.register_fn("sleep", move |nc: NativeCallContext, secs: f64| -> Result<(), Box<EvalAltResult>> {
        sleep(&c, secs).map_err(|e| at(e, &nc))
    });

    let c = ctx.clone();
    engine.register_fn("target", move |nc: NativeCallContext| -> Result<Map, Box<EvalAltResult>> {
        // A fleet names each target's account; a single run asks STS.
        let account = match std::env::var("RUNBOOK_TARGET_ACCOUNT").ok().filter(|a| !a.is_empty()) {
            Some(a) if c.away().is_none() => a,
            _ => c.account().map_err(|e| at(crate::to_script_error(&e), &nc))?,
        };
        let text = |v: Option<String>| v.map(Dynamic::from).unwrap_or(Dynamic::UNIT);
        let mut m = Map::new();
        m.insert("account".into(), account.into());
        m.insert("region".into(), text(c.place().region().map(str::to_string)));
        m.insert("profile".into(), text(c.credentials.profile().map(str::to_string)));
        m.insert("credentials".into(), c.credentials.text().into());
        Ok(m)
    });

    let c = ctx.clone();
    engine.register_fn(
        "with_region",
        move |nc: NativeCallContext, region: &str, block: FnPtr| -> Result<Dynamic, Box<EvalAltResult>> {
            elsewhere(&c, &nc, Some(region), None, &block)
        },
    );
    let c = ctx.clone();
    engine.register_fn(
        "with_target",
        move |nc: NativeCallContext, target: Map, block: FnPtr| -> Result<Dynamic, Box<EvalAltResult>> {
            let text = |k: &str| target.get(k).filter(|v| !v.is_unit()).map(Dynamic::to_string);
            for k in target.keys() {
                if !["account", "role", "region"].contains(&k.as_str()) {
                    return Err(at(
                        runtime_error(format!("with_target: unknown key {k} (valid: account, role, region)")),
                        &nc,
                    ));
                }
            }
            let role = match (text("role"), text("account")) {
                (Some(r), _) if r.starts_with("arn:") => Some(r),
                (Some(r), Some(a)) => Some(format!("arn:aws:iam::{a}:role/{r}")),
                (Some(_), None) => {
                    return Err(at(runtime_error("with_target: a role name needs the account it is in".into()), &nc))
                }
                (None, Some(_)) => {
                    return Err(at(runtime_error("with_target: an account needs the role to assume there".into()), &nc))
                }
                (None, None) => None,
            };
            elsewhere(&c, &nc, text("region").as_deref(), role.as_deref(), &block)
        },
    );

    // During a plan nothing was written: the runbook's own log lines say so.
    let planned = move || ctx.hooks.log_mark();
    let p = planned.clone();
    engine.register_fn("info", move |msg: ImmutableString| eoutln!("[info] {}{}", p(), crate::secrets::redact(&msg)));
    let p = planned.clone();
    engine.register_fn("warn", move |msg: ImmutableString| eoutln!("[warn] {}{}", p(), crate::secrets::redact(&msg)));
    engine.register_fn("step", move |msg: ImmutableString| outln!("==> {}{}", planned(), crate::secrets::redact(&msg)));
}

/// The file `read_file(path)` may read: one inside the runbook's folder or the current folder, or
/// one whose path the command line gave as a `--set` value. Links are followed before the check,
/// so a link cannot lead out.
fn readable(ctx: &Context, path: &str) -> Result<std::path::PathBuf, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut folders = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        folders.push(cwd);
    }
    if let Some(dir) = &ctx.runbook_dir {
        folders.push(dir.clone());
    }
    let inside = folders.iter().filter_map(|f| std::fs::canonicalize(f).ok()).any(|f| real.starts_with(&f));
    let given = ctx.params.values().filter_map(|v| std::fs::canonicalize(v).ok()).any(|v| v == real);
    if inside || given {
        return Ok(real);
    }
    // A link inside the folder is named with where it leads.
    let leads = if real != std::path::Path::new(path) && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) {
        format!(" leads to {}, which", real.display())
    } else {
        String::new()
    };
    Err(format!(
        "{path}{leads} is outside the runbook's folder and the current folder: a runbook reads only files there, \
         or a file whose path is given on the command line (--set name={path})"
    ))
}

/// Runs `block` with the calls going to another region or account, and back home after it, also when
/// it fails.
fn elsewhere(
    ctx: &Context,
    nc: &NativeCallContext,
    region: Option<&str>,
    role: Option<&str>,
    block: &FnPtr,
) -> Result<Dynamic, Box<EvalAltResult>> {
    ctx.enter(region, role).map_err(|e| at(crate::to_script_error(&e), nc))?;
    let result = block.call_within_context::<Dynamic>(nc, ());
    ctx.leave();
    result
}

fn sleep(ctx: &Context, secs: f64) -> Result<(), Box<EvalAltResult>> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(runtime_error(format!("sleep: expected a non-negative number of seconds, got {secs}")));
    }
    if ctx.hooks.planning() {
        return Ok(());
    }
    ctx.sleep("sleep", secs).map_err(|e| crate::to_script_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_until_reads_timestamps_as_aws_answers_them() {
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 10);
        assert_eq!(days_until("1970-01-31T00:00:00+00:00", now).unwrap(), 20.0);
        assert_eq!(days_until("1970-01-10T12:00:00Z", now).unwrap(), -0.5);
        let d = days_until("1970-01-11T00:00:00.5+00:00", now).unwrap();
        assert!((d - 0.5 / 86_400.0).abs() < 1e-12, "{d}");
        assert!(days_until("next week", now).unwrap_err().contains("\"next week\" is not a timestamp"));
    }

    #[test]
    fn params_take_the_type_of_their_default() {
        assert_eq!(typed_param("port", "8080", &Dynamic::from_int(80)).unwrap().as_int().unwrap(), 8080);
        assert!(typed_param("port", "http", &Dynamic::from_int(80)).unwrap_err().contains("expected an integer"));
        assert!(typed_param("f", "yes", &Dynamic::from_bool(false)).unwrap().as_bool().unwrap());
        assert_eq!(typed_param("t", "70.5", &Dynamic::from_float(1.0)).unwrap().as_float().unwrap(), 70.5);
        assert_eq!(typed_param("n", "x", &Dynamic::from("d")).unwrap().to_string(), "x");
        let choices: Dynamic = vec![Dynamic::from("cpu"), Dynamic::from("memory")].into();
        assert!(allowed_param("m", &Dynamic::from("cpu"), &choices, "").is_ok());
        let e = allowed_param("m", &Dynamic::from("gpu"), &choices, " (from --set m=gpu)").unwrap_err();
        assert_eq!(e, "parameter m: \"gpu\" is not one of cpu, memory (from --set m=gpu)");
        let list: Dynamic = vec![Dynamic::from("cpu"), Dynamic::from("disk")].into();
        assert!(allowed_param("m", &list, &choices, "").unwrap_err().contains("\"disk\" is not one of"));
        let within = Dynamic::from(2 as INT..=10);
        assert!(allowed_param("n", &Dynamic::from_int(10), &within, "").is_ok());
        assert!(allowed_param("n", &Dynamic::from_float(2.5), &within, "").is_ok());
        assert_eq!(
            allowed_param("n", &Dynamic::from_int(11), &within, "").unwrap_err(),
            "parameter n: 11 is outside 2..=10"
        );
        let below = Dynamic::from(0 as INT..100);
        assert!(allowed_param("n", &Dynamic::from_int(100), &below, "").unwrap_err().contains("outside 0..100"));
        let numbers: Dynamic = vec![Dynamic::from_int(1), Dynamic::from_int(3)].into();
        assert!(allowed_param("n", &Dynamic::from_float(3.0), &numbers, "").is_ok());
        assert!(allowed_param("n", &Dynamic::from("x"), &Dynamic::from_int(1), "")
            .unwrap_err()
            .contains("must be an array"));
    }
}
