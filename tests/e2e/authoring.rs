//! `runbook check`: the mistakes that can be seen without AWS, at their lines, with no network.
//! Every shipped runbook and example is clean; each case of the bad-input corpus that a check can
//! see is caught at the line its run reports; the others are listed here with why.

use runbook_tests::{root, script, Emulator, Run};

/// Corpus cases no check without AWS can see, and why.
const NOT_STATIC: &[(&str, &str)] = &[
    ("aws_call_limit", "a --limit on the command line, met while running"),
    ("bad_json_text", "the text is parsed by a helper when it runs"),
    ("bad_limit_value", "a --limit on the command line"),
    ("bad_memory_size", "a --limit on the command line"),
    ("call_depth_lifted", "a --limit on the command line"),
    ("bad_query_expression", "the query is parsed by a helper when it runs"),
    ("bad_retry_mode_env", "the environment, not the script"),
    ("deep_recursion", "a run-time limit"),
    ("endpoint_port_out_of_range", "the endpoint URL, not the script"),
    ("huge_array", "a run-time limit on a computed value"),
    ("huge_string", "a run-time limit on a computed value"),
    ("index_out_of_bounds", "a computed index"),
    ("memory_limit", "a run-time limit on what the script holds"),
    ("memory_limit_in_one_step", "a run-time limit on a computed size"),
    ("invalid_region", "the region, not the script"),
    ("malformed_endpoint_url", "the endpoint URL, not the script"),
    ("malformed_set", "a --set on the command line"),
    ("missing_credentials", "the credentials, not the script"),
    ("negative_sleep", "a helper's argument, checked when it runs"),
    ("parameter_of_wrong_type", "a --set on the command line"),
    ("property_of_unit", "a value that is () only when the script runs"),
    ("runaway_loop", "a run-time limit"),
    ("step_without_answers", "the terminal, not the script"),
    ("throw_from_script", "the script throws on purpose"),
    ("type_mismatch", "an operator on values the check does not type"),
    ("uncaught_aws_error", "AWS's answer"),
    ("unknown_limit", "a --limit on the command line"),
    ("unknown_parameter", "a --set on the command line"),
    ("unknown_profile", "the AWS configuration, not the script"),
    ("unwritable_journal_dir", "the journal folder, not the script"),
    ("zero_call_timeout", "a command-line option"),
    ("zero_max_attempts", "a command-line option"),
];

fn check(args: &[&str]) -> runbook_tests::Output {
    // No endpoint, region or credentials: a check must not need them.
    Run::new()
        .unset("AWS_REGION")
        .unset("AWS_DEFAULT_REGION")
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(std::iter::once("check").chain(args.iter().copied()))
        .output()
}

#[test]
fn shipped_runbooks_are_clean_and_every_static_corpus_case_is_caught_at_its_line() {
    let clean = check(&["runbooks", "examples"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert!(clean.stderr.contains("runbook check: 0 mistakes in "), "{}", clean.stderr);

    let all = check(&["tests/corpus"]);
    assert_eq!(all.code, 1, "{}", all.stderr);
    let files = runbook_tests::corpus_files();
    let mut caught = 0;
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let rel = format!("tests/corpus/{name}.rhai");
        let reported: Vec<&str> = all.stdout.lines().filter(|l| l.starts_with(&format!("{rel}:"))).collect();
        match NOT_STATIC.iter().find(|(n, _)| *n == name) {
            Some((_, why)) => assert!(reported.is_empty(), "{name} ({why}) is reported: {reported:?}"),
            None => {
                let at =
                    text.lines().find_map(|l| l.strip_prefix("// at: ")).unwrap_or_else(|| panic!("{name}: no // at:"));
                let line = at.rsplit(':').nth(1).unwrap();
                assert!(
                    reported.iter().any(|r| r.starts_with(&format!("{rel}:{line}:"))),
                    "{name}: expected at {at}, got {reported:?}"
                );
                caught += 1;
            }
        }
    }
    assert!(caught >= 25, "{caught} cases caught");
    assert_eq!(caught + NOT_STATIC.len(), files.len(), "every corpus case is caught or listed with why");
}

#[test]
fn a_check_sees_what_the_walk_reaches_and_leaves_computed_values_to_the_run() {
    let lib = script("runbooks/lib/tools.rhai", "fn helper(x) { x }\n");
    let dir = lib.parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(
        dir.join("main.rhai"),
        r#"import "lib/tools" as tools;
let name = param("name", "web");
let port = param("port", 80);
// A computed name passes; a literal of the wrong type does not.
elbv2::create_target_group(#{ Name: name, Protocol: "HTTP", Port: "80", VpcId: `vpc-${name}` });
tools::helpr(1);
fn never_called() {
    ecs::describe_clusters(#{ clusters: ["a"], include: ["TAGS"], bogus: 1 });
}
fn stop() {
    throw "no";
    print("unreachable");
}
ec2::describe_vpcs(#{}, #{}, #{});
"#,
    )
    .unwrap();
    std::fs::write(dir.join("other.rhai"), "import \"lib/tools\" as t;\nlet port = param(\"port\", \"eighty\");\n")
        .unwrap();
    std::fs::write(dir.join("lib/more.rhai"), "import \"main\";\nlet p = param(\"port\", \"x\");\n").unwrap();
    let out = check(&[dir.join("main.rhai").to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("JSON");
    let at =
        |line: u64| list.iter().filter(|m| m["line"] == line).map(|m| m.to_string()).collect::<Vec<_>>().join("\n");
    assert!(
        at(5).contains("Port: expected integer, got string") && !at(5).contains("Name:") && !at(5).contains("VpcId"),
        "{}",
        at(5)
    );
    assert!(
        at(6).contains("module tools has no function helpr") && at(6).contains("did you mean tools::helper?"),
        "{}",
        at(6)
    );
    assert!(at(8).contains("unknown key bogus"), "{}", at(8));
    assert!(at(12).contains("this can never run: a throw comes before it"), "{}", at(12));
    assert!(at(14).contains("ec2::describe_vpcs takes"), "{}", at(14));
    assert_eq!(list.len(), 5, "{list:#?}");

    // GitHub annotations; a path that cannot be read is exit 2.
    let gh = check(&[dir.join("main.rhai").to_str().unwrap(), "--format", "github"]);
    let first = gh.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("::error file=") && first.contains(",line=5,col="), "{}", gh.stdout);
    let missing = check(&["no/such/runbook.rhai"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("cannot read no/such/runbook.rhai"), "{}", missing.stderr);
    // A param read with defaults of two types, in a runbook and what it imports.
    let clash = check(&[dir.join("lib/more.rhai").to_str().unwrap()]);
    assert!(clash.stdout.contains("param \"port\" is read as string here and as integer at"), "{}", clash.stdout);
}

#[test]
fn runbook_tests_run_with_mocks_or_against_the_emulator_and_failures_name_their_lines() {
    // The shipped tests stand in for every call: no endpoint is reached.
    let shipped = Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["test", "runbooks"]).output();
    assert_eq!(shipped.code, 0, "{}\n{}", shipped.stdout, shipped.stderr);
    assert!(shipped.stdout.ends_with("5 passed, 0 failed\n"), "{}", shipped.stdout);
    assert!(shipped
        .stdout
        .contains("ok     runbooks/create_tg_test.rhai test_refuses_a_target_group_of_another_shape"));

    // Calls no mock stands in for reach the emulator; failures name the line that failed.
    let emu = Emulator::start();
    let test = script(
        "suite/made_test.rhai",
        r#"fn test_unmocked_calls_reach_the_endpoint() {
    run_runbook("create_tg.rhai", #{ tg_port: 8080 });
    assert_eq(calls("elbv2::create_target_group").len(), 1);
    assert_eq(calls("elbv2::describe_target_groups").len(), 1);
}
fn test_a_failing_assertion_names_its_line() {
    assert(1 + 1 == 3, "arithmetic");
}
fn test_a_mock_must_answer_what_aws_could() {
    mock("ec2::describe_vpcs", |input| #{ Vpcs: [#{ VpcID: "vpc-1" }] });
    run_runbook("create_tg.rhai");
}
fn test_an_aws_error_from_a_mock_is_expected_by_its_code() {
    mock("elbv2::describe_target_groups", |input| aws_error("AccessDenied", "not you"));
    expect_error(|| run_runbook("create_tg.rhai"), "AccessDenied");
}
"#,
    );
    let dir = test.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::copy(root().join("runbooks/create_tg.rhai"), dir.join("create_tg.rhai")).unwrap();
    for lib in ["settings", "aws"] {
        std::fs::copy(root().join(format!("runbooks/lib/{lib}.rhai")), dir.join(format!("lib/{lib}.rhai"))).unwrap();
    }
    // Without --live, a call no mock answers fails the test, and nothing reaches the emulator.
    let out = emu.runbook().args(["test", dir.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let unmocked = out.stdout.lines().find(|l| l.contains("test_unmocked_calls_reach_the_endpoint")).unwrap();
    assert!(
        unmocked.starts_with("FAILED ") && unmocked.contains("NotMocked: no mock stands in for ec2::describe_vpcs"),
        "{unmocked}"
    );
    assert!(unmocked.contains("`runbook test --live`"), "{unmocked}");
    let groups = emu.clients().block_on(emu.clients().elbv2.describe_target_groups().send()).unwrap();
    assert!(groups.target_groups().is_empty(), "nothing was sent");
    // With --live it is sent, and its writes are journaled: undo removes them.
    let out = emu.runbook().args(["test", "--live", dir.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let file = test.display().to_string();
    let line = |name: &str| out.stdout.lines().find(|l| l.contains(name)).unwrap_or_default().to_string();
    assert!(line("test_unmocked_calls_reach_the_endpoint").starts_with("ok "), "{}", out.stdout);
    assert!(line("test_an_aws_error_from_a_mock").starts_with("ok "), "{}", out.stdout);
    assert!(
        line("test_a_failing_assertion").contains(&format!("{file}:7:5: assertion failed: arithmetic")),
        "{}",
        out.stdout
    );
    let mismatch = line("test_a_mock_must_answer");
    assert!(
        mismatch.starts_with("FAILED ") && mismatch.contains(&format!("MockMismatch: the mock set at {file}:10")),
        "{mismatch}"
    );
    assert!(mismatch.contains("unknown key VpcID in Vpcs[0] (did you mean VpcId?)"), "{mismatch}");
    assert!(out.stdout.ends_with("2 passed, 2 failed\n"), "{}", out.stdout);
    assert_eq!(emu.clients().target_group("rent-a-room-tg").port(), Some(8080), "made in the emulator");
    let undo = emu.runbook().args(["undo", "last"]).output().success();
    assert!(undo.stdout.contains("removed target group"), "{}", undo.stdout);
    let groups = emu.clients().block_on(emu.clients().elbv2.describe_target_groups().send()).unwrap();
    assert!(groups.target_groups().is_empty(), "undone");
}

/// The names a runbook file reads as `p.NAME` (from its step's settings) and as `param("NAME"`.
fn names_used(text: &str) -> std::collections::BTreeSet<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = std::collections::BTreeSet::new();
    let steps = code.contains("let p = settings::");
    for (i, _) in code.match_indices("p.").filter(|_| steps) {
        if !code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            out.insert(ident(&code[i + 2..]));
        }
    }
    for (i, _) in code.match_indices("param(\"") {
        out.insert(ident(&code[i + 7..]));
    }
    out.retain(|n| !n.is_empty());
    out
}

#[test]
fn each_step_takes_exactly_the_parameters_its_code_reads() {
    // Every step of the folder: what `runbook params` lists is what the step's own code uses.
    let dir = root().join("runbooks");
    let mut steps = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rhai") || name.ends_with("_test.rhai") || name == "tutorial.rhai" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let relative = format!("runbooks/{name}");
        let out = Run::new().args(["params", &relative]).output().success();
        let listed: std::collections::BTreeSet<String> = out
            .stdout
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("NAME "))
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        assert_eq!(listed, names_used(&text), "{relative}:\n{}", out.stdout);
        steps += 1;
    }
    assert!(steps >= 10, "{steps} runbooks looked at");

    // A setting the step does not use is refused before anything is sent, naming the step that
    // reads it; the emulator holds nothing afterwards.
    let emu = Emulator::start();
    let before = emu.clients().state();
    let out = emu.runbook().args(["run", "runbooks/create_tg.rhai", "--set", "desired_count=2"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unknown parameter --set desired_count"), "{}", out.stderr);
    assert!(
        out.stderr.contains("desired_count is read by runbooks/scale.rhai (at runbooks/lib/settings.rhai:"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("which runbooks/create_tg.rhai does not run"), "{}", out.stderr);
    // Values outside what a parameter allows, at the line that says so.
    for (set, says) in [
        ("metric=gpu", "parameter metric: \"gpu\" is not one of cpu, memory, requests (from --set metric=gpu)"),
        ("healthy_threshold=11", "parameter healthy_threshold: 11 is outside 2..=10 (from --set healthy_threshold=11)"),
    ] {
        let file = if set.starts_with("metric") { "runbooks/autoscale.rhai" } else { "runbooks/create_tg.rhai" };
        let out = emu.runbook().args(["run", file, "--set", set]).output();
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains(says), "{}", out.stderr);
        assert!(out.stderr.contains("--> runbooks/lib/settings.rhai:"), "{}", out.stderr);
    }
    assert_eq!(emu.clients().state(), before, "nothing was made");
    // An allowed value runs.
    emu.runbook().args(["run", "runbooks/create_tg.rhai", "--set", "healthy_threshold=3"]).output().success();
    assert_eq!(emu.clients().target_group("rent-a-room-tg").healthy_threshold_count(), Some(3));

    // The allowed values themselves are checked: a default they leave out, and values only a run
    // could compute.
    let bad = script(
        "allowed.rhai",
        "let m = param(\"m\", \"gpu\", [\"cpu\", \"memory\"]);\nlet n = param(\"n\", 1, sizes);\nlet sizes = [1];\n\
         let z = param(\"zone\", \"a\", [\"a\", 2]);\nlet d = param(\"dyn_\" + \"name\", \"d\");\n",
    );
    let out = check(&[bad.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let file = bad.display().to_string();
    assert!(
        out.stdout.contains(&format!("{file}:1:1: param \"m\": \"gpu\" is not one of cpu, memory (its default)")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!("{file}:2:1: param \"n\": the allowed values")), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{file}:4:1: param \"zone\": the allowed value 2 is not of the default's type")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!("{file}:5:1: param's name is computed")), "{}", out.stdout);
}
