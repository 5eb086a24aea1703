//! Checks an operation's input against the model before anything is sent: unknown keys (with the
//! closest valid names), missing required members, wrong types and invalid enum values, each with
//! its path inside the input.

use crate::convert::{type_name, FromRhai, Path};
use crate::model::{Kind, Shape, Table};
use rhai::{Array, Dynamic, Map};

/// Every problem found in `input` for operation `op`; empty when the input is valid.
pub fn validate(table: &Table, op: &str, input: &Map) -> Vec<String> {
    against(table, op, input, false)
}

/// Every problem found in `value` as an answer of operation `op` (its output shape): what a stand-in
/// for AWS (a test's mock) answers must be something AWS could.
pub fn validate_output(table: &Table, op: &str, value: &Map) -> Vec<String> {
    against(table, op, value, true)
}

/// `value` checked against the operation's input shape, or its output shape.
fn against(table: &Table, op: &str, value: &Map, output: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(operation) = table.operations.get(op) else {
        return vec![format!("unknown operation {op}")];
    };
    let shape = if output { &operation.output } else { &operation.input };
    match shape.as_deref().and_then(|s| table.shape(s)) {
        Some(shape) => check_structure(table, shape, value, &Path::Root, &mut problems),
        None => {
            if let Some(k) = value.keys().next() {
                let none = if output { "answers nothing" } else { "takes no input" };
                problems.push(format!("unknown key {k}: this operation {none}"));
            }
        }
    }
    let help = format!("runbook help {}::{}", table.module, operation.func);
    problems.iter_mut().for_each(|p| *p = p.replace(HELP, &help));
    problems
}

/// Stands for the operation's `runbook help` command in a problem's text until it is known.
const HELP: &str = "\u{0}help\u{0}";

/// Enum values listed in full when there are at most this many.
const LISTED: usize = 12;

/// An invalid enum value's problem: the whole list when it is short; otherwise the closest values
/// first (edit distance, then the same first letters), ten in all, and how many there are.
fn invalid_value(path: &Path, value: &str, values: &[String]) -> String {
    if values.len() <= LISTED {
        // A value right but for its case (`http` for `HTTP`) is pointed at.
        let hint = match values.iter().find(|v| v.eq_ignore_ascii_case(value)) {
            Some(v) => format!(" (did you mean {v}?)"),
            None => String::new(),
        };
        return format!("{path}: invalid value {value:?}{hint}; allowed: {}", values.join(", "));
    }
    let close = closest(value, values.iter().map(String::as_str));
    let lower = value.to_ascii_lowercase();
    let shared = |v: &str| lower.chars().zip(v.to_ascii_lowercase().chars()).take_while(|(a, b)| a == b).count();
    let mut by_prefix: Vec<&String> = values.iter().filter(|v| !close.contains(v)).collect();
    by_prefix.sort_by_key(|v| std::cmp::Reverse(shared(v)));
    let shown: Vec<&str> =
        close.iter().map(String::as_str).chain(by_prefix.into_iter().map(String::as_str)).take(10).collect();
    let hint = if close.is_empty() { String::new() } else { format!(" (did you mean {}?)", close.join(" or ")) };
    format!(
        "{path}: invalid value {value:?}{hint}; {} of {} allowed values: {}, …; `{HELP}` lists them all",
        shown.len(),
        values.len(),
        shown.join(", ")
    )
}

/// `path` as the problem text shows it, `prefix` first when the path is not the input's root.
fn at(path: &Path, prefix: &str) -> String {
    match path {
        Path::Root => String::new(),
        p => format!("{prefix}{p}"),
    }
}

// Paths are built as `Path` values and rendered only when a problem is reported, and member shapes
// are looked up once per shape (`Table::resolved`): valid input, the common case, costs no string
// formatting and no table lookups.
fn check_structure(table: &Table, shape: &'static Shape, map: &Map, path: &Path, problems: &mut Vec<String>) {
    let resolved = table.resolved(shape);
    for (key, value) in map.iter() {
        let key = key.as_str();
        match resolved.member_shape(key) {
            Some(target) => {
                if let (Some(target), false) = (target, value.is_unit()) {
                    check_value(table, target, value, &Path::Key(path, key), problems);
                    enforced_range(table, shape, key, value, &Path::Key(path, key), problems);
                }
            }
            None => {
                let hint = closest(key, shape.member_names());
                let hint =
                    if hint.is_empty() { String::new() } else { format!(" (did you mean {}?)", hint.join(" or ")) };
                problems.push(format!("unknown key {key}{}{hint}", at(path, " in ")));
            }
        }
    }
    if shape.union {
        let set = shape.member_names().filter(|m| map.get(*m).is_some_and(|v| !v.is_unit())).count();
        if set != 1 {
            let names: Vec<&str> = shape.member_names().collect();
            let prefix = match path {
                Path::Root => String::new(),
                p => format!("{p}: "),
            };
            problems.push(format!("{prefix}set exactly one of {}", names.join(", ")));
        }
    }
    for required in &shape.required {
        if map.get(required.as_str()).is_none_or(Dynamic::is_unit) {
            problems.push(format!("missing required member {}", Path::Key(path, required)));
        }
    }
}

/// Ranges AWS enforces on members whose model gives none: (service module, structure, member,
/// least, greatest, where AWS states it). One table; the model's own ranges are checked by
/// [`within`].
pub const ENFORCED_RANGES: &[(&str, &str, &str, i64, i64, &str)] = {
    const PORT: &str = "EC2 API reference, IpPermission: a TCP or UDP port, or an ICMP type or code, -1 for all";
    const TRAFFIC: &str = "EC2 API reference, TrafficMirrorPortRangeRequest: a TCP or UDP port";
    const ACL: &str = "EC2 API reference, PortRange: a TCP or UDP port of a network ACL entry";
    &[
        ("ec2", "IpPermission", "FromPort", -1, 65535, PORT),
        ("ec2", "IpPermission", "ToPort", -1, 65535, PORT),
        ("ec2", "SecurityGroupRuleRequest", "FromPort", -1, 65535, PORT),
        ("ec2", "SecurityGroupRuleRequest", "ToPort", -1, 65535, PORT),
        ("ec2", "AuthorizeSecurityGroupIngressRequest", "FromPort", -1, 65535, PORT),
        ("ec2", "AuthorizeSecurityGroupIngressRequest", "ToPort", -1, 65535, PORT),
        ("ec2", "AuthorizeSecurityGroupEgressRequest", "FromPort", -1, 65535, PORT),
        ("ec2", "AuthorizeSecurityGroupEgressRequest", "ToPort", -1, 65535, PORT),
        ("ec2", "RevokeSecurityGroupIngressRequest", "FromPort", -1, 65535, PORT),
        ("ec2", "RevokeSecurityGroupIngressRequest", "ToPort", -1, 65535, PORT),
        ("ec2", "RevokeSecurityGroupEgressRequest", "FromPort", -1, 65535, PORT),
        ("ec2", "RevokeSecurityGroupEgressRequest", "ToPort", -1, 65535, PORT),
        ("ec2", "TrafficMirrorPortRangeRequest", "FromPort", 0, 65535, TRAFFIC),
        ("ec2", "TrafficMirrorPortRangeRequest", "ToPort", 0, 65535, TRAFFIC),
        ("ec2", "PortRange", "From", 0, 65535, ACL),
        ("ec2", "PortRange", "To", 0, 65535, ACL),
    ]
};

/// A member of [`ENFORCED_RANGES`] outside its range. Only integers of the listed member names
/// look the structure up: other input costs a string comparison.
fn enforced_range(table: &Table, shape: &Shape, key: &str, v: &Dynamic, path: &Path, problems: &mut Vec<String>) {
    // Beyond 32 bits the member's type has said so already.
    let Some(n) = v.as_int().ok().filter(|n| i32::try_from(*n).is_ok()) else { return };
    for (module, structure, member, lo, hi, source) in ENFORCED_RANGES {
        if *member != key || *module != table.module {
            continue;
        }
        if table.shape(structure).is_some_and(|s| std::ptr::eq(s, shape)) && !(*lo..=*hi).contains(&n) {
            problems.push(format!("{path}: {n} is out of range; allowed: {lo} to {hi} ({source})"));
        }
    }
}

fn check_value(table: &Table, shape: &'static Shape, v: &Dynamic, path: &Path, problems: &mut Vec<String>) {
    let resolved = table.resolved(shape);
    let wrong = |what: &str, problems: &mut Vec<String>| {
        problems.push(format!("{path}: expected {what}, got {}", type_name(v)));
    };
    match resolved.kind {
        Kind::String => {
            let s = v.read_lock::<rhai::ImmutableString>();
            match s {
                None if v.is_char() => {}
                None => wrong("string", problems),
                Some(s) if !shape.values.is_empty() && !shape.values.iter().any(|e| e == s.as_str()) => {
                    problems.push(invalid_value(path, s.as_str(), &shape.values));
                }
                Some(s) => {
                    within(shape, path, Measure::Characters(s.as_str()), problems);
                    if let Some(re) = shape.regex() {
                        if !re.is_match(s.as_str()) {
                            let pattern = shape.pattern.as_deref().unwrap_or_default();
                            problems.push(format!("{path}: {:?} does not match the pattern {pattern}", s.as_str()));
                        }
                    }
                }
            }
        }
        Kind::Integer | Kind::Long if v.is_int() => {
            // The right kind of value can still be out of range; the conversion says.
            if resolved.kind == Kind::Integer {
                if let Err(e) = i32::from_rhai(v, path) {
                    problems.push(e.to_string());
                    return;
                }
            }
            within(shape, path, Measure::Integer(v.as_int().unwrap_or_default()), problems);
        }
        Kind::Double | Kind::Float if v.is_int() || v.is_float() => {
            let n = v.as_float().unwrap_or_else(|_| v.as_int().unwrap_or_default() as f64);
            within(shape, path, Measure::Number(n), problems);
        }
        Kind::Integer | Kind::Long => wrong("integer", problems),
        Kind::Double | Kind::Float if !(v.is_int() || v.is_float()) => wrong("number", problems),
        Kind::Boolean if !v.is_bool() => wrong("boolean", problems),
        Kind::Timestamp if v.is_string() || v.is_int() => {
            // A string can still be unreadable as a time; the conversion says.
            if let Err(e) = aws_smithy_types::DateTime::from_rhai(v, path) {
                problems.push(e.to_string());
            }
        }
        Kind::Timestamp => wrong("timestamp (ISO-8601 string or epoch seconds)", problems),
        Kind::Blob if v.is_string() || v.is_blob() => {
            if let Err(e) = aws_smithy_types::Blob::from_rhai(v, path) {
                problems.push(e.to_string());
            }
        }
        Kind::Blob => wrong("blob or base64 string", problems),
        Kind::List => match v.read_lock::<Array>() {
            Some(items) => {
                within(shape, path, Measure::Items(items.len()), problems);
                if let Some(member) = resolved.member {
                    for (i, item) in items.iter().enumerate() {
                        check_value(table, member, item, &Path::Index(path, i), problems);
                    }
                }
            }
            None => wrong("array", problems),
        },
        Kind::Map => match v.read_lock::<Map>() {
            Some(m) => {
                if let Some(value) = resolved.value {
                    for (k, item) in m.iter() {
                        check_value(table, value, item, &Path::Key(path, k), problems);
                    }
                }
            }
            None => wrong("object map", problems),
        },
        Kind::Structure => match v.read_lock::<Map>() {
            Some(m) => check_structure(table, shape, &m, path, problems),
            None => wrong("object map", problems),
        },
        Kind::Double | Kind::Float | Kind::Boolean | Kind::Document | Kind::Other => {}
    }
}

/// What a shape's `min` and `max` bound: a number's value, a string's or a list's length.
#[derive(Clone, Copy)]
enum Measure<'a> {
    Integer(rhai::INT),
    Number(f64),
    Characters(&'a str),
    Items(usize),
}

/// A problem when the measure is outside the shape's `min`..`max`. A string is counted only when
/// the shape has a bound, and words are made only for a problem: valid input costs nothing.
fn within(shape: &Shape, path: &Path, what: Measure, problems: &mut Vec<String>) {
    let (min, max) = (shape.min, shape.max);
    if min.is_none() && max.is_none() {
        return;
    }
    let measure = match what {
        Measure::Integer(i) => i as f64,
        Measure::Number(x) => x,
        Measure::Characters(s) => s.chars().count() as f64,
        Measure::Items(n) => n as f64,
    };
    if min.is_none_or(|m| measure >= m) && max.is_none_or(|m| measure <= m) {
        return;
    }
    let n = |x: f64| if x.fract() == 0.0 { format!("{}", x as i64) } else { format!("{x}") };
    let (shown, unit) = match what {
        Measure::Integer(i) => (i.to_string(), ""),
        Measure::Number(x) => (format!("{x}"), ""),
        Measure::Characters(_) => (format!("{} character(s) long", n(measure)), " characters"),
        Measure::Items(_) => (format!("{} item(s)", n(measure)), " items"),
    };
    let range = match (min, max) {
        (Some(lo), Some(hi)) => format!("{} to {}{unit}", n(lo), n(hi)),
        (Some(lo), None) => format!("at least {}{unit}", n(lo)),
        (None, Some(hi)) => format!("at most {}{unit}", n(hi)),
        (None, None) => return,
    };
    problems.push(format!("{path}: {shown} is out of range; allowed: {range}"));
}

/// Valid names close to `key`: same letters ignoring case, or within a small edit distance.
pub fn closest<'a>(key: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let lower = key.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .map(|n| {
            let d = if n.eq_ignore_ascii_case(key) { 0 } else { distance(&lower, &n.to_ascii_lowercase()) };
            (d, n)
        })
        .filter(|(d, n)| *d <= 2.max(n.len() / 4))
        .collect();
    scored.sort();
    let best = scored.first().map(|(d, _)| *d);
    scored.into_iter().filter(|(d, _)| Some(*d) == best).take(3).map(|(_, n)| n.to_string()).collect()
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_prefers_case_and_small_edits() {
        let names = ["VpcId", "Name", "Port", "Protocol"];
        assert_eq!(closest("VpcID", names.into_iter()), ["VpcId"]);
        assert_eq!(closest("Prot", names.into_iter()), ["Port"]);
        assert!(closest("Zebra", names.into_iter()).is_empty());
    }

    #[test]
    fn problems_inside_lists_of_structures_name_their_path() {
        let table = crate::Svc::Ec2.table().unwrap_or_else(|e| panic!("{e}"));
        let rule = |protocol: Dynamic, from: Dynamic, extra: Option<(&str, Dynamic)>| {
            let mut range = Map::new();
            range.insert("CidrIp".into(), "10.0.0.0/16".into());
            let mut m = Map::new();
            m.insert("IpProtocol".into(), protocol);
            m.insert("FromPort".into(), from);
            m.insert("IpRanges".into(), Dynamic::from_array(vec![Dynamic::from_map(range)]));
            if let Some((k, v)) = extra {
                m.insert(k.into(), v);
            }
            Dynamic::from_map(m)
        };
        let mut input = Map::new();
        input.insert("GroupId".into(), "sg-1".into());
        input.insert(
            "IpPermissions".into(),
            Dynamic::from_array(vec![
                rule("tcp".into(), Dynamic::from_int(80), None),
                rule(Dynamic::from_int(6), Dynamic::from_int(1 << 40), Some(("ToPrt", Dynamic::from_int(1)))),
            ]),
        );
        let problems = validate(table, "AuthorizeSecurityGroupIngress", &input);
        assert_eq!(
            problems,
            [
                "IpPermissions[1].FromPort: integer 1099511627776 is out of range for a 32-bit member",
                "IpPermissions[1].IpProtocol: expected string, got integer",
                "unknown key ToPrt in IpPermissions[1] (did you mean ToPort?)",
            ]
        );
        input.remove("IpPermissions");
        assert!(validate(table, "AuthorizeSecurityGroupIngress", &input).is_empty());
    }

    #[test]
    fn ports_are_ranged_where_the_model_is_silent() {
        let table = crate::Svc::Ec2.table().unwrap_or_else(|e| panic!("{e}"));
        let rule = |from: i64, to: i64| {
            let mut m = Map::new();
            m.insert("IpProtocol".into(), "tcp".into());
            m.insert("FromPort".into(), Dynamic::from_int(from));
            m.insert("ToPort".into(), Dynamic::from_int(to));
            Dynamic::from_map(m)
        };
        let mut input = Map::new();
        input.insert("GroupId".into(), "sg-1".into());
        input.insert("IpPermissions".into(), Dynamic::from_array(vec![rule(80, 80800), rule(-1, -1), rule(0, 65535)]));
        let problems = validate(table, "AuthorizeSecurityGroupIngress", &input);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("IpPermissions[0].ToPort: 80800 is out of range; allowed: -1 to 65535 (EC2 API")
        );
        // The request's own FromPort and ToPort (the CLI's --port) are ranged as well.
        input.remove("IpPermissions");
        input.insert("FromPort".into(), Dynamic::from_int(-2));
        let problems = validate(table, "AuthorizeSecurityGroupIngress", &input);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("FromPort: -2 is out of range"), "{problems:?}");
        // Every structure the table names is in the model.
        for (module, structure, member, ..) in ENFORCED_RANGES {
            let svc = crate::Svc::ALL.iter().find(|s| s.module() == *module).unwrap_or_else(|| panic!("{module}"));
            let t = svc.table().unwrap_or_else(|e| panic!("{e}"));
            let shape = t.shape(structure).unwrap_or_else(|| panic!("{structure}"));
            assert!(shape.member_names().any(|m| m == *member), "{structure}.{member}");
        }
    }
}
