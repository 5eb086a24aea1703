//! `runbook repl` driven through a pseudo-terminal, as a person would use it.

use runbook_tests::{script, Emulator};
use std::time::{Duration, Instant};

/// Sends one statement followed by `"mark-" + n`, and waits until the session prints `mark-n`: text
/// only evaluation produces (the prompt is redrawn while a line is typed, so it proves nothing).
fn run(p: &mut rexpect::session::PtySession, statement: &str, n: u32) {
    p.send_line(&format!("{statement} \"mark-\" + {n}")).unwrap();
    p.exp_string(&format!("mark-{n}")).unwrap();
}

/// Sends one statement and waits for `expected`, which only its evaluation prints.
fn says(p: &mut rexpect::session::PtySession, statement: &str, expected: &str) {
    p.send_line(statement).unwrap();
    p.exp_string(expected).unwrap();
}

fn history() -> std::path::PathBuf {
    script("history", "").with_file_name("repl-history")
}

#[test]
fn multi_line_input_and_completion_of_functions_and_parameters() {
    let emu = Emulator::start();
    let mut p = emu.repl(&history());
    // An open map continues on the next line.
    p.send_line("let m = #{").unwrap();
    p.exp_string("...> ").unwrap();
    p.send_line("  answer: 42 }").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_line("m.answer * 2").unwrap();
    p.exp_string("84").unwrap();
    p.exp_string("runbook> ").unwrap();

    // Tab completes a function name; the result prints.
    p.send("ec2::describe_availability_zo").unwrap();
    p.flush().unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.send("().query(\"AvailabilityZones[0].ZoneName\")\r").unwrap();
    p.flush().unwrap();
    p.exp_string("us-east-1a").unwrap();
    p.exp_string("runbook> ").unwrap();

    // Several candidates: Tab completes what they share, a second Tab lists them all.
    p.send("ec2::describe_vp").unwrap();
    p.flush().unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.exp_string("describe_vpc_attribute").unwrap();
    p.exp_string("describe_vpcs").unwrap();
    p.send("cs().query(\"length(Vpcs)\")\r").unwrap();
    p.flush().unwrap();
    p.exp_string("\r\n1\r\n").unwrap();
    p.exp_string("runbook> ").unwrap();

    // Tab completes a parameter name inside the operation's map.
    run(&mut p, "let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).query(\"Vpcs[0].VpcId\");", 1);
    p.send("let tg = elbv2::create_target_group(#{ Name: \"repl-tg\", Protocol: \"HTTP\", Port: 80, Vpc").unwrap();
    p.flush().unwrap();
    p.send("\t").unwrap();
    p.flush().unwrap();
    p.send(": vpc, TargetType: \"ip\" }); \"mark-\" + 2\r").unwrap();
    p.flush().unwrap();
    p.exp_string("mark-2").unwrap();
    p.send_line("print(tg.query(\"TargetGroups[0].TargetGroupName\") + \"-created\");").unwrap();
    p.exp_string("repl-tg-created").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();

    let c = emu.clients();
    assert_eq!(c.target_group("repl-tg").vpc_id(), Some(c.default_vpc().as_str()));
}

#[test]
fn ctrl_c_stops_a_wait_and_the_session_keeps_its_variables() {
    let emu = Emulator::start();
    let mut p = emu.repl(&history());
    run(&mut p, "let keep = \"still \" + \"here\";", 1);
    run(&mut p, "ecs::create_cluster(#{ clusterName: \"c\" }); ecs::register_task_definition(#{ family: \"f\", containerDefinitions: [#{ name: \"x\", image: \"nginx\", memory: 128 }] }); ecs::create_service(#{ cluster: \"c\", serviceName: \"s\", taskDefinition: \"f\", desiredCount: 2 });", 2);
    p.send_line("ecs::wait_services_stable(#{ cluster: \"c\", services: [\"s\"] }, #{ delay: 60, timeout: 600 })")
        .unwrap();
    p.exp_string("ecs::wait_services_stable: poll 1").unwrap();
    let pressed = Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("interrupted; the session's variables are kept").unwrap();
    // The next poll was a minute away: stopping well before it means Ctrl-C cut the wait short.
    assert!(pressed.elapsed() < Duration::from_secs(20), "stopped long before the next poll: {:?}", pressed.elapsed());
    p.exp_string("runbook> ").unwrap();
    p.send_line("keep").unwrap();
    p.exp_string("still here").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn history_is_kept_across_sessions() {
    let emu = Emulator::start();
    let file = history();
    let mut p = emu.repl(&file);
    p.send_line("40 + 2").unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.lines().any(|l| l == "40 + 2"), "{saved}");

    let mut p = emu.repl(&file);
    p.send("\x1b[A").unwrap();
    p.flush().unwrap(); // up: the previous session's last entry
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("42").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn save_writes_a_runbook_that_reproduces_the_session() {
    let emu = Emulator::start();
    let mut p = emu.repl(&history());
    run(&mut p, "let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).query(\"Vpcs[0].VpcId\");", 1);
    p.send_line("ec2::bogus_operation()").unwrap();
    p.exp_string("unknown function").unwrap();
    p.exp_string("runbook> ").unwrap();
    run(&mut p, "let sg = ec2::create_security_group(#{ GroupName: \"from-repl\", Description: \"made in the REPL\", VpcId: vpc }).GroupId;", 2);
    // REPL-only calls are left out of the saved runbook, where they would stop it half-way.
    p.send_line("help(\"elbv2::create_target_group\"); let port = 80;").unwrap();
    p.exp_string("TargetType").unwrap();
    p.exp_string("runbook> ").unwrap();
    let saved = script("placeholder.rhai", "").with_file_name("session.rhai");
    p.send_line(&format!(":save {}", saved.display())).unwrap();
    p.exp_string("saved 0 function(s) and 5 statement(s)").unwrap();
    p.exp_string("(1 REPL-only statement(s) such as help() left out)").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(!text.contains("bogus_operation"), "failed statements are not saved:\n{text}");
    assert!(!text.contains("help(") && text.contains("let port = 80;"), "{text}");

    let fresh = Emulator::start();
    fresh.runbook().args(["run", saved.to_str().unwrap()]).output().success();
    let groups = fresh.clients().security_groups("group-name", "from-repl");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].description(), Some("made in the REPL"));
}

#[test]
fn definitions_stay_callable_on_later_lines_and_save_replays() {
    let emu = Emulator::start();
    let helpers = script("helpers.rhai", "fn triple(x) { x * 3 }\n");
    let mut p = emu.repl(&history());
    p.send_line("fn double(x) { x * 2 }").unwrap();
    p.exp_string("runbook> ").unwrap();
    says(&mut p, "print(`double ${double(4)}`);", "double 8");
    // A definition over several lines, a redefinition, a closure kept in a variable.
    p.send_line("fn subnets_of(vpc) {").unwrap();
    p.exp_string("...> ").unwrap();
    p.send_line("  ec2::describe_subnets(#{ Filters: [#{ Name: \"vpc-id\", Values: [vpc] }] }).Subnets.len() }")
        .unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_line("fn double(x) { x * 10 }").unwrap();
    p.exp_string("runbook> ").unwrap();
    run(&mut p, "let f = |v| v + 100;", 2);
    says(&mut p, "print(`now ${double(4)} and ${f.call(5)}`);", "now 40 and 105");
    // An imported module and a loaded file's functions stay too.
    run(&mut p, "import \"runbooks/lib/aws\" as aws;", 4);
    says(
        &mut p,
        "let vpc = aws::default_vpc(); print(`subnets of the default VPC: ${subnets_of(vpc)}`);",
        "subnets of the default VPC: 6",
    );
    p.send_line(&format!(":load {}", helpers.display())).unwrap();
    p.exp_string("loaded").unwrap();
    says(&mut p, "print(`tripled ${triple(2)}`);", "tripled 6");
    p.send_line(":fns").unwrap();
    p.exp_string("fn subnets_of(vpc)").unwrap();
    p.exp_string("fn double(x)").unwrap();
    p.exp_string("fn triple(x)").unwrap();
    p.send_line(":vars").unwrap();
    p.exp_string("let vpc: string").unwrap();
    let saved = script("placeholder.rhai", "").with_file_name("definitions.rhai");
    p.send_line(&format!(":save {}", saved.display())).unwrap();
    p.exp_string("saved 3 function(s) and").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();

    let text = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(text.matches("fn double(").count(), 1, "the last definition only:\n{text}");
    assert!(text.contains("fn double(x) { x * 10 }"), "{text}");
    // The saved session runs as a runbook (imports resolve from the repository root, as in the REPL).
    let copy = runbook_tests::root().join(format!("repl-replay-{}.rhai", std::process::id()));
    std::fs::write(&copy, &text).unwrap();
    let out = emu.runbook().args(["run", copy.to_str().unwrap()]).output();
    let _ = std::fs::remove_file(&copy);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("now 40 and 105") && out.stdout.contains("tripled 6"), "{}", out.stdout);
}

/// Types `text`, then presses Tab `tabs` times.
fn tab(p: &mut rexpect::session::PtySession, text: &str, tabs: usize) {
    p.send(text).unwrap();
    p.flush().unwrap();
    for _ in 0..tabs {
        p.send("\t").unwrap();
        p.flush().unwrap();
    }
}

#[test]
fn tab_completes_resource_identifiers_with_the_accounts_values() {
    let emu = Emulator::start();
    let c = emu.clients();
    let vpc = c.default_vpc();
    let mut arns = Vec::new();
    for name in ["live-a", "live-b"] {
        let made =
            c.block_on(c.elbv2.create_target_group().name(name).protocol("HTTP".into()).port(80).vpc_id(&vpc).send());
        arns.push(made.unwrap().target_groups()[0].target_group_arn().unwrap().to_string());
    }
    let mut p = emu.repl(&history());

    // Two target groups: Tab completes what their ARNs share, a second Tab lists each with its name.
    tab(&mut p, "elbv2::describe_target_health(#{ TargetGroupArn: \"", 2);
    for (arn, name) in arns.iter().zip(["live-a", "live-b"]) {
        p.exp_regex(&format!("{}\\s+{name}", regex_escape(arn))).unwrap();
    }
    // Narrowed to one by what is typed, Tab completes the whole ARN, and the call finds it.
    let shared = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/live-";
    assert!(arns[0].starts_with(shared), "{}", arns[0]);
    tab(&mut p, "a", 1);
    p.send("\" }).query(\"length(TargetHealthDescriptions)\") + 100\r").unwrap();
    p.flush().unwrap();
    p.exp_string("\r\n100\r\n").unwrap();
    p.exp_string("runbook> ").unwrap();

    // A target group made in the session is offered at once: a write clears the kept answers.
    let create = format!(
        "elbv2::create_target_group(#{{ Name: \"live-c\", Protocol: \"HTTP\", Port: 80, VpcId: \"{vpc}\", TargetType: \"ip\" }});"
    );
    run(&mut p, &create, 7);
    tab(&mut p, "elbv2::describe_target_health(#{ TargetGroupArn: \"", 2);
    p.exp_regex("targetgroup/live-c/[0-9a-f]+\\s+live-c").unwrap();
    tab(&mut p, "c", 1);
    p.send("\" }).query(\"length(TargetHealthDescriptions)\") + 200\r").unwrap();
    p.flush().unwrap();
    p.exp_string("\r\n200\r\n").unwrap();
    p.exp_string("runbook> ").unwrap();

    // A name typed where the ARN goes completes to the ARN of the target group of that name.
    tab(&mut p, "elbv2::describe_target_health(#{ TargetGroupArn: \"live-b", 1);
    p.send("\" }).query(\"length(TargetHealthDescriptions)\") + 300\r").unwrap();
    p.flush().unwrap();
    p.exp_string("\r\n300\r\n").unwrap();
    p.exp_string("runbook> ").unwrap();

    // Subnet ids inside a list, completed from ec2::describe_subnets.
    let subnets: Vec<String> = c.default_subnets().iter().filter_map(|s| s.subnet_id()).map(str::to_string).collect();
    assert!(subnets.len() > 1, "{subnets:?}");
    // The first Tab completes the shared `subnet-` and redraws the line; the second lists them
    // above the line redrawn again.
    let line = "runbook> ec2::describe_subnets(#{ SubnetIds: [\"subnet-\r";
    tab(&mut p, "ec2::describe_subnets(#{ SubnetIds: [\"", 1);
    p.exp_string(line).unwrap();
    tab(&mut p, "", 1);
    let listed = p.exp_string(line).unwrap();
    for s in &subnets {
        assert!(listed.contains(s.as_str()), "{s} in {listed}");
    }
    let chosen = &subnets[1];
    tab(&mut p, chosen.strip_prefix("subnet-").unwrap(), 1);
    p.send("\"] }).query(\"Subnets[0].SubnetId\") + \"-found\"\r").unwrap();
    p.flush().unwrap();
    p.exp_string(&format!("{chosen}-found")).unwrap();
    p.exp_string("runbook> ").unwrap();

    // ECS services of the cluster typed before them in the same map, by name.
    let ecs = &c.ecs;
    c.block_on(ecs.create_cluster().cluster_name("other").send()).unwrap();
    c.block_on(ecs.create_cluster().cluster_name("web").send()).unwrap();
    let container = aws_sdk_ecs::types::ContainerDefinition::builder().name("x").image("nginx").memory(128).build();
    c.block_on(ecs.register_task_definition().family("f").container_definitions(container).send()).unwrap();
    c.block_on(ecs.create_service().cluster("other").service_name("elsewhere").task_definition("f").send()).unwrap();
    c.block_on(ecs.create_service().cluster("web").service_name("front").task_definition("f").send()).unwrap();
    tab(&mut p, "ecs::describe_services(#{ cluster: \"w", 1);
    tab(&mut p, "\", services: [\"", 1);
    p.send("\"] }).query(\"services[0].serviceName\") + \"-named\"\r").unwrap();
    p.flush().unwrap();
    p.exp_string("front-named").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

fn regex_escape(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_string() } else { format!("\\{c}") }).collect()
}

#[test]
fn an_endpoint_that_does_not_answer_never_holds_the_prompt() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let mut cmd = runbook_tests::command(runbook_tests::runbook_bin(), &url);
    cmd.arg("repl").env("RUNBOOK_HISTORY", history()).env("TERM", "xterm");
    cmd.env("RUNBOOK_JOURNAL_DIR", script("journal", "").with_file_name("journals"));
    let mut p = rexpect::session::spawn_command(cmd, Some(15_000)).unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send("ec2::describe_vpcs(#{ VpcIds: [\"").unwrap();
    p.flush().unwrap();
    p.exp_string("VpcIds: [\"").unwrap();
    let pressed = Instant::now();
    p.send("\t").unwrap();
    p.flush().unwrap();
    // No candidates: the terminal bell, once the wait for the endpoint is given up.
    p.exp_string("\u{7}").unwrap();
    let waited = pressed.elapsed();
    assert!(waited < Duration::from_secs(2), "the prompt came back after {waited:?}");
    // The line is still editable, and the session still evaluates.
    p.send_control('c').unwrap();
    p.exp_string("\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    p.send_line("40 + 2").unwrap();
    p.exp_string("\r\n42\r\n").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn lines_typed_ahead_all_run() {
    let emu = Emulator::start();
    let mut p = emu.repl(&history());
    // Three lines in one write, as a fast typist, `tmux send-keys` or `expect` send them: the
    // reader keeps what it read past the first line for the next.
    p.send("\"ahead-\" + 1\r\"ahead-\" + 2\r\"ahead-\" + 3\r").unwrap();
    p.flush().unwrap();
    for n in 1..=3 {
        p.exp_string(&format!("ahead-{n}")).unwrap();
    }
    p.exp_string("runbook> ").unwrap();
}

#[test]
fn aws_lines_run_print_as_the_cli_complete_and_save_as_calls() {
    let emu = Emulator::start();
    let c = emu.clients();
    let mut p = emu.repl(&history());
    // An aws line prints as the aws CLI prints it.
    says(
        &mut p,
        "aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].IsDefault' --output text",
        "\r\nTrue\r\n",
    );
    p.exp_string("runbook> ").unwrap();
    run(&mut p, "let vpc = ec2::describe_vpcs().query(\"Vpcs[0].VpcId\");", 1);
    // Tab completes an argument, then an enum value; a session variable is a value.
    tab(&mut p, "aws elbv2 create-target-group --name repl-aws --protocol HTTP --port 80 --vpc-id $vpc --target-ty", 1);
    tab(&mut p, " i", 2);
    p.exp_string("instance").unwrap();
    p.send("p --query 'TargetGroups[0].TargetType' --output text\r").unwrap();
    p.flush().unwrap();
    p.exp_string("\r\nip\r\n").unwrap();
    p.exp_string("runbook> ").unwrap();
    // A refused line says why and runs nothing.
    says(&mut p, "aws elbv2 describe-target-groupz", "did you mean describe-target-groups?");
    p.exp_string("runbook> ").unwrap();
    says(&mut p, "aws elbv2 describe-load-balancers --names nope", "An error occurred (LoadBalancerNotFound)");
    p.exp_string("runbook> ").unwrap();
    let saved = script("aws_lines.rhai", "").with_file_name("repl-aws-lines.rhai");
    says(&mut p, &format!(":save {}", saved.display()), "saved 0 function(s) and 4 statement(s)");
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();

    let tg = c.target_group("repl-aws");
    assert_eq!(tg.vpc_id(), Some(c.default_vpc().as_str()));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(
        text.contains("print(ec2::describe_vpcs(#{ Filters: [#{ Name: \"isDefault\", Values: [\"true\"] }] }).query(\"Vpcs[0].IsDefault\"));"),
        "{text}"
    );
    assert!(text.contains("elbv2::create_target_group(#{"), "{text}");
    assert!(text.contains(&format!("VpcId: \"{}\"", c.default_vpc())), "the variable's value: {text}");
    // The saved session is a runbook `check` finds nothing wrong in.
    emu.runbook().args(["check", &saved.to_string_lossy()]).output().success();
}
