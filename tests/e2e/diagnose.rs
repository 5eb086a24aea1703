//! `runbooks/diagnose.rhai` on the tutorial's setup, and on that setup broken in each way the
//! tutorial's troubleshooting tips name: it names exactly that failure, and nothing else.

use runbook_tests::{script, Emulator};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// The tutorial's setup with its one gap closed: the tasks' security group admits the load
/// balancer (the tutorial leaves the default group, which does not).
const ADMIT_ALB: &str = r#"
let lb = elbv2::describe_load_balancers(#{ Names: ["rent-a-room-alb"] }).LoadBalancers[0];
let svc = ecs::describe_services(#{ cluster: "rent-a-room-cluster", services: ["rent-a-room-service"] }).services[0];
ec2::authorize_security_group_ingress(#{
    GroupId: svc.networkConfiguration.awsvpcConfiguration.securityGroups[0],
    IpPermissions: [#{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, UserIdGroupPairs: [#{ GroupId: lb.SecurityGroups[0] }] }],
});
"#;

/// Shared by the breakages below.
const LOOKUPS: &str = r#"
let cluster = "rent-a-room-cluster";
let service = "rent-a-room-service";
let tg = elbv2::describe_target_groups(#{ Names: ["rent-a-room-tg"] }).TargetGroups[0];
let lb = elbv2::describe_load_balancers(#{ Names: ["rent-a-room-alb"] }).LoadBalancers[0];
let listener = elbv2::describe_listeners(#{ LoadBalancerArn: lb.LoadBalancerArn }).Listeners[0];
"#;

struct Diagnosis {
    code: i32,
    /// (status, check) of every line diagnose printed.
    lines: Vec<(String, String)>,
    stdout: String,
}

impl Diagnosis {
    fn with(&self, status: &str) -> Vec<&str> {
        self.lines.iter().filter(|(s, _)| s == status).map(|(_, c)| c.as_str()).collect()
    }
}

/// The tutorial on a new emulator, the gap closed, then `breakage` (a script), then diagnose.
fn diagnose_after(breakage: &str, admit_alb: bool, sets: &[&str]) -> Diagnosis {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    if admit_alb {
        emu.runbook().args(["run", script("admit.rhai", ADMIT_ALB).to_str().unwrap()]).output().success();
    }
    if !breakage.is_empty() {
        let text = format!("{LOOKUPS}{breakage}");
        emu.runbook().args(["run", script("break.rhai", &text).to_str().unwrap()]).output().success();
    }
    let out = emu.runbook().runbook("runbooks/diagnose.rhai", sets).output();
    let lines = out
        .stdout
        .lines()
        .filter_map(|l| {
            let (status, rest) = l.split_once("  ")?;
            ["PASS", "FAIL", "WARN"].contains(&status).then(|| {
                let check = rest.split("  ").next().unwrap_or("").trim().to_string();
                (status.to_string(), check)
            })
        })
        .collect();
    Diagnosis { code: out.code, lines, stdout: format!("{}\n{}", out.stdout, out.stderr) }
}

/// Diagnose names exactly `check` as failed, with a fix, and passes the other ten.
fn names_only(d: &Diagnosis, check: &str) {
    assert_eq!(d.with("FAIL"), [check], "{}", d.stdout);
    assert_eq!(d.with("WARN"), Vec::<&str>::new(), "{}", d.stdout);
    assert_eq!(d.with("PASS").len(), 10, "{}", d.stdout);
    assert_eq!(d.code, 1);
    assert!(d.stdout.contains("      fix: "), "{}", d.stdout);
    assert!(d.stdout.contains(&format!("diagnose: 1 of 11 checks failed: [\"{check}\"]")), "{}", d.stdout);
}

#[test]
fn the_correct_setup_passes_every_check() {
    let d = diagnose_after("", true, &[]);
    assert_eq!(d.with("PASS").len(), 11, "{}", d.stdout);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert!(d.stdout.contains("All 11 checks passed."), "{}", d.stdout);
}

#[test]
fn task_security_groups_without_ingress_from_the_load_balancer() {
    // The tutorial as written: the tasks keep the VPC's default group.
    let d = diagnose_after("", false, &[]);
    names_only(&d, "task ingress");
    assert!(d.stdout.contains("fix: ec2::authorize_security_group_ingress(#{ GroupId: \"sg-"), "{}", d.stdout);
    assert!(d.stdout.contains("UserIdGroupPairs: [#{ GroupId: \"sg-"), "{}", d.stdout);
}

#[test]
fn a_wrong_container_port() {
    let d = diagnose_after(
        r#"
let td = ecs::describe_task_definition(#{ taskDefinition: "rent-a-room" }).taskDefinition;
let c = td.containerDefinitions[0];
c.portMappings = [#{ containerPort: 8080, protocol: "tcp" }];
ecs::register_task_definition(#{ family: td.family, networkMode: td.networkMode, requiresCompatibilities: td.requiresCompatibilities, cpu: td.cpu, memory: td.memory, containerDefinitions: [c] });
ecs::update_service(#{ cluster: cluster, service: service, taskDefinition: "rent-a-room",
    loadBalancers: [#{ targetGroupArn: tg.TargetGroupArn, containerName: "rent-a-room", containerPort: 8080 }] });
"#,
        true,
        &[],
    );
    names_only(&d, "container port");
    assert!(d.stdout.contains("container rent-a-room maps [8080]; rent-a-room-tg sends to port 80"), "{}", d.stdout);
}

#[test]
fn the_load_balancers_group_without_the_listener_port() {
    let d = diagnose_after(
        r#"
ec2::revoke_security_group_ingress(#{ GroupId: lb.SecurityGroups[0],
    IpPermissions: [#{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: "0.0.0.0/0" }] }] });
"#,
        true,
        &[],
    );
    names_only(&d, "load balancer ingress");
}

#[test]
fn a_target_group_in_another_vpc() {
    let d = diagnose_after(
        r#"
let vpc = ec2::create_vpc(#{ CidrBlock: "10.9.0.0/16" }).Vpc.VpcId;
let other = elbv2::create_target_group(#{ Name: "other-vpc-tg", Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip",
    HealthCheckPath: "/", Matcher: #{ HttpCode: "200" } }).TargetGroups[0];
elbv2::modify_listener(#{ ListenerArn: listener.ListenerArn, DefaultActions: [#{ Type: "forward", TargetGroupArn: other.TargetGroupArn }] });
ecs::update_service(#{ cluster: cluster, service: service,
    loadBalancers: [#{ targetGroupArn: other.TargetGroupArn, containerName: "rent-a-room", containerPort: 80 }] });
let targets = elbv2::describe_target_health(#{ TargetGroupArn: tg.TargetGroupArn }).query("TargetHealthDescriptions[*].Target");
elbv2::register_targets(#{ TargetGroupArn: other.TargetGroupArn, Targets: targets });
"#,
        true,
        &["target_group=other-vpc-tg"],
    );
    names_only(&d, "one VPC");
    assert!(d.stdout.contains("other-vpc-tg is in vpc-"), "{}", d.stdout);
}

#[test]
fn a_listener_that_forwards_elsewhere() {
    let d = diagnose_after(
        r#"
let elsewhere = elbv2::create_target_group(#{ Name: "elsewhere-tg", Protocol: "HTTP", Port: 80, VpcId: tg.VpcId, TargetType: "ip" }).TargetGroups[0];
elbv2::modify_listener(#{ ListenerArn: listener.ListenerArn, DefaultActions: [#{ Type: "forward", TargetGroupArn: elsewhere.TargetGroupArn }] });
"#,
        true,
        &[],
    );
    names_only(&d, "listener");
    assert!(d.stdout.contains("fix: elbv2::modify_listener(#{ ListenerArn: \"arn:"), "{}", d.stdout);
}

#[test]
fn a_service_without_the_load_balancer() {
    let d = diagnose_after(
        r#"ecs::update_service(#{ cluster: cluster, service: service, loadBalancers: [] });"#,
        true,
        &[],
    );
    names_only(&d, "service load balancer");
    assert!(d.stdout.contains("rent-a-room-service does not register its tasks with rent-a-room-tg"), "{}", d.stdout);
}

#[test]
fn no_registered_targets() {
    let d = diagnose_after(
        r#"
let targets = elbv2::describe_target_health(#{ TargetGroupArn: tg.TargetGroupArn }).query("TargetHealthDescriptions[*].Target");
elbv2::deregister_targets(#{ TargetGroupArn: tg.TargetGroupArn, Targets: targets });
"#,
        true,
        &[],
    );
    names_only(&d, "targets");
}
