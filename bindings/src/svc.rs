//! The seven services of this build: their script module names, operations, waiters and model
//! tables, from the generated operations. The lowest file of the binding layer: it knows no context
//! and sends nothing.

use crate::error::CallError;
use crate::generated;
use crate::model::Table;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Svc {
    Ecs,
    Elbv2,
    Ec2,
    Iam,
    ApplicationAutoscaling,
    Acm,
    Route53,
}

static TABLES: [OnceLock<Result<Table<'static>, String>>; 7] = [const { OnceLock::new() }; 7];

impl Svc {
    pub const ALL: [Svc; 7] =
        [Svc::Ecs, Svc::Elbv2, Svc::Ec2, Svc::Iam, Svc::ApplicationAutoscaling, Svc::Acm, Svc::Route53];

    /// The script module name (`ecs`, `elbv2`, `ec2`, `iam`, `application_autoscaling`, `acm`, `route53`).
    pub fn module(self) -> &'static str {
        match self {
            Svc::Ecs => generated::ecs::SERVICE,
            Svc::Elbv2 => generated::elbv2::SERVICE,
            Svc::Ec2 => generated::ec2::SERVICE,
            Svc::Iam => generated::iam::SERVICE,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::SERVICE,
            Svc::Acm => generated::acm::SERVICE,
            Svc::Route53 => generated::route53::SERVICE,
        }
    }

    /// An operation as scripts call it: `elbv2::create_target_group`.
    pub fn function(self, op: &str) -> String {
        format!("{}::{}", self.module(), function_name(self.module(), op))
    }

    pub fn by_module(name: &str) -> Option<Svc> {
        Svc::ALL.into_iter().find(|s| s.module() == name)
    }

    /// (script function, operation) pairs of this build.
    pub fn operations(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Svc::Ecs => generated::ecs::OPERATIONS,
            Svc::Elbv2 => generated::elbv2::OPERATIONS,
            Svc::Ec2 => generated::ec2::OPERATIONS,
            Svc::Iam => generated::iam::OPERATIONS,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::OPERATIONS,
            Svc::Acm => generated::acm::OPERATIONS,
            Svc::Route53 => generated::route53::OPERATIONS,
        }
    }

    /// (script function, waiter) pairs of this build.
    pub fn waiters(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Svc::Ecs => generated::ecs::WAITERS,
            Svc::Elbv2 => generated::elbv2::WAITERS,
            Svc::Ec2 => generated::ec2::WAITERS,
            Svc::Iam => generated::iam::WAITERS,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::WAITERS,
            Svc::Acm => generated::acm::WAITERS,
            Svc::Route53 => generated::route53::WAITERS,
        }
    }

    fn index(self) -> usize {
        Svc::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn table(self) -> Result<&'static Table<'static>, CallError> {
        let text = match self {
            Svc::Ecs => generated::ecs::TABLE,
            Svc::Elbv2 => generated::elbv2::TABLE,
            Svc::Ec2 => generated::ec2::TABLE,
            Svc::Iam => generated::iam::TABLE,
            Svc::ApplicationAutoscaling => generated::application_autoscaling::TABLE,
            Svc::Acm => generated::acm::TABLE,
            Svc::Route53 => generated::route53::TABLE,
        };
        TABLES[self.index()].get_or_init(|| Table::parse(text)).as_ref().map_err(|e| CallError::Transport {
            service: self.module().into(),
            operation: String::new(),
            code: "InternalError".into(),
            message: e.clone(),
            retryable: false,
        })
    }
}

/// The script function of an operation (`DeleteTargetGroup` → `delete_target_group`).
pub fn function_name(module: &str, op: &str) -> String {
    Svc::by_module(module)
        .and_then(|s| s.table().ok())
        .and_then(|t| t.operations.get(op))
        .map(|o| o.func.clone())
        .unwrap_or_else(|| op.to_string())
}
