//! AWS is eventually consistent: for a few seconds after a create, calls that name the new resource
//! may be answered "not found" (the EC2 API reference, "Eventual consistency"; IAM roles, ELBv2
//! target groups and ECS clusters behave alike). A run remembers what its own writes made, and
//! when a call is answered not-found about one of those within the propagation window, the binding
//! layer waits and sends it again (see [`runbook_bindings::hooks::Hooks::propagating`]). A not-found about
//! anything else is the script's to handle at once, so that a typo is not retried for minutes.

use rhai::Map;
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::Value;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// The values that name what this run made, where and when.
#[derive(Default)]
pub struct Made {
    made: RefCell<Vec<Thing>>,
}

/// A value that names something the run made.
struct Thing {
    value: String,
    /// The operation that made it.
    op: String,
    /// Where ([`runbook_bindings::runtime::Context::place_key`]): the same name elsewhere is something else.
    place: String,
    at: Instant,
}

/// The key of a place the journal records (`{ region, role }`), as
/// [`runbook_bindings::runtime::Context::place_key`] makes it there; empty at home.
pub fn place_key(place: &Value) -> String {
    if !place.is_object() {
        return String::new();
    }
    runbook_bindings::runtime::place_key(place["region"].as_str(), place["role"].as_str())
}

/// Whether an error says that something does not exist, in its service's words (the binding
/// layer knows them: scripts read the same as `e.not_found`).
pub use runbook_bindings::absent::not_found;

/// Whether a not-found answer is about `value`, which `op` made: the answer names it (EC2 and IAM
/// name the missing id or name), or its code names the kind of thing `op` makes (ELBv2, ECS and
/// Application Auto Scaling say only what kind is missing). An input that names something the run
/// made and something else is thus not retried when the answer is about the other.
fn concerns(svc: Svc, error: &CallError, failing: &str, op: &str, value: &str) -> bool {
    let CallError::Aws { code, message, .. } = error else { return false };
    // The catalogue says which not-found codes are about what each kind of write makes.
    let says = crate::kinds::of(svc, op).is_some_and(|k| k.not_found.contains(&code.as_str()));
    let listed = || crate::kinds::all().any(|k| k.svc == svc && k.not_found.contains(&code.as_str()));
    match svc {
        Svc::Ec2 => message.contains(value),
        // IAM's messages differ between AWS and emulators, so the operations tell: a write onto
        // something (put a role's policy, attach, tag) misses what it writes onto, which the run
        // may have made; a read or delete misses its own kind of thing, which must be what the run
        // made (get_role_policy after create_role misses the policy, not the role).
        Svc::Iam => {
            let onto = ["Put", "Attach", "Add", "Tag", "Untag", "Update", "Set", "Upload"];
            onto.iter().any(|v| failing.starts_with(v)) || noun(failing) == noun(op)
        }
        // ELBv2's codes name the kind of thing missing and its messages do not name it; ECS's
        // codes name the kind too, and its other not-found answers name the value.
        Svc::Elbv2 => says,
        Svc::Ecs if listed() => says,
        _ => says || message.contains(value),
    }
}

/// What an operation acts on: `GetRolePolicy` → `RolePolicy`; every kind of role → `Role`.
fn noun(op: &str) -> &str {
    let verbs =
        ["Create", "Get", "Delete", "Put", "Update", "List", "Attach", "Detach", "Remove", "Add", "Tag", "Untag"];
    let rest = verbs.iter().find_map(|v| op.strip_prefix(v)).unwrap_or(op);
    if rest.ends_with("Role") {
        "Role"
    } else {
        rest
    }
}

/// The operation of the intent with sequence number `seq`.
fn outcome_op(records: &[Value], seq: &Value) -> String {
    records
        .iter()
        .find(|r| r["type"] == "intent" && &r["seq"] == seq)
        .and_then(|r| r["operation"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Whether an operation removes what its input names.
/// Whether an operation makes something that later calls may name: a maker of the catalogue, or a
/// `Put`, which may make what it names.
fn makes(op: &str) -> bool {
    crate::kinds::makes(op) || op.starts_with("Put")
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
    pub fn note(&self, place: &str, op: &str, input: &Value, output: &Value) {
        let mut made = self.made.borrow_mut();
        if crate::kinds::removes(op) {
            let mut gone = Vec::new();
            strings(input, &mut gone);
            made.retain(|t| t.place != place || !gone.contains(&t.value));
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
            made.retain(|t| t.value != s || t.place != place);
            made.push(Thing { value: s, op: op.to_string(), place: place.to_string(), at: now });
        }
    }

    /// Notes what a run recorded in `records` (a journal) made, as long ago as its outcomes say:
    /// an undo moments after its run meets the same lag as the run did, and a "not found" then is
    /// not "already gone".
    pub fn note_journal(&self, records: &[Value]) {
        let now = std::time::SystemTime::now();
        let mut made = self.made.borrow_mut();
        for outcome in records.iter().filter(|r| r["type"] == "outcome" && r["ok"] == true) {
            let Some(at) = outcome["time"]
                .as_str()
                .and_then(|t| {
                    aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).ok()
                })
                .and_then(|t| std::time::SystemTime::try_from(t).ok())
            else {
                continue;
            };
            let age = now.duration_since(at).unwrap_or_default();
            let Some(when) = Instant::now().checked_sub(age) else { continue };
            let intent = records.iter().find(|r| r["type"] == "intent" && r["seq"] == outcome["seq"]);
            let op = outcome_op(records, &outcome["seq"]);
            let place = place_key(intent.map(|i| &i["place"]).unwrap_or(&Value::Null));
            let mut values = Vec::new();
            for c in outcome["created"].as_array().into_iter().flatten() {
                strings(&c["id"], &mut values);
                for step in c["undo"].as_array().into_iter().flatten() {
                    strings(&step["input"], &mut values);
                }
            }
            for v in values.into_iter().filter(|v| !v.is_empty()) {
                made.push(Thing { value: v, op: op.clone(), place: place.clone(), at: when });
            }
        }
    }

    /// Every value that names something this run made.
    pub fn values(&self) -> Vec<String> {
        self.made.borrow().iter().map(|t| t.value.clone()).collect()
    }

    /// The value in `input` this run made within `window` in `place` that `error` (a not-found
    /// answer of `svc`) is about, and how long ago it was made, if any.
    pub fn about(
        &self,
        (svc, failing, place): (Svc, &str, &str),
        error: &CallError,
        input: &Map,
        window: Duration,
    ) -> Option<(String, Duration)> {
        let made = self.made.borrow();
        if made.is_empty() {
            return None;
        }
        let mut hit = None;
        runbook_bindings::json::for_each_string_in(input, &mut |s| {
            if hit.is_none() {
                hit = made
                    .iter()
                    .find(|t| {
                        t.value == s
                            && t.place == place
                            && t.at.elapsed() < window
                            && concerns(svc, error, failing, &t.op, &t.value)
                    })
                    .map(|t| (t.value.clone(), t.at.elapsed()));
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
        let map = |v: Value| runbook_bindings::json::from_value(&v).try_cast::<Map>().unwrap();
        made.note(
            "",
            "CreateSecurityGroup",
            &serde_json::json!({ "GroupName": "web", "Description": "d" }),
            &serde_json::json!({ "GroupId": "sg-0123456789abcdef0" }),
        );
        let window = Duration::from_secs(120);
        let missing = aws("InvalidGroup.NotFound", "The security group 'sg-0123456789abcdef0' does not exist");
        let by_id = map(serde_json::json!({ "GroupId": "sg-0123456789abcdef0" }));
        let hit = made.about((Svc::Ec2, "DescribeSecurityGroups", ""), &missing, &by_id, window);
        assert_eq!(hit.map(|h| h.0).as_deref(), Some("sg-0123456789abcdef0"));
        let by_name = aws("InvalidGroup.NotFound", "The security group 'web' does not exist in default VPC");
        assert!(made
            .about(
                (Svc::Ec2, "DescribeSecurityGroups", ""),
                &by_name,
                &map(serde_json::json!({ "GroupNames": ["web"] })),
                window
            )
            .is_some());
        // Something the run did not make, or made longer ago than the window, is not retried.
        let other = aws("InvalidGroup.NotFound", "The security group 'sg-0fffffffffffffff0' does not exist");
        let by_other = map(serde_json::json!({ "GroupId": "sg-0fffffffffffffff0" }));
        assert!(made.about((Svc::Ec2, "DescribeSecurityGroups", ""), &other, &by_other, window).is_none());
        assert!(made.about((Svc::Ec2, "DescribeSecurityGroups", ""), &missing, &by_id, Duration::ZERO).is_none());
        // An input that names what the run made, answered about something else it names.
        made.note("", "CreateRole", &serde_json::json!({ "RoleName": "app" }), &serde_json::json!({}));
        // (The emulator words this one "Policy Document read not attached to role app".)
        let policy = aws("NoSuchEntity", "The role policy with name read cannot be found.");
        let both = map(serde_json::json!({ "RoleName": "app", "PolicyName": "read" }));
        assert!(made.about((Svc::Iam, "GetRolePolicy", ""), &policy, &both, window).is_none());
        let role = aws("NoSuchEntity", "The role with name app cannot be found.");
        assert!(made.about((Svc::Iam, "PutRolePolicy", ""), &role, &both, window).is_some());
        let only = map(serde_json::json!({ "RoleName": "app" }));
        assert!(made.about((Svc::Iam, "GetRole", ""), &role, &only, window).is_some());
        // The same name in another account or region is something else: not retried there.
        assert!(made
            .about((Svc::Iam, "GetRole", "us-east-1|arn:aws:iam::111111111111:role/r"), &role, &only, window)
            .is_none());
        made.note("", "DeleteSecurityGroup", &serde_json::json!({ "GroupId": "sg-0123456789abcdef0" }), &Value::Null);
        assert!(made.about((Svc::Ec2, "DescribeSecurityGroups", ""), &missing, &by_id, window).is_none());
    }
}
