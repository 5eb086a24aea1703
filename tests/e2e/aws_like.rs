//! AWS as it behaves, through the test proxy's AWS-like mode: answers 20–60 ms late, "not found"
//! for a few seconds about what a create just made, load balancers `provisioning` after their
//! create. The runs use default settings and must end where an undisturbed run ends.

use runbook_tests::aws_like::{AwsLike, Settings};
use runbook_tests::Emulator;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

fn diff(state: &[String], expected: &[String]) -> String {
    let extra: Vec<_> = state.iter().filter(|s| !expected.contains(s)).collect();
    let missing: Vec<_> = expected.iter().filter(|s| !state.contains(s)).collect();
    format!("extra {extra:?}, missing {missing:?}")
}

#[test]
fn the_tutorial_and_its_undo_complete_through_lag_latency_and_provisioning() {
    let clean = Emulator::start();
    clean.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let expected = clean.clients().state();

    let emu = Emulator::start();
    let before = emu.clients().state();
    let like = AwsLike::start(&emu.url, Settings::default());
    let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).runbook("runbooks/tutorial.rhai", FAST).output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lagged = like.lagged();
    // Calls about the security group, the service's cluster and the load balancer came moments after
    // their creates: AWS did not know them yet, and the run waited for it.
    for op in ["CreateService", "DescribeLoadBalancers"] {
        assert!(lagged.iter().any(|o| o == op), "{op} was not lagged: {lagged:?}");
    }
    assert!(lagged.iter().any(|o| o == "AuthorizeSecurityGroupIngress" || o == "DescribeSecurityGroups"), "{lagged:?}");
    assert!(out.stderr.contains(": InvalidGroup.NotFound (sg-"), "{}", out.stderr);
    assert!(
        out.stderr.contains("[retry] ecs::create_service: ClusterNotFoundException (rent-a-room-cluster was created"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("s ago; AWS is eventually consistent); again in"), "{}", out.stderr);
    // The load balancer was provisioning when the waiter first looked.
    assert!(out.stderr.contains("provisioning"), "{}", out.stderr);
    let state = emu.clients().state();
    assert_eq!(state, expected, "{}", diff(&state, &expected));

    let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    let state = emu.clients().state();
    assert_eq!(state, before, "{}", diff(&state, &before));
}

#[test]
fn a_not_found_about_what_the_run_did_not_make_fails_at_once() {
    let emu = Emulator::start();
    let like = AwsLike::start(&emu.url, Settings::default());
    let file = runbook_tests::script(
        "typo.rhai",
        "ec2::authorize_security_group_ingress(#{ GroupId: \"sg-0123456789abcdef0\", IpPermissions: [\n\
         #{ IpProtocol: \"tcp\", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: \"0.0.0.0/0\" }] }] });\n",
    );
    let started = std::time::Instant::now();
    let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("InvalidGroup"), "{}", out.stderr);
    assert!(!out.stderr.contains("[retry]"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}
