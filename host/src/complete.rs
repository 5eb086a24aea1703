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

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The `module::func` whose map literal the cursor is in, at its top level and in a key position.
fn open_call(before: &str) -> Option<(String, String)> {
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
    fn hints_show_the_required_members() {
        assert_eq!(hint("elbv2::create_listener(").as_deref(), Some("#{ LoadBalancerArn: …, DefaultActions: … })"));
        assert_eq!(hint("ec2::describe_vpcs(").as_deref(), Some("#{ … })"));
        assert_eq!(hint("print("), None);
    }
}
