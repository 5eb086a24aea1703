//! Written by runbook-codegen (`make generate`); see bindings/codegen. The files beside this one are
//! never edited by hand.

#[rustfmt::skip]
pub mod acm;
#[rustfmt::skip]
pub mod application_autoscaling;
#[rustfmt::skip]
pub mod ec2;
#[rustfmt::skip]
pub mod ecs;
#[rustfmt::skip]
pub mod elbv2;
#[rustfmt::skip]
pub mod iam;
#[rustfmt::skip]
pub mod regions;
#[rustfmt::skip]
pub mod route53;
