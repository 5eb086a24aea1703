//! Which read lists the values of an input member that names a resource: `TargetGroupArn` is
//! listed by `elbv2::describe_target_groups` at `TargetGroups[].TargetGroupArn`, ECS's `cluster`
//! by `ecs::list_clusters` at `clusterArns[]`. Derived from the service tables (member names and
//! shapes, and the read operations whose results list that identifier), never written per service;
//! the REPL completes such members with the account's real values.

use crate::model::{Shape, Table};
use crate::svc::Svc;
use serde_json::Value;

/// A read that lists a member's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub svc: Svc,
    /// The operation's name in the model (`DescribeTargetGroups`) and as a script function.
    pub operation: String,
    pub func: String,
    /// The lists to walk in the result: `["TargetGroups"]`, `["Reservations", "Instances"]`.
    pub path: Vec<String>,
    /// The member of each listed structure that holds the value; `None` when the list holds the
    /// values themselves (ARNs).
    pub id: Option<String>,
    /// A member that names the resource, shown beside the value (`TargetGroupName`).
    pub label: Option<String>,
    /// The member takes a name, and the list holds ARNs: the value is the ARN's last part.
    pub name_of_arn: bool,
    /// Input members of the read that the map being typed can fill (`cluster` for `list_services`).
    pub fills: Vec<String>,
}

/// `Policies` → `Policy`, `Addresses` → `Address`, `SubnetIds` → `SubnetId`.
fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = name.strip_suffix("sses") {
        format!("{stem}ss")
    } else if name.ends_with("ss") {
        name.to_string()
    } else {
        name.strip_suffix('s').unwrap_or(name).to_string()
    }
}

/// A member's one-value name, its resource stem and what kind of identifier it is:
/// `SubnetIds` → (`SubnetId`, `Subnet`, Some("Id")), `cluster` → (`cluster`, `cluster`, None).
fn parts(member: &str, is_list: bool) -> (String, String, Option<&'static str>) {
    let one = if is_list { singular(member) } else { member.to_string() };
    for kind in ["Arn", "Id", "Name"] {
        if let Some(stem) = one.strip_suffix(kind) {
            return (one.clone(), stem.to_string(), Some(kind));
        }
    }
    (one.clone(), one, None)
}

/// `cluster` → `Clusters`, `Policy` → `Policies`: how read operations name what they list.
fn plural(stem: &str) -> String {
    let mut c = stem.chars();
    let cap: String = c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default();
    if let Some(s) = cap.strip_suffix('y') {
        format!("{s}ies")
    } else if cap.ends_with('s') {
        format!("{cap}es")
    } else {
        format!("{cap}s")
    }
}

fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in name.chars() {
        if c == '_' || (c.is_ascii_uppercase() && !cur.is_empty()) {
            if !cur.is_empty() {
                out.push(singular(&cur.to_ascii_lowercase()));
            }
            cur.clear();
        }
        if c != '_' {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(singular(&cur.to_ascii_lowercase()));
    }
    out
}

struct Candidate {
    reader: Reader,
    /// Higher is better: (same service, the read named after the resource, shallow, exact stem,
    /// words shared with the calling function, ARNs for a name-or-ARN member, shorter operation).
    rank: (bool, bool, bool, bool, usize, bool, std::cmp::Reverse<usize>),
}

/// The read whose result lists the values of `member` of `svc`'s `func` input, if the models have
/// one. `given` are the members already typed in the same map; a read may require only those.
pub fn reader(svc: Svc, func: &str, member: &str, given: &[String]) -> Option<Reader> {
    let table = svc.table().ok()?;
    let (_, op) = table.operation_by_fn(func)?;
    let input = table.shape(op.input.as_deref()?)?;
    let target = table.shape(input.member_shape(member)?)?;
    let is_list = target.kind == "list";
    let element = if is_list { target.member.as_deref().and_then(|m| table.shape(m))? } else { target };
    if element.kind != "string" || !element.values.is_empty() {
        return None;
    }
    let (one, stem, kind) = parts(member, is_list);
    if stem.is_empty() {
        return None;
    }
    // The nouns of the calling function; its verb says nothing about which read lists a member.
    let context: Vec<String> = words(func).into_iter().skip(1).collect();
    let plural = plural(&stem);
    let primary = [format!("Describe{plural}"), format!("List{plural}")];
    let mut best: Option<Candidate> = None;
    for other in Svc::ALL {
        let Ok(t) = other.table() else { continue };
        for (name, read) in &t.operations {
            if !read.readonly || !(read.func.starts_with("describe_") || read.func.starts_with("list_")) {
                continue;
            }
            if !other.operations().iter().any(|(_, o)| o == name) {
                continue;
            }
            let read_input = read.input.as_deref().and_then(|s| t.shape(s));
            let required = read_input.map(|s| s.required.clone()).unwrap_or_default();
            if !required.iter().all(|r| given.contains(r)) {
                continue;
            }
            let fills: Vec<String> = read_input
                .map(|s| s.member_names().filter(|m| given.iter().any(|g| g == m)).map(str::to_string).collect())
                .unwrap_or_default();
            let Some(output) = read.output.as_deref().and_then(|s| t.shape(s)) else { continue };
            for found in lists(t, output, &stem, &one, kind) {
                let shared = words(&read.func).iter().skip(1).filter(|w| context.contains(w)).count();
                let rank = (
                    other == svc,
                    primary.contains(name),
                    found.path.len() == 1,
                    found.exact,
                    shared,
                    kind.is_none() == found.id.is_none(),
                    std::cmp::Reverse(name.len()),
                );
                if best.as_ref().is_some_and(|b| b.rank >= rank) {
                    continue;
                }
                let reader = Reader {
                    svc: other,
                    operation: name.clone(),
                    func: read.func.clone(),
                    path: found.path,
                    name_of_arn: kind.is_none() && found.id.is_none(),
                    id: found.id,
                    label: found.label,
                    fills: fills.clone(),
                };
                best = Some(Candidate { reader, rank });
            }
        }
    }
    best.map(|b| b.reader)
}

struct Found {
    path: Vec<String>,
    id: Option<String>,
    label: Option<String>,
    exact: bool,
}

/// The lists in a result whose items are the resource named by `stem`: lists of structures with
/// the identifier member (one level of nesting deep), and lists of ARNs (`clusterArns`).
fn lists(table: &Table, output: &Shape, stem: &str, one: &str, kind: Option<&str>) -> Vec<Found> {
    let mut found = Vec::new();
    let stem_lower = stem.to_ascii_lowercase();
    for list in output.member_names() {
        let Some(shape) = output.member_shape(list).and_then(|s| table.shape(s)) else { continue };
        if shape.kind != "list" {
            continue;
        }
        let Some(item) = shape.member.as_deref().and_then(|m| table.shape(m)) else { continue };
        let item_name = singular(list);
        if item.kind == "string" && item.values.is_empty() {
            // `clusterArns` for `cluster`; `TargetGroupArns` for `TargetGroupArn`.
            let named = item_name.eq_ignore_ascii_case(one) || (kind.is_none() && item_name == format!("{one}Arn"));
            if named {
                found.push(Found { path: vec![list.to_string()], id: None, label: None, exact: true });
            }
            continue;
        }
        if item.kind != "structure" {
            continue;
        }
        let lower = item_name.to_ascii_lowercase();
        if lower.ends_with(&stem_lower) {
            if let Some(id) = id_member(item, stem, one, kind) {
                let label = label_member(item, stem, &id);
                found.push(Found { path: vec![list.to_string()], id: Some(id), label, exact: lower == stem_lower });
            }
            continue;
        }
        // One level down: `Reservations[].Instances[]`.
        for inner in item.member_names() {
            let Some(s) = item.member_shape(inner).and_then(|s| table.shape(s)) else { continue };
            let Some(e) = s.member.as_deref().and_then(|m| table.shape(m)).filter(|_| s.kind == "list") else {
                continue;
            };
            let inner_lower = singular(inner).to_ascii_lowercase();
            if e.kind == "structure" && inner_lower.ends_with(&stem_lower) {
                if let Some(id) = id_member(e, stem, one, kind) {
                    let label = label_member(e, stem, &id);
                    let path = vec![list.to_string(), inner.to_string()];
                    found.push(Found { path, id: Some(id), label, exact: inner_lower == stem_lower });
                }
            }
        }
    }
    found
}

/// The member of a listed structure that is the identifier asked for: the same name
/// (`TargetGroupArn`), the bare kind (IAM's `Arn`), or, for a member without a kind (ECS's
/// `cluster`), the resource's name or ARN.
fn id_member(item: &Shape, stem: &str, one: &str, kind: Option<&str>) -> Option<String> {
    let has = |n: &str| item.member_names().find(|m| m.eq_ignore_ascii_case(n)).map(str::to_string);
    match kind {
        Some(k) => has(one).or_else(|| has(k)),
        None => {
            has(&format!("{stem}Id")).or_else(|| has(&format!("{stem}Name"))).or_else(|| has(&format!("{stem}Arn")))
        }
    }
}

/// A member that names the resource, to show beside its identifier.
fn label_member(item: &Shape, stem: &str, id: &str) -> Option<String> {
    let has = |n: &str| item.member_names().find(|m| m.eq_ignore_ascii_case(n) && *m != id).map(str::to_string);
    has(&format!("{stem}Name")).or_else(|| has("Name")).or_else(|| has("Tags"))
}

/// The (value, label) pairs in a read's result, in its order.
pub fn values(reader: &Reader, answer: &Value) -> Vec<(String, String)> {
    let mut items = vec![answer];
    for key in &reader.path {
        items = items.into_iter().filter_map(|v| v.get(key)).filter_map(Value::as_array).flatten().collect();
    }
    items
        .into_iter()
        .filter_map(|item| {
            let value = match &reader.id {
                Some(id) => item.get(id)?.as_str()?.to_string(),
                None => item.as_str()?.to_string(),
            };
            let value = if reader.name_of_arn { value.rsplit('/').next().unwrap_or(&value).to_string() } else { value };
            let label = reader.label.as_deref().map(|l| label_text(item, l)).unwrap_or_default();
            Some((value, label))
        })
        .collect()
}

fn label_text(item: &Value, label: &str) -> String {
    match item.get(label) {
        Some(Value::String(s)) => s.clone(),
        // EC2's names are the Name tag.
        Some(Value::Array(tags)) => tags
            .iter()
            .find(|t| t.get("Key").and_then(Value::as_str) == Some("Name"))
            .and_then(|t| t.get("Value").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(svc: Svc, func: &str, member: &str, given: &[&str]) -> Option<(String, Vec<String>, Option<String>)> {
        let given: Vec<String> = given.iter().map(|g| g.to_string()).collect();
        reader(svc, func, member, &given).map(|r| (format!("{}::{}", r.svc.module(), r.func), r.path, r.id))
    }

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn identifier_members_map_to_the_reads_that_list_them() {
        let tg = Some(("elbv2::describe_target_groups".into(), p(&["TargetGroups"]), Some("TargetGroupArn".into())));
        assert_eq!(read(Svc::Elbv2, "describe_target_health", "TargetGroupArn", &[]), tg);
        let lb = Some(("elbv2::describe_load_balancers".into(), p(&["LoadBalancers"]), Some("LoadBalancerArn".into())));
        assert_eq!(read(Svc::Elbv2, "create_listener", "LoadBalancerArn", &[]), lb);
        let listener = read(Svc::Elbv2, "delete_listener", "ListenerArn", &[]).unwrap();
        assert_eq!((listener.0.as_str(), listener.2.as_deref()), ("elbv2::describe_listeners", Some("ListenerArn")));
        let clusters = Some(("ecs::list_clusters".into(), p(&["clusterArns"]), None));
        assert_eq!(read(Svc::Ecs, "update_service", "cluster", &[]), clusters);
        assert_eq!(read(Svc::Ecs, "describe_services", "cluster", &[]), clusters);
        let services = Some(("ecs::list_services".into(), p(&["serviceArns"]), None));
        assert_eq!(read(Svc::Ecs, "update_service", "service", &["cluster"]), services);
        let families = Some(("ecs::list_task_definitions".into(), p(&["taskDefinitionArns"]), None));
        assert_eq!(read(Svc::Ecs, "update_service", "taskDefinition", &[]), families);
        let sg = Some(("ec2::describe_security_groups".into(), p(&["SecurityGroups"]), Some("GroupId".into())));
        assert_eq!(read(Svc::Ec2, "authorize_security_group_ingress", "GroupId", &[]), sg);
        let vpc = Some(("ec2::describe_vpcs".into(), p(&["Vpcs"]), Some("VpcId".into())));
        assert_eq!(read(Svc::Ec2, "create_security_group", "VpcId", &[]), vpc);
        let subnets = Some(("ec2::describe_subnets".into(), p(&["Subnets"]), Some("SubnetId".into())));
        assert_eq!(read(Svc::Ec2, "describe_subnets", "SubnetIds", &[]), subnets);
        assert_eq!(read(Svc::Ec2, "create_network_interface", "SubnetId", &[]), subnets);
        let roles = Some(("iam::list_roles".into(), p(&["Roles"]), Some("RoleName".into())));
        assert_eq!(read(Svc::Iam, "get_role", "RoleName", &[]), roles);
        let policies = Some(("iam::list_policies".into(), p(&["Policies"]), Some("Arn".into())));
        assert_eq!(read(Svc::Iam, "attach_role_policy", "PolicyArn", &["RoleName"]), policies);
        let instances =
            Some(("ec2::describe_instances".into(), p(&["Reservations", "Instances"]), Some("InstanceId".into())));
        assert_eq!(read(Svc::Ec2, "terminate_instances", "InstanceIds", &[]), instances);
        // ELBv2 takes EC2's subnets.
        assert_eq!(read(Svc::Elbv2, "create_load_balancer", "Subnets", &[]), subnets);
        // Not identifiers: free text and enums.
        assert_eq!(read(Svc::Elbv2, "create_target_group", "Protocol", &[]), None);
        assert_eq!(read(Svc::Iam, "create_role", "Description", &[]), None);
    }

    #[test]
    fn values_come_with_their_names() {
        let r = reader(Svc::Elbv2, "describe_target_health", "TargetGroupArn", &[]).unwrap();
        let answer =
            serde_json::json!({ "TargetGroups": [{ "TargetGroupArn": "arn:tg/web/1", "TargetGroupName": "web" }] });
        assert_eq!(values(&r, &answer), [("arn:tg/web/1".to_string(), "web".to_string())]);
        let c = reader(Svc::Ecs, "update_service", "cluster", &[]).unwrap();
        let answer = serde_json::json!({ "clusterArns": ["arn:aws:ecs:us-east-1:1:cluster/web"] });
        assert_eq!(values(&c, &answer), [("web".to_string(), String::new())]);
        let s = reader(Svc::Ec2, "describe_subnets", "SubnetIds", &[]).unwrap();
        let answer =
            serde_json::json!({ "Subnets": [{ "SubnetId": "subnet-1", "Tags": [{ "Key": "Name", "Value": "a" }] }] });
        assert_eq!(values(&s, &answer), [("subnet-1".to_string(), "a".to_string())]);
    }
}
