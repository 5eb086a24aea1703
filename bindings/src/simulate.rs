//! IAM's policy simulator, asked about the caller: which of a list of actions its policies allow.
//! Each request is sent once, without the SDK's retries: an endpoint that does not offer the
//! simulator (an emulator answering 500) must cost one request, not ten.

use crate::error::CallError;
use crate::json;
use crate::runtime::Context;
use aws_config::SdkConfig;
use rhai::Map;
use serde_json::{json, Value};

/// Sends one IAM request once and answers its output as the aws CLI prints it.
async fn once(config: &SdkConfig, op: &str, input: Value) -> Result<Value, CallError> {
    let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(1);
    let conf = aws_sdk_iam::config::Builder::from(config).retry_config(retry).build();
    let client = aws_sdk_iam::Client::from_conf(conf);
    let input = json::from_value(&input).try_cast::<Map>().unwrap_or_default();
    let fut = crate::generated::iam::call(&client, op, &input).ok_or_else(|| CallError::Transport {
        service: "iam".into(),
        operation: op.into(),
        code: "UnknownOperation".into(),
        message: format!("iam has no operation {op} in this build"),
        retryable: false,
    })?;
    fut.await.map(|out| json::to_value(&out))
}

/// The principal whose policies the simulator evaluates for `config`'s credentials: a user's or
/// role's ARN. An assumed-role session (`arn:aws:sts::…:assumed-role/NAME/SESSION`) stands for
/// its role, whose ARN (with its path) IAM tells; `Err` says why there is none to simulate (the
/// root user, a federated user).
pub async fn principal_of(config: &SdkConfig) -> Result<String, String> {
    let caller =
        crate::runtime::caller_arn_of(config).await.map_err(|e| format!("STS does not say who the caller is: {e}"))?;
    let part = |n: usize| caller.split(':').nth(n).unwrap_or_default().to_string();
    let kind = part(5);
    if kind == "root" {
        return Err("the caller is the account's root user, whom no IAM policy limits".into());
    }
    if kind.starts_with("user/") || kind.starts_with("role/") {
        return Ok(caller);
    }
    match kind.strip_prefix("assumed-role/").and_then(|r| r.split('/').next()) {
        Some(role) => {
            let arn = once(config, "GetRole", json!({ "RoleName": role }))
                .await
                .ok()
                .and_then(|out| out["Role"]["Arn"].as_str().map(str::to_string));
            Ok(arn.unwrap_or_else(|| format!("arn:{}:iam::{}:role/{role}", part(1), part(4))))
        }
        None => Err(format!("the caller {caller} is not a user or a role the simulator can evaluate")),
    }
}

/// The simulator's evaluation of `actions` for `principal` on any resource: its
/// `EvaluationResults`, every page of them.
pub async fn evaluate_with(config: &SdkConfig, principal: &str, actions: &[String]) -> Result<Vec<Value>, CallError> {
    let mut results = Vec::new();
    // The simulator takes a bounded list of actions per request.
    for chunk in actions.chunks(100) {
        let mut marker: Option<String> = None;
        loop {
            let mut input = json!({ "PolicySourceArn": principal, "ActionNames": chunk });
            if let Some(m) = &marker {
                input["Marker"] = json!(m);
            }
            let out = once(config, "SimulatePrincipalPolicy", input).await?;
            results.extend(out["EvaluationResults"].as_array().cloned().unwrap_or_default());
            match (out["IsTruncated"].as_bool(), out["Marker"].as_str()) {
                (Some(true), Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
    }
    Ok(results)
}

/// [`principal_of`] where the script's calls go now.
pub fn principal(ctx: &Context) -> Result<String, String> {
    let config = ctx.place().sdk_config().clone();
    let found = ctx.block_on("iam", "GetRole", async move { Ok(principal_of(&config).await) });
    found.unwrap_or_else(|e| Err(e.to_string()))
}

/// [`evaluate_with`] where the script's calls go now.
pub fn evaluate(ctx: &Context, principal: &str, actions: &[String]) -> Result<Vec<Value>, CallError> {
    let config = ctx.place().sdk_config().clone();
    ctx.block_on("iam", "SimulatePrincipalPolicy", evaluate_with(&config, principal, actions))
}
