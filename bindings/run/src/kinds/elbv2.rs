//! ELBv2's kinds of write: target groups and their targets, load balancers, listeners and their
//! settings, rules, tags.

use super::{
    absent, at, each, first, found, item, many, member, one, read_now, s, settings, step, text, Again::*, Before,
    Created, Fact, Found, Inverse, Kind, Look, Read,
};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Elbv2;

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Elbv2, "CreateTargetGroup", Duplicates)
        .duplicate(&["DuplicateTargetGroupName"])
        .find(target_group)
        .not_found(&["TargetGroupNotFound"])
        .present(|r, _, id| {
            item(r, Elbv2, "DescribeTargetGroups", json!({ "TargetGroupArns": [id] }), "/TargetGroups/0")
        })
        .arn(|i, w| Some(w.arn("elasticloadbalancing", format!("targetgroup/{}/*", member(i, "Name")?))))
        .remove(|_, o| {
            many("target group", each(o, "TargetGroups", "TargetGroupArn"), |arn| {
                vec![step(Elbv2, "DeleteTargetGroup", json!({ "TargetGroupArn": arn })).retry(&["ResourceInUse"])]
            })
        }),
    Kind::new(Elbv2, "CreateLoadBalancer", Duplicates)
        .duplicate(&["DuplicateLoadBalancerName"])
        .find(load_balancer)
        .not_found(&["LoadBalancerNotFound"])
        .present(|r, _, id| {
            let request = json!({ "LoadBalancerArns": [id] });
            let lb = item(r, Elbv2, "DescribeLoadBalancers", request, "/LoadBalancers/0")?;
            // Its subnets, as the create names them.
            Ok(lb.map(|mut lb| {
                lb["Subnets"] = json!(each(&lb, "AvailabilityZones", "SubnetId"));
                lb
            }))
        })
        .arn(|i, w| {
            let kind = match i["Type"].as_str().unwrap_or("application") {
                "network" => "net",
                "gateway" => "gwy",
                _ => "app",
            };
            Some(w.arn("elasticloadbalancing", format!("loadbalancer/{kind}/{}/*", member(i, "Name")?)))
        })
        .remove(|_, o| {
            many("load balancer", each(o, "LoadBalancers", "LoadBalancerArn"), |arn| {
                vec![step(Elbv2, "DeleteLoadBalancer", json!({ "LoadBalancerArn": arn }))
                    .wait("LoadBalancersDeleted", json!({ "LoadBalancerArns": [arn] }))]
            })
        }),
    Kind::new(Elbv2, "CreateListener", Duplicates)
        .duplicate(&["DuplicateListener"])
        .find(listener)
        .not_found(&["ListenerNotFound"])
        .present(|r, _, id| item(r, Elbv2, "DescribeListeners", json!({ "ListenerArns": [id] }), "/Listeners/0"))
        .remove(|_, o| {
            many("listener", each(o, "Listeners", "ListenerArn"), |arn| {
                vec![step(Elbv2, "DeleteListener", json!({ "ListenerArn": arn }))]
            })
        }),
    Kind::new(Elbv2, "CreateRule", Duplicates)
        .duplicate(&["PriorityInUse"])
        .find(rule)
        .not_found(&["RuleNotFound"])
        .present(|r, _, id| item(r, Elbv2, "DescribeRules", json!({ "RuleArns": [id] }), "/Rules/0"))
        .remove(|_, o| {
            many("rule", each(o, "Rules", "RuleArn"), |arn| vec![step(Elbv2, "DeleteRule", json!({ "RuleArn": arn }))])
        }),
    Kind::new(Elbv2, "RegisterTargets", Converges)
        .find(targets)
        .present(|r, i, id| {
            let request = json!({ "TargetGroupArn": id });
            let Some(out) = read_now(r, Elbv2, "DescribeTargetHealth", request)? else { return Ok(None) };
            // Of the targets registered now, those the write registered: others are not its.
            let registered: Vec<Value> = out["TargetHealthDescriptions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["Target"].clone())
                .filter(|t| i["Targets"].as_array().into_iter().flatten().any(|w| w["Id"] == t["Id"]))
                .collect();
            Ok(Some(json!({ "Targets": registered })))
        })
        .remove(|i, _| {
            one("targets of", at(i, "TargetGroupArn"), |arn| {
                vec![step(Elbv2, "DeregisterTargets", json!({ "TargetGroupArn": arn, "Targets": s(i, "Targets") }))]
            })
        }),
    Kind::new(Elbv2, "ModifyListener", Converges)
        .find(listener_settings)
        .restore(|_, i, before| match before {
            Before::Present(found) => Some(restore_listener(found, i)),
            _ => None,
        })
        .read_back(|_, reads, input| {
            let arn = input["ListenerArn"].clone();
            let now = read_now(reads, Elbv2, "DescribeListeners", json!({ "ListenerArns": [arn] }))?;
            let id = text(input, "ListenerArn").to_string();
            let now = now.and_then(|n| first(&n["Listeners"]).cloned());
            Ok(vec![Fact { what: "listener".into(), id, wrote: Some(settings(input, &["ListenerArn"])), now }])
        }),
    // A target group's health check settings: undo puts back what the members it set were.
    Kind::new(Elbv2, "ModifyTargetGroup", Converges)
        .find(|read, i, _| {
            let tg = item(
                read,
                Elbv2,
                "DescribeTargetGroups",
                json!({ "TargetGroupArns": [s(i, "TargetGroupArn")] }),
                "/TargetGroups/0",
            )?;
            Ok(tg.and_then(|t| found(t["TargetGroupArn"].as_str()?, t.clone())))
        })
        .restore(|_, i, before| {
            let Before::Present(found) = before else { return None };
            let mut input = json!({ "TargetGroupArn": found.id });
            for (k, _) in i.as_object()?.iter().filter(|(k, _)| *k != "TargetGroupArn") {
                if let Some(v) = found.output.get(k).filter(|v| !v.is_null()) {
                    input[k] = v.clone();
                }
            }
            let undo = vec![step(Elbv2, "ModifyTargetGroup", input)];
            let kind = "settings of target group".to_string();
            let created = vec![Created { kind, id: found.id.clone(), undo, restores: true }];
            Some(Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) })
        })
        .read_back(|_, reads, input| {
            let request = json!({ "TargetGroupArns": [s(input, "TargetGroupArn")] });
            let now = item(reads, Elbv2, "DescribeTargetGroups", request, "/TargetGroups/0")?;
            let id = text(input, "TargetGroupArn").to_string();
            Ok(vec![Fact { what: "target group".into(), id, wrote: Some(settings(input, &["TargetGroupArn"])), now }])
        }),
    // A target group's attributes (stickiness, deregistration delay): undo puts back the values
    // the keys it set had.
    Kind::new(Elbv2, "ModifyTargetGroupAttributes", Converges)
        .find(|read, i, _| {
            let request = json!({ "TargetGroupArn": s(i, "TargetGroupArn") });
            let out = read_now(read, Elbv2, "DescribeTargetGroupAttributes", request)?;
            Ok(out.and_then(|o| found(text(i, "TargetGroupArn"), json!({ "Attributes": o["Attributes"] }))))
        })
        .restore(|_, i, before| {
            let Before::Present(found) = before else { return None };
            let had = attributes(&found.output["Attributes"]);
            let keys: Vec<String> = attributes(&i["Attributes"]).keys().cloned().collect();
            let back: Vec<Value> =
                keys.iter().filter_map(|k| Some(json!({ "Key": k, "Value": had.get(k)? }))).collect();
            let input = json!({ "TargetGroupArn": found.id, "Attributes": back });
            let undo = vec![step(Elbv2, "ModifyTargetGroupAttributes", input)];
            let kind = "attributes of target group".to_string();
            let created = vec![Created { kind, id: found.id.clone(), undo, restores: true }];
            Some(Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) })
        })
        .read_back(|_, reads, input| {
            let request = json!({ "TargetGroupArn": s(input, "TargetGroupArn") });
            let now = read_now(reads, Elbv2, "DescribeTargetGroupAttributes", request)?;
            let wrote = Value::Object(attributes(&input["Attributes"]));
            let now = now.map(|n| Value::Object(attributes(&n["Attributes"])));
            let id = text(input, "TargetGroupArn").to_string();
            Ok(vec![Fact { what: "attributes of target group".into(), id, wrote: Some(wrote), now }])
        }),
    Kind::new(Elbv2, "AddTags", Converges)
        .find(super::tagging::elbv2_tags)
        .remove(|i, _| {
            one("tags on", Some(s(i, "ResourceArns").to_string()), |_| {
                let keys: Vec<Value> =
                    s(i, "Tags").as_array().map(|t| t.iter().map(|x| x["Key"].clone()).collect()).unwrap_or_default();
                vec![step(Elbv2, "RemoveTags", json!({ "ResourceArns": s(i, "ResourceArns"), "TagKeys": keys }))]
            })
        })
        .tagging(super::Tagging {
            set: "AddTags",
            unset: "RemoveTags",
            resources: "ResourceArns",
            tags: "Tags",
            key: "Key",
            value: "Value",
            unset_keys: "TagKeys",
            read: "DescribeTags",
            list: "/TagDescriptions/0/Tags",
        }),
];

/// A list of `{ Key, Value }` attributes as a map.
fn attributes(list: &Value) -> serde_json::Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["Key"].as_str()?.to_string(), a["Value"].clone())))
        .collect()
}

/// A listener's settings as they were before a `ModifyListener`: undo sets again those the write
/// set (the protocol, its certificate and policies go together), and leaves the others to whoever
/// set them since.
fn restore_listener(found: &Found, written: &Value) -> Inverse {
    let l = &found.output;
    let mut input = json!({ "ListenerArn": found.id });
    let secure = ["Protocol", "SslPolicy", "AlpnPolicy", "Certificates"];
    let set = |k: &str| written.get(k).is_some_and(|v| !v.is_null());
    let wanted = |k: &str| set(k) || (secure.contains(&k) && secure.iter().any(|s| set(s)));
    for k in ["Port", "Protocol", "DefaultActions", "SslPolicy", "AlpnPolicy", "MutualAuthentication"] {
        if wanted(k) && l.get(k).is_some_and(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty())) {
            input[k] = l[k].clone();
        }
    }
    // Only the default certificate is set by ModifyListener; the others are the listener's list.
    if let Some(default) = l["Certificates"].as_array().and_then(|c| c.first()).filter(|_| wanted("Certificates")) {
        input["Certificates"] = json!([{ "CertificateArn": default["CertificateArn"] }]);
    }
    let undo = vec![step(Svc::Elbv2, "ModifyListener", input)];
    let created = vec![Created { kind: "settings of listener".into(), id: found.id.clone(), undo, restores: true }];
    Inverse { created, not_undoable: None, replaced: Some(found.id.clone()) }
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

/// A listener's settings, which a `ModifyListener` replaces and undo puts back.
fn listener_settings(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Elbv2, "DescribeListeners", json!({ "ListenerArns": [s(i, "ListenerArn")] }))?;
    Ok(first(&out["Listeners"]).and_then(|l| found(l["ListenerArn"].as_str()?, l.clone())))
}
