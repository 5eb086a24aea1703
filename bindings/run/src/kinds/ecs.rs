//! ECS's kinds of write: clusters, services, task definitions, tasks, capacity providers, tags.

use super::{
    absent, at, each, found, item, many, member, one, s, settings, step, text, Again::*, Fact, Found, Kind, Look, Read,
};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Ecs;

/// An ECS name given as an ARN or a name: the name.
pub(crate) fn ecs_name(v: String) -> String {
    match v.starts_with("arn:") {
        true => v.rsplit('/').next().unwrap_or_default().to_string(),
        false => v,
    }
}

pub(super) const KINDS: &[Kind] = &[
    // A change of a service's settings. Forcing a new deployment sets nothing that can be read
    // back: such a write never holds already (see `since::unchanged`).
    Kind::new(Ecs, "UpdateService", Converges).read_back(|_, reads, input| {
        let mut request = json!({ "services": [s(input, "service")] });
        if let Some(c) = input.get("cluster") {
            request["cluster"] = c.clone();
        }
        let now = service_now(reads, request, input)?;
        // Named as the create names it: by its ARN when it is there.
        let id = now.as_ref().and_then(|n| at(n, "serviceArn")).unwrap_or_else(|| text(input, "service").to_string());
        let wrote = settings(input, &["cluster", "service", "forceNewDeployment"]);
        Ok(vec![Fact { what: "service".into(), id, wrote: Some(wrote), now }])
    }),
    Kind::new(Ecs, "CreateCluster", Converges)
        .find(cluster)
        .not_found(&["ClusterNotFoundException"])
        .present(|r, _, id| {
            let cluster = item(r, Ecs, "DescribeClusters", json!({ "clusters": [id] }), "/clusters/0")?;
            Ok(cluster.filter(|c| c["status"] == "ACTIVE" || c["status"] == "PROVISIONING"))
        })
        .arn(|i, w| Some(w.arn("ecs", format!("cluster/{}", super::given(i, "clusterName", "default")?))))
        .remove(|_, o| {
            one("cluster", at(o, "cluster.clusterArn"), |arn| {
                vec![step(Ecs, "DeleteCluster", json!({ "cluster": arn }))
                    .retry(&["ClusterContainsServicesException", "ClusterContainsTasksException"])]
            })
        }),
    Kind::new(Ecs, "CreateService", Duplicates)
        .duplicate(&["InvalidParameterException"])
        .find(service)
        .not_found(&["ServiceNotFoundException"])
        .present(|r, input, id| {
            // `…:service/<cluster>/<name>`; an older ARN without its cluster is in the default one.
            let mut request = json!({ "services": [id] });
            if let [_, cluster, _] = id.split('/').collect::<Vec<_>>()[..] {
                request["cluster"] = json!(cluster);
            }
            service_now(r, request, input)
        })
        .arn(|i, w| {
            let cluster = ecs_name(super::given(i, "cluster", "default")?);
            Some(w.arn("ecs", format!("service/{cluster}/{}", member(i, "serviceName")?)))
        })
        .remove(|_, o| {
            let cluster = at(o, "service.clusterArn");
            one("service", at(o, "service.serviceArn"), |arn| {
                vec![
                    step(Ecs, "UpdateService", json!({ "cluster": cluster, "service": arn, "desiredCount": 0 })),
                    step(Ecs, "DeleteService", json!({ "cluster": cluster, "service": arn, "force": true }))
                        .wait("ServicesInactive", json!({ "cluster": cluster, "services": [arn] })),
                ]
            })
        }),
    Kind::new(Ecs, "RegisterTaskDefinition", Adds)
        .find(task_definition)
        .present(|r, _, id| {
            // A revision never changes: whether it is still active is all there is to read.
            let request = json!({ "taskDefinition": id });
            let revision = item(r, Ecs, "DescribeTaskDefinition", request, "/taskDefinition")?;
            Ok(revision.filter(|t| t["status"] == "ACTIVE").map(|t| json!({ "family": t["family"] })))
        })
        .remove(|_, o| {
            one("task definition", at(o, "taskDefinition.taskDefinitionArn"), |arn| {
                vec![step(Ecs, "DeregisterTaskDefinition", json!({ "taskDefinition": arn }))]
            })
        }),
    Kind::new(Ecs, "RunTask", Adds)
        .find(tasks)
        .unread("a task ends by itself when its work is done, which is no drift")
        .remove(|i, o| {
            let cluster = s(i, "cluster");
            many("task", each(o, "tasks", "taskArn"), |arn| {
                vec![step(Ecs, "StopTask", json!({ "cluster": cluster, "task": arn, "reason": "runbook undo" }))]
            })
        }),
    Kind::new(Ecs, "CreateCapacityProvider", Duplicates)
        .present(|r, _, id| {
            let request = json!({ "capacityProviders": [id] });
            let provider = item(r, Ecs, "DescribeCapacityProviders", request, "/capacityProviders/0")?;
            Ok(provider.filter(|p| p["status"] == "ACTIVE"))
        })
        .remove(|_, o| {
            one("capacity provider", at(o, "capacityProvider.name"), |name| {
                vec![step(Ecs, "DeleteCapacityProvider", json!({ "capacityProvider": name }))]
            })
        }),
    Kind::new(Ecs, "TagResource", Converges)
        .find(super::tagging::ecs_tags)
        .remove(|i, _| {
            one("tags on", at(i, "resourceArn"), |arn| {
                let keys: Vec<Value> =
                    s(i, "tags").as_array().map(|t| t.iter().map(|x| x["key"].clone()).collect()).unwrap_or_default();
                vec![step(Ecs, "UntagResource", json!({ "resourceArn": arn, "tagKeys": keys }))]
            })
        })
        .tagging(super::Tagging {
            set: "TagResource",
            unset: "UntagResource",
            resources: "resourceArn",
            tags: "tags",
            key: "key",
            value: "value",
            unset_keys: "tagKeys",
            read: "ListTagsForResource",
            list: "/tags",
        }),
];

/// A service as it is now, named as a create or update names its members: `cluster` is its
/// cluster's ARN, and `taskDefinition` the family the write gave when the revision it runs is
/// that family's newest (what a family without a revision stands for). `None` when it is gone.
fn service_now(read: Read, request: Value, input: &Value) -> Result<Option<Value>, CallError> {
    let Some(out) = absent(read(Ecs, "DescribeServices", request))? else { return Ok(None) };
    let Some(mut now) = out["services"].as_array().into_iter().flatten().find(|x| x["status"] != "INACTIVE").cloned()
    else {
        return Ok(None);
    };
    now["cluster"] = now["clusterArn"].clone();
    if let Some(family) = input["taskDefinition"].as_str().filter(|f| !f.contains(':') && !f.contains('/')) {
        let newest = read(Ecs, "DescribeTaskDefinition", json!({ "taskDefinition": family }))?;
        if newest["taskDefinition"]["taskDefinitionArn"] == now["taskDefinition"] {
            now["taskDefinition"] = json!(family);
        }
    }
    Ok(Some(now))
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
