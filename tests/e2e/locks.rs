//! Leased locks in a local journal folder: two runs of one runbook in one place never write at
//! once; a dead holder's lock frees itself; `runbook unlock` breaks one by hand and journals it.

use runbook_tests::{gate_beside as gate, open_gate as open, open_once_said, script, Emulator};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Creates the group `name`, holds the lock for `hold` seconds, then creates `name-after`.
const HOLDER: &str = concat!(
    "let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n\
     let name = param(\"name\", \"first\");\n\
     ec2::create_security_group(#{ GroupName: name, Description: \"d\", VpcId: vpc });\n\
     sleep(param(\"hold\", 0));\n",
    runbook_tests::gate_wait!(),
    "ec2::create_security_group(#{ GroupName: name + \"-after\", Description: \"d\", VpcId: vpc });\n"
);

fn groups(emu: &Emulator) -> Vec<String> {
    let out = emu.aws(&["ec2", "describe-security-groups"]);
    let mut names: Vec<String> = out["SecurityGroups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["GroupName"].as_str())
        .filter(|n| *n != "default")
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn lock_files(emu: &Emulator) -> Vec<PathBuf> {
    lock_files_in(&emu.journal)
}

fn lock_files_in(journal: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(journal.join("locks"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect())
        .unwrap_or_default()
}

/// Waits (polling the folder) until a run holds the lock; returns the holder's file.
fn held(emu: &Emulator, child: &mut Child) -> Value {
    held_in(&emu.journal, child)
}

fn held_in(journal: &Path, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(f) = lock_files_in(journal).first() {
            if let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(f).unwrap_or_default()) {
                return v;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the holder ended before it held the lock");
        assert!(Instant::now() < deadline, "no lock was taken");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (polling the emulator) until the group `name` exists: the holder's first write is done.
fn made(emu: &Emulator, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !groups(emu).iter().any(|g| g == name) {
        assert!(Instant::now() < deadline, "{name} was never made");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn journal_of(emu: &Emulator, run: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(emu.journal.join(format!("{run}.jsonl"))).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn run_id(stderr: &str) -> String {
    let line = stderr.lines().find(|l| l.trim_start().starts_with("journal:")).expect("a journal line");
    Path::new(line.split_whitespace().last().unwrap()).file_stem().unwrap().to_string_lossy().into_owned()
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

#[test]
fn a_second_run_in_the_same_place_is_refused_before_any_write_or_waits_its_turn() {
    let emu = Emulator::start();
    let file = script("holder.rhai", HOLDER);
    let file = file.to_str().unwrap();
    let first_gate = gate(file);
    let mut first = emu.runbook().args(["run", file, "--set", &format!("gate={first_gate}")]).spawn();
    let holder = held(&emu, &mut first);
    let first_run = holder["run"].as_str().unwrap().to_string();
    assert_eq!(holder["lock"], "holder.rhai", "the default name is the path from the project root: {holder}");
    assert_eq!(holder["lease_s"], 60);

    // Refused at its first write, naming the holder; nothing of it is made.
    let second = emu.runbook().args(["run", file, "--set", "name=second"]).output();
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains(&format!("the lock \"holder.rhai\" in 123456789012/us-east-1 is held by run {first_run} (")),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("`--lock-timeout SECONDS` waits for it"), "{}", second.stderr);
    assert!(!groups(&emu).contains(&"second".to_string()));
    let refused = emu.last_journal();
    assert!(refused.iter().all(|r| r["type"] != "intent"), "{refused:?}");
    assert_eq!(refused.last().unwrap()["outcome"], "refused");
    assert_eq!(refused.last().unwrap()["error"]["code"], "LockHeld");

    // A plan writes nothing and takes no lock; another lock name is another lock.
    emu.runbook().args(["plan", file, "--set", "name=planned"]).output().success();
    emu.runbook().args(["run", file, "--set", "name=other", "--lock", "other"]).output().success();

    // Waiting, it writes only once the first has ended.
    let third = emu.runbook().args(["run", file, "--set", "name=third", "--lock-timeout", "60"]).spawn();
    let (code, third) = open_once_said(third, "; waiting up to 60 s", &first_gate);
    assert_eq!(code, Some(0), "{third}");
    assert!(third.contains("[lock] holder.rhai in 123456789012/us-east-1 is held by run "), "{third}");
    assert!(first.wait().unwrap().success());
    let first_end = journal_of(&emu, &first_run).last().unwrap()["time"].as_str().unwrap().to_string();
    let third_records = journal_of(&emu, &run_id(&third));
    let third_write = third_records.iter().find(|r| r["type"] == "intent").unwrap()["time"].as_str().unwrap();
    assert!(first_end.as_str() <= third_write, "{first_end} > {third_write}");
    assert_eq!(groups(&emu), ["first", "first-after", "other", "other-after", "third", "third-after"]);
    assert!(lock_files(&emu).is_empty(), "every run gave its lock back: {:?}", lock_files(&emu));

    // Options out of range are refused before anything runs.
    let lease = emu.runbook().args(["run", file, "--lock-lease", "1"]).output();
    assert_eq!(lease.code, 2, "{}", lease.stderr);
    assert!(lease.stderr.contains("--lock-lease"), "{}", lease.stderr);
    let both = emu.runbook().args(["run", file, "--lock", "x", "--no-lock"]).output();
    assert_eq!(both.code, 2, "{}", both.stderr);
}

#[test]
fn a_dead_holders_lock_is_free_and_a_frozen_ones_lease_ends() {
    let emu = Emulator::start();
    let file = script("holder.rhai", HOLDER);
    let file = file.to_str().unwrap();

    // Killed with SIGKILL: it cannot give the lock back, but its process is gone, so the next run
    // does not wait for the lease.
    let mut killed = emu.runbook().args(["run", file, "--set", "hold=30"]).spawn();
    held(&emu, &mut killed);
    made(&emu, "first");
    signal(&killed, "-KILL");
    killed.wait().unwrap();
    let next = emu.runbook().args(["run", file, "--set", "name=next", "--lock-timeout", "60"]).output().success();
    assert!(!next.stderr.contains("[lock]"), "it did not wait: {}", next.stderr);

    // Frozen (alive, not renewing, as a holder cut off on another machine): its 10 s lease ends and
    // the waiting run goes ahead; thawed, the holder finds the lock gone and stops before its
    // next write.
    let frozen_gate = gate(file);
    let mut frozen = emu
        .runbook()
        .args(["run", file, "--set", "name=frozen", "--set", &format!("gate={frozen_gate}"), "--lock-lease", "10"])
        .spawn();
    held(&emu, &mut frozen);
    made(&emu, "frozen");
    signal(&frozen, "-STOP");
    let started = Instant::now();
    let waited = emu.runbook().args(["run", file, "--set", "name=waited", "--lock-timeout", "60"]).output().success();
    let took = started.elapsed();
    assert!(waited.stderr.contains("; waiting up to 60 s"), "{}", waited.stderr);
    assert!(took < Duration::from_secs(40), "went ahead within about one lease: {took:?}");
    // The wait is in its journal, for its timeline: how long, and for which lock.
    let journal = emu.last_journal();
    let lock_waits: Vec<&serde_json::Value> = journal
        .iter()
        .flat_map(|r| r["events"].as_array().into_iter().flatten())
        .filter(|c| c["kind"] == "lock")
        .collect();
    assert_eq!(lock_waits.len(), 1, "{journal:?}");
    assert!(lock_waits[0]["what"].as_str().unwrap().starts_with("lock "), "{}", lock_waits[0]);
    let ms = lock_waits[0]["ms"].as_u64().unwrap();
    assert!(ms >= 1_000 && ms <= took.as_millis() as u64, "{ms} ms of {took:?}");
    open(&frozen_gate);
    signal(&frozen, "-CONT");
    let out = frozen.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is this run's no longer"), "{stderr}");
    assert_eq!(groups(&emu), ["first", "frozen", "next", "next-after", "waited", "waited-after"]);
}

#[test]
fn unlock_breaks_a_lock_after_asking_and_journals_it() {
    let emu = Emulator::start();
    let file = script("holder.rhai", HOLDER);
    let file = file.to_str().unwrap();
    let mut holder = emu.runbook().args(["run", file, "--set", "hold=30"]).spawn();
    let h = held(&emu, &mut holder);
    made(&emu, "first");
    signal(&holder, "-STOP");

    // Nobody answers yes (standard input is empty): the lock stays.
    let declined = emu.runbook().args(["unlock", "holder.rhai"]).output();
    assert_eq!(declined.code, 1, "{}", declined.stderr);
    assert!(
        declined.stderr.contains(&format!(
            "lock holder.rhai in 123456789012/us-east-1: held by run {}",
            h["run"].as_str().unwrap()
        )),
        "{}",
        declined.stderr
    );
    assert!(declined.stderr.contains("left alone"), "{}", declined.stderr);
    assert_eq!(lock_files(&emu).len(), 1);
    let unknown = emu.runbook().args(["unlock", "nothing.rhai"]).output();
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("no lock named \"nothing.rhai\""), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("held: holder.rhai"), "{}", unknown.stderr);

    let broke = emu.runbook().args(["unlock", "holder.rhai", "--yes"]).output().success();
    assert!(broke.stderr.contains("broken"), "{}", broke.stderr);
    assert!(lock_files(&emu).is_empty());
    let records = journal_of(&emu, &run_id(&broke.stderr));
    assert_eq!(records[0]["kind"], "unlock");
    assert_eq!(records[1]["holder"]["run"], h["run"]);
    let runs = emu.runbook().args(["runs"]).output().success();
    assert!(runs.stdout.contains("(unlock holder.rhai)"), "{}", runs.stdout);
    // Its row names the region of the lock it broke, and no AWS endpoint (none was called).
    let row = runs.stdout.lines().find(|l| l.contains("(unlock holder.rhai)")).unwrap();
    let region = h["region"].as_str().unwrap();
    assert!(row.contains(&format!("  {region}  ")) && row.contains("  -  "), "{row}");
    let show = emu.runbook().args(["show", &run_id(&broke.stderr)]).output().success();
    assert!(!show.stdout.contains("null"), "{}", show.stdout);

    // Another run goes at once.
    let next = emu.runbook().args(["run", file, "--set", "name=next"]).output().success();
    assert!(!next.stderr.contains("[lock]"), "{}", next.stderr);
    signal(&holder, "-CONT");
    signal(&holder, "-TERM");
    assert_eq!(holder.wait().unwrap().code(), Some(143));
    assert_eq!(groups(&emu), ["first", "next", "next-after"]);
}

#[test]
fn a_project_file_sets_the_journal_folder_region_and_lease_for_everyone() {
    let emu = Emulator::start();
    let project = script("runbook.toml", "journal_dir = \"shared-journal\"\nregion = \"eu-west-1\"\nlock_lease = 20\n");
    let root = project.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(root.join("runbooks")).unwrap();
    std::fs::write(root.join("runbooks/holder.rhai"), HOLDER).unwrap();
    let journal = root.join("shared-journal");
    // From a folder below the file, with no region or journal folder in the environment.
    let run = || {
        emu.runbook()
            .in_dir(&root.join("runbooks"))
            .unset("RUNBOOK_JOURNAL_DIR")
            .unset("AWS_REGION")
            .unset("AWS_DEFAULT_REGION")
    };
    let holder_gate = gate(&root.join("runbooks/holder.rhai").to_string_lossy());
    let mut child = run().args(["run", "holder.rhai", "--set", &format!("gate={holder_gate}")]).spawn();
    let holder = held_in(&journal, &mut child);
    open(&holder_gate);
    assert_eq!(holder["lock"], "runbooks/holder.rhai", "named from the project's root: {holder}");
    assert_eq!((holder["region"].as_str(), holder["lease_s"].as_u64()), (Some("eu-west-1"), Some(20)));
    assert!(child.wait().unwrap().success());
    let made = emu.aws(&["ec2", "describe-security-groups", "--region", "eu-west-1", "--group-names", "first"]);
    assert_eq!(made["SecurityGroups"].as_array().map(Vec::len), Some(1));
    let runs = run().args(["runs"]).output().success();
    assert!(runs.stdout.contains("eu-west-1") && runs.stdout.contains("holder.rhai"), "{}", runs.stdout);
    // Flags win over the file.
    let flagged = run().args(["runs", "--journal-dir", emu.journal.to_str().unwrap()]).output().success();
    assert!(!flagged.stdout.contains("holder.rhai"), "{}", flagged.stdout);

    // A wrong file is named with its line, and nothing runs.
    std::fs::write(root.join("runbook.toml"), "region = \"eu-west-1\"\nregoin = \"x\"\n").unwrap();
    let wrong = run().args(["runs"]).output();
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("runbook.toml:2: unknown field `regoin`"), "{}", wrong.stderr);
}

#[test]
fn each_target_of_a_fleet_locks_its_place_as_a_plain_run_would_and_shares_it_with_its_siblings() {
    let emu = Emulator::start();
    let file = script("holder.rhai", HOLDER);
    let file = file.to_str().unwrap();
    let regions = ["--regions", "us-east-1,eu-west-1", "--concurrency", "2"];
    let fleet_gate = gate(file);
    let mut fleet = emu.runbook().args(["run", file, "--set", &format!("gate={fleet_gate}")]).args(regions).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut holders: Vec<Value> = loop {
        let held: Vec<Value> = lock_files(&emu)
            .iter()
            .filter_map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap_or_default()).ok())
            .collect();
        if held.len() == 2 {
            break held;
        }
        assert!(fleet.try_wait().unwrap().is_none(), "the fleet ended before both targets held their locks");
        assert!(Instant::now() < deadline, "the targets took no locks");
        std::thread::sleep(Duration::from_millis(50));
    };
    holders.sort_by_key(|h| h["region"].as_str().unwrap().to_string());
    assert_eq!(holders.iter().map(|h| h["region"].as_str().unwrap()).collect::<Vec<_>>(), ["eu-west-1", "us-east-1"]);
    assert_eq!(holders[0]["lock"], "holder.rhai", "{holders:?}");
    assert_eq!(holders[1]["lock"], "holder.rhai", "{holders:?}");
    assert_ne!(holders[0]["run"], holders[1]["run"]);
    assert!(holders[0]["group"].is_string() && holders[0]["group"] == holders[1]["group"], "{holders:?}");

    // A plain run of the same runbook in a target's place is refused, as is another fleet.
    let plain = emu.runbook().args(["run", file, "--set", "name=plain", "--region", "eu-west-1"]).output();
    assert_eq!(plain.code, 2, "{}", plain.stderr);
    assert!(
        plain.stderr.contains("the lock \"holder.rhai\" in 123456789012/eu-west-1 is held by run "),
        "{}",
        plain.stderr
    );
    let again = emu.runbook().args(["run", file, "--set", "name=again"]).args(regions).output();
    assert_ne!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("in 123456789012/eu-west-1 is held by run "), "{}", again.stderr);
    open(&fleet_gate);
    assert!(fleet.wait().unwrap().success());
    assert!(lock_files(&emu).is_empty());

    // A target's block in another target's place writes beside its sibling, which holds it.
    let across = script(
        "across.rhai",
        "let here = target().region;\n\
         let other = if here == \"us-east-1\" { \"eu-west-1\" } else { \"us-east-1\" };\n\
         ec2::create_security_group(#{ GroupName: \"home-\" + here, Description: \"d\", VpcId: ec2::describe_vpcs().Vpcs[0].VpcId });\n\
         sleep(2);\n\
         with_region(other, || ec2::create_security_group(#{ GroupName: \"from-\" + here, Description: \"d\", VpcId: ec2::describe_vpcs().Vpcs[0].VpcId }));\n\
         sleep(2);\n",
    );
    let out = emu.runbook().args(["run", across.to_str().unwrap()]).args(regions).output().success();
    assert!(out.stderr.contains("2 of 2 targets succeeded"), "{}", out.stderr);
    assert!(lock_files(&emu).is_empty());
}

#[test]
fn an_undo_takes_its_runs_lock_and_waits_for_a_run_holding_it() {
    let emu = Emulator::start();
    let file = script("holder.rhai", HOLDER);
    let file = file.to_str().unwrap();
    let made_first = emu.runbook().args(["run", file, "--set", "name=early"]).output().success();
    let early = run_id(&made_first.stderr);
    assert_eq!(journal_of(&emu, &early)[0]["lock"], "holder.rhai", "the run records its lock");

    let holding_gate = gate(file);
    let mut holder =
        emu.runbook().args(["run", file, "--set", "name=holding", "--set", &format!("gate={holding_gate}")]).spawn();
    held(&emu, &mut holder);
    made(&emu, "holding");
    // Refused at its first removal, naming the holder: nothing of the early run is removed yet.
    let refused = emu.runbook().args(["undo", &early]).output();
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "error: undo of {early} refused: the lock \"holder.rhai\" in 123456789012/us-east-1 is held by run "
        )),
        "{}",
        refused.stderr
    );
    assert!(groups(&emu).contains(&"early".to_string()) && groups(&emu).contains(&"early-after".to_string()));
    // Waiting, it removes them once the run has ended, and the run's own groups stay.
    let waited = emu.runbook().args(["undo", &early, "--lock-timeout", "60"]).spawn();
    let (code, waited) = open_once_said(waited, "; waiting up to 60 s", &holding_gate);
    assert_eq!(code, Some(0), "{waited}");
    assert!(holder.wait().unwrap().success());
    assert_eq!(groups(&emu), ["holding", "holding-after"]);
    assert!(lock_files(&emu).is_empty(), "the undo gave its lock back");
    // A run without a lock is undone without one.
    let free = emu.runbook().args(["run", file, "--set", "name=free", "--no-lock"]).output().success();
    let free = run_id(&free.stderr);
    assert_eq!(journal_of(&emu, &free)[0]["lock"], false);
    emu.runbook().args(["undo", &free]).output().success();
    assert_eq!(groups(&emu), ["holding", "holding-after"]);
}
