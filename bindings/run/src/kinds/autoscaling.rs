//! Application Auto Scaling's kinds of write: scalable targets, scaling policies, scheduled
//! actions.

use super::{at, first, found, named, one, read_now, s, settings, step, text, Again::*, Fact, Found, Kind, Look, Read};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::ApplicationAutoscaling as Aas;

/// The members that name a scalable target (and a policy of it).
const IDENTITY: [&str; 4] = ["ServiceNamespace", "ResourceId", "ScalableDimension", "PolicyName"];

/// The members that name a scalable target, as every call about it takes them.
fn target(i: &Value) -> Value {
    json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceId": s(i, "ResourceId"),
            "ScalableDimension": s(i, "ScalableDimension") })
}

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Aas, "RegisterScalableTarget", Converges)
        .find(scalable_target)
        .not_found(&["ObjectNotFoundException"])
        .read_back(|_, reads, input| {
            let request = json!({ "ServiceNamespace": s(input, "ServiceNamespace"), "ResourceIds": [s(input, "ResourceId")],
                                  "ScalableDimension": s(input, "ScalableDimension") });
            let now = read_now(reads, Aas, "DescribeScalableTargets", request)?;
            let now = now.as_ref().and_then(|o| first(&o["ScalableTargets"])).cloned();
            let (what, id) = ("scalable target".into(), text(input, "ResourceId").to_string());
            Ok(vec![Fact { what, id, wrote: Some(settings(input, &IDENTITY)), now }])
        })
        .remove(|i, _| {
            one("scalable target", at(i, "ResourceId"), |_| vec![step(Aas, "DeregisterScalableTarget", target(i))])
        }),
    Kind::new(Aas, "PutScalingPolicy", Converges)
        .find(scaling_policy)
        .read_back(|_, reads, input| {
            let request = json!({ "ServiceNamespace": s(input, "ServiceNamespace"), "ResourceId": s(input, "ResourceId"),
                                  "ScalableDimension": s(input, "ScalableDimension"),
                                  "PolicyNames": [s(input, "PolicyName")] });
            let now = read_now(reads, Aas, "DescribeScalingPolicies", request)?;
            let name = input["PolicyName"].as_str().unwrap_or_default();
            let now = now.as_ref().and_then(|o| named(&o["ScalingPolicies"], "PolicyName", name)).cloned();
            let id = format!("{} of {}", name, text(input, "ResourceId"));
            Ok(vec![Fact { what: "scaling policy".into(), id, wrote: Some(settings(input, &IDENTITY)), now }])
        })
        .remove(|i, _| {
        one("scaling policy", at(i, "PolicyName"), |name| {
            let mut input = target(i);
            input["PolicyName"] = json!(name);
            vec![step(Aas, "DeleteScalingPolicy", input)]
        })
    }),
    Kind::new(Aas, "PutScheduledAction", Converges)
        .find(scheduled_action)
        .read_back(|_, reads, input| {
            let request = json!({ "ServiceNamespace": s(input, "ServiceNamespace"), "ResourceId": s(input, "ResourceId"),
                                  "ScalableDimension": s(input, "ScalableDimension"),
                                  "ScheduledActionNames": [s(input, "ScheduledActionName")] });
            let now = read_now(reads, Aas, "DescribeScheduledActions", request)?;
            let name = input["ScheduledActionName"].as_str().unwrap_or_default();
            let now = now.as_ref().and_then(|o| named(&o["ScheduledActions"], "ScheduledActionName", name)).cloned();
            let id = format!("{} of {}", name, text(input, "ResourceId"));
            let wrote = settings(input, &["ServiceNamespace", "ResourceId", "ScalableDimension", "ScheduledActionName"]);
            Ok(vec![Fact { what: "scheduled action".into(), id, wrote: Some(wrote), now }])
        })
        .remove(|i, _| {
        one("scheduled action", at(i, "ScheduledActionName"), |name| {
            let mut input = target(i);
            input["ScheduledActionName"] = json!(name);
            vec![step(Aas, "DeleteScheduledAction", input)]
        })
    }),
];

fn scalable_target(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceIds": [s(i, "ResourceId")],
                          "ScalableDimension": s(i, "ScalableDimension") });
    let out = read(Aas, "DescribeScalableTargets", request)?;
    Ok(first(&out["ScalableTargets"]).and_then(|t| {
        let arn = t["ScalableTargetARN"].as_str().map(str::to_string).unwrap_or_else(|| t["ResourceId"].to_string());
        found(arn.clone(), json!({ "ScalableTargetARN": arn }))
    }))
}

fn scaling_policy(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceId": s(i, "ResourceId"),
                          "ScalableDimension": s(i, "ScalableDimension"), "PolicyNames": [s(i, "PolicyName")] });
    let out = read(Aas, "DescribeScalingPolicies", request)?;
    Ok(named(&out["ScalingPolicies"], "PolicyName", i["PolicyName"].as_str().unwrap_or_default())
        .and_then(|p| found(p["PolicyARN"].as_str()?, json!({ "PolicyARN": p["PolicyARN"], "Alarms": p["Alarms"] }))))
}

fn scheduled_action(read: Read, i: &Value, _: Look) -> Result<Option<Found>, CallError> {
    let request = json!({ "ServiceNamespace": s(i, "ServiceNamespace"), "ResourceId": s(i, "ResourceId"),
                          "ScalableDimension": s(i, "ScalableDimension"),
                          "ScheduledActionNames": [s(i, "ScheduledActionName")] });
    let out = read(Aas, "DescribeScheduledActions", request)?;
    Ok(named(&out["ScheduledActions"], "ScheduledActionName", i["ScheduledActionName"].as_str().unwrap_or_default())
        .and_then(|a| found(a["ScheduledActionARN"].as_str().unwrap_or("scheduled action"), json!({}))))
}
