//! Conversion cost per call, measured without the network: SDK output → Rhai map for large answers,
//! and Rhai map → validated SDK input for large requests.

use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroup, Tag};
use aws_sdk_ecs::types::{Attachment, Container, KeyValuePair, Task};
use aws_sdk_elasticloadbalancingv2::types::{AvailabilityZone, LoadBalancer, LoadBalancerState, LoadBalancerStateEnum};
use aws_smithy_types::DateTime;
use criterion::{criterion_group, criterion_main, Criterion};
use rhai::{Array, Dynamic, Map};
use runbook_bindings::convert::{FromRhai, Path, ToRhai};
use runbook_bindings::validate::validate;
use runbook_bindings::Svc;
use std::hint::black_box;

fn tasks(n: usize) -> Vec<Task> {
    (0..n)
        .map(|i| {
            let eni = Attachment::builder()
                .id(format!("att-{i}"))
                .r#type("ElasticNetworkInterface")
                .status("ATTACHED")
                .details(KeyValuePair::builder().name("subnetId").value("subnet-0123456789abcdef0").build())
                .details(KeyValuePair::builder().name("networkInterfaceId").value(format!("eni-{i:017x}")).build())
                .details(
                    KeyValuePair::builder()
                        .name("privateIPv4Address")
                        .value(format!("10.0.{}.{}", i / 250, i % 250))
                        .build(),
                )
                .build();
            Task::builder()
                .task_arn(format!("arn:aws:ecs:us-east-1:123456789012:task/rent-a-room-cluster/{i:032x}"))
                .cluster_arn("arn:aws:ecs:us-east-1:123456789012:cluster/rent-a-room-cluster")
                .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/rent-a-room:1")
                .last_status("RUNNING")
                .desired_status("RUNNING")
                .cpu("256")
                .memory("512")
                .launch_type("FARGATE".into())
                .group("service:rent-a-room-service")
                .created_at(DateTime::from_secs(1_700_000_000 + i as i64))
                .started_at(DateTime::from_secs(1_700_000_060 + i as i64))
                .attachments(eni)
                .containers(
                    Container::builder().name("rent-a-room").image("nginx:latest").last_status("RUNNING").build(),
                )
                .build()
        })
        .collect()
}

fn security_group(rules: usize) -> SecurityGroup {
    let mut g = SecurityGroup::builder()
        .group_id("sg-0123456789abcdef0")
        .group_name("rent-a-room-alb-sg")
        .description("Security group for Rent-A-Room ALB")
        .vpc_id("vpc-0123456789abcdef0")
        .tags(Tag::builder().key("Name").value("alb").build());
    for i in 0..rules {
        g = g.ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(1000 + i as i32)
                .to_port(1000 + i as i32)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip(format!("10.{}.{}.0/24", i / 250, i % 250))
                        .description("office")
                        .build(),
                )
                .build(),
        );
    }
    g.build()
}

fn load_balancers(n: usize) -> Vec<LoadBalancer> {
    (0..n)
        .map(|i| {
            LoadBalancer::builder()
                .load_balancer_arn(format!(
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb-{i}/{i:016x}"
                ))
                .dns_name(format!("lb-{i}-123456789.us-east-1.elb.amazonaws.com"))
                .load_balancer_name(format!("lb-{i}"))
                .scheme("internet-facing".into())
                .vpc_id("vpc-0123456789abcdef0")
                .state(LoadBalancerState::builder().code(LoadBalancerStateEnum::Active).build())
                .r#type("application".into())
                .created_time(DateTime::from_secs(1_700_000_000))
                .availability_zones(AvailabilityZone::builder().zone_name("us-east-1a").subnet_id("subnet-a").build())
                .availability_zones(AvailabilityZone::builder().zone_name("us-east-1b").subnet_id("subnet-b").build())
                .security_groups("sg-0123456789abcdef0")
                .ip_address_type("ipv4".into())
                .build()
        })
        .collect()
}

fn map(pairs: Vec<(&str, Dynamic)>) -> Map {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

fn outputs(c: &mut Criterion) {
    let t = tasks(100);
    c.bench_function("to_rhai/describe_tasks_100_tasks", |b| b.iter(|| black_box(black_box(&t).to_rhai())));
    let g = vec![security_group(500)];
    c.bench_function("to_rhai/describe_security_groups_500_rules", |b| b.iter(|| black_box(black_box(&g).to_rhai())));
    let lbs = load_balancers(100);
    c.bench_function("to_rhai/describe_load_balancers_100", |b| b.iter(|| black_box(black_box(&lbs).to_rhai())));
}

fn inputs(c: &mut Criterion) {
    let ecs = Svc::Ecs.table().unwrap_or_else(|e| panic!("{e}"));
    let arns: Array = tasks(100).iter().map(|t| Dynamic::from(t.task_arn().unwrap_or_default().to_string())).collect();
    let describe = map(vec![("cluster", "rent-a-room-cluster".into()), ("tasks", arns.into())]);
    c.bench_function("from_rhai/describe_tasks_100_arns", |b| {
        b.iter(|| {
            assert!(validate(ecs, "DescribeTasks", black_box(&describe)).is_empty());
            black_box(Vec::<String>::from_rhai(&describe["tasks"], &Path::Root).is_ok())
        })
    });

    let ec2 = Svc::Ec2.table().unwrap_or_else(|e| panic!("{e}"));
    let rules: Array = (0..500)
        .map(|i| {
            let range = map(vec![
                ("CidrIp", format!("10.{}.{}.0/24", i / 250, i % 250).into()),
                ("Description", "office".into()),
            ]);
            Dynamic::from_map(map(vec![
                ("IpProtocol", "tcp".into()),
                ("FromPort", Dynamic::from_int(1000 + i)),
                ("ToPort", Dynamic::from_int(1000 + i)),
                ("IpRanges", Dynamic::from_array(vec![Dynamic::from_map(range)])),
            ]))
        })
        .collect();
    let ingress = map(vec![("GroupId", "sg-0123456789abcdef0".into()), ("IpPermissions", rules.into())]);
    c.bench_function("from_rhai/authorize_ingress_500_rules", |b| {
        b.iter(|| {
            assert!(validate(ec2, "AuthorizeSecurityGroupIngress", black_box(&ingress)).is_empty());
            black_box(Vec::<IpPermission>::from_rhai(&ingress["IpPermissions"], &Path::Root).is_ok())
        })
    });

    let elbv2 = Svc::Elbv2.table().unwrap_or_else(|e| panic!("{e}"));
    let targets: Array = (0..100)
        .map(|i| Dynamic::from_map(map(vec![("Id", format!("10.0.0.{i}").into()), ("Port", Dynamic::from_int(80))])))
        .collect();
    let register = map(vec![("TargetGroupArn", "arn:tg".into()), ("Targets", targets.into())]);
    c.bench_function("from_rhai/register_targets_100", |b| {
        b.iter(|| {
            assert!(validate(elbv2, "RegisterTargets", black_box(&register)).is_empty());
            black_box(
                Vec::<aws_sdk_elasticloadbalancingv2::types::TargetDescription>::from_rhai(
                    &register["Targets"],
                    &Path::Root,
                )
                .is_ok(),
            )
        })
    });
}

criterion_group!(benches, outputs, inputs);
criterion_main!(benches);
