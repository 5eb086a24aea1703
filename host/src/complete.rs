//! What the REPL offers on Tab and shows as a hint: modules, functions, waiters, helpers, variables,
//! and inside an operation's map literal that operation's parameters, required ones first.

use runbook_bindings::helpers::HELPERS;
use runbook_bindings::waiter::extra_waiters;
use runbook_bindings::Svc;

/// The functions of a script module, operations then waiters.
pub fn functions(svc: Svc) -> Vec<&'static str> {
    let mut f: Vec<&str> = svc.operations().iter().map(|(f, _)| *f).collect();
    f.extend(svc.waiters().iter().map(|(f, _)| *f));
    f.extend(extra_waiters(svc.module()));
    f
}

/// The input members of `module::func`, required ones first; empty for anything else.
pub fn parameters(module: &str, func: &str) -> Vec<(String, bool)> {
    let Some(svc) = Svc::by_module(module) else { return vec![] };
    let Ok(table) = svc.table() else { return vec![] };
    let Some((_, op)) = table.operation_by_fn(func) else { return vec![] };
    let Some(shape) = op.input.as_deref().and_then(|s| table.shape(s)) else { return vec![] };
    let mut members: Vec<(String, bool)> =
        shape.member_names().map(|m| (m.to_string(), shape.required.iter().any(|r| r == m))).collect();
    members.sort_by_key(|(_, required)| !required);
    members
}

/// The map nested in an operation's input that the end of `before` is in, at a key's place:
/// (module, function, the keys from the input down to it), `Filters: [#{ ` giving `["Filters"]`.
pub fn open_nested(before: &str) -> Option<(String, String, Vec<String>)> {
    let chars: Vec<char> = crate::params::blank_strings(before).chars().collect();
    // A key's place in the innermost map: after its `{` or a comma, the word being typed aside.
    let text: String = chars.iter().collect();
    let typed = text.trim_end_matches(is_word).trim_end();
    if !(typed.ends_with('{') || typed.ends_with(',')) {
        return None;
    }
    let mut path: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut i = chars.len();
    while i > 0 {
        i -= 1;
        match chars[i] {
            '}' | ']' | ')' => depth += 1,
            '{' | '[' | '(' if depth > 0 => depth -= 1,
            '[' => {}
            '{' if i > 0 && chars[i - 1] == '#' => {
                let head: String = chars[..i - 1].iter().collect();
                let head = head.trim_end();
                if let Some(call) = head.strip_suffix('(') {
                    // The operation's own map: the path is complete.
                    let name: String = call.trim_end().chars().rev().take_while(|c| is_word(*c)).collect();
                    let name: String = name.chars().rev().collect();
                    let (module, func) = name.split_once("::")?;
                    path.reverse();
                    return (!path.is_empty()).then(|| (module.to_string(), func.to_string(), path));
                }
                // A map that is a member's value, or an item of a list that is one.
                let head = head.trim_end_matches(',').trim_end();
                let head = head.strip_suffix('[').unwrap_or(head).trim_end();
                let key: String =
                    head.strip_suffix(':')?.trim_end().chars().rev().take_while(|c| is_word(*c)).collect();
                path.push(key.chars().rev().collect());
                i -= 1;
            }
            '{' | '(' => return None,
            _ => {}
        }
    }
    None
}

/// The members of the structure at `path` in `module::func`'s input (through lists to their
/// items), required ones first.
pub fn nested_parameters(module: &str, func: &str, path: &[String]) -> Vec<(String, bool)> {
    let Some(svc) = Svc::by_module(module) else { return vec![] };
    let Ok(table) = svc.table() else { return vec![] };
    let Some((_, op)) = table.operation_by_fn(func) else { return vec![] };
    let Some(mut shape) = op.input.as_deref().and_then(|s| table.shape(s)) else { return vec![] };
    for key in path {
        let Some(next) = shape.member_shape(key).and_then(|s| table.shape(s)) else { return vec![] };
        shape = match (next.kind.as_str(), next.member.as_deref()) {
            ("list", Some(item)) => match table.shape(item) {
                Some(item) => item,
                None => return vec![],
            },
            _ => next,
        };
    }
    let mut members: Vec<(String, bool)> =
        shape.member_names().map(|m| (m.to_string(), shape.required.iter().any(|r| r == m))).collect();
    members.sort_by_key(|(_, required)| !required);
    members
}

/// The values the model allows for a member of `module::func`'s input (an enum), if it names any.
pub fn enum_values(module: &str, func: &str, member: &str) -> Vec<String> {
    let Some(svc) = Svc::by_module(module) else { return vec![] };
    let Ok(table) = svc.table() else { return vec![] };
    let Some((_, op)) = table.operation_by_fn(func) else { return vec![] };
    let Some(input) = op.input.as_deref().and_then(|s| table.shape(s)) else { return vec![] };
    let Some(shape) = input.member_shape(member).and_then(|s| table.shape(s)) else { return vec![] };
    shape.values.clone()
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The `module::func` whose map literal the cursor is in, at its top level and in a key position.
pub fn open_call(before: &str) -> Option<(String, String)> {
    // Walk back to the innermost unclosed `{`; it must be the operation's `#{`.
    let bytes: Vec<char> = before.chars().collect();
    let mut depth = 0i32;
    let mut i = bytes.len();
    let mut in_string = false;
    while i > 0 {
        i -= 1;
        let c = bytes[i];
        if c == '"' {
            in_string = !in_string;
            continue;
        }
        if in_string {
            continue;
        }
        match c {
            '}' | ']' | ')' => depth += 1,
            '[' | '(' if depth > 0 => depth -= 1,
            '[' | '(' => return None,
            '{' if depth > 0 => depth -= 1,
            '{' => {
                // `module::func(#{`
                let head: String = bytes[..i].iter().collect();
                let head = head.trim_end().strip_suffix('#')?.trim_end().strip_suffix('(')?.trim_end();
                let name: String =
                    head.chars().rev().take_while(|c| is_word(*c)).collect::<Vec<_>>().into_iter().rev().collect();
                let (module, func) = name.split_once("::")?;
                // A key position: after `{` or `,`, ignoring the word being typed.
                let rest: String = bytes[i + 1..].iter().collect();
                let without_word = rest.trim_end_matches(is_word).trim_end();
                if without_word.is_empty() || without_word.ends_with(',') {
                    return Some((module.to_string(), func.to_string()));
                }
                return None;
            }
            _ => {}
        }
    }
    None
}

/// Where the cursor is inside a string value of an operation's map: `module::func(#{ Member: "pre`
/// or `Member: ["a", "pre`, at the map's top level.
#[derive(Debug, PartialEq, Eq)]
pub struct ValueSpot {
    pub module: String,
    pub func: String,
    pub member: String,
    /// What is typed of the value so far, and where it starts in the line.
    pub prefix: String,
    pub start: usize,
    /// String members already given in the same map (`cluster: "web"`), which a read can use.
    pub given: Vec<(String, String)>,
}

/// One open bracket while scanning a line: for a map, the call it is the input of, the key whose
/// value comes next, and the string members seen.
struct Frame {
    open: char,
    call: Option<(String, String)>,
    key: Option<String>,
    given: Vec<(String, String)>,
}

/// Finds the [`ValueSpot`] at the end of `before`, if the cursor is in one.
pub fn value_spot(before: &str) -> Option<ValueSpot> {
    let chars: Vec<(usize, char)> = before.char_indices().collect();
    let mut stack: Vec<Frame> = Vec::new();
    // The last word, and the tokens before it, to recognise `module::func(#{` and `key:`.
    let mut last_word = String::new();
    let mut recent: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '"' {
            // A string: closed, or open to the end of the line (the value being typed).
            let mut j = i + 1;
            let mut text = String::new();
            while j < chars.len() && chars[j].1 != '"' {
                if chars[j].1 == '\\' {
                    j += 1;
                }
                if let Some((_, ch)) = chars.get(j) {
                    text.push(*ch);
                }
                j += 1;
            }
            if j >= chars.len() {
                let frame = stack.last()?;
                let (map, member) = match frame.open {
                    '{' => (frame, frame.key.clone()?),
                    '[' => {
                        let outer = stack.get(stack.len().checked_sub(2)?)?;
                        (outer, outer.key.clone()?)
                    }
                    _ => return None,
                };
                let (module, func) = map.call.clone()?;
                return Some(ValueSpot { module, func, member, prefix: text, start: at + 1, given: map.given.clone() });
            }
            if let Some(frame) = stack.last_mut() {
                if frame.open == '{' && recent.last().map(String::as_str) == Some(":") {
                    if let Some(k) = frame.key.clone() {
                        frame.given.push((k, text.clone()));
                    }
                }
            }
            recent.push("\"".into());
            i = j + 1;
            continue;
        }
        if is_word(c) {
            let mut j = i;
            let mut word = String::new();
            // `::` joins a module and its function; a single `:` ends a key.
            let double =
                |k: usize| chars.get(k).map(|x| x.1) == Some(':') && chars.get(k + 1).map(|x| x.1) == Some(':');
            while j < chars.len() && is_word(chars[j].1) {
                if chars[j].1 == ':' {
                    if !double(j) {
                        break;
                    }
                    word.push_str("::");
                    j += 2;
                    continue;
                }
                word.push(chars[j].1);
                j += 1;
            }
            if word.is_empty() {
                // A lone `:` starts here.
                recent.push(":".into());
                if let Some(frame) = stack.last_mut().filter(|f| f.open == '{') {
                    frame.key = Some(last_word.clone());
                }
                i += 1;
                continue;
            }
            last_word = word.clone();
            recent.push(word);
            i = j;
            continue;
        }
        match c {
            '{' | '[' | '(' => {
                // `module::func(#{`: the tokens before are the name, `(` and `#`.
                let n = recent.len();
                let call = (c == '{' && n >= 3 && recent[n - 1] == "#" && recent[n - 2] == "(")
                    .then(|| recent[n - 3].split_once("::").map(|(m, f)| (m.to_string(), f.to_string())))
                    .flatten();
                stack.push(Frame { open: c, call, key: None, given: Vec::new() });
            }
            '}' | ']' | ')' => {
                stack.pop();
            }
            ':' => {
                if let Some(frame) = stack.last_mut().filter(|f| f.open == '{') {
                    frame.key = Some(last_word.clone());
                }
            }
            ',' => {
                if let Some(frame) = stack.last_mut().filter(|f| f.open == '{') {
                    frame.key = None;
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            recent.push(c.to_string());
        }
        i += 1;
    }
    None
}

/// Candidates for the word that ends at the end of `before`: (start of the word, replacements).
pub fn complete(before: &str, variables: &[String]) -> (usize, Vec<String>) {
    let start = before.len() - before.chars().rev().take_while(|c| is_word(*c)).map(char::len_utf8).sum::<usize>();
    let word = &before[start..];
    if let Some((module, func)) = open_call(before) {
        let names = parameters(&module, &func).into_iter().map(|(m, _)| m).filter(|m| m.starts_with(word)).collect();
        return (start, names);
    }
    if let Some((module, prefix)) = word.split_once("::") {
        let Some(svc) = Svc::by_module(module) else { return (start, vec![]) };
        let names =
            functions(svc).into_iter().filter(|f| f.starts_with(prefix)).map(|f| format!("{module}::{f}")).collect();
        return (start, names);
    }
    let mut names: Vec<String> = Svc::ALL.iter().map(|s| format!("{}::", s.module())).collect();
    names.extend(HELPERS.iter().filter_map(|(sig, _)| sig.split('(').next()).map(str::to_string));
    names.push("help".into());
    names.extend(variables.iter().cloned());
    names.retain(|n| n.starts_with(word));
    names.sort();
    names.dedup();
    (start, names)
}

/// What completes the word at the cursor of an aws line.
pub enum AwsWord {
    /// Services, operations and waiters, arguments (the operation's and the aws CLI's own), enum
    /// values: from the word's start.
    Names(usize, Vec<String>),
    /// The value of an argument that may name a resource: the account's values complete it.
    Value(ValueSpot),
}

/// Where the cursor is in an `aws SERVICE OPERATION --argument VALUE` line, and what completes it;
/// `None` for a line that is not one.
pub fn aws_line(before: &str) -> Option<AwsWord> {
    use runbook_bindings::cli::{self, names::kebab};
    let rest = before.trim_start().strip_prefix("aws")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let start =
        before.len() - before.chars().rev().take_while(|c| !c.is_whitespace()).map(char::len_utf8).sum::<usize>();
    let word = &before[start..];
    let words: Vec<&str> = before[..start].split_whitespace().skip(1).collect();
    let plain = |names: Vec<String>| AwsWord::Names(start, names.into_iter().filter(|n| n.starts_with(word)).collect());
    let positional: Vec<&str> = words.iter().copied().filter(|w| !w.starts_with("--")).collect();
    let Some(svc) = words.first().and_then(|w| Svc::ALL.into_iter().find(|s| cli::args::service_name(*s) == *w)) else {
        return Some(plain(Svc::ALL.into_iter().map(cli::args::service_name).collect()));
    };
    let Some(op_word) = words.get(1) else {
        let mut names: Vec<String> = svc.operations().iter().map(|(f, _)| cli::args::operation_name(f)).collect();
        names.push("wait".into());
        names.sort();
        return Some(plain(names));
    };
    let table = svc.table().ok()?;
    let (op, func) = if *op_word == "wait" {
        let Some(waiter) = words.get(2) else {
            return Some(plain(svc.waiters().iter().map(|(_, w)| kebab(w)).collect()));
        };
        let name = svc.waiters().iter().find(|(_, w)| kebab(w) == *waiter).map(|(_, w)| *w)?;
        let op = table.waiters.get(name)?.operation.clone();
        (op.clone(), table.operations.get(&op)?.func.clone())
    } else {
        let (f, op) = svc.operations().iter().find(|(f, _)| cli::args::operation_name(f) == *op_word)?;
        (op.to_string(), f.to_string())
    };
    let specs = cli::args::argument_specs(svc, table, &op, true);
    if word.starts_with("--") || positional.len() > 2 && !words.last().is_some_and(|w| w.starts_with("--")) {
        let mut names: Vec<String> = specs.iter().map(|(n, _)| n.clone()).collect();
        names.extend(cli::args::GLOBAL_OPTIONS.iter().map(|(n, _)| n.to_string()));
        return Some(plain(names));
    }
    // The value of the argument before it.
    let arg = words.last()?;
    let member = specs.iter().find_map(|(n, t)| match t {
        cli::args::Target::Member(m) if n == arg => Some(m.clone()),
        _ => None,
    })?;
    let input = table.operations.get(&op).and_then(|o| o.input.as_deref()).and_then(|s| table.shape(s));
    let shape = input.and_then(|s| s.member_shape(&member)).and_then(|s| table.shape(s));
    let values =
        shape.map(|s| if s.kind == "list" { s.member.as_deref().and_then(|m| table.shape(m)) } else { Some(s) });
    if let Some(Some(s)) = values.filter(|v| v.is_some_and(|s| !s.values.is_empty())) {
        return Some(plain(s.values.clone()));
    }
    // Arguments given before it that a read of the account can use (`--cluster web`).
    let given: Vec<(String, String)> = words
        .windows(2)
        .filter_map(|pair| {
            let m = specs.iter().find_map(|(n, t)| match t {
                cli::args::Target::Member(m) if n == pair[0] => Some(m.clone()),
                _ => None,
            })?;
            (!pair[1].starts_with("--")).then(|| (m, pair[1].to_string()))
        })
        .collect();
    let spot = ValueSpot { module: svc.module().into(), func, member, prefix: word.to_string(), start, given };
    Some(AwsWord::Value(spot))
}

/// After `module::func(`: the call's shape, with its required members.
pub fn hint(before: &str) -> Option<String> {
    let head = before.strip_suffix('(')?;
    let name: String = head.chars().rev().take_while(|c| is_word(*c)).collect::<Vec<_>>().into_iter().rev().collect();
    let (module, func) = name.split_once("::")?;
    let params = parameters(module, func);
    if Svc::by_module(module).is_none() || !functions(Svc::by_module(module)?).contains(&func) {
        return None;
    }
    let required: Vec<String> = params.iter().filter(|(_, r)| *r).map(|(m, _)| format!("{m}: …")).collect();
    Some(if required.is_empty() { "#{ … })".to_string() } else { format!("#{{ {} }})", required.join(", ")) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_aws_lines_as_the_cli_names_them() {
        let names = |line: &str| match aws_line(line) {
            Some(AwsWord::Names(_, n)) => Some(n),
            _ => None,
        };
        assert_eq!(names("aws el").unwrap(), ["elbv2"]);
        assert!(names("aws ec2 describe-vp").unwrap().contains(&"describe-vpcs".to_string()));
        assert_eq!(names("aws elbv2 create-target-group --health-check-pa").unwrap(), ["--health-check-path"]);
        assert_eq!(names("aws elbv2 create-target-group --target-type i").unwrap(), ["instance", "ip"]);
        assert!(names("aws ec2 authorize-security-group-ingress --pro").unwrap().contains(&"--protocol".to_string()));
        assert!(names("aws elbv2 wait load-balancer-av").unwrap().contains(&"load-balancer-available".to_string()));
        assert_eq!(names("aws ec2 describe-vpcs --qu").unwrap(), ["--query"]);
        assert!(names("let x = 1").is_none());
    }

    #[test]
    fn completes_modules_functions_parameters_and_variables() {
        let vars = vec!["vpc".to_string()];
        let (start, c) = complete("let x = elbv2::create_l", &vars);
        assert_eq!(start, 8);
        assert_eq!(c, ["elbv2::create_listener", "elbv2::create_load_balancer"]);
        let (_, c) = complete("el", &vars);
        assert_eq!(c, ["elbv2::"]);
        let (_, c) = complete("print(vp", &vars);
        assert_eq!(c, ["vpc"]);
        let (start, c) = complete("elbv2::create_target_group(#{ Na", &vars);
        assert_eq!((start, c), (30, vec!["Name".to_string()]));
        let (_, c) = complete("elbv2::create_target_group(#{ Name: \"a\", ", &vars);
        assert_eq!(c[0], "Name", "required first: {c:?}");
        assert!(c.contains(&"VpcId".to_string()));
        // Not in a key position, or inside a nested map: no parameter names.
        let (_, c) = complete("elbv2::create_target_group(#{ Name: Na", &vars);
        assert!(!c.contains(&"Name".to_string()));
        let (_, c) = complete("elbv2::create_listener(#{ DefaultActions: [#{ Ty", &vars);
        assert!(c.is_empty(), "{c:?}");
        let (_, c) = complete("ecs::wait_dep", &vars);
        assert_eq!(c, ["ecs::wait_deployment_complete"]);
    }

    #[test]
    fn finds_the_member_whose_string_value_is_being_typed() {
        let spot = value_spot("elbv2::describe_target_health(#{ TargetGroupArn: \"arn:aws:elastic").unwrap();
        assert_eq!(
            (spot.module.as_str(), spot.func.as_str(), spot.member.as_str(), spot.prefix.as_str(), spot.start),
            ("elbv2", "describe_target_health", "TargetGroupArn", "arn:aws:elastic", 50)
        );
        let spot = value_spot("let s = ec2::describe_subnets(#{ SubnetIds: [\"subnet-1\", \"sub").unwrap();
        assert_eq!((spot.member.as_str(), spot.prefix.as_str()), ("SubnetIds", "sub"));
        let spot = value_spot("ecs::update_service(#{ cluster: \"web\", service: \"").unwrap();
        assert_eq!(spot.member, "service");
        assert_eq!(spot.given, [("cluster".to_string(), "web".to_string())]);
        // Not a value of the operation's own map, or not in a string.
        assert_eq!(value_spot("elbv2::create_listener(#{ DefaultActions: [#{ TargetGroupArn: \""), None);
        assert_eq!(value_spot("print(\"abc"), None);
        assert_eq!(value_spot("elbv2::describe_target_health(#{ TargetGroupArn: arn"), None);
        assert_eq!(value_spot("elbv2::describe_target_health(#{ TargetGroupArn: \"a\" }); print(\"x"), None);
    }

    #[test]
    fn hints_show_the_required_members() {
        assert_eq!(hint("elbv2::create_listener(").as_deref(), Some("#{ LoadBalancerArn: …, DefaultActions: … })"));
        assert_eq!(hint("ec2::describe_vpcs(").as_deref(), Some("#{ … })"));
        assert_eq!(hint("print("), None);
    }
}
