//! Failing runbooks: each prints the file, line and column, the line, a caret and a readable
//! message, exits non-zero, and sends nothing that would change the account.

use runbook_tests::{script, Emulator, Run};

fn run(emu: &Emulator, file: &std::path::Path, extra: &[&str]) -> runbook_tests::Output {
    let mut args = vec!["run", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    emu.runbook().args(args).output()
}

fn no_target_groups(emu: &Emulator) {
    let c = emu.clients();
    let tgs = c.block_on(c.elbv2.describe_target_groups().send()).unwrap();
    assert!(tgs.target_groups().is_empty(), "nothing was created: {:?}", tgs.target_groups());
}

#[test]
fn invalid_input_is_reported_with_every_problem_and_nothing_is_sent() {
    let emu = Emulator::start();
    let file = script(
        "bad_input.rhai",
        "// creates a target group\nlet vpc = \"vpc-1\";\nlet tg = elbv2::create_target_group(#{\n    Name: \"t\", Protocol: \"HTTPX\", Port: \"80\", VpcID: vpc,\n    Matcher: #{ HttpCode: 200 }, Tags: [#{ Key: \"k\" }, 5],\n});\n",
    );
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    let path = file.display();
    assert_eq!(
        out.stderr,
        format!(
            "error: elbv2::CreateTargetGroup: invalid input
  --> {path}:3:17
  |
3 | let tg = elbv2::create_target_group(#{{
  |                 ^
  = Matcher.HttpCode: expected string, got integer
  = Port: expected integer, got string
  = Protocol: invalid value \"HTTPX\"; allowed: HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE, QUIC, TCP_QUIC
  = Tags[1]: expected object map, got integer
  = unknown key VpcID (did you mean VpcId?)
  = `runbook help elbv2::create_target_group` shows its parameters
runbook: 1 mistake found before the run (as `runbook check` finds them); nothing was sent
"
        )
    );
    no_target_groups(&emu);
}

#[test]
fn missing_required_members_are_named() {
    let emu = Emulator::start();
    let file = script("missing.rhai", "elbv2::create_listener(#{ Protocol: \"HTTP\", Port: 80 });\n");
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(out.stderr.contains("  = missing required member LoadBalancerArn\n"), "{}", out.stderr);
    assert!(out.stderr.contains(":1:8\n"), "{}", out.stderr);
}

#[test]
fn aws_errors_are_catchable_maps_and_fatal_when_uncaught() {
    let emu = Emulator::start();
    let file = script(
        "aws_error.rhai",
        r#"let vpc = ec2::describe_vpcs().query("Vpcs[0].VpcId");
let input = #{ Name: "dup", Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" };
elbv2::create_target_group(input);
try {
    elbv2::create_target_group(#{ Name: "dup", Protocol: "HTTP", Port: 81, VpcId: vpc, TargetType: "ip" });
} catch (e) {
    print(`${e.code}|${e.service}|${e.operation}|${e.status}|${e.retryable}|${type_of(e.request_id)}`);
}
elbv2::create_target_group(#{ Name: "dup", Protocol: "HTTP", Port: 82, VpcId: vpc, TargetType: "ip" });
print("not reached");
"#,
    );
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stdout, "DuplicateTargetGroupName|elbv2|CreateTargetGroup|400|false|string\n");
    let path = file.display();
    let expected_head = format!(
        "error: elbv2::CreateTargetGroup: DuplicateTargetGroupName: A target group with the specified name already exists.\n  --> {path}:9:8\n  |\n9 | elbv2::create_target_group(#{{ Name: \"dup\", Protocol: \"HTTP\", Port: 82, VpcId: vpc, TargetType: \"ip\" }});\n  |        ^\n  = HTTP 400, request id "
    );
    assert!(out.stderr.starts_with(&expected_head), "{}", out.stderr);
}

#[test]
fn syntax_errors_point_at_the_place() {
    let emu = Emulator::start();
    let file = script("syntax.rhai", "let a = 1;\nlet b = ;\n");
    let out = run(&emu, &file, &[]);
    // A broken runbook file: exit 2, as the README's exit codes say.
    assert_eq!(out.code, 2);
    let path = file.display();
    assert_eq!(
        out.stderr,
        format!("error: syntax: Unexpected ';'\n  --> {path}:2:9\n  |\n2 | let b = ;\n  |         ^\n")
    );
}

#[test]
fn unknown_functions_are_named() {
    let emu = Emulator::start();
    let file = script("unknown_fn.rhai", "let x = 1;\nelbv2::create_targetgroup(#{ Name: \"x\" });\n");
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(out.stderr.starts_with("error: unknown function elbv2::create_targetgroup\n"), "{}", out.stderr);
    assert!(out.stderr.contains(":2:"), "{}", out.stderr);
    assert!(out.stderr.contains("  = did you mean elbv2::create_target_group?\n"), "{}", out.stderr);

    let file = script("camel.rhai", "iam::getRole(#{ RoleName: \"x\" });\n");
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(out.stderr.contains("  = function names are snake_case: did you mean iam::get_role?\n"), "{}", out.stderr);
}

#[test]
fn errors_inside_an_imported_runbook_point_into_that_file() {
    let emu = Emulator::start();
    let main = script("main.rhai", "import \"lib/step\" as step;\nprint(\"after\");\n");
    let lib = main.parent().unwrap().join("lib/step.rhai");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::write(&lib, "let ok = 1;\nelbv2::describe_target_groups(#{ Names: \"one\" });\n").unwrap();
    let out = run(&emu, &main, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(out.stderr.contains("Names: expected array, got string"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("--> {}:2:8\n", lib.display())), "{}", out.stderr);
    assert!(out.stderr.contains("2 | elbv2::describe_target_groups(#{ Names: \"one\" });"), "{}", out.stderr);
    assert!(out.stderr.contains("while importing \"lib/step\""), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn errors_inside_functions_show_their_own_file_and_line_and_the_calls_below() {
    let emu = Emulator::start();
    let main = script(
        "role_read.rhai",
        "import \"lib/read\" as read;\nfn tg_arn(name) {\n    let found = read::first(name);\n    found.arn_of()\n}\n\nfn both(name) { tg_arn(name) }\nboth(\"web\");\n",
    );
    let lib = main.parent().unwrap().join("lib/read.rhai");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::write(&lib, "fn first(name) {\n    name\n}\n").unwrap();
    let out = run(&emu, &main, &[]);
    assert_eq!(out.code, 1);
    let path = main.display();
    assert_eq!(
        out.stderr,
        format!(
            "error: unknown function arn_of (string)
  --> {path}:4:11
  |
4 |     found.arn_of()
  |           ^
  = `runbook help` lists the services and helpers
  = in tg_arn(), called at {path}:7:17
  = in both(), called at {path}:8:1
"
        )
    );

    // Inside an imported module's function: that file's line, and each call site in its own file.
    std::fs::write(&lib, "fn first(name) {\n    let n = name;\n    n.missing()\n}\n").unwrap();
    let out = run(&emu, &main, &[]);
    assert_eq!(out.code, 1);
    let lib_path = lib.display();
    assert!(out.stderr.starts_with("error: unknown function missing (string)\n"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("  --> {lib_path}:3:7\n  |\n3 |     n.missing()\n")), "{}", out.stderr);
    assert!(
        out.stderr.ends_with(&format!(
            "  = in first(), called at {path}:3:23\n  = in tg_arn(), called at {path}:7:17\n  = in both(), called at {path}:8:1\n"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn imports_outside_the_runbooks_folder_are_refused() {
    let emu = Emulator::start();
    let file = script("escape.rhai", "import \"../../etc/passwd\" as x;\n");
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(out.stderr.contains("is outside the runbooks folder"), "{}", out.stderr);
}

#[test]
fn bad_command_lines_fail_before_anything_runs() {
    let emu = Emulator::start();
    let file = script("params.rhai", "let n = param(\"tg_name\", \"x\");\nelbv2::create_target_group(#{ Name: n });\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--set", "tg_nam=y"],
            "error: unknown parameter --set tg_nam (did you mean tg_name?); this runbook's parameters: tg_name (`runbook params FILE` shows their types and defaults)\n",
        ),
        (&["--set", "tg_name"], "error: malformed --set \"tg_name\": expected NAME=VALUE\n"),
        (
            &["--endpoint-url", "localhost:4566"],
            "error: invalid endpoint URL \"localhost:4566\": it must start with http:// or https://\n",
        ),
        (&["--region", "Mars 1"], "error: invalid region \"Mars 1\": expected a name like us-east-1\n"),
    ];
    for (extra, expected) in cases {
        let out = run(&emu, &file, extra);
        assert_eq!((out.code, out.stderr.as_str()), (2, *expected), "{extra:?}");
    }
    let missing = emu.runbook().args(["run", "/nonexistent/runbook.rhai"]).output();
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.starts_with("error: cannot read runbook /nonexistent/runbook.rhai: "), "{}", missing.stderr);
    let no_region =
        emu.runbook().unset("AWS_REGION").unset("AWS_DEFAULT_REGION").args(["run", file.to_str().unwrap()]).output();
    assert_eq!(no_region.code, 2);
    assert!(no_region.stderr.contains("no AWS region"), "{}", no_region.stderr);
    no_target_groups(&emu);
}

#[test]
fn typed_parameters_reject_values_of_the_wrong_type() {
    let emu = Emulator::start();
    let out = emu.runbook().runbook("runbooks/create_tg.rhai", &["tg_port=eighty"]).output();
    // Refused before anything runs, as in a fleet: the command line is wrong.
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("parameter tg_port: expected an integer, got \"eighty\" (from --set tg_port=eighty)"),
        "{}",
        out.stderr
    );
    no_target_groups(&emu);
}

#[test]
fn an_unreachable_endpoint_is_a_clear_error() {
    let file = script("unreachable.rhai", "ec2::describe_vpcs();\n");
    let out = Run::new()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["run", file.to_str().unwrap()])
        .output();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(
            "error: ec2::DescribeVpcs: ConnectionRefused: could not connect to http://127.0.0.1:9: the connection was refused (1 attempt)\n"
        ),
        "{}",
        out.stderr
    );
    // A host name that does not resolve says so in words; -v shows the whole chain.
    let out = Run::new()
        .env("AWS_ENDPOINT_URL", "http://no-such-host.invalid:5000")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["run", file.to_str().unwrap(), "-v"])
        .output();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "error: ec2::DescribeVpcs: DnsLookupFailed: could not connect to http://no-such-host.invalid:5000: its host name could not be looked up (DNS) (1 attempt)\n"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("[call]   could not reach the endpoint: dispatch failure"), "{}", out.stderr);
}

/// A local server that answers every connection with `answer` (after reading the request), or
/// closes it without a word when `answer` is empty; its URL with `scheme`.
fn misbehaving_endpoint(scheme: &str, answer: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(answer);
        }
    });
    format!("{scheme}://127.0.0.1:{port}")
}

#[test]
fn transport_failures_are_sentences_with_the_endpoint() {
    let file = script("transport.rhai", "ec2::describe_vpcs();\n");
    let fails = |url: &str, extra: &[&str]| {
        let mut args = vec!["run", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = Run::new().env("AWS_ENDPOINT_URL", url).env("AWS_MAX_ATTEMPTS", "2").args(args).output();
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(!out.stderr.contains("DispatchFailure") && !out.stderr.contains("Custom {"), "{}", out.stderr);
        out.stderr.lines().next().unwrap_or_default().to_string()
    };
    // https:// to a server that speaks plain HTTP.
    let plain = misbehaving_endpoint("https", b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(
        fails(&plain, &[]),
        format!(
            "error: ec2::DescribeVpcs: TlsHandshakeFailed: could not connect to {plain}: the TLS handshake failed \
             (received corrupt message of type InvalidContentType); the endpoint does not seem to speak TLS: try http:// (2 attempts)"
        )
    );
    // A server that takes the request and closes the connection.
    let closes = misbehaving_endpoint("http", b"");
    assert_eq!(
        fails(&closes, &[]),
        format!(
            "error: ec2::DescribeVpcs: ConnectionLost: {closes} closed the connection before answering; 2 attempts"
        )
    );
    // A server that takes the request and never answers: each attempt ends at --call-timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    assert_eq!(
        fails(&silent_url, &["--call-timeout", "0.5"]),
        format!(
            "error: ec2::DescribeVpcs: CallTimeout: {silent_url} did not answer within 0.5 s (--call-timeout, per attempt); 2 attempts"
        )
    );
}

#[test]
fn wrong_types_deep_inside_the_input_name_their_path() {
    let emu = Emulator::start();
    let file = script(
        "deep.rhai",
        "elbv2::create_listener(#{ LoadBalancerArn: \"arn\", DefaultActions: [#{ Type: \"forward\", TargetGroupArn: 5 }] });\n",
    );
    let out = run(&emu, &file, &[]);
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    assert!(
        out.stderr.contains("  = DefaultActions[0].TargetGroupArn: expected string, got integer\n"),
        "{}",
        out.stderr
    );
    let file = script(
        "deep_enum.rhai",
        "elbv2::create_listener(#{ LoadBalancerArn: \"arn\", DefaultActions: [#{ Type: \"forwardd\" }] });\n",
    );
    let out = run(&emu, &file, &[]);
    assert!(
        out.stderr.contains("  = DefaultActions[0].Type: invalid value \"forwardd\"; allowed: forward, authenticate-oidc, authenticate-cognito, redirect, fixed-response"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_invalid_value_of_a_long_enum_shows_the_closest_values_on_one_screen() {
    let file = script(
        "enum.rhai",
        "ec2::run_instances(#{ InstanceType: \"t3.mikro\", ImageId: \"ami-1\", MinCount: 1, MaxCount: 1 });\n",
    );
    let out = Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 2, "found before the run: {}", out.stderr);
    let line = out.stderr.lines().find(|l| l.contains("invalid value")).unwrap_or_default();
    assert!(
        line.starts_with("  = InstanceType: invalid value \"t3.mikro\" (did you mean t3.micro?); 10 of "),
        "{}",
        out.stderr
    );
    assert!(line.contains(" allowed values: t3.micro, "), "{line}");
    assert!(line.ends_with("`runbook help ec2::run_instances` lists them all"), "{line}");
    assert!(line.len() < 300, "{} characters: {line}", line.len());
    let help = Run::new().args(["help", "ec2::create_vpc"]).output().success();
    assert!(help.stdout.lines().all(|l| l.len() <= 100), "{}", help.stdout);
}
