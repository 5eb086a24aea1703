//! The edges a new user meets first: region names, answers that are not AWS, values outside the
//! models' ranges and patterns, shell completion at `::`, and the messages of common slips.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{script, Emulator, Run};
use std::time::{Duration, Instant};

const TG: &str =
    "let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).Vpcs[0].VpcId;\n";

#[test]
fn a_misspelt_region_is_refused_before_anything_is_sent_with_the_name_meant() {
    let file = script("vpcs.rhai", "ec2::describe_vpcs();\n");
    let path = file.to_str().unwrap();
    // No endpoint of its own: the name is checked against the SDK's partition data, at once.
    for args in [vec!["run", path, "--region", "eu-wst-1"], vec!["plan", path, "--region", "eu-wst-1"]] {
        let started = Instant::now();
        let out = Run::new().unset("AWS_ENDPOINT_URL").args(&args).output();
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("unknown region \"eu-wst-1\"; did you mean eu-west-1?"), "{}", out.stderr);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }
    let out = Run::new().args(["run", path, "--regions", "us-east-1,eu-wst-1"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("target eu-wst-1: unknown region \"eu-wst-1\"; did you mean eu-west-1?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was run anywhere"), "{}", out.stderr);
    let out = Run::new().args(["help", "regions"]).output().success();
    assert!(out.stdout.contains("eu-south-2") && out.stdout.contains("(opt-in)"), "{}", out.stdout);
    // With an endpoint of its own, an unknown name is sent all the same, after a warning at once.
    let emu = Emulator::start();
    let quiet = script("quiet.rhai", "print(\"started\");\n");
    let out = emu.runbook().args(["run", quiet.to_str().unwrap(), "--region", "eu-wst-1"]).output().success();
    assert!(out.stdout.contains("started"), "{}", out.stdout);
    assert!(out.stderr.contains("warning: unknown region \"eu-wst-1\"; did you mean eu-west-1?"), "{}", out.stderr);
    // The endpoint does not know it: one request, not retried, and the error names the region.
    let proxy = runbook_tests::proxy::Proxy::start(&emu.url, |_| runbook_tests::proxy::Action::Forward);
    let vpcs = script("vpcs.rhai", "ec2::describe_vpcs();\n");
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(["run", vpcs.to_str().unwrap(), "--region", "us-est-1"])
        .output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(proxy.seen(), ["DescribeVpcs"], "{}", out.stderr);
    assert!(
        out.stderr.contains("the region may be what it does not know: unknown region \"us-est-1\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("it was sent once, not retried"), "{}", out.stderr);
}

#[test]
fn an_opt_in_region_the_account_has_not_enabled_is_named_as_such() {
    let emu = Emulator::start();
    let body = "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided \
                access credentials</Message></Error></Errors><RequestID>x</RequestID></Response>"
        .to_string();
    let proxy =
        Proxy::start(&emu.url, move |_| Action::Fail { status: 401, content_type: "text/xml", body: body.clone() });
    let file = script("vpcs.rhai", "ec2::describe_vpcs();\n");
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .args(["run", file.to_str().unwrap(), "--region", "eu-south-2"])
        .output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("AuthFailure"), "{}", out.stderr);
    assert!(
        out.stderr.contains("eu-south-2 is an opt-in region: the account reaches it only once it is enabled"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_answer_that_is_not_aws_says_what_came_back_and_from_where_without_retrying() {
    let emu = Emulator::start();
    let file = script("vpcs.rhai", "ec2::describe_vpcs();\n");
    let page = "<!doctype html><html><head><title>501 Not Implemented</title></head><body>no</body></html>";
    let cases: [(u16, &'static str, &str, &str); 3] = [
        (501, "text/html", page, "HTTP 501 with an HTML page (\"501 Not Implemented\"), which is not an AWS answer"),
        (200, "text/html", page, "HTTP 200 with an HTML page (\"501 Not Implemented\"), which is not an AWS answer"),
        (404, "text/plain", "", "HTTP 404 with an empty body, which is not an AWS answer"),
    ];
    for (status, content_type, body, said) in cases {
        let body = body.to_string();
        let proxy = Proxy::start(&emu.url, move |_| Action::Fail { status, content_type, body: body.clone() });
        let started = Instant::now();
        let out = emu.runbook().args(["run", file.to_str().unwrap(), "--endpoint-url", &proxy.url]).output();
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains(&format!("{} (--endpoint-url) answered {said}", proxy.url)), "{}", out.stderr);
        assert!(out.stderr.contains("is the endpoint URL right"), "{}", out.stderr);
        assert!(!out.stderr.contains("Unhandled") && !out.stderr.contains("XmlDecodeError"), "{}", out.stderr);
        assert!(started.elapsed() < Duration::from_secs(10), "status {status}: {:?}", started.elapsed());
        assert_eq!(proxy.seen().len(), 1, "status {status}: sent once, not retried");
    }
}

#[test]
fn values_outside_the_models_ranges_lengths_and_patterns_are_refused_before_sending() {
    let emu = Emulator::start();
    let cases = [
        (
            format!(
                "{TG}elbv2::create_target_group(#{{ Name: \"web\", Protocol: \"HTTP\", Port: 99999, VpcId: vpc }});\n"
            ),
            "Port: 99999 is out of range; allowed: 1 to 65535",
        ),
        (
            format!("iam::create_role(#{{ RoleName: \"{}\", AssumeRolePolicyDocument: \"{{}}\" }});\n", "r".repeat(70)),
            "RoleName: 70 character(s) long is out of range; allowed: 1 to 64 characters",
        ),
        (
            "iam::create_role(#{ RoleName: \"my role\", AssumeRolePolicyDocument: \"{}\" });\n".to_string(),
            "RoleName: \"my role\" does not match the pattern [\\w+=,.@-]+",
        ),
        (
            format!(
                "{TG}elbv2::create_target_group(#{{ Name: \"web\", Protocol: \"http\", Port: 80, VpcId: vpc }});\n"
            ),
            "Protocol: invalid value \"http\" (did you mean HTTP?)",
        ),
    ];
    for (text, said) in cases {
        let file = script("bad.rhai", &text);
        let out = emu.runbook().args(["run", file.to_str().unwrap()]).output();
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        assert!(out.stderr.contains(said), "{text}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    }
    assert!(emu.clients().state().iter().all(|s| !s.starts_with("target group")), "{:?}", emu.clients().state());
    // The tutorial's own parameter, out of the range its setting declares, stops before the run.
    let out = emu.runbook().runbook("runbooks/create_tg.rhai", &["tg_port=99999"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("parameter tg_port: 99999 is outside 1..=65535"), "{}", out.stderr);
    assert!(emu.clients().state().iter().all(|s| !s.starts_with("target group")), "{:?}", emu.clients().state());
}

/// What bash's completion offers for `line` (the cursor at its end), with bash's own word
/// splitting (COMP_WORDBREAKS has `:`), through the script `runbook completions bash` prints.
fn bash_completes(line: &str) -> Vec<String> {
    let script = Run::new().args(["completions", "bash"]).output().success().stdout;
    let dir = tempdir();
    let path = dir.join("runbook.bash");
    std::fs::write(&path, script).unwrap();
    let driver = format!(
        "source {path}\n\
         line={line:?}\n\
         COMP_LINE=\"$line\"; COMP_POINT=${{#line}}; COMP_TYPE=9\n\
         read -r -a COMP_WORDS <<< \"$(printf '%s' \"$line\" | sed -e 's/::/ :: /g')\"\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         _runbook_complete runbook \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path = path.display()
    );
    let out = std::process::Command::new("bash").arg("-c").arg(driver).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

fn tempdir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("runbook-edges-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bash_completes_help_topics_across_the_colons_bash_splits_at() {
    // bash hands over `elbv2`, `::`, `create_t`: the candidates are what follows the last colon.
    let offered = bash_completes("runbook help elbv2::create_t");
    assert!(offered.contains(&"create_target_group".to_string()), "{offered:?}");
    assert!(offered.iter().all(|o| !o.contains("::")), "{offered:?}");
    let offered = bash_completes("runbook help elb");
    assert!(offered.iter().any(|o| o == "elbv2" || o == "elbv2::"), "{offered:?}");
    let out = Run::new().args(["help", "elb"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no service \"elb\"; did you mean elbv2?"), "{}", out.stderr);
}

#[test]
fn the_common_slips_get_messages_that_say_what_to_write() {
    let emu = Emulator::start();
    // A map without its `#`: a syntax error, exit 2 as for every broken runbook file.
    let file = script("map.rhai", "elbv2::describe_target_groups({ Names: [\"x\"] });\n");
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("object maps are written #{ key: value }"), "{}", out.stderr);
    // A function reading the script's variable.
    let file = script("scope.rhai", "let lb = \"x\";\nfn show() { print(lb); }\nshow();\n");
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("a function does not see the variables of the script around it: pass lb"),
        "{}",
        out.stderr
    );
    // The tutorial's own waits: none by default, and a line when asked for one.
    let started = Instant::now();
    let out = emu.runbook().runbook("runbooks/tutorial.rhai", &["emulator=true"]).output().success();
    assert!(!out.stdout.contains("Waiting"), "{}", out.stdout);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    // (A wait follows a registration this run sends: here, of a new maximum.)
    let out =
        emu.runbook().runbook("runbooks/autoscale.rhai", &["propagation_wait=1", "max_capacity=6"]).output().success();
    assert!(out.stdout.contains("Waiting 1 s for the scalable target to propagate"), "{}", out.stdout);
}

#[test]
fn a_fleet_names_the_targets_file_and_the_file_of_the_first_error() {
    let emu = Emulator::start();
    let dir = tempdir();
    let targets = dir.join("targets.toml");
    std::fs::write(&targets, "[[target]]\nregion = \"us-east-1\"\nset = { desired_count = \"many\" }\n").unwrap();
    let out = emu
        .runbook()
        .runbook("runbooks/tutorial.rhai", &["emulator=true"])
        .args(["--targets", targets.to_str().unwrap()])
        .output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("(from the set of target us-east-1 in {}: desired_count=many)", targets.display())),
        "{}",
        out.stderr
    );
    // The recap's first error names the file and line that failed.
    let file = script("fails.rhai", "let x = 1;\nthrow \"no luck\";\n");
    let out = emu.runbook().args(["run", file.to_str().unwrap(), "--regions", "us-east-1,eu-west-1"]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{}:2:1: no luck", file.display())), "{}", out.stderr);
}
