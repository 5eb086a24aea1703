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
    let saved = script("placeholder.rhai", "").with_file_name("session.rhai");
    p.send_line(&format!(":save {}", saved.display())).unwrap();
    p.exp_string("saved 0 function(s) and 2 statement(s)").unwrap();
    p.exp_string("runbook> ").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(!text.contains("bogus_operation"), "failed statements are not saved:\n{text}");

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
