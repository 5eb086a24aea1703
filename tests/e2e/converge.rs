//! A converged account is left alone: every shipped runbook and example, run a second time with the
//! same parameters, sends no write, in a single run and in a fleet; and `undo last` passes over runs
//! that changed nothing. `rollout.rhai` is the one exception by purpose: it forces a deployment each
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

#[test]
fn every_runbook_and_example_run_again_writes_nothing() {
    let emu = Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0"), ("MOTO_ECS_SERVICE_RUNNING", "1")]);
    emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "converge"]);
    let mut wrote_first = 0;
    for (file, sets) in CASES {
        let first = emu.runbook().runbook(file, sets).output();
        assert!(first.code == 0, "{file} {sets:?} failed\n{}\n{}", first.stdout, first.stderr);
        wrote_first += writes(&emu.last_journal()).len();
        let again = emu.runbook().runbook(file, sets).output();
        assert!(again.code == 0, "{file} {sets:?} failed the second time\n{}\n{}", again.stdout, again.stderr);
        let journal = emu.last_journal();
        assert_eq!(writes(&journal), Vec::<String>::new(), "{file} {sets:?} run again wrote:\n{}", again.stderr);
        assert_eq!(journal.last().unwrap()["writes"], 0, "{file} {sets:?}");
    }
    // The first runs did write: the second runs had something to leave alone.
    assert!(wrote_first > 30, "the first runs wrote {wrote_first} times");
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
        let text = std::fs::read_to_string(emu.journal.join(format!("{child}.jsonl"))).unwrap();
        let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(writes(&records), Vec::<String>::new(), "target {} wrote again", records[0]["target"]);
    }

    // `runs` marks the fleet that changed nothing, and `undo last` passes over it to the one that did.
    let runs = emu.runbook().args(["runs"]).output().success();
    let row = runs.stdout.lines().find(|l| l.starts_with(parent[0]["run"].as_str().unwrap())).unwrap();
    assert!(row.contains("no change"), "{}", runs.stdout);
    let undo = emu.runbook().args(["undo", "last", "--plan"]).output().success();
    assert!(undo.stdout.contains(&first_id) || undo.stderr.contains(&first_id), "{}\n{}", undo.stdout, undo.stderr);
}
