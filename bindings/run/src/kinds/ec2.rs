//! EC2's kinds of write: security groups and their rules, the network (VPCs, subnets, gateways,
//! route tables, routes), instances, key pairs, addresses, launch templates, interfaces, tags.

use super::{
    absent, at, each, first, found, item, many, one, s, step, Again::*, Created, Fact, Found, Kind, Look, Read,
};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Ec2;

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Ec2, "CreateSecurityGroup", Duplicates)
        .duplicate(&["InvalidGroup.Duplicate"])
        .find(security_group)
        .present(|r, _, id| item(r, Ec2, "DescribeSecurityGroups", json!({ "GroupIds": [id] }), "/SecurityGroups/0"))
        .remove(|_, o| {
            // The network interfaces of a deleted load balancer take minutes to go on AWS.
            one("security group", at(o, "GroupId"), |id| {
                vec![step(Ec2, "DeleteSecurityGroup", json!({ "GroupId": id })).retry(&["DependencyViolation"])]
            })
        }),
    Kind::new(Ec2, "AuthorizeSecurityGroupIngress", Duplicates)
        .duplicate(&["InvalidPermission.Duplicate"])
        .find(ingress)
        .read_back(|_, r, i| rules_now(r, i, "IpPermissions", "ingress rules of"))
        .remove(|i, o| revoke(i, o, "RevokeSecurityGroupIngress", "ingress rules of")),
    Kind::new(Ec2, "AuthorizeSecurityGroupEgress", Duplicates)
        .duplicate(&["InvalidPermission.Duplicate"])
        .find(egress)
        .read_back(|_, r, i| rules_now(r, i, "IpPermissionsEgress", "egress rules of"))
        .remove(|i, o| revoke(i, o, "RevokeSecurityGroupEgress", "egress rules of")),
    Kind::new(Ec2, "CreateVpc", Adds)
        .find(vpc)
        .present(|r, _, id| item(r, Ec2, "DescribeVpcs", json!({ "VpcIds": [id] }), "/Vpcs/0"))
        .remove(|_, o| {
        one("vpc", at(o, "Vpc.VpcId"), |id| {
            vec![step(Ec2, "DeleteVpc", json!({ "VpcId": id })).retry(&["DependencyViolation"])]
        })
    }),
    Kind::new(Ec2, "CreateSubnet", Adds)
        .find(subnet)
        .present(|r, _, id| item(r, Ec2, "DescribeSubnets", json!({ "SubnetIds": [id] }), "/Subnets/0"))
        .remove(|_, o| {
        one("subnet", at(o, "Subnet.SubnetId"), |id| {
            vec![step(Ec2, "DeleteSubnet", json!({ "SubnetId": id })).retry(&["DependencyViolation"])]
        })
    }),
    Kind::new(Ec2, "CreateInternetGateway", Adds)
        .find(internet_gateway)
        .present(|r, _, id| {
            item(r, Ec2, "DescribeInternetGateways", json!({ "InternetGatewayIds": [id] }), "/InternetGateways/0")
        })
        .remove(|_, o| {
        one("internet gateway", at(o, "InternetGateway.InternetGatewayId"), |id| {
            vec![step(Ec2, "DeleteInternetGateway", json!({ "InternetGatewayId": id }))]
        })
    }),
    Kind::new(Ec2, "AttachInternetGateway", Duplicates)
        .present(|r, i, id| {
            let gateway = item(r, Ec2, "DescribeInternetGateways", json!({ "InternetGatewayIds": [id] }), "/InternetGateways/0")?;
            let attached = gateway.as_ref().and_then(|g| {
                g["Attachments"].as_array()?.iter().find(|a| a["VpcId"] == i["VpcId"] && a["State"] != "detached")
            });
            Ok(attached.map(|a| json!({ "VpcId": a["VpcId"] })))
        })
        .remove(|i, _| {
        one("attachment of", at(i, "InternetGatewayId"), |id| {
            vec![step(Ec2, "DetachInternetGateway", json!({ "InternetGatewayId": id, "VpcId": s(i, "VpcId") }))]
        })
    }),
    Kind::new(Ec2, "CreateRouteTable", Adds)
        .find(route_table)
        .present(|r, _, id| item(r, Ec2, "DescribeRouteTables", json!({ "RouteTableIds": [id] }), "/RouteTables/0"))
        .remove(|_, o| {
        one("route table", at(o, "RouteTable.RouteTableId"), |id| {
            vec![step(Ec2, "DeleteRouteTable", json!({ "RouteTableId": id }))]
        })
    }),
    Kind::new(Ec2, "AssociateRouteTable", Adds)
        .present(|r, _, id| {
            let filter = json!({ "Filters": [{ "Name": "association.route-table-association-id", "Values": [id] }] });
            let table = item(r, Ec2, "DescribeRouteTables", filter, "/RouteTables/0")?;
            let association = table.as_ref().and_then(|t| {
                t["Associations"].as_array()?.iter().find(|a| a["RouteTableAssociationId"] == id).cloned()
            });
            Ok(association.map(|a| json!({ "RouteTableId": a["RouteTableId"], "SubnetId": a["SubnetId"], "GatewayId": a["GatewayId"] })))
        })
        .remove(|_, o| {
        one("route table association", at(o, "AssociationId"), |id| {
            vec![step(Ec2, "DisassociateRouteTable", json!({ "AssociationId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateRoute", Duplicates)
        .present(|r, i, id| {
            let table = item(r, Ec2, "DescribeRouteTables", json!({ "RouteTableIds": [id] }), "/RouteTables/0")?;
            let same = |route: &Value| {
                ["DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId"]
                    .iter()
                    .any(|k| !i[*k].is_null() && route[*k] == i[*k])
            };
            Ok(table.and_then(|t| t["Routes"].as_array()?.iter().find(|route| same(route)).cloned()))
        })
        .remove(|i, _| {
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
    Kind::new(Ec2, "RunInstances", Adds)
        .present(|r, _, id| {
            let instance = item(r, Ec2, "DescribeInstances", json!({ "InstanceIds": [id] }), "/Reservations/0/Instances/0")?;
            Ok(instance.filter(|x| !matches!(x["State"]["Name"].as_str(), Some("terminated" | "shutting-down"))))
        })
        .remove(|_, o| {
        many("instance", each(o, "Instances", "InstanceId"), |id| {
            vec![step(Ec2, "TerminateInstances", json!({ "InstanceIds": [id] }))
                .wait("InstanceTerminated", json!({ "InstanceIds": [id] }))]
        })
    }),
    Kind::new(Ec2, "CreateKeyPair", Duplicates)
        .present(|r, _, id| item(r, Ec2, "DescribeKeyPairs", json!({ "KeyPairIds": [id] }), "/KeyPairs/0"))
        .remove(|_, o| {
        one("key pair", at(o, "KeyPairId"), |id| vec![step(Ec2, "DeleteKeyPair", json!({ "KeyPairId": id }))])
    }),
    Kind::new(Ec2, "AllocateAddress", Adds)
        .present(|r, _, id| item(r, Ec2, "DescribeAddresses", json!({ "AllocationIds": [id] }), "/Addresses/0"))
        .remove(|_, o| {
        one("elastic IP", at(o, "AllocationId"), |id| vec![step(Ec2, "ReleaseAddress", json!({ "AllocationId": id }))])
    }),
    Kind::new(Ec2, "CreateNatGateway", Adds)
        .present(|r, _, id| {
            let gateway = item(r, Ec2, "DescribeNatGateways", json!({ "NatGatewayIds": [id] }), "/NatGateways/0")?;
            Ok(gateway.filter(|g| !matches!(g["State"].as_str(), Some("deleted" | "deleting" | "failed"))))
        })
        .remove(|_, o| {
        one("NAT gateway", at(o, "NatGateway.NatGatewayId"), |id| {
            vec![step(Ec2, "DeleteNatGateway", json!({ "NatGatewayId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateLaunchTemplate", Duplicates)
        .present(|r, _, id| {
            item(r, Ec2, "DescribeLaunchTemplates", json!({ "LaunchTemplateIds": [id] }), "/LaunchTemplates/0")
        })
        .remove(|_, o| {
        one("launch template", at(o, "LaunchTemplate.LaunchTemplateId"), |id| {
            vec![step(Ec2, "DeleteLaunchTemplate", json!({ "LaunchTemplateId": id }))]
        })
    }),
    Kind::new(Ec2, "CreateNetworkInterface", Adds)
        .present(|r, _, id| {
            let request = json!({ "NetworkInterfaceIds": [id] });
            item(r, Ec2, "DescribeNetworkInterfaces", request, "/NetworkInterfaces/0")
        })
        .remove(|_, o| {
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

/// The rules an authorize call gave its group, each as `tcp 80-80 from 0.0.0.0/0`, beside the
/// rules the group has now (`list`: its ingress or egress rules).
fn rules_now(read: Read, i: &Value, list: &str, what: &str) -> Result<Vec<Fact>, CallError> {
    let (request, id) = match (i.get("GroupId"), i.get("GroupName")) {
        (Some(id), _) => (json!({ "GroupIds": [id] }), id),
        (None, Some(name)) => (json!({ "GroupNames": [name] }), name),
        (None, None) => return Ok(vec![]),
    };
    let id = id.as_str().unwrap_or("?").to_string();
    // The CLI's `--protocol --port --cidr` form, as one permission.
    let mut wanted = i["IpPermissions"].as_array().cloned().unwrap_or_default();
    if let Some(cidr) = i.get("CidrIp") {
        wanted.push(json!({ "IpProtocol": i["IpProtocol"], "FromPort": i["FromPort"], "ToPort": i["ToPort"],
                            "IpRanges": [{ "CidrIp": cidr }] }));
    }
    let group = item(read, Svc::Ec2, "DescribeSecurityGroups", request, "/SecurityGroups/0")?;
    let rules = |perms: &[Value]| -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for p in perms {
            let protocol = p["IpProtocol"].as_str().map(str::to_ascii_lowercase).unwrap_or_default();
            let ports = match protocol.as_str() {
                "-1" | "all" => "all ports".to_string(),
                _ => format!("{}-{}", p["FromPort"], p["ToPort"]),
            };
            for (ranges, key) in [
                ("IpRanges", "CidrIp"),
                ("Ipv6Ranges", "CidrIpv6"),
                ("UserIdGroupPairs", "GroupId"),
                ("PrefixListIds", "PrefixListId"),
            ] {
                for r in p[ranges].as_array().into_iter().flatten() {
                    if let Some(from) = r[key].as_str() {
                        out.insert(format!("{protocol} {ports} from {from}"), json!("allowed"));
                    }
                }
            }
        }
        out
    };
    let wrote = rules(&wanted);
    // Every rule the group has now: the call's own among them, and others (which are not the
    // call's; `drift` reports them on a group its run made).
    let now = group.map(|g| Value::Object(rules(g[list].as_array().map(Vec::as_slice).unwrap_or_default())));
    Ok(vec![Fact { what: what.into(), id, wrote: Some(Value::Object(wrote)), now }])
}
