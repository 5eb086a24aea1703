//! Undo, plan and `runs` tell the truth in every place: a fleet's target undone by its own id, two
//! targets in one place, closed pipes, plans across regions, plan answers shaped like real ones,
//! `undo last`, the fleet's rows, `read_file`'s limits, `:save` and `--step` skips.

use runbook_tests::{eventually, script, Clients, Emulator};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::Duration;

fn records(emu: &Emulator, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(emu.journal.join(format!("{id}.jsonl"))).expect("journal");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect()
}

/// The ids of the fleet journals in the emulator's journal folder, oldest first.
fn fleets(emu: &Emulator) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(&emu.journal)
        .expect("journal folder")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_string))
        .filter(|id| records(emu, id).first().is_some_and(|r| r["kind"] == "fleet" && r["mode"] == "run"))
        .collect();
    ids.sort();
    ids
}

fn children(emu: &Emulator, fleet: &str) -> Vec<String> {
    records(emu, fleet)
        .iter()
        .filter(|r| r["type"] == "child")
        .filter_map(|r| r["run"].as_str())
        .map(String::from)
        .collect()
}

fn target_groups(c: &Clients) -> Vec<String> {
    let out = c.block_on(c.elbv2.describe_target_groups().send()).unwrap();
    let mut names: Vec<String> =
        out.target_groups().iter().filter_map(|t| t.target_group_name()).map(String::from).collect();
    names.sort();
    names
}

#[test]
fn a_fleet_targets_run_undone_by_its_own_id_goes_to_its_account_and_role() {
    let emu = Emulator::start();
    let (account, region) = ("999900001112", "sa-east-1");
    let there = Clients::in_region(&emu.url, region, Some((account, "deployer")));
    emu.runbook()
        .args(["run", "runbooks/create_tg.rhai", "--accounts", account, "--assume-role", "deployer"])
        .args(["--regions", region, "--set", "tg_name=child-tg"])
        .output()
        .success();
    assert_eq!(target_groups(&there), ["child-tg"]);
    let fleet = fleets(&emu).pop().expect("a fleet journal");
    let child = children(&emu, &fleet).pop().expect("a child run");
    let start = &records(&emu, &child)[0];
    assert_eq!(start["account"], account);
    assert_eq!(start["credentials"]["role"], format!("arn:aws:iam::{account}:role/deployer"));

    // Credentials for another account are refused before anything is done, and nothing is claimed.
    let wrong =
        emu.runbook().args(["undo", &child, "--assume-role", "arn:aws:iam::111111111111:role/deployer"]).output();
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains(&format!("wrote in account {account}, but these credentials reach account 111111111111")),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("already gone"), "{}", wrong.stderr);
    assert_eq!(target_groups(&there), ["child-tg"], "nothing was undone from the wrong place");

    // The child's own id, as its summary prints it, with the caller's credentials: the role is
    // assumed again, and the target group goes from its own account.
    let undo = emu.runbook().args(["undo", &child]).output().success();
    assert!(undo.stderr.contains("1 removed, 0 already gone"), "{}", undo.stderr);
    assert_eq!(target_groups(&there), Vec::<String>::new());
    // The fleet's undo then finds that target undone, and says so rather than removing anything.
    let again = emu.runbook().args(["undo", &fleet]).output().success();
    assert!(again.stdout.contains("was undone already"), "{}", again.stdout);
    assert!(again.stderr.contains("1 of 1 targets undone"), "{}", again.stderr);
}

#[test]
fn two_targets_in_one_place_run_one_after_another_and_are_each_shown_and_undone() {
    let emu = Emulator::start();
    let targets = script(
        "targets.toml",
        "[[target]]\nregion = \"ca-central-1\"\nset = { tg_name = \"api-tg\" }\n\n\
         [[target]]\nregion = \"ca-central-1\"\nset = { tg_name = \"web-tg\" }\n",
    );
    let c = Clients::in_region(&emu.url, "ca-central-1", None);
    emu.runbook()
        .args(["run", "runbooks/create_tg.rhai", "--targets", targets.to_str().unwrap(), "--concurrency", "2"])
        .output()
        .success();
    assert_eq!(target_groups(&c), ["api-tg", "web-tg"]);
    let fleet = fleets(&emu).pop().unwrap();
    // Never at once: the second started after the first ended, at --concurrency 2.
    let order: Vec<String> = records(&emu, &fleet)
        .iter()
        .filter(|r| r["type"] == "child" || r["type"] == "child_end")
        .map(|r| format!("{} {}", r["type"].as_str().unwrap(), r["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        ["child ca-central-1#1", "child_end ca-central-1#1", "child ca-central-1#2", "child_end ca-central-1#2"]
    );
    let runs = children(&emu, &fleet);
    assert_eq!(runs.len(), 2);
    let show = emu.runbook().args(["show", &fleet]).output().success();
    for run in &runs {
        assert_eq!(show.stdout.matches(run.as_str()).count(), 1, "each child once: {}", show.stdout);
    }
    let undo = emu.runbook().args(["undo", &fleet]).output().success();
    assert!(undo.stderr.contains("2 of 2 targets undone"), "{}", undo.stderr);
    assert_eq!(target_groups(&c), Vec::<String>::new(), "both target groups are gone: {}", undo.stdout);

    // The same target twice is refused before anything runs anywhere.
    let twice = emu
        .runbook()
        .args(["run", "runbooks/create_tg.rhai", "--regions", "ca-central-1,ca-central-1", "--concurrency", "2"])
        .output();
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(twice.stderr.contains("target 2 (ca-central-1) repeats target 1 exactly"), "{}", twice.stderr);
    assert_eq!(target_groups(&c), Vec::<String>::new());
    assert_eq!(fleets(&emu).len(), 1, "no fleet journal for a refused run");
}

#[test]
fn a_closed_pipe_never_stops_a_run_and_its_lines_reach_the_journal() {
    let emu = Emulator::start();
    let mut child = emu
        .runbook()
        .args(["run", "runbooks/tutorial.rhai", "--set", "emulator=true", "--set", "propagation_wait=0"])
        .spawn();
    // `| head -2`: two lines read, then the pipe is closed.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
    }
    drop(out);
    let status = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    let journal = emu.last_journal();
    let end = journal.iter().rev().find(|r| r["type"] == "end").expect("an end record");
    assert_eq!(end["outcome"], "succeeded");
    assert_eq!(end["output_closed"], serde_json::json!(["stdout"]));
    assert!(journal.iter().any(|r| r["type"] == "output_closed" && r["stream"] == "stdout"));
    let kept: Vec<&str> = journal.iter().filter(|r| r["type"] == "output").filter_map(|r| r["line"].as_str()).collect();
    assert!(kept.iter().any(|l| l.contains("Target health:")), "{kept:?}");
    assert!(kept.iter().any(|l| l.contains("DescribeListeners")), "{kept:?}");
    assert!(stderr.contains("undo:    runbook undo"), "the undo line was printed: {stderr}");

    // Listing commands end quietly.
    let mut runs = emu.runbook().args(["runs"]).spawn();
    drop(runs.stdout.take());
    let runs = runs.wait_with_output().unwrap();
    assert_eq!(runs.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&runs.stderr), "");
}

#[test]
fn fleet_targets_whose_parent_died_finish_their_runs() {
    let emu = Emulator::start();
    let mut parent = emu
        .runbook()
        .args(["run", "runbooks/tutorial.rhai", "--set", "emulator=true", "--set", "propagation_wait=0"])
        .args(["--regions", "us-east-1,eu-west-1", "--concurrency", "2"])
        .spawn();
    let mut out = BufReader::new(parent.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    parent.kill().unwrap();
    parent.wait().unwrap();
    drop(out);
    let fleet = fleets(&emu).pop().unwrap();
    let runs = children(&emu, &fleet);
    assert_eq!(runs.len(), 2);
    for run in &runs {
        let end =
            eventually(Duration::from_secs(120), || records(&emu, run).into_iter().rev().find(|r| r["type"] == "end"))
                .unwrap_or_else(|| panic!("run {run} never ended"));
        assert_eq!(end["outcome"], "succeeded", "{end}");
        assert_eq!(end["parent_gone"], true, "{end}");
    }
    for region in ["us-east-1", "eu-west-1"] {
        let c = Clients::in_region(&emu.url, region, None);
        assert_eq!(c.listeners(c.load_balancer("rent-a-room-alb").load_balancer_arn().unwrap()).len(), 1);
    }
}

const TWO_REGIONS: &str = r#"
fn ensure_sg(name) {
    let found = ec2::describe_security_groups(#{ Filters: [#{ Name: "group-name", Values: [name] }] });
    if found.SecurityGroups.len() > 0 {
        return found.SecurityGroups[0].GroupId;
    }
    let sg = ec2::create_security_group(#{ GroupName: name, Description: "edge" });
    ec2::authorize_security_group_ingress(#{ GroupId: sg.GroupId, IpPermissions: [
        #{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: "0.0.0.0/0" }] }] });
    sg.GroupId
}
let home = ensure_sg("edge-sg");
let away = with_region("eu-west-1", || ensure_sg("edge-sg"));
print(`${home} ${away}`);
"#;

#[test]
fn a_plan_across_regions_sees_only_what_is_planned_in_each_region() {
    let emu = Emulator::start();
    let file = script("edge.rhai", TWO_REGIONS);
    let plan = emu.runbook().args(["plan", file.to_str().unwrap()]).output().success();
    assert!(plan.stdout.contains("4 write(s), none sent"), "{}", plan.stdout);
    assert!(plan.stdout.contains("  3. ec2::create_security_group in eu-west-1"), "{}", plan.stdout);
    let fourth = plan.stdout.split("  4. ").nth(1).expect("a fourth write");
    assert!(fourth.starts_with("ec2::authorize_security_group_ingress in eu-west-1"), "{fourth}");
    assert!(fourth.contains("<ec2.create_security_group#3 GroupId>"), "the eu-west-1 group: {fourth}");

    let run = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    assert!(run.stderr.contains("4 write(s), 4 created"), "{}", run.stderr);
    assert!(run.stderr.contains("(in eu-west-1)"), "{}", run.stderr);
    for region in ["us-east-1", "eu-west-1"] {
        let c = Clients::in_region(&emu.url, region, None);
        let groups = c.security_groups("group-name", "edge-sg");
        assert_eq!(groups.len(), 1, "{region}");
        assert_eq!(groups[0].ip_permissions().len(), 1, "{region}");
    }
    let id = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let show = emu.runbook().args(["show", &id]).output().success();
    assert!(show.stdout.contains("ec2::create_security_group in eu-west-1"), "{}", show.stdout);
    let replan = emu.runbook().args(["plan", file.to_str().unwrap()]).output().success();
    assert!(replan.stdout.contains("0 write(s), none sent"), "{}", replan.stdout);
    emu.runbook().args(["undo", &id]).output().success();
    for region in ["us-east-1", "eu-west-1"] {
        let c = Clients::in_region(&emu.url, region, None);
        assert!(c.security_groups("group-name", "edge-sg").is_empty(), "{region}");
    }
}

#[test]
fn a_plan_answers_policy_documents_as_maps_as_a_run_does() {
    let emu = Emulator::start();
    let file = script(
        "role.rhai",
        r#"
let trust = #{ Version: "2012-10-17", Statement: [#{ Effect: "Allow",
    Principal: #{ Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }] };
iam::create_role(#{ RoleName: "plan-role", AssumeRolePolicyDocument: trust });
let statement = iam::get_role(#{ RoleName: "plan-role" }).Role.AssumeRolePolicyDocument.Statement;
print(`${type_of(statement)} ${statement[0].Principal.Service}`);
"#,
    );
    let plan = emu.runbook().args(["plan", file.to_str().unwrap()]).output().success();
    let run = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    assert_eq!(run.stdout, "array ecs-tasks.amazonaws.com\n");
    assert!(plan.stdout.starts_with("array ecs-tasks.amazonaws.com\n"), "{}", plan.stdout);
}

#[test]
fn undo_last_takes_the_newest_run_that_wrote_and_says_which() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/create_tg.rhai", &["tg_name=last-tg"]).output().success();
    let wrote = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    // A run that only reads comes after it.
    let reads = script("reads.rhai", "print(elbv2::describe_target_groups().TargetGroups.len());");
    emu.runbook().args(["run", reads.to_str().unwrap()]).output().success();
    let undo = emu.runbook().args(["undo", "last"]).output().success();
    assert!(undo.stderr.contains(&format!("`last` is run {wrote}")), "{}", undo.stderr);
    assert!(undo.stderr.contains("1 removed"), "{}", undo.stderr);
    let c = Clients::in_region(&emu.url, "us-east-1", None);
    assert_eq!(target_groups(&c), Vec::<String>::new());
    // Nothing left to undo: said, not done again.
    let none = emu.runbook().args(["undo", "last"]).output();
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("no run in"), "{}", none.stderr);
}

#[test]
fn a_fleet_is_one_row_with_its_writes_and_endpoint_and_is_marked_undone() {
    let emu = Emulator::start();
    emu.runbook()
        .args(["run", "runbooks/create_tg.rhai", "--regions", "us-east-1,eu-west-1", "--set", "tg_name=row-tg"])
        .output()
        .success();
    let fleet = fleets(&emu).pop().unwrap();
    let row = |out: &str| out.lines().find(|l| l.starts_with(&fleet)).map(String::from).unwrap_or_default();
    let runs = emu.runbook().args(["runs"]).output().success();
    let line = row(&runs.stdout);
    let cells: Vec<&str> = line.split_whitespace().collect();
    // RUN STARTED OUTCOME WRITES REGION ENDPOINT FILE
    assert_eq!((cells[2], cells[3], cells[4], cells[5]), ("succeeded", "2", "many", emu.url.as_str()), "{line}");
    let dry = emu.runbook().args(["undo", &fleet, "--plan"]).output().success();
    assert!(dry.stderr.contains("2 targets would be undone"), "{}", dry.stderr);
    assert!(!dry.stderr.contains("targets undone"), "{}", dry.stderr);
    emu.runbook().args(["undo", &fleet]).output().success();
    let runs = emu.runbook().args(["runs"]).output().success();
    assert!(row(&runs.stdout).contains(" undone "), "{}", runs.stdout);
    let undo_rows: Vec<&str> = runs.stdout.lines().filter(|l| l.contains(&format!("undo {fleet}"))).collect();
    assert_eq!(undo_rows.len(), 1, "one row for the fleet's undo: {}", runs.stdout);
    assert!(undo_rows[0].contains("(fleet: 2 of 2 targets undone)"), "{}", undo_rows[0]);
    let again = emu.runbook().args(["undo", &fleet]).output().success();
    assert!(again.stdout.contains("was undone already"), "{}", again.stdout);
}

#[test]
fn read_file_reads_only_the_runbooks_folder_the_current_one_or_a_path_given() {
    let file = script("reader.rhai", "print(read_file(param(\"path\", \"note.txt\")).len());");
    let dir = file.parent().unwrap();
    std::fs::write(dir.join("note.txt"), "four").unwrap();
    let ok = runbook_tests::Run::new().args(["run", file.to_str().unwrap(), "--region", "us-east-1"]);
    let ok = ok.in_dir(dir).output().success();
    assert_eq!(ok.stdout, "4\n");
    let outside = std::env::temp_dir().join(format!("runbook-outside-{}.txt", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    let code = format!("print(read_file(\"{}\"));", outside.display());
    let sneaky = script("sneaky.rhai", &code);
    let refused = runbook_tests::Run::new().args(["run", sneaky.to_str().unwrap(), "--region", "us-east-1"]).output();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("is outside the runbook's folder and the current folder"), "{}", refused.stderr);
    assert!(!refused.stdout.contains("secret"));
    // A link inside the folder that leads out is refused too.
    std::os::unix::fs::symlink(&outside, dir.join("link.txt")).unwrap();
    std::fs::write(dir.join("link.rhai"), "print(read_file(\"link.txt\"));").unwrap();
    let linked = runbook_tests::Run::new()
        .args(["run", dir.join("link.rhai").to_str().unwrap(), "--region", "us-east-1"])
        .in_dir(dir)
        .output();
    assert_eq!(linked.code, 1, "{}", linked.stderr);
    assert!(
        linked.stderr.contains(&format!("link.txt leads to {}, which is outside", outside.display())),
        "{}",
        linked.stderr
    );
    // A path given on the command line is the operator's choice.
    let given = runbook_tests::Run::new()
        .args(["run", file.to_str().unwrap(), "--region", "us-east-1", "--set"])
        .args([format!("path={}", outside.display())])
        .output()
        .success();
    assert_eq!(given.stdout, "6\n");
    let _ = std::fs::remove_file(outside);
}

/// The types each function's answers had, from a `RUNBOOK_TRACE_TYPES` file: function → path → types.
fn traced(
    file: &std::path::Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>> {
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>> =
        Default::default();
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        // In a plan, only the answers it made up; reads it sent are AWS's own.
        if v["from_plan"] == false && file.to_string_lossy().contains("-plan-") {
            continue;
        }
        let paths = out.entry(v["function"].as_str().unwrap().to_string()).or_default();
        for (path, kind) in v["types"].as_object().unwrap() {
            let kinds = paths.entry(path.clone()).or_default();
            let kind = kind.as_str().unwrap().to_string();
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    out
}

#[test]
fn every_value_a_plan_answers_has_the_type_a_run_answers() {
    let emu = Emulator::start();
    let fast: &[&str] = &["emulator=true", "propagation_wait=0"];
    // Each runbook planned, then run, on the state the one before it left.
    let steps: [(&str, &[&str]); 6] = [
        ("runbooks/tutorial.rhai", fast),
        ("examples/path_routing.rhai", &[]),
        ("examples/stickiness.rhai", &["drain_seconds=45"]),
        ("examples/blue_green.rhai", &[]),
        ("examples/cross_region.rhai", &[]),
        ("examples/vpc.rhai", &[]),
    ];
    let mut compared = 0;
    for (n, (file, sets)) in steps.iter().enumerate() {
        let plan_trace = std::env::temp_dir().join(format!("runbook-types-plan-{}-{n}.jsonl", std::process::id()));
        let run_trace = std::env::temp_dir().join(format!("runbook-types-run-{}-{n}.jsonl", std::process::id()));
        let mut args = vec!["plan".to_string(), runbook_tests::root().join(file).to_string_lossy().into_owned()];
        for s in *sets {
            args.extend(["--set".to_string(), s.to_string()]);
        }
        let _ = std::fs::remove_file(&plan_trace);
        emu.runbook().env("RUNBOOK_TRACE_TYPES", plan_trace.to_str().unwrap()).args(args).output().success();
        emu.runbook().env("RUNBOOK_TRACE_TYPES", run_trace.to_str().unwrap()).runbook(file, sets).output().success();
        let (p, r) = (traced(&plan_trace), traced(&run_trace));
        for (function, paths) in &p {
            let Some(real) = r.get(function) else { continue };
            for (path, kinds) in paths {
                let Some(real_kinds) = real.get(path) else { continue };
                // An empty list or absent member is no type; every type the plan gave must be one AWS gives.
                for k in kinds.iter().filter(|k| *k != "unit") {
                    assert!(
                        real_kinds.contains(k) || real_kinds.iter().all(|r| r == "unit"),
                        "{file}: {function} {path}: the plan answered {k}, a run {real_kinds:?}"
                    );
                    compared += 1;
                }
            }
        }
        let _ = (std::fs::remove_file(&plan_trace), std::fs::remove_file(&run_trace));
    }
    eprintln!("{compared} values a plan made up were compared with a run's");
    assert!(compared > 300, "only {compared} values the plan made up were compared");
}

#[test]
fn last_is_the_run_started_last_even_within_one_second() {
    let emu = Emulator::start();
    let mut ids = Vec::new();
    for n in 1..=5 {
        emu.runbook().runbook("runbooks/create_tg.rhai", &[&format!("tg_name=order-{n}")]).output().success();
        ids.push(emu.last_journal()[0]["run"].as_str().unwrap().to_string());
    }
    for id in ids.iter().rev() {
        let undo = emu.runbook().args(["undo", "last"]).output().success();
        assert!(undo.stderr.contains(&format!("`last` is run {id}")), "{id} expected: {}", undo.stderr);
    }
    let runs = emu.runbook().args(["runs"]).output().success();
    let listed: Vec<&str> = runs.stdout.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    let made: Vec<&str> = listed.iter().copied().filter(|id| ids.iter().any(|i| i == id)).collect();
    assert_eq!(made, ids.iter().map(String::as_str).collect::<Vec<_>>(), "runs lists them in the order they started");
}
