//! AWS is eventually consistent: for a few seconds after a create, calls that name the new resource
//! may be answered "not found" (the EC2 API reference, "Eventual consistency"; IAM roles, ELBv2
//! target groups and ECS clusters behave alike). A run remembers what its own writes made, and
//! when a call is answered not-found about one of those within the propagation window, the binding
//! layer waits and sends it again (see [`crate::hooks::Hooks::propagating`]). A not-found about
//! anything else is the script's to handle at once, so that a typo is not retried for minutes.

use crate::call::Svc;
use crate::error::CallError;
use rhai::Map;
use serde_json::Value;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How long after a create its not-found answers are retried, unless `--propagation-timeout`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(120);

/// The values that name what this run made, and when.
#[derive(Default)]
pub struct Made {
    made: RefCell<Vec<(String, Instant)>>,
}

/// Whether an error says that something does not exist, in its service's words.
pub fn not_found(svc: Svc, e: &CallError) -> bool {
    let CallError::Aws { code, message, .. } = e else { return false };
    match svc {
        // The Invalid*.NotFound family: InvalidGroup.NotFound, InvalidVpcID.NotFound, ...
        Svc::Ec2 => code.starts_with("Invalid") && code.ends_with(".NotFound"),
        Svc::Elbv2 => matches!(
            code.as_str(),
            "TargetGroupNotFound" | "LoadBalancerNotFound" | "ListenerNotFound" | "RuleNotFound"
        ),
        Svc::Ecs => {
            matches!(code.as_str(), "ClusterNotFoundException" | "ServiceNotFoundException")
                || (code == "InvalidParameterException" && message.to_ascii_lowercase().contains("not found"))
        }
        Svc::ApplicationAutoscaling => code == "ObjectNotFoundException",
        Svc::Iam => code == "NoSuchEntity",
    }
}

/// Whether an operation removes what its input names.
fn removes(op: &str) -> bool {
    ["Delete", "Deregister", "Remove", "Terminate", "Detach", "Revoke"].iter().any(|v| op.starts_with(v))
}

/// Whether an operation makes something that later calls may name.
fn makes(op: &str) -> bool {
    ["Create", "Register", "Run", "Put", "Allocate", "Import", "Copy", "Attach", "Authorize", "Upload", "Request"]
        .iter()
        .any(|v| op.starts_with(v))
}

/// A value that names a resource: an ARN, an id such as `sg-0abc12345`, or a name given to a create.
fn names_a_resource(s: &str) -> bool {
    if s.starts_with("arn:") {
        return true;
    }
    match s.split_once('-') {
        Some((prefix, rest)) => {
            !prefix.is_empty()
                && prefix.chars().all(|c| c.is_ascii_lowercase())
                && rest.len() >= 8
                && rest.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

impl Made {
    /// Notes what a successful write made (the ids and ARNs of its answer, and the names its input
    /// gives), or forgets what it removed.
    pub fn note(&self, op: &str, input: &Value, output: &Value) {
        let mut made = self.made.borrow_mut();
        if removes(op) {
            let mut gone = Vec::new();
            strings(input, &mut gone);
            made.retain(|(v, _)| !gone.contains(v));
            return;
        }
        if !makes(op) {
            return;
        }
        let now = Instant::now();
        let mut found = Vec::new();
        strings(output, &mut found);
        found.retain(|s| names_a_resource(s));
        if let Value::Object(members) = input {
            for (k, v) in members {
                let naming = k.to_ascii_lowercase().ends_with("name") || k == "family" || k == "ResourceId";
                if let (true, Value::String(s)) = (naming, v) {
                    found.push(s.clone());
                }
            }
        }
        for s in found.into_iter().filter(|s| !s.is_empty()) {
            made.retain(|(v, _)| *v != s);
            made.push((s, now));
        }
    }

    /// The value in `input` this run made within `window`, and how long ago, if any.
    pub fn about(&self, input: &Map, window: Duration) -> Option<(String, Duration)> {
        let made = self.made.borrow();
        if made.is_empty() {
            return None;
        }
        let mut hit = None;
        crate::json::for_each_string_in(input, &mut |s| {
            if hit.is_none() {
                hit = made
                    .iter()
                    .find(|(v, at)| v == s && at.elapsed() < window)
                    .map(|(v, at)| (v.clone(), at.elapsed()));
            }
        });
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str, message: &str) -> CallError {
        CallError::Aws {
            service: "x".into(),
            operation: "y".into(),
            code: code.into(),
            message: message.into(),
            status: Some(400),
            request_id: None,
            retryable: false,
        }
    }

    #[test]
    fn each_service_says_not_found_in_its_own_words() {
        assert!(not_found(Svc::Ec2, &aws("InvalidGroup.NotFound", "")));
        assert!(not_found(Svc::Ec2, &aws("InvalidVpcID.NotFound", "")));
        assert!(!not_found(Svc::Ec2, &aws("InvalidParameterValue", "")));
        assert!(not_found(Svc::Elbv2, &aws("TargetGroupNotFound", "")));
        assert!(not_found(Svc::Ecs, &aws("ClusterNotFoundException", "")));
        assert!(not_found(Svc::ApplicationAutoscaling, &aws("ObjectNotFoundException", "")));
        assert!(not_found(Svc::Iam, &aws("NoSuchEntity", "")));
        assert!(!not_found(Svc::Iam, &aws("EntityAlreadyExists", "")));
    }

    #[test]
    fn what_a_create_made_is_remembered_until_it_is_removed() {
        let made = Made::default();
        let map = |v: Value| crate::json::from_value(&v).try_cast::<Map>().unwrap();
        made.note(
            "CreateSecurityGroup",
            &serde_json::json!({ "GroupName": "web", "Description": "d" }),
            &serde_json::json!({ "GroupId": "sg-0123456789abcdef0" }),
        );
        let window = Duration::from_secs(120);
        let hit = made.about(&map(serde_json::json!({ "GroupId": "sg-0123456789abcdef0" })), window);
        assert_eq!(hit.map(|h| h.0).as_deref(), Some("sg-0123456789abcdef0"));
        assert!(made.about(&map(serde_json::json!({ "GroupNames": ["web"] })), window).is_some());
        // Something the run did not make, or made longer ago than the window, is not retried.
        assert!(made.about(&map(serde_json::json!({ "GroupId": "sg-0fffffffffffffff0" })), window).is_none());
        assert!(made.about(&map(serde_json::json!({ "GroupId": "sg-0123456789abcdef0" })), Duration::ZERO).is_none());
        made.note("DeleteSecurityGroup", &serde_json::json!({ "GroupId": "sg-0123456789abcdef0" }), &Value::Null);
        assert!(made.about(&map(serde_json::json!({ "GroupId": "sg-0123456789abcdef0" })), window).is_none());
    }
}
