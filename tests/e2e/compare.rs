//! `tutorial.rhai` leaves the same resources as the tutorial's own aws CLI commands: both run against
//! emulators of their own, and the resources are compared field by field (names instead of ARNs and
//! IDs, which differ by construction).

use runbook_tests::{command, root, Clients, Emulator, SERVICE_RESOURCE};
use serde_json::{json, Value};

pub(crate) fn snapshot(c: &Clients) -> Value {
    let default_vpc = c.default_vpc();
    let vpc = |id: Option<&str>| if id == Some(default_vpc.as_str()) { "default VPC" } else { "another VPC" };
    let tg = &c.target_group("rent-a-room-tg");
    let tg_name = |arn: Option<&str>| if arn == tg.target_group_arn() { "rent-a-room-tg" } else { "other" };
    let sg = &c.security_groups("group-name", "rent-a-room-alb-sg")[0];
    let lb = &c.load_balancer("rent-a-room-alb");
    let listeners = c.listeners(lb.load_balancer_arn().unwrap());
    let svc = &c.service("rent-a-room-cluster", "rent-a-room-service");
    let targets = c.scalable_targets(SERVICE_RESOURCE);
    let policies = c.scaling_policies(SERVICE_RESOURCE);
    json!({
        "target_group": {
            "name": tg.target_group_name(), "protocol": tg.protocol().map(|p| p.as_str()), "port": tg.port(),
            "target_type": tg.target_type().map(|t| t.as_str()), "vpc": vpc(tg.vpc_id()),
            "health_check": [tg.health_check_protocol().map(|p| p.as_str()), tg.health_check_port(), tg.health_check_path()],
            "health_numbers": [tg.health_check_interval_seconds(), tg.health_check_timeout_seconds(),
                               tg.healthy_threshold_count(), tg.unhealthy_threshold_count()],
            "matcher": tg.matcher().and_then(|m| m.http_code()),
            "ip_address_type": tg.ip_address_type().map(|t| t.as_str()),
            "load_balancers": tg.load_balancer_arns().len(),
        },
        "security_group": {
            "name": sg.group_name(), "description": sg.description(), "vpc": vpc(sg.vpc_id()),
            "ingress": sg.ip_permissions().iter().map(|p| json!([p.ip_protocol(), p.from_port(), p.to_port(),
                p.ip_ranges().iter().map(|r| r.cidr_ip()).collect::<Vec<_>>()])).collect::<Vec<_>>(),
        },
        "load_balancer": {
            "name": lb.load_balancer_name(), "dns": lb.dns_name(), "vpc": vpc(lb.vpc_id()),
            // The runbook states AWS's default scheme, which the emulator does not fill in.
            "scheme": lb.scheme().map(|s| s.as_str()).unwrap_or("internet-facing"),
            "type": lb.r#type().map(|t| t.as_str()), "state": lb.state().and_then(|s| s.code()).map(|c| c.as_str()),
            "zones": lb.availability_zones().iter().map(|z| z.zone_name()).collect::<Vec<_>>(),
            "security_groups": lb.security_groups().len(),
            "ip_address_type": lb.ip_address_type().map(|t| t.as_str()),
        },
        "listeners": listeners.iter().map(|l| json!({
            "protocol": l.protocol().map(|p| p.as_str()), "port": l.port(),
            "actions": l.default_actions().iter().map(|a| json!([a.r#type().map(|t| t.as_str()), tg_name(a.target_group_arn())])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "service": {
            "desired": svc.desired_count(), "launch_type": svc.launch_type().map(|t| t.as_str()),
            "load_balancers": svc.load_balancers().iter().map(|l| json!([tg_name(l.target_group_arn()), l.container_name(), l.container_port()])).collect::<Vec<_>>(),
        },
        "scalable_targets": targets.iter().map(|t| json!([t.resource_id(), t.scalable_dimension().as_str(), t.min_capacity(), t.max_capacity()])).collect::<Vec<_>>(),
        "policies": policies.iter().map(|p| {
            let cfg = p.target_tracking_scaling_policy_configuration();
            json!([p.policy_name(), p.policy_type().as_str(), cfg.map(|c| c.target_value()),
                   cfg.and_then(|c| c.predefined_metric_specification()).map(|m| m.predefined_metric_type().as_str())])
        }).collect::<Vec<_>>(),
        "service_linked_roles": c.ecs_service_linked_roles(),
    })
}

#[test]
fn the_runbooks_leave_what_the_tutorials_cli_commands_leave() {
    let by_cli = Emulator::start();
    by_cli.runbook().runbook("runbooks/prereqs.rhai", &[]).output().success();
    let venv_bin = root().join(".venv/bin");
    let path = format!(
        "{}:{}:{}",
        runbook_tests::aws_cli_folder().display(),
        venv_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cli = command("bash", &by_cli.url)
        .arg(root().join("tests/emulator/tutorial-cli.sh"))
        .env("PATH", path)
        .env("PROPAGATION_WAIT", "0")
        .output()
        .unwrap();
    assert!(cli.status.success(), "the tutorial's CLI commands failed: {}", String::from_utf8_lossy(&cli.stderr));

    let by_runbook = Emulator::start();
    by_runbook.runbook().runbook("runbooks/tutorial.rhai", &["propagation_wait=0"]).output().success();

    let (a, b) = (snapshot(&by_cli.clients()), snapshot(&by_runbook.clients()));
    assert_eq!(b, a, "runbook (left) vs aws CLI (right)");
}
