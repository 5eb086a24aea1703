//! Region names, checked before anything is sent: a misspelt region otherwise reaches no endpoint
//! or a wrong one, and the run fails a minute later with an error that does not say why. The
//! names are those of the partition data the SDK's endpoint resolver ships
//! (`generated/regions.rs`). With an endpoint of its own (`--endpoint-url`) an unknown name is a
//! warning, not an error: the endpoint may know it.

use crate::generated::regions::REGIONS;

/// Regions an account reaches only once it has enabled them (those launched from 2019 on).
const OPT_IN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// The partition a region belongs to (`aws`, `aws-cn`, `aws-us-gov`, …), from the SDK's partition
/// data; `aws` for a region it does not know (an emulator's).
pub fn partition(region: &str) -> &'static str {
    REGIONS.iter().find(|(_, r, _)| *r == region).map(|(p, _, _)| *p).unwrap_or("aws")
}

/// Whether the SDK knows the region.
pub fn known(region: &str) -> bool {
    REGIONS.iter().any(|(_, r, _)| *r == region)
}

/// `Ok` for a region the SDK knows; else a sentence that names it and the closest known names.
pub fn check(region: &str) -> Result<(), String> {
    if known(region) {
        return Ok(());
    }
    let close = crate::validate::closest(region, REGIONS.iter().map(|(_, r, _)| *r));
    let hint = match close.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        many => format!("; did you mean one of {}?", many.join(", ")),
    };
    Err(format!(
        "unknown region {region:?}{hint} (the regions this build's SDK knows are listed by `runbook help regions`)"
    ))
}

/// Whether the region is one an account must enable first.
pub fn opt_in(region: &str) -> bool {
    OPT_IN.contains(&region)
}

/// The codes AWS answers with when the credentials do not reach the region at all, as in an
/// opt-in region the account has not enabled.
pub fn not_reached(code: &str) -> bool {
    matches!(
        code,
        "AuthFailure" | "UnrecognizedClientException" | "InvalidClientTokenId" | "OptInRequired" | "InvalidToken"
    )
}

/// What to add to such an error in an opt-in region.
pub fn opt_in_note(region: &str) -> String {
    format!(
        "{region} is an opt-in region: the account reaches it only once it is enabled there \
         (aws account enable-region --region-name {region}, or the console's account settings)"
    )
}

/// `runbook help regions`: every region with its partition and name.
pub fn listing() -> String {
    let mut out = String::new();
    for (partition, region, description) in REGIONS {
        let mark = if opt_in(region) { " (opt-in)" } else { "" };
        out.push_str(&format!("{region:<16} {partition:<11} {description}{mark}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_region_is_refused_with_the_name_meant() {
        assert!(check("eu-west-1").is_ok() && check("us-gov-west-1").is_ok() && check("cn-north-1").is_ok());
        let e = check("eu-wst-1").unwrap_err();
        assert!(e.contains("unknown region \"eu-wst-1\"; did you mean eu-west-1?"), "{e}");
        assert!(check("aws-global").is_err(), "pseudo-regions are not places to call");
        assert!(opt_in("eu-south-2") && !opt_in("eu-west-1"));
        assert!(OPT_IN.iter().all(|r| known(r)), "every opt-in region is one the SDK knows");
    }
}
