//! `runbooks/diagnose.rhai` on the tutorial's setup as `make demo` leaves it, and on that setup broken
//! in each way the tutorial's troubleshooting tips name: it names exactly that failure, and nothing
//! else, and its fix, pasted into `runbook repl`, makes every check pass again.

use runbook_tests::{script, Emulator};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

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

/// The tutorial on a new emulator, then `breakage` (a script), then diagnose.
fn diagnose_after(breakage: &str, sets: &[&str]) -> (Emulator, Diagnosis) {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    if !breakage.is_empty() {
        let text = format!("{LOOKUPS}{breakage}");
        emu.runbook().args(["run", script("break.rhai", &text).to_str().unwrap()]).output().success();
    }
    let d = diagnose(&emu, sets);
    (emu, d)
}

fn diagnose(emu: &Emulator, sets: &[&str]) -> Diagnosis {
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

/// Pastes each fix diagnose printed into `runbook repl`, lets the emulator do what ECS's scheduler
/// does on AWS (register the tasks of the service's target groups), and diagnoses again: every
/// check passes.
fn fixed_by_pasting(emu: &Emulator, d: &Diagnosis, sets: &[&str]) {
    let fixes: Vec<&str> = d.stdout.lines().filter_map(|l| l.strip_prefix("      fix: ")).collect();
    assert!(!fixes.is_empty(), "{}", d.stdout);
    let history = std::env::temp_dir().join(format!("runbook-diagnose-history-{}", std::process::id()));
    let mut repl = emu.repl(&history);
    for (n, fix) in fixes.iter().enumerate() {
        // The editor drops what is typed while an entry runs, as a terminal does: the marker that
        // says the fix is done rides on the fix's own line. (The breakages here leave every
        // resource in place, so no fix is a `:load`, which would take the rest of its line.)
        assert!(!fix.starts_with(':'), "{fix}");
        repl.send_line(&format!("{fix}; \"pasted-\" + {n}")).unwrap();
        let before = repl.exp_string(&format!("pasted-{n}")).unwrap();
        assert!(!before.contains("error"), "{fix}\n{before}");
    }
    repl.send_line(":quit").unwrap();
    emu.runbook().runbook("runbooks/emulator_scheduler.rhai", &["emulator=true"]).output().success();
    let again = diagnose(emu, sets);
    assert_eq!(again.with("FAIL"), Vec::<&str>::new(), "{}", again.stdout);
    assert_eq!(again.code, 0, "{}", again.stdout);
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
fn the_setup_make_demo_leaves_passes_every_check() {
    let (_emu, d) = diagnose_after("", &[]);
    assert_eq!(d.with("PASS").len(), 11, "{}", d.stdout);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert!(d.stdout.contains("All 11 checks passed."), "{}", d.stdout);
}

#[test]
fn task_security_groups_without_ingress_from_the_load_balancer() {
    // The tasks in the VPC's default group, which admits only itself.
    let (emu, d) = diagnose_after(
        r#"
let default_sg = ec2::describe_security_groups(#{ Filters: [#{ Name: "group-name", Values: ["default"] }, #{ Name: "vpc-id", Values: [lb.VpcId] }] }).SecurityGroups[0].GroupId;
let net = ecs::describe_services(#{ cluster: cluster, services: [service] }).services[0].networkConfiguration;
net.awsvpcConfiguration.securityGroups = [default_sg];
ecs::update_service(#{ cluster: cluster, service: service, networkConfiguration: net });
"#,
        &[],
    );
    names_only(&d, "task ingress");
    assert!(d.stdout.contains("fix: ec2::authorize_security_group_ingress(#{ GroupId: \"sg-"), "{}", d.stdout);
    assert!(d.stdout.contains("UserIdGroupPairs: [#{ GroupId: \"sg-"), "{}", d.stdout);
    fixed_by_pasting(&emu, &d, &[]);
}

/// A task definition whose container maps another port than the one the service registers.
const REVISION_ON_8080: &str = r#"
let td = ecs::describe_task_definition(#{ taskDefinition: "rent-a-room" }).taskDefinition;
let c = td.containerDefinitions[0];
c.portMappings = [#{ containerPort: 8080, protocol: "tcp" }];
ecs::register_task_definition(#{ family: td.family, networkMode: td.networkMode, requiresCompatibilities: td.requiresCompatibilities, cpu: td.cpu, memory: td.memory, containerDefinitions: [c] });
"#;

#[test]
fn a_container_that_does_not_map_the_port_the_service_registers() {
    let breakage = format!(
        "{REVISION_ON_8080}ecs::update_service(#{{ cluster: cluster, service: service, taskDefinition: \"rent-a-room\" }});"
    );
    let (emu, d) = diagnose_after(&breakage, &[]);
    names_only(&d, "container port");
    assert!(
        d.stdout.contains("container rent-a-room maps [8080]; rent-a-room-service registers port 80"),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("fix: ecs::register_task_definition(#{ containerDefinitions: [#{ "), "{}", d.stdout);
    fixed_by_pasting(&emu, &d, &[]);
}

/// ECS registers the container port, not the target group's: a container on 8080 that the service
/// registers on 8080 is right, and the tasks' group must admit 8080.
#[test]
fn a_container_on_another_port_than_the_target_groups_needs_that_port_open() {
    let breakage = format!(
        "{REVISION_ON_8080}ecs::update_service(#{{ cluster: cluster, service: service, taskDefinition: \"rent-a-room\",
    loadBalancers: [#{{ targetGroupArn: tg.TargetGroupArn, containerName: \"rent-a-room\", containerPort: 8080 }}] }});"
    );
    let (emu, d) = diagnose_after(&breakage, &[]);
    names_only(&d, "task ingress");
    assert!(
        d.stdout.contains("PASS  container port          container rent-a-room maps 8080, which rent-a-room-service registers (rent-a-room-tg's own port 80 is only its default)"),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("do not admit tcp/8080 from rent-a-room-alb's group"), "{}", d.stdout);
    assert!(d.stdout.contains("FromPort: 8080, ToPort: 8080, UserIdGroupPairs"), "{}", d.stdout);
    fixed_by_pasting(&emu, &d, &[]);
}

#[test]
fn the_load_balancers_group_without_the_listener_port() {
    let (emu, d) = diagnose_after(
        r#"
ec2::revoke_security_group_ingress(#{ GroupId: lb.SecurityGroups[0],
    IpPermissions: [#{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: "0.0.0.0/0" }] }] });
"#,
        &[],
    );
    names_only(&d, "load balancer ingress");
    fixed_by_pasting(&emu, &d, &[]);
}

#[test]
fn a_target_group_in_another_vpc() {
    let (emu, d) = diagnose_after(
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
        &["target_group=other-vpc-tg"],
    );
    names_only(&d, "one VPC");
    assert!(d.stdout.contains("other-vpc-tg is in vpc-"), "{}", d.stdout);
    // The fix makes a target group in the load balancer's VPC and moves the service and the listener
    // to it: diagnose is pointed at that one.
    let fix = d.stdout.lines().find_map(|l| l.strip_prefix("      fix: ")).unwrap();
    let name = fix.split("Name: \"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
    assert!(name.starts_with("other-vpc-tg-"), "{fix}");
    fixed_by_pasting(&emu, &d, &[&format!("target_group={name}")]);
}

#[test]
fn a_listener_that_forwards_elsewhere() {
    let (emu, d) = diagnose_after(
        r#"
let elsewhere = elbv2::create_target_group(#{ Name: "elsewhere-tg", Protocol: "HTTP", Port: 80, VpcId: tg.VpcId, TargetType: "ip" }).TargetGroups[0];
elbv2::modify_listener(#{ ListenerArn: listener.ListenerArn, DefaultActions: [#{ Type: "forward", TargetGroupArn: elsewhere.TargetGroupArn }] });
"#,
        &[],
    );
    names_only(&d, "listener");
    assert!(d.stdout.contains("fix: elbv2::modify_listener(#{ ListenerArn: \"arn:"), "{}", d.stdout);
    fixed_by_pasting(&emu, &d, &[]);
}

#[test]
fn a_service_without_the_load_balancer() {
    let (emu, d) =
        diagnose_after(r#"ecs::update_service(#{ cluster: cluster, service: service, loadBalancers: [] });"#, &[]);
    names_only(&d, "service load balancer");
    assert!(d.stdout.contains("rent-a-room-service does not register its tasks with rent-a-room-tg"), "{}", d.stdout);
    fixed_by_pasting(&emu, &d, &[]);
}

#[test]
fn no_registered_targets() {
    let (emu, d) = diagnose_after(
        r#"
let targets = elbv2::describe_target_health(#{ TargetGroupArn: tg.TargetGroupArn }).query("TargetHealthDescriptions[*].Target");
elbv2::deregister_targets(#{ TargetGroupArn: tg.TargetGroupArn, Targets: targets });
"#,
        &[],
    );
    names_only(&d, "targets");
    fixed_by_pasting(&emu, &d, &[]);
}
