//! Undo reads the present before it puts a value back. Generated sequences of blue/green switches
//! (runs), hand changes with the aws CLI and undos in any order, checked against a model with the
//! listener read by the aws CLI after every step: undo never leaves the listener pointing at a
//! target group that is gone, never puts a value back over a later run's or a hand's change
//! without `--force`, and otherwise puts back exactly what was there before the run.

use runbook_tests::{Emulator, Rng};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];
const GROUPS: [&str; 3] = ["rent-a-room-tg", "rent-a-room-green-tg", "rent-a-room-red-tg"];

struct Listener<'a> {
    emu: &'a Emulator,
    arn: String,
}

impl Listener<'_> {
    /// The target group the listener forwards to, by ARN.
    fn target(&self) -> String {
        let out = self.emu.aws(&["elbv2", "describe-listeners", "--listener-arns", &self.arn]);
        out["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"].as_str().unwrap().to_string()
    }

    /// The target groups that exist: name → ARN.
    fn groups(&self) -> Vec<(String, String)> {
        let out = self.emu.aws(&["elbv2", "describe-target-groups"]);
        out["TargetGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["TargetGroupName"].as_str().unwrap().into(), t["TargetGroupArn"].as_str().unwrap().into()))
            .collect()
    }
}

/// A listener change, by a run or its undo (the run's index) or by hand; with what it set.
struct Change {
    by: Option<usize>,
    set: String,
}

struct RunM {
    id: String,
    /// The change it made to the listener, and what was there before it.
    change: Option<(usize, String)>,
    undone: bool,
}

fn sequence(seed: u64) {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb"]);
    let lb = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let arn = emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb])["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let listener = Listener { emu: &emu, arn };
    let mut rng = Rng(seed);
    let mut changes: Vec<Change> = Vec::new();
    let mut runs: Vec<RunM> = Vec::new();
    let mut log = Vec::new();
    // What the aws CLI reads after each step: where the listener forwards, and the groups there are.
    let mut before = listener.target();
    let mut groups = listener.groups();
    for step in 0..14 {
        let mut done = None;
        // A hand change needs another group, an undo a run not undone; else the step is a run.
        let others: Vec<(String, String)> = groups.iter().filter(|(_, a)| *a != before).cloned().collect();
        let open: Vec<usize> = (0..runs.len()).filter(|i| !runs[*i].undone).collect();
        let kind = match rng.below(5) {
            2 if others.is_empty() => 0,
            3 | 4 if open.is_empty() => 0,
            k => k,
        };
        match kind {
            0 | 1 => {
                let to = GROUPS[rng.below(GROUPS.len())];
                emu.runbook().runbook("examples/blue_green.rhai", &[&format!("to={to}")]).output().success();
                let journal = emu.last_journal();
                let id = journal[0]["run"].as_str().unwrap().to_string();
                let wrote = journal.iter().any(|r| r["type"] == "intent" && r["operation"] == "ModifyListener");
                log.push(format!("{step}: run {} to {to} (wrote the listener: {wrote})", runs.len()));
                runs.push(RunM { id, change: None, undone: false });
                done = Some((runs.len() - 1, wrote));
            }
            2 => {
                let (name, to) = &others[rng.below(others.len())];
                let actions = format!("Type=forward,TargetGroupArn={to}");
                emu.aws(&["elbv2", "modify-listener", "--listener-arn", &listener.arn, "--default-actions", &actions]);
                changes.push(Change { by: None, set: to.clone() });
                log.push(format!("{step}: by hand to {name}"));
            }
            _ => {
                let r = open[rng.below(open.len())];
                let out = emu.runbook().args(["undo", &runs[r].id]).output();
                let after = listener.target();
                groups = listener.groups();
                log.push(format!("{step}: undo run {r}: exit {}", out.code));
                let context =
                    || format!("seed {seed}\n{}\n--- undo said\n{}{}", log.join("\n"), out.stdout, out.stderr);
                if let Some((c, was)) = &runs[r].change {
                    // Refused: a later run not undone wrote it, or it is not what the run set (a
                    // hand change that set the same value again is not told apart, nor need it be).
                    let later = changes[c + 1..].iter().any(|ch| ch.by.is_some_and(|j| !runs[j].undone));
                    let moved = before != changes[*c].set;
                    if later || moved {
                        assert_eq!(after, before, "undo overwrote a later change\n{}", context());
                        assert_ne!(out.code, 0, "{}", context());
                    } else if groups.iter().any(|(_, a)| a == was) {
                        assert_eq!(&after, was, "undo did not put back what was there before\n{}", context());
                    } else {
                        assert_eq!(after, before, "undo pointed the listener at a group that is gone\n{}", context());
                        assert_ne!(out.code, 0, "{}", context());
                    }
                }
                if out.code == 0 {
                    runs[r].undone = true;
                    if after != before {
                        // The undo's own change: what comes after it is later than it.
                        changes.push(Change { by: Some(r), set: after.clone() });
                    }
                }
            }
        }
        let now = listener.target();
        groups = listener.groups();
        if let Some((r, true)) = done {
            changes.push(Change { by: Some(r), set: now.clone() });
            runs[r].change = Some((changes.len() - 1, before.clone()));
        }
        // Whatever happened, the listener forwards to a group that exists.
        assert!(
            groups.iter().any(|(_, a)| *a == now),
            "the listener forwards to {now}, which is gone\nseed {seed}\n{}",
            log.join("\n")
        );
        before = now;
    }
}

#[test]
fn undo_in_any_order_never_overwrites_a_later_change_nor_points_at_a_gone_group() {
    sequence(7);
}

#[test]
fn undo_in_another_order_never_overwrites_a_later_change_nor_points_at_a_gone_group() {
    sequence(1234);
    sequence(99);
}

#[test]
fn undo_names_the_later_run_and_force_puts_the_value_back() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let tg = |name: &str| {
        emu.aws(&["elbv2", "describe-target-groups", "--names", name])["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let blue = tg("rent-a-room-tg");
    let switch = |to: &str| {
        emu.runbook().runbook("examples/blue_green.rhai", &[&format!("to={to}")]).output().success();
        emu.last_journal()[0]["run"].as_str().unwrap().to_string()
    };
    let a = switch("rent-a-room-green-tg");
    let b = switch("rent-a-room-tg");
    let c = switch("rent-a-room-green-tg");
    let green = tg("rent-a-room-green-tg");
    let forwards = || {
        let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb"])["LoadBalancers"][0]
            ["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string();
        let l = emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb]);
        l["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"].as_str().unwrap().to_string()
    };
    // The plan says what the undo would refuse, and why.
    let plan = emu.runbook().args(["undo", &a, "--plan"]).output();
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("would not restore settings of listener"), "{}", plan.stdout);
    assert!(plan.stdout.contains(&format!("runs {b}, {c} changed")), "{}", plan.stdout);
    let undo = emu.runbook().args(["undo", &a]).output();
    assert_eq!(undo.code, 2, "{}{}", undo.stdout, undo.stderr);
    assert!(undo.stdout.contains(&format!("runs {b}, {c} changed settings of listener")), "{}", undo.stdout);
    assert!(undo.stdout.contains(&format!("run {c} used target group")), "{}", undo.stdout);
    assert!(undo.stderr.contains("2 not restored or removed (changed or used since)"), "{}", undo.stderr);
    assert_eq!(forwards(), green, "C's change stands");
    // A refused undo is not a finished one: it may be run again.
    let runs = emu.runbook().args(["runs"]).output().success();
    assert!(runs.stdout.lines().any(|l| l.contains(" refused ")), "{}", runs.stdout);

    // Undone newest first, each puts back what the one before it set.
    emu.runbook().args(["undo", &c]).output().success();
    assert_eq!(forwards(), blue);
    emu.runbook().args(["undo", &b]).output().success();
    assert_eq!(forwards(), green);

    // A hand change after A: refused, then --force puts A's before-value back over it.
    emu.runbook().runbook("examples/blue_green.rhai", &["to=rent-a-room-red-tg"]).output().success();
    let d = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let red = tg("rent-a-room-red-tg");
    let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb"])["LoadBalancers"][0]
        ["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let listener = emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb])["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let actions = format!("Type=forward,TargetGroupArn={blue}");
    emu.aws(&["elbv2", "modify-listener", "--listener-arn", &listener, "--default-actions", &actions]);
    let undo = emu.runbook().args(["undo", &d]).output();
    assert_eq!(undo.code, 2, "{}{}", undo.stdout, undo.stderr);
    assert!(undo.stdout.contains("was changed since this run, by hand or by a run undone since"), "{}", undo.stdout);
    assert_eq!(forwards(), blue, "the hand change stands");
    let forced = emu.runbook().args(["undo", &d, "--force"]).output();
    assert_eq!(forced.code, 0, "{}{}", forced.stdout, forced.stderr);
    assert_eq!(forwards(), green, "forced, the value before the run is back");
    // And the group the run made is gone with it, the listener having left it first.
    let groups = emu.aws(&["elbv2", "describe-target-groups"]);
    let arns: Vec<&str> =
        groups["TargetGroups"].as_array().unwrap().iter().filter_map(|t| t["TargetGroupArn"].as_str()).collect();
    assert!(!arns.contains(&red.as_str()), "{arns:?}");
}

#[test]
fn a_fleets_undo_refused_in_one_target_exits_2_as_a_single_undo_does() {
    let emu = Emulator::start();
    let regions = ["--regions", "us-east-1,eu-west-1"];
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).args(regions).output().success();
    emu.runbook().runbook("examples/blue_green.rhai", &[]).args(regions).output().success();
    // By hand, in one region: the listener goes back to the tutorial's group.
    let region = ["--region", "eu-west-1"];
    let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb", region[0], region[1]]);
    let lb = lb["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
    let l = emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb, region[0], region[1]]);
    let listener = l["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string();
    let tg = emu.aws(&["elbv2", "describe-target-groups", "--names", "rent-a-room-tg", region[0], region[1]]);
    let actions = format!("Type=forward,TargetGroupArn={}", tg["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap());
    emu.aws(&[
        "elbv2",
        "modify-listener",
        "--listener-arn",
        &listener,
        "--default-actions",
        &actions,
        region[0],
        region[1],
    ]);
    let undo = emu.runbook().args(["undo", "last"]).output();
    assert_eq!(undo.code, 2, "{}\n{}", undo.stdout, undo.stderr);
    assert!(undo.stderr.contains("1 of 2 targets undone"), "{}", undo.stderr);
}
