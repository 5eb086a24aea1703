//! `runbook drift`: the tutorial run, then hand changes made with the aws CLI (the listener's default
//! action, the health check path, a revoked ingress rule, the desired count, the scaling policy's
//! target value, a deleted target group, a changed Route 53 record). Drift reports each of them,
//! member by member, and nothing else; a re-run of the runbook puts things back and drift then
//! reports in sync. A later run's change is that run's under `--all`; a fleet reports the one place
//! that changed. Drift only reads: the emulator's state is the same before and after it.

use runbook_tests::{Clients, Emulator};
use serde_json::Value;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// `runbook drift ARGS --format json`: its exit code and report.
fn drift(emu: &Emulator, args: &[&str]) -> (i32, Value, String) {
    let out = emu.runbook().args(["drift"]).args(args).args(["--format", "json"]).output();
    let report = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("drift prints JSON ({e})\n--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr));
    (out.code, report, out.stderr)
}

/// The resources of a report whose state is not `in_sync` (nor a task, which ends by itself), as
/// (state, kind, the members that changed).
fn not_in_sync(report: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out: Vec<(String, String, Vec<String>)> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] != "in_sync" && r["kind"] != "task")
        .map(|r| {
            let members =
                r["changes"].as_array().into_iter().flatten().map(|c| c["member"].as_str().unwrap().to_string());
            (r["state"].as_str().unwrap().to_string(), r["kind"].as_str().unwrap().to_string(), members.collect())
        })
        .collect();
    out.sort();
    out
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}")).to_string()
}

/// The aws CLI's words that revoke the tutorial's rule, HTTP from anywhere, on `group`.
fn http_closed(group: &str) -> Vec<&str> {
    let words = ["ec2", "revoke-security-group-ingress", "--group-id", group, "--protocol", "tcp", "--port", "80"];
    [&words[..], &["--cidr", "0.0.0.0/0"][..]].concat()
}

/// By hand: a target group of its own, and the tutorial's listener forwarding to it. Answers the
/// listener's ARN and the group's.
fn forward_by_hand(emu: &Emulator) -> (String, String) {
    let clients = emu.clients();
    let vpc = clients.default_vpc();
    let hand = emu.aws(&[
        "elbv2",
        "create-target-group",
        "--name",
        "hand-tg",
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        &vpc,
        "--target-type",
        "ip",
    ]);
    let hand_tg = text(&hand["TargetGroups"][0]["TargetGroupArn"]);
    let lb = clients.load_balancer("rent-a-room-alb").load_balancer_arn().unwrap().to_string();
    let listener = clients.listeners(&lb)[0].listener_arn().unwrap().to_string();
    let action = format!("Type=forward,TargetGroupArn={hand_tg}");
    emu.aws(&["elbv2", "modify-listener", "--listener-arn", &listener, "--default-actions", &action]);
    (listener, hand_tg)
}

/// The change of `member` of the resource of kind `kind` in a report.
fn change<'a>(report: &'a Value, kind: &str, member: &str) -> &'a Value {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == kind)
        .flat_map(|r| r["changes"].as_array().into_iter().flatten())
        .find(|c| c["member"] == member)
        .unwrap_or_else(|| panic!("a change of {kind} {member} in {report:#}"))
}

#[test]
fn each_hand_change_is_reported_exactly_and_a_rerun_puts_things_back() {
    let emu = Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0"), ("MOTO_ECS_SERVICE_RUNNING", "1")]);
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    let clients = emu.clients();

    // Just after the run: everything in sync, read by the writes' own kinds.
    let (code, report, stderr) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(not_in_sync(&report), [], "{report:#}");
    let kinds: Vec<String> = report["resources"].as_array().unwrap().iter().map(|r| text(&r["kind"])).collect();
    for k in [
        "target group",
        "security group",
        "ingress rules of",
        "load balancer",
        "listener",
        "cluster",
        "service",
        "scalable target",
        "scaling policy",
        "service-linked role",
        "task definition",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} among {kinds:?}");
    }
    assert!(report["fix"].is_null(), "nothing to put back");

    // Hand changes with the aws CLI.
    let tg = clients.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let (listener, hand_tg) = forward_by_hand(&emu);
    emu.aws(&["elbv2", "modify-target-group", "--target-group-arn", &tg, "--health-check-path", "/health"]);
    let alb_sg = clients.security_groups("group-name", "rent-a-room-alb-sg")[0].group_id().unwrap().to_string();
    emu.aws(&http_closed(&alb_sg));
    let desired = clients.service("rent-a-room-cluster", "rent-a-room-service").desired_count();
    emu.aws(&[
        "ecs",
        "update-service",
        "--cluster",
        "rent-a-room-cluster",
        "--service",
        "rent-a-room-service",
        "--desired-count",
        "7",
    ]);
    let resource = "service/rent-a-room-cluster/rent-a-room-service";
    let policy = &clients.scaling_policies(resource)[0];
    let target = policy.target_tracking_scaling_policy_configuration().unwrap().target_value();
    emu.aws(&["application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs", "--resource-id", resource,
              "--scalable-dimension", "ecs:service:DesiredCount", "--policy-name", policy.policy_name(),
              "--policy-type", "TargetTrackingScaling", "--target-tracking-scaling-policy-configuration",
              r#"{"TargetValue": 33.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}"#]);
    let before = clients.state();

    let (code, report, stderr) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}\n{stderr}");
    assert_eq!(
        not_in_sync(&report),
        [
            ("changed".into(), "ingress rules of".into(), vec!["tcp 80-80 from 0.0.0.0/0".into()]),
            ("changed".into(), "listener".into(), vec!["DefaultActions".into()]),
            (
                "changed".into(),
                "scaling policy".into(),
                vec!["TargetTrackingScalingPolicyConfiguration.TargetValue".into()]
            ),
            ("changed".into(), "service".into(), vec!["desiredCount".into()]),
            ("changed".into(), "target group".into(), vec!["HealthCheckPath".into()]),
        ],
        "{report:#}"
    );
    // Each as the run wrote it and as it is now; for a list, what was added and removed.
    let path = change(&report, "target group", "HealthCheckPath");
    assert_eq!((&path["wrote"], &path["now"]), (&Value::from("/"), &Value::from("/health")));
    let count = change(&report, "service", "desiredCount");
    assert_eq!((&count["wrote"], &count["now"]), (&Value::from(desired), &Value::from(7)));
    let value = change(&report, "scaling policy", "TargetTrackingScalingPolicyConfiguration.TargetValue");
    assert_eq!((value["wrote"].as_f64(), value["now"].as_f64()), (Some(target), Some(33.0)));
    let actions = change(&report, "listener", "DefaultActions");
    assert_eq!(actions["removed"][0]["TargetGroupArn"], tg.as_str(), "{actions:#}");
    assert_eq!(actions["added"][0]["TargetGroupArn"], hand_tg.as_str(), "{actions:#}");
    let rule = change(&report, "ingress rules of", "tcp 80-80 from 0.0.0.0/0");
    assert_eq!((&rule["wrote"], &rule["now"]), (&Value::from("allowed"), &Value::Null));
    // The fix: the run's runbook with its parameters, where it ran.
    let fix = text(&report["fix"]);
    assert!(
        fix.starts_with("runbook run ") && fix.contains("tutorial.rhai --set emulator=true --set propagation_wait=0"),
        "{fix}"
    );
    assert!(fix.contains(&format!("--endpoint-url {}", emu.url)), "{fix}");
    // Drift only reads.
    assert_eq!(clients.state(), before, "drift changed nothing");
    // As text: each change on a line of its own, then the fix.
    let out = emu.runbook().args(["drift", &run]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.contains("      HealthCheckPath is now \"/health\", the run set \"/\"\n"), "{}", out.stdout);
    // The count was last set by scale.rhai's update, which the line names.
    let count = format!("      desiredCount is now 7, the run set {desired} (set at ");
    assert!(out.stdout.contains(&count), "{}", out.stdout);
    assert!(out.stdout.contains("scale.rhai:14)\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("  to put it back, run it again (runbooks converge):\n    runbook run "),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains(&format!("runbook: run {run}: 5 changed, ")), "{}", out.stderr);

    // The re-run the report names puts everything back: in sync again.
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let (code, report, stderr) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(not_in_sync(&report), [], "{report:#}");

    // A deleted target group: gone, with what was registered in it.
    emu.aws(&[
        "elbv2",
        "modify-listener",
        "--listener-arn",
        &listener,
        "--default-actions",
        &format!("Type=forward,TargetGroupArn={hand_tg}"),
    ]);
    emu.aws(&["elbv2", "delete-target-group", "--target-group-arn", &tg]);
    // Made moments ago, a group answered "not found" may be one AWS does not know yet: drift waits
    // that out for the propagation window (see the next test), which a deletion by hand this soon
    // would fill. Without the window, it is gone at once.
    let at_once = ["--propagation-timeout", "0"];
    let (code, report, _) = drift(&emu, &[&run, at_once[0], at_once[1]]);
    assert_eq!(code, 2, "{report:#}");
    let gone: Vec<(String, String)> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "gone")
        .map(|r| (text(&r["kind"]), text(&r["id"])))
        .collect();
    assert_eq!(gone, [("target group".to_string(), tg.clone()), ("targets of".to_string(), tg.clone())], "{report:#}");
    // `last` is the newest run that wrote and is not undone: the re-run, which put back only what
    // had changed (the deleted group is no write of its).
    let (code, last, _) = drift(&emu, &["last", at_once[0], at_once[1]]);
    assert_ne!(last["run"], run.as_str());
    assert_eq!(code, 2, "{last:#}");

    // The re-run makes the group anew (and points the listener and the service at it): the first
    // run's group is gone, replaced by the same step of the later run; nothing has drifted.
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let rerun = text(&emu.last_journal()[0]["run"]);
    let (code, report, stderr) = drift(&emu, &[&run, at_once[0], at_once[1]]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let group = report["resources"].as_array().unwrap().iter().find(|r| r["kind"] == "target group").unwrap();
    assert_eq!(group["state"], "made_anew_by_a_later_run", "{report:#}");
    assert_eq!(group["by"], rerun.as_str());
    let new_tg = clients.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    assert_eq!(group["replaced_by"], new_tg.as_str(), "{report:#}");
}

#[test]
fn a_changed_route53_record_is_reported_and_a_rerun_of_domain_puts_it_back() {
    let emu = Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0"), ("MOTO_ECS_SERVICE_RUNNING", "1")]);
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let zone = emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "z1"]);
    let zone = text(&zone["HostedZone"]["Id"]);
    emu.runbook().runbook("examples/domain.rhai", &["domain=shop.example.com"]).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    let (code, report, stderr) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["resources"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["resources"][0]["kind"], "record");

    // By hand, the name now points somewhere else.
    let batch = r#"{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"shop.example.com","Type":"A","TTL":60,"ResourceRecords":[{"Value":"192.0.2.7"}]}}]}"#;
    emu.aws(&["route53", "change-resource-record-sets", "--hosted-zone-id", &zone, "--change-batch", batch]);
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(not_in_sync(&report), [("changed".into(), "record".into(), vec!["AliasTarget".into()])], "{report:#}");
    assert!(text(&report["resources"][0]["id"]).starts_with("shop.example.com. A in "), "{report:#}");
    assert!(text(&report["fix"]).contains("domain.rhai --set domain=shop.example.com"), "{report:#}");

    emu.runbook().runbook("examples/domain.rhai", &["domain=shop.example.com"]).output().success();
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn a_later_runs_change_is_that_runs_under_all() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let first = text(&emu.last_journal()[0]["run"]);
    // A second run switches the listener to the green group.
    emu.runbook().runbook("examples/blue_green.rhai", &["to=rent-a-room-green-tg"]).output().success();
    let second = text(&emu.last_journal()[0]["run"]);

    let (code, report, stderr) = drift(&emu, &["--all"]);
    assert_eq!(code, 0, "a later run's change is no drift: {report:#}\n{stderr}");
    let runs = report["runs"].as_array().unwrap();
    let order: Vec<String> = runs.iter().map(|r| text(&r["run"])).collect();
    assert_eq!(order, [second.clone(), first.clone()], "newest first");
    assert_eq!(not_in_sync(&runs[0]), [], "{report:#}");
    assert_eq!(
        not_in_sync(&runs[1]),
        [("changed_by_a_later_run".into(), "listener".into(), vec!["DefaultActions".into()])],
        "{report:#}"
    );
    assert_eq!(change(&runs[1], "listener", "DefaultActions")["by"], second.as_str());

    // A later run whose write the catalogue cannot read back (set-security-groups) changed the
    // load balancer's groups: its input says so, and the change is that run's.
    let clients = emu.clients();
    let lb = clients.load_balancer("rent-a-room-alb").load_balancer_arn().unwrap().to_string();
    let task_sg = clients.security_groups("group-name", "rent-a-room-task-sg")[0].group_id().unwrap().to_string();
    let set = ["aws", "elbv2", "set-security-groups", "--load-balancer-arn", &lb, "--security-groups", &task_sg];
    emu.runbook().args(set).output().success();
    let third = text(&emu.last_journal()[0]["run"]);
    let (code, report, stderr) = drift(&emu, &[&first]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(change(&report, "load balancer", "SecurityGroups")["by"], third.as_str(), "{report:#}");

    // A hand change after both: drift of both runs, which set it in turn.
    forward_by_hand(&emu);
    let (code, report, _) = drift(&emu, &["--all"]);
    assert_eq!(code, 2, "{report:#}");
    let runs = report["runs"].as_array().unwrap();
    let order: Vec<String> = runs.iter().map(|r| text(&r["run"])).collect();
    assert_eq!(order, [third.clone(), second.clone(), first.clone()], "newest first");
    let listener = vec![("changed".into(), "listener".into(), vec!["DefaultActions".into()])];
    assert_eq!(not_in_sync(&runs[1]), listener, "{report:#}");
    assert_eq!(change(&runs[2], "listener", "DefaultActions")["by"], Value::Null, "{report:#}");

    // Undone, a run is not checked; alone, its drift says it was undone.
    emu.runbook().args(["undo", &second, "--force"]).output().success();
    let (_, report, _) = drift(&emu, &["--all"]);
    let checked: Vec<String> = report["runs"].as_array().unwrap().iter().map(|r| text(&r["run"])).collect();
    assert_eq!(checked, [third, first.clone()], "{report:#}");
    let (code, report, _) = drift(&emu, &[&second]);
    assert_eq!(code, 1, "{report:#}");
    assert!(text(&report["error"]).contains("undone by run"), "{report:#}");
}

#[test]
fn a_fleet_of_two_accounts_and_two_regions_reports_the_one_place_that_changed() {
    let emu = Emulator::start();
    let args = [
        "run",
        "runbooks/tutorial.rhai",
        "--set",
        "emulator=true",
        "--set",
        "propagation_wait=0",
        "--accounts",
        "111111111111,222222222222",
        "--assume-role",
        "runbook",
        "--regions",
        "us-east-1,eu-west-1",
        "--concurrency",
        "4",
    ];
    emu.runbook().args(args).output().success();
    let (code, report, stderr) = drift(&emu, &["last"]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(stderr.contains("4 of 4 targets in sync, 0 drifted, 0 failed"), "{stderr}");

    // One change, in one account and region.
    let there = Clients::in_region(&emu.url, "eu-west-1", Some(("222222222222", "runbook")));
    let tg = there.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    there
        .block_on(there.elbv2.modify_target_group().target_group_arn(&tg).health_check_path("/changed").send())
        .unwrap();
    let (code, report, stderr) = drift(&emu, &["last"]);
    assert_eq!(code, 2, "{report:#}\n{stderr}");
    assert!(stderr.contains("3 of 4 targets in sync, 1 drifted (222222222222/eu-west-1), 0 failed"), "{stderr}");
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4);
    for t in targets {
        let changed = not_in_sync(&t["report"]);
        if t["target"] == "222222222222/eu-west-1" {
            assert_eq!(t["state"], "drifted");
            assert_eq!(changed, [("changed".into(), "target group".into(), vec!["HealthCheckPath".into()])], "{t:#}");
            let r = &t["report"]["resources"].as_array().unwrap().iter().find(|r| r["state"] == "changed").unwrap();
            assert_eq!(r["place"], "222222222222/eu-west-1");
        } else {
            assert_eq!((t["state"].as_str(), changed), (Some("in_sync"), vec![]), "{t:#}");
        }
    }
    // As text, each target's lines behind its label.
    let out = emu.runbook().args(["drift", "last"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stdout.contains("[222222222222/eu-west-1]       HealthCheckPath is now \"/changed\", the run set \"/\""),
        "{}",
        out.stdout
    );
    // That target undone on its own: nothing of it to read, and the rest is in sync.
    let child = targets.iter().find(|t| t["target"] == "222222222222/eu-west-1").unwrap();
    emu.runbook().args(["undo", &text(&child["run"])]).output().success();
    let (code, report, stderr) = drift(&emu, &["last"]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert!(stderr.contains("3 of 4 targets in sync, 0 drifted, 0 failed, 1 undone"), "{stderr}");
    let states: Vec<&str> =
        report["targets"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "undone").count(), 1, "{states:?}");
}

#[test]
fn a_write_made_in_another_region_is_read_back_there() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    emu.runbook().runbook("examples/cross_region.rhai", &[]).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    let (code, report, stderr) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let places: Vec<String> = report["resources"].as_array().unwrap().iter().map(|r| text(&r["place"])).collect();
    assert!(!places.is_empty() && places.iter().all(|p| p.ends_with("/eu-west-1")), "{places:?}");

    // The same group name at home is another group: a change there is none of this run's.
    let home = emu.clients();
    let here = home.security_groups("group-name", "rent-a-room-alb-sg")[0].group_id().unwrap().to_string();
    emu.aws(&[
        "ec2",
        "revoke-security-group-ingress",
        "--group-id",
        &here,
        "--protocol",
        "tcp",
        "--port",
        "80",
        "--cidr",
        "0.0.0.0/0",
    ]);
    assert_eq!(drift(&emu, &[&run]).0, 0);
    let there = Clients::in_region(&emu.url, "eu-west-1", None);
    let standby = there.security_groups("group-name", "rent-a-room-alb-sg")[0].group_id().unwrap().to_string();
    there
        .block_on(
            there
                .ec2
                .revoke_security_group_ingress()
                .group_id(&standby)
                .ip_protocol("tcp")
                .from_port(80)
                .to_port(80)
                .cidr_ip("0.0.0.0/0")
                .send(),
        )
        .unwrap();
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        not_in_sync(&report),
        [("changed".into(), "ingress rules of".into(), vec!["tcp 80-80 from 0.0.0.0/0".into()])]
    );
    let changed = report["resources"].as_array().unwrap().iter().find(|r| r["state"] == "changed").unwrap();
    assert_eq!(changed["id"], standby.as_str());
    assert!(text(&changed["place"]).ends_with("/eu-west-1"), "{changed:#}");
}

#[test]
fn drift_moments_after_a_run_waits_out_what_aws_does_not_know_yet() {
    use runbook_tests::aws_like::{AwsLike, Settings};
    let emu = Emulator::start();
    // AWS answers "not found" about the new target group for a while after its create.
    let like = AwsLike::start(&emu.url, Settings { lag: std::time::Duration::from_secs(8), ..Settings::default() });
    let through = |run: runbook_tests::Run| run.env("AWS_ENDPOINT_URL", like.url());
    through(emu.runbook()).runbook("runbooks/create_tg.rhai", &[]).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    // At once: the read of what the run made is lagged, waited out, and in sync.
    let out = through(emu.runbook()).args(["drift", &run, "--format", "json"]).output();
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    assert_eq!(out.code, 0, "{report:#}\n{}", out.stderr);
    assert_eq!(not_in_sync(&report), [], "{report:#}");
    assert_eq!(report["resources"][0]["kind"], "target group", "{report:#}");
    assert!(like.lagged().iter().any(|op| op == "DescribeTargetGroups"), "{:?}", like.lagged());
    assert!(out.stderr.contains("[retry] elbv2::describe_target_groups: TargetGroupNotFound"), "{}", out.stderr);
}

#[test]
fn a_journal_drift_cannot_read_whole_or_a_wrong_command_exits_1_and_says_why() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &[]).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    let file = emu.journal.join(format!("{run}.jsonl"));
    let whole = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = whole.lines().collect();

    // Killed after its intent: the write may have been done; drift says it cannot know.
    let intent = lines.iter().position(|l| l.contains("\"type\":\"intent\"")).unwrap();
    std::fs::write(&file, lines[..=intent].join("\n") + "\n").unwrap();
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["resources"][0]["state"], "failed", "{report:#}");
    assert!(text(&report["resources"][0]["reason"]).contains("in flight when the run ended"), "{report:#}");

    // A line that is no record: the journal is not read at all.
    let mut damaged = lines.clone();
    damaged.insert(2, "{\"type\": \"outc");
    std::fs::write(&file, damaged.join("\n") + "\n").unwrap();
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 1, "{report:#}");
    assert!(text(&report["error"]).contains("damaged (line 3 not a record)"), "{report:#}");
    std::fs::write(&file, &whole).unwrap();
    assert_eq!(drift(&emu, &[&run]).0, 0);

    // Another region than the run's would read another place.
    let (code, report, _) = drift(&emu, &[&run, "--region", "eu-west-1"]);
    assert_eq!(code, 1, "{report:#}");
    assert!(text(&report["error"]).contains("it ran in us-east-1"), "{report:#}");

    // Mistakes on the command line exit 1, as 2 says that something drifted.
    let mistakes = [
        vec!["drift", "--bogus"],
        vec!["drift", "no-such-run"],
        vec!["drift", "--all", "--journal-dir", "/nonexistent/runs"],
    ];
    for args in mistakes {
        let out = emu.runbook().args(&args).output();
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("error"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn a_rule_added_by_hand_to_a_group_the_run_made_is_reported() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    let sg = emu.clients().security_groups("group-name", "rent-a-room-alb-sg")[0].group_id().unwrap().to_string();
    let ssh = ["--group-id", &sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0"];
    emu.aws(&[&["ec2", "authorize-security-group-ingress"][..], &ssh[..]].concat());
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        not_in_sync(&report),
        [("changed".into(), "ingress rules of".into(), vec!["tcp 22-22 from 0.0.0.0/0".into()])]
    );
    let added = change(&report, "ingress rules of", "tcp 22-22 from 0.0.0.0/0");
    assert_eq!((&added["wrote"], &added["now"]), (&Value::Null, &Value::from("allowed")), "{added:#}");
    // An egress rule by hand is not the runbook's business (AWS gives every group one of its own).
    emu.aws(&[
        "ec2",
        "authorize-security-group-egress",
        "--group-id",
        &sg,
        "--protocol",
        "tcp",
        "--port",
        "5432",
        "--cidr",
        "10.0.0.0/8",
    ]);
    let out = emu.runbook().args(["drift", &run]).output();
    assert!(
        out.stdout.contains("      tcp 22-22 from 0.0.0.0/0 is there now (\"allowed\"), which the run did not set\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("5432"), "{}", out.stdout);
    // Running it again would not take the rule away: the report says how.
    let revoke = format!(
        "running it again does not take away tcp 22-22 from 0.0.0.0/0 on {sg}: runbook aws ec2 \
         revoke-security-group-ingress --group-id {sg} --protocol tcp --port 22 --cidr 0.0.0.0/0"
    );
    assert!(out.stdout.contains(&revoke), "{}", out.stdout);
    let words = revoke.split(": ").nth(1).unwrap().split_whitespace().skip(1).collect::<Vec<_>>();
    emu.runbook().args(&words).output().success();
    assert_eq!(drift(&emu, &[&run]).0, 0);

    // The run's own rule taken away by a later run's revoke: that run's change, not drift.
    emu.runbook().args([&["aws"][..], &http_closed(&sg)[..]].concat()).output().success();
    let revoker = text(&emu.last_journal()[0]["run"]);
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(change(&report, "ingress rules of", "tcp 80-80 from 0.0.0.0/0")["by"], revoker.as_str(), "{report:#}");
}

#[test]
fn the_fix_of_a_lone_aws_write_runs_and_puts_it_back() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &[]).output().success();
    let tg = emu.clients().target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    emu.runbook()
        .args(["aws", "elbv2", "add-tags", "--resource-arns", &tg, "--tags", "Key=team,Value=web shop"])
        .output()
        .success();
    let run = text(&emu.last_journal()[0]["run"]);
    emu.aws(&["elbv2", "add-tags", "--resource-arns", &tg, "--tags", "Key=team,Value=other"]);
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}");
    let team = change(&report, "tags on", "team");
    assert_eq!((&team["wrote"], &team["now"]), (&Value::from("web shop"), &Value::from("other")));
    // Run options before the service, the command's own words (quoted as a shell reads them) after.
    let fix = text(&report["fix"]);
    assert!(fix.starts_with("runbook aws --region us-east-1 --endpoint-url "), "{fix}");
    assert!(fix.ends_with(&format!(" elbv2 add-tags --resource-arns {tg} --tags 'Key=team,Value=web shop'")), "{fix}");
    // As a shell runs it, with the test's credentials and nothing else of its environment.
    let mut shell = std::process::Command::new("bash");
    shell.args(["-c", &fix.replacen("runbook", runbook_tests::runbook_bin().to_str().unwrap(), 1)]);
    shell.env("RUNBOOK_JOURNAL_DIR", &emu.journal).env_remove("AWS_PROFILE").env_remove("AWS_ENDPOINT_URL");
    for (k, v) in runbook_tests::AWS_ENV {
        shell.env(k, v);
    }
    let out = shell.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(drift(&emu, &[&run]).0, 0);
}

#[test]
fn target_group_attributes_are_read_back_by_drift_and_put_back_by_undo() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let tg = emu.clients().target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let attribute = |key: &str| {
        let out = emu.aws(&["elbv2", "describe-target-group-attributes", "--target-group-arn", &tg]);
        let found = out["Attributes"].as_array().unwrap().iter().find(|a| a["Key"] == key).cloned();
        found.map(|a| text(&a["Value"])).unwrap_or_default()
    };
    let delay = attribute("deregistration_delay.timeout_seconds");
    emu.runbook().runbook("examples/stickiness.rhai", &["drain_seconds=45"]).output().success();
    let run = text(&emu.last_journal()[0]["run"]);
    assert_eq!(drift(&emu, &[&run]).0, 0);
    emu.aws(&[
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        &tg,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=99",
    ]);
    let (code, report, _) = drift(&emu, &[&run]);
    assert_eq!(code, 2, "{report:#}");
    let d = change(&report, "attributes of target group", "deregistration_delay.timeout_seconds");
    assert_eq!((&d["wrote"], &d["now"]), (&Value::from("45"), &Value::from("99")), "{report:#}");
    // Undo puts back what the attributes were before the run, but not over a hand's change unless
    // forced.
    let refused = emu.runbook().args(["undo", &run]).output();
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("was changed since this run, by hand or by a run undone since"),
        "{}",
        refused.stdout
    );
    assert_eq!(attribute("deregistration_delay.timeout_seconds"), "99");
    emu.runbook().args(["undo", &run, "--force"]).output().success();
    assert_eq!(attribute("deregistration_delay.timeout_seconds"), delay);
    assert_eq!(attribute("stickiness.enabled"), "false");
}

#[test]
fn undo_of_one_setting_passes_over_later_changes_of_other_settings_and_of_the_attributes() {
    let emu = Emulator::start();
    let create_tg = |sets: &[&str]| {
        emu.runbook().runbook("runbooks/create_tg.rhai", sets).output().success();
        text(&emu.last_journal()[0]["run"])
    };
    let made = create_tg(&[]);
    let path = create_tg(&["health_check_path=/x"]);
    emu.runbook().runbook("examples/stickiness.rhai", &["drain_seconds=45"]).output().success();
    create_tg(&["health_check_path=/x", "health_check_interval=20"]);
    let group = || emu.clients().target_group("rent-a-room-tg");
    assert_eq!((group().health_check_path(), group().health_check_interval_seconds()), (Some("/x"), Some(20)));
    // The later runs set the attributes and the interval, not the path: the path's undo goes on.
    let plan = emu.runbook().args(["undo", &path, "--plan"]).output();
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    emu.runbook().args(["undo", &path]).output().success();
    assert_eq!((group().health_check_path(), group().health_check_interval_seconds()), (Some("/"), Some(20)));

    // Deleted by hand, and another group made under another name at the same runbook line: the
    // first run's group is gone, not made anew.
    let tg = group().target_group_arn().unwrap().to_string();
    emu.aws(&["elbv2", "delete-target-group", "--target-group-arn", &tg]);
    create_tg(&["tg_name=other-tg"]);
    let (code, report, _) = drift(&emu, &[&made, "--propagation-timeout", "0"]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["resources"][0]["state"], "gone", "{report:#}");
    // The undo of a change to a group that is gone finds it gone: nothing to put back.
    let newest = emu.runbook().args(["runs"]).output().success();
    let interval = newest
        .stdout
        .lines()
        .filter(|l| l.contains("create_tg.rhai"))
        .nth(2)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let undo = emu.runbook().args(["undo", &interval, "--propagation-timeout", "0"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert!(undo.stderr.contains("1 already gone"), "{}", undo.stderr);
}

#[test]
fn undo_does_not_remove_a_tag_key_over_a_value_set_since() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &[]).output().success();
    let tg = emu.clients().target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let tag = |value: &str| {
        let pair = format!("Key=env,Value={value}");
        emu.runbook().args(["aws", "elbv2", "add-tags", "--resource-arns", &tg, "--tags", &pair]).output().success();
        text(&emu.last_journal()[0]["run"])
    };
    let env = || {
        let out = emu.aws(&["elbv2", "describe-tags", "--resource-arns", &tg]);
        let tags = out["TagDescriptions"][0]["Tags"].as_array().unwrap().clone();
        tags.iter().find(|t| t["Key"] == "env").map(|t| text(&t["Value"]))
    };
    let first = tag("a");
    let second = tag("b");
    // The first run added the key; the second set it again: undoing the first would take the
    // second's value away.
    let refused = emu.runbook().args(["undo", &first]).output();
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(refused.stdout.contains("not removed tags on"), "{}", refused.stdout);
    assert!(refused.stdout.contains("env is now \"b\", the run set \"a\" since this run"), "{}", refused.stdout);
    assert_eq!(env().as_deref(), Some("b"));
    // Newest first: the second puts back the first's value, then the first removes the key.
    emu.runbook().args(["undo", &second]).output().success();
    assert_eq!(env().as_deref(), Some("a"));
    emu.runbook().args(["undo", &first]).output().success();
    assert_eq!(env(), None);
}

#[test]
fn a_listener_undo_puts_back_only_what_its_run_set_and_holds_back_what_a_left_value_uses() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let clients = emu.clients();
    let lb = clients.load_balancer("rent-a-room-alb").load_balancer_arn().unwrap().to_string();
    let listener = || clients.listeners(&lb)[0].clone();
    let blue = clients.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let forwards = || listener().default_actions()[0].target_group_arn().unwrap_or_default().to_string();
    emu.runbook().runbook("examples/blue_green.rhai", &["to=rent-a-room-green-tg"]).output().success();
    let switch = text(&emu.last_journal()[0]["run"]);
    let arn = listener().listener_arn().unwrap().to_string();
    emu.runbook()
        .args(["aws", "elbv2", "modify-listener", "--listener-arn", &arn, "--port", "8080"])
        .output()
        .success();
    // The later run set the port, the switch the default actions: the switch's undo goes on, and
    // leaves the port.
    let plan = emu.runbook().args(["undo", &switch, "--plan"]).output();
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    emu.runbook().args(["undo", &switch]).output().success();
    assert_eq!((forwards(), listener().port()), (blue.clone(), Some(8080)));
    emu.runbook().args(["aws", "elbv2", "modify-listener", "--listener-arn", &arn, "--port", "80"]).output().success();

    // Switched again, then by hand the listener also sends some traffic to blue: the switch's
    // restore is left (changed since), and the green group it made, which the listener still
    // names, is not removed from under it: the undo is refused, not failed.
    emu.runbook().runbook("examples/blue_green.rhai", &["to=rent-a-room-green-tg"]).output().success();
    let again = text(&emu.last_journal()[0]["run"]);
    let green = forwards();
    let weighted = format!(
        r#"[{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"TargetGroupArn":"{green}","Weight":9}},{{"TargetGroupArn":"{blue}","Weight":1}}]}}}}]"#
    );
    emu.aws(&["elbv2", "modify-listener", "--listener-arn", &arn, "--default-actions", &weighted]);
    let undo = emu.runbook().args(["undo", &again]).output();
    assert_eq!(undo.code, 2, "{}\n{}", undo.stdout, undo.stderr);
    assert!(undo.stdout.contains("whose undo was left, still uses it"), "{}", undo.stdout);
    assert!(undo.stderr.contains(" refused: "), "{}", undo.stderr);
    assert!(clients.target_group("rent-a-room-green-tg").target_group_arn().is_some());
}

#[test]
fn undo_does_not_delete_a_record_a_later_run_set_anew() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let zone = emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "z1"]);
    let zone = text(&zone["HostedZone"]["Id"]);
    emu.runbook().runbook("examples/domain.rhai", &["domain=shop.example.com"]).output().success();
    let alias = text(&emu.last_journal()[0]["run"]);
    let batch = r#"{"Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"shop.example.com","Type":"A","TTL":60,"ResourceRecords":[{"Value":"192.0.2.7"}]}}]}"#;
    let upsert = ["aws", "route53", "change-resource-record-sets", "--hosted-zone-id", &zone, "--change-batch", batch];
    emu.runbook().args(upsert).output().success();
    let later = text(&emu.last_journal()[0]["run"]);
    // Drift: the record as the later run set it is that run's.
    let (code, report, _) = drift(&emu, &[&alias]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["resources"][0]["state"], "changed_by_a_later_run", "{report:#}");
    // Undo of the first run would delete the later run's record: refused.
    let undo = emu.runbook().args(["undo", &alias]).output();
    assert_eq!(undo.code, 2, "{}\n{}", undo.stdout, undo.stderr);
    let sets = emu.aws(&["route53", "list-resource-record-sets", "--hosted-zone-id", &zone]);
    let a = sets["ResourceRecordSets"].as_array().unwrap().iter().find(|r| r["Type"] == "A").cloned().unwrap();
    assert_eq!(a["ResourceRecords"][0]["Value"], "192.0.2.7", "{a:#}");
    // Newest first: the later run's undo puts the alias back, then the first run's removes it.
    emu.runbook().args(["undo", &later]).output().success();
    emu.runbook().args(["undo", &alias]).output().success();
    let sets = emu.aws(&["route53", "list-resource-record-sets", "--hosted-zone-id", &zone]);
    assert!(sets["ResourceRecordSets"].as_array().unwrap().iter().all(|r| r["Type"] != "A"), "{sets:#}");
}
