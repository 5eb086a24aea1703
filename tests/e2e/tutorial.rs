//! The tutorial's runbooks: every resource with the tutorial's settings, re-runs that change
//! nothing, parameters, and teardown.

use runbook_tests::{Clients, Emulator, SERVICE_RESOURCE};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// Counts of everything the tutorial creates, by name, as the emulator reports them.
#[derive(Debug, PartialEq)]
struct Census {
    target_groups: usize,
    security_groups: usize,
    ingress_rules: usize,
    load_balancers: usize,
    listeners: usize,
    services: usize,
    task_definitions: usize,
    clusters: usize,
    scalable_targets: usize,
    policies: usize,
}

fn census(c: &Clients) -> Census {
    let vpc = c.default_vpc();
    let tgs = c.block_on(c.elbv2.describe_target_groups().send()).unwrap();
    let target_groups = tgs.target_groups().iter().filter(|t| t.target_group_name() == Some("rent-a-room-tg")).count();
    let named: Vec<_> = c
        .security_groups("vpc-id", &vpc)
        .into_iter()
        .filter(|g| matches!(g.group_name(), Some("rent-a-room-alb-sg" | "rent-a-room-task-sg")))
        .collect();
    let ingress_rules = named.iter().flat_map(|g| g.ip_permissions()).map(|p| p.ip_ranges().len()).sum();
    let lbs = c.block_on(c.elbv2.describe_load_balancers().send()).unwrap();
    let lbs: Vec<_> =
        lbs.load_balancers().iter().filter(|l| l.load_balancer_name() == Some("rent-a-room-alb")).collect();
    let listeners = lbs.iter().map(|lb| c.listeners(lb.load_balancer_arn().unwrap()).len()).sum();
    let clusters = c.block_on(c.ecs.describe_clusters().clusters("rent-a-room-cluster").send()).unwrap();
    let clusters = clusters.clusters().iter().filter(|c| c.status() == Some("ACTIVE")).count();
    let services = if clusters > 0 {
        usize::from(c.service("rent-a-room-cluster", "rent-a-room-service").status() == Some("ACTIVE"))
    } else {
        0
    };
    let tds = c
        .block_on(
            c.ecs
                .list_task_definitions()
                .family_prefix("rent-a-room")
                .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                .send(),
        )
        .unwrap();
    Census {
        target_groups,
        security_groups: named.len(),
        ingress_rules,
        load_balancers: lbs.len(),
        listeners,
        services,
        task_definitions: tds.task_definition_arns().len(),
        clusters,
        scalable_targets: c.scalable_targets(SERVICE_RESOURCE).len(),
        policies: c.scaling_policies(SERVICE_RESOURCE).len(),
    }
}

/// One of each, but two security groups with a rule each: the load balancer's and the tasks'.
const ONE_OF_EACH: Census = Census {
    target_groups: 1,
    security_groups: 2,
    ingress_rules: 2,
    load_balancers: 1,
    listeners: 1,
    services: 1,
    task_definitions: 1,
    clusters: 1,
    scalable_targets: 1,
    policies: 1,
};

const NOTHING: Census = Census {
    target_groups: 0,
    security_groups: 0,
    ingress_rules: 0,
    load_balancers: 0,
    listeners: 0,
    services: 0,
    task_definitions: 0,
    clusters: 0,
    scalable_targets: 0,
    policies: 0,
};

#[test]
fn tutorial_builds_every_resource_with_the_tutorials_settings() {
    let emu = Emulator::start();
    let out = emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let c = emu.clients();
    let vpc = c.default_vpc();

    let tg = c.target_group("rent-a-room-tg");
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.port(), Some(80));
    assert_eq!(tg.vpc_id(), Some(vpc.as_str()));
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.health_check_path(), Some("/"));
    assert_eq!(tg.health_check_interval_seconds(), Some(30));
    assert_eq!(tg.health_check_timeout_seconds(), Some(5));
    assert_eq!(tg.healthy_threshold_count(), Some(2));
    assert_eq!(tg.unhealthy_threshold_count(), Some(2));
    let tg_arn = tg.target_group_arn().unwrap().to_string();

    let sg = &c.security_groups("group-name", "rent-a-room-alb-sg")[0];
    assert_eq!(sg.vpc_id(), Some(vpc.as_str()));
    assert_eq!(sg.description(), Some("Security group for Rent-A-Room ALB"));
    let name_tag = sg.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value());
    assert_eq!(name_tag, Some("rent-a-room-alb-sg"), "ec2_tags named the group");
    let rule = &sg.ip_permissions()[0];
    assert_eq!((rule.ip_protocol(), rule.from_port(), rule.to_port()), (Some("tcp"), Some(80), Some(80)));
    assert_eq!(rule.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));

    let subnets = c.default_subnets();
    let lb = c.load_balancer("rent-a-room-alb");
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.r#type().map(|s| s.as_str()), Some("application"));
    assert_eq!(lb.security_groups(), [sg.group_id().unwrap().to_string()]);
    assert_eq!(lb.availability_zones().len(), subnets.len(), "the ALB spans every default-VPC subnet");
    let dns = lb.dns_name().unwrap();
    assert!(out.stdout.contains(&format!("Your application is available at: http://{dns}\n")), "{}", out.stdout);

    let listeners = c.listeners(lb.load_balancer_arn().unwrap());
    let l = &listeners[0];
    assert_eq!((l.protocol().map(|p| p.as_str()), l.port()), (Some("HTTP"), Some(80)));
    let action = &l.default_actions()[0];
    assert_eq!(action.r#type().map(|t| t.as_str()), Some("forward"));
    assert_eq!(action.target_group_arn(), Some(tg_arn.as_str()));

    let svc = c.service("rent-a-room-cluster", "rent-a-room-service");
    assert_eq!(svc.desired_count(), 3);
    let attached = &svc.load_balancers()[0];
    assert_eq!(attached.target_group_arn(), Some(tg_arn.as_str()));
    assert_eq!(attached.container_name(), Some("rent-a-room"));
    assert_eq!(attached.container_port(), Some(80));

    assert_eq!(c.ecs_service_linked_roles(), 1, "the ECS service-linked role exists");

    let t = &c.scalable_targets(SERVICE_RESOURCE)[0];
    assert_eq!((t.min_capacity(), t.max_capacity()), (1, 5));
    assert_eq!(t.scalable_dimension().as_str(), "ecs:service:DesiredCount");
    let p = &c.scaling_policies(SERVICE_RESOURCE)[0];
    assert_eq!(p.policy_name(), "cpu-scaling-policy");
    assert_eq!(p.policy_type().as_str(), "TargetTrackingScaling");
    let cfg = p.target_tracking_scaling_policy_configuration().unwrap();
    assert_eq!(cfg.target_value(), 70.0);
    assert_eq!(
        cfg.predefined_metric_specification().map(|m| m.predefined_metric_type().as_str()),
        Some("ECSServiceAverageCPUUtilization")
    );

    // The verify step's tables: three running tasks with IPs, each a healthy target.
    let health = c.block_on(c.elbv2.describe_target_health().target_group_arn(&tg_arn).send()).unwrap();
    let healthy: Vec<&str> = health.target_health_descriptions().iter().filter_map(|d| d.target()?.id()).collect();
    assert_eq!(healthy.len(), 3);
    for ip in &healthy {
        assert!(out.stdout.contains(&format!("|  {ip} ")), "task IP {ip} in the tables:\n{}", out.stdout);
    }
    for table in ["DescribeServices", "ListTasks", "DescribeTasks", "DescribeTargetHealth"] {
        assert!(out.stdout.contains(table), "{table} table:\n{}", out.stdout);
    }
    assert_eq!(census(&c), ONE_OF_EACH);
}

#[test]
fn a_second_run_leaves_exactly_one_of_each_resource() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let c = emu.clients();
    let first_tg = c.target_group("rent-a-room-tg");
    let again = emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    assert!(again.stderr.contains("security group rent-a-room-alb-sg already exists"), "{}", again.stderr);
    assert_eq!(census(&c), ONE_OF_EACH);
    assert_eq!(first_tg.target_group_arn(), c.target_group("rent-a-room-tg").target_group_arn());
}

#[test]
fn teardown_removes_everything_and_is_harmless_on_a_clean_account() {
    let emu = Emulator::start();
    let c = emu.clients();
    let clean = emu.runbook().runbook("runbooks/teardown.rhai", &[]).output().success();
    assert!(clean.stdout.contains("Teardown complete."));
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    assert_eq!(census(&c), ONE_OF_EACH);
    emu.runbook().runbook("runbooks/teardown.rhai", &[]).output().success();
    assert_eq!(census(&c), NOTHING);
    emu.runbook().runbook("runbooks/teardown.rhai", &[]).output().success();
    assert_eq!(census(&c), NOTHING);
}

#[test]
fn parameters_customize_a_step_without_editing_it() {
    let emu = Emulator::start();
    let sets = ["tg_name=api-tg", "tg_port=8080", "health_check_path=/health", "healthy_threshold=3"];
    emu.runbook().runbook("runbooks/create_tg.rhai", &sets).output().success();
    let c = emu.clients();
    let tg = c.target_group("api-tg");
    assert_eq!(tg.port(), Some(8080));
    assert_eq!(tg.health_check_path(), Some("/health"));
    assert_eq!(tg.healthy_threshold_count(), Some(3));
    assert_eq!(tg.health_check_interval_seconds(), Some(30), "unset parameters keep the tutorial's values");

    // Re-running with a changed health check converges the existing group instead of failing.
    let sets = ["tg_name=api-tg", "tg_port=8080", "health_check_path=/ready"];
    emu.runbook().runbook("runbooks/create_tg.rhai", &sets).output().success();
    let tg = c.block_on(c.elbv2.describe_target_groups().names("api-tg").send()).unwrap();
    assert_eq!(tg.target_groups().len(), 1);
    assert_eq!(tg.target_groups()[0].health_check_path(), Some("/ready"));

    // What cannot change is refused with a clear message, and nothing is modified.
    let out = emu.runbook().runbook("runbooks/create_tg.rhai", &["tg_name=api-tg", "tg_port=9090"]).output();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("target group api-tg exists as HTTP:8080"), "{}", out.stderr);
    assert_eq!(c.target_group("api-tg").port(), Some(8080));
}

#[test]
fn autoscale_follows_cpu_memory_or_requests_and_updates_its_policy_in_place() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let c = emu.clients();
    let autoscale = |sets: &[&str]| {
        let mut all = vec!["propagation_wait=0"];
        all.extend_from_slice(sets);
        emu.runbook().runbook("runbooks/autoscale.rhai", &all).output()
    };
    let policy = |name: &str| {
        let all = c.scaling_policies(SERVICE_RESOURCE);
        let named: Vec<_> = all.iter().filter(|p| p.policy_name() == name).cloned().collect();
        assert_eq!(named.len(), 1, "one policy {name}: {all:?}");
        let cfg = named[0].target_tracking_scaling_policy_configuration().unwrap().clone();
        let spec = cfg.predefined_metric_specification().unwrap().clone();
        (spec.predefined_metric_type().as_str().to_string(), spec.resource_label().map(str::to_string), cfg)
    };

    // CPU, as the tutorial, with another target: the same policy, changed in place.
    autoscale(&["target_cpu=50"]).success();
    let (kind, _, cfg) = policy("cpu-scaling-policy");
    assert_eq!((kind.as_str(), cfg.target_value()), ("ECSServiceAverageCPUUtilization", 50.0));
    assert_eq!((cfg.scale_in_cooldown(), cfg.scale_out_cooldown()), (None, None), "AWS's defaults unless given");

    // Memory, with cooldowns.
    autoscale(&["metric=memory", "target_memory=65", "scale_in_cooldown=120", "scale_out_cooldown=30"]).success();
    let (kind, label, cfg) = policy("memory-scaling-policy");
    assert_eq!((kind.as_str(), cfg.target_value(), label), ("ECSServiceAverageMemoryUtilization", 65.0, None));
    assert_eq!((cfg.scale_in_cooldown(), cfg.scale_out_cooldown()), (Some(120), Some(30)));

    // Requests per target, counted at the tutorial's load balancer and target group.
    let out = autoscale(&["metric=requests", "target_requests=800"]).success();
    assert!(
        out.stderr.contains("scaling policy requests-scaling-policy: target 800.0 requests per target per minute"),
        "{}",
        out.stderr
    );
    let lb = c.load_balancer("rent-a-room-alb").load_balancer_arn().unwrap().to_string();
    let tg = c.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let expected = format!("{}/{}", lb.split(":loadbalancer/").nth(1).unwrap(), tg.split(':').nth(5).unwrap());
    assert!(
        expected.starts_with("app/rent-a-room-alb/") && expected.contains("/targetgroup/rent-a-room-tg/"),
        "{expected}"
    );
    let (kind, label, cfg) = policy("requests-scaling-policy");
    assert_eq!(
        (kind.as_str(), cfg.target_value(), label.as_deref()),
        ("ALBRequestCountPerTarget", 800.0, Some(expected.as_str()))
    );
    autoscale(&["metric=requests", "target_requests=900"]).success();
    assert_eq!(policy("requests-scaling-policy").2.target_value(), 900.0);
    assert_eq!(c.scaling_policies(SERVICE_RESOURCE).len(), 3, "one policy per metric");

    let bad = autoscale(&["metric=disk"]);
    assert_eq!(bad.code, 2, "refused before the run: {}", bad.stderr);
    assert!(bad.stderr.contains("parameter metric: \"disk\" is not one of cpu, memory, requests"), "{}", bad.stderr);

    // Teardown removes every metric's policy.
    emu.runbook().runbook("runbooks/teardown.rhai", &[]).output().success();
    assert!(c.scaling_policies(SERVICE_RESOURCE).is_empty());
}

#[test]
fn a_rollout_moves_the_targets_to_new_ips_behind_the_same_dns_name() {
    // The emulator completes a deployment once its tasks run (as ECS does when they are healthy).
    let emu = Emulator::start_with(&[("MOTO_ECS_SERVICE_RUNNING", "1")]);
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let c = emu.clients();
    let tg = c.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let targets = || {
        let out = c.block_on(c.elbv2.describe_target_health().target_group_arn(&tg).send()).unwrap();
        let mut found: Vec<(String, String)> = out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let state =
                    d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default();
                (d.target().and_then(|t| t.id()).unwrap_or_default().to_string(), state)
            })
            .collect();
        found.sort();
        found
    };
    let before = targets();
    assert_eq!(before.len(), 3, "{before:?}");
    let dns = c.load_balancer("rent-a-room-alb").dns_name().unwrap().to_string();

    let out = emu.runbook().runbook("runbooks/rollout.rhai", &["emulator=true"]).output().success();
    let after = targets();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(after.iter().all(|(_, state)| state == "healthy"), "{after:?}");
    for (ip, _) in &before {
        assert!(!after.iter().any(|(a, _)| a == ip), "old IP {ip} is out: {after:?}");
        assert!(out.stdout.contains(ip), "{ip} listed as deregistered: {}", out.stdout);
    }
    // The new targets are the running tasks' IPs.
    let cluster = "rent-a-room-cluster";
    let running = aws_sdk_ecs::types::DesiredStatus::Running;
    let tasks = c
        .block_on(
            c.ecs.list_tasks().cluster(cluster).service_name("rent-a-room-service").desired_status(running).send(),
        )
        .unwrap();
    let described =
        c.block_on(c.ecs.describe_tasks().cluster(cluster).set_tasks(Some(tasks.task_arns().to_vec())).send()).unwrap();
    let mut ips: Vec<String> = described
        .tasks()
        .iter()
        .flat_map(|t| t.attachments().iter().flat_map(|a| a.details().iter()))
        .filter(|d| d.name() == Some("privateIPv4Address"))
        .filter_map(|d| d.value().map(str::to_string))
        .collect();
    ips.sort();
    assert_eq!(ips, after.iter().map(|(ip, _)| ip.clone()).collect::<Vec<_>>());
    assert_eq!(c.load_balancer("rent-a-room-alb").dns_name(), Some(dns.as_str()));
    assert!(
        out.stdout.contains(&format!("3 registered, 3 deregistered; clients still use http://{dns}")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("deregistered (drains up to 300 s)"), "{}", out.stdout);
    assert!(out.stderr.contains("ecs::wait_deployment_complete: done after"), "{}", out.stderr);
}

/// What a user gets from `make demo`: the emulator as `tests/emulator/with-emulator.sh` starts it, the
/// tutorial, then `diagnose.rhai`, which passes every check (the tasks' group admits their port, as
/// the earlier chapters left it), and `rollout.rhai`, which finishes.
#[test]
fn on_the_demos_emulator_diagnose_passes_and_a_rollout_finishes() {
    let root = runbook_tests::root();
    let journal = std::env::temp_dir().join(format!("runbook-demo-journal-{}", std::process::id()));
    let rb = runbook_tests::runbook_bin();
    let rb = rb.to_string_lossy();
    let script = format!(
        "set -e; {rb} run runbooks/tutorial.rhai --set emulator=true --set propagation_wait=0 >/dev/null; \
         {rb} run runbooks/diagnose.rhai; {rb} run runbooks/rollout.rhai --set emulator=true"
    );
    let out = std::process::Command::new(root.join("tests/emulator/with-emulator.sh"))
        .args(["bash", "-c", &script])
        .current_dir(&root)
        .env("RUNBOOK_JOURNAL_DIR", &journal)
        .env_remove("MOTO_ECS_SERVICE_RUNNING")
        .env_remove("MOTO_ACM_VALIDATION_WAIT")
        .output()
        .expect("run tests/emulator/with-emulator.sh");
    let _ = std::fs::remove_dir_all(&journal);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("All 11 checks passed."), "{stdout}");
    assert!(stdout.contains("PASS  task ingress"), "{stdout}");
    assert!(stdout.contains("3 registered, 3 deregistered; clients still use http://"), "{stdout}\n{stderr}");
}
