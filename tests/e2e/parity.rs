//! Parity with the aws CLI across the surface: the emulator is seeded with the aws CLI, then read
//! operations of the five services are called both ways with the same input, `to_json(svc::op(..))`
//! against `aws SVC OP --cli-input-json .. --output json` (timestamps in ISO 8601, as the CLI v2
//! prints them), and the answers must be equal but for the documented exceptions below.

use runbook_tests::{aws_cli, script, Emulator};
use serde_json::{json, Value};

/// Differences that are known and kept, with the reason: (operation, path pattern, why). A `*`
/// in a pattern stands for one list index or member name.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "ecs describe-services",
        "services[*].enableECSManagedTags",
        "absent from the answer; the SDK's output type holds a plain bool, so false cannot be told from absent",
    ),
    ("ecs describe-services", "services[*].enableExecuteCommand", "the same: a plain bool in the SDK's type"),
    (
        "application-autoscaling describe-scalable-targets",
        "ScalableTargets[*].RoleARN",
        "absent from the answer; a required member, which the SDK's type holds as a plain String, empty when absent",
    ),
];

fn cli(emu: &Emulator, config: &std::path::Path, args: &[&str]) -> Result<Value, String> {
    let out = aws_cli(&emu.url)
        .env("AWS_CONFIG_FILE", config)
        .args(args)
        .args(["--output", "json"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Seeds the emulator through the aws CLI: networking, a security group with rules, an instance,
/// a key pair, an address, an ECS cluster with a service, target groups, a load balancer with a
/// listener and a rule, IAM roles, policies, a user, a group and an instance profile, and
/// Application Auto Scaling targets, policies and scheduled actions.
fn seed(emu: &Emulator, config: &std::path::Path) -> Value {
    let run = |args: &[&str]| cli(emu, config, args).unwrap_or_else(|e| panic!("aws {args:?}: {e}"));
    let vpc = run(&["ec2", "create-vpc", "--cidr-block", "10.8.0.0/16"])["Vpc"]["VpcId"].as_str().unwrap().to_string();
    run(&["ec2", "create-tags", "--resources", &vpc, "--tags", "Key=Name,Value=parity"]);
    let sub = |cidr: &str, az: &str| {
        run(&["ec2", "create-subnet", "--vpc-id", &vpc, "--cidr-block", cidr, "--availability-zone", az])["Subnet"]
            ["SubnetId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (sub("10.8.1.0/24", "us-east-1a"), sub("10.8.2.0/24", "us-east-1b"));
    let igw =
        run(&["ec2", "create-internet-gateway"])["InternetGateway"]["InternetGatewayId"].as_str().unwrap().to_string();
    run(&["ec2", "attach-internet-gateway", "--internet-gateway-id", &igw, "--vpc-id", &vpc]);
    let rt = run(&["ec2", "create-route-table", "--vpc-id", &vpc])["RouteTable"]["RouteTableId"]
        .as_str()
        .unwrap()
        .to_string();
    run(&[
        "ec2",
        "create-route",
        "--route-table-id",
        &rt,
        "--destination-cidr-block",
        "0.0.0.0/0",
        "--gateway-id",
        &igw,
    ]);
    run(&["ec2", "associate-route-table", "--route-table-id", &rt, "--subnet-id", &a]);
    let sg =
        run(&["ec2", "create-security-group", "--group-name", "parity-web", "--description", "web", "--vpc-id", &vpc])
            ["GroupId"]
            .as_str()
            .unwrap()
            .to_string();
    run(&[
        "ec2",
        "authorize-security-group-ingress",
        "--group-id",
        &sg,
        "--protocol",
        "tcp",
        "--port",
        "443",
        "--cidr",
        "0.0.0.0/0",
    ]);
    run(&["ec2", "create-key-pair", "--key-name", "parity"]);
    run(&["ec2", "allocate-address", "--domain", "vpc"]);
    let image = run(&["ec2", "describe-images", "--owners", "amazon", "--query", "Images[0].ImageId"]);
    let image = image.as_str().unwrap().to_string();
    run(&[
        "ec2",
        "run-instances",
        "--image-id",
        &image,
        "--instance-type",
        "t3.micro",
        "--subnet-id",
        &a,
        "--security-group-ids",
        &sg,
        "--key-name",
        "parity",
    ]);
    run(&[
        "ec2",
        "create-launch-template",
        "--launch-template-name",
        "parity",
        "--launch-template-data",
        &format!(r#"{{"ImageId":"{image}","InstanceType":"t3.micro"}}"#),
    ]);

    run(&["ecs", "create-cluster", "--cluster-name", "parity"]);
    let containers = r#"[{"name":"web","image":"nginx","memory":256,"portMappings":[{"containerPort":80}]}]"#;
    run(&[
        "ecs",
        "register-task-definition",
        "--family",
        "parity",
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--container-definitions",
        containers,
    ]);
    let network = format!("awsvpcConfiguration={{subnets=[{a}],securityGroups=[{sg}]}}");
    run(&[
        "ecs",
        "create-service",
        "--cluster",
        "parity",
        "--service-name",
        "web",
        "--task-definition",
        "parity",
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &network,
    ]);

    let tg = run(&[
        "elbv2",
        "create-target-group",
        "--name",
        "parity-tg",
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        &vpc,
        "--target-type",
        "ip",
    ])["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    run(&["elbv2", "register-targets", "--target-group-arn", &tg, "--targets", "Id=10.8.1.10,Port=80"]);
    let lb =
        run(&["elbv2", "create-load-balancer", "--name", "parity-lb", "--subnets", &a, &b, "--security-groups", &sg])
            ["LoadBalancers"][0]["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string();
    let listener = run(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &lb,
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        &format!("Type=forward,TargetGroupArn={tg}"),
    ])["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    run(&[
        "elbv2",
        "create-rule",
        "--listener-arn",
        &listener,
        "--priority",
        "10",
        "--conditions",
        "Field=path-pattern,Values=/api/*",
        "--actions",
        &format!("Type=forward,TargetGroupArn={tg}"),
    ]);

    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    run(&[
        "iam",
        "create-role",
        "--role-name",
        "parity",
        "--assume-role-policy-document",
        trust,
        "--tags",
        "Key=team,Value=web",
    ]);
    run(&["iam", "put-role-policy", "--role-name", "parity", "--policy-name", "inline", "--policy-document", doc]);
    let policy = run(&["iam", "create-policy", "--policy-name", "parity", "--policy-document", doc])["Policy"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    run(&["iam", "attach-role-policy", "--role-name", "parity", "--policy-arn", &policy]);
    run(&["iam", "create-instance-profile", "--instance-profile-name", "parity"]);
    run(&["iam", "add-role-to-instance-profile", "--instance-profile-name", "parity", "--role-name", "parity"]);
    run(&["iam", "create-user", "--user-name", "parity"]);
    run(&["iam", "create-group", "--group-name", "parity"]);
    run(&["iam", "add-user-to-group", "--group-name", "parity", "--user-name", "parity"]);

    let resource = "service/parity/web";
    let target =
        ["--service-namespace", "ecs", "--resource-id", resource, "--scalable-dimension", "ecs:service:DesiredCount"];
    run(&[
        &["application-autoscaling", "register-scalable-target"][..],
        &target[..],
        &["--min-capacity", "1", "--max-capacity", "4"],
    ]
    .concat());
    let tracking = r#"{"TargetValue":60.0,"PredefinedMetricSpecification":{"PredefinedMetricType":"ECSServiceAverageCPUUtilization"}}"#;
    run(&[
        &["application-autoscaling", "put-scaling-policy"][..],
        &target[..],
        &[
            "--policy-name",
            "cpu",
            "--policy-type",
            "TargetTrackingScaling",
            "--target-tracking-scaling-policy-configuration",
            tracking,
        ],
    ]
    .concat());
    run(&[
        &["application-autoscaling", "put-scheduled-action"][..],
        &target[..],
        &[
            "--scheduled-action-name",
            "night",
            "--schedule",
            "cron(0 22 * * ? *)",
            "--scalable-target-action",
            "MinCapacity=1,MaxCapacity=1",
        ],
    ]
    .concat());

    json!({ "vpc": vpc, "subnet": a, "sg": sg, "tg": tg, "lb": lb, "listener": listener, "policy": policy, "image": image })
}

/// The paths where two JSON values differ.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                differences(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: runbook {a} vs aws CLI {b}")),
    }
}

fn excepted(op: &str, difference: &str) -> bool {
    let path = difference.split(": runbook ").next().unwrap_or("");
    EXCEPTIONS.iter().any(|(o, pattern, _)| *o == op && matches(pattern, path))
}

/// `Roles[*].RoleLastUsed` matches `.Roles[3].RoleLastUsed` and anything below it.
fn matches(pattern: &str, path: &str) -> bool {
    let norm = |s: &str| -> Vec<String> {
        s.trim_start_matches('.').replace('[', ".[").split('.').filter(|p| !p.is_empty()).map(str::to_string).collect()
    };
    let (p, q) = (norm(pattern), norm(path));
    p.len() <= q.len() && p.iter().zip(&q).all(|(a, b)| a == b || a == "*" || (a == "[*]" && b.starts_with('[')))
}

#[test]
fn read_operations_answer_what_the_aws_cli_prints_on_the_same_state() {
    let emu = Emulator::start();
    let config = script("cli-config", "[default]\ncli_timestamp_format = iso8601\n");
    let ids = seed(&emu, &config);
    let id = |k: &str| ids[k].clone();
    // (service as the CLI names it, operation as the CLI names it, input)
    let cases: Vec<(&str, &str, Value)> = vec![
        ("ec2", "describe-vpcs", json!({})),
        ("ec2", "describe-subnets", json!({ "Filters": [{ "Name": "vpc-id", "Values": [id("vpc")] }] })),
        ("ec2", "describe-security-groups", json!({})),
        ("ec2", "describe-security-group-rules", json!({ "Filters": [{ "Name": "group-id", "Values": [id("sg")] }] })),
        ("ec2", "describe-internet-gateways", json!({})),
        ("ec2", "describe-route-tables", json!({ "Filters": [{ "Name": "vpc-id", "Values": [id("vpc")] }] })),
        ("ec2", "describe-instances", json!({})),
        ("ec2", "describe-instance-status", json!({ "IncludeAllInstances": true })),
        ("ec2", "describe-key-pairs", json!({})),
        ("ec2", "describe-addresses", json!({})),
        ("ec2", "describe-tags", json!({})),
        ("ec2", "describe-launch-templates", json!({})),
        ("ec2", "describe-network-interfaces", json!({ "Filters": [{ "Name": "vpc-id", "Values": [id("vpc")] }] })),
        ("ec2", "describe-availability-zones", json!({})),
        ("ec2", "describe-regions", json!({})),
        ("ec2", "describe-images", json!({ "ImageIds": [id("image")] })),
        ("ec2", "describe-vpc-attribute", json!({ "VpcId": id("vpc"), "Attribute": "enableDnsSupport" })),
        ("ec2", "describe-account-attributes", json!({})),
        ("ec2", "describe-egress-only-internet-gateways", json!({})),
        ("ec2", "describe-vpc-peering-connections", json!({})),
        ("ec2", "describe-nat-gateways", json!({})),
        ("ec2", "describe-vpc-endpoints", json!({})),
        ("ecs", "list-clusters", json!({})),
        ("ecs", "describe-clusters", json!({ "clusters": ["parity"] })),
        ("ecs", "list-services", json!({ "cluster": "parity" })),
        ("ecs", "describe-services", json!({ "cluster": "parity", "services": ["web"] })),
        ("ecs", "list-task-definitions", json!({})),
        ("ecs", "list-task-definition-families", json!({})),
        ("ecs", "describe-task-definition", json!({ "taskDefinition": "parity" })),
        ("ecs", "list-tasks", json!({ "cluster": "parity" })),
        ("ecs", "list-container-instances", json!({ "cluster": "parity" })),
        ("ecs", "list-account-settings", json!({})),
        ("elbv2", "describe-load-balancers", json!({})),
        ("elbv2", "describe-target-groups", json!({})),
        ("elbv2", "describe-listeners", json!({ "LoadBalancerArn": id("lb") })),
        ("elbv2", "describe-rules", json!({ "ListenerArn": id("listener") })),
        ("elbv2", "describe-target-health", json!({ "TargetGroupArn": id("tg") })),
        ("elbv2", "describe-tags", json!({ "ResourceArns": [id("lb"), id("tg")] })),
        ("elbv2", "describe-load-balancer-attributes", json!({ "LoadBalancerArn": id("lb") })),
        ("elbv2", "describe-target-group-attributes", json!({ "TargetGroupArn": id("tg") })),
        ("elbv2", "describe-ssl-policies", json!({ "Names": ["ELBSecurityPolicy-2016-08"] })),
        ("elbv2", "describe-account-limits", json!({})),
        ("iam", "list-roles", json!({})),
        ("iam", "get-role", json!({ "RoleName": "parity" })),
        ("iam", "list-role-policies", json!({ "RoleName": "parity" })),
        ("iam", "get-role-policy", json!({ "RoleName": "parity", "PolicyName": "inline" })),
        ("iam", "list-attached-role-policies", json!({ "RoleName": "parity" })),
        ("iam", "list-role-tags", json!({ "RoleName": "parity" })),
        ("iam", "list-policies", json!({ "Scope": "Local" })),
        ("iam", "get-policy", json!({ "PolicyArn": id("policy") })),
        ("iam", "get-policy-version", json!({ "PolicyArn": id("policy"), "VersionId": "v1" })),
        ("iam", "list-policy-versions", json!({ "PolicyArn": id("policy") })),
        ("iam", "list-users", json!({})),
        ("iam", "get-user", json!({ "UserName": "parity" })),
        ("iam", "list-groups", json!({})),
        ("iam", "get-group", json!({ "GroupName": "parity" })),
        ("iam", "list-groups-for-user", json!({ "UserName": "parity" })),
        ("iam", "list-instance-profiles", json!({})),
        ("iam", "get-instance-profile", json!({ "InstanceProfileName": "parity" })),
        ("iam", "list-instance-profiles-for-role", json!({ "RoleName": "parity" })),
        ("iam", "list-account-aliases", json!({})),
        ("application-autoscaling", "describe-scalable-targets", json!({ "ServiceNamespace": "ecs" })),
        ("application-autoscaling", "describe-scaling-policies", json!({ "ServiceNamespace": "ecs" })),
        ("application-autoscaling", "describe-scheduled-actions", json!({ "ServiceNamespace": "ecs" })),
    ];
    assert!(cases.len() >= 60);
    let calls: Vec<String> = cases
        .iter()
        .map(|(svc, op, input)| {
            format!("{}::{}(from_json({:?}))", svc.replace('-', "_"), op.replace('-', "_"), input.to_string())
        })
        .collect();
    let ours = emu.json_of(&calls);
    let theirs: Vec<Result<Value, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| {
                let (emu, config) = (&emu, &config);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(svc, op, input)| cli(emu, config, &[svc, op, "--cli-input-json", &input.to_string()]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut problems = Vec::new();
    for (((svc, op, _), mine), cli) in cases.iter().zip(&ours).zip(&theirs) {
        let name = format!("{svc} {op}");
        let cli = match cli {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{name}: the aws CLI failed: {e}"));
                continue;
            }
        };
        let mut found = Vec::new();
        differences("", mine, cli, &mut found);
        problems.extend(found.into_iter().filter(|d| !excepted(&name, d)).map(|d| format!("{name} {d}")));
    }
    assert!(problems.is_empty(), "{} difference(s):\n{}", problems.len(), problems.join("\n"));
}
