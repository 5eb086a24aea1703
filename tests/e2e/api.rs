//! The generated surface: pagination, waiters, help, and a create → describe → modify → delete round
//! trip for each service, checked through independent SDK calls.

use runbook_tests::{script, Emulator, Run};

fn run(emu: &Emulator, text: &str) -> runbook_tests::Output {
    let file = script("api.rhai", text);
    emu.runbook().args(["run", file.to_str().unwrap()]).output()
}

#[test]
fn paginated_operations_return_every_page_merged_unless_asked_not_to() {
    let emu = Emulator::start();
    let out = run(
        &emu,
        r#"
let policy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]}`;
for i in 0..130 {
    iam::create_role(#{ RoleName: `pg-role-${i}`, Path: "/pg/", AssumeRolePolicyDocument: policy });
}
let all = iam::list_roles(#{ PathPrefix: "/pg/" });
print(`${all.Roles.len()} ${all.keys()}`);
let one = iam::list_roles(#{ PathPrefix: "/pg/" }, #{ paginate: false });
print(`${one.Roles.len()} ${one.IsTruncated} ${type_of(one.Marker)}`);
let rest = iam::list_roles(#{ PathPrefix: "/pg/", Marker: one.Marker }, #{ paginate: false });
print(`${rest.Roles.len()} ${rest.IsTruncated}`);
"#,
    )
    .success();
    assert_eq!(out.stdout, "130 [\"Roles\"]\n100 true string\n30 false\n");
    let c = emu.clients();
    let listed = c.block_on(c.iam.list_roles().path_prefix("/pg/").max_items(1000).send()).unwrap();
    assert_eq!(listed.roles().len(), 130);
}

#[test]
fn waiters_report_each_poll_and_what_they_saw_when_they_give_up() {
    let emu = Emulator::start();
    let out = run(
        &emu,
        r#"
let vpc = ec2::describe_vpcs().query("Vpcs[0].VpcId");
let subnets = ec2::describe_subnets(#{ Filters: [#{ Name: "vpc-id", Values: [vpc] }] }).query("Subnets[*].SubnetId");
elbv2::create_load_balancer(#{ Name: "w", Subnets: subnets });
elbv2::wait_load_balancer_available(#{ Names: ["w"] }, #{ delay: 0 });
ecs::create_cluster(#{ clusterName: "c" });
ecs::register_task_definition(#{ family: "f", containerDefinitions: [#{ name: "x", image: "nginx", memory: 128 }] });
ecs::create_service(#{ cluster: "c", serviceName: "s", taskDefinition: "f", desiredCount: 2 });
try {
    ecs::wait_services_stable(#{ cluster: "c", services: ["s"] }, #{ timeout: 1, delay: 0.3 });
} catch (e) {
    print(`${e.code}|${e.operation}`);
    print(e.message);
}
"#,
    )
    .success();
    assert!(
        out.stderr.contains(
            "elbv2::wait_load_balancer_available: done after 1 poll(s), 0s (LoadBalancers[].State.Code = [\"active\"])"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ecs::wait_services_stable: poll 1: "), "{}", out.stderr);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("WaiterTimeout|wait_services_stable"));
    let message = lines.next().unwrap_or_default();
    assert!(message.starts_with("gave up after "), "{message}");
    assert!(message.contains("(timeout 1s); last seen: "), "{message}");
}

#[test]
fn deployment_waits_for_the_rollout_not_just_stable_counts() {
    let script_text = r#"
ecs::create_cluster(#{ clusterName: "c" });
ecs::register_task_definition(#{ family: "f", containerDefinitions: [#{ name: "x", image: "nginx", memory: 128 }] });
ecs::create_service(#{ cluster: "c", serviceName: "s", taskDefinition: "f", desiredCount: 1 });
try {
    let r = ecs::wait_deployment_complete(#{ cluster: "c", service: "s" }, #{ timeout: 1, delay: 0.3 });
    print(`completed: ${r.query("services[0].deployments[0].rolloutState")}`);
} catch (e) {
    print(`${e.code}: ${e.message}`);
}
"#;
    // The emulator completes a deployment when told its tasks run.
    let running = Emulator::start_with(&[("MOTO_ECS_SERVICE_RUNNING", "1")]);
    let out = run(&running, script_text).success();
    assert_eq!(out.stdout, "completed: COMPLETED\n");
    assert!(out.stderr.contains("done after 1 poll(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("s: rollout COMPLETED, running 1/1, deployments 1"), "{}", out.stderr);

    let stuck = Emulator::start();
    let out = run(&stuck, script_text).success();
    assert!(out.stdout.starts_with("WaiterTimeout: gave up after "), "{}", out.stdout);
    assert!(out.stdout.contains("last seen: s: rollout IN_PROGRESS, running 0/1, deployments 1"), "{}", out.stdout);
}

#[test]
fn help_lists_services_operations_and_parameters() {
    let overview = Run::new().args(["help"]).output().success();
    assert!(overview.stdout.starts_with(
        "Services (module::function, named like the aws CLI's commands):
  ecs                      88 operations, 9 waiters
  elbv2                    51 operations, 5 waiters
  ec2                      384 operations, 26 waiters
  iam                      180 operations, 4 waiters
  application_autoscaling  14 operations, 0 waiters
"
    ));
    let elbv2 = Run::new().args(["help", "elbv2"]).output().success();
    assert!(elbv2.stdout.contains("\n  elbv2::create_target_group\n"));
    assert!(elbv2
        .stdout
        .contains("waiters\n  elbv2::wait_load_balancer_exists\n  elbv2::wait_load_balancer_available\n"));
    let ecs = Run::new().args(["help", "ecs"]).output().success();
    assert!(ecs.stdout.contains("  ecs::wait_deployment_complete\n"));

    let op = Run::new().args(["help", "application_autoscaling::register_scalable_target"]).output().success();
    assert_eq!(
        op.stdout,
        "application_autoscaling::register_scalable_target(#{ ... })   [RegisterScalableTarget]

Parameters:
  ServiceNamespace: string (enum) (required) one of:
      ecs, elasticmapreduce, ec2, appstream, dynamodb, rds, sagemaker, custom-resource, comprehend,
      lambda, cassandra, kafka, elasticache, neptune, workspaces
  ResourceId: string (required), length 1 to 1600
  ScalableDimension: string (enum) (required) one of:
      ecs:service:DesiredCount, ec2:spot-fleet-request:TargetCapacity,
      elasticmapreduce:instancegroup:InstanceCount, appstream:fleet:DesiredCapacity,
      dynamodb:table:ReadCapacityUnits, dynamodb:table:WriteCapacityUnits,
      dynamodb:index:ReadCapacityUnits, dynamodb:index:WriteCapacityUnits,
      rds:cluster:ReadReplicaCount, sagemaker:variant:DesiredInstanceCount,
      custom-resource:ResourceType:Property,
      comprehend:document-classifier-endpoint:DesiredInferenceUnits,
      comprehend:entity-recognizer-endpoint:DesiredInferenceUnits,
      lambda:function:ProvisionedConcurrency, cassandra:table:ReadCapacityUnits,
      cassandra:table:WriteCapacityUnits, kafka:broker-storage:VolumeSize,
      elasticache:cache-cluster:Nodes, elasticache:replication-group:NodeGroups,
      elasticache:replication-group:Replicas, neptune:cluster:ReadReplicaCount,
      sagemaker:variant:DesiredProvisionedConcurrency,
      sagemaker:inference-component:DesiredCopyCount, workspaces:workspacespool:DesiredUserSessions
  MinCapacity: integer (optional)
  MaxCapacity: integer (optional)
  RoleARN: string (optional), length 1 to 1600
  SuspendedState: SuspendedState (optional)
      DynamicScalingInSuspended: boolean (optional)
      DynamicScalingOutSuspended: boolean (optional)
      ScheduledScalingSuspended: boolean (optional)
  Tags: map<string, string> (optional)

Result:
  ScalableTargetARN: string

A type named above is a shape: runbook help application_autoscaling::Shape shows its members.
AWS API reference: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html
"
    );
    let unknown = Run::new().args(["help", "elbv2::create_targetgroup"]).output();
    assert_eq!(unknown.code, 2);
    assert_eq!(unknown.stderr, "error: elbv2 has no function create_targetgroup (did you mean create_target_group?)\n");
}

#[test]
fn help_shows_result_members_and_any_shape() {
    // A result's members, nested, so a reader learns `VpcId` without knowing the shape `Vpc`.
    let op = Run::new().args(["help", "ec2::create_vpc"]).output().success();
    let result = op.stdout.split("\nResult:\n").nth(1).expect("a Result section");
    assert!(result.starts_with("  Vpc: Vpc\n"), "{result}");
    assert!(result.contains("\n      VpcId: string\n"), "{result}");
    assert!(result.contains("\n      State: string (enum) one of: pending, available, deleting\n"), "{result}");
    assert!(!result.contains("(required)") && !result.contains("(optional)"), "{result}");

    let shape = Run::new().args(["help", "elbv2::TargetHealthDescription"]).output().success();
    assert!(shape.stdout.starts_with("elbv2::TargetHealthDescription: structure\n\nMembers:\n"), "{}", shape.stdout);
    for line in ["  Target: TargetDescription\n", "      Id: string\n", "  TargetHealth: TargetHealth\n"] {
        assert!(shape.stdout.contains(line), "{line:?} in {}", shape.stdout);
    }
    assert!(shape.stdout.ends_with("In the result of:\n  elbv2::describe_target_health\n"), "{}", shape.stdout);

    let values = Run::new().args(["help", "elbv2::TargetHealthStateEnum"]).output().success();
    assert_eq!(
        values.stdout,
        "elbv2::TargetHealthStateEnum: string enum, 7 values\n\nValues:\n  \
         initial, healthy, unhealthy, unhealthy.draining, unused, draining, unavailable\n"
    );

    let typo = Run::new().args(["help", "ec2::Vpcc"]).output();
    assert_eq!(typo.code, 2);
    assert_eq!(typo.stderr, "error: ec2 has no function or shape Vpcc (did you mean Vpc?)\n");
    let pascal = Run::new().args(["help", "iam::GetRole"]).output();
    assert_eq!(
        pascal.stderr,
        "error: iam has no function GetRole; function names are snake_case: did you mean get_role?\n"
    );
}

#[test]
fn iam_round_trip_with_nested_outputs_and_timestamps() {
    let emu = Emulator::start();
    let out = run(
        &emu,
        r#"
let doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`;
iam::create_role(#{ RoleName: "app", AssumeRolePolicyDocument: doc, Description: "first", Tags: [#{ Key: "team", Value: "web" }] });
let role = iam::get_role(#{ RoleName: "app" }).Role;
print(role.CreateDate);
print(to_json(role.Tags.filter(|t| t.Key == "team")));
print(role.Tags.filter(|t| t.Key == "runbook:run-id").len());
iam::update_role_description(#{ RoleName: "app", Description: "second" });
print(iam::get_role(#{ RoleName: "app" }).Role.Description);
iam::delete_role(#{ RoleName: "app" });
try { iam::get_role(#{ RoleName: "app" }); } catch (e) { print(e.code); }
"#,
    )
    .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let ts = lines[0];
    assert!(
        ts.len() >= 25 && ts.as_bytes()[10] == b'T' && ts.ends_with("+00:00"),
        "an ISO-8601 timestamp like the aws CLI's: {ts}"
    );
    assert_eq!(
        lines[1..].join("\n"),
        "[\n    {\n        \"Key\": \"team\",\n        \"Value\": \"web\"\n    }\n]\n1\nsecond\nNoSuchEntity"
    );
    let c = emu.clients();
    assert!(c.block_on(c.iam.get_role().role_name("app").send()).is_err(), "the role is gone");
}

#[test]
fn ec2_round_trip_with_tags_and_rules() {
    let emu = Emulator::start();
    let out = run(
        &emu,
        r#"
let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).query("Vpcs[0].VpcId");
let id = ec2::create_security_group(#{
    GroupName: "rt", Description: "round trip", VpcId: vpc,
    TagSpecifications: [#{ ResourceType: "security-group", Tags: [#{ Key: "env", Value: "test" }] }],
}).GroupId;
ec2::authorize_security_group_ingress(#{ GroupId: id, IpPermissions: [#{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [#{ CidrIp: "10.0.0.0/8", Description: "vpn" }] }] });
ec2::create_tags(#{ Resources: [id], Tags: [#{ Key: "owner", Value: "ops" }] });
let g = ec2::describe_security_groups(#{ GroupIds: [id] }).SecurityGroups[0];
print(g.query("IpPermissions[0].{p: IpProtocol, from: FromPort, cidr: IpRanges[0].CidrIp, why: IpRanges[0].Description}"));
print(g.query("sort_by(Tags, &Key)[*].Key"));
ec2::delete_security_group(#{ GroupId: id });
print(ec2::describe_security_groups(#{ Filters: [#{ Name: "group-name", Values: ["rt"] }] }).SecurityGroups.len());
"#,
    )
    .success();
    assert_eq!(
        out.stdout,
        "#{\"cidr\": \"10.0.0.0/8\", \"from\": 443, \"p\": \"tcp\", \"why\": \"vpn\"}\n[\"env\", \"owner\", \"runbook:run-id\"]\n0\n"
    );
    assert!(emu.clients().security_groups("group-name", "rt").is_empty());
}

#[test]
fn ecs_and_autoscaling_round_trips() {
    let emu = Emulator::start();
    let out = run(
        &emu,
        r#"
ecs::create_cluster(#{ clusterName: "rt", tags: [#{ key: "env", value: "test" }] });
let td = ecs::register_task_definition(#{
    family: "rt", cpu: "256", memory: "512",
    containerDefinitions: [#{ name: "web", image: "nginx", memory: 512, essential: true,
        portMappings: [#{ containerPort: 80, protocol: "tcp" }], environment: [#{ name: "MODE", value: "rt" }] }],
}).taskDefinition;
print(td.query("containerDefinitions[0].{port: portMappings[0].containerPort, env: environment[0].value}"));
print(`${td.revision} ${td.status} ${td.taskDefinitionArn.ends_with("task-definition/rt:1")}`);
ecs::create_service(#{ cluster: "rt", serviceName: "svc", taskDefinition: "rt", desiredCount: 0 });
let resource = "service/rt/svc";
application_autoscaling::register_scalable_target(#{ ServiceNamespace: "ecs", ResourceId: resource, ScalableDimension: "ecs:service:DesiredCount", MinCapacity: 1, MaxCapacity: 2 });
application_autoscaling::register_scalable_target(#{ ServiceNamespace: "ecs", ResourceId: resource, ScalableDimension: "ecs:service:DesiredCount", MinCapacity: 1, MaxCapacity: 4 });
print(application_autoscaling::describe_scalable_targets(#{ ServiceNamespace: "ecs" }).query("ScalableTargets[*].[MinCapacity, MaxCapacity]"));
application_autoscaling::deregister_scalable_target(#{ ServiceNamespace: "ecs", ResourceId: resource, ScalableDimension: "ecs:service:DesiredCount" });
ecs::delete_service(#{ cluster: "rt", service: "svc" });
ecs::deregister_task_definition(#{ taskDefinition: td.taskDefinitionArn });
ecs::delete_cluster(#{ cluster: "rt" });
"#,
    )
    .success();
    assert_eq!(out.stdout, "#{\"env\": \"rt\", \"port\": 80}\n1 ACTIVE true\n[[1, 4]]\n");
    let c = emu.clients();
    assert!(c.scalable_targets("service/rt/svc").is_empty());
    let clusters = c.block_on(c.ecs.describe_clusters().clusters("rt").send()).unwrap();
    assert!(clusters.clusters().iter().all(|c| c.status() != Some("ACTIVE")));
}
