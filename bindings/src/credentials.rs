//! Where a command's credentials come from, decided as the aws CLI decides it: a profile named
//! for the command (`--profile`, a fleet target's profile, runbook.toml's `profile`) wins over keys
//! in the environment; without one, the SDK's chain takes the environment's keys first, then
//! AWS_PROFILE's profile (or `default`), web identity, the container's and the instance's
//! credentials. Every place that loads an SDK configuration goes through [`load`], and journals
//! record [`Source::of`], so that what a run says it signed as is what it signed as.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// How a command's credentials are obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A profile of the shared files: the one the command named, else AWS_PROFILE's or `default`.
    Profile(String),
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    Environment,
    /// AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (EKS, GitHub Actions' OIDC).
    WebIdentity,
    /// The container credentials endpoint (ECS, EKS Pod Identity).
    Container,
    /// The instance metadata service: the last link of the chain.
    Instance,
}

fn var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the environment holds a key pair the SDK's chain takes before any profile.
pub fn environment_keys() -> bool {
    var("AWS_ACCESS_KEY_ID").is_some() && var("AWS_SECRET_ACCESS_KEY").is_some()
}

impl Source {
    /// The source a command with this profile named (or none) signs with.
    pub fn of(given: Option<&str>) -> Source {
        if let Some(p) = given.filter(|p| !p.is_empty()) {
            return Source::Profile(p.to_string());
        }
        if environment_keys() {
            return Source::Environment;
        }
        match var("AWS_PROFILE") {
            Some(p) => return Source::Profile(p),
            None if check_profile_exists("default") => return Source::Profile("default".into()),
            None => {}
        }
        if var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() && var("AWS_ROLE_ARN").is_some() {
            return Source::WebIdentity;
        }
        if var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
            || var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
        {
            return Source::Container;
        }
        Source::Instance
    }

    /// The profile the credentials come from, if they come from one.
    pub fn profile(&self) -> Option<&str> {
        match self {
            Source::Profile(name) => Some(name),
            _ => None,
        }
    }

    /// The journal's record: `{ "source": "profile", "profile": "ops" }`, `{ "source": "environment" }`.
    pub fn record(&self) -> serde_json::Value {
        let kind = match self {
            Source::Profile(_) => "profile",
            Source::Environment => "environment",
            Source::WebIdentity => "web-identity",
            Source::Container => "container",
            Source::Instance => "instance",
        };
        serde_json::json!({ "source": kind, "profile": self.profile() })
    }

    /// For people: `profile ops`, `environment (AWS_ACCESS_KEY_ID)`.
    pub fn text(&self) -> String {
        text_of(&self.record())
    }
}

/// A recorded source for people (see [`Source::record`]); older journals have only a profile.
pub fn text_of(record: &serde_json::Value) -> String {
    if let Some(role) = record["role"].as_str() {
        return format!("role {role}");
    }
    match (record["source"].as_str(), record["profile"].as_str()) {
        (Some("profile") | None, Some(p)) => format!("profile {p}"),
        (Some("environment"), _) => "environment (AWS_ACCESS_KEY_ID)".into(),
        (Some("web-identity"), _) => "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into(),
        (Some("container"), _) => "container credentials".into(),
        (Some("instance"), _) => "instance metadata".into(),
        _ => "the SDK's default chain".into(),
    }
}

/// Loads a configuration with `loader`'s settings. A profile named here signs every request with
/// that profile's credentials (its keys, role, SSO or process), whatever keys the environment holds;
/// its region and other settings apply where the environment sets none, as in the aws CLI.
pub async fn load(loader: ConfigLoader, profile: Option<&str>) -> SdkConfig {
    let Some(p) = profile.filter(|p| !p.is_empty()) else {
        return loader.load().await;
    };
    let config = loader.profile_name(p).load().await;
    let provider_config = aws_config::provider_config::ProviderConfig::default()
        .with_behavior_version(Some(BehaviorVersion::latest()))
        .with_region(config.region().cloned());
    let inner = aws_config::profile::ProfileFileCredentialsProvider::builder()
        .configure(&provider_config)
        .profile_name(p)
        .build();
    let provider = Named { name: p.to_string(), inner };
    config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build()
}

/// A named profile's provider, whose "nothing here" names the profile: the environment's keys are
/// not tried after it, and the error should say why there are no credentials.
#[derive(Debug)]
struct Named {
    name: String,
    inner: aws_config::profile::ProfileFileCredentialsProvider,
}

impl aws_credential_types::provider::ProvideCredentials for Named {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::error::CredentialsError;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            self.inner.provide_credentials().await.map_err(|e| match e {
                CredentialsError::CredentialsNotLoaded(_) => CredentialsError::not_loaded(format!(
                    "the profile {} (named for this command, so keys in the environment are not used) has no \
                     credentials: no aws_access_key_id, role_arn, sso_session or credential_process",
                    self.name
                )),
                other => other,
            })
        })
    }
}

/// The shared config and credentials files, as the SDK finds them.
fn profile_files() -> [std::path::PathBuf; 2] {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let config = std::env::var_os("AWS_CONFIG_FILE").map(Into::into).unwrap_or_else(|| home.join(".aws/config"));
    let creds = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(Into::into)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    [config, creds]
}

/// The profiles the shared files define, sorted.
fn known_profiles() -> Vec<String> {
    let mut known = Vec::new();
    for (path, prefix) in profile_files().iter().zip(["profile ", ""]) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            let Some(section) = line.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')) else { continue };
            let section = section.trim();
            let profile = if prefix.is_empty() { Some(section) } else { section.strip_prefix(prefix).map(str::trim) };
            if let Some(p) = profile.or((section == "default").then_some("default")) {
                known.push(p.to_string());
            }
        }
    }
    known.sort();
    known.dedup();
    known
}

/// Whether the shared files define the profile.
pub fn check_profile_exists(name: &str) -> bool {
    known_profiles().iter().any(|k| k == name)
}

/// A named profile must exist in the shared config or credentials file; the SDK would otherwise
/// fall back to other credentials without a word.
pub fn check_profile(name: &str, from: &str) -> Result<(), String> {
    if name == "default" {
        return Ok(());
    }
    let known = known_profiles();
    if known.iter().any(|k| k == name) {
        return Ok(());
    }
    let [config, creds] = profile_files();
    let list = if known.is_empty() { "there are none".to_string() } else { format!("there are: {}", known.join(", ")) };
    Err(format!(
        "unknown profile {name:?} ({from}): it is in neither {} nor {}; {list}",
        config.display(),
        creds.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_sources_read_for_people() {
        let given = Source::Profile("ops".into());
        assert_eq!(given.record(), serde_json::json!({ "source": "profile", "profile": "ops" }));
        assert_eq!(given.text(), "profile ops");
        assert_eq!(Source::Environment.record()["profile"], serde_json::Value::Null);
        assert_eq!(Source::Environment.text(), "environment (AWS_ACCESS_KEY_ID)");
        // A journal written before sources were recorded names its profile only.
        assert_eq!(text_of(&serde_json::json!({ "profile": "old" })), "profile old");
        assert_eq!(text_of(&serde_json::json!({ "role": "arn:aws:iam::1:role/r" })), "role arn:aws:iam::1:role/r");
    }
}
