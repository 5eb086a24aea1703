//! A converged account is left alone: every shipped runbook and example, run a second time with the
//! same parameters, sends no write, in a single run and in a fleet of two accounts; and `undo last`
//! passes over runs that changed nothing. `rollout.rhai` is the one exception by purpose: it forces a deployment each
//! time it runs.

use runbook_tests::Emulator;
use serde_json::Value;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// The writes a journal's run sent: each intent's function.
fn writes(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .filter(|r| r["type"] == "intent")
        .map(|r| r["function"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// The runbooks and examples, in an order in which each finds what it needs, with their parameters.
const CASES: &[(&str, &[&str])] = &[
    ("runbooks/tutorial.rhai", FAST),
    ("runbooks/prereqs.rhai", &[]),
    ("runbooks/create_tg.rhai", &[]),
    ("runbooks/create_tg.rhai", &["health_check_path=/health"]),
    ("runbooks/create_tg.rhai", &[]),
    ("runbooks/attach_alb.rhai", &[]),
    ("runbooks/scale.rhai", &[]),
    ("runbooks/scale.rhai", &["desired_count=2"]),
    ("runbooks/autoscale.rhai", &[]),
    ("runbooks/autoscale.rhai", &["metric=requests"]),
    ("runbooks/emulator_scheduler.rhai", &["emulator=true"]),
    ("runbooks/verify.rhai", &[]),
    ("examples/path_routing.rhai", &[]),
    ("examples/stickiness.rhai", &[]),
    ("examples/blue_green.rhai", &[]),
    ("examples/blue_green.rhai", &["to=rent-a-room-tg"]),
    ("examples/cross_region.rhai", &[]),
    ("examples/vpc.rhai", &[]),
    ("examples/https.rhai", &["domain=shop.example.com"]),
    ("examples/domain.rhai", &["domain=shop.example.com"]),
    ("runbooks/diagnose.rhai", &[]),
    ("runbooks/teardown.rhai", &[]),
];

/// The account and role of the fleet test's targets.
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];

/// Each case run twice, alone or as a fleet of two accounts: the second run sends no write, in any
/// target.
fn run_twice(fleet: bool) {
    let emu = Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0"), ("MOTO_ECS_SERVICE_RUNNING", "1")]);
    // The zone examples/https.rhai and domain.rhai write into, in each account that runs them.
    if fleet {
        for a in ACCOUNTS {
            let c = runbook_tests::Clients::in_region(&emu.url, "us-east-1", Some((a, "runbook")));
            c.block_on(c.route53.create_hosted_zone().name("example.com").caller_reference("converge").send()).unwrap();
        }
    } else {
        emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "converge"]);
    }
    let mut seen: Vec<String> = Vec::new();
    // The writes of the run just made: its own, or each target's of the fleet just made.
    let mut sent = |emu: &Emulator| -> Vec<Vec<String>> {
        if !fleet {
            return vec![writes(&emu.last_journal())];
        }
        let all = fleets(emu);
        let new: Vec<&(String, Vec<Value>)> = all.iter().filter(|(id, _)| !seen.contains(id)).collect();
        assert_eq!(new.len(), 1, "one new fleet journal");
        let (id, parent) = new[0];
        seen.push(id.clone());
        let children: Vec<&str> =
            parent.iter().filter(|r| r["type"] == "child").filter_map(|r| r["run"].as_str()).collect();
        assert_eq!(children.len(), ACCOUNTS.len(), "{parent:?}");
        children.iter().map(|child| writes(&read_journal(emu, child))).collect()
    };
    let run = |emu: &Emulator, file: &str, sets: &[&str]| {
        let run = emu.runbook().runbook(file, sets);
        let run = if fleet { run.args(["--accounts", &ACCOUNTS.join(","), "--assume-role", "runbook"]) } else { run };
        run.output()
    };
    let mut wrote_first = 0;
    for (file, sets) in CASES {
        let first = run(&emu, file, sets);
        assert!(first.code == 0, "{file} {sets:?} failed\n{}\n{}", first.stdout, first.stderr);
        wrote_first += sent(&emu).iter().map(Vec::len).sum::<usize>();
        let again = run(&emu, file, sets);
        assert!(again.code == 0, "{file} {sets:?} failed the second time\n{}\n{}", again.stdout, again.stderr);
        for target in sent(&emu) {
            assert_eq!(target, Vec::<String>::new(), "{file} {sets:?} run again wrote:\n{}", again.stderr);
        }
        if !fleet {
            assert_eq!(emu.last_journal().last().unwrap()["writes"], 0, "{file} {sets:?}");
        }
    }
    // The first runs did write: the second runs had something to leave alone.
    let targets = if fleet { ACCOUNTS.len() } else { 1 };
    assert!(wrote_first > 30 * targets, "the first runs wrote {wrote_first} times");
}

#[test]
fn every_runbook_and_example_run_again_writes_nothing() {
    run_twice(false);
}

#[test]
fn every_runbook_and_example_run_again_as_a_fleet_writes_nothing_in_any_target() {
    run_twice(true);
}

/// The records of the journal of run `id`.
fn read_journal(emu: &Emulator, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(emu.journal.join(format!("{id}.jsonl"))).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The fleet journals, oldest first: (id, records).
fn fleets(emu: &Emulator) -> Vec<(String, Vec<Value>)> {
    let mut out: Vec<(String, Vec<Value>)> = std::fs::read_dir(&emu.journal)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_string))
        .map(|id| {
            let text = std::fs::read_to_string(emu.journal.join(format!("{id}.jsonl"))).unwrap();
            (id, text.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<Value>>())
        })
        .filter(|(_, r)| r.first().is_some_and(|s| s["kind"] == "fleet"))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn a_fleet_run_again_writes_nothing_in_any_target_and_undo_last_skips_it() {
    let emu = Emulator::start_with(&[("MOTO_ECS_SERVICE_RUNNING", "1")]);
    let fleet = |emu: &Emulator| {
        emu.runbook()
            .runbook("runbooks/tutorial.rhai", FAST)
            .args(["--regions", "us-east-1,eu-west-1", "--accounts", "111111111111,222222222222"])
            .args(["--assume-role", "runbook"])
            .output()
            .success()
    };
    fleet(&emu);
    fleet(&emu);
    let fleets = fleets(&emu);
    assert_eq!(fleets.len(), 2, "{fleets:?}");
    let (first_id, parent) = (fleets[0].0.clone(), &fleets[1].1);
    let children: Vec<&str> =
        parent.iter().filter(|r| r["type"] == "child").filter_map(|r| r["run"].as_str()).collect();
    assert_eq!(children.len(), 4, "{parent:?}");
    for child in children {
        let records = read_journal(&emu, child);
        assert_eq!(writes(&records), Vec::<String>::new(), "target {} wrote again", records[0]["target"]);
    }

    // `runs` marks the fleet that changed nothing, and `undo last` passes over it to the one that did.
    let runs = emu.runbook().args(["runs"]).output().success();
    let row = runs.stdout.lines().find(|l| l.starts_with(parent[0]["run"].as_str().unwrap())).unwrap();
    assert!(row.contains("no change"), "{}", runs.stdout);
    let undo = emu.runbook().args(["undo", "last", "--plan"]).output().success();
    assert!(undo.stdout.contains(&first_id) || undo.stderr.contains(&first_id), "{}\n{}", undo.stdout, undo.stderr);
}

#[test]
fn a_sent_write_whose_values_held_already_is_marked_and_undo_last_passes_over_it() {
    let emu = Emulator::start();
    let zone = emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "held"]);
    let zone = zone["HostedZone"]["Id"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let vpc = emu.aws(&["ec2", "describe-vpcs"])["Vpcs"][0]["VpcId"].as_str().unwrap().to_string();
    // Written without a comparison: each run sends its writes.
    let file = runbook_tests::script(
        "held.rhai",
        &format!(
            r#"let value = param("value", "one");
route53::change_resource_record_sets(#{{ HostedZoneId: "{zone}", ChangeBatch: #{{ Changes: [#{{ Action: "UPSERT",
    ResourceRecordSet: #{{ Name: "held.example.com", Type: "TXT", TTL: 60, ResourceRecords: [#{{ Value: `"${{value}}"` }}] }} }}] }} }});
ec2::create_tags(#{{ Resources: ["{vpc}"], Tags: [#{{ Key: "held", Value: value }}] }});
"#
        ),
    );
    let run = |value: &str| {
        emu.runbook().runbook(file.to_str().unwrap(), &[&format!("value={value}")]).output().success();
        let journal = emu.last_journal();
        let outcomes: Vec<bool> =
            journal.iter().filter(|r| r["type"] == "outcome").map(|r| r["unchanged"] == true).collect();
        (journal[0]["run"].as_str().unwrap().to_string(), outcomes)
    };
    let (first, marks) = run("one");
    assert_eq!(marks, [false, false], "the first run changed both");
    let (again, marks) = run("one");
    assert_eq!(marks, [true, true], "the same values again changed nothing");
    let (other, marks) = run("two");
    assert_eq!(marks, [false, false], "new values changed both");

    let runs = emu.runbook().args(["runs"]).output().success();
    let row = |id: &str| runs.stdout.lines().find(|l| l.starts_with(id)).unwrap_or_default().to_string();
    assert!(row(&again).contains("no change"), "{}", runs.stdout);
    assert!(!row(&first).contains("no change") && !row(&other).contains("no change"), "{}", runs.stdout);

    // `undo last` takes the newest run that changed something: after `other` is undone, `first`.
    emu.runbook().args(["undo", "last"]).output().success();
    let plan = emu.runbook().args(["undo", "last", "--plan"]).output().success();
    let said = format!("{}{}", plan.stdout, plan.stderr);
    assert!(said.contains(&first) && !said.contains(&again), "{said}");
}
