//! The aws CLI's own arguments for these services, where they change what a command sends:
//!
//! - `ec2 authorize-security-group-ingress` (and `-egress`, and the `revoke-` pair): `--protocol`,
//!   `--port` (`80`, `1-65535`, `-1`), `--cidr`, `--source-group` (an id `sg-…` or a name) and
//!   `--group-owner` make the one entry of `IpPermissions` they describe; `all` is protocol `-1`.
//! - `ec2 run-instances`: `--count N` or `MIN:MAX` (default 1) for `MinCount`/`MaxCount`;
//!   `--user-data` is sent base64-encoded; `--associate-public-ip-address`,
//!   `--secondary-private-ip-addresses` and `--secondary-private-ip-address-count` describe the
//!   first network interface, which then carries the subnet and security groups.

use super::error::CliError;
use crate::svc::Svc;
use rhai::{Array, Dynamic, Map};

#[derive(Debug, PartialEq)]
pub enum ExtraKind {
    /// One word.
    Scalar,
    /// One or more words.
    List,
    /// No word: true for `--x`, false for `--no-x`.
    Flag(bool),
}

#[derive(Debug)]
pub struct Extra {
    pub name: &'static str,
    pub kind: ExtraKind,
}

const SECURITY_GROUP_RULE: &[Extra] = &[
    Extra { name: "protocol", kind: ExtraKind::Scalar },
    Extra { name: "port", kind: ExtraKind::Scalar },
    Extra { name: "cidr", kind: ExtraKind::Scalar },
    Extra { name: "source-group", kind: ExtraKind::Scalar },
    Extra { name: "group-owner", kind: ExtraKind::Scalar },
];

const RUN_INSTANCES: &[Extra] = &[
    Extra { name: "count", kind: ExtraKind::Scalar },
    Extra { name: "secondary-private-ip-addresses", kind: ExtraKind::List },
    Extra { name: "secondary-private-ip-address-count", kind: ExtraKind::Scalar },
    Extra { name: "associate-public-ip-address", kind: ExtraKind::Flag(true) },
    Extra { name: "no-associate-public-ip-address", kind: ExtraKind::Flag(false) },
];

fn is_rule_operation(svc: Svc, op: &str) -> bool {
    svc == Svc::Ec2
        && matches!(
            op,
            "AuthorizeSecurityGroupIngress"
                | "AuthorizeSecurityGroupEgress"
                | "RevokeSecurityGroupIngress"
                | "RevokeSecurityGroupEgress"
        )
}

/// The CLI's own arguments of an operation.
pub fn extras(svc: Svc, op: &str) -> &'static [Extra] {
    match (svc, op) {
        _ if is_rule_operation(svc, op) => SECURITY_GROUP_RULE,
        (Svc::Ec2, "RunInstances") => RUN_INSTANCES,
        _ => &[],
    }
}

/// Members the CLI does not offer as arguments of their own (its arguments stand for them).
pub fn hidden(svc: Svc, op: &str) -> &'static [&'static str] {
    match (svc, op) {
        (Svc::Ec2, "RunInstances") => &["MinCount", "MaxCount"],
        _ => &[],
    }
}

/// A member's value as the CLI sends it, where it changes it on the way.
pub fn member(svc: Svc, op: &str, member: &str, value: Dynamic) -> Dynamic {
    use base64::Engine as _;
    match (svc, op, member) {
        (Svc::Ec2, "RunInstances", "UserData") => {
            let bytes = match value.clone().into_blob() {
                Ok(b) => b,
                Err(_) => value.to_string().into_bytes(),
            };
            base64::engine::general_purpose::STANDARD.encode(bytes).into()
        }
        _ => value,
    }
}

/// Folds the CLI's own arguments into the input.
pub fn apply(svc: Svc, op: &str, input: &mut Map, given: &[(&'static Extra, Vec<String>)]) -> Result<(), CliError> {
    let word = |name: &str| -> Result<Option<String>, CliError> {
        match given.iter().rev().find(|(e, _)| e.name == name) {
            None => Ok(None),
            Some((_, v)) if v.len() == 1 => Ok(v.first().cloned()),
            Some((_, v)) if v.is_empty() => Err(CliError::usage(format!("argument --{name}: expected one argument"))),
            Some((_, v)) => Err(CliError::value(format!("Unknown options: {}", v[1..].join(", ")))),
        }
    };
    if is_rule_operation(svc, op) {
        return security_group_rule(input, given, &word);
    }
    if (svc, op) == (Svc::Ec2, "RunInstances") {
        return run_instances(input, given, &word);
    }
    Ok(())
}

type Word<'a> = dyn Fn(&str) -> Result<Option<String>, CliError> + 'a;

fn security_group_rule(input: &mut Map, given: &[(&'static Extra, Vec<String>)], word: &Word) -> Result<(), CliError> {
    let Some((first, _)) = SECURITY_GROUP_RULE.iter().find_map(|e| given.iter().find(|(g, _)| g.name == e.name)) else {
        return Ok(());
    };
    if input.contains_key("IpPermissions") {
        return Err(CliError::value(format!(
            "The --{} option is not compatible with the --ip-permissions option",
            first.name
        )));
    }
    let mut rule = Map::new();
    if let Some(protocol) = word("protocol")? {
        let protocol = if protocol == "all" { "-1".to_string() } else { protocol };
        rule.insert("IpProtocol".into(), protocol.into());
    }
    if let Some(port) = word("port")? {
        let (from, to) = ports(&port).ok_or_else(|| {
            CliError::value(format!(
                "port parameter should be of the form <from[-to]> (e.g. 22 or 22-25), not '{port}'"
            ))
        })?;
        rule.insert("FromPort".into(), Dynamic::from_int(from));
        rule.insert("ToPort".into(), Dynamic::from_int(to));
    }
    if let Some(cidr) = word("cidr")? {
        let mut range = Map::new();
        range.insert("CidrIp".into(), cidr.into());
        rule.insert("IpRanges".into(), Dynamic::from_array(vec![range.into()]));
    }
    let source = word("source-group")?;
    let owner = word("group-owner")?;
    if source.is_some() || owner.is_some() {
        let mut pair = Map::new();
        if let Some(group) = source {
            let key = if group.starts_with("sg-") { "GroupId" } else { "GroupName" };
            pair.insert(key.into(), group.into());
        }
        if let Some(owner) = owner {
            pair.insert("UserId".into(), owner.into());
        }
        rule.insert("UserIdGroupPairs".into(), Dynamic::from_array(vec![pair.into()]));
    }
    input.insert("IpPermissions".into(), Dynamic::from_array(vec![rule.into()]));
    Ok(())
}

/// `80` → (80, 80); `1-65535` → (1, 65535); `-1` → (-1, -1).
fn ports(text: &str) -> Option<(i64, i64)> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some((n, n));
    }
    let (from, to) = text.split_once('-')?;
    Some((from.trim().parse().ok()?, to.trim().parse().ok()?))
}

fn run_instances(input: &mut Map, given: &[(&'static Extra, Vec<String>)], word: &Word) -> Result<(), CliError> {
    let (min, max) = match word("count")? {
        None => (1, 1),
        Some(count) => {
            let bad = || CliError::value(format!("--count must be an integer or MIN:MAX, not '{count}'"));
            match count.split_once(':') {
                Some((a, b)) => (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?),
                None => {
                    let n: i64 = count.trim().parse().map_err(|_| bad())?;
                    (n, n)
                }
            }
        }
    };
    input.entry("MinCount".into()).or_insert(Dynamic::from_int(min));
    input.entry("MaxCount".into()).or_insert(Dynamic::from_int(max));
    let public = given.iter().rev().find_map(|(e, _)| match e.kind {
        ExtraKind::Flag(on) => Some(on),
        _ => None,
    });
    let addresses =
        given.iter().rev().find(|(e, _)| e.name == "secondary-private-ip-addresses").map(|(_, v)| v.clone());
    let address_count = word("secondary-private-ip-address-count")?;
    if public.is_none() && addresses.is_none() && address_count.is_none() {
        return Ok(());
    }
    let mut interface = Map::new();
    interface.insert("DeviceIndex".into(), Dynamic::from_int(0));
    if let Some(on) = public {
        interface.insert("AssociatePublicIpAddress".into(), Dynamic::from_bool(on));
    }
    if let Some(addresses) = addresses {
        let list: Array = addresses
            .into_iter()
            .map(|a| {
                let mut m = Map::new();
                m.insert("PrivateIpAddress".into(), a.into());
                m.insert("Primary".into(), Dynamic::FALSE);
                m.into()
            })
            .collect();
        interface.insert("PrivateIpAddresses".into(), Dynamic::from_array(list));
    }
    if let Some(n) = address_count {
        let n: i64 = n.trim().parse().map_err(|_| {
            CliError::value(format!(
                "Error parsing parameter '--secondary-private-ip-address-count': expected an integer, got '{n}'"
            ))
        })?;
        interface.insert("SecondaryPrivateIpAddressCount".into(), Dynamic::from_int(n));
    }
    // The interface carries the instance's subnet and groups.
    if let Some(subnet) = input.remove("SubnetId") {
        interface.insert("SubnetId".into(), subnet);
    }
    if let Some(groups) = input.remove("SecurityGroupIds") {
        interface.insert("Groups".into(), groups);
    }
    if input.contains_key("NetworkInterfaces") {
        return Err(CliError::value(
            "--associate-public-ip-address and --secondary-private-ip-address(es/-count) describe the first network \
             interface; they cannot be given with --network-interfaces",
        ));
    }
    input.insert("NetworkInterfaces".into(), Dynamic::from_array(vec![interface.into()]));
    Ok(())
}
