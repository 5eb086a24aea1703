//! Shards: one fleet's targets split over processes started at once, as a Kubernetes Indexed Job,
//! an AWS Batch array job or a CI matrix starts them; one fleet in the store, one undo for all.

use crate::store::{keys, Machine, STORE};
use runbook_tests::{root, Clients, Emulator};

const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// A shard's own options and environment.
type Source = (&'static [&'static str], &'static [(&'static str, &'static str)]);

fn target_groups(emu: &Emulator, account: &str, region: &str) -> usize {
    let c = Clients::in_region(&emu.url, region, Some((account, "runbook")));
    c.block_on(c.elbv2.describe_target_groups().send()).unwrap().target_groups().len()
}

#[test]
fn four_shards_started_at_once_make_one_fleet_that_one_undo_empties() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let mut text = String::new();
    for a in ACCOUNTS {
        for r in REGIONS {
            text.push_str(&format!("[[target]]\naccount = \"{a}\"\nrole = \"runbook\"\nregion = \"{r}\"\n\n"));
        }
    }
    let targets = runbook_tests::script("shards/targets.toml", &text);
    let targets = targets.to_str().unwrap();
    let file = root().join("runbooks/create_tg.rhai");
    let file = file.to_str().unwrap();

    // Each shard on a machine of its own, its index from a different source.
    let sources: [Source; 4] = [
        (&["--shard", "1/4", "--fleet-id", "deploy-7"], &[]),
        (&["--shard", "2/4", "--fleet-id", "deploy-7"], &[]),
        (&["--shards", "4", "--fleet-id", "deploy-7"], &[("JOB_COMPLETION_INDEX", "2")]),
        (
            &[],
            &[("AWS_BATCH_JOB_ARRAY_INDEX", "3"), ("AWS_BATCH_JOB_ARRAY_SIZE", "4"), ("RUNBOOK_FLEET_ID", "deploy-7")],
        ),
    ];
    let outs: Vec<runbook_tests::Output> = std::thread::scope(|s| {
        let handles: Vec<_> = sources
            .iter()
            .enumerate()
            .map(|(i, (args, env))| {
                let emu = &emu;
                s.spawn(move || {
                    let machine = Machine::new(&format!("shard{i}"));
                    let mut run = machine.runbook(emu).args(["run", file, "--targets", targets]).args(*args);
                    for (k, v) in *env {
                        run = run.env(k, v);
                    }
                    run.output()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.code, 0, "shard {}: {}\n{}", i + 1, out.stdout, out.stderr);
        let said = format!("runbook: shard {} of 4 (from ", i + 1);
        assert!(out.stderr.contains(&said), "{}", out.stderr);
        // 6 targets over 4 shards: positions 0 and 4 in the first, 1 and 5 in the second, 2, 3.
        let mine = if i < 2 { 2 } else { 1 };
        assert!(out.stderr.contains(&format!("{mine} of the 6 targets, of fleet deploy-7")), "{}", out.stderr);
        let undo = format!("undo them all: runbook undo deploy-7 --journal-dir {STORE}\n");
        assert!(out.stderr.contains(&undo), "the command names the store: {}", out.stderr);
    }
    for a in ACCOUNTS {
        for r in REGIONS {
            assert_eq!(target_groups(&emu, a, r), 1, "one target group in {a}/{r}");
        }
    }
    // Four shard journals (and six targets' journals) in the store.
    let starts = keys(&emu, "ops/runs/").iter().filter(|k| k.ends_with("/00000000.json")).count();
    assert_eq!(starts, 10, "4 shards and 6 targets");

    // From another machine with nothing local: one fleet, every shard's targets, one undo.
    let laptop = Machine::new("shard-laptop");
    let runs = laptop.runbook(&emu).args(["runs"]).output().success();
    assert_eq!(runs.stdout.lines().count(), 2, "{}", runs.stdout);
    assert!(runs.stdout.starts_with("RUN") && runs.stdout.contains("\ndeploy-7 "), "{}", runs.stdout);
    assert!(runs.stdout.contains("(fleet: 6 of 6 targets succeeded)"), "{}", runs.stdout);
    let show = laptop.runbook(&emu).args(["show", "deploy-7"]).output().success();
    assert!(show.stdout.starts_with("run deploy-7 (fleet of 4 shards): "), "{}", show.stdout);
    for a in ACCOUNTS {
        for r in REGIONS {
            let row = format!("  {a}/{r} ");
            let line =
                show.stdout.lines().find(|l| l.starts_with(&row)).unwrap_or_else(|| panic!("{row} in {}", show.stdout));
            assert!(line.contains(" succeeded "), "{line}");
        }
    }
    for i in 1..=4 {
        assert!(show.stdout.contains(&format!("  shard {i} of 4 ")), "{}", show.stdout);
    }
    assert!(show.stdout.contains("succeeded, 6 of 6 targets succeeded"), "{}", show.stdout);
    // Its timeline, drawn on the laptop from the store's journals: a lane for each target of
    // every shard, each with the calls its own journal holds.
    let picture = laptop.cwd.join("deploy-7.svg");
    let drawn = laptop.runbook(&emu).args(["show", "deploy-7", "--timeline", picture.to_str().unwrap()]);
    let drawn = drawn.output().success();
    assert!(drawn.stderr.contains(" in 6 lanes"), "{}", drawn.stderr);
    let picture = std::fs::read_to_string(&picture).unwrap();
    for a in ACCOUNTS {
        for r in REGIONS {
            let lane = "<g class=\"lane\" data-index=";
            let at = picture.find(&format!("data-label=\"{a}/{r}\"")).unwrap_or_else(|| panic!("{a}/{r}: {picture}"));
            let rest = &picture[at..];
            let calls = rest[..rest.find("</g>").unwrap()].matches("class=\"call\"").count();
            assert!(calls >= 3, "{a}/{r}: {calls} calls drawn");
            assert_eq!(picture.matches(lane).count(), 6);
        }
    }

    let undo = laptop.runbook(&emu).args(["undo", "deploy-7", "--concurrency", "3"]).output().success();
    assert!(undo.stderr.contains("undo of fleet run deploy-7 succeeded: 6 of 6 targets undone"), "{}", undo.stderr);
    for a in ACCOUNTS {
        for r in REGIONS {
            assert_eq!(target_groups(&emu, a, r), 0, "nothing left in {a}/{r}");
        }
    }
    let again = Machine::new("shard-other").runbook(&emu).args(["undo", "deploy-7"]).output().success();
    assert!(
        again.stdout.contains("fleet run deploy-7 was undone already by run "),
        "{}\n{}",
        again.stdout,
        again.stderr
    );

    // A shard that reuses the id of a fleet undone already joins nothing, from any machine.
    let reused = Machine::new("shard-late").runbook(&emu);
    let reused = reused.args(["run", file, "--targets", targets, "--shard", "1/4", "--fleet-id", "deploy-7"]).output();
    assert_eq!(reused.code, 2, "{}", reused.stderr);
    assert!(reused.stderr.contains("fleet deploy-7 (from "), "{}", reused.stderr);
    assert!(reused.stderr.contains("was undone by run "), "{}", reused.stderr);
    assert!(reused.stderr.contains("a finished undo is final"), "{}", reused.stderr);

    // A shard that cannot say which fleet it is part of stops before anything runs.
    let lone = laptop.runbook(&emu).args(["run", file, "--targets", targets, "--shard", "1/2"]).unset("GITHUB_RUN_ID");
    let lone = lone.unset("AWS_BATCH_JOB_ID").unset("CI_PIPELINE_ID").unset("RUNBOOK_FLEET_ID").output();
    assert_eq!(lone.code, 2, "{}", lone.stderr);
    assert!(lone.stderr.contains("a shard needs the fleet it is part of"), "{}", lone.stderr);
    let wrong = laptop.runbook(&emu).args(["run", file, "--targets", targets, "--shard", "3/2"]).output();
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("--shard \"3/2\": the shard must be 1 to 2"), "{}", wrong.stderr);
    for a in ACCOUNTS {
        for r in REGIONS {
            assert_eq!(target_groups(&emu, a, r), 0, "the refused shards wrote nothing in {a}/{r}");
        }
    }
}

/// The command a shard example starts, shard `i` (from 1) of 4: from a manifest's `command` list,
/// or a workflow step's folded `run` block.
fn example_command(file: &str, i: usize) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    if let Some(line) = text.lines().find(|l| l.trim_start().starts_with("command: [\"runbook\"")) {
        let list = line.trim_start().trim_start_matches("command:").trim();
        return serde_json::from_str::<Vec<String>>(list).unwrap().into_iter().skip(1).collect();
    }
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("run: >-")).skip(1);
    let first = lines.next().unwrap();
    let indent = first.len() - first.trim_start().len();
    let mut command = first.trim().to_string();
    for l in lines.take_while(|l| l.len() - l.trim_start().len() >= indent && !l.trim().is_empty()) {
        command.push(' ');
        command.push_str(l.trim());
    }
    let command = command.replace("${{ matrix.shard }}", &i.to_string());
    command.split_whitespace().skip(1).map(str::to_string).collect()
}

#[test]
fn the_shard_examples_command_lines_run_with_this_version() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    for (file, env_of) in [
        ("examples/shards/k8s-indexed-job.yaml", Some("JOB_COMPLETION_INDEX")),
        ("examples/shards/github-actions-matrix.yml", None),
    ] {
        let machine = Machine::new(&format!("example-{}", file.len()));
        for i in 1..=4 {
            let mut args = example_command(file, i);
            assert_eq!(&args[..2], ["run", "runbooks/tutorial.rhai"], "{file}: {args:?}");
            // As a plan: the same options, read in full, sending reads only.
            args[0] = "plan".into();
            args.extend(["--set", "emulator=true", "--set", "propagation_wait=0"].map(String::from));
            let mut run = machine
                .runbook(&emu)
                .in_dir(&root())
                .args(&args)
                .env("GITHUB_RUN_ID", "77")
                .env("GITHUB_REPOSITORY", "ops/infra");
            if let Some(k) = env_of {
                run = run.env(k, &(i - 1).to_string()).env("RUNBOOK_FLEET_ID", "0f6b2c1e");
            }
            let out = run.output();
            assert_eq!(out.code, 0, "{file} shard {i}: {args:?}\n{}\n{}", out.stdout, out.stderr);
            assert!(out.stderr.contains(&format!("runbook: shard {i} of 4 (from ")), "{}", out.stderr);
            assert!(out.stderr.contains("1 of the 4 targets"), "{}", out.stderr);
        }
    }
}
