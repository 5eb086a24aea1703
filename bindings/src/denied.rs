//! An answer that says the caller may not make a call (AccessDenied, AccessDeniedException,
//! UnauthorizedOperation): its message is made to name the IAM action and the principal, so that
//! whoever reads it knows which permission to grant to whom. AWS's own message often names both
//! ("User: arn:… is not authorized to perform: elasticloadbalancing:CreateListener"); where it
//! does not, the action comes from the operation and the principal from STS.

use crate::error::CallError;
use crate::runtime::Context;
use crate::svc::Svc;

/// The words a sentence naming both uses, as AWS writes them.
pub const PERFORM: &str = " is not authorized to perform: ";

/// Whether an error code says the caller lacks a permission.
pub fn is_denial(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError")
}

/// The IAM action of an operation: `elasticloadbalancing:CreateListener`, the service's prefix
/// taken from its model (its signing name).
pub fn iam_action(svc: Svc, op: &str) -> String {
    let prefix = svc.table().map(|t| t.iam_prefix.as_str()).unwrap_or(svc.module());
    format!("{prefix}:{op}")
}

/// A denial whose message names the principal and the action; other errors as they are. The
/// principal is asked of STS when AWS's message does not name it.
pub fn explain(ctx: &Context, svc: Svc, op: &str, e: CallError) -> CallError {
    let named = matches!(&e, CallError::Aws { message, .. } if message.contains(PERFORM));
    if !is_denial(e.code()) || named {
        return e;
    }
    let principal = crate::runtime::caller_arn(ctx).unwrap_or_else(|_| "the caller".into());
    e.with_message(|message| {
        let said = if message.trim().is_empty() { String::new() } else { format!(" (AWS said: {})", message.trim()) };
        format!("{principal}{PERFORM}{}{said}", iam_action(svc, op))
    })
}

/// The principal and the action a denial's message names: `(arn:…:user/operator,
/// elasticloadbalancing:CreateListener)`.
pub fn named(message: &str) -> Option<(String, String)> {
    let (before, after) = message.split_once(PERFORM)?;
    let principal = before.rsplit(' ').next()?.trim_end_matches(':').to_string();
    let action = after.split_whitespace().next()?.trim_end_matches(['.', ',', ';']).to_string();
    (!action.is_empty()).then_some((principal, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_names_the_principal_and_the_action() {
        let aws = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: \
                   elasticloadbalancing:CreateListener on resource: arn:aws:elasticloadbalancing:… because no \
                   identity-based policy allows it";
        assert_eq!(
            named(aws),
            Some(("arn:aws:iam::123456789012:user/operator".into(), "elasticloadbalancing:CreateListener".into()))
        );
        let moto = "User: arn:aws:iam::123456789012:user/operator is not authorized to perform: ecs:CreateService";
        assert_eq!(named(moto).map(|n| n.1).as_deref(), Some("ecs:CreateService"));
        assert_eq!(named("You are not authorized to perform this operation."), None);
        assert_eq!(
            iam_action(Svc::ApplicationAutoscaling, "PutScalingPolicy"),
            "application-autoscaling:PutScalingPolicy"
        );
        assert!(is_denial("UnauthorizedOperation") && is_denial("AccessDeniedException") && !is_denial("Throttling"));
    }
}
