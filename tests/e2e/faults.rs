//! Faults between runbook and AWS: throttling, server errors, cut connections and delays, injected by
//! the test proxy; retry settings; a per-call timeout; and signals in the middle of a call.

use runbook_tests::proxy::{faulty, throttled, Action, Proxy, Request};
use runbook_tests::Emulator;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// A proxy rule: `action` for the first request of each of `operations`, the others forwarded.
fn first_of(operations: &'static [&'static str], action: Action) -> impl Fn(&Request) -> Action + Send + Sync {
    let seen = std::sync::Mutex::new(Vec::new());
    move |r| {
        let op = r.operation();
        let mut seen = seen.lock().unwrap();
        if operations.contains(&op.as_str()) && !seen.contains(&op) {
            seen.push(op);
            return action.clone();
        }
        Action::Forward
    }
}

/// The emulator's state after the tutorial ran undisturbed, on an emulator of its own.
fn clean_tutorial_state() -> Vec<String> {
    let clean = Emulator::start();
    clean.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    clean.clients().state()
}

/// What one seeded run through the fault mix did.
struct Faulted {
    problem: Option<String>,
    requests: u64,
    failed_before: u64,
    dropped_after: u64,
    reconciled: usize,
}

fn tutorial_through_faults(seed: u64, expected: &[String]) -> Faulted {
    let emu = Emulator::start();
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let proxy = Proxy::start(&emu.url, faulty(seed, 20, 5, counts.clone()));
    // Default retry settings: no flags.
    let out = emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url).runbook("runbooks/tutorial.rhai", FAST).output();
    let mut problem = None;
    if out.code != 0 {
        problem = Some(format!("seed {seed}: exit {}\n{}", out.code, out.stderr));
    } else {
        let state = emu.clients().state();
        if state != expected {
            let extra: Vec<_> = state.iter().filter(|s| !expected.contains(s)).collect();
            let missing: Vec<_> = expected.iter().filter(|s| !state.contains(s)).collect();
            problem = Some(format!("seed {seed}: extra {extra:?}, missing {missing:?}\n{}", out.stderr));
        }
    }
    let reconciled = emu.last_journal().iter().filter(|r| r["reconciled"].is_object()).count();
    Faulted {
        problem,
        requests: proxy.seen().len() as u64,
        failed_before: counts.0.load(Ordering::SeqCst),
        dropped_after: counts.1.load(Ordering::SeqCst),
        reconciled,
    }
}

#[test]
fn the_tutorial_through_failed_requests_and_lost_answers_ends_in_the_undisturbed_state_on_every_seed() {
    let expected = clean_tutorial_state();
    let seeds: Vec<u64> = (1..=10).collect();
    let runs: Vec<Faulted> = std::thread::scope(|s| {
        let handles: Vec<_> = seeds
            .chunks(2)
            .map(|pair| {
                let expected = &expected;
                s.spawn(move || pair.iter().map(|&seed| tutorial_through_faults(seed, expected)).collect::<Vec<_>>())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let problems: Vec<&String> = runs.iter().filter_map(|r| r.problem.as_ref()).collect();
    assert!(
        problems.is_empty(),
        "{} of 10 seeds failed:\n{}",
        problems.len(),
        problems.iter().map(|p| p.as_str()).collect::<Vec<_>>().join("\n\n")
    );
    let requests: u64 = runs.iter().map(|r| r.requests).sum();
    let before: u64 = runs.iter().map(|r| r.failed_before).sum();
    let after: u64 = runs.iter().map(|r| r.dropped_after).sum();
    assert!(before * 100 >= requests * 15, "requests failed before forwarding: {before} of {requests}");
    assert!(after * 100 >= requests * 3, "answers dropped after forwarding: {after} of {requests}");
    assert!(runs.iter().map(|r| r.reconciled).sum::<usize>() > 0, "no write was reconciled over 10 seeds");
}

#[test]
fn max_attempts_from_the_flag_and_from_the_environment_bound_the_retries() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.url, throttled);
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(["run", "runbooks/verify.rhai", "--max-attempts", "2"])
        .output();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("ThrottlingException: Rate exceeded"), "{}", out.stderr);
    assert_eq!(proxy.seen().len(), 2, "two attempts of the first call");

    let proxy = Proxy::start(&emu.url, throttled);
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .env("AWS_MAX_ATTEMPTS", "4")
        .args(["run", "runbooks/verify.rhai"])
        .output();
    assert_eq!(out.code, 1);
    assert_eq!(proxy.seen().len(), 4, "AWS_MAX_ATTEMPTS=4");

    let bad = emu.runbook().args(["run", "runbooks/verify.rhai", "--retry-mode", "eager"]).output();
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid value 'eager' for '--retry-mode <MODE>'"), "{}", bad.stderr);
}

#[test]
fn a_hung_call_fails_after_the_call_timeout() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.url, |_| Action::Stall);
    let started = Instant::now();
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(["run", "runbooks/verify.rhai", "--call-timeout", "1.5", "--max-attempts", "1"])
        .output();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(&format!(
            "ecs::DescribeServices: CallTimeout: {} did not answer within 1.5 s (--call-timeout, per attempt); 1 attempt\n",
            proxy.url
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("runbooks/verify.rhai:8:"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Starts the tutorial through a proxy that holds CreateLoadBalancer's answer, waits for it, and
/// sends `signal`; returns the exit code and stderr.
fn interrupt_at_create_load_balancer(emu: &Emulator, signal: &str) -> (i32, String) {
    let (_proxy, child) = emu.tutorial_stalled_at("CreateLoadBalancer");
    let sent = Instant::now();
    let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(sent.elapsed() < Duration::from_secs(5), "stopped promptly");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn sigint_and_sigterm_stop_the_call_in_flight_and_a_rerun_completes() {
    let expected = clean_tutorial_state();

    let emu = Emulator::start();
    let (code, stderr) = interrupt_at_create_load_balancer(&emu, "-INT");
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("  outcome unknown: elbv2::create_load_balancer (runbooks/attach_alb.rhai:48)"),
        "{stderr}"
    );
    assert!(stderr.contains("error: interrupted during elbv2::CreateLoadBalancer"), "{stderr}");
    let records = emu.last_journal();
    let end = records.last().unwrap();
    assert_eq!((end["type"].as_str(), end["outcome"].as_str()), (Some("end"), Some("interrupted")));
    let outcome = &records[records.len() - 2];
    assert_eq!((outcome["unknown"].as_bool(), outcome["error"]["code"].as_str()), (Some(true), Some("Interrupted")));

    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    assert_eq!(emu.clients().state(), expected);

    let emu = Emulator::start();
    let (code, stderr) = interrupt_at_create_load_balancer(&emu, "-TERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("error: interrupted during elbv2::CreateLoadBalancer"), "{stderr}");
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    assert_eq!(emu.clients().state(), expected);
}

#[test]
fn an_answer_later_than_the_call_timeout_is_reconciled_not_sent_twice() {
    let expected = clean_tutorial_state();
    let emu = Emulator::start();
    // The first request of each of these three writes answers after the client stopped waiting.
    let late = Action::Late(Duration::from_millis(2500));
    let proxy = Proxy::start(
        &emu.url,
        first_of(&["CreateSecurityGroup", "CreateLoadBalancer", "RegisterTaskDefinition"], late),
    );
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .runbook("runbooks/tutorial.rhai", FAST)
        .args(["--call-timeout", "1"])
        .output()
        .success();
    assert_eq!(emu.clients().state(), expected);
    let reconciled: Vec<String> =
        emu.last_journal().iter().filter(|r| r["reconciled"].is_object()).map(|r| r["seq"].to_string()).collect();
    assert_eq!(reconciled.len(), 3, "{reconciled:?}\n{}", out.stderr);
    assert!(
        out.stderr.contains("[reconcile] ec2::create_security_group: an attempt's answer was lost, and it had done the write: found sg-"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.lines().any(|l| l.starts_with("  reconciled: elbv2::create_load_balancer (")
            && l.contains("runbooks/attach_alb.rhai:48): its answer was lost; found arn:aws:elasticloadbalancing:")),
        "{}",
        out.stderr
    );
    let id = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let show = emu.runbook().args(["show", &id]).output().success();
    assert!(show.stdout.contains("        reconciled: 1 answer(s) lost, then found sg-"), "{}", show.stdout);
    let sent = proxy.forwarded();
    // Two groups are created (the tasks' and the load balancer's), each once; the late one is the first.
    for (op, times) in [("CreateSecurityGroup", 2), ("CreateLoadBalancer", 1), ("RegisterTaskDefinition", 1)] {
        assert_eq!(sent.iter().filter(|o| *o == op).count(), times, "{op} was sent {times} time(s): {sent:?}");
    }
}

#[test]
fn a_duplicate_without_a_lost_attempt_is_still_the_scripts_error() {
    let emu = Emulator::start();
    let file = runbook_tests::script(
        "twice.rhai",
        "let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n\
         ec2::create_security_group(#{ GroupName: \"twice\", Description: \"d\", VpcId: vpc });\n\
         ec2::create_security_group(#{ GroupName: \"twice\", Description: \"d\", VpcId: vpc });\n",
    );
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("InvalidGroup.Duplicate"), "{}", out.stderr);
    assert!(!out.stderr.contains("[reconcile]"), "{}", out.stderr);
    assert_eq!(emu.clients().security_groups("group-name", "twice").len(), 1);
}

#[test]
fn an_endpoint_that_refuses_connections_fails_within_seconds_with_default_settings() {
    let file = runbook_tests::script("refused.rhai", "ec2::describe_vpcs();\n");
    let started = Instant::now();
    let out = runbook_tests::Run::new()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["run", file.to_str().unwrap()])
        .output();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(
            "error: ec2::DescribeVpcs: ConnectionRefused: could not connect to http://127.0.0.1:9: the connection was refused (3 attempts)\n"
        ),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn lost_answers_of_creates_without_a_name_are_found_by_the_run_tag() {
    let emu = Emulator::start();
    // The first answer of each of these creates is dropped after the emulator made the resource.
    let proxy =
        Proxy::start(&emu.url, first_of(&["CreateVpc", "CreateSubnet", "CreateRouteTable"], Action::DropAnswer));
    let file = runbook_tests::script(
        "lab.rhai",
        r#"let vpc = ec2::create_vpc(#{ CidrBlock: "10.9.0.0/16",
    TagSpecifications: [#{ ResourceType: "vpc", Tags: [#{ Key: "Name", Value: "lab-lost" }] }] }).Vpc.VpcId;
let a = ec2::create_subnet(#{ VpcId: vpc, CidrBlock: "10.9.1.0/24" }).Subnet.SubnetId;
let b = ec2::create_subnet(#{ VpcId: vpc, CidrBlock: "10.9.2.0/24" }).Subnet.SubnetId;
let rt = ec2::create_route_table(#{ VpcId: vpc }).RouteTable.RouteTableId;
print(`${vpc} ${a} ${b} ${rt}`);
"#,
    );
    let out =
        emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url).args(["run", file.to_str().unwrap()]).output().success();
    let c = emu.clients();
    let f = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("lab-lost").build();
    let vpcs = c.block_on(c.ec2.describe_vpcs().filters(f).send()).unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "one VPC, not two\n{}", out.stderr);
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_string();
    let by_vpc = || aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&vpc).build();
    let subnets = c.block_on(c.ec2.describe_subnets().filters(by_vpc()).send()).unwrap();
    assert_eq!(subnets.subnets().len(), 2, "{}", out.stderr);
    let tables = c.block_on(c.ec2.describe_route_tables().filters(by_vpc()).send()).unwrap();
    assert_eq!(tables.route_tables().len(), 2, "the main route table and the one created\n{}", out.stderr);
    assert!(out.stdout.starts_with(&format!("{vpc} subnet-")), "the script got the real ids: {}", out.stdout);
    let reconciled = emu.last_journal().iter().filter(|r| r["reconciled"].is_object()).count();
    assert_eq!(reconciled, 3, "{}", out.stderr);

    // Undo removes what the reconciled writes made.
    let id = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    emu.runbook().args(["undo", &id]).output().success();
    let f = aws_sdk_ec2::types::Filter::builder().name("tag:Name").values("lab-lost").build();
    assert!(c.block_on(c.ec2.describe_vpcs().filters(f).send()).unwrap().vpcs().is_empty());
}
