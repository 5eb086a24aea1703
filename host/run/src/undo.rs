//! What a write created and how to remove it again, decided when it succeeds and kept in the
//! journal; and `runbook undo`, which replays those inverses newest first.

use super::reconcile::{self, gone, Again, Before};
use rhai::Map;
use runbook_bindings::call::{invoke, Svc};
use runbook_bindings::error::CallError;
use runbook_bindings::json;
use runbook_bindings::runtime::Context;
use runbook_bindings::waiter::{self, WaitOptions};
use serde_json::{json, Value};

pub(crate) use crate::kind::step;
pub use crate::kind::{Created, Inverse, Step};

fn text(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    cur.as_str().map(str::to_string)
}

/// Every `field` of the items of list `list` (a dotted path to the list).
fn each(v: &Value, list: &str, field: &str) -> Vec<String> {
    let mut cur = v;
    for part in list.split('.') {
        match cur.get(part) {
            Some(x) => cur = x,
            None => return vec![],
        }
    }
    cur.as_array().map(|a| a.iter().filter_map(|i| text(i, field)).collect()).unwrap_or_default()
}

fn one(kind: &str, id: Option<String>, undo: impl FnOnce(&str) -> Vec<Step>) -> Vec<Created> {
    match id {
        Some(id) => {
            let steps = undo(&id);
            vec![Created { kind: kind.into(), id, undo: steps, restores: false }]
        }
        None => vec![],
    }
}

fn many(kind: &str, ids: Vec<String>, undo: impl Fn(&str) -> Vec<Step>) -> Vec<Created> {
    ids.into_iter().map(|id| Created { kind: kind.into(), undo: undo(&id), id, restores: false }).collect()
}

/// What a successful write created and the calls that remove it. `before` is what its look-up
/// found before it was sent (see `reconcile`): a write that returned, updated or replaced something
/// that existed already created nothing, and undo leaves that thing alone.
pub fn inverse(svc: Svc, op: &str, i: &Value, o: &Value, before: &Before) -> Inverse {
    if let (Svc::Elbv2, "ModifyListener", Before::Present(found)) = (svc, op, before) {
        return restore_listener(found);
    }
    if let (Svc::Route53, "ChangeResourceRecordSets") = (svc, op) {
        return match before {
            Before::Unknown(why) => {
                not_undoable(&format!("could not tell which records existed before this call ({why})"))
            }
            _ => super::records::inverse(i, before.found()),
        };
    }
    if let (Some(tagging), Before::Present(found)) = (Tagging::of(svc, op), before) {
        return tagging.restore(i, found);
    }
    let again = reconcile::entry_for(svc, op).map(|e| e.again);
    if again.is_some_and(|a| a != Again::Adds) {
        match before {
            Before::Present(found) if again == Some(Again::Converges) => {
                let mut inv = not_undoable(&format!(
                    "it set {}, which existed before this call; what was there before was not recorded",
                    found.id
                ));
                inv.replaced = Some(found.id.clone());
                return inv;
            }
            Before::Present(_) => {
                return not_undoable("what it names existed before this call, which returned or updated it")
            }
            Before::Unknown(why) => {
                return not_undoable(&format!("could not tell whether what it names existed before this call ({why})"))
            }
            Before::Absent | Before::NotLooked => {}
        }
    }
    let s = |k: &str| i.get(k).cloned().unwrap_or(Value::Null);
    use Svc::*;
    let created = match (svc, op) {
        (Elbv2, "CreateTargetGroup") => many("target group", each(o, "TargetGroups", "TargetGroupArn"), |arn| {
            vec![step(Elbv2, "DeleteTargetGroup", json!({ "TargetGroupArn": arn })).retry(&["ResourceInUse"])]
        }),
        (Elbv2, "CreateLoadBalancer") => many("load balancer", each(o, "LoadBalancers", "LoadBalancerArn"), |arn| {
            vec![step(Elbv2, "DeleteLoadBalancer", json!({ "LoadBalancerArn": arn }))
                .wait("LoadBalancersDeleted", json!({ "LoadBalancerArns": [arn] }))]
        }),
        (Elbv2, "CreateListener") => many("listener", each(o, "Listeners", "ListenerArn"), |arn| {
            vec![step(Elbv2, "DeleteListener", json!({ "ListenerArn": arn }))]
        }),
        (Elbv2, "CreateRule") => {
            many("rule", each(o, "Rules", "RuleArn"), |arn| vec![step(Elbv2, "DeleteRule", json!({ "RuleArn": arn }))])
        }
        (Elbv2, "RegisterTargets") => one("targets of", text(i, "TargetGroupArn"), |arn| {
            vec![step(Elbv2, "DeregisterTargets", json!({ "TargetGroupArn": arn, "Targets": s("Targets") }))]
        }),
        (Elbv2, "AddTags") => one("tags on", Some(s("ResourceArns").to_string()), |_| {
            let keys: Vec<Value> =
                s("Tags").as_array().map(|t| t.iter().map(|x| x["Key"].clone()).collect()).unwrap_or_default();
            vec![step(Elbv2, "RemoveTags", json!({ "ResourceArns": s("ResourceArns"), "TagKeys": keys }))]
        }),
        (Ec2, "CreateSecurityGroup") => one("security group", text(o, "GroupId"), |id| {
            // The network interfaces of a deleted load balancer take minutes to go on AWS.
            vec![step(Ec2, "DeleteSecurityGroup", json!({ "GroupId": id })).retry(&["DependencyViolation"])]
        }),
        (Ec2, "AuthorizeSecurityGroupIngress" | "AuthorizeSecurityGroupEgress") => {
            let revoke = op.replace("Authorize", "Revoke");
            let group = text(i, "GroupId").or_else(|| text(i, "GroupName"));
            let key = if i.get("GroupId").is_some() { "GroupId" } else { "GroupName" };
            let rules: Vec<String> = each(o, "SecurityGroupRules", "SecurityGroupRuleId");
            one(if op.ends_with("Ingress") { "ingress rules of" } else { "egress rules of" }, group, |g| {
                let input = if rules.is_empty() {
                    json!({ key: g, "IpPermissions": s("IpPermissions") })
                } else {
                    json!({ key: g, "SecurityGroupRuleIds": rules })
                };
                vec![step(Ec2, &revoke, input)]
            })
        }
        (Ec2, "CreateVpc") => one("vpc", text(o, "Vpc.VpcId"), |id| {
            vec![step(Ec2, "DeleteVpc", json!({ "VpcId": id })).retry(&["DependencyViolation"])]
        }),
        (Ec2, "CreateSubnet") => one("subnet", text(o, "Subnet.SubnetId"), |id| {
            vec![step(Ec2, "DeleteSubnet", json!({ "SubnetId": id })).retry(&["DependencyViolation"])]
        }),
        (Ec2, "CreateInternetGateway") => one("internet gateway", text(o, "InternetGateway.InternetGatewayId"), |id| {
            vec![step(Ec2, "DeleteInternetGateway", json!({ "InternetGatewayId": id }))]
        }),
        (Ec2, "AttachInternetGateway") => one("attachment of", text(i, "InternetGatewayId"), |id| {
            vec![step(Ec2, "DetachInternetGateway", json!({ "InternetGatewayId": id, "VpcId": s("VpcId") }))]
        }),
        (Ec2, "CreateRouteTable") => one("route table", text(o, "RouteTable.RouteTableId"), |id| {
            vec![step(Ec2, "DeleteRouteTable", json!({ "RouteTableId": id }))]
        }),
        (Ec2, "AssociateRouteTable") => one("route table association", text(o, "AssociationId"), |id| {
            vec![step(Ec2, "DisassociateRouteTable", json!({ "AssociationId": id }))]
        }),
        (Ec2, "CreateRoute") => one("route in", text(i, "RouteTableId"), |id| {
            let mut input = json!({ "RouteTableId": id });
            for k in ["DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"] {
                if let Some(v) = i.get(k) {
                    input[k] = v.clone();
                }
            }
            vec![step(Ec2, "DeleteRoute", input)]
        }),
        (Ec2, "CreateTags") => one("tags on", Some(s("Resources").to_string()), |_| {
            vec![step(Ec2, "DeleteTags", json!({ "Resources": s("Resources"), "Tags": s("Tags") }))]
        }),
        (Ec2, "RunInstances") => many("instance", each(o, "Instances", "InstanceId"), |id| {
            vec![step(Ec2, "TerminateInstances", json!({ "InstanceIds": [id] }))
                .wait("InstanceTerminated", json!({ "InstanceIds": [id] }))]
        }),
        (Ec2, "CreateKeyPair") => {
            one("key pair", text(o, "KeyPairId"), |id| vec![step(Ec2, "DeleteKeyPair", json!({ "KeyPairId": id }))])
        }
        (Ec2, "AllocateAddress") => one("elastic IP", text(o, "AllocationId"), |id| {
            vec![step(Ec2, "ReleaseAddress", json!({ "AllocationId": id }))]
        }),
        (Ec2, "CreateNatGateway") => one("NAT gateway", text(o, "NatGateway.NatGatewayId"), |id| {
            vec![step(Ec2, "DeleteNatGateway", json!({ "NatGatewayId": id }))]
        }),
        (Ec2, "CreateLaunchTemplate") => one("launch template", text(o, "LaunchTemplate.LaunchTemplateId"), |id| {
            vec![step(Ec2, "DeleteLaunchTemplate", json!({ "LaunchTemplateId": id }))]
        }),
        (Ec2, "CreateNetworkInterface") => {
            one("network interface", text(o, "NetworkInterface.NetworkInterfaceId"), |id| {
                vec![step(Ec2, "DeleteNetworkInterface", json!({ "NetworkInterfaceId": id }))]
            })
        }
        (Ecs, "CreateCluster") => one("cluster", text(o, "cluster.clusterArn"), |arn| {
            vec![step(Ecs, "DeleteCluster", json!({ "cluster": arn }))
                .retry(&["ClusterContainsServicesException", "ClusterContainsTasksException"])]
        }),
        (Ecs, "CreateService") => {
            let cluster = text(o, "service.clusterArn");
            one("service", text(o, "service.serviceArn"), |arn| {
                vec![
                    step(Ecs, "UpdateService", json!({ "cluster": cluster, "service": arn, "desiredCount": 0 })),
                    step(Ecs, "DeleteService", json!({ "cluster": cluster, "service": arn, "force": true }))
                        .wait("ServicesInactive", json!({ "cluster": cluster, "services": [arn] })),
                ]
            })
        }
        (Ecs, "RegisterTaskDefinition") => one("task definition", text(o, "taskDefinition.taskDefinitionArn"), |arn| {
            vec![step(Ecs, "DeregisterTaskDefinition", json!({ "taskDefinition": arn }))]
        }),
        (Ecs, "RunTask") => {
            let cluster = s("cluster");
            many("task", each(o, "tasks", "taskArn"), |arn| {
                vec![step(Ecs, "StopTask", json!({ "cluster": cluster, "task": arn, "reason": "runbook undo" }))]
            })
        }
        (Ecs, "CreateCapacityProvider") => one("capacity provider", text(o, "capacityProvider.name"), |name| {
            vec![step(Ecs, "DeleteCapacityProvider", json!({ "capacityProvider": name }))]
        }),
        (Ecs, "TagResource") => one("tags on", text(i, "resourceArn"), |arn| {
            let keys: Vec<Value> =
                s("tags").as_array().map(|t| t.iter().map(|x| x["key"].clone()).collect()).unwrap_or_default();
            vec![step(Ecs, "UntagResource", json!({ "resourceArn": arn, "tagKeys": keys }))]
        }),
        (Iam, "CreateRole") => one("role", text(o, "Role.RoleName"), |name| {
            vec![step(Iam, "DeleteRole", json!({ "RoleName": name })).retry(&["DeleteConflict"])]
        }),
        (Iam, "CreateServiceLinkedRole") => one("service-linked role", text(o, "Role.RoleName"), |name| {
            vec![step(Iam, "DeleteServiceLinkedRole", json!({ "RoleName": name }))]
        }),
        (Iam, "AttachRolePolicy") => one("policy attachment of", text(i, "RoleName"), |name| {
            vec![step(Iam, "DetachRolePolicy", json!({ "RoleName": name, "PolicyArn": s("PolicyArn") }))]
        }),
        (Iam, "PutRolePolicy") => one("inline policy of", text(i, "RoleName"), |name| {
            vec![step(Iam, "DeleteRolePolicy", json!({ "RoleName": name, "PolicyName": s("PolicyName") }))]
        }),
        (Iam, "CreatePolicy") => one("policy", text(o, "Policy.Arn"), |arn| {
            vec![step(Iam, "DeletePolicy", json!({ "PolicyArn": arn })).retry(&["DeleteConflict"])]
        }),
        (Iam, "CreateInstanceProfile") => {
            one("instance profile", text(o, "InstanceProfile.InstanceProfileName"), |name| {
                vec![step(Iam, "DeleteInstanceProfile", json!({ "InstanceProfileName": name }))
                    .retry(&["DeleteConflict"])]
            })
        }
        (Iam, "AddRoleToInstanceProfile") => one("role in instance profile", text(i, "InstanceProfileName"), |name| {
            vec![step(
                Iam,
                "RemoveRoleFromInstanceProfile",
                json!({ "InstanceProfileName": name, "RoleName": s("RoleName") }),
            )]
        }),
        (Iam, "UploadServerCertificate") => {
            one("server certificate", text(o, "ServerCertificateMetadata.ServerCertificateName"), |name| {
                vec![step(Iam, "DeleteServerCertificate", json!({ "ServerCertificateName": name }))
                    .retry(&["DeleteConflict"])]
            })
        }
        (Iam, "CreateUser") => one("user", text(o, "User.UserName"), |name| {
            vec![step(Iam, "DeleteUser", json!({ "UserName": name })).retry(&["DeleteConflict"])]
        }),
        (Acm, "RequestCertificate") => one("certificate", text(o, "CertificateArn"), |arn| {
            // A listener deleted moments ago still holds its certificate for a while.
            vec![step(Acm, "DeleteCertificate", json!({ "CertificateArn": arn })).retry(&["ResourceInUseException"])]
        }),
        (Acm, "ImportCertificate") if i.get("CertificateArn").is_some_and(|a| !a.is_null()) => {
            let mut inv =
                not_undoable("it re-imported a certificate over one that existed; the one it replaced was not kept");
            inv.replaced = text(i, "CertificateArn");
            return inv;
        }
        (Acm, "ImportCertificate") => one("certificate", text(o, "CertificateArn"), |arn| {
            vec![step(Acm, "DeleteCertificate", json!({ "CertificateArn": arn })).retry(&["ResourceInUseException"])]
        }),
        (Acm, "AddTagsToCertificate") => one("tags on", text(i, "CertificateArn"), |arn| {
            vec![step(Acm, "RemoveTagsFromCertificate", json!({ "CertificateArn": arn, "Tags": s("Tags") }))]
        }),
        (Route53, "CreateHostedZone") => one("hosted zone", text(o, "HostedZone.Id"), |id| {
            // Its records other than SOA and NS go first: undo removes the run's, newest first.
            vec![step(Route53, "DeleteHostedZone", json!({ "Id": id })).retry(&["HostedZoneNotEmpty"])]
        }),
        (ApplicationAutoscaling, "RegisterScalableTarget") => one("scalable target", text(i, "ResourceId"), |id| {
            vec![step(
                ApplicationAutoscaling,
                "DeregisterScalableTarget",
                json!({ "ServiceNamespace": s("ServiceNamespace"), "ResourceId": id, "ScalableDimension": s("ScalableDimension") }),
            )]
        }),
        (ApplicationAutoscaling, "PutScalingPolicy") => one("scaling policy", text(i, "PolicyName"), |name| {
            vec![step(
                ApplicationAutoscaling,
                "DeleteScalingPolicy",
                json!({ "PolicyName": name, "ServiceNamespace": s("ServiceNamespace"),
                        "ResourceId": s("ResourceId"), "ScalableDimension": s("ScalableDimension") }),
            )]
        }),
        (ApplicationAutoscaling, "PutScheduledAction") => {
            one("scheduled action", text(i, "ScheduledActionName"), |name| {
                vec![step(
                    ApplicationAutoscaling,
                    "DeleteScheduledAction",
                    json!({ "ScheduledActionName": name, "ServiceNamespace": s("ServiceNamespace"),
                        "ResourceId": s("ResourceId"), "ScalableDimension": s("ScalableDimension") }),
                )]
            })
        }
        _ => {
            let removes = [
                "Delete",
                "Deregister",
                "Terminate",
                "Revoke",
                "Remove",
                "Detach",
                "Stop",
                "Release",
                "Disassociate",
                "Untag",
            ];
            return if removes.iter().any(|v| op.starts_with(v)) {
                not_undoable("it removes something, and what it removed was not recorded")
            } else {
                not_undoable("it changes something in place, and the values it replaced were not recorded")
            };
        }
    };
    Inverse { created, not_undoable: None, replaced: None }
}

/// A write that sets tags on resources, in its service's words.
struct Tagging {
    svc: Svc,
    /// The write and its opposite, and their members: resources, the tag list, a tag's key and
    /// value, and the opposite's list of keys.
    set: &'static str,
    unset: &'static str,
    resources: &'static str,
    tags: &'static str,
    key: &'static str,
    value: &'static str,
    unset_keys: &'static str,
}

impl Tagging {
    fn of(svc: Svc, op: &str) -> Option<Tagging> {
        let t = |set, unset, resources, tags, key, value, unset_keys| {
            Some(Tagging { svc, set, unset, resources, tags, key, value, unset_keys })
        };
        match (svc, op) {
            (Svc::Elbv2, "AddTags") => t("AddTags", "RemoveTags", "ResourceArns", "Tags", "Key", "Value", "TagKeys"),
            (Svc::Ec2, "CreateTags") => t("CreateTags", "DeleteTags", "Resources", "Tags", "Key", "Value", "Tags"),
            (Svc::Ecs, "TagResource") => {
                t("TagResource", "UntagResource", "resourceArn", "tags", "key", "value", "tagKeys")
            }
            (Svc::Acm, "AddTagsToCertificate") => {
                t("AddTagsToCertificate", "RemoveTagsFromCertificate", "CertificateArn", "Tags", "Key", "Value", "Tags")
            }
            _ => None,
        }
    }

    /// The input that names one resource: a list of one, or ECS's single ARN.
    fn on(&self, resource: &str) -> Value {
        match self.svc {
            Svc::Ecs | Svc::Acm => json!({ self.resources: resource }),
            _ => json!({ self.resources: [resource] }),
        }
    }

    /// Undo of a tagging write some of whose keys were set before it: the keys it added are
    /// removed, and the values it replaced are put back.
    fn restore(&self, i: &Value, found: &reconcile::Found) -> Inverse {
        let before = found.output["before"].as_array().cloned().unwrap_or_default();
        let resources: Vec<String> = match &i[self.resources] {
            Value::String(r) => vec![r.clone()],
            v => v.as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        };
        let keys: Vec<String> = i[self.tags]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t[self.key].as_str().map(str::to_string))
            .collect();
        let mut created = Vec::new();
        for r in &resources {
            let old: Vec<&Value> = before.iter().filter(|b| b["resource"] == r.as_str()).collect();
            let was = |k: &str| old.iter().any(|b| b["key"] == k);
            let new: Vec<&String> = keys.iter().filter(|k| !was(k)).collect();
            if !new.is_empty() {
                let mut input = self.on(r);
                input[self.unset_keys] = match self.svc {
                    // EC2 and ACM name the tags to delete as tags.
                    Svc::Ec2 | Svc::Acm => json!(new.iter().map(|k| json!({ "Key": k })).collect::<Vec<_>>()),
                    _ => json!(new),
                };
                let undo = vec![step(self.svc, self.unset, input)];
                created.push(Created { kind: "tags on".into(), id: r.clone(), undo, restores: false });
            }
            if !old.is_empty() {
                let mut input = self.on(r);
                input[self.tags] = json!(old
                    .iter()
                    .map(|b| json!({ self.key: b["key"], self.value: b["value"] }))
                    .collect::<Vec<_>>());
                let undo = vec![step(self.svc, self.set, input)];
                created.push(Created { kind: "earlier tags on".into(), id: r.clone(), undo, restores: true });
            }
        }
        Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) }
    }
}

/// A listener's settings as they were before a `ModifyListener`: undo sets them again.
fn restore_listener(found: &reconcile::Found) -> Inverse {
    let l = &found.output;
    let mut input = json!({ "ListenerArn": found.id });
    for k in ["Port", "Protocol", "DefaultActions", "SslPolicy", "AlpnPolicy", "MutualAuthentication"] {
        if l.get(k).is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())) {
            input[k] = l[k].clone();
        }
    }
    // Only the default certificate is set by ModifyListener; the others are the listener's list.
    if let Some(default) = l["Certificates"].as_array().and_then(|c| c.first()) {
        input["Certificates"] = json!([{ "CertificateArn": default["CertificateArn"] }]);
    }
    let undo = vec![step(Svc::Elbv2, "ModifyListener", input)];
    let created = vec![Created { kind: "settings of listener".into(), id: found.id.clone(), undo, restores: true }];
    Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) }
}

fn not_undoable(reason: &str) -> Inverse {
    Inverse { created: vec![], not_undoable: Some(reason.into()), replaced: None }
}

/// What undo did with one write.
#[derive(Debug, Default)]
pub struct Report {
    pub removed: usize,
    /// Changed settings put back as they were before the run.
    pub restored: usize,
    pub already_gone: usize,
    pub left: usize,
    /// Changes in place to resources the run created (and undo removes).
    pub moot: usize,
    pub failed: usize,
    /// Writes in flight when the run ended whose outcome undo could not find out.
    pub unsettled: usize,
    /// Why undo stopped before its first removal in a place: another run holds its lock.
    pub refused: Option<String>,
    /// Values not put back: a later run or a hand changed them since, or they name something gone.
    pub conflicts: usize,
}

/// What a write in flight at the end of its run turned out to have done.
enum Settled {
    /// It was done: an outcome record as a success would have written it.
    Made(Value),
    /// It made nothing to remove; the text says why.
    Nothing(String),
    /// Undo cannot tell; the text says why.
    Unknown(String),
}

/// Looks up what an in-flight write made, with the look-up the run used (see `reconcile`). It is
/// this run's only when it was not there before the write (the intent's `before`).
fn settle(ctx: &Context, intent: &Value, known: &[String]) -> Settled {
    let (Some(svc), Some(op)) = (intent["service"].as_str().and_then(Svc::by_module), intent["operation"].as_str())
    else {
        return Settled::Unknown("the journal does not name its operation".into());
    };
    let input = &intent["input"];
    let before = Before::from_json(&intent["before"]);
    let Some(entry) = reconcile::entry_for(svc, op) else {
        // Without a look-up, a write that changes in place is treated like one that succeeded:
        // its inverse says whether undo can do anything about it.
        let inv = inverse(svc, op, input, &Value::Null, &Before::NotLooked);
        if inv.not_undoable.is_some() && inv.created.is_empty() {
            return Settled::Made(
                json!({ "ok": true, "created": [], "not_undoable": inv.not_undoable, "found": "a change in place" }),
            );
        }
        return Settled::Unknown("there is no way to look up what it made".into());
    };
    if let Before::Unknown(why) = &before {
        return Settled::Unknown(format!("the run could not tell what existed before it ({why})"));
    }
    let read = |s: Svc, o: &str, i: Value| reconcile::read(ctx, s, o, i);
    // What the run's other writes made is not this one's, even where its look-up before it lagged.
    let seen = reconcile::seen(Some(&entry), before.found(), || known.to_vec());
    // Moments after the run ended, AWS may not show yet what the write made: a miss is believed only
    // once it has lasted a while.
    let name = svc.function(op);
    let why = "a look-up may lag behind a write moments ago";
    let patience = reconcile::settle_time(ctx);
    match reconcile::look_patiently(ctx, &name, &entry, &read, (input, seen.as_ref()), patience, why) {
        Ok(Some(found)) if before.found().is_some_and(|b| b.id == found.id) => {
            Settled::Nothing(format!("{} existed before it and is left alone", found.id))
        }
        Ok(Some(found)) => {
            let inv = inverse(svc, op, input, &found.output, &Before::Absent);
            Settled::Made(json!({
                "ok": true, "found": found.id, "created": inv.created, "not_undoable": inv.not_undoable,
            }))
        }
        Ok(None) => Settled::Nothing("it made nothing (a look-up finds nothing it made)".into()),
        Err(e) => Settled::Unknown(format!("the look-up failed: {e}")),
    }
}

/// Where an intent's write was made, entered for as long as the guard lives.
struct Away<'a>(Option<&'a Context>);

impl<'a> Away<'a> {
    fn enter(ctx: &'a Context, place: &Value) -> Result<Away<'a>, CallError> {
        if !place.is_object() {
            return Ok(Away(None));
        }
        ctx.enter(place["region"].as_str(), place["role"].as_str())?;
        Ok(Away(Some(ctx)))
    }
}

impl Drop for Away<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = self.0 {
            ctx.leave();
        }
    }
}

/// Undoes a run from its journal records, newest write first. With `dry`, only says what it would do.
pub fn undo(
    ctx: &Context,
    records: &[Value],
    dry: bool,
    made: &super::propagation::Made,
    since: &super::since::Since,
) -> Report {
    let mut report = Report::default();
    let intents: Vec<&Value> = records.iter().filter(|r| r["type"] == "intent").collect();
    let created_ids: Vec<String> = records
        .iter()
        .filter(|r| r["type"] == "outcome")
        .flat_map(|r| r["created"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    for intent in intents.iter().rev() {
        let seq = &intent["seq"];
        let func = intent["function"].as_str().unwrap_or("?");
        let outcome = records.iter().find(|r| r["type"] == "outcome" && &r["seq"] == seq);
        let place = super::journal::place_text(&intent["place"]).map(|p| format!(" (in {p})")).unwrap_or_default();
        let head = format!("{:>4}  {func}{place}", seq.to_string());
        // A write made inside with_region/with_target is undone where it was made.
        let _away = match Away::enter(ctx, &intent["place"]) {
            Ok(guard) => guard,
            Err(e) => {
                outln!("{head}: could not reach {} to undo it: {}: {e}", intent["place"], e.code());
                report.failed += 1;
                continue;
            }
        };
        // Away from home, the place must be the account the write went to: a role's trust or an
        // account's setup may have changed since. Nothing is undone, nor called gone, from elsewhere.
        if let (false, Some(needed)) = (intent["place"].is_null(), intent["account"].as_str()) {
            match ctx.account() {
                Ok(reached) if reached == needed => {}
                Ok(reached) => {
                    outln!("{head}: not undone: it was made in account {needed}, and undo reached {reached} there");
                    report.failed += 1;
                    continue;
                }
                Err(e) => {
                    outln!("{head}: not undone: cannot confirm account {needed} there: {}: {e}", e.code());
                    report.failed += 1;
                    continue;
                }
            }
        }
        let outcome = outcome.filter(|o| o["unknown"] != true);
        // A write in flight when the run ended (or whose answer never came) is settled by looking.
        let settled;
        let outcome = match outcome {
            Some(o) => o,
            None => match settle(ctx, intent, &created_ids) {
                Settled::Made(o) => {
                    outln!("{head}: was in flight when the run ended; it was done: {}", o["found"]);
                    // What it made is as young as the write: a "not found" about it while AWS catches
                    // up is waited out, not taken for "already gone".
                    let mut record = o.clone();
                    (record["type"], record["seq"], record["time"]) =
                        (json!("outcome"), seq.clone(), intent["time"].clone());
                    made.note_journal(&[(*intent).clone(), record]);
                    settled = o;
                    &settled
                }
                Settled::Nothing(what) => {
                    outln!("{head}: was in flight when the run ended; {what}");
                    continue;
                }
                Settled::Unknown(why) => {
                    outln!(
                        "{head}: was in flight when the run ended, and {why}; look for what it made (tag {}={})",
                        super::tags::RUN_TAG,
                        records.first().and_then(|r| r["run"].as_str()).unwrap_or("?")
                    );
                    report.left += 1;
                    report.unsettled += 1;
                    continue;
                }
            },
        };
        if outcome["ok"] != true {
            outln!("{head}: failed with {}; nothing to undo", outcome["error"]["code"].as_str().unwrap_or("an error"));
            continue;
        }
        if let Some(reason) = outcome["not_undoable"].as_str() {
            let (moot, text) = not_undone_text(records, intent, reason);
            outln!("{head}: {text}");
            if moot {
                report.moot += 1;
            } else {
                report.left += 1;
            }
            continue;
        }
        let created: Vec<Created> = serde_json::from_value(outcome["created"].clone()).unwrap_or_default();
        let place = records.first().map(|start| super::since::place_of(start, intent)).unwrap_or_default();
        for c in created.iter().rev() {
            let (verb, done) = if c.restores { ("restore", "restored") } else { ("remove", "removed") };
            // An undo run again after one that stopped part-way: what that one did is done.
            if let Some(by) = since.undone_by(&c.id) {
                outln!("{head}: {} {} was {} already by undo run {by}", c.kind, c.id, done);
                report.already_gone += 1;
                continue;
            }
            // What later runs use is not removed from under them.
            if let Some(why) = since.used(&c.kind, &c.id, &place).filter(|_| !c.restores) {
                let would = if dry { "would not remove" } else { "not removed" };
                outln!("{head}: {would} {} {}: {why}", c.kind, c.id);
                report.conflicts += 1;
                continue;
            }
            // A value is put back only over what this run wrote, and never pointing at something gone.
            if c.restores {
                let steps: Vec<Value> = c.undo.iter().map(|s| s.input.clone()).collect();
                match super::since::blocked(ctx, (&c.kind, &c.id, &place), &steps, intent, since) {
                    Ok(None) => {}
                    Ok(Some(why)) => {
                        let would = if dry { "would not restore" } else { "not restored" };
                        outln!("{head}: {would} {} {}: {why}", c.kind, c.id);
                        report.conflicts += 1;
                        continue;
                    }
                    Err(e) => {
                        outln!(
                            "{head}: not restored: cannot read {} {} as it is now: {}: {}",
                            c.kind,
                            c.id,
                            e.code(),
                            e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default()
                        );
                        report.failed += 1;
                        continue;
                    }
                }
            }
            if dry {
                outln!("{head}: would {verb} {} {}", c.kind, c.id);
                for s in &c.undo {
                    outln!(
                        "        {}::{} {}",
                        s.service,
                        runbook_bindings::call::function_name(&s.service, &s.operation),
                        s.input
                    );
                }
                continue;
            }
            // Once a value was not put back, what it still points at stays in use: waiting for
            // that to end would wait for nothing.
            match remove(ctx, c, report.conflicts == 0) {
                Ok(true) => {
                    outln!("{head}: {done} {} {}", c.kind, c.id);
                    if c.restores {
                        report.restored += 1;
                    } else {
                        report.removed += 1;
                    }
                }
                Ok(false) => {
                    outln!("{head}: {} {} was already gone", c.kind, c.id);
                    report.already_gone += 1;
                }
                Err(e) if e.code() == runbook_bindings::error::LOCK_HELD => {
                    report.refused = Some(e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default());
                    return report;
                }
                Err(e) => {
                    outln!(
                        "{head}: could not {verb} {} {}: {}: {}",
                        c.kind,
                        c.id,
                        e.code(),
                        e.to_map().get("message").map(|m| m.to_string()).unwrap_or_default()
                    );
                    report.failed += 1;
                    if e.is_interrupt() {
                        return report;
                    }
                }
            }
        }
    }
    report
}

/// What `show` and `undo` both say of a write that cannot be undone: it changed something the run
/// created (and goes away with it), or why not.
pub fn not_undone_text(records: &[Value], intent: &Value, reason: &str) -> (bool, String) {
    let created: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["type"] == "outcome")
        .flat_map(|r| r["created"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| Some((c["kind"].as_str()?.to_string(), c["id"].as_str()?.to_string())))
        .collect();
    match changed_created(intent, &created) {
        Some(id) => (true, format!("not undone, and need not be: it changed {id}, which this run created")),
        None => (false, format!("not undone: {reason}")),
    }
}

/// The resource this run created that a write changed in place, if it names one (by id, or by the
/// name an ARN ends with): such a change goes away with the resource. Where several match (an
/// `update_service` names its cluster and a target group too), the one of the kind the operation
/// acts on (`UpdateService`: a service) is the one changed; else the first named.
fn changed_created(intent: &Value, created: &[(String, String)]) -> Option<String> {
    let mut strings = Vec::new();
    super::since::collect(&intent["input"], &mut strings);
    let operation = intent["operation"].as_str().unwrap_or_default().to_ascii_lowercase();
    let named: Vec<&(String, String)> =
        created.iter().filter(|(_, id)| strings.iter().any(|s| super::since::names(s, id))).collect();
    let acted_on = named.iter().find(|(kind, _)| operation.contains(&kind.replace(' ', "").to_ascii_lowercase()));
    acted_on.or(named.first()).map(|(_, id)| id.clone())
}

/// Runs one resource's undo steps, retrying the answers a step names only when `patient`.
/// `Ok(false)` when it was already gone.
fn remove(ctx: &Context, c: &Created, patient: bool) -> Result<bool, CallError> {
    for (n, s) in c.undo.iter().enumerate() {
        let svc = Svc::by_module(&s.service).ok_or_else(|| CallError::Transport {
            service: s.service.clone(),
            operation: s.operation.clone(),
            code: "UnknownService".into(),
            message: format!("the journal names an unknown service {}", s.service),
            retryable: false,
        })?;
        let input = json::from_value(&s.input).try_cast::<Map>().unwrap_or_default();
        let started = std::time::Instant::now();
        loop {
            match invoke(ctx, svc, &s.operation, &input, true) {
                // A change batch is done once Route 53 has it on every name server.
                Ok(out) if svc == Svc::Route53 && s.operation == "ChangeResourceRecordSets" => {
                    let id = json::to_value(&out)["ChangeInfo"]["Id"].clone();
                    if id.is_string() {
                        let wi = json::from_value(&json!({ "Id": id })).try_cast::<Map>().unwrap_or_default();
                        let options = WaitOptions { timeout: Some(900.0), delay: None };
                        let _ = waiter::wait(ctx, svc, "ResourceRecordSetsChanged", &wi, options)?;
                    }
                    break;
                }
                Ok(_) => break,
                Err(e) if gone(&e) => {
                    if n == 0 || c.undo.len() == n + 1 {
                        return Ok(false);
                    }
                    // A later step may still find something (a service already scaled to 0).
                    break;
                }
                Err(e) if patient && s.retry.iter().any(|r| r == e.code()) && started.elapsed().as_secs() < 600 => {
                    eoutln!("[undo] {}::{}: {}; retrying in 5s", s.service, s.operation, e.code());
                    ctx.sleep(&s.operation, 5.0)?;
                }
                Err(e) => return Err(e),
            }
        }
        if let (Some(w), Some(wi)) = (&s.wait, &s.wait_input) {
            let wi = json::from_value(wi).try_cast::<Map>().unwrap_or_default();
            let _ = waiter::wait(ctx, svc, w, &wi, WaitOptions { timeout: Some(900.0), delay: None })?;
        }
    }
    Ok(true)
}
