//! A fleet's targets: from `--regions` × `--profiles`, `--accounts` with `--assume-role`, or a
//! `--targets` file; and the check before a run that reaches each one.

use super::FleetArgs;
use crate::args::Common;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One place a runbook runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The role's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The external id the role's trust policy asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
}

impl Target {
    /// `111111111111/eu-west-1`, `ops/eu-west-1`, or `eu-west-1`.
    pub fn label(&self) -> String {
        let place = self.account.clone().or_else(|| self.profile.clone());
        match (place, &self.region) {
            (Some(p), Some(r)) => format!("{p}/{r}"),
            (Some(p), None) => p,
            (None, Some(r)) => r.clone(),
            (None, None) => "default".into(),
        }
    }

    /// Where it runs: two targets with the same place are never run at once.
    pub fn place(&self) -> (Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
        (self.account.as_deref(), self.role.as_deref(), self.region.as_deref(), self.profile.as_deref())
    }
}

/// Each target's label, made unique: targets that share one place are told apart by `#1`, `#2`.
pub fn labels(targets: &[Target]) -> Vec<String> {
    let base: Vec<String> = targets.iter().map(Target::label).collect();
    base.iter()
        .enumerate()
        .map(|(i, l)| {
            if base.iter().filter(|o| *o == l).count() < 2 {
                return l.clone();
            }
            let nth = base[..=i].iter().filter(|o| *o == l).count();
            format!("{l}#{nth}")
        })
        .collect()
}

/// Refuses a target that repeats another exactly (same place, same values): it would run the same
/// runbook twice in one place.
pub fn refuse_duplicates(targets: &[Target]) -> Result<(), String> {
    for (i, t) in targets.iter().enumerate() {
        if let Some(j) = targets[..i].iter().position(|o| o == t) {
            return Err(format!(
                "target {} ({}) repeats target {} exactly: the same place with the same values; \
                 give each target of one place its own --set values, or list it once",
                i + 1,
                t.label(),
                j + 1
            ));
        }
    }
    Ok(())
}

/// A role name, an ARN template with `{account}`, or an ARN, as the ARN for `account`.
fn role_arn(role: &str, account: Option<&str>) -> Result<String, String> {
    if role.starts_with("arn:") {
        return match account {
            Some(a) => Ok(role.replace("{account}", a)),
            None if role.contains("{account}") => {
                Err(format!("the role {role} names {{account}}, but the target has no account"))
            }
            None => Ok(role.to_string()),
        };
    }
    match account {
        Some(a) => Ok(format!("arn:aws:iam::{a}:role/{role}")),
        None => Err(format!("the role {role:?} is a name: the target needs an account to assume it in")),
    }
}

use runbook_bindings::runtime::arn_account;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    target: Vec<FileTarget>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    account: Option<String>,
    role: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    external_id: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) => items.iter().map(toml_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The targets the options name, in order.
pub fn targets(args: &FleetArgs, common: &Common) -> Result<Vec<Target>, String> {
    if let Some(file) = &args.targets {
        if !args.regions.is_empty() || !args.profiles.is_empty() || !args.accounts.is_empty() {
            return Err("--targets lists every target: leave out --regions, --profiles and --accounts".into());
        }
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("cannot read --targets {}: {e}", file.display()))?;
        let parsed: TargetsFile = toml::from_str(&text).map_err(|e| format!("--targets {}: {e}", file.display()))?;
        let mut out = Vec::new();
        for (i, t) in parsed.target.into_iter().enumerate() {
            let role = match (&t.role, &args.assume_role) {
                (Some(r), _) | (None, Some(r)) => Some(
                    role_arn(r, t.account.as_deref())
                        .map_err(|e| format!("--targets {} target {}: {e}", file.display(), i + 1))?,
                ),
                (None, None) => None,
            };
            let account = t.account.or_else(|| role.as_deref().and_then(arn_account));
            let set = t.set.iter().map(|(k, v)| (k.clone(), toml_text(v))).collect();
            out.push(Target {
                account,
                role,
                region: t.region.or_else(|| common.aws.region.clone()),
                profile: t.profile.or_else(|| common.aws.profile.clone()),
                external_id: t.external_id.or_else(|| args.external_id.clone()),
                set,
            });
        }
        if out.is_empty() {
            return Err(format!("--targets {} lists no [[target]]", file.display()));
        }
        return Ok(out);
    }
    if !args.accounts.is_empty() && args.assume_role.is_none() {
        return Err("--accounts needs --assume-role NAME (the role to assume in each account)".into());
    }
    for a in &args.accounts {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("--accounts {a:?}: an account id is 12 digits"));
        }
    }
    let regions: Vec<Option<String>> = if args.regions.is_empty() {
        vec![common.aws.region.clone()]
    } else {
        args.regions.iter().map(|r| Some(r.clone())).collect()
    };
    let profiles: Vec<Option<String>> = if args.profiles.is_empty() {
        vec![common.aws.profile.clone()]
    } else {
        args.profiles.iter().map(|p| Some(p.clone())).collect()
    };
    let accounts: Vec<Option<String>> =
        if args.accounts.is_empty() { vec![None] } else { args.accounts.iter().map(|a| Some(a.clone())).collect() };
    let mut out = Vec::new();
    for account in &accounts {
        for profile in &profiles {
            for region in &regions {
                let role = match (&args.assume_role, account) {
                    (Some(r), a) => Some(role_arn(r, a.as_deref())?),
                    (None, _) => None,
                };
                let account = account.clone().or_else(|| role.as_deref().and_then(arn_account));
                out.push(Target {
                    account,
                    role,
                    region: region.clone(),
                    profile: profile.clone(),
                    external_id: args.external_id.clone(),
                    set: BTreeMap::new(),
                });
            }
        }
    }
    Ok(out)
}

/// What the check before the run found for one target: credentials to hand to its child.
#[derive(Clone)]
pub struct Reached {
    pub account: String,
    /// Temporary credentials from the assumed role: (key id, secret, session token).
    pub credentials: Option<(String, String, String)>,
    /// How to reach it from the parent (the check of permissions asks IAM with it).
    pub config: aws_config::SdkConfig,
}

/// Resolves every target's credentials (assuming its role) and confirms its account with
/// GetCallerIdentity. One answer per target, in order.
pub fn reach(targets: &[Target], endpoint: Option<&str>, session: &str) -> Vec<Result<Reached, String>> {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return targets.iter().map(|_| Err(format!("cannot start the async runtime: {e}"))).collect(),
    };
    targets.iter().map(|t| rt.block_on(reach_one(t, endpoint, session))).collect()
}

async fn reach_one(t: &Target, endpoint: Option<&str>, session: &str) -> Result<Reached, String> {
    use aws_config::BehaviorVersion;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build(),
        );
    if let Some(p) = &t.profile {
        runbook_bindings::runtime::check_profile(p, "--profiles")?;
    }
    if let Some(r) = &t.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(u) = endpoint {
        loader = loader.endpoint_url(u);
    }
    // The target's profile signs, whatever keys the environment holds.
    let config = runbook_bindings::credentials::load(loader, t.profile.as_deref()).await;
    let Some(region) = config.region() else {
        return Err("no region: pass --regions, --region or AWS_REGION, or give the target a region".into());
    };
    runbook_bindings::runtime::check_region_for(region.as_ref(), config.endpoint_url())?;
    let mut credentials = None;
    let config = match &t.role {
        Some(arn) => {
            let creds = runbook_bindings::runtime::assume_role_with(&config, arn, session, t.external_id.as_deref())
                .await
                .map_err(|e| format!("cannot assume {arn}: {e}"))?;
            credentials = Some((
                creds.access_key_id().to_string(),
                creds.secret_access_key().to_string(),
                creds.session_token().unwrap_or_default().to_string(),
            ));
            config
                .to_builder()
                .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
                .build()
        }
        None => config,
    };
    let account = runbook_bindings::runtime::caller_account(&config).await.map_err(|e| e.to_string())?;
    if let Some(expected) = &t.account {
        if *expected != account {
            return Err(format!("the credentials are for account {account}, not {expected}"));
        }
    }
    Ok(Reached { account, credentials, config })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_become_arns_in_their_accounts() {
        assert_eq!(role_arn("deploy", Some("111111111111")).unwrap(), "arn:aws:iam::111111111111:role/deploy");
        assert_eq!(
            role_arn("arn:aws:iam::{account}:role/ops/deploy", Some("222222222222")).unwrap(),
            "arn:aws:iam::222222222222:role/ops/deploy"
        );
        assert!(role_arn("deploy", None).is_err());
        assert_eq!(arn_account("arn:aws:iam::333333333333:role/x").as_deref(), Some("333333333333"));
    }
}
