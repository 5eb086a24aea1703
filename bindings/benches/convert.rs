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
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// The system allocator, counting calls while `COUNTING` is on (only outside the timed runs: the
/// flag costs one load per allocation, the count is taken once per payload).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) one conversion makes, per benchmark name.
static COUNTS: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// Times `f` under `name`, after counting the allocations of one call to it.
fn bench<R>(c: &mut Criterion, name: &str, mut f: impl FnMut() -> R) {
    ALLOCATIONS.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    drop(out);
    COUNTS.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), ALLOCATIONS.load(Relaxed)));
    c.bench_function(name, |b| b.iter(|| black_box(f())));
}

/// Writes the allocation counts as JSON to the file named by RUNBOOK_BENCH_ALLOCATIONS (make bench
/// reads it), or to standard error.
fn report_allocations(_: &mut Criterion) {
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let body: Vec<String> = counts.iter().map(|(n, k)| format!("  \"{n}\": {k}")).collect();
    let json = format!("{{\n{}\n}}\n", body.join(",\n"));
    match std::env::var_os("RUNBOOK_BENCH_ALLOCATIONS") {
        Some(path) => std::fs::write(&path, json).unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy())),
        None => eprint!("allocations per call:\n{json}"),
    }
}

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
    bench(c, "to_rhai/describe_tasks_100_tasks", || black_box(&t).to_rhai());
    let g = vec![security_group(500)];
    bench(c, "to_rhai/describe_security_groups_500_rules", || black_box(&g).to_rhai());
    let lbs = load_balancers(100);
    bench(c, "to_rhai/describe_load_balancers_100", || black_box(&lbs).to_rhai());
}

fn inputs(c: &mut Criterion) {
    let ecs = Svc::Ecs.table().unwrap_or_else(|e| panic!("{e}"));
    let arns: Array = tasks(100).iter().map(|t| Dynamic::from(t.task_arn().unwrap_or_default().to_string())).collect();
    let describe = map(vec![("cluster", "rent-a-room-cluster".into()), ("tasks", arns.into())]);
    bench(c, "from_rhai/describe_tasks_100_arns", || {
        assert!(validate(ecs, "DescribeTasks", black_box(&describe)).is_empty());
        Vec::<String>::from_rhai(&describe["tasks"], &Path::Root).is_ok()
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
    bench(c, "from_rhai/authorize_ingress_500_rules", || {
        assert!(validate(ec2, "AuthorizeSecurityGroupIngress", black_box(&ingress)).is_empty());
        Vec::<IpPermission>::from_rhai(&ingress["IpPermissions"], &Path::Root).is_ok()
    });

    let elbv2 = Svc::Elbv2.table().unwrap_or_else(|e| panic!("{e}"));
    let targets: Array = (0..100)
        .map(|i| Dynamic::from_map(map(vec![("Id", format!("10.0.0.{i}").into()), ("Port", Dynamic::from_int(80))])))
        .collect();
    let register = map(vec![("TargetGroupArn", "arn:tg".into()), ("Targets", targets.into())]);
    bench(c, "from_rhai/register_targets_100", || {
        assert!(validate(elbv2, "RegisterTargets", black_box(&register)).is_empty());
        Vec::<aws_sdk_elasticloadbalancingv2::types::TargetDescription>::from_rhai(&register["Targets"], &Path::Root)
            .is_ok()
    });
}

/// What allocation alone costs here: as many blocks as the 100-task conversion allocates, each the
/// size of a Rhai string's shared box, allocated and freed with nothing else done.
fn allocation(c: &mut Criterion) {
    c.bench_function("alloc/5702_blocks_of_40_bytes", |b| {
        b.iter(|| {
            let blocks: Vec<Box<[u64; 5]>> = (0..5702u64).map(|i| Box::new([i; 5])).collect();
            black_box(blocks)
        })
    });
}

criterion_group!(benches, outputs, inputs, allocation, report_allocations);
criterion_main!(benches);
