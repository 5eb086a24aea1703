//! ACM's kinds of write: certificates requested and imported, tags.

use super::{at, found, item, one, s, step, Again::*, Found, Kind, Look, Read};
use runbook_bindings::call::Svc;
use runbook_bindings::error::CallError;
use serde_json::{json, Value};
use Svc::Acm;

/// Deleting a certificate: a listener deleted moments ago still holds it for a while.
fn delete(arn: &str) -> Vec<super::Step> {
    vec![step(Acm, "DeleteCertificate", json!({ "CertificateArn": arn })).retry(&["ResourceInUseException"])]
}

pub(super) const KINDS: &[Kind] = &[
    Kind::new(Acm, "RequestCertificate", Adds)
        .find(certificate)
        .not_found(&["ResourceNotFoundException"])
        .present(|r, i, id| {
            let certificate = item(r, Acm, "DescribeCertificate", json!({ "CertificateArn": id }), "/Certificate")?;
            // ACM lists the domain name among the alternative names; the request may not.
            Ok(certificate.map(|mut c| {
                let domain = c["DomainName"].clone();
                let asked = i["SubjectAlternativeNames"].as_array().is_some_and(|n| n.contains(&domain));
                if let (false, Some(names)) = (asked, c["SubjectAlternativeNames"].as_array_mut()) {
                    names.retain(|n| *n != domain);
                }
                c
            }))
        })
        .remove(|_, o| one("certificate", at(o, "CertificateArn"), delete)),
    Kind::new(Acm, "ImportCertificate", Adds)
        .find(imported_certificate)
        .not_found(&["ResourceNotFoundException"])
        .present(|r, _, id| {
            // What it holds is secret and not read back: only that it is there.
            let certificate = item(r, Acm, "DescribeCertificate", json!({ "CertificateArn": id }), "/Certificate")?;
            Ok(certificate.map(|c| json!({ "CertificateArn": c["CertificateArn"] })))
        })
        .restore(|_, i, _| {
            // A re-import names the certificate it replaces, whose earlier contents are not kept.
            let arn = at(i, "CertificateArn")?;
            Some(super::Inverse {
                created: vec![],
                not_undoable: Some(
                    "it re-imported a certificate over one that existed; the one it replaced was not kept".into(),
                ),
                replaced: Some(arn),
            })
        })
        .remove(|_, o| one("certificate", at(o, "CertificateArn"), delete)),
    Kind::new(Acm, "AddTagsToCertificate", Converges)
        .find(super::tagging::acm_tags)
        .remove(|i, _| {
            one("tags on", at(i, "CertificateArn"), |arn| {
                vec![step(Acm, "RemoveTagsFromCertificate", json!({ "CertificateArn": arn, "Tags": s(i, "Tags") }))]
            })
        })
        .tagging(super::Tagging {
            set: "AddTagsToCertificate",
            unset: "RemoveTagsFromCertificate",
            resources: "CertificateArn",
            tags: "Tags",
            key: "Key",
            value: "Value",
            unset_keys: "Tags",
            read: "ListTagsForCertificate",
            list: "/Tags",
        }),
];

/// Certificates requested for the input's domain name. Every request makes a new one, so after a
/// lost answer the run's is the one that was not there before.
fn certificate(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    let domain = i["DomainName"].as_str().unwrap_or_default();
    new_certificate(read, look, |c| c["DomainName"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(domain)))
}

/// Certificates imported. An import without `CertificateArn` makes a new certificate each time, so
/// after a lost answer the run's is the imported one that was not there before; a re-import names
/// the certificate it replaces.
fn imported_certificate(read: Read, i: &Value, look: Look) -> Result<Option<Found>, CallError> {
    if let Some(arn) = i["CertificateArn"].as_str().filter(|a| !a.is_empty()) {
        return Ok(found(arn, json!({ "CertificateArn": arn })));
    }
    new_certificate(read, look, |c| c["Type"].as_str().is_none_or(|t| t == "IMPORTED"))
}

/// The ACM certificates `which` keeps: before the write, all of them (what was there, in one id);
/// after it, the one that was not there before.
fn new_certificate(read: Read, look: Look, which: impl Fn(&Value) -> bool) -> Result<Option<Found>, CallError> {
    let out = read(Svc::Acm, "ListCertificates", json!({}))?;
    let mut arns: Vec<&str> = out["CertificateSummaryList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| which(c))
        .filter_map(|c| c["CertificateArn"].as_str())
        .collect();
    arns.sort_unstable();
    let before = match look {
        Look::Before => return Ok((!arns.is_empty()).then(|| Found { id: arns.join(" "), output: Value::Null })),
        Look::After(before) => before,
    };
    let seen: Vec<&str> = before.map(|b| b.id.split(' ').collect()).unwrap_or_default();
    Ok(arns.into_iter().find(|a| !seen.contains(a)).and_then(|a| found(a, json!({ "CertificateArn": a }))))
}
