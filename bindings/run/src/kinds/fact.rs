//! What a write set, beside what is there now: a [`Fact`] per resource a write made or changed,
//! and the member-by-member comparison that `converge`, undo's check and `drift` all use.

use serde_json::{json, Value};

/// One resource as a write left it and as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// What it is, as undo names it: `target group`, `listener`, `tags on`, `record`.
    pub what: String,
    pub id: String,
    /// The members the write set, shaped as the read answers them; `None` when the write took
    /// the thing away (a record deleted by a change batch).
    pub wrote: Option<Value>,
    /// The same members as they are now; `None` when the thing is not there.
    pub now: Option<Value>,
}

/// One member that is not what a write set: at `member` (a dotted path), the write set `wrote`
/// and it is `now`; for a list, the items `added` since and those `removed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub member: String,
    pub wrote: Value,
    pub now: Value,
    pub added: Vec<Value>,
    pub removed: Vec<Value>,
}

impl Difference {
    /// `Member is now X, the run set Y`; for a list, what was added and removed.
    pub fn text(&self) -> String {
        if self.wrote.is_array() && self.now.is_array() && (!self.added.is_empty() || !self.removed.is_empty()) {
            let mut parts = Vec::new();
            if !self.removed.is_empty() {
                parts.push(format!("removed {}", short(&Value::Array(self.removed.clone()))));
            }
            if !self.added.is_empty() {
                parts.push(format!("added {}", short(&Value::Array(self.added.clone()))));
            }
            return format!("{}: {} since the run set it", self.member, parts.join(", "));
        }
        if self.now.is_null() {
            return format!("{} is not there now, the run set {}", self.member, short(&self.wrote));
        }
        if self.wrote.is_null() {
            return format!("{} is there now ({}), which the run did not set", self.member, short(&self.now));
        }
        format!("{} is now {}, the run set {}", self.member, short(&self.now), short(&self.wrote))
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({ "member": self.member, "wrote": self.wrote, "now": self.now });
        if self.wrote.is_array() && self.now.is_array() {
            v["added"] = json!(self.added);
            v["removed"] = json!(self.removed);
        }
        v
    }
}

/// Where a fact stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    InSync,
    Changed(Vec<Difference>),
    /// What the write made or set is not there.
    Gone,
    /// What the write took away is there again.
    Back,
}

impl Fact {
    pub fn standing(&self) -> Standing {
        match (&self.wrote, &self.now) {
            (None, None) => Standing::InSync,
            (None, Some(_)) => Standing::Back,
            (Some(_), None) => Standing::Gone,
            (Some(w), Some(n)) => {
                let d = differences(w, n);
                if d.is_empty() {
                    Standing::InSync
                } else {
                    Standing::Changed(d)
                }
            }
        }
    }

    /// What is not so any more, in one line; `None` when all of it holds.
    pub fn text(&self) -> Option<String> {
        match self.standing() {
            Standing::InSync => None,
            Standing::Gone => Some(format!("the {} {} is gone", self.what, self.id)),
            Standing::Back => Some(format!("the {} {} exists again", self.what, self.id)),
            Standing::Changed(d) => Some(d[0].text()),
        }
    }
}

/// Every member `written` sets whose value is another in `present`, with its path. Members AWS
/// adds beside them are not differences, nor is an empty list or map the run wrote and AWS leaves
/// out.
pub fn differences(written: &Value, present: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(written, present, "", &mut out);
    out
}

fn walk(written: &Value, present: &Value, path: &str, out: &mut Vec<Difference>) {
    let (Some(w), Some(p)) = (written.as_object(), present.as_object()) else {
        // A value the journal kept masked (a secret, or what holds one) is not known: it is not
        // compared, and what it is now is not shown.
        if !masked(written) && !holds(written, present) {
            out.push(difference(path, written, present));
        }
        return;
    };
    for (k, v) in w {
        let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        match (v, p.get(k)) {
            (Value::Null, _) => {}
            (v, _) if !v.is_object() && masked(v) => {}
            (Value::Array(a), None | Some(Value::Null)) if a.is_empty() => {}
            (Value::Object(o), None | Some(Value::Null)) if o.is_empty() => {}
            (_, None) => out.push(difference(&at, v, &Value::Null)),
            (Value::Object(_), Some(now @ Value::Object(_))) => walk(v, now, &at, out),
            (_, Some(now)) if !holds(v, now) => out.push(difference(&at, v, now)),
            _ => {}
        }
    }
}

fn difference(path: &str, wrote: &Value, now: &Value) -> Difference {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    if let (Value::Array(w), Value::Array(n)) = (wrote, now) {
        removed = w.iter().filter(|x| !n.iter().any(|y| holds(x, y))).cloned().collect();
        added = n.iter().filter(|y| !w.iter().any(|x| holds(x, y))).cloned().collect();
    }
    let member = if path.is_empty() { "(value)".to_string() } else { path.to_string() };
    Difference { member, wrote: wrote.clone(), now: now.clone(), added, removed }
}

/// Whether a written value holds a secret the journal masked.
fn masked(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(runbook_bindings::secrets::MASK),
        Value::Array(a) => a.iter().any(masked),
        Value::Object(m) => m.values().any(masked),
        _ => false,
    }
}

/// Whether everything `written` sets holds in `present`: AWS adds defaults beside it, answers some
/// numbers as text, a name as the ARN that ends with it, and a list in an order of its own.
pub fn holds(written: &Value, present: &Value) -> bool {
    match (written, present) {
        (Value::Object(w), Value::Object(p)) => w.iter().all(|(k, v)| match (v, p.get(k)) {
            (Value::Null, _) => true,
            (Value::Array(a), None | Some(Value::Null)) => a.is_empty(),
            (_, Some(pv)) => holds(v, pv),
            (_, None) => false,
        }),
        (Value::Array(w), Value::Array(p)) => {
            if w.len() != p.len() {
                return false;
            }
            // Each written item held by an item of its own, in any order.
            let mut used = vec![false; p.len()];
            w.iter().all(|x| match (0..p.len()).find(|&i| !used[i] && holds(x, &p[i])) {
                Some(i) => {
                    used[i] = true;
                    true
                }
                None => false,
            })
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => n.to_string() == *s,
        (Value::String(w), Value::String(p)) => w == p || names_arn(w, p),
        (a, b) => a == b,
    }
}

/// Whether `arn` is the ARN of what `name` names: `web` for `…:cluster/web`, `app:3` for
/// `…:task-definition/app:3`. A family without its revision is not one of its revisions.
fn names_arn(name: &str, arn: &str) -> bool {
    !name.is_empty() && !name.starts_with("arn:") && arn.starts_with("arn:") && arn.ends_with(&format!("/{name}"))
}

/// A value in a line: cut after 160 characters.
pub(crate) fn short(x: &Value) -> String {
    let t = x.to_string();
    match t.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn differs(written: &Value, now: &Value) -> Option<String> {
        differences(written, now).first().map(Difference::text)
    }

    #[test]
    fn what_a_run_wrote_holds_beside_what_aws_adds() {
        let written = json!({ "DefaultActions": [{ "Type": "forward", "TargetGroupArn": "tg-a" }], "Port": 80 });
        let now = json!({
            "DefaultActions": [{ "Type": "forward", "TargetGroupArn": "tg-a", "ForwardConfig": { "TargetGroups": [] } }],
            "Port": 80, "Protocol": "HTTP"
        });
        assert!(holds(&written, &now));
        assert_eq!(differs(&written, &now), None);
        let moved = json!({ "DefaultActions": [{ "Type": "forward", "TargetGroupArn": "tg-b" }], "Port": 80 });
        let what = differs(&written, &moved).unwrap();
        assert_eq!(
            what,
            r#"DefaultActions: removed [{"Type":"forward","TargetGroupArn":"tg-a"}], added [{"Type":"forward","TargetGroupArn":"tg-b"}] since the run set it"#
        );
        assert!(holds(&json!({ "TTL": 300 }), &json!({ "TTL": "300" })));
        assert!(!holds(&json!([1, 2]), &json!([1])));
        assert!(holds(&json!(["sg-1", "sg-2"]), &json!(["sg-2", "sg-1"])), "a list in another order");
        assert!(!holds(&json!(["a", "a"]), &json!(["a", "b"])), "each item held by one of its own");
        assert!(holds(&json!("web"), &json!("arn:aws:ecs:us-east-1:1:cluster/web")));
        assert!(holds(&json!("app:3"), &json!("arn:aws:ecs:us-east-1:1:task-definition/app:3")));
        assert!(!holds(&json!("app"), &json!("arn:aws:ecs:us-east-1:1:task-definition/app:3")));
    }

    #[test]
    fn a_difference_names_its_member_path_and_the_items_of_a_list() {
        let written = json!({ "TargetTrackingScalingPolicyConfiguration": { "TargetValue": 50.0, "PredefinedMetricSpecification": { "PredefinedMetricType": "X" } }, "SecurityGroups": ["sg-1"], "Tags": [] });
        let now = json!({ "TargetTrackingScalingPolicyConfiguration": { "TargetValue": 70.0, "PredefinedMetricSpecification": { "PredefinedMetricType": "X" } }, "SecurityGroups": ["sg-1", "sg-9"] });
        let d = differences(&written, &now);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].member, "TargetTrackingScalingPolicyConfiguration.TargetValue");
        assert_eq!(d[0].text(), "TargetTrackingScalingPolicyConfiguration.TargetValue is now 70.0, the run set 50.0");
        assert_eq!(d[1].member, "SecurityGroups");
        assert_eq!(d[1].added, [json!("sg-9")]);
        assert!(d[1].removed.is_empty());
        assert_eq!(d[1].text(), "SecurityGroups: added [\"sg-9\"] since the run set it");
        // A member whose written value the journal masked is not compared.
        let secret = json!({ "HealthCheckPath": format!("/{}", runbook_bindings::secrets::MASK), "Port": 80 });
        assert_eq!(differences(&secret, &json!({ "HealthCheckPath": "/s3cr3t", "Port": 80 })), []);
        let gone = Fact { what: "listener".into(), id: "l-1".into(), wrote: Some(json!({})), now: None };
        assert_eq!(gone.standing(), Standing::Gone);
        assert_eq!(gone.text().unwrap(), "the listener l-1 is gone");
        let back = Fact { what: "record".into(), id: "a.example.com. A".into(), wrote: None, now: Some(json!({})) };
        assert_eq!(back.standing(), Standing::Back);
    }
}
