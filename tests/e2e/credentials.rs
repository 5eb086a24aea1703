//! The credentials a command signs with are the ones it says it uses: a profile named on the
//! command line (or a fleet target's) wins over keys in the environment, as in the aws CLI, in
//! runs, plans, `policy`, the REPL, undo and fleets; AWS_PROFILE does not (the environment's keys
//! win, and the journal says so). A proxy records the access key of every request.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{command, runbook_bin, script, Emulator};
use serde_json::Value;
use std::path::PathBuf;

/// The profile `ops`, with keys of its own, beside the environment's `testing` keys.
const OPS_KEY: &str = "AKIAOPSEXAMPLE000001";

fn profile_files() -> (PathBuf, PathBuf) {
    let config = script("config", "[profile ops]\nregion = us-east-1\n");
    let credentials =
        script("credentials", &format!("[ops]\naws_access_key_id = {OPS_KEY}\naws_secret_access_key = opssecret\n"));
    (config, credentials)
}

/// A proxy in front of the emulator that forwards everything.
fn recording(emu: &Emulator) -> Proxy {
    Proxy::start(&emu.url, |_| Action::Forward)
}

fn with_files(run: runbook_tests::Run, files: &(PathBuf, PathBuf), proxy: &Proxy) -> runbook_tests::Run {
    run.env("AWS_CONFIG_FILE", files.0.to_str().unwrap())
        .env("AWS_SHARED_CREDENTIALS_FILE", files.1.to_str().unwrap())
        .env("AWS_ENDPOINT_URL", &proxy.url)
}

#[track_caller]
fn signed_only_by(proxy: &Proxy, key: &str, what: &str) {
    let keys = proxy.keys();
    assert_eq!(keys, [key], "{what}: requests were signed with {keys:?}");
    proxy.signed.lock().unwrap().clear();
}

#[test]
fn a_named_profile_signs_every_request_whatever_the_environment_holds() {
    let emu = Emulator::start();
    let files = profile_files();
    let proxy = recording(&emu);
    let tg = ["--set", "tg_name=signed-tg"];

    // A run: every request with the profile's key; the journal says so.
    with_files(emu.runbook(), &files, &proxy)
        .runbook("runbooks/create_tg.rhai", &[])
        .args(tg)
        .args(["--profile", "ops"])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "run --profile ops");
    let journal = emu.last_journal();
    assert_eq!(journal[0]["credentials"], serde_json::json!({ "source": "profile", "profile": "ops" }));
    assert_eq!(journal[0]["profile"], "ops");
    let run_id = journal[0]["run"].as_str().unwrap().to_string();
    let show = with_files(emu.runbook(), &files, &proxy).args(["show", &run_id]).output().success();
    assert!(show.stdout.contains("credentials profile ops"), "{}", show.stdout);

    // A plan and a policy read with it too.
    with_files(emu.runbook(), &files, &proxy)
        .args(["plan", "runbooks/create_tg.rhai", "--profile", "ops"])
        .args(tg)
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "plan --profile ops");
    with_files(emu.runbook(), &files, &proxy)
        .args(["policy", "runbooks/create_tg.rhai", "--profile", "ops"])
        .args(tg)
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "policy --profile ops");

    // target() tells the truth.
    let who = script("who.rhai", "print(to_json(target()));\n");
    let out = with_files(emu.runbook(), &files, &proxy)
        .args(["run", who.to_str().unwrap(), "--profile", "ops"])
        .output()
        .success();
    let t: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((t["profile"].as_str(), t["credentials"].as_str()), (Some("ops"), Some("profile ops")));
    signed_only_by(&proxy, OPS_KEY, "target()");
    // Its STS call counts among the run's calls.
    assert!(out.stderr.contains("done, 1 AWS call(s)"), "{}", out.stderr);

    // The aws CLI's words: --profile after the service, as the aws CLI takes it, signs a read and a
    // write, and the write's run (and its undo) records the profile.
    let vpcs = with_files(emu.runbook(), &files, &proxy)
        .args(["aws", "ec2", "describe-vpcs", "--profile", "ops", "--query", "length(Vpcs)"])
        .output()
        .success();
    assert_eq!(vpcs.stdout.trim(), "1");
    with_files(emu.runbook(), &files, &proxy)
        .args([
            "aws",
            "ec2",
            "create-security-group",
            "--group-name",
            "signed-sg",
            "--description",
            "d",
            "--profile",
            "ops",
        ])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "runbook aws --profile ops");
    assert_eq!(emu.last_journal()[0]["credentials"], serde_json::json!({ "source": "profile", "profile": "ops" }));
    with_files(emu.runbook(), &files, &proxy).args(["undo", "last"]).output().success();
    signed_only_by(&proxy, OPS_KEY, "undo of runbook aws --profile ops");
    // A script's commands are the run's, signed as the run is.
    let sh = script("signed.sh", "aws ec2 create-security-group --group-name signed-sh --description d > /dev/null\n");
    with_files(emu.runbook(), &files, &proxy)
        .args(["run", sh.to_str().unwrap(), "--profile", "ops"])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "a script run with --profile ops");
    assert_eq!(emu.last_journal()[0]["credentials"]["profile"], "ops");
    with_files(emu.runbook(), &files, &proxy).args(["undo", "last"]).output().success();
    signed_only_by(&proxy, OPS_KEY, "undo of a script run with --profile ops");

    // Undo obtains the run's credentials again: the profile, though the environment has keys.
    with_files(emu.runbook(), &files, &proxy).args(["undo", &run_id]).output().success();
    signed_only_by(&proxy, OPS_KEY, "undo of a run made with --profile ops");
    let undo = emu.last_journal();
    assert_eq!(undo[0]["credentials"]["profile"], "ops");

    // A fleet: the check before the run, the permission preflight and every child.
    with_files(emu.runbook(), &files, &proxy)
        .runbook("runbooks/create_tg.rhai", &[])
        .args(tg)
        .args(["--profiles", "ops", "--regions", "us-east-1,us-west-2"])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "a fleet with --profiles ops");
    with_files(emu.runbook(), &files, &proxy).args(["undo", "last"]).output().success();
    signed_only_by(&proxy, OPS_KEY, "undo of a fleet with --profiles ops");

    // The REPL: its banner and its calls.
    let mut cmd = command(runbook_bin(), &proxy.url);
    cmd.args(["repl", "--profile", "ops"])
        .env("AWS_CONFIG_FILE", &files.0)
        .env("AWS_SHARED_CREDENTIALS_FILE", &files.1)
        .env("RUNBOOK_HISTORY", script("history", ""))
        .env("TERM", "xterm")
        .env("RUNBOOK_JOURNAL_DIR", &emu.journal);
    let mut repl = rexpect::session::spawn_command(cmd, Some(15_000)).unwrap();
    repl.exp_string("credentials profile ops").unwrap();
    repl.exp_string("runbook> ").unwrap();
    repl.send_line("ec2::describe_vpcs().Vpcs.len() > 0").unwrap();
    repl.exp_string("true").unwrap();
    repl.send_control('d').unwrap();
    repl.exp_eof().unwrap();
    signed_only_by(&proxy, OPS_KEY, "repl --profile ops");
}

#[test]
fn aws_profile_yields_to_the_environments_keys_and_the_journal_says_so() {
    let emu = Emulator::start();
    let files = profile_files();
    let proxy = recording(&emu);
    let who = script("who.rhai", "print(to_json(target()));\necs::create_cluster(#{ clusterName: \"who\" });\n");

    // Keys in the environment and AWS_PROFILE: the keys sign (as the aws CLI does), with a warning.
    let out = with_files(emu.runbook(), &files, &proxy)
        .env("AWS_PROFILE", "ops")
        .args(["run", who.to_str().unwrap()])
        .output()
        .success();
    signed_only_by(&proxy, "testing", "AWS_PROFILE with keys in the environment");
    assert!(
        out.stderr.contains("warning: AWS_PROFILE=ops is set, but the keys in AWS_ACCESS_KEY_ID sign"),
        "{}",
        out.stderr
    );
    let t: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(t["credentials"], "environment (AWS_ACCESS_KEY_ID)");
    assert_eq!(t["profile"], Value::Null);
    let journal = emu.last_journal();
    assert_eq!(journal[0]["credentials"], serde_json::json!({ "source": "environment", "profile": null }));

    // AWS_PROFILE alone: the profile signs.
    let out = with_files(emu.runbook(), &files, &proxy)
        .env("AWS_PROFILE", "ops")
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .args(["run", who.to_str().unwrap()])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "AWS_PROFILE alone");
    assert!(!out.stderr.contains("warning: AWS_PROFILE"), "{}", out.stderr);
    let journal = emu.last_journal();
    assert_eq!(journal[0]["credentials"], serde_json::json!({ "source": "profile", "profile": "ops" }));

    // --profile over AWS_PROFILE and the keys.
    with_files(emu.runbook(), &files, &proxy)
        .env("AWS_PROFILE", "nosuch")
        .args(["run", who.to_str().unwrap(), "--profile", "ops"])
        .output()
        .success();
    signed_only_by(&proxy, OPS_KEY, "--profile over AWS_PROFILE");
}

#[test]
fn a_fleet_reaches_the_endpoint_its_profile_names() {
    let emu = Emulator::start();
    let proxy = recording(&emu);
    // No AWS_ENDPOINT_URL: the profile's endpoint_url is the only way to the emulator (through the
    // proxy, which records what reached it).
    let config = script("config", &format!("[profile ops]\nregion = us-east-1\nendpoint_url = {}\n", proxy.url));
    let credentials =
        script("credentials", &format!("[ops]\naws_access_key_id = {OPS_KEY}\naws_secret_access_key = opssecret\n"));
    let fleet = |regions: &str| {
        emu.runbook()
            .unset("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", config.to_str().unwrap())
            .env("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())
            .runbook("runbooks/create_tg.rhai", &[])
            .args(["--profiles", "ops", "--regions", regions])
            .output()
    };
    let out = fleet("us-east-1,eu-west-1");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("2 of 2 targets succeeded"), "{}", out.stderr);
    signed_only_by(&proxy, OPS_KEY, "a fleet whose profile names its endpoint");
    for region in ["us-east-1", "eu-west-1"] {
        let c = runbook_tests::Clients::in_region(&emu.url, region, None);
        assert_eq!(c.target_group("rent-a-room-tg").port(), Some(80), "{region}");
    }

    // A region the SDK does not know, with the profile's endpoint: a warning that names both, once.
    let out = fleet("eu-wst-1");
    let warning = "warning: unknown region \"eu-wst-1\"";
    assert_eq!(out.stderr.matches(warning).count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("(endpoint_url of profile ops) answered HTTP 500"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("it is sent to {} all the same", proxy.url)), "{}", out.stderr);
}
