//! IAM's kinds of write: roles (service-linked too), their policies, users, instance profiles,
//! managed policies, server certificates.

use super::{absent, at, found, item, one, read_now, s, step, text, Again::*, Found, Kind, Look, Read};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Iam;

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Iam, "CreateServiceLinkedRole", Duplicates)
        .duplicate(&["EntityAlreadyExists", "InvalidInput"])
        .find(service_linked_role)
        .present(|r, _, name| item(r, Iam, "GetRole", json!({ "RoleName": name }), "/Role"))
        .remove(|_, o| {
            one("service-linked role", at(o, "Role.RoleName"), |name| {
                vec![step(Iam, "DeleteServiceLinkedRole", json!({ "RoleName": name }))]
            })
        }),
    Kind::new(Iam, "CreateRole", Duplicates)
        .duplicate(&["EntityAlreadyExists"])
        .find(role)
        .present(|r, i, name| {
            let role = item(r, Iam, "GetRole", json!({ "RoleName": name }), "/Role")?;
            Ok(role.map(|mut role| {
                role["AssumeRolePolicyDocument"] =
                    same_document(&i["AssumeRolePolicyDocument"], &role["AssumeRolePolicyDocument"]);
                role
            }))
        })
        .remove(|_, o| {
            one("role", at(o, "Role.RoleName"), |name| {
                vec![step(Iam, "DeleteRole", json!({ "RoleName": name })).retry(&["DeleteConflict"])]
            })
        }),
    Kind::new(Iam, "CreateUser", Duplicates)
        .duplicate(&["EntityAlreadyExists"])
        .find(user)
        .present(|r, _, name| item(r, Iam, "GetUser", json!({ "UserName": name }), "/User"))
        .remove(|_, o| {
            one("user", at(o, "User.UserName"), |name| {
                vec![step(Iam, "DeleteUser", json!({ "UserName": name })).retry(&["DeleteConflict"])]
            })
        }),
    Kind::new(Iam, "CreateInstanceProfile", Duplicates)
        .duplicate(&["EntityAlreadyExists"])
        .find(instance_profile)
        .present(|r, _, name| {
            item(r, Iam, "GetInstanceProfile", json!({ "InstanceProfileName": name }), "/InstanceProfile")
        })
        .remove(|_, o| {
            one("instance profile", at(o, "InstanceProfile.InstanceProfileName"), |name| {
                vec![step(Iam, "DeleteInstanceProfile", json!({ "InstanceProfileName": name }))
                    .retry(&["DeleteConflict"])]
            })
        }),
    Kind::new(Iam, "CreatePolicy", Duplicates)
        .duplicate(&["EntityAlreadyExists"])
        .find(policy)
        .present(|r, _, arn| item(r, Iam, "GetPolicy", json!({ "PolicyArn": arn }), "/Policy"))
        .remove(|_, o| {
            one("policy", at(o, "Policy.Arn"), |arn| {
                vec![step(Iam, "DeletePolicy", json!({ "PolicyArn": arn })).retry(&["DeleteConflict"])]
            })
        }),
    Kind::new(Iam, "UploadServerCertificate", Duplicates)
        .duplicate(&["EntityAlreadyExists"])
        .find(server_certificate)
        .present(|r, _, name| {
            let request = json!({ "ServerCertificateName": name });
            item(r, Iam, "GetServerCertificate", request, "/ServerCertificate/ServerCertificateMetadata")
        })
        .remove(|_, o| {
            one("server certificate", at(o, "ServerCertificateMetadata.ServerCertificateName"), |name| {
                vec![step(Iam, "DeleteServerCertificate", json!({ "ServerCertificateName": name }))
                    .retry(&["DeleteConflict"])]
            })
        }),
    Kind::new(Iam, "PutRolePolicy", Converges)
        .find(role_policy)
        .present(|r, i, name| {
            let request = json!({ "RoleName": name, "PolicyName": s(i, "PolicyName") });
            let policy = read_now(r, Iam, "GetRolePolicy", request)?;
            Ok(policy.map(|p| json!({ "PolicyDocument": same_document(&i["PolicyDocument"], &p["PolicyDocument"]) })))
        })
        .remove(|i, _| {
            one("inline policy of", at(i, "RoleName"), |name| {
                vec![step(Iam, "DeleteRolePolicy", json!({ "RoleName": name, "PolicyName": s(i, "PolicyName") }))]
            })
        }),
    Kind::new(Iam, "AttachRolePolicy", Converges)
        .find(attached_policy)
        .present(|r, i, name| {
            let attached = read_now(r, Iam, "ListAttachedRolePolicies", json!({ "RoleName": name }))?;
            Ok(attached.and_then(|o| {
                let p = o["AttachedPolicies"].as_array()?.iter().find(|p| p["PolicyArn"] == i["PolicyArn"])?;
                Some(json!({ "PolicyArn": p["PolicyArn"] }))
            }))
        })
        .remove(|i, _| {
            one("policy attachment of", at(i, "RoleName"), |name| {
                vec![step(Iam, "DetachRolePolicy", json!({ "RoleName": name, "PolicyArn": s(i, "PolicyArn") }))]
            })
        }),
    Kind::new(Iam, "AddRoleToInstanceProfile", Duplicates)
        .present(|r, i, name| {
            let request = json!({ "InstanceProfileName": name });
            let profile = item(r, Iam, "GetInstanceProfile", request, "/InstanceProfile")?;
            Ok(profile.and_then(|p| {
                let role = p["Roles"].as_array()?.iter().find(|x| x["RoleName"] == i["RoleName"])?;
                Some(json!({ "RoleName": role["RoleName"] }))
            }))
        })
        .remove(|i, _| {
            one("role in instance profile", at(i, "InstanceProfileName"), |name| {
                vec![step(
                    Iam,
                    "RemoveRoleFromInstanceProfile",
                    json!({ "InstanceProfileName": name, "RoleName": s(i, "RoleName") }),
                )]
            })
        }),
];

/// A policy document as IAM answers it (URL-encoded JSON) beside the one the write gave: the
/// write's own text when both are the same JSON, else IAM's, decoded.
fn same_document(written: &Value, now: &Value) -> Value {
    let parse = |v: &Value| -> Option<Value> {
        let text = v.as_str()?;
        serde_json::from_str(text).ok().or_else(|| serde_json::from_str(&percent_decoded(text)).ok())
    };
    match (parse(written), parse(now)) {
        (Some(w), Some(n)) if w == n => written.clone(),
        // Text beside text: the document as IAM has it, decoded.
        (_, Some(n)) => Value::String(n.to_string()),
        _ => now.clone(),
    }
}

/// `%7B%22a%22` as `{"a"`.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
