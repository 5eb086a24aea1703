//! Finding what a write made, by asking AWS: one table, per service, of look-ups and of the errors
//! that mean "already done". Three callers use it:
//! - before a write is sent, to record what was there (`before` in the journal's intent): whether
//!   a put created or replaced, and whether a thing found later was made by this run;
//! - after an attempt whose answer was lost, to settle the write without sending it twice
//!   ([`send`]);
//! - undo, for a write that was in flight when its run ended.
//!
//! Only reads are sent from here; this layer knows nothing of plans, journals or runs.

use rhai::{Dynamic, Map};
use runbook_bindings::attempts::CallLog;
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use runbook_bindings::json;
use runbook_bindings::runtime::Context;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub use crate::kind::{Found, Look, Read};

/// How a write behaves when sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// It fails as a duplicate, or (on AWS) answers the existing thing: after a lost answer, look
    /// before sending again. Found before the write, the thing was not made by it.
    Duplicates,
    /// It makes another one each time (a task definition revision, a task): after a lost answer,
    /// look for one that was not there before.
    Adds,
    /// It sets a state (puts, registrations, updates): sending again is harmless, and what was
    /// there before tells whether it created or replaced.
    Converges,
}

/// A look-up: the write's input, and when it is made.
type Find = fn(Read, &Value, Look) -> Result<Option<Found>, CallError>;

/// A write's entry in the table.
pub struct Entry {
    pub again: Again,
    /// Error codes that mean "what this write makes exists already".
    pub duplicate: &'static [&'static str],
    find: Find,
}

impl Entry {
    /// Looks for what the write with this input makes.
    pub fn find(&self, read: Read, input: &Value, look: Look) -> Result<Option<Found>, CallError> {
        (self.find)(read, input, look)
    }
}

const fn entry(again: Again, duplicate: &'static [&'static str], find: Find) -> Entry {
    Entry { again, duplicate, find }
}

/// The table. Writes not listed are sent again after a lost answer, as the SDK itself would.
pub fn entry_for(svc: Svc, op: &str) -> Option<Entry> {
    use Again::*;
    use Svc::*;
    Some(match (svc, op) {
        (Ec2, "CreateSecurityGroup") => entry(Duplicates, &["InvalidGroup.Duplicate"], security_group),
        (Ec2, "AuthorizeSecurityGroupIngress") => entry(Duplicates, &["InvalidPermission.Duplicate"], ingress),
        (Ec2, "AuthorizeSecurityGroupEgress") => entry(Duplicates, &["InvalidPermission.Duplicate"], egress),
        (Ec2, "CreateVpc") => entry(Adds, &[], vpc),
        (Ec2, "CreateSubnet") => entry(Adds, &[], subnet),
        (Ec2, "CreateInternetGateway") => entry(Adds, &[], internet_gateway),
        (Ec2, "CreateRouteTable") => entry(Adds, &[], route_table),
        (Elbv2, "CreateTargetGroup") => entry(Duplicates, &["DuplicateTargetGroupName"], target_group),
        (Elbv2, "CreateLoadBalancer") => entry(Duplicates, &["DuplicateLoadBalancerName"], load_balancer),
        (Elbv2, "CreateListener") => entry(Duplicates, &["DuplicateListener"], listener),
        (Elbv2, "CreateRule") => entry(Duplicates, &["PriorityInUse"], rule),
        (Elbv2, "RegisterTargets") => entry(Converges, &[], targets),
        (Ecs, "CreateCluster") => entry(Converges, &[], cluster),
        (Ecs, "CreateService") => entry(Duplicates, &["InvalidParameterException"], service),
        (Ecs, "RegisterTaskDefinition") => entry(Adds, &[], task_definition),
        (Ecs, "RunTask") => entry(Adds, &[], tasks),
        (Iam, "CreateServiceLinkedRole") => {
            entry(Duplicates, &["EntityAlreadyExists", "InvalidInput"], service_linked_role)
        }
        (Iam, "CreateRole") => entry(Duplicates, &["EntityAlreadyExists"], role),
        (Iam, "CreateUser") => entry(Duplicates, &["EntityAlreadyExists"], user),
        (Iam, "CreateInstanceProfile") => entry(Duplicates, &["EntityAlreadyExists"], instance_profile),
        (Iam, "CreatePolicy") => entry(Duplicates, &["EntityAlreadyExists"], policy),
        (Iam, "UploadServerCertificate") => entry(Duplicates, &["EntityAlreadyExists"], server_certificate),
        (Iam, "PutRolePolicy") => entry(Converges, &[], role_policy),
        (Iam, "AttachRolePolicy") => entry(Converges, &[], attached_policy),
        (ApplicationAutoscaling, "RegisterScalableTarget") => entry(Converges, &[], scalable_target),
        (ApplicationAutoscaling, "PutScalingPolicy") => entry(Converges, &[], scaling_policy),
        (Elbv2, "ModifyListener") => entry(Converges, &[], listener_settings),
        (ApplicationAutoscaling, "PutScheduledAction") => entry(Converges, &[], scheduled_action),
        (Elbv2, "AddTags") => entry(Converges, &[], elbv2_tags),
        (Ec2, "CreateTags") => entry(Converges, &[], ec2_tags),
        (Ecs, "TagResource") => entry(Converges, &[], ecs_tags),
        (Acm, "RequestCertificate") => entry(Adds, &[], certificate),
        (Acm, "ImportCertificate") => entry(Adds, &[], imported_certificate),
        (Acm, "AddTagsToCertificate") => entry(Converges, &[], acm_tags),
        (Route53, "CreateHostedZone") => entry(Duplicates, &["HostedZoneAlreadyExists"], hosted_zone),
        (Route53, "ChangeResourceRecordSets") => entry(Converges, &[], super::records::before),
        _ => return None,
    })
}

/// The reads an entry's look-up makes for a write with this input, without sending them (each
/// read is answered with an empty object, so the look-up goes as far as it can).
pub fn reads_of(entry: &Entry, input: &Value) -> Vec<(Svc, String)> {
    let seen = std::cell::RefCell::new(Vec::new());
    let read = |s: Svc, o: &str, _: Value| -> Result<Value, CallError> {
        let mut seen = seen.borrow_mut();
        if !seen.iter().any(|(x, y): &(Svc, String)| *x == s && y == o) {
            seen.push((s, o.to_string()));
        }
        Ok(json!({}))
    };
    for look in [Look::Before, Look::After(None)] {
        let _ = entry.find(&read, input, look);
    }
    seen.into_inner()
}

/// Answers that mean "already gone": a delete whose first answer was lost, or undoing twice.
pub fn gone(e: &CallError) -> bool {
    let code = e.code();
    let message = e.to_map().get("message").map(|m| m.to_string().to_ascii_lowercase()).unwrap_or_default();
    code.contains("NotFound")
        || code == "NoSuchEntity"
        || code == "ServiceNotActiveException"
        // Route 53: a DELETE of a record that is not there.
        || (code == "InvalidChangeBatch" && message.contains("but it was not found"))
        || (code == "ClientException" && message.contains("inactive"))
        // Application Auto Scaling: "No scalable target found for …", "No scaling policy found for …".
        || (code == "ValidationException" && message.starts_with("no ") && message.contains(" found"))
}

/// Writes that remove something: after a lost answer, "not found" means done.
pub fn removes(op: &str) -> bool {
    ["Delete", "Deregister", "Terminate", "Revoke", "Remove", "Detach", "Release", "Disassociate", "Untag"]
        .iter()
        .any(|v| op.starts_with(v))
}

/// How a write ended, after as many sends as it took.
pub struct Sent {
    pub result: Result<Dynamic, CallError>,
    /// Attempts whose answer was lost.
    pub lost: u32,
    /// Times the write was sent again by this layer after a lost answer.
    pub resent: u32,
    /// Set when a lost attempt had done the write: what the look-up found.
    pub reconciled: Option<Found>,
}

/// Sends a write; when an attempt's answer is lost, settles it: looks for what the write made and
/// answers that, or sends it again when nothing was made. A duplicate error after a lost attempt
/// means the lost attempt did the write. `send` makes one call (with the SDK's own retries for
/// answered errors) and leaves its attempts in `ctx.attempts`; `value` is `input` as JSON, for the
/// look-ups.
pub fn send(
    ctx: &Context,
    svc: Svc,
    op: &str,
    (input, value): (&Map, &Value),
    before: Option<&Found>,
    send: impl Fn(&Map) -> Result<Dynamic, CallError>,
) -> Sent {
    let entry = entry_for(svc, op);
    let mut sent = Sent { result: Ok(Dynamic::UNIT), lost: 0, resent: 0, reconciled: None };
    let bound = ctx.max_attempts.max(1);
    loop {
        let result = send(input);
        let log: CallLog = ctx.attempts.log();
        sent.lost += log.lost;
        let error = match result {
            Ok(out) => {
                sent.result = Ok(out);
                return sent;
            }
            Err(e) => e,
        };
        if sent.lost == 0 || error.is_interrupt() {
            sent.result = Err(error);
            return sent;
        }
        let name = svc.function(op);
        let duplicate = entry.as_ref().is_some_and(|e| e.duplicate.contains(&error.code()));
        if removes(op) && gone(&error) {
            eoutln!("[reconcile] {name}: an earlier attempt's answer was lost; {} says it is done", error.code());
            sent.reconciled = Some(Found { id: "gone".into(), output: json!({}) });
            sent.result = Ok(json::from_value(&json!({})));
            return sent;
        }
        if !log.stopped_after_loss && !duplicate {
            sent.result = Err(error);
            return sent;
        }
        let look = entry.as_ref().filter(|e| duplicate || e.again != Again::Converges);
        if let Some(e) = look {
            let reader = |s: Svc, o: &str, i: Value| read(ctx, s, o, i);
            // AWS may not show yet what the lost attempt made. After a duplicate answer, it is there:
            // look for it for as long as the propagation window. A write that adds a new thing each
            // time is sent again only after a miss that lasted `settle_time`; one that fails as a
            // duplicate is sent again at once, and a duplicate answer then says it was done.
            let (patience, why) = if duplicate {
                (ctx.propagation_timeout, format!("{} says it exists", error.code()))
            } else if e.again == Again::Adds {
                (settle_time(ctx), "a look-up may lag behind a write moments ago".to_string())
            } else {
                (Duration::ZERO, String::new())
            };
            match look_patiently(ctx, &name, e, &reader, (value, before), patience, &why) {
                Ok(Some(found)) if before.is_none_or(|b| b.id != found.id) => {
                    eoutln!(
                        "[reconcile] {name}: an attempt's answer was lost, and it had done the write: found {}",
                        found.id
                    );
                    sent.result = Ok(json::from_value(&found.output));
                    sent.reconciled = Some(found);
                    return sent;
                }
                Ok(_) if duplicate => {
                    // The duplicate is not this run's doing: the script decides, as without a loss.
                    sent.result = Err(error);
                    return sent;
                }
                Ok(_) => {}
                Err(look_error) => {
                    eoutln!("[reconcile] {name}: could not look for what the lost attempt did: {look_error}");
                    sent.result = Err(error);
                    return sent;
                }
            }
        } else if duplicate {
            sent.result = Err(error);
            return sent;
        }
        if sent.resent + 1 >= bound {
            sent.result = Err(error);
            return sent;
        }
        sent.resent += 1;
        eoutln!("[reconcile] {name}: an attempt's answer was lost and nothing shows it was done; sending it again");
    }
}

/// How long a look-up that finds nothing is repeated before the miss is believed: an eighth of the
/// propagation window (15 s by default). AWS's filtered describes and lists lag behind a create as
/// reads by id do, so one miss moments after a write does not prove it made nothing.
pub fn settle_time(ctx: &Context) -> Duration {
    ctx.propagation_timeout / 8
}

/// Looks for what a write made, with what was there `before` it; while the look-up finds nothing,
/// looks again after growing pauses (1 s, 2 s, …) until `patience` has passed, each time saying so
/// (`why` says why a miss is not believed yet). What it finds is answered whether it is new or not.
pub fn look_patiently(
    ctx: &Context,
    name: &str,
    entry: &Entry,
    read: Read,
    (input, before): (&Value, Option<&Found>),
    patience: Duration,
    why: &str,
) -> Result<Option<Found>, CallError> {
    let started = Instant::now();
    let mut pause = 1.0f64;
    loop {
        if let Some(found) = entry.find(read, input, Look::After(before))? {
            return Ok(Some(found));
        }
        let left = patience.saturating_sub(started.elapsed()).as_secs_f64();
        if left <= 0.0 {
            return Ok(None);
        }
        let wait = pause.min(left);
        eoutln!("[reconcile] {name}: a look-up finds nothing yet ({why}); looking again in {wait:.1}s");
        ctx.sleep(name, wait)?;
        pause *= 2.0;
    }
}

/// What a look-up after the write must not take for the write's: what was there before it, and,
/// for a write that adds a new thing each time, also the values `known` gives, what this run made
/// (a look-up before the write may have missed what the run made moments earlier).
pub fn seen(entry: Option<&Entry>, before: Option<&Found>, known: impl FnOnce() -> Vec<String>) -> Option<Found> {
    if entry.is_none_or(|e| e.again != Again::Adds) {
        return before.cloned();
    }
    let known = known();
    if known.is_empty() {
        return before.cloned();
    }
    let mut ids: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    ids.extend(known.iter().map(String::as_str));
    Some(Found { id: ids.join(" "), output: Value::Null })
}

/// One read, sent as it is (no plan, no cache), its answer as JSON.
pub fn read(ctx: &Context, svc: Svc, op: &str, input: Value) -> Result<Value, CallError> {
    let input = json::from_value(&input).try_cast::<Map>().unwrap_or_default();
    runbook_bindings::call::send(ctx, svc, op, &input).map(|out| json::to_value(&out))
}

/// A read that answers "not found" as an error: `Ok(None)` then.
pub(super) fn absent(r: Result<Value, CallError>) -> Result<Option<Value>, CallError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn s(v: &Value, k: &str) -> Value {
    v.get(k).cloned().unwrap_or(Value::Null)
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("?")
}

fn found(id: impl Into<String>, output: Value) -> Option<Found> {
    Some(Found { id: id.into(), output })
}

fn first(list: &Value) -> Option<&Value> {
    list.as_array().and_then(|a| a.first())
}

/// The item of `list` whose `key` is `value`: a read filtered by name may answer more than asked.
fn named<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array().and_then(|a| a.iter().find(|item| item[key].as_str() == Some(value)))
}

fn security_group(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let mut filters = vec![json!({ "Name": "group-name", "Values": [s(i, "GroupName")] })];
    if let Some(vpc) = i.get("VpcId") {
        filters.push(json!({ "Name": "vpc-id", "Values": [vpc] }));
    }
    let out = read(Svc::Ec2, "DescribeSecurityGroups", json!({ "Filters": filters }))?;
    Ok(first(&out["SecurityGroups"]).and_then(|g| {
        let id = g["GroupId"].as_str()?;
        found(id, json!({ "GroupId": id, "SecurityGroupArn": g["SecurityGroupArn"], "Tags": g["Tags"] }))
    }))
}

fn vpc(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    tagged_by_run(read, i, look, ["DescribeVpcs", "Vpcs", "VpcId", "Vpc"])
}

fn subnet(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    tagged_by_run(read, i, look, ["DescribeSubnets", "Subnets", "SubnetId", "Subnet"])
}

fn internet_gateway(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    tagged_by_run(
        read,
        i,
        look,
        ["DescribeInternetGateways", "InternetGateways", "InternetGatewayId", "InternetGateway"],
    )
}

fn route_table(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    tagged_by_run(read, i, look, ["DescribeRouteTables", "RouteTables", "RouteTableId", "RouteTable"])
}

/// EC2 resources that have no name to look them up by are found by the run's tag, which the run
/// put in the create call's `TagSpecifications`: after the write, one that was not there before
/// is its. `[describe operation, its list, the id member, the create's output member]`. Without
/// the tag (`--no-tag`) there is nothing to look by.
fn tagged_by_run(
    read: Read,
    i: &Value,
    look: Look,
    [op, list, id, member]: [&str; 4],
) -> Result<Option<Found>, CallError> {
    let run = i["TagSpecifications"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|spec| spec["Tags"].as_array().into_iter().flatten())
        .find(|t| t["Key"] == super::tags::RUN_TAG)
        .and_then(|t| t["Value"].as_str());
    let Some(run) = run else { return Ok(None) };
    let filter = json!({ "Filters": [{ "Name": format!("tag:{}", super::tags::RUN_TAG), "Values": [run] }] });
    let out = read(Svc::Ec2, op, filter)?;
    let items: Vec<&Value> = out[list].as_array().into_iter().flatten().collect();
    let mut ids: Vec<&str> = items.iter().filter_map(|x| x[id].as_str()).collect();
    ids.sort_unstable();
    let before = match look {
        Look::Before => return Ok((!ids.is_empty()).then(|| Found { id: ids.join(" "), output: Value::Null })),
        Look::After(before) => before,
    };
    let seen: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    Ok(items
        .into_iter()
        .find(|x| x[id].as_str().is_some_and(|v| !seen.contains(&v)))
        .and_then(|x| found(x[id].as_str()?, json!({ member: x }))))
}

fn ingress(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    rules(read, i, "IpPermissions")
}

fn egress(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    rules(read, i, "IpPermissionsEgress")
}

/// Whether every rule of an authorize call is on its group.
fn rules(read: Read, i: &Value, list: &str) -> Result<Option<Found>, CallError> {
    let request = match (i.get("GroupId"), i.get("GroupName")) {
        (Some(id), _) => json!({ "GroupIds": [id] }),
        (None, Some(name)) => json!({ "GroupNames": [name] }),
        (None, None) => return Ok(None),
    };
    let Some(out) = absent(read(Svc::Ec2, "DescribeSecurityGroups", request))? else { return Ok(None) };
    let Some(group) = first(&out["SecurityGroups"]) else { return Ok(None) };
    let have = group[list].as_array().cloned().unwrap_or_default();
    let wanted = i["IpPermissions"].as_array().cloned().unwrap_or_default();
    let same_port = |h: &Value, w: &Value| {
        h["IpProtocol"].as_str().map(str::to_ascii_lowercase) == w["IpProtocol"].as_str().map(str::to_ascii_lowercase)
            && (w["IpProtocol"] == "-1" || (h["FromPort"] == w["FromPort"] && h["ToPort"] == w["ToPort"]))
    };
    let covered = |w: &Value, list: &str, key: &str| {
        w[list].as_array().into_iter().flatten().all(|r| {
            have.iter().any(|h| same_port(h, w) && h[list].as_array().into_iter().flatten().any(|x| x[key] == r[key]))
        })
    };
    let all = !wanted.is_empty()
        && wanted.iter().all(|w| {
            covered(w, "IpRanges", "CidrIp")
                && covered(w, "Ipv6Ranges", "CidrIpv6")
                && covered(w, "UserIdGroupPairs", "GroupId")
                && covered(w, "PrefixListIds", "PrefixListId")
        });
    let id = group["GroupId"].as_str().unwrap_or("?");
    Ok(if all { found(format!("rules of {id}"), json!({ "Return": true })) } else { None })
}

fn target_group(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    elbv2_by_name(read, i, "DescribeTargetGroups", "TargetGroups", "TargetGroupArn")
}

fn load_balancer(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    elbv2_by_name(read, i, "DescribeLoadBalancers", "LoadBalancers", "LoadBalancerArn")
}

/// An ELBv2 thing by its `Name`, answered as its create answers: `{ <list>: [it] }`.
fn elbv2_by_name(read: Read, i: &Value, op: &str, list: &str, arn: &str) -> Result<Option<Found>, CallError> {
    let out = absent(read(Svc::Elbv2, op, json!({ "Names": [s(i, "Name")] })))?;
    Ok(out.as_ref().and_then(|o| first(&o[list])).and_then(|t| found(t[arn].as_str()?, json!({ list: [t] }))))
}

fn listener(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "LoadBalancerArn": s(i, "LoadBalancerArn") });
    let Some(out) = absent(read(Svc::Elbv2, "DescribeListeners", request))? else { return Ok(None) };
    let port = s(i, "Port");
    Ok(out["Listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| port.is_null() || l["Port"] == port)
        .and_then(|l| found(l["ListenerArn"].as_str()?, json!({ "Listeners": [l] }))))
}

fn rule(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let Some(out) = absent(read(Svc::Elbv2, "DescribeRules", json!({ "ListenerArn": s(i, "ListenerArn") })))? else {
        return Ok(None);
    };
    let priority = s(i, "Priority").to_string().trim_matches('"').to_string();
    Ok(out["Rules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["Priority"].as_str() == Some(priority.as_str()))
        .and_then(|r| found(r["RuleArn"].as_str()?, json!({ "Rules": [r] }))))
}

/// Whether every target of a registration is registered.
fn targets(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let arn = s(i, "TargetGroupArn");
    let Some(out) = absent(read(Svc::Elbv2, "DescribeTargetHealth", json!({ "TargetGroupArn": arn })))? else {
        return Ok(None);
    };
    let registered = out["TargetHealthDescriptions"].as_array().cloned().unwrap_or_default();
    let wanted = i["Targets"].as_array().cloned().unwrap_or_default();
    let all = !wanted.is_empty()
        && wanted.iter().all(|w| {
            registered
                .iter()
                .any(|r| r["Target"]["Id"] == w["Id"] && (w["Port"].is_null() || r["Target"]["Port"] == w["Port"]))
        });
    Ok(if all { found(format!("targets of {}", arn.as_str().unwrap_or("?")), json!({})) } else { None })
}

fn cluster(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let name = i.get("clusterName").cloned().unwrap_or(json!("default"));
    let out = read(Svc::Ecs, "DescribeClusters", json!({ "clusters": [name] }))?;
    Ok(out["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["status"] == "ACTIVE" || c["status"] == "PROVISIONING")
        .and_then(|c| found(c["clusterArn"].as_str()?, json!({ "cluster": c }))))
}

fn service(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let mut request = json!({ "services": [s(i, "serviceName")] });
    if let Some(c) = i.get("cluster") {
        request["cluster"] = c.clone();
    }
    let Some(out) = absent(read(Svc::Ecs, "DescribeServices", request))? else { return Ok(None) };
    Ok(out["services"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["status"] != "INACTIVE")
        .and_then(|x| found(x["serviceArn"].as_str()?, json!({ "service": x }))))
}

/// The family's newest revision; a revision newer than the one seen before the write is its.
fn task_definition(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    let family = i["family"].as_str().unwrap_or_default();
    let request = json!({ "familyPrefix": family, "status": "ACTIVE", "sort": "DESC" });
    let out = read(Svc::Ecs, "ListTaskDefinitions", request)?;
    // The prefix also matches longer family names: keep `…task-definition/<family>:<revision>` only.
    let own = format!("task-definition/{family}");
    let revision = |arn: &str| -> Option<u64> {
        let (head, rev) = arn.rsplit_once(':')?;
        head.ends_with(&own).then(|| rev.parse().ok()).flatten()
    };
    let newest = out["taskDefinitionArns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|a| Some((revision(a)?, a)))
        .max()
        .map(|(_, a)| a);
    let Some(arn) = newest else { return Ok(None) };
    if let Look::Before = look {
        return Ok(found(arn, Value::Null));
    }
    let described = read(Svc::Ecs, "DescribeTaskDefinition", json!({ "taskDefinition": arn, "include": ["TAGS"] }))?;
    Ok(found(arn, json!({ "taskDefinition": described["taskDefinition"], "tags": described["tags"] })))
}

/// The cluster's running tasks started the same way; after the write, only those not there before.
fn tasks(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    let mut request = json!({ "desiredStatus": "RUNNING" });
    for (from, to) in [("cluster", "cluster"), ("startedBy", "startedBy")] {
        if let Some(v) = i.get(from) {
            request[to] = v.clone();
        }
    }
    let Some(out) = absent(read(Svc::Ecs, "ListTasks", request))? else { return Ok(None) };
    let mut arns: Vec<String> =
        out["taskArns"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    arns.sort();
    let before = match look {
        Look::Before => return Ok((!arns.is_empty()).then(|| Found { id: arns.join(" "), output: Value::Null })),
        Look::After(before) => before,
    };
    let seen: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    arns.retain(|a| !seen.contains(&a.as_str()));
    if arns.is_empty() {
        return Ok(None);
    }
    let mut request = json!({ "tasks": arns });
    if let Some(c) = i.get("cluster") {
        request["cluster"] = c.clone();
    }
    let described = read(Svc::Ecs, "DescribeTasks", request)?;
    Ok(found(arns.join(" "), json!({ "tasks": described["tasks"], "failures": described["failures"] })))
}

fn service_linked_role(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let prefix = format!("/aws-service-role/{}/", s(i, "AWSServiceName").as_str().unwrap_or_default());
    let out = read(Svc::Iam, "ListRoles", json!({ "PathPrefix": prefix }))?;
    let suffix = i["CustomSuffix"].as_str();
    Ok(out["Roles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| suffix.is_none_or(|x| r["RoleName"].as_str().is_some_and(|n| n.ends_with(&format!("_{x}")))))
        .and_then(|r| found(r["RoleName"].as_str()?, json!({ "Role": r }))))
}

fn role(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    iam_get(read, i, "GetRole", "RoleName", "Role")
}

fn user(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    iam_get(read, i, "GetUser", "UserName", "User")
}

fn instance_profile(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    iam_get(read, i, "GetInstanceProfile", "InstanceProfileName", "InstanceProfile")
}

/// An IAM entity by its name member, answered as its create answers: `{ <member>: it }`.
fn iam_get(read: Read, i: &Value, op: &str, name: &str, member: &str) -> Result<Option<Found>, CallError> {
    let out = absent(read(Svc::Iam, op, json!({ name: s(i, name) })))?;
    Ok(out.and_then(|o| found(o[member]["Arn"].as_str()?, json!({ member: o[member] }))))
}

/// The upload answers the certificate's metadata, which the look-up finds inside it.
fn server_certificate(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let name = "ServerCertificateName";
    let out = absent(read(Svc::Iam, "GetServerCertificate", json!({ name: s(i, name) })))?;
    Ok(out.and_then(|o| {
        let meta = &o["ServerCertificate"]["ServerCertificateMetadata"];
        found(meta["Arn"].as_str()?, json!({ "ServerCertificateMetadata": meta }))
    }))
}

fn policy(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let path = i.get("Path").and_then(Value::as_str).unwrap_or("/");
    let out = read(Svc::Iam, "ListPolicies", json!({ "Scope": "Local", "PathPrefix": path }))?;
    Ok(out["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["PolicyName"] == s(i, "PolicyName") && p["Path"] == json!(path))
        .and_then(|p| found(p["Arn"].as_str()?, json!({ "Policy": p }))))
}

/// The values the keys a tagging write sets had before it, as `{ "before": [{ resource, key,
/// value }] }`: found when any of them was set already (undo puts those values back).
fn tags_before(existing: Vec<(String, String, Value)>, keys: &[String]) -> Option<Found> {
    let before: Vec<Value> = existing
        .into_iter()
        .filter(|(_, k, _)| keys.contains(k))
        .map(|(r, k, v)| json!({ "resource": r, "key": k, "value": v }))
        .collect();
    if before.is_empty() {
        return None;
    }
    let id = before.iter().map(|b| format!("{}={}", b["key"].as_str().unwrap_or("?"), b["value"])).collect::<Vec<_>>();
    found(format!("tags {}", id.join(", ")), json!({ "before": before }))
}

fn keys_of(tags: &Value, key: &str) -> Vec<String> {
    tags.as_array().into_iter().flatten().filter_map(|t| t[key].as_str().map(str::to_string)).collect()
}

fn elbv2_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Elbv2, "DescribeTags", json!({ "ResourceArns": s(i, "ResourceArns") }))?;
    let existing = out["TagDescriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let r = d["ResourceArn"].as_str().unwrap_or_default().to_string();
            d["Tags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| (r.clone(), t["Key"].as_str().unwrap_or_default().to_string(), t["Value"].clone()))
        })
        .collect();
    Ok(tags_before(existing, &keys_of(&i["Tags"], "Key")))
}

fn ec2_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let filters = json!([{ "Name": "resource-id", "Values": s(i, "Resources") }]);
    let out = read(Svc::Ec2, "DescribeTags", json!({ "Filters": filters }))?;
    let existing = out["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (text("ResourceId"), text("Key"), t["Value"].clone())
        })
        .collect();
    Ok(tags_before(existing, &keys_of(&i["Tags"], "Key")))
}

fn ecs_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    tags_of_arn(read, i, Svc::Ecs, "ListTagsForResource", ["resourceArn", "tags", "key", "value"])
}

fn acm_tags(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    tags_of_arn(read, i, Svc::Acm, "ListTagsForCertificate", ["CertificateArn", "Tags", "Key", "Value"])
}

/// The tags a resource named by its ARN has now, read with `op`; `names` are the members for the
/// ARN, the tag list (the same in the tagging input and the answer), a tag's key and its value.
fn tags_of_arn(read: Read, i: &Value, svc: Svc, op: &str, names: [&str; 4]) -> Result<Option<Found>, CallError> {
    let [arn_member, list, key, value] = names;
    let arn = text(i, arn_member).to_string();
    let out = read(svc, op, json!({ arn_member: arn }))?;
    let existing = out[list]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (arn.clone(), t[key].as_str().unwrap_or_default().to_string(), t[value].clone()))
        .collect();
    Ok(tags_before(existing, &keys_of(&i[list], key)))
}

/// Certificates requested for the input's domain name. Every request makes a new one, so after a
/// lost answer the run's is the one that was not there before.
fn certificate(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    let domain = i["DomainName"].as_str().unwrap_or_default();
    new_certificate(read, look, |c| c["DomainName"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(domain)))
}

/// Certificates imported. An import without `CertificateArn` makes a new certificate each time, so
/// after a lost answer the run's is the imported one that was not there before; a re-import names
/// the certificate it replaces.
fn imported_certificate(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    if let Some(arn) = i["CertificateArn"].as_str().filter(|a| !a.is_empty()) {
        return Ok(found(arn, json!({ "CertificateArn": arn })));
    }
    new_certificate(read, look, |c| c["Type"].as_str().is_none_or(|t| t == "IMPORTED"))
}

/// The ACM certificates `which` keeps: before the write, all of them (what was there, in one id);
/// after it, the one that was not there before.
fn new_certificate(read: Read, look: Look, which: impl Fn(&Value) -> bool) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Acm, "ListCertificates", json!({}))?;
    let mut arns: Vec<&str> = out["CertificateSummaryList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| which(c))
        .filter_map(|c| c["CertificateArn"].as_str())
        .collect();
    arns.sort_unstable();
    let before = match look {
        Look::Before => return Ok((!arns.is_empty()).then(|| Found { id: arns.join(" "), output: Value::Null })),
        Look::After(before) => before,
    };
    let seen: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    Ok(arns.into_iter().find(|a| !seen.contains(a)).and_then(|a| found(a, json!({ "CertificateArn": a }))))
}

/// A hosted zone with the input's name and caller reference (the reference tells a retry of this
/// create from another zone of the same name).
fn hosted_zone(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Route53, "ListHostedZonesByName", json!({ "DNSName": s(i, "Name") }))?;
    Ok(out["HostedZones"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|z| z["CallerReference"] == i["CallerReference"])
        .and_then(|z| found(z["Id"].as_str()?, json!({ "HostedZone": z }))))
}

fn role_policy(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "RoleName": s(i, "RoleName"), "PolicyName": s(i, "PolicyName") });
    let out = absent(read(Svc::Iam, "GetRolePolicy", request))?;
    Ok(out.and_then(|_| found(format!("{}/{}", text(i, "RoleName"), text(i, "PolicyName")), json!({}))))
}

fn attached_policy(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = absent(read(Svc::Iam, "ListAttachedRolePolicies", json!({ "RoleName": s(i, "RoleName") })))?;
    let arn = s(i, "PolicyArn");
    Ok(out.and_then(|o| {
        o["AttachedPolicies"].as_array()?.iter().find(|p| p["PolicyArn"] == arn)?;
        found(format!("{} on {}", text(i, "PolicyArn"), text(i, "RoleName")), json!({}))
    }))
}

fn scalable_target(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceIds": [s(i, "ResourceId")],
                          "ScalableDimension": s(i, "ScalableDimension") });
    let out = read(Svc::ApplicationAutoscaling, "DescribeScalableTargets", request)?;
    Ok(first(&out["ScalableTargets"]).and_then(|t| {
        let arn = t["ScalableTargetARN"].as_str().map(str::to_string).unwrap_or_else(|| t["ResourceId"].to_string());
        found(arn.clone(), json!({ "ScalableTargetARN": arn }))
    }))
}

fn scaling_policy(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceId": s(i, "ResourceId"),
                          "ScalableDimension": s(i, "ScalableDimension"), "PolicyNames": [s(i, "PolicyName")] });
    let out = read(Svc::ApplicationAutoscaling, "DescribeScalingPolicies", request)?;
    Ok(named(&out["ScalingPolicies"], "PolicyName", i["PolicyName"].as_str().unwrap_or_default())
        .and_then(|p| found(p["PolicyARN"].as_str()?, json!({ "PolicyARN": p["PolicyARN"], "Alarms": p["Alarms"] }))))
}

/// A listener's settings, which a `ModifyListener` replaces and undo puts back.
fn listener_settings(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Elbv2, "DescribeListeners", json!({ "ListenerArns": [s(i, "ListenerArn")] }))?;
    Ok(first(&out["Listeners"]).and_then(|l| found(l["ListenerArn"].as_str()?, l.clone())))
}

fn scheduled_action(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceId": s(i, "ResourceId"),
                          "ScalableDimension": s(i, "ScalableDimension"),
                          "ScheduledActionNames": [s(i, "ScheduledActionName")] });
    let out = read(Svc::ApplicationAutoscaling, "DescribeScheduledActions", request)?;
    Ok(named(&out["ScheduledActions"], "ScheduledActionName", i["ScheduledActionName"].as_str().unwrap_or_default())
        .and_then(|a| found(a["ScheduledActionARN"].as_str().unwrap_or("scheduled action"), json!({}))))
}

/// What a write's look-up found before the write was sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Before {
    /// The write has no look-up.
    NotLooked,
    Absent,
    Present(Found),
    /// The look-up failed; the text says why.
    Unknown(String),
}

impl Before {
    /// Looks before a write, reading through `read` (which may answer from the run's recent reads).
    pub fn look(entry: Option<&Entry>, read: Read, input: &Value) -> Before {
        let Some(e) = entry else { return Before::NotLooked };
        match e.find(read, input, Look::Before) {
            Ok(Some(f)) => Before::Present(f),
            Ok(None) => Before::Absent,
            Err(err) => Before::Unknown(format!("{}: {}", err.code(), err)),
        }
    }

    pub fn found(&self) -> Option<&Found> {
        match self {
            Before::Present(f) => Some(f),
            _ => None,
        }
    }

    /// As the journal's intent keeps it; `None` for a write without a look-up.
    pub fn to_json(&self) -> Option<Value> {
        match self {
            Before::NotLooked => None,
            Before::Absent => Some(json!({ "found": false })),
            Before::Present(f) => Some(json!({ "found": true, "id": f.id })),
            Before::Unknown(why) => Some(json!({ "error": why })),
        }
    }

    /// Read back from an intent.
    pub fn from_json(v: &Value) -> Before {
        match (v["found"].as_bool(), v["id"].as_str(), v["error"].as_str()) {
            (Some(true), Some(id), _) => Before::Present(Found { id: id.into(), output: Value::Null }),
            (Some(false), _, _) => Before::Absent,
            (_, _, Some(why)) => Before::Unknown(why.into()),
            _ => Before::NotLooked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_there_before_survives_the_journal() {
        let present = Before::Present(Found { id: "sg-1".into(), output: Value::Null });
        for b in [Before::Absent, present, Before::Unknown("Throttling: rate exceeded".into())] {
            assert_eq!(Before::from_json(&b.to_json().unwrap()), b);
        }
        assert_eq!(Before::NotLooked.to_json(), None);
        assert_eq!(Before::from_json(&Value::Null), Before::NotLooked);
    }

    #[test]
    fn every_write_the_runbooks_and_undo_make_has_a_look_up_or_converges() {
        // The creates, authorizes, registers, puts and attaches of the runbooks, the examples and
        // undo's own inverses that can leave something behind when their answer is lost.
        let listed = [
            (Svc::Ecs, "CreateCluster"),
            (Svc::Ecs, "RegisterTaskDefinition"),
            (Svc::Ecs, "CreateService"),
            (Svc::Ecs, "RunTask"),
            (Svc::Elbv2, "CreateTargetGroup"),
            (Svc::Elbv2, "CreateLoadBalancer"),
            (Svc::Elbv2, "CreateListener"),
            (Svc::Elbv2, "CreateRule"),
            (Svc::Elbv2, "RegisterTargets"),
            (Svc::Ec2, "CreateSecurityGroup"),
            (Svc::Ec2, "AuthorizeSecurityGroupIngress"),
            (Svc::Iam, "CreateServiceLinkedRole"),
            (Svc::Iam, "CreateRole"),
            (Svc::Iam, "PutRolePolicy"),
            (Svc::Iam, "AttachRolePolicy"),
            (Svc::ApplicationAutoscaling, "RegisterScalableTarget"),
            (Svc::ApplicationAutoscaling, "PutScalingPolicy"),
        ];
        for (svc, op) in listed {
            assert!(entry_for(svc, op).is_some(), "{} {op}", svc.module());
            assert!(svc.table().unwrap().operations.contains_key(op), "{} {op} is an operation", svc.module());
        }
        assert!(removes("DeleteTargetGroup") && removes("RevokeSecurityGroupIngress") && !removes("CreateRule"));
    }
}
