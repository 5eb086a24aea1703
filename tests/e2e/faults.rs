//! Faults between runbook and AWS: throttling, server errors, cut connections and delays, injected by
//! the test proxy; retry settings; a per-call timeout; and signals in the middle of a call.

use runbook_tests::proxy::{Action, Proxy, Request};
use runbook_tests::Emulator;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// A throttling answer in the request's protocol: JSON (ECS, Application Auto Scaling), EC2's
/// query dialect, or the query protocol of ELBv2 and IAM.
fn throttled(r: &Request) -> Action {
    if r.head.to_ascii_lowercase().contains("x-amz-target:") {
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string();
        return Action::Fail { status: 400, content_type: "application/x-amz-json-1.1", body };
    }
    if String::from_utf8_lossy(&r.body).contains("Version=2016-11-15") {
        let body = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string();
        return Action::Fail { status: 503, content_type: "text/xml", body };
    }
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>injected</RequestId></ErrorResponse>".to_string();
    Action::Fail { status: 400, content_type: "text/xml", body }
}

/// Faults on a fixed pseudo-random share of the requests, cycling through the kinds; `faults`
/// counts them.
fn faulty(rate_percent: u64, faults: Arc<AtomicU64>) -> impl Fn(&Request) -> Action + Send + Sync {
    let state = AtomicU64::new(0x2545_f491_4f6c_dd1d);
    move |r| {
        // xorshift64: the same sequence on every run.
        let mut x = state.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.store(x, Ordering::SeqCst);
        if x % 100 >= rate_percent {
            return Action::Forward;
        }
        match faults.fetch_add(1, Ordering::SeqCst) % 5 {
            0 => throttled(r),
            1 => Action::Fail { status: 500, content_type: "text/plain", body: "injected".into() },
            2 => Action::Fail { status: 503, content_type: "text/plain", body: "injected".into() },
            3 => Action::Cut,
            _ => Action::Delay(Duration::from_millis(300)),
        }
    }
}

/// The emulator's state after the tutorial ran undisturbed, on an emulator of its own.
fn clean_tutorial_state() -> Vec<String> {
    let clean = Emulator::start();
    clean.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    clean.clients().state()
}

#[test]
fn the_tutorial_under_a_fifth_of_requests_failing_ends_in_the_same_state() {
    let expected = clean_tutorial_state();

    let emu = Emulator::start();
    let faults = Arc::new(AtomicU64::new(0));
    let proxy = Proxy::start(&emu.url, faulty(20, faults.clone()));
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .runbook("runbooks/tutorial.rhai", FAST)
        .args(["--max-attempts", "10"])
        .output()
        .success();
    let (seen, injected) = (proxy.seen().len() as u64, faults.load(Ordering::SeqCst));
    assert!(injected * 100 >= seen * 15, "faults injected: {injected} of {seen} requests\n{}", out.stderr);
    assert_eq!(emu.clients().state(), expected);
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
        out.stderr.contains("ecs::DescribeServices: CallTimeout: no answer within 1.5 s (--call-timeout)"),
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
        stderr.contains("  outcome unknown: elbv2::create_load_balancer (runbooks/attach_alb.rhai:40)"),
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
