//! Safe runs: `plan` changes nothing and foresees the writes `run` makes; `run` journals every write
//! and `undo` returns the account to where it was; a killed run's journal names the call in flight;
//! `--step` asks before each write; created resources carry the run id.

use runbook_tests::{command, runbook_bin, script, Emulator};
use serde_json::Value;

/// The numbered writes of a plan listing: `  3. ecs::create_service  (…)` → `ecs::create_service`.
fn planned_writes(stdout: &str) -> Vec<String> {
    let listing = stdout.split("\nPlan for ").nth(1).expect("a plan listing");
    listing
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". ")?;
            n.parse::<u32>().ok()?;
            Some(rest.split_whitespace().next()?.to_string())
        })
        .collect()
}

fn intents(records: &[Value]) -> Vec<String> {
    records.iter().filter(|r| r["type"] == "intent").map(|r| r["function"].as_str().unwrap().to_string()).collect()
}

fn run_id(records: &[Value]) -> String {
    records[0]["run"].as_str().unwrap().to_string()
}

#[test]
fn plan_changes_nothing_and_lists_the_writes_that_run_then_makes() {
    let emu = Emulator::start();
    let c = emu.clients();
    let before = c.state();
    let plan = emu.runbook().args(["plan", "runbooks/tutorial.rhai"]).output().success();
    assert_eq!(c.state(), before, "plan changed the emulator's state");
    let planned = planned_writes(&plan.stdout);
    assert!(plan.stderr.contains("[info] (planned) created cluster rent-a-room-cluster\n"), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("Your application is available at: http://<elbv2.create_load_balancer#"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("\"LoadBalancerArn\": \"<elbv2.create_load_balancer#9 LoadBalancers[0].LoadBalancerArn>\""),
        "a placeholder flows into a later write:\n{}",
        plan.stdout
    );
    assert!(!emu.journal.exists() || std::fs::read_dir(&emu.journal).unwrap().count() == 0, "a plan is not a run");

    emu.runbook().runbook("runbooks/tutorial.rhai", &["propagation_wait=0"]).output().success();
    let made = intents(&emu.last_journal());
    assert_eq!(planned, made);
    assert_eq!(made.len(), 15, "{made:?}");
    assert_eq!(made[0..2], ["ec2::create_security_group", "ec2::authorize_security_group_ingress"]);
    assert_eq!(made[2], "ecs::create_cluster");

    // Planned again on the finished state: nothing to write, as the steps compare before they write.
    let again = emu.runbook().args(["plan", "runbooks/tutorial.rhai"]).output().success();
    assert_eq!(planned_writes(&again.stdout), Vec::<String>::new(), "{}", again.stdout);
    // With a changed setting, only the write that setting needs.
    let scaled = emu.runbook().args(["plan", "runbooks/tutorial.rhai", "--set", "desired_count=2"]).output().success();
    assert_eq!(planned_writes(&scaled.stdout), ["ecs::update_service"], "{}", scaled.stdout);
}

#[test]
fn run_then_undo_returns_the_emulator_to_its_state_before_the_run() {
    let emu = Emulator::start();
    let c = emu.clients();
    let before = c.state();
    let run =
        emu.runbook().runbook("runbooks/tutorial.rhai", &["emulator=true", "propagation_wait=0"]).output().success();
    let records = emu.last_journal();
    let id = run_id(&records);
    // The folder is not the default one: the command names it.
    let undo = format!("  undo:    runbook undo {id} --journal-dir {}\n", emu.journal.display());
    assert!(run.stderr.contains(&undo), "{}", run.stderr);
    assert!(run.stderr.contains("; 17 write(s), 17 created"), "{}", run.stderr);
    assert_eq!(records.last().unwrap()["outcome"], "succeeded");
    let during = c.state();
    assert_ne!(during, before);

    // An operation with an idempotency-token member gets one token per write, journaled and sent.
    let run_task = records.iter().find(|r| r["type"] == "intent" && r["operation"] == "RunTask").unwrap();
    let token = format!("{id}-{}", run_task["seq"]);
    assert_eq!(run_task["token"], serde_json::json!({ "clientToken": token }));
    assert_eq!(run_task["input"]["clientToken"], token);
    // Writes whose target can exist already journal what the look-up before them found.
    let sg = records.iter().find(|r| r["type"] == "intent" && r["operation"] == "CreateSecurityGroup").unwrap();
    assert_eq!(sg["before"], serde_json::json!({ "found": false }));

    // Tagged with the run id at creation.
    let tg = c.target_group("rent-a-room-tg");
    let tags = c.block_on(c.elbv2.describe_tags().resource_arns(tg.target_group_arn().unwrap()).send()).unwrap();
    let tag = tags.tag_descriptions()[0].tags().iter().find(|t| t.key() == Some("runbook:run-id")).cloned();
    assert_eq!(tag.and_then(|t| t.value().map(str::to_string)), Some(id.clone()));

    let dry = emu.runbook().args(["undo", &id, "--plan"]).output().success();
    assert!(dry.stdout.contains("would remove load balancer arn:"), "{}", dry.stdout);
    assert_eq!(c.state(), during, "undo --plan changes nothing");

    // `show` and `undo` say the same of the service's update, naming the service (not its cluster).
    let show = emu.runbook().args(["show", &id]).output().success();
    let said = show.stdout.lines().find(|l| l.contains("need not be")).unwrap_or_default().trim().to_string();
    assert!(said.starts_with("not undone, and need not be: it changed arn:aws:ecs:"), "{}", show.stdout);
    assert!(said.contains(":service/") && said.ends_with("rent-a-room-service, which this run created"), "{said}");
    let undo = emu.runbook().args(["undo", &id]).output().success();
    assert!(undo.stdout.contains(&format!("ecs::update_service: {said}")), "{}", undo.stdout);
    assert!(
        undo.stderr.contains("succeeded: 17 removed, 0 already gone, 2 left as they were, 0 failed"),
        "{}",
        undo.stderr
    );
    assert_eq!(c.state(), before);

    let twice = emu.runbook().args(["undo", &id]).output().success();
    assert!(twice.stdout.contains("was undone already by run"), "{}", twice.stdout);
    assert_eq!(c.state(), before);

    let runs = emu.runbook().args(["runs"]).output().success();
    assert_eq!(runs.stdout.lines().count(), 3, "the run and its undo:\n{}", runs.stdout);
    assert!(runs.stdout.contains(&format!("undo {id}")), "{}", runs.stdout);
}

#[test]
fn no_tag_leaves_created_resources_untagged() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &[]).args(["--no-tag"]).output().success();
    let c = emu.clients();
    let tg = c.target_group("rent-a-room-tg");
    let tags = c.block_on(c.elbv2.describe_tags().resource_arns(tg.target_group_arn().unwrap()).send()).unwrap();
    assert!(tags.tag_descriptions()[0].tags().is_empty());
    assert_eq!(emu.last_journal()[0]["tagged"], false);
}

#[test]
fn a_killed_run_leaves_the_call_in_flight_in_its_journal_and_a_rerun_completes() {
    let emu = Emulator::start();
    // The load balancer is created, but its answer never comes back: the worst moment to die.
    let (_proxy, mut child) = emu.tutorial_stalled_at("CreateLoadBalancer");
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();

    let records = emu.last_journal();
    let last = records.last().unwrap();
    assert_eq!(last["type"], "intent");
    assert_eq!(last["function"], "elbv2::create_load_balancer");
    assert_eq!(last["input"]["Name"], "rent-a-room-alb");
    let id = run_id(&records);
    let show = emu.runbook().args(["show", &id]).output().success();
    assert!(show.stdout.contains("IN FLIGHT when the run ended"), "{}", show.stdout);
    assert!(show.stdout.contains("no end record: the run was killed"), "{}", show.stdout);
    let runs = emu.runbook().args(["runs"]).output().success();
    assert!(runs.stdout.contains("unfinished"), "{}", runs.stdout);

    // Run again, straight to the emulator: the load balancer the killed run made is found, not duplicated.
    emu.runbook().runbook("runbooks/tutorial.rhai", &["emulator=true", "propagation_wait=0"]).output().success();
    let c = emu.clients();
    let lbs = c.block_on(c.elbv2.describe_load_balancers().send()).unwrap();
    assert_eq!(lbs.load_balancers().len(), 1);
    assert_eq!(c.listeners(lbs.load_balancers()[0].load_balancer_arn().unwrap()).len(), 1);
    assert_eq!(c.service("rent-a-room-cluster", "rent-a-room-service").desired_count(), 3);
    assert_eq!(c.scaling_policies(runbook_tests::SERVICE_RESOURCE).len(), 1);
}

#[test]
fn step_asks_before_each_write_and_honours_yes_no_and_quit() {
    let emu = Emulator::start();
    let file = script(
        "three.rhai",
        r#"
let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).query("Vpcs[0].VpcId");
for name in ["first", "second", "third"] {
    ec2::create_security_group(#{ GroupName: name, Description: "step " + name, VpcId: vpc });
    info("made " + name);
    print("after " + name);
}
"#,
    );
    let mut cmd = command(runbook_bin(), &emu.url);
    cmd.args(["run", "--step"]).arg(&file).env("RUNBOOK_JOURNAL_DIR", &emu.journal);
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("ec2::create_security_group").unwrap();
    p.exp_string("\"GroupName\": \"first\"").unwrap();
    p.exp_string("send it? [y]es / [n]o, skip / [a]ll the rest / [q]uit: ").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("[info] made first").unwrap();
    p.exp_string("after first").unwrap();
    p.exp_string("\"GroupName\": \"second\"").unwrap();
    p.exp_string("[q]uit: ").unwrap();
    p.send_line("n").unwrap();
    // A log line after a skipped write does not claim it was done.
    p.exp_string("[info] (skipped) made second").unwrap();
    p.exp_string("after second").unwrap();
    p.exp_string("\"GroupName\": \"third\"").unwrap();
    p.exp_string("[q]uit: ").unwrap();
    p.send_line("q").unwrap();
    p.exp_string("stopped by the operator before ec2::create_security_group").unwrap();
    p.exp_eof().unwrap();
    let status = p.process.wait().unwrap();
    assert_eq!(status, rexpect::process::WaitStatus::Exited(p.process.child_pid, 1));

    let c = emu.clients();
    assert_eq!(c.security_groups("group-name", "first").len(), 1);
    assert!(c.security_groups("group-name", "second").is_empty());
    assert!(c.security_groups("group-name", "third").is_empty());
    let records = emu.last_journal();
    let kinds: Vec<&str> = records.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "intent", "outcome", "skipped", "end"]);
    assert_eq!(records.last().unwrap()["outcome"], "stopped");
}

#[test]
fn a_put_that_replaced_an_inline_policy_is_recorded_as_replaced_and_undo_leaves_the_policy() {
    let emu = Emulator::start();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let file = script(
        "inline.rhai",
        &format!(
            "try {{ iam::get_role(#{{ RoleName: \"app-task-role\" }}); }} catch {{\n\
             iam::create_role(#{{ RoleName: \"app-task-role\", AssumeRolePolicyDocument: {trust:?} }});\n}}\n\
             iam::put_role_policy(#{{ RoleName: \"app-task-role\", PolicyName: \"read\", PolicyDocument: {policy:?} }});\n"
        ),
    );
    let path = file.to_str().unwrap();
    emu.runbook().args(["run", path]).output().success();
    let first = emu.last_journal();
    let outcome = first.iter().rev().find(|r| r["type"] == "outcome").unwrap();
    assert_eq!(outcome["created"][0]["kind"], "inline policy of", "{outcome}");

    // The second run only replaces the policy the first one made.
    emu.runbook().args(["run", path]).output().success();
    let second = emu.last_journal();
    let put = second.iter().find(|r| r["type"] == "intent" && r["operation"] == "PutRolePolicy").unwrap();
    assert_eq!(put["before"], serde_json::json!({ "found": true, "id": "app-task-role/read" }));
    let outcome = second.iter().rev().find(|r| r["type"] == "outcome").unwrap();
    assert_eq!(outcome["replaced"], "app-task-role/read", "{outcome}");
    assert_eq!(outcome["created"], serde_json::json!([]));
    let id = run_id(&second);
    let plan = emu.runbook().args(["undo", &id, "--plan"]).output().success();
    assert!(!plan.stdout.contains("delete_role_policy"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("not undone: it set app-task-role/read, which existed before this call"),
        "{}",
        plan.stdout
    );
    emu.runbook().args(["undo", &id]).output().success();
    let c = emu.clients();
    let kept = c.block_on(c.iam.get_role_policy().role_name("app-task-role").policy_name("read").send());
    assert!(kept.is_ok(), "undo of the second run deleted the policy the first run made");

    // Undoing the first run removes the policy and the role it created.
    let id = run_id(&first);
    emu.runbook().args(["undo", &id]).output().success();
    assert!(c.block_on(c.iam.get_role().role_name("app-task-role").send()).is_err());
}

#[test]
fn a_plan_applies_the_filters_of_reads_it_answers_and_foresees_the_writes_the_run_makes() {
    let emu = Emulator::start();
    let file = script(
        "lab_vpc.rhai",
        r#"let vpc = ec2::create_vpc(#{ CidrBlock: "10.1.0.0/16",
    TagSpecifications: [#{ ResourceType: "vpc", Tags: [#{ Key: "Name", Value: "lab" }] }] }).Vpc.VpcId;
fn subnet(vpc, name) {
    ec2::describe_subnets(#{ Filters: [#{ Name: "vpc-id", Values: [vpc] }, #{ Name: "tag:Name", Values: [name] }] }).Subnets
}
for name in ["a", "b"] {
    if subnet(vpc, name).len() == 0 {
        let cidr = if name == "a" { "10.1.1.0/24" } else { "10.1.2.0/24" };
        ec2::create_subnet(#{ VpcId: vpc, CidrBlock: cidr,
            TagSpecifications: [#{ ResourceType: "subnet", Tags: [#{ Key: "Name", Value: name }] }] });
    }
}
let rt = ec2::create_route_table(#{ VpcId: vpc }).RouteTable.RouteTableId;
for name in ["a", "b"] {
    let s = subnet(vpc, name);
    print(`${name}: ${s.len()} ${s[0].CidrBlock} ${s[0].SubnetId}`);
    ec2::associate_route_table(#{ RouteTableId: rt, SubnetId: s[0].SubnetId });
}
"#,
    );
    let path = file.to_str().unwrap();
    let plan = emu.runbook().args(["plan", path]).output().success();
    assert!(plan.stdout.contains("a: 1 10.1.1.0/24 <ec2.create_subnet#2 Subnet.SubnetId>"), "{}", plan.stdout);
    assert!(plan.stdout.contains("b: 1 10.1.2.0/24 <ec2.create_subnet#3 Subnet.SubnetId>"), "{}", plan.stdout);
    let planned = planned_writes(&plan.stdout);
    emu.runbook().args(["run", path]).output().success();
    let made = intents(&emu.last_journal());
    assert_eq!(planned, made);
    assert_eq!(made.len(), 6, "{made:?}");

    // A filter the plan cannot check is said plainly.
    let file = script(
        "state_filter.rhai",
        r#"let vpc = ec2::create_vpc(#{ CidrBlock: "10.2.0.0/16" }).Vpc.VpcId;
print(ec2::describe_vpcs(#{ Filters: [#{ Name: "vpc-id", Values: [vpc] }, #{ Name: "dhcp-options-id", Values: ["x"] }] }).Vpcs.len());
"#,
    );
    let plan = emu.runbook().args(["plan", file.to_str().unwrap()]).output().success();
    assert!(
        plan.stderr.contains(
            "[plan] ec2::describe_vpcs: the filter dhcp-options-id cannot be checked against resources that are only planned"
        ),
        "{}",
        plan.stderr
    );
}

/// Tags a run set on things that existed: undo puts back the values it replaced and removes only
/// the keys it added, in EC2, ELBv2 and ECS alike.
#[test]
fn undo_of_tags_puts_back_the_values_they_replaced_and_removes_only_the_keys_they_added() {
    let emu = Emulator::start();
    let setup = runbook_tests::script(
        "tagged.rhai",
        r#"let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).Vpcs[0].VpcId;
let prod = [#{ Key: "env", Value: "prod" }];
let sg = ec2::create_security_group(#{ GroupName: "tagged", Description: "tagged", VpcId: vpc,
    TagSpecifications: [#{ ResourceType: "security-group", Tags: prod }] }).GroupId;
let tg = elbv2::create_target_group(#{ Name: "tagged", Protocol: "HTTP", Port: 80, VpcId: vpc, Tags: prod })
    .TargetGroups[0].TargetGroupArn;
let cl = ecs::create_cluster(#{ clusterName: "tagged", tags: [#{ key: "env", value: "prod" }] }).cluster.clusterArn;
print(`${sg} ${tg} ${cl}`);
"#,
    );
    let made = emu.runbook().args(["run", setup.to_str().unwrap()]).output().success();
    let ids: Vec<&str> = made.stdout.split_whitespace().collect();
    let (sg, tg, cl) = (ids[0], ids[1], ids[2]);
    let tags = runbook_tests::script(
        "retag.rhai",
        r#"let both = [#{ Key: "env", Value: "staging" }, #{ Key: "owner", Value: "ops" }];
ec2::create_tags(#{ Resources: [param("sg", "")], Tags: both });
elbv2::add_tags(#{ ResourceArns: [param("tg", "")], Tags: both });
ecs::tag_resource(#{ resourceArn: param("cl", ""), tags: [#{ key: "env", value: "staging" }, #{ key: "owner", value: "ops" }] });
"#,
    );
    let read = runbook_tests::script(
        "read.rhai",
        r#"let ec2 = ec2::describe_tags(#{ Filters: [#{ Name: "resource-id", Values: [param("sg", "")] }] }).Tags;
let elb = elbv2::describe_tags(#{ ResourceArns: [param("tg", "")] }).TagDescriptions[0].Tags;
let ecs = ecs::list_tags_for_resource(#{ resourceArn: param("cl", "") }).tags;
let pairs = |list, k, v| { let p = list.filter(|t| !t[k].starts_with("runbook:")).map(|t| `${t[k]}=${t[v]}`); p.sort(); p };
print(`${pairs.call(ec2, "Key", "Value")} ${pairs.call(elb, "Key", "Value")} ${pairs.call(ecs, "key", "value")}`);
"#,
    );
    let sets = [format!("sg={sg}"), format!("tg={tg}"), format!("cl={cl}")];
    let with_sets = |file: &std::path::Path| {
        let mut args = vec!["run".to_string(), file.to_string_lossy().into_owned()];
        for s in &sets {
            args.extend(["--set".to_string(), s.clone()]);
        }
        emu.runbook().args(args).output().success()
    };
    assert_eq!(with_sets(&read).stdout.trim(), r#"["env=prod"] ["env=prod"] ["env=prod"]"#);
    with_sets(&tags);
    let after = r#"["env=staging", "owner=ops"] ["env=staging", "owner=ops"] ["env=staging", "owner=ops"]"#;
    assert_eq!(with_sets(&read).stdout.trim(), after);
    let undo = emu.runbook().args(["undo", "last"]).output().success();
    assert!(undo.stdout.contains("restored earlier tags on"), "{}", undo.stdout);
    assert_eq!(with_sets(&read).stdout.trim(), r#"["env=prod"] ["env=prod"] ["env=prod"]"#, "{}", undo.stdout);
}

#[test]
fn a_run_whose_writes_were_skipped_at_the_prompt_is_not_listed_as_no_change() {
    let emu = Emulator::start();
    let file = script(
        "skip.rhai",
        r#"let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).query("Vpcs[0].VpcId");
ec2::create_security_group(#{ GroupName: "skipped", Description: "skipped at the prompt", VpcId: vpc });
"#,
    );
    let mut cmd = command(runbook_bin(), &emu.url);
    cmd.args(["run", "--step"]).arg(&file).env("RUNBOOK_JOURNAL_DIR", &emu.journal);
    let mut p = rexpect::session::spawn_command(cmd, Some(20_000)).unwrap();
    p.exp_string("[q]uit: ").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("1 skipped").unwrap();
    p.exp_eof().unwrap();
    assert!(emu.clients().security_groups("group-name", "skipped").is_empty());
    let id = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let runs = emu.runbook().args(["runs"]).output().success();
    let row = runs.stdout.lines().find(|l| l.starts_with(&id)).unwrap_or_default().to_string();
    assert!(row.contains(" skipped ") && !row.contains("no change"), "{}", runs.stdout);
}
