//! The catalogue of write kinds: one entry per kind of write runbook knows, with everything the
//! run layer knows of it in one place: how it behaves when sent again and which errors mean it was
//! done already, how to look up what it makes or sets (before it is sent, and after an answer was
//! lost), what it created and the calls that remove it or put back what it replaced, which
//! not-found answers mean that what it made is not known yet, the ARN of what it makes (for a
//! narrowed policy), and, for tagging writes, their members and how to read the tags back.
//! `reconcile`, `undo`, `since`, `propagation` and `needs` read it; a new kind of write is one entry
//! in its service's file here. A write without an entry is still journaled; undo then says why it
//! cannot undo it, and the test below keeps the list of such writes by name.
//!
//! The lowest part of the run layer: it imports nothing else of it.

mod acm;
mod autoscaling;
mod ec2;
mod ecs;
mod elbv2;
pub mod fact;
mod iam;
pub mod route53;
mod tagging;

pub use fact::{holds, Difference, Fact, Standing};
pub use tagging::Tagging;

use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Verbs of writes that make, add or attach something: without an entry, undo says it does not
/// know how to remove what they made.
pub const MAKES: [&str; 13] = [
    "Create",
    "Run",
    "Allocate",
    "Register",
    "Request",
    "Import",
    "Upload",
    "Copy",
    "Attach",
    "Associate",
    "Authorize",
    "Add",
    "Tag",
];

/// Whether a write's verb is one of [`MAKES`].
pub fn makes(op: &str) -> bool {
    MAKES.iter().any(|v| op.starts_with(v))
}

/// Verbs of writes that take away what they name or a link to it: sent again after a lost answer,
/// a "not found" means the lost attempt did it; undo cannot put back what they took.
pub const REMOVES: [&str; 10] =
    ["Delete", "Deregister", "Terminate", "Revoke", "Remove", "Detach", "Stop", "Release", "Disassociate", "Untag"];

/// Whether a write's verb is one of [`REMOVES`].
pub fn removes(op: &str) -> bool {
    REMOVES.iter().any(|v| op.starts_with(v))
}

/// The run's tag on what it creates (see `tags`), by which look-ups find EC2 resources that have
/// no name.
pub const RUN_TAG: &str = "runbook:run-id";

/// A value that stands for the result of a call that was not made: a plan's placeholder.
pub fn is_placeholder(s: &str) -> bool {
    s.starts_with('<') && s.contains('#')
}

/// Where a write goes, for the ARN of what it makes.
#[derive(Debug, Clone, Default)]
pub struct Where {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Where {
    /// `arn:<partition>:<service>:<region>:<account>:<rest>`.
    pub fn arn(&self, service: &str, rest: String) -> String {
        format!("arn:{}:{service}:{}:{}:{rest}", self.partition, self.region, self.account)
    }
}

/// A look-up: the write's input, and when it is made.
pub type Find = fn(Read, &Value, Look) -> Result<Option<Found>, CallError>;

/// What a write created and the calls that remove it, from its input and its answer.
pub type Remove = fn(&Value, &Value) -> Vec<Created>;

/// The undo of a write that replaces what its look-up found before it (settings, records, tags),
/// from its input and what was found: the values put back. `None` leaves the write to `remove`.
pub type Restore = fn(&Kind, &Value, &Before) -> Option<Inverse>;

/// The ARN of what a write makes, where its input makes it certain.
pub type Arn = fn(&Value, &Where) -> Option<String>;

/// Reads back what a write with this input set, from its input alone (before it is sent, or long
/// after): each resource it set, with the members it set and what they are now.
pub type ReadBack = fn(&Kind, Read, &Value) -> Result<Vec<Fact>, CallError>;

/// Reads what a write made, by the id its outcome gave it: the thing as it is now, shaped as the
/// write's input names its members; `None` when it is not there (or is going: a cluster
/// `INACTIVE`, an instance terminated).
pub type Present = fn(Read, &Value, &str) -> Result<Option<Value>, CallError>;

/// One kind of write.
pub struct Kind {
    pub svc: Svc,
    pub op: &'static str,
    pub again: Again,
    /// Error codes that mean "what this write makes exists already".
    pub duplicate: &'static [&'static str],
    /// How to look up what it makes or sets; without one, a lost answer is sent again.
    pub find: Option<Find>,
    pub remove: Option<Remove>,
    pub restore: Option<Restore>,
    /// The not-found codes its service answers about what it made while that propagates.
    pub not_found: &'static [&'static str],
    pub arn: Option<Arn>,
    pub tagging: Option<Tagging>,
    pub read_back: Option<ReadBack>,
    pub present: Option<Present>,
    /// Why what it made cannot be read back, when it cannot (`drift` says so).
    pub unread: Option<&'static str>,
}

impl Kind {
    const fn new(svc: Svc, op: &'static str, again: Again) -> Kind {
        Kind {
            svc,
            op,
            again,
            duplicate: &[],
            find: None,
            remove: None,
            restore: None,
            not_found: &[],
            arn: None,
            tagging: None,
            read_back: None,
            present: None,
            unread: None,
        }
    }
    const fn duplicate(mut self, codes: &'static [&'static str]) -> Kind {
        self.duplicate = codes;
        self
    }
    const fn find(mut self, f: Find) -> Kind {
        self.find = Some(f);
        self
    }
    const fn remove(mut self, f: Remove) -> Kind {
        self.remove = Some(f);
        self
    }
    const fn restore(mut self, f: Restore) -> Kind {
        self.restore = Some(f);
        self
    }
    const fn not_found(mut self, codes: &'static [&'static str]) -> Kind {
        self.not_found = codes;
        self
    }
    const fn arn(mut self, f: Arn) -> Kind {
        self.arn = Some(f);
        self
    }
    /// A tagging write: undo puts back the values its keys had, and `since` reads them back.
    const fn tagging(mut self, t: Tagging) -> Kind {
        self.tagging = Some(t);
        self.read_back = Some(tagging::tags_changed);
        self.restore = Some(tagging::restore);
        self
    }
    const fn read_back(mut self, f: ReadBack) -> Kind {
        self.read_back = Some(f);
        self
    }

    const fn present(mut self, f: Present) -> Kind {
        self.present = Some(f);
        self
    }
    const fn unread(mut self, why: &'static str) -> Kind {
        self.unread = Some(why);
        self
    }

    /// What a write with this input set that is not so any more, read back now; `Ok(None)` when
    /// all of it holds, or the kind cannot read it back.
    pub fn changed(&self, reads: Read, input: &Value) -> Result<Option<String>, CallError> {
        match self.read_back {
            Some(f) => Ok(first_change(&f(self, reads, input)?)),
            None => Ok(None),
        }
    }

    /// Whether `drift` can read back what writes of this kind made or set.
    pub fn readable(&self) -> bool {
        self.read_back.is_some() || self.present.is_some()
    }

    /// Each resource a write of this kind made or set, as the write left it and as it is now:
    /// read back from its input, or read by the ids its outcome gives what it made (`created`:
    /// kind and id). Compared are the members of the input the read answers.
    pub fn facts(&self, reads: Read, input: &Value, created: &[(String, String)]) -> Result<Vec<Fact>, CallError> {
        if let Some(f) = self.read_back {
            return f(self, reads, input);
        }
        let Some(present) = self.present else { return Ok(vec![]) };
        let mut facts = Vec::new();
        for (what, id) in created {
            let now = present(reads, input, id)?;
            let wrote = match (&now, settings(input, &[])) {
                (Some(Value::Object(n)), Value::Object(i)) => {
                    Value::Object(i.into_iter().filter(|(k, _)| n.contains_key(k)).collect())
                }
                _ => json!({}),
            };
            facts.push(Fact { what: what.clone(), id: id.clone(), wrote: Some(wrote), now });
        }
        Ok(facts)
    }

    /// Looks for what the write with this input makes; `Ok(None)` without a look-up.
    pub fn look(&self, read: Read, input: &Value, look: Look) -> Result<Option<Found>, CallError> {
        match self.find {
            Some(f) => f(read, input, look),
            None => Ok(None),
        }
    }
}

/// What of these facts is not so any more, in one line: the first change; `None` when all holds.
pub fn first_change(facts: &[Fact]) -> Option<String> {
    // Of several things (records, resources tagged), which one.
    let named = |f: &Fact| match (facts.len(), f.text()) {
        (1, text) => text,
        (_, Some(t)) if !t.contains(&f.id) => Some(format!("{} {}: {t}", f.what, f.id)),
        (_, text) => text,
    };
    facts.iter().find_map(named)
}

/// Every kind, service by service.
pub fn all() -> impl Iterator<Item = &'static Kind> {
    [ec2::KINDS, elbv2::KINDS, ecs::KINDS, iam::KINDS, autoscaling::KINDS, acm::KINDS, route53::KINDS]
        .into_iter()
        .flatten()
}

/// The kind of the write `op` of `svc`, if the catalogue has it.
pub fn of(svc: Svc, op: &str) -> Option<&'static Kind> {
    all().find(|k| k.svc == svc && k.op == op)
}

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

/// What a look-up found: an id that tells one thing (or one state of it) from another, and the
/// output the write answers when it does it, as far as the look-up can rebuild it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: String,
    pub output: Value,
}

/// One look-up: the reads it makes go through `read`.
pub type Read<'a> = &'a dyn Fn(Svc, &str, Value) -> Result<Value, CallError>;

/// When a look-up is made.
#[derive(Debug, Clone, Copy)]
pub enum Look<'a> {
    /// Before the write is sent: only what identifies the thing is needed.
    Before,
    /// After it may have been done, with what the look-up found before it: the output the write
    /// answers is needed, and for writes that add a new thing each time, only what is new counts.
    After(Option<&'a Found>),
}

/// One resource a write created, with the calls that remove it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Created {
    pub kind: String,
    pub id: String,
    pub undo: Vec<Step>,
    /// The write changed something that existed, and `undo` puts back what it replaced, rather than
    /// removing a thing the write made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restores: bool,
}

/// One call of an undo, optionally retried while AWS answers one of `retry` (a dependency still
/// going away), then optionally followed by a waiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub service: String,
    pub operation: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_input: Option<Value>,
}

pub struct Inverse {
    pub created: Vec<Created>,
    /// Why this write cannot be undone, when it cannot.
    pub not_undoable: Option<String>,
    /// What a put replaced (it existed before the write).
    pub replaced: Option<String>,
}

pub(crate) fn step(service: Svc, operation: &str, input: Value) -> Step {
    Step {
        service: service.module().into(),
        operation: operation.into(),
        input,
        retry: vec![],
        wait: None,
        wait_input: None,
    }
}

impl Step {
    pub(crate) fn retry(mut self, codes: &[&str]) -> Step {
        self.retry = codes.iter().map(|c| c.to_string()).collect();
        self
    }
    pub(crate) fn wait(mut self, waiter: &str, input: Value) -> Step {
        self.wait = Some(waiter.into());
        self.wait_input = Some(input);
        self
    }
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
    pub fn look(kind: Option<&Kind>, read: Read, input: &Value) -> Before {
        let Some(find) = kind.and_then(|k| k.find) else { return Before::NotLooked };
        match find(read, input, Look::Before) {
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

/// A read that answers "not found" as an error: `Ok(None)` then.
pub fn absent(r: Result<Value, CallError>) -> Result<Option<Value>, CallError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn s(v: &Value, k: &str) -> Value {
    v.get(k).cloned().unwrap_or(Value::Null)
}

pub(crate) fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("?")
}

pub(crate) fn found(id: impl Into<String>, output: Value) -> Option<Found> {
    Some(Found { id: id.into(), output })
}

pub(crate) fn first(list: &Value) -> Option<&Value> {
    list.as_array().and_then(|a| a.first())
}

/// The item of `list` whose `key` is `value`: a read filtered by name may answer more than asked.
pub(crate) fn named<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array().and_then(|a| a.iter().find(|item| item[key].as_str() == Some(value)))
}

/// A member's text, when it is given and names something real (not a plan's placeholder).
pub(crate) fn member(input: &Value, k: &str) -> Option<String> {
    input[k].as_str().filter(|v| !v.is_empty() && !is_placeholder(v)).map(str::to_string)
}

/// A member's value as given, or its default when the input leaves it out; `None` when it stands
/// for something only planned.
pub(crate) fn given(input: &Value, member: &str, default: &str) -> Option<String> {
    match input.get(member) {
        None | Some(Value::Null) => Some(default.to_string()),
        Some(Value::String(v)) if !v.is_empty() && !is_placeholder(v) => Some(v.clone()),
        Some(_) => None,
    }
}

pub(crate) use ecs::ecs_name;

/// The text at a dotted path (`Vpc.VpcId`).
pub(crate) fn at(v: &Value, path: &str) -> Option<String> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    cur.as_str().map(str::to_string)
}

/// Every `field` of the items of list `list` (a dotted path to the list).
pub(crate) fn each(v: &Value, list: &str, field: &str) -> Vec<String> {
    let mut cur = v;
    for part in list.split('.') {
        match cur.get(part) {
            Some(x) => cur = x,
            None => return vec![],
        }
    }
    cur.as_array().map(|a| a.iter().filter_map(|i| at(i, field)).collect()).unwrap_or_default()
}

pub(crate) fn one(kind: &str, id: Option<String>, undo: impl FnOnce(&str) -> Vec<Step>) -> Vec<Created> {
    match id {
        Some(id) => {
            let steps = undo(&id);
            vec![Created { kind: kind.into(), id, undo: steps, restores: false }]
        }
        None => vec![],
    }
}

pub(crate) fn many(kind: &str, ids: Vec<String>, undo: impl Fn(&str) -> Vec<Step>) -> Vec<Created> {
    ids.into_iter().map(|id| Created { kind: kind.into(), undo: undo(&id), id, restores: false }).collect()
}

/// What a write sets, without the members that name what it sets (`identity`): the values a
/// read-back compares with what is there now.
pub(crate) fn settings(input: &Value, identity: &[&str]) -> Value {
    let mut written = input.clone();
    if let Some(m) = written.as_object_mut() {
        m.retain(|k, _| !identity.contains(&k.as_str()) && !NOT_SETTINGS.contains(&k.as_str()));
    }
    written
}

/// Members of a write that set nothing a read answers: tags given with a create (the tagging
/// kinds read tags back), and tokens that make a retry safe.
const NOT_SETTINGS: [&str; 6] = ["Tags", "tags", "TagSpecifications", "ClientToken", "clientToken", "DryRun"];

/// A read of what is there now through `read`; `None` when AWS answers that it is not.
pub(crate) fn read_now(read: Read, svc: Svc, op: &str, input: Value) -> Result<Option<Value>, CallError> {
    absent(read(svc, op, input))
}

/// The item at `pointer` (`/TargetGroups/0`) in what a read answers now; `None` when AWS answers
/// that it is not there, or the answer holds no such item.
pub(crate) fn item(read: Read, svc: Svc, op: &str, input: Value, pointer: &str) -> Result<Option<Value>, CallError> {
    Ok(read_now(read, svc, op, input)?.and_then(|o| o.pointer(pointer).cloned()).filter(|v| !v.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writes of this build that make or attach something and that the catalogue has no entry
    /// for. Each is journaled like any write; undo says it does not know how to remove what it
    /// made (`undo::without_kind`), and `runbook show` says the same. An entry here is a kind of
    /// write waiting for its catalogue entry; an operation new in a model fails the test below
    /// until it gets an entry or is listed here.
    const NOT_UNDONE: &[(Svc, &[&str])] = &[
        (
            Svc::Ec2,
            &[
                "AssociateAddress",
                "AssociateNatGatewayAddress",
                "AssociateRouteServer",
                "AssociateSecurityGroupVpc",
                "AssociateSubnetCidrBlock",
                "AssociateTransitGatewayMulticastDomain",
                "AssociateTransitGatewayPolicyTable",
                "AssociateTransitGatewayRouteTable",
                "AssociateVpcCidrBlock",
                "AttachClassicLinkVpc",
                "AttachImageWatermark",
                "AttachNetworkInterface",
                "AttachVpnGateway",
                "CopyFpgaImage",
                "CopyImage",
                "CreateCarrierGateway",
                "CreateClientVpnRoute",
                "CreateCustomerGateway",
                "CreateDefaultSubnet",
                "CreateDefaultVpc",
                "CreateEgressOnlyInternetGateway",
                "CreateFpgaImage",
                "CreateImage",
                "CreateImageUsageReport",
                "CreateLaunchTemplateVersion",
                "CreateLocalGatewayRoute",
                "CreateLocalGatewayRouteTable",
                "CreateLocalGatewayRouteTableVirtualInterfaceGroupAssociation",
                "CreateLocalGatewayRouteTableVpcAssociation",
                "CreateLocalGatewayVirtualInterface",
                "CreateLocalGatewayVirtualInterfaceGroup",
                "CreateNetworkInterfacePermission",
                "CreateReservedInstancesListing",
                "CreateRestoreImageTask",
                "CreateRouteServer",
                "CreateRouteServerEndpoint",
                "CreateRouteServerPeer",
                "CreateSecondarySubnet",
                "CreateStoreImageTask",
                "CreateSubnetCidrReservation",
                "CreateTransitGateway",
                "CreateTransitGatewayConnect",
                "CreateTransitGatewayConnectPeer",
                "CreateTransitGatewayMeteringPolicy",
                "CreateTransitGatewayMeteringPolicyEntry",
                "CreateTransitGatewayMulticastDomain",
                "CreateTransitGatewayPeeringAttachment",
                "CreateTransitGatewayPolicyTable",
                "CreateTransitGatewayPolicyTableEntry",
                "CreateTransitGatewayPrefixListReference",
                "CreateTransitGatewayRoute",
                "CreateTransitGatewayRouteTable",
                "CreateTransitGatewayRouteTableAnnouncement",
                "CreateTransitGatewayVpcAttachment",
                "CreateVpcBlockPublicAccessExclusion",
                "CreateVpcEncryptionControl",
                "CreateVpcEndpoint",
                "CreateVpcEndpointConnectionNotification",
                "CreateVpcEndpointServiceConfiguration",
                "CreateVpcPeeringConnection",
                "CreateVpnConnectionRoute",
                "CreateVpnGateway",
                "ImportImage",
                "ImportKeyPair",
                "RegisterImage",
                "RegisterTransitGatewayMulticastGroupMembers",
                "RegisterTransitGatewayMulticastGroupSources",
                "RequestSpotInstances",
                "RunScheduledInstances",
            ],
        ),
        (Svc::Elbv2, &["AddListenerCertificates", "AddTrustStoreRevocations", "CreateTrustStore"]),
        (
            Svc::Ecs,
            &[
                "AssociateGatewayWithCluster",
                "CreateDaemon",
                "CreateExpressGatewayService",
                "CreateGateway",
                "CreateTaskSet",
                "PutAccountSetting",
                "PutAccountSettingDefault",
                "PutAttributes",
                "PutClusterCapacityProviders",
                "RegisterContainerInstance",
                "RegisterDaemonTaskDefinition",
            ],
        ),
        (
            Svc::Iam,
            &[
                "AddClientIDToOpenIDConnectProvider",
                "AddUserToGroup",
                "AssociateDelegationRequest",
                "AttachGroupPolicy",
                "AttachUserPolicy",
                "CreateAccessKey",
                "CreateAccountAlias",
                "CreateDelegationRequest",
                "CreateGroup",
                "CreateLoginProfile",
                "CreateOpenIDConnectProvider",
                "CreatePolicyVersion",
                "CreateSAMLProvider",
                "CreateServiceSpecificCredential",
                "CreateVirtualMFADevice",
                "PutAccountProperties",
                "PutGroupPolicy",
                "PutRolePermissionsBoundary",
                "PutUserPermissionsBoundary",
                "PutUserPolicy",
                "TagInstanceProfile",
                "TagMFADevice",
                "TagOpenIDConnectProvider",
                "TagPolicy",
                "TagRole",
                "TagSAMLProvider",
                "TagServerCertificate",
                "TagUser",
                "UploadSSHPublicKey",
                "UploadSigningCertificate",
            ],
        ),
        (Svc::ApplicationAutoscaling, &["TagResource"]),
        (
            Svc::Acm,
            &[
                "TagResource",
                "CreateAcmeDomainValidation",
                "CreateAcmeEndpoint",
                "CreateAcmeExternalAccountBinding",
                "PutAccountConfiguration",
            ],
        ),
        (
            Svc::Route53,
            &[
                "AssociateVPCWithHostedZone",
                "CreateCidrCollection",
                "CreateHealthCheck",
                "CreateKeySigningKey",
                "CreateQueryLoggingConfig",
                "CreateReusableDelegationSet",
                "CreateTrafficPolicy",
                "CreateTrafficPolicyInstance",
                "CreateTrafficPolicyVersion",
                "CreateVPCAssociationAuthorization",
            ],
        ),
    ];

    #[test]
    fn every_write_that_makes_something_has_an_entry_or_is_listed_as_not_undone() {
        let mut unlisted = Vec::new();
        for svc in Svc::ALL {
            let table = svc.table().unwrap();
            let listed = NOT_UNDONE.iter().find(|(s, _)| *s == svc).map(|(_, ops)| *ops).unwrap_or_default();
            for (name, op) in &table.operations {
                // Puts set a state that some kinds put back: listed with the makers.
                let makes = super::makes(name) || name.starts_with("Put");
                if op.readonly || op.feature.is_some() || !makes {
                    continue;
                }
                if of(svc, name).is_none() && !listed.contains(&name.as_str()) {
                    unlisted.push(format!("{}::{name}", svc.module()));
                }
            }
            for name in listed {
                let op = table.operations.get(*name);
                assert!(op.is_some_and(|o| !o.readonly), "{}::{name} is listed but is no write", svc.module());
                assert!(of(svc, name).is_none(), "{}::{name} is listed but has an entry", svc.module());
            }
        }
        assert!(unlisted.is_empty(), "writes with neither an entry nor a place in NOT_UNDONE: {unlisted:?}");
    }

    #[test]
    fn each_entry_is_a_write_of_its_service_and_appears_once() {
        let mut seen = Vec::new();
        for k in all() {
            let op = k.svc.table().unwrap().operations.get(k.op);
            assert!(op.is_some_and(|o| !o.readonly), "{}::{} is a write of the model", k.svc.module(), k.op);
            assert!(!seen.contains(&(k.svc, k.op)), "{}::{} has two entries", k.svc.module(), k.op);
            seen.push((k.svc, k.op));
            // A kind that restores what it found needs a look-up to find it.
            assert!(k.restore.is_none() || k.find.is_some(), "{}::{}", k.svc.module(), k.op);
            assert!(k.tagging.is_none() || k.read_back.is_some(), "{}::{}", k.svc.module(), k.op);
        }
        assert!(seen.len() > 40, "{} entries", seen.len());
    }

    #[test]
    fn every_kind_reads_back_what_it_did_with_reads_alone_or_says_why_not() {
        for k in all() {
            let name = format!("{}::{}", k.svc.module(), k.op);
            assert!(k.readable() || k.unread.is_some(), "{name}: drift can neither read it back nor say why");
            if !k.readable() {
                continue;
            }
            let asked = std::cell::RefCell::new(Vec::new());
            let read = |svc: Svc, op: &str, _: Value| -> Result<Value, CallError> {
                asked.borrow_mut().push((svc, op.to_string()));
                Ok(json!({}))
            };
            let input = json!({ "GroupId": "sg-1", "HostedZoneId": "Z1", "ListenerArn": "l-1", "Resources": ["r-1"],
                                "ResourceArns": ["r-1"], "resourceArn": "r-1", "CertificateArn": "c-1",
                                "ChangeBatch": { "Changes": [{ "Action": "UPSERT", "ResourceRecordSet": { "Name": "a.", "Type": "A" } }] },
                                "Tags": [{ "Key": "k", "Value": "v" }], "tags": [{ "key": "k", "value": "v" }] });
            let facts = k.facts(&read, &input, &[("thing".into(), "arn:aws:x:r:1:thing/c/id-1".into())]).unwrap();
            assert!(!facts.is_empty(), "{name}: no fact");
            assert!(!asked.borrow().is_empty(), "{name}: read nothing");
            for (svc, op) in asked.borrow().iter() {
                let readonly = svc.table().unwrap().operations.get(op).map(|o| o.readonly);
                assert_eq!(readonly, Some(true), "{name} reads back with {}::{op}, which is not a read", svc.module());
            }
        }
    }

    #[test]
    fn a_maker_names_the_arn_of_what_it_makes_from_its_input() {
        let w = Where { partition: "aws".into(), region: "eu-west-1".into(), account: "111122223333".into() };
        let arn = |svc, op, input: Value| of(svc, op).and_then(|k| k.arn).and_then(|f| f(&input, &w));
        assert_eq!(
            arn(Svc::Elbv2, "CreateTargetGroup", json!({ "Name": "web" })).as_deref(),
            Some("arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web/*")
        );
        assert_eq!(
            arn(
                Svc::Ecs,
                "CreateService",
                json!({ "cluster": "arn:aws:ecs:eu-west-1:1:cluster/c1", "serviceName": "s" })
            )
            .as_deref(),
            Some("arn:aws:ecs:eu-west-1:111122223333:service/c1/s")
        );
        assert_eq!(arn(Svc::Elbv2, "CreateTargetGroup", json!({ "Name": "<elbv2.x#1>" })), None);
    }
}
