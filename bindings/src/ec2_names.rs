//! EC2 names: `ec2_tags` builds the `TagSpecifications` of a create, `ec2_named` finds a resource
//! by its `Name` tag. EC2 has no names of its own for most resources, so a runbook that looks
//! before it creates looks by this tag.

use crate::call::{invoke, Svc};
use crate::helpers::runtime_error;
use crate::runtime::Context;
use crate::{at, site, to_script_error};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, NativeCallContext};
use std::rc::Rc;

/// What `ec2_named` can look up: (resource type as `TagSpecifications` names it, the describe
/// operation, the list in its result, the id member). The member taking filters comes from the model.
const KINDS: &[(&str, &str, &str, &str)] = &[
    ("vpc", "DescribeVpcs", "Vpcs", "VpcId"),
    ("subnet", "DescribeSubnets", "Subnets", "SubnetId"),
    ("security-group", "DescribeSecurityGroups", "SecurityGroups", "GroupId"),
    ("internet-gateway", "DescribeInternetGateways", "InternetGateways", "InternetGatewayId"),
    (
        "egress-only-internet-gateway",
        "DescribeEgressOnlyInternetGateways",
        "EgressOnlyInternetGateways",
        "EgressOnlyInternetGatewayId",
    ),
    ("route-table", "DescribeRouteTables", "RouteTables", "RouteTableId"),
    ("natgateway", "DescribeNatGateways", "NatGateways", "NatGatewayId"),
    ("network-acl", "DescribeNetworkAcls", "NetworkAcls", "NetworkAclId"),
    ("network-interface", "DescribeNetworkInterfaces", "NetworkInterfaces", "NetworkInterfaceId"),
    ("elastic-ip", "DescribeAddresses", "Addresses", "AllocationId"),
    ("key-pair", "DescribeKeyPairs", "KeyPairs", "KeyPairId"),
    ("launch-template", "DescribeLaunchTemplates", "LaunchTemplates", "LaunchTemplateId"),
    ("instance", "DescribeInstances", "Reservations", "InstanceId"),
    ("vpc-endpoint", "DescribeVpcEndpoints", "VpcEndpoints", "VpcEndpointId"),
    ("vpc-peering-connection", "DescribeVpcPeeringConnections", "VpcPeeringConnections", "VpcPeeringConnectionId"),
    ("dhcp-options", "DescribeDhcpOptions", "DhcpOptions", "DhcpOptionsId"),
    ("volume", "DescribeVolumes", "Volumes", "VolumeId"),
];

struct Kind {
    resource_type: &'static str,
    operation: &'static str,
    list: &'static str,
    id: &'static str,
}

fn kind(resource_type: &str) -> Option<Kind> {
    KINDS.iter().find(|k| k.0 == resource_type).map(|&(resource_type, operation, list, id)| Kind {
        resource_type,
        operation,
        list,
        id,
    })
}

/// The member of a describe operation's input that takes filters: `Filters`, or `Filter` (NAT gateways).
fn filters_member(operation: &str) -> &'static str {
    let table = Svc::Ec2.table().ok();
    let input = table.and_then(|t| t.operations.get(operation)).and_then(|o| o.input.as_deref());
    match input.and_then(|i| table.and_then(|t| t.shape(i))) {
        Some(shape) if shape.member_shape("Filters").is_none() && shape.member_shape("Filter").is_some() => "Filter",
        _ => "Filters",
    }
}

/// States of resources that are gone or going: a look-up by name passes over them.
const GONE: &[&str] = &["deleted", "deleting", "terminated", "shutting-down", "failed", "rejected", "expired"];

/// The types EC2's model allows in `TagSpecifications`.
fn resource_types() -> Result<&'static [String], Box<EvalAltResult>> {
    let table = Svc::Ec2.table().map_err(|e| to_script_error(&e))?;
    Ok(table.shape("ResourceType").map(|s| s.values.as_slice()).unwrap_or(&[]))
}

/// `ec2_tags(type, tags)`: the `TagSpecifications` value that tags a new resource of `type` with
/// `tags` (a map of key to value, or just the Name as a string).
pub fn tags(resource_type: &str, tags: &Dynamic) -> Result<Array, Box<EvalAltResult>> {
    let allowed = resource_types()?;
    if !allowed.iter().any(|t| t == resource_type) {
        let close = crate::validate::closest(resource_type, allowed.iter().map(String::as_str));
        let hint = match close.first() {
            Some(c) => format!(" (did you mean {c:?}?)"),
            None => "; `runbook help ec2::ResourceType` lists them".into(),
        };
        return Err(runtime_error(format!("ec2_tags: {resource_type:?} is not an EC2 resource type{hint}")));
    }
    let pairs: Vec<(String, String)> = if tags.is_string() {
        vec![("Name".into(), tags.to_string())]
    } else if let Some(map) = tags.read_lock::<Map>() {
        let mut pairs = Vec::new();
        for (k, v) in map.iter() {
            if v.is_map() || v.is_array() || v.is_unit() {
                return Err(runtime_error(format!("ec2_tags: tag {k}: expected a string, got {}", v.type_name())));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        pairs
    } else {
        return Err(runtime_error(format!("ec2_tags: expected a map of tags or a Name, got {}", tags.type_name())));
    };
    let tags: Array = pairs
        .into_iter()
        .map(|(k, v)| {
            let mut t = Map::new();
            t.insert("Key".into(), k.into());
            t.insert("Value".into(), v.into());
            Dynamic::from_map(t)
        })
        .collect();
    let mut spec = Map::new();
    spec.insert("ResourceType".into(), resource_type.into());
    spec.insert("Tags".into(), tags.into());
    Ok(vec![Dynamic::from_map(spec)])
}

/// `ec2_named(type, name, filters)`: the one live resource of `type` whose Name tag is `name` and
/// that passes `filters` (filter name → value or values), or () when there is none. Several are an
/// error that lists them: which one was meant is the operator's call, not a guess.
pub fn named(ctx: &Context, resource_type: &str, name: &str, filters: &Map) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(kind) = kind(resource_type) else {
        let types: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        let close = crate::validate::closest(resource_type, types.iter().copied());
        let hint = match close.first() {
            Some(c) => format!("did you mean {c:?}? "),
            None => String::new(),
        };
        return Err(runtime_error(format!(
            "ec2_named: cannot look up {resource_type:?} by name; {hint}it knows {}",
            types.join(", ")
        )));
    };
    if !Svc::Ec2.operations().iter().any(|(_, op)| *op == kind.operation) {
        return Err(runtime_error(format!(
            "ec2_named: {resource_type} needs ec2::{}, which this build leaves out (feature ec2-all)",
            kind.operation
        )));
    }
    let mut list: Array = vec![filter("tag:Name", &Dynamic::from(name.to_string()))?];
    for (k, v) in filters.iter() {
        list.push(filter(k, v)?);
    }
    let mut input = Map::new();
    input.insert(filters_member(kind.operation).into(), list.into());
    let answer = invoke(ctx, Svc::Ec2, kind.operation, &input, true).map_err(|e| to_script_error(&e))?;
    let found: Vec<Dynamic> = items(&answer, &kind).into_iter().filter(|r| !gone(r)).collect();
    match found.len() {
        0 => Ok(Dynamic::UNIT),
        1 => Ok(found.into_iter().next().unwrap_or(Dynamic::UNIT)),
        n => {
            let ids: Vec<String> = found.iter().map(|r| member(r, kind.id).unwrap_or_else(|| "?".into())).collect();
            Err(runtime_error(format!(
                "ec2_named: {n} {resource_type}s are named {name:?} ({}); add filters to tell them apart, \
                 e.g. ec2_named({resource_type:?}, {name:?}, #{{ \"vpc-id\": vpc }})",
                ids.join(", ")
            )))
        }
    }
}

/// One entry of a describe call's `Filters`.
fn filter(name: &str, values: &Dynamic) -> Result<Dynamic, Box<EvalAltResult>> {
    let values: Array = if let Some(a) = values.read_lock::<Array>() {
        a.iter().map(|v| Dynamic::from(v.to_string())).collect()
    } else if values.is_map() || values.is_unit() {
        return Err(runtime_error(format!(
            "ec2_named: filter {name}: expected a string or an array, got {}",
            values.type_name()
        )));
    } else {
        vec![Dynamic::from(values.to_string())]
    };
    let mut f = Map::new();
    f.insert("Name".into(), name.into());
    f.insert("Values".into(), values.into());
    Ok(Dynamic::from_map(f))
}

/// The resources in a describe answer; instances come inside reservations.
fn items(answer: &Dynamic, kind: &Kind) -> Vec<Dynamic> {
    let list = |v: &Dynamic, key: &str| -> Array {
        v.read_lock::<Map>()
            .and_then(|m| m.get(key).and_then(|l| l.read_lock::<Array>().map(|a| a.clone())))
            .unwrap_or_default()
    };
    let top = list(answer, kind.list);
    if kind.resource_type == "instance" {
        return top.iter().flat_map(|r| list(r, "Instances")).collect();
    }
    top
}

fn member(r: &Dynamic, key: &str) -> Option<String> {
    r.read_lock::<Map>().and_then(|m| m.get(key).map(Dynamic::to_string))
}

/// Whether a resource's state (`State`, `State.Name` or `Status.Code`) says it is gone or going.
fn gone(r: &Dynamic) -> bool {
    let Some(m) = r.read_lock::<Map>() else { return false };
    let nested = |outer: &str, inner: &str| {
        m.get(outer).and_then(|v| v.read_lock::<Map>().and_then(|s| s.get(inner).map(Dynamic::to_string)))
    };
    let state = m
        .get("State")
        .filter(|s| s.is_string())
        .map(Dynamic::to_string)
        .or_else(|| nested("State", "Name"))
        .or_else(|| nested("Status", "Code"));
    state.is_some_and(|s| GONE.contains(&s.as_str()))
}

pub fn register(engine: &mut Engine, ctx: &Rc<Context>) {
    engine.register_fn("ec2_tags", |nc: NativeCallContext, t: &str, tags_: Dynamic| {
        tags(t, &tags_).map_err(|e| at(e, &nc))
    });
    let c = ctx.clone();
    engine.register_fn("ec2_named", move |nc: NativeCallContext, t: &str, name: &str| {
        site(&c, &nc);
        named(&c, t, name, &Map::new()).map_err(|e| at(e, &nc))
    });
    let c = ctx.clone();
    engine.register_fn("ec2_named", move |nc: NativeCallContext, t: &str, name: &str, filters: Map| {
        site(&c, &nc);
        named(&c, t, name, &filters).map_err(|e| at(e, &nc))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_build_tag_specifications_and_name_wrong_types() {
        let mut m = Map::new();
        m.insert("Name".into(), "web".into());
        m.insert("tier".into(), Dynamic::from_int(2));
        let spec = tags("vpc", &m.into()).unwrap();
        assert_eq!(
            crate::json::to_value(&spec.into()),
            serde_json::json!([{ "ResourceType": "vpc", "Tags": [{ "Key": "Name", "Value": "web" }, { "Key": "tier", "Value": "2" }] }])
        );
        let short = tags("subnet", &Dynamic::from("a")).unwrap();
        assert_eq!(
            crate::json::to_value(&short.into()),
            serde_json::json!([{ "ResourceType": "subnet", "Tags": [{ "Key": "Name", "Value": "a" }] }])
        );
        let typo = tags("secuirty-group", &Dynamic::from("a")).unwrap_err().to_string();
        assert!(
            typo.contains("\"secuirty-group\" is not an EC2 resource type (did you mean \"security-group\"?)"),
            "{typo}"
        );
        let mut bad = Map::new();
        bad.insert("Name".into(), Dynamic::from_array(vec![]));
        assert!(tags("vpc", &bad.into()).unwrap_err().to_string().contains("tag Name: expected a string, got array"));
    }

    #[test]
    fn every_kind_has_its_describe_operation_and_filters_member_in_the_model() {
        let table = Svc::Ec2.table().unwrap();
        for (resource_type, operation, list, _) in KINDS {
            let op = table.operations.get(*operation).unwrap_or_else(|| panic!("{operation}"));
            let output = table.shape(op.output.as_deref().unwrap()).unwrap();
            assert!(output.member_shape(list).is_some(), "{operation} answers {list}");
            let allowed = table.shape("ResourceType").unwrap();
            assert!(allowed.values.iter().any(|v| v == resource_type), "{resource_type} is a ResourceType");
        }
        assert_eq!(filters_member("DescribeNatGateways"), "Filter");
        assert_eq!(filters_member("DescribeVpcs"), "Filters");
    }

    #[test]
    fn gone_resources_are_passed_over() {
        let with = |k: &str, v: Dynamic| {
            let mut m = Map::new();
            m.insert(k.into(), v);
            Dynamic::from_map(m)
        };
        let state_name = |s: &str| {
            let mut m = Map::new();
            m.insert("Name".into(), s.into());
            Dynamic::from_map(m)
        };
        assert!(gone(&with("State", "deleted".into())));
        assert!(!gone(&with("State", "available".into())));
        assert!(gone(&with("State", state_name("terminated"))));
        assert!(!gone(&with("State", state_name("running"))));
        assert!(!gone(&with("VpcId", "vpc-1".into())));
    }
}
