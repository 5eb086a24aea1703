//! The permissions a run needs, learnt while it is planned: every read the plan sends or answers,
//! every write it plans, the look-ups a real run makes before each write, and every call the undo
//! of that write would make. IAM checks some permissions beside a call's own action, and they are
//! added here too:
//! - tagging on create (`ec2:CreateTags`, `elasticloadbalancing:AddTags`, `ecs:TagResource`, …)
//!   when the create carries tags, the run's own tag included;
//! - `iam:PassRole` for each role ARN an input passes on to a service;
//! - `iam:CreateServiceLinkedRole` for the creates that make their service's linked role on first
//!   use (load balancers, ECS clusters and services, scalable targets);
//! - `sts:AssumeRole` for the roles a runbook enters with `with_target`.
//!
//! Apart, the reads `runbook drift` makes of what each planned write makes or sets (the write's
//! kind reads them back), for the policy drift needs (`runbook policy --drift`).
//!
//! Action names are the service's IAM prefix (from its model) and the operation's name. Where the
//! resource a call acts on is certain from its input (a name the runbook gives, or an ARN it
//! passes), the need carries its ARN, for a policy narrowed to those resources; see [`resource`].

use super::reconcile::{self, Before, Found};
use super::tags;
use super::undo;
use crate::kinds::{ecs_name, given, is_placeholder, member};
use rhai::Map;
use runbook_bindings::call::Svc;
use runbook_bindings::json;
use runbook_bindings::model::Table;
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};

/// One permission the run needs (`runbook policy --needs` prints one a line, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Need {
    /// `elasticloadbalancing:CreateListener`
    pub action: String,
    /// The resource's ARN where it is certain; `None` stands for any (`*`).
    pub resource: Option<String>,
    /// The runbook line whose call needs it: `runbooks/attach_alb.rhai:31`.
    pub at: String,
    /// Only undo needs it (it removes what the run made).
    pub undo: bool,
}

pub use crate::kinds::Where;

/// The needs of one plan.
#[derive(Default)]
pub struct Needs {
    list: RefCell<Vec<Need>>,
    /// Whether to work out resource ARNs (it asks STS for each place's account).
    narrow: Cell<bool>,
    /// Whether the run tags what it creates (the run tag).
    tagged: Cell<bool>,
    /// The reads drift makes of what the planned writes make or set.
    drift: RefCell<Vec<Need>>,
}

impl Needs {
    /// Works out the ARNs of the resources calls act on, where they are certain.
    pub fn narrow(&self, on: bool) {
        self.narrow.set(on);
    }

    /// Whether the run tags what it creates.
    pub fn tagging(&self, on: bool) {
        self.tagged.set(on);
    }

    /// Every need so far, in the order the plan met them.
    pub fn all(&self) -> Vec<Need> {
        self.list.borrow().clone()
    }

    /// The reads `runbook drift` makes of the planned writes' resources, and the account check.
    pub fn drift(&self) -> Vec<Need> {
        let mut all = self.drift.borrow().clone();
        all.push(Need { action: "sts:GetCallerIdentity".into(), resource: None, at: String::new(), undo: false });
        all
    }

    /// What drift reads to tell whether a write of `svc::op` with this input still holds: its
    /// kind's read-back, asked of answers that have every member (so that a read made only after
    /// another found something counts too).
    fn drift_reads(&self, svc: Svc, op: &str, input: &Value, at: &str) {
        let Some(kind) = crate::kinds::of(svc, op).filter(|k| k.readable()) else { return };
        let asked = RefCell::new(Vec::new());
        let read = |s: Svc, o: &str, _: Value| -> Result<Value, runbook_bindings::error::CallError> {
            asked.borrow_mut().push(action(s, o));
            let table = s.table()?;
            let output = table.operations.get(o).and_then(|op| op.output.as_deref());
            Ok(json::to_value(&super::plan::placeholder(table, output, "<drift#0 ")))
        };
        let created = [("planned".to_string(), "<planned>".to_string())];
        let _ = kind.facts(&read, input, &created);
        let mut list = self.drift.borrow_mut();
        for a in asked.into_inner() {
            if !list.iter().any(|n| n.action == a) {
                list.push(Need { action: a, resource: None, at: at.to_string(), undo: false });
            }
        }
    }

    /// A call the runbook's code names (at `at`) that the plan may not have made: a plan cannot
    /// take every branch a run takes over real data (each running task, each registered target).
    /// A write counts with what IAM checks beside it and with its undo, as if planned with inputs
    /// and answers that have every member.
    pub fn named(&self, ctx: &Context, svc: Svc, op: &str, at: &str) {
        let Ok(table) = svc.table() else { return };
        let Some(meta) = table.operations.get(op) else { return };
        if meta.readonly {
            self.add(action(svc, op), None, at, false);
            return;
        }
        // A placeholder like a plan's (`<svc.fn#N `): no resource is narrowed to it.
        let label = format!("<{}.{}#0 ", svc.module(), meta.func);
        let input = super::plan::placeholder(table, meta.input.as_deref(), &label);
        let mut input = input.try_cast::<Map>().unwrap_or_default();
        // A placeholder has every member, tags among them; whether a create carries tags is what
        // the plan saw of it, or the run tag (not with --no-tag).
        for tags in ["Tags", "tags", "TagSpecifications"] {
            input.remove(tags);
        }
        let answer = json::to_value(&super::plan::placeholder(table, meta.output.as_deref(), &label));
        self.drift_reads(svc, op, &json::map_to_value(&input), at);
        // Learnt apart, then added where the plan did not learn it already: an action the plan
        // met keeps the resources it met it on.
        let scratch = Needs::default();
        scratch.tagging(self.tagged.get());
        scratch.write(ctx, svc, op, &input, &answer, at);
        for n in scratch.all() {
            let met = self.list.borrow().iter().any(|m| m.action == n.action && m.undo == n.undo);
            if !met {
                self.add(n.action, n.resource, &n.at, n.undo);
            }
        }
    }

    fn add(&self, action: String, resource: Option<String>, at: &str, undo: bool) {
        let mut list = self.list.borrow_mut();
        if !list.iter().any(|n| n.action == action && n.resource == resource && n.undo == undo) {
            list.push(Need { action, resource, at: at.to_string(), undo });
        }
    }

    fn place(&self, ctx: &Context) -> Option<Where> {
        if !self.narrow.get() {
            return None;
        }
        let region = ctx.place().region().unwrap_or_default().to_string();
        let account = ctx.account().ok()?;
        Some(Where { partition: runbook_bindings::regions::partition(&region).into(), region, account })
    }

    /// A read the plan sends or answers.
    pub fn read(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, at: &str) {
        let place = self.place(ctx);
        self.call(svc, op, &json::map_to_value(input), place.as_ref(), at, false);
        self.entered(ctx, at);
    }

    /// A write the plan records instead of sending: the write, what IAM checks beside it, the
    /// look-ups before it, and its undo.
    pub fn write(&self, ctx: &Context, svc: Svc, op: &str, input: &Map, answer: &Value, at: &str) {
        let Ok(table) = svc.table() else { return };
        let place = self.place(ctx);
        let w = place.as_ref();
        let mut sent = input.clone();
        if self.tagged.get() {
            tags::tag(table, op, &mut sent, "plan");
        }
        let value = json::map_to_value(&sent);
        self.call(svc, op, &value, w, at, false);
        self.drift_reads(svc, op, &value, at);
        self.entered(ctx, at);
        if carries_tags(&value) {
            if let Some(tagging) = tag_action(table, op) {
                self.add(action(svc, &tagging), None, at, false);
            }
        }
        for role in passed_roles(&value) {
            let arn = (!is_placeholder(&role)).then_some(role);
            self.add("iam:PassRole".into(), arn.filter(|_| w.is_some()), at, false);
        }
        if makes_linked_role(table, op) {
            let linked = w.map(|w| format!("arn:{}:iam::{}:role/aws-service-role/*", w.partition, w.account));
            self.add("iam:CreateServiceLinkedRole".into(), linked, at, false);
        }
        let entry = reconcile::entry_for(svc, op);
        for (s, o) in entry.as_ref().map(|e| reconcile::reads_of(e, &value)).unwrap_or_default() {
            self.call(s, &o, &value, None, at, false);
        }
        // Undo: what it removes and how, whether the write creates or (a put, a modify) replaces.
        let placeholder = Found { id: "<planned>".into(), output: answer.clone() };
        for before in [Before::Absent, Before::Present(placeholder)] {
            let inverse = undo::inverse(svc, op, &value, answer, &before);
            for step in inverse.created.iter().flat_map(|c| c.undo.iter()) {
                let Some(s) = Svc::by_module(&step.service) else { continue };
                self.call(s, &step.operation, &step.input, w, at, true);
                let waiter = step.wait.as_deref().and_then(|name| s.table().ok()?.waiters.get(name));
                if let Some(waiter) = waiter {
                    self.call(s, &waiter.operation, &Value::Null, None, at, true);
                }
            }
        }
    }

    fn call(&self, svc: Svc, op: &str, input: &Value, w: Option<&Where>, at: &str, undo: bool) {
        let name = action(svc, op);
        let resource = w.and_then(|w| resource(svc, op, input, w));
        self.add(name, resource, at, undo);
    }

    /// Inside `with_target`, the home credentials assume the target's role.
    fn entered(&self, ctx: &Context, at: &str) {
        if let Some(role) = ctx.place().role.clone() {
            let arn = self.narrow.get().then_some(role);
            self.add("sts:AssumeRole".into(), arn, at, false);
        }
    }
}

/// `elasticloadbalancing:CreateListener`: the service's IAM prefix from its model, and the
/// operation's name.
pub fn action(svc: Svc, op: &str) -> String {
    runbook_bindings::denied::iam_action(svc, op)
}

/// Whether a create's input carries tags, in any of the services' ways.
fn carries_tags(input: &Value) -> bool {
    let non_empty =
        |v: &Value| v.as_array().is_some_and(|a| !a.is_empty()) || v.as_object().is_some_and(|m| !m.is_empty());
    non_empty(&input["Tags"])
        || non_empty(&input["tags"])
        || input["TagSpecifications"].as_array().into_iter().flatten().any(|s| non_empty(&s["Tags"]))
}

/// The operation IAM authorizes tagging on create with: the service's own tagging call
/// (`CreateTags`, `AddTags`, `TagResource`), or IAM's per kind (`CreateRole` → `TagRole`).
fn tag_action(table: &Table, op: &str) -> Option<String> {
    let noun = ["Create", "Upload"].iter().find_map(|v| op.strip_prefix(v)).unwrap_or("");
    [format!("Tag{noun}"), "TagResource".into(), "AddTags".into(), "CreateTags".into(), "AddTagsToCertificate".into()]
        .into_iter()
        .find(|o| o != "Tag" && table.operations.contains_key(o))
}

/// The role ARNs an input hands to a service (`taskRoleArn`, `executionRoleArn`, `RoleARN`, a
/// role ARN anywhere): the caller must be allowed to pass each.
fn passed_roles(input: &Value) -> Vec<String> {
    fn walk(key: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                let named = key.to_ascii_lowercase().ends_with("rolearn");
                let role_arn = s.starts_with("arn:") && s.contains(":iam::") && s.contains(":role/");
                if (named || role_arn) && !s.is_empty() && !out.contains(s) {
                    out.push(s.clone());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(key, x, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(k, x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", input, &mut out);
    out
}

/// The creates that make their service's linked role the first time they are used in an account.
fn makes_linked_role(table: &Table, op: &str) -> bool {
    matches!(
        (table.iam_prefix.as_str(), op),
        ("elasticloadbalancing", "CreateLoadBalancer")
            | ("ecs", "CreateCluster" | "CreateService")
            | ("application-autoscaling", "RegisterScalableTarget")
    )
}

/// The ARN of the resource an operation acts on, where its input makes it certain: a name the
/// runbook gives (`CreateTargetGroup` named `web` → `…:targetgroup/web/*`) or an ARN it passes.
/// The resource types and ARN formats are those of AWS's Service Authorization Reference for each
/// service; actions not listed here, and actions that take no resource-level permissions (most
/// `Describe*` and `List*`), get none, which stands for `*`.
pub fn resource(svc: Svc, op: &str, input: &Value, w: &Where) -> Option<String> {
    // What a write makes: its ARN as its kind in the catalogue gives it.
    if let Some(arn) = crate::kinds::of(svc, op).and_then(|k| k.arn) {
        return arn(input, w);
    }
    let s = |k: &str| member(input, k);
    let table = svc.table().ok()?;
    let prefix = table.iam_prefix.as_str();
    match (prefix, op) {
        (
            "elasticloadbalancing",
            "DeleteTargetGroup"
            | "ModifyTargetGroup"
            | "ModifyTargetGroupAttributes"
            | "RegisterTargets"
            | "DeregisterTargets",
        ) => s("TargetGroupArn"),
        (
            "elasticloadbalancing",
            "DeleteLoadBalancer" | "ModifyLoadBalancerAttributes" | "SetSecurityGroups" | "SetSubnets",
        ) => s("LoadBalancerArn"),
        ("elasticloadbalancing", "ModifyListener" | "DeleteListener") => s("ListenerArn"),
        ("ecs", "DeleteCluster") => ecs_arn(s("cluster"), |c| w.arn(prefix, format!("cluster/{c}"))),
        ("ecs", "UpdateService" | "DeleteService") => {
            let cluster = ecs_name(given(input, "cluster", "default")?);
            ecs_arn(s("service"), |n| w.arn(prefix, format!("service/{cluster}/{n}")))
        }
        ("acm", op) if op != "RequestCertificate" && op != "ListCertificates" => s("CertificateArn"),
        ("route53", "ChangeResourceRecordSets" | "ListResourceRecordSets" | "GetHostedZone" | "DeleteHostedZone") => {
            let id = s("HostedZoneId").or_else(|| s("Id"))?;
            let id = id.trim_start_matches("/hostedzone/");
            Some(format!("arn:{}:route53:::hostedzone/{id}", w.partition))
        }
        ("iam", op) if (op.ends_with("Role") || op.ends_with("RolePolicy")) && !op.contains("ServiceLinked") => {
            let global = |rest: String| format!("arn:{}:iam::{}:{rest}", w.partition, w.account);
            Some(global(format!("role/{}", s("RoleName")?)))
        }
        _ => None,
    }
}

/// An ECS resource given as an ARN (as it is) or a name (made into its ARN).
fn ecs_arn(v: Option<String>, make: impl Fn(&str) -> String) -> Option<String> {
    let v = v?;
    Some(if v.starts_with("arn:") { v } else { make(&v) })
}

/// An IAM policy document from needs: one statement per service, Resource `*`; undo's extra actions
/// in statements of their own. Needs that name their resources (a narrowed plan) group a service's
/// actions by the resources they act on, beside the statement of those that need `*`.
pub fn document(needs: &[Need]) -> Value {
    let run: Vec<&Need> = needs.iter().filter(|n| !n.undo).collect();
    let run_actions: Vec<&str> = run.iter().map(|n| n.action.as_str()).collect();
    // Undo's extra actions: those the run itself does not need anyway.
    let undo: Vec<&Need> = needs.iter().filter(|n| n.undo && !run_actions.contains(&n.action.as_str())).collect();
    let mut all = statements("Run", &run);
    all.extend(statements("Undo", &undo));
    json!({ "Version": "2012-10-17", "Statement": all })
}

/// The policy `runbook drift` needs: its reads, in statements `Drift<Service>`.
pub fn drift_document(needs: &[Need]) -> Value {
    let reads: Vec<&Need> = needs.iter().collect();
    json!({ "Version": "2012-10-17", "Statement": statements("Drift", &reads) })
}

/// One statement per service of `list`, its id `<part><Service>`: actions any of whose calls act
/// on an unknown resource on `*`, the others grouped by the resources they act on.
fn statements(part: &str, list: &[&Need]) -> Vec<Value> {
    let mut statements = Vec::new();
    let mut prefixes: Vec<&str> = list.iter().map(|n| prefix(&n.action)).collect();
    prefixes.sort();
    prefixes.dedup();
    for p in prefixes {
        let mine: Vec<&&Need> = list.iter().filter(|n| prefix(&n.action) == p).collect();
        let sid = format!("{part}{}", camel(p));
        // An action any of whose calls acts on an unknown resource needs `*`.
        let mut anywhere: Vec<&str> = mine.iter().filter(|n| n.resource.is_none()).map(|n| n.action.as_str()).collect();
        anywhere.sort();
        anywhere.dedup();
        let mut groups: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
        let mut actions: Vec<&str> = mine.iter().map(|n| n.action.as_str()).filter(|a| !anywhere.contains(a)).collect();
        actions.sort();
        actions.dedup();
        for a in actions {
            let mut resources: Vec<String> =
                mine.iter().filter(|n| n.action == a).filter_map(|n| n.resource.clone()).collect();
            resources.sort();
            resources.dedup();
            match groups.iter_mut().find(|g| g.0 == resources) {
                Some(g) => g.1.push(a),
                None => groups.push((resources, vec![a])),
            }
        }
        if !anywhere.is_empty() {
            statements.push(statement(&sid, anywhere, json!("*")));
        }
        for (i, (resources, actions)) in groups.into_iter().enumerate() {
            let resource = if resources.len() == 1 { json!(resources[0]) } else { json!(resources) };
            statements.push(statement(&format!("{sid}{}", i + 1), actions, resource));
        }
    }
    statements
}

fn statement(sid: &str, mut actions: Vec<&str>, resource: Value) -> Value {
    actions.sort();
    actions.dedup();
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource })
}

fn prefix(action: &str) -> &str {
    action.split(':').next().unwrap_or(action)
}

/// `application-autoscaling` → `ApplicationAutoscaling` (a statement id takes letters and digits).
fn camel(prefix: &str) -> String {
    prefix
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The trust policy a fleet's `--assume-role` role needs: the principal (an account id, for any
/// principal there its own policies allow, or a principal's ARN) may assume it, with the external
/// id when one is asked for.
pub fn trust_document(principal: &str, external_id: Option<&str>) -> Value {
    let who = if principal.chars().all(|c| c.is_ascii_digit()) {
        format!("arn:aws:iam::{principal}:root")
    } else {
        principal.to_string()
    };
    let mut statement = json!({
        "Sid": "RunbookFleet", "Effect": "Allow", "Principal": { "AWS": who }, "Action": "sts:AssumeRole",
    });
    if let Some(id) = external_id {
        statement["Condition"] = json!({ "StringEquals": { "sts:ExternalId": id } });
    }
    json!({ "Version": "2012-10-17", "Statement": [statement] })
}

/// An action the simulator says the caller may not call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub action: String,
    /// `implicitDeny` (no policy allows it) or `explicitDeny` (a policy denies it).
    pub decision: String,
    /// The runbook line that needs it first.
    pub at: String,
    /// Only undo needs it.
    pub undo: bool,
}

/// What the check before a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every action the run and its undo need is allowed.
    Allowed {
        principal: String,
        actions: usize,
    },
    Denied {
        principal: String,
        actions: usize,
        denied: Vec<Denial>,
    },
    /// Permissions were not checked; the text says why.
    NotChecked(String),
}

/// Asks the simulator (`evaluate`) about every action in `needs` for `principal`, and judges its
/// answer. Where the caller may not ask, or the endpoint does not offer the simulator, the verdict
/// says that permissions were not checked.
pub fn judge(
    needs: &[Need],
    principal: Result<String, String>,
    evaluate: impl FnOnce(&str, &[String]) -> Result<Vec<Value>, Box<runbook_bindings::error::CallError>>,
) -> Verdict {
    let principal = match principal {
        Ok(p) => p,
        Err(why) => return Verdict::NotChecked(why),
    };
    let mut actions: Vec<String> = needs.iter().map(|n| n.action.clone()).collect();
    actions.sort();
    actions.dedup();
    if actions.is_empty() {
        return Verdict::Allowed { principal, actions: 0 };
    }
    let results = match evaluate(&principal, &actions) {
        Ok(r) => r,
        Err(e) => return Verdict::NotChecked(not_checked(&e)),
    };
    let mut denied = Vec::new();
    for action in &actions {
        let decisions: Vec<&str> = results
            .iter()
            .filter(|r| r["EvalActionName"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(action)))
            .filter_map(|r| r["EvalDecision"].as_str())
            .collect();
        // An action the answer leaves out was not evaluated: it is not called allowed.
        let decision = match decisions.iter().find(|d| **d != "allowed") {
            Some(d) => d.to_string(),
            None if decisions.is_empty() => "notEvaluated".to_string(),
            None => continue,
        };
        let first = needs
            .iter()
            .find(|n| &n.action == action && !n.undo)
            .or_else(|| needs.iter().find(|n| &n.action == action));
        let (at, undo) = first.map(|n| (n.at.clone(), n.undo)).unwrap_or_default();
        denied.push(Denial { action: action.clone(), decision, at, undo });
    }
    let count = actions.len();
    match denied.is_empty() {
        true => Verdict::Allowed { principal, actions: count },
        false => Verdict::Denied { principal, actions: count, denied },
    }
}

/// Why the simulator gave no answer, in a few words.
fn not_checked(e: &runbook_bindings::error::CallError) -> String {
    let code = e.code();
    let asked = "iam:SimulatePrincipalPolicy";
    if runbook_bindings::denied::is_denial(code) {
        return format!("the caller may not call {asked} ({code})");
    }
    let message = e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default();
    let message = message.lines().next().unwrap_or_default().chars().take(160).collect::<String>();
    let detail = if message.is_empty() { code.to_string() } else { format!("{code}: {message}") };
    format!("{asked} did not answer ({detail}); the endpoint may not offer it")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(action: &str, resource: Option<&str>, undo: bool) -> Need {
        Need { action: action.into(), resource: resource.map(str::to_string), at: "r.rhai:1".into(), undo }
    }

    #[test]
    fn a_document_has_a_statement_per_service_and_undos_extras_apart() {
        let needs = [
            need("ecs:CreateService", None, false),
            need("ecs:DescribeServices", None, false),
            need("iam:PassRole", None, false),
            need("ecs:DeleteService", None, true),
            need("ecs:DescribeServices", None, true),
            need("application-autoscaling:RegisterScalableTarget", None, false),
        ];
        let doc = document(&needs);
        let sids: Vec<&str> = doc["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
        assert_eq!(sids, ["RunApplicationAutoscaling", "RunEcs", "RunIam", "UndoEcs"]);
        assert_eq!(doc["Statement"][1]["Action"], json!(["ecs:CreateService", "ecs:DescribeServices"]));
        // DescribeServices is in the run's statement already: undo's statement has only its extra.
        assert_eq!(doc["Statement"][3]["Action"], json!(["ecs:DeleteService"]));
        assert!(doc["Statement"].as_array().unwrap().iter().all(|s| s["Resource"] == "*"));
    }

    #[test]
    fn narrowed_actions_name_their_resources_and_the_rest_keep_any() {
        let w = Where { partition: "aws".into(), region: "eu-west-1".into(), account: "111122223333".into() };
        let tg = resource(Svc::Elbv2, "CreateTargetGroup", &json!({ "Name": "web" }), &w);
        assert_eq!(tg.as_deref(), Some("arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/*"));
        let svc = resource(Svc::Ecs, "UpdateService", &json!({ "cluster": "c1", "service": "s1" }), &w);
        assert_eq!(svc.as_deref(), Some("arn:aws:ecs:eu-west-1:111122223333:service/c1/s1"));
        let planned = json!({ "TargetGroupArn": "<elbv2.create_target_group#1 TargetGroups[0].TargetGroupArn>" });
        assert_eq!(resource(Svc::Elbv2, "DeleteTargetGroup", &planned, &w), None);
        assert_eq!(resource(Svc::Elbv2, "DescribeTargetGroups", &json!({ "Names": ["web"] }), &w), None);
        // Route 53 zones are global: no region or account in their ARN, and no /hostedzone/ prefix.
        let zone = resource(Svc::Route53, "ChangeResourceRecordSets", &json!({ "HostedZoneId": "/hostedzone/Z1" }), &w);
        assert_eq!(zone.as_deref(), Some("arn:aws:route53:::hostedzone/Z1"));
        let cert = "arn:aws:acm:eu-west-1:111122223333:certificate/1";
        assert_eq!(
            resource(Svc::Acm, "DeleteCertificate", &json!({ "CertificateArn": cert }), &w).as_deref(),
            Some(cert)
        );
        assert_eq!(resource(Svc::Acm, "RequestCertificate", &json!({ "DomainName": "a.example.com" }), &w), None);
        // A cluster left out is the default one; one only planned is not known yet.
        let default = resource(Svc::Ecs, "CreateCluster", &json!({}), &w);
        assert_eq!(default.as_deref(), Some("arn:aws:ecs:eu-west-1:111122223333:cluster/default"));
        assert_eq!(
            resource(Svc::Ecs, "CreateCluster", &json!({ "clusterName": "<ecs.create_cluster#0 clusterName>" }), &w),
            None
        );
        let needs = [
            need("elasticloadbalancing:CreateTargetGroup", tg.as_deref(), false),
            need("elasticloadbalancing:DescribeTargetGroups", None, false),
            need("ecs:UpdateService", svc.as_deref(), false),
            need("ecs:UpdateService", Some("arn:aws:ecs:eu-west-1:111122223333:service/c1/s2"), false),
        ];
        let doc = document(&needs);
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3, "{doc:#}");
        assert_eq!(
            st[0]["Resource"],
            json!([
                "arn:aws:ecs:eu-west-1:111122223333:service/c1/s1",
                "arn:aws:ecs:eu-west-1:111122223333:service/c1/s2"
            ])
        );
        assert_eq!(
            (st[1]["Action"].clone(), st[1]["Resource"].clone()),
            (json!(["elasticloadbalancing:DescribeTargetGroups"]), json!("*"))
        );
        assert_eq!(st[2]["Resource"], json!(tg));
    }

    #[test]
    fn roles_passed_on_and_tags_on_create_are_seen() {
        let td = json!({ "family": "web", "executionRoleArn": "arn:aws:iam::1:role/exec", "containerDefinitions": [{ "name": "c" }],
                         "taskRoleArn": "<iam.create_role#2 Role.Arn>" });
        assert_eq!(passed_roles(&td), ["arn:aws:iam::1:role/exec", "<iam.create_role#2 Role.Arn>"]);
        assert!(passed_roles(&json!({ "family": "web" })).is_empty());
        assert!(carries_tags(
            &json!({ "TagSpecifications": [{ "ResourceType": "vpc", "Tags": [{ "Key": "a", "Value": "b" }] }] })
        ));
        assert!(!carries_tags(&json!({ "Tags": [] })));
        let tag = |svc: Svc, op: &str| tag_action(svc.table().unwrap(), op);
        assert_eq!(tag(Svc::Elbv2, "CreateTargetGroup").as_deref(), Some("AddTags"));
        assert_eq!(tag(Svc::Ec2, "CreateSecurityGroup").as_deref(), Some("CreateTags"));
        assert_eq!(tag(Svc::Ecs, "CreateService").as_deref(), Some("TagResource"));
        assert_eq!(tag(Svc::Iam, "CreateRole").as_deref(), Some("TagRole"));
        assert_eq!(tag(Svc::ApplicationAutoscaling, "RegisterScalableTarget").as_deref(), Some("TagResource"));
        assert_eq!(action(Svc::ApplicationAutoscaling, "PutScalingPolicy"), "application-autoscaling:PutScalingPolicy");
    }

    #[test]
    fn a_trust_policy_names_the_account_or_the_principal() {
        let t = trust_document("111122223333", Some("ext-1"));
        assert_eq!(t["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert_eq!(t["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], "ext-1");
        let t = trust_document("arn:aws:iam::111122223333:user/ci", None);
        assert_eq!(t["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::111122223333:user/ci");
        assert!(t["Statement"][0].get("Condition").is_none());
    }

    fn recorded(decisions: &[(&str, &str)]) -> Vec<Value> {
        decisions
            .iter()
            .map(|(a, d)| json!({ "EvalActionName": a, "EvalResourceName": "*", "EvalDecision": d, "MatchedStatements": [] }))
            .collect()
    }

    #[test]
    fn the_simulators_answer_decides_which_actions_are_denied_and_where() {
        let needs = [
            Need {
                action: "ecs:CreateService".into(),
                resource: None,
                at: "runbooks/prereqs.rhai:40".into(),
                undo: false,
            },
            Need {
                action: "ecs:DescribeServices".into(),
                resource: None,
                at: "runbooks/prereqs.rhai:30".into(),
                undo: false,
            },
            Need {
                action: "ecs:DeleteService".into(),
                resource: None,
                at: "runbooks/prereqs.rhai:40".into(),
                undo: true,
            },
        ];
        let who = || Ok("arn:aws:iam::123456789012:user/ci".to_string());
        // An answer as IAM gives it: one explicit deny, one undo action no policy allows.
        let answer = recorded(&[
            ("ecs:CreateService", "explicitDeny"),
            ("ecs:DeleteService", "implicitDeny"),
            ("ecs:DescribeServices", "allowed"),
        ]);
        let asked = std::cell::RefCell::new(Vec::new());
        let v = judge(&needs, who(), |p, a| {
            asked.borrow_mut().push((p.to_string(), a.to_vec()));
            Ok(answer.clone())
        });
        assert_eq!(asked.borrow()[0].1, ["ecs:CreateService", "ecs:DeleteService", "ecs:DescribeServices"]);
        let Verdict::Denied { denied, actions, .. } = v else { panic!("{v:?}") };
        assert_eq!(actions, 3);
        assert_eq!(
            denied.iter().map(|d| (d.action.as_str(), d.decision.as_str(), d.at.as_str(), d.undo)).collect::<Vec<_>>(),
            [
                ("ecs:CreateService", "explicitDeny", "runbooks/prereqs.rhai:40", false),
                ("ecs:DeleteService", "implicitDeny", "runbooks/prereqs.rhai:40", true)
            ]
        );
        // All allowed; an action left out of the answer is not taken for allowed.
        let all = recorded(&[
            ("ecs:CreateService", "allowed"),
            ("ecs:DeleteService", "allowed"),
            ("ecs:DescribeServices", "allowed"),
        ]);
        assert!(matches!(judge(&needs, who(), |_, _| Ok(all.clone())), Verdict::Allowed { actions: 3, .. }));
        let Verdict::Denied { denied, .. } = judge(&needs, who(), |_, _| Ok(all[..2].to_vec())) else { panic!() };
        assert_eq!((denied[0].action.as_str(), denied[0].decision.as_str()), ("ecs:DescribeServices", "notEvaluated"));
        // The caller may not ask; the endpoint does not offer it (500); nobody to simulate.
        let refused = runbook_bindings::error::CallError::Aws {
            service: "iam".into(),
            operation: "SimulatePrincipalPolicy".into(),
            code: "AccessDenied".into(),
            message:
                "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:SimulatePrincipalPolicy"
                    .into(),
            request_id: None,
            status: Some(403),
            retryable: false,
        };
        let Verdict::NotChecked(why) = judge(&needs, who(), |_, _| Err(Box::new(refused))) else { panic!() };
        assert!(why.contains("may not call iam:SimulatePrincipalPolicy"), "{why}");
        let broken = runbook_bindings::error::CallError::Aws {
            service: "iam".into(),
            operation: "SimulatePrincipalPolicy".into(),
            code: "InternalFailure".into(),
            message: "The simulate_principal_policy action has not been implemented".into(),
            request_id: None,
            status: Some(500),
            retryable: true,
        };
        let Verdict::NotChecked(why) = judge(&needs, who(), |_, _| Err(Box::new(broken))) else { panic!() };
        assert!(why.contains("did not answer (InternalFailure: The simulate_principal_policy"), "{why}");
        let root = Err("the caller is the account's root user, whom no IAM policy limits".to_string());
        assert!(matches!(judge(&needs, root, |_, _| unreachable!()), Verdict::NotChecked(_)));
    }
}
