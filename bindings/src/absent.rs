//! Which answers of each service mean "that does not exist": scripts read it as `e.not_found` on a
//! caught error, and the run layer's propagation retries and `import`'s look-ups ask it here.

use crate::error::CallError;
use crate::svc::Svc;

/// Whether an error says that something does not exist, in its service's words.
pub fn not_found(svc: Svc, e: &CallError) -> bool {
    let CallError::Aws { code, message, .. } = e else { return false };
    match svc {
        // The Invalid*.NotFound family: InvalidGroup.NotFound, InvalidVpcID.NotFound, ...
        Svc::Ec2 => code.starts_with("Invalid") && code.ends_with(".NotFound"),
        Svc::Elbv2 => matches!(
            code.as_str(),
            "TargetGroupNotFound" | "LoadBalancerNotFound" | "ListenerNotFound" | "RuleNotFound"
        ),
        Svc::Ecs => {
            matches!(code.as_str(), "ClusterNotFoundException" | "ServiceNotFoundException")
                || (code == "InvalidParameterException" && message.to_ascii_lowercase().contains("not found"))
        }
        Svc::ApplicationAutoscaling => code == "ObjectNotFoundException",
        Svc::Iam => code == "NoSuchEntity",
        Svc::Acm => code == "ResourceNotFoundException",
        Svc::Route53 => matches!(code.as_str(), "NoSuchHostedZone" | "NoSuchChange"),
    }
}
