//! EC2's kinds of write: security groups and their rules, the network (VPCs, subnets, gateways,
//! route tables, routes), instances, key pairs, addresses, launch templates, interfaces, tags.

use super::{absent, at, each, first, found, many, one, s, step, Again::*, Created, Found, Kind, Look, Read};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Ec2;

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Ec2, "CreateSecurityGroup", Duplicates)
        .duplicate(&["InvalidGroup.Duplicate"])
        .find(security_group)
        .remove(|_, o| {
            // The network interfaces of a deleted load balancer take minutes to go on AWS.
            one("security group", at(o, "GroupId"), |id| {
                vec![step(Ec2, "DeleteSecurityGroup", json!({ "GroupId": id })).retry(&["DependencyViolation"])]
            })
        }),
    Kind::new(Ec2, "AuthorizeSecurityGroupIngress", Duplicates)
        .duplicate(&["InvalidPermission.Duplicate"])
        .find(ingress)
        .remove(|i, o| revoke(i, o, "RevokeSecurityGroupIngress", "ingress rules of")),
    Kind::new(Ec2, "AuthorizeSecurityGroupEgress", Duplicates)
        .duplicate(&["InvalidPermission.Duplicate"])
        .find(egress)
        .remove(|i, o| revoke(i, o, "RevokeSecurityGroupEgress", "egress rules of")),
    Kind::new(Ec2, "CreateVpc", Adds).find(vpc).remove(|_, o| {
        one("vpc", at(o, "Vpc.VpcId"), |id| {
            vec![step(Ec2, "DeleteVpc", json!({ "VpcId": id })).retry(&["DependencyViolation"])]
        })
    }),
    Kind::new(Ec2, "CreateSubnet", Adds).find(subnet).remove(|_, o| {
        one("subnet", at(o, "Subnet.SubnetId"), |id| {
            vec![step(Ec2, "DeleteSubnet", json!({ "SubnetId": id })).retry(&["DependencyViolation"])]
        })
    }),
    Kind::new(Ec2, "CreateInternetGateway", Adds).find(internet_gateway).remove(|_, o| {
        one("internet gateway", at(o, "InternetGateway.InternetGatewayId"), |id| {
            vec![step(Ec2, "DeleteInternetGateway", json!({ "InternetGatewayId": id }))]
        })
    }),
    Kind::new(Ec2, "AttachInternetGateway", Duplicates).remove(|i, _| {
        one("attachment of", at(i, "InternetGatewayId"), |id| {
            vec![step(Ec2, "DetachInternetGateway", json!({ "InternetGatewayId": id, "VpcId": s(i, "VpcId") }))]
        })
    }),
    Kind::new(Ec2, "CreateRouteTable", Adds).find(route_table).remove(|_, o| {
        one("route table", at(o, "RouteTable.RouteTableId"), |id| {
            vec![step(Ec2, "DeleteRouteTable", json!({ "RouteTableId": id }))]
        })
    }),
    Kind::new(Ec2, "AssociateRouteTable", Adds).remove(|_, o| {
        one("route table association", at(o, "AssociationId"), |id| {
            vec![step(Ec2, "DisassociateRouteTable", json!({ "AssociationId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateRoute", Duplicates).remove(|i, _| {
        one("route in", at(i, "RouteTableId"), |id| {
            let mut input = json!({ "RouteTableId": id });
            for k in ["DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"] {
                if let Some(v) = i.get(k) {
                    input[k] = v.clone();
                }
            }
            vec![step(Ec2, "DeleteRoute", input)]
        })
    }),
    Kind::new(Ec2, "CreateTags", Converges)
        .find(super::tagging::ec2_tags)
        .remove(|i, _| {
            one("tags on", Some(s(i, "Resources").to_string()), |_| {
                vec![step(Ec2, "DeleteTags", json!({ "Resources": s(i, "Resources"), "Tags": s(i, "Tags") }))]
            })
        })
        .tagging(super::Tagging {
            set: "CreateTags",
            unset: "DeleteTags",
            resources: "Resources",
            tags: "Tags",
            key: "Key",
            value: "Value",
            unset_keys: "Tags",
            read: "DescribeTags",
            list: "/Tags",
        }),
    Kind::new(Ec2, "RunInstances", Adds).remove(|_, o| {
        many("instance", each(o, "Instances", "InstanceId"), |id| {
            vec![step(Ec2, "TerminateInstances", json!({ "InstanceIds": [id] }))
                .wait("InstanceTerminated", json!({ "InstanceIds": [id] }))]
        })
    }),
    Kind::new(Ec2, "CreateKeyPair", Duplicates).remove(|_, o| {
        one("key pair", at(o, "KeyPairId"), |id| vec![step(Ec2, "DeleteKeyPair", json!({ "KeyPairId": id }))])
    }),
    Kind::new(Ec2, "AllocateAddress", Adds).remove(|_, o| {
        one("elastic IP", at(o, "AllocationId"), |id| vec![step(Ec2, "ReleaseAddress", json!({ "AllocationId": id }))])
    }),
    Kind::new(Ec2, "CreateNatGateway", Adds).remove(|_, o| {
        one("NAT gateway", at(o, "NatGateway.NatGatewayId"), |id| {
            vec![step(Ec2, "DeleteNatGateway", json!({ "NatGatewayId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateLaunchTemplate", Duplicates).remove(|_, o| {
        one("launch template", at(o, "LaunchTemplate.LaunchTemplateId"), |id| {
            vec![step(Ec2, "DeleteLaunchTemplate", json!({ "LaunchTemplateId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateNetworkInterface", Adds).remove(|_, o| {
        one("network interface", at(o, "NetworkInterface.NetworkInterfaceId"), |id| {
            vec![step(Ec2, "DeleteNetworkInterface", json!({ "NetworkInterfaceId": id }))]
        })
    }),
];

/// The undo of an authorize: its rules revoked, by the ids its answer gave them or as given.
fn revoke(i: &Value, o: &Value, revoke: &str, kind: &str) -> Vec<Created> {
    let group = at(i, "GroupId").or_else(|| at(i, "GroupName"));
    let key = if i.get("GroupId").is_some() { "GroupId" } else { "GroupName" };
    let rules: Vec<String> = each(o, "SecurityGroupRules", "SecurityGroupRuleId");
    one(kind, group, |g| {
        let input = if rules.is_empty() {
            json!({ key: g, "IpPermissions": s(i, "IpPermissions") })
        } else {
            json!({ key: g, "SecurityGroupRuleIds": rules })
        };
        vec![step(Ec2, revoke, input)]
    })
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
        .find(|t| t["Key"] == super::RUN_TAG)
        .and_then(|t| t["Value"].as_str());
    let Some(run) = run else { return Ok(None) };
    let filter = json!({ "Filters": [{ "Name": format!("tag:{}", super::RUN_TAG), "Values": [run] }] });
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
