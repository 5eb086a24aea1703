//! Property test: arbitrary script values, shaped after real operation inputs and not, go through
//! validation and the generated map → request conversion of a spread of operations. Nothing may
//! panic, and what validation accepts, conversion must accept too.

// Test code: an unexpected None or error is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rhai::{Dynamic, Map};
use runbook_bindings::call::{send, Svc};
use runbook_bindings::validate::validate;
use runbook_bindings::{AwsOptions, CallError, Context};

const OPERATIONS: &[(Svc, &str)] = &[
    (Svc::Elbv2, "CreateTargetGroup"),
    (Svc::Elbv2, "CreateListener"),
    (Svc::Elbv2, "ModifyRule"),
    (Svc::Ec2, "AuthorizeSecurityGroupIngress"),
    (Svc::Ec2, "CreateSecurityGroup"),
    (Svc::Ec2, "RunInstances"),
    (Svc::Ecs, "RegisterTaskDefinition"),
    (Svc::Ecs, "CreateService"),
    (Svc::Ecs, "UpdateService"),
    (Svc::Iam, "CreateRole"),
    (Svc::Iam, "PutRolePolicy"),
    (Svc::ApplicationAutoscaling, "PutScalingPolicy"),
    (Svc::ApplicationAutoscaling, "RegisterScalableTarget"),
];

/// Member names that occur in the inputs above (so generated maps go deep), and some that do not.
const KEYS: &[&str] = &[
    "Name",
    "Port",
    "Protocol",
    "VpcId",
    "Matcher",
    "HttpCode",
    "Tags",
    "Key",
    "Value",
    "DefaultActions",
    "Type",
    "TargetGroupArn",
    "ForwardConfig",
    "TargetGroups",
    "Weight",
    "Conditions",
    "Field",
    "Values",
    "Actions",
    "RuleArn",
    "GroupId",
    "IpPermissions",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "IpRanges",
    "CidrIp",
    "TagSpecifications",
    "ResourceType",
    "ImageId",
    "MinCount",
    "MaxCount",
    "BlockDeviceMappings",
    "Ebs",
    "family",
    "containerDefinitions",
    "name",
    "image",
    "memory",
    "portMappings",
    "containerPort",
    "environment",
    "value",
    "cpu",
    "cluster",
    "serviceName",
    "desiredCount",
    "loadBalancers",
    "networkConfiguration",
    "awsvpcConfiguration",
    "subnets",
    "deploymentConfiguration",
    "RoleName",
    "AssumeRolePolicyDocument",
    "PolicyName",
    "PolicyDocument",
    "ServiceNamespace",
    "ResourceId",
    "ScalableDimension",
    "PolicyType",
    "TargetTrackingScalingPolicyConfiguration",
    "TargetValue",
    "PredefinedMetricSpecification",
    "PredefinedMetricType",
    "MinCapacity",
    "MaxCapacity",
    "unknown",
    "",
];

fn leaf() -> impl Strategy<Value = Dynamic> {
    prop_oneof![
        Just(Dynamic::UNIT),
        any::<bool>().prop_map(Dynamic::from),
        any::<i64>().prop_map(Dynamic::from),
        prop_oneof![Just(0i64), Just(-1), Just(65536), Just(i64::from(i32::MAX) + 1)].prop_map(Dynamic::from),
        any::<f64>().prop_map(Dynamic::from),
        ".{0,12}".prop_map(Dynamic::from),
        prop_oneof![Just("HTTP"), Just("forward"), Just("ip"), Just("2024-01-01T00:00:00Z"), Just("aGVsbG8=")]
            .prop_map(Dynamic::from),
    ]
}

fn value() -> impl Strategy<Value = Dynamic> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Dynamic::from_array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                let mut m = Map::new();
                for (k, v) in pairs {
                    m.insert(k.into(), v);
                }
                Dynamic::from_map(m)
            }),
        ]
    })
}

fn input() -> impl Strategy<Value = Map> {
    prop::collection::vec((prop::sample::select(KEYS), value()), 0..8).prop_map(|pairs| {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(k.into(), v);
        }
        m
    })
}

/// A small deterministic generator, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A value shaped after the model, mostly right and sometimes wrong: a wrong type, an unknown key,
/// a missing required member, a value outside the enum, an integer out of range.
fn shaped(table: &runbook_bindings::model::Table, shape: &str, rng: &mut Rng, depth: usize) -> Dynamic {
    let Some(s) = table.shape(shape) else { return Dynamic::UNIT };
    if rng.chance(1) {
        return [Dynamic::UNIT, Dynamic::from(true), Dynamic::from(7i64), Dynamic::from("x"), Dynamic::from(1.5f64)]
            [(rng.next() % 5) as usize]
            .clone();
    }
    match s.kind.as_str() {
        "structure" => {
            let mut m = Map::new();
            if depth < 6 {
                let names: Vec<&str> = s.member_names().collect();
                let one = names.get((rng.next() as usize) % names.len().max(1)).copied();
                for name in names {
                    let required = s.required.iter().any(|r| r == name);
                    let wanted =
                        if s.union { Some(name) == one } else { (required && !rng.chance(1)) || rng.chance(20) };
                    if wanted {
                        let target = s.member_shape(name).unwrap_or("");
                        m.insert(name.into(), shaped(table, target, rng, depth + 1));
                    }
                }
            }
            if rng.chance(1) {
                m.insert("NotAMember".into(), Dynamic::from(1i64));
            }
            Dynamic::from_map(m)
        }
        "list" => {
            let n = if depth < 6 { rng.next() % 3 } else { 0 };
            let member = s.member.clone().unwrap_or_default();
            Dynamic::from_array((0..n).map(|_| shaped(table, &member, rng, depth + 1)).collect())
        }
        "map" => {
            let mut m = Map::new();
            if depth < 6 && rng.chance(50) {
                let value = s.value.clone().unwrap_or_default();
                m.insert("k".into(), shaped(table, &value, rng, depth + 1));
            }
            Dynamic::from_map(m)
        }
        "string" if !s.values.is_empty() && !rng.chance(2) => {
            Dynamic::from(s.values[(rng.next() as usize) % s.values.len()].clone())
        }
        "string" => Dynamic::from(format!("v{}", rng.next() % 1000)),
        "integer" if rng.chance(2) => Dynamic::from(i64::from(i32::MAX) + 1),
        "integer" | "long" => Dynamic::from((rng.next() % 1000) as i64),
        "boolean" => Dynamic::from(rng.chance(50)),
        "float" | "double" => Dynamic::from((rng.next() % 1000) as f64 / 10.0),
        "timestamp" => Dynamic::from(if rng.chance(95) { "2026-01-01T00:00:00Z" } else { "yesterday" }),
        "blob" => Dynamic::from(if rng.chance(95) { "aGVsbG8=" } else { "not base64!" }),
        _ => Dynamic::UNIT,
    }
}

fn check() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    // A closed port and one attempt: whatever converts fails fast at the connection.
    let opts = AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        max_attempts: Some(1),
        ..Default::default()
    };
    let ctx = Context::new(&opts, Default::default()).unwrap();
    // FUZZ_CASES=5000 for a longer search.
    let cases = std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64);
    for &(svc, op) in OPERATIONS {
        let table = svc.table().unwrap();
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        TestRunner::new(config.clone())
            .run(&input(), |m| {
                let problems = validate(table, op, &m);
                let result = send(&ctx, svc, op, &m);
                if problems.is_empty() {
                    if let Err(CallError::Validation { problems, .. }) = &result {
                        prop_assert!(
                            false,
                            "{}::{op}: validation passed, conversion refused: {problems:?}",
                            svc.module()
                        );
                    }
                }
                Ok(())
            })
            .unwrap();
        let shape = table.operations[op].input.clone().unwrap();
        let accepted = std::cell::Cell::new(0);
        TestRunner::new(config)
            .run(&any::<u64>(), |seed| {
                let m = shaped(table, &shape, &mut Rng(seed | 1), 0).try_cast::<Map>().unwrap_or_default();
                let problems = validate(table, op, &m);
                let result = send(&ctx, svc, op, &m);
                if problems.is_empty() {
                    accepted.set(accepted.get() + 1);
                    if let Err(CallError::Validation { problems, .. }) = &result {
                        prop_assert!(
                            false,
                            "{}::{op}: validation passed, conversion refused: {problems:?}\n{m:?}",
                            svc.module()
                        );
                    }
                }
                Ok(())
            })
            .unwrap();
        eprintln!("{}::{op}: {} of {cases} model-shaped inputs passed validation", svc.module(), accepted.get());
    }
}

#[test]
fn arbitrary_values_never_panic_and_validation_agrees_with_conversion() {
    // The script thread's stack: debug builds keep whole operation futures on it.
    let t = std::thread::Builder::new().stack_size(runbook_bindings::runtime::SCRIPT_STACK).spawn(check).unwrap();
    t.join().unwrap();
}
