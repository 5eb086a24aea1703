//! Journals in S3 (`--journal-dir s3://BUCKET/PREFIX`): a run made on one machine is listed, shown
//! and undone from another with nothing local, and locks are objects of the store.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{command, root, runbook_bin, script, Emulator, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) const STORE: &str = "s3://team-journals/ops";

/// A machine of its own: its home (and so its cache) and its working folder.
pub(crate) struct Machine {
    pub(crate) home: PathBuf,
    pub(crate) cwd: PathBuf,
}

impl Machine {
    pub(crate) fn new(name: &str) -> Machine {
        let base = script(&format!("{name}/.keep"), "").parent().unwrap().to_path_buf();
        let (home, cwd) = (base.join("home"), base.join("work"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        Machine { home, cwd }
    }

    pub(crate) fn runbook(&self, emu: &Emulator) -> Run {
        emu.runbook()
            .in_dir(&self.cwd)
            .env("HOME", self.home.to_str().unwrap())
            .unset("XDG_CACHE_HOME")
            .unset("RUNBOOK_CACHE_DIR")
            .env("RUNBOOK_JOURNAL_DIR", STORE)
    }
}

pub(crate) fn keys(emu: &Emulator, prefix: &str) -> Vec<String> {
    let out = emu.aws(&["s3api", "list-objects-v2", "--bucket", "team-journals", "--prefix", prefix]);
    out["Contents"]
        .as_array()
        .map(|c| c.iter().filter_map(|o| o["Key"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn runs_in_store(emu: &Emulator) -> Vec<String> {
    let mut ids: Vec<String> =
        keys(emu, "ops/runs/").iter().filter_map(|k| k.split('/').nth(2).map(str::to_string)).collect();
    ids.dedup();
    ids
}

#[test]
fn a_run_journaled_in_s3_is_listed_shown_and_undone_from_another_machine() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let before = emu.clients().state();
    let (ci, laptop) = (Machine::new("ci"), Machine::new("laptop"));

    let made = ci.runbook(&emu).runbook("runbooks/create_tg.rhai", &[]).output().success();
    assert!(made.stderr.contains(&format!("  journal: {STORE}/runs/")), "{}", made.stderr);
    let ids = runs_in_store(&emu);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids[0].clone();
    // start, intent, outcome, end: each an object of its own, numbered in order; what took time
    // (the requests) rides on them, costing no object of its own.
    let records = keys(&emu, &format!("ops/runs/{id}/"));
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records[0].ends_with("/00000000.json") && records[3].ends_with("/00000003.json"), "{records:?}");
    let outcome = object_json(&emu, &records[2]);
    assert_eq!(outcome["type"], "outcome");
    assert_eq!(outcome["events"][0]["what"], "elbv2::create_target_group", "{outcome}");
    assert_eq!(outcome["events"][0]["kind"], "write", "{outcome}");
    assert_ne!(emu.clients().state(), before);

    // Another machine, with nothing local, lists, shows and undoes it.
    let runs = laptop.runbook(&emu).args(["runs"]).output().success();
    assert!(runs.stdout.contains(&id) && runs.stdout.contains("create_tg.rhai"), "{}", runs.stdout);
    // Completion of run ids reads the store too, on a machine whose cache is empty.
    let other = Machine::new("completing");
    let home = other.home.to_string_lossy().into_owned();
    let env = [("RUNBOOK_JOURNAL_DIR", STORE), ("HOME", home.as_str()), ("AWS_ENDPOINT_URL", emu.url.as_str())];
    let env: Vec<(&str, &str)> = env.into_iter().chain(runbook_tests::AWS_ENV.iter().copied()).collect();
    let offered = crate::cli::bash_completes("runbook undo ", &env);
    assert!(offered.lines().any(|l| l == id), "{id} in {offered}");
    let show = laptop.runbook(&emu).args(["show", &id]).output().success();
    assert!(show.stdout.contains("elbv2::create_target_group"), "{}", show.stdout);
    // Its printed undo names the store it needs.
    assert!(show.stdout.contains(&format!("  undo: runbook undo {id} --journal-dir {STORE}\n")), "{}", show.stdout);
    // Drift from the laptop reads what CI's run made: in sync, then a hand change.
    let drift = laptop.runbook(&emu).args(["drift", &id]).output().success();
    assert!(drift.stdout.contains("  in sync  target group arn:"), "{}", drift.stdout);
    let tg = emu.clients().target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    emu.aws(&["elbv2", "modify-target-group", "--target-group-arn", &tg, "--health-check-path", "/moved"]);
    let drift = laptop.runbook(&emu).args(["drift", &id]).output();
    assert_eq!(drift.code, 2, "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stdout.contains("HealthCheckPath is now \"/moved\""), "{}", drift.stdout);
    laptop.runbook(&emu).args(["undo", &id]).output().success();
    assert_eq!(emu.clients().state(), before, "the undo from the laptop removed what CI made");
    assert!(!laptop.cwd.join(".runbook").exists(), "nothing is kept in the working folder");
    // The undo is journaled in the store too, and CI sees it.
    assert_eq!(runs_in_store(&emu).len(), 2);
    let again = ci.runbook(&emu).args(["undo", &id]).output().success();
    assert!(again.stdout.contains(&format!("run {id} was undone already by run ")), "{}", again.stdout);

    // A store that cannot be used is named before anything runs.
    let wrong = ci.runbook(&emu).env("RUNBOOK_JOURNAL_DIR", "s3://no-such-bucket/x").args(["runs"]).output();
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("journal store s3://no-such-bucket/x: the bucket does not answer"),
        "{}",
        wrong.stderr
    );
    let bad = ci.runbook(&emu).env("RUNBOOK_JOURNAL_DIR", "s3://Bad_Bucket").args(["runs"]).output();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("is not an S3 bucket name"), "{}", bad.stderr);
}

#[test]
fn locks_in_the_store_keep_two_machines_from_writing_in_one_place_at_once() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let (a, b) = (Machine::new("a"), Machine::new("b"));
    let file = script(
        "project/runbooks/hold.rhai",
        concat!(
            "let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n\
             ec2::create_security_group(#{ GroupName: param(\"name\", \"a\"), Description: \"d\", VpcId: vpc });\n",
            runbook_tests::gate_wait!()
        ),
    );
    let project = file.parent().unwrap().parent().unwrap();
    std::fs::write(project.join("runbook.toml"), "").unwrap();
    let file = file.to_str().unwrap();
    // The holder holds until the test opens its gate, however slowly the test goes on a busy machine.
    let gate = runbook_tests::gate_beside(file);
    let mut holder = a.runbook(&emu).args(["run", file, "--set", &format!("gate={gate}")]).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let lock = loop {
        if let Some(k) = keys(&emu, "ops/locks/").first() {
            break k.clone();
        }
        assert!(holder.try_wait().unwrap().is_none(), "the holder ended before it held the lock");
        assert!(Instant::now() < deadline, "no lock object was made");
        std::thread::sleep(Duration::from_millis(200));
    };
    let body = object_json(&emu, &lock);
    assert_eq!(body["lock"], "runbooks/hold.rhai", "{body}");

    let refused = b.runbook(&emu).args(["run", file, "--set", "name=b"]).output();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let by = format!("is held by run {} (", body["run"].as_str().unwrap());
    assert!(refused.stderr.contains(&by), "{}", refused.stderr);
    // The way out it prints names the store, and unlock's own errors name it too.
    let unlock = format!("`runbook unlock runbooks/hold.rhai --journal-dir {STORE}` breaks it");
    assert!(refused.stderr.contains(&unlock), "{}", refused.stderr);
    let none = b.runbook(&emu).args(["unlock", "no-such-lock", "--yes"]).output();
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(
        none.stderr.contains(&format!("no lock named \"no-such-lock\" in {STORE}/locks (held: ")),
        "{}",
        none.stderr
    );
    let waited = b.runbook(&emu).args(["run", file, "--set", "name=b", "--lock-timeout", "60"]).spawn();
    let (code, said) = runbook_tests::open_once_said(waited, "; waiting up to 60 s", &gate);
    assert_eq!(code, Some(0), "{said}");
    assert!(holder.wait().unwrap().success());
    assert!(keys(&emu, "ops/locks/").is_empty(), "both gave their locks back");
}

/// An object of the store, read as JSON (a lock or a record).
fn object_json(emu: &Emulator, key: &str) -> Value {
    let out = script("object.json", "");
    emu.aws(&["s3api", "get-object", "--bucket", "team-journals", "--key", key, out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(Path::new(&out));
    serde_json::from_str(&text).unwrap()
}

/// Waits until a lock object is in the store; returns its key.
fn lock_in_store(emu: &Emulator, holder: &mut std::process::Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(k) = keys(emu, "ops/locks/").first() {
            return k.clone();
        }
        assert!(holder.try_wait().unwrap().is_none(), "the holder ended before it held the lock");
        assert!(Instant::now() < deadline, "no lock object was made");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_holder_killed_on_another_machine_frees_its_lock_when_its_lease_ends() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let file = script(
        "project/runbooks/hold.rhai",
        "let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n\
         ec2::create_security_group(#{ GroupName: param(\"name\", \"a\"), Description: \"d\", VpcId: vpc });\n\
         sleep(param(\"hold\", 0));\n",
    );
    std::fs::write(file.parent().unwrap().parent().unwrap().join("runbook.toml"), "").unwrap();
    let file = file.to_str().unwrap();
    let (ci, laptop) = (Machine::new("killed-ci"), Machine::new("killed-laptop"));
    let mut holder = ci
        .runbook(&emu)
        .env("HOSTNAME", "ci-runner-7")
        .args(["run", file, "--set", "hold=120", "--lock-lease", "10"])
        .spawn();
    let key = lock_in_store(&emu, &mut holder);
    assert_eq!(object_json(&emu, &key)["lease_s"], 10);
    holder.kill().unwrap(); // SIGKILL: no release, no renewal
    holder.wait().unwrap();
    let started = Instant::now();
    let waited = laptop
        .runbook(&emu)
        .env("HOSTNAME", "laptop-3")
        .args(["run", file, "--set", "name=b", "--lock-timeout", "60"])
        .output()
        .success();
    let took = started.elapsed();
    assert!(
        waited.stderr.contains("is held by run ") && waited.stderr.contains("; waiting up to 60 s"),
        "{}",
        waited.stderr
    );
    assert!(took < Duration::from_secs(25), "went ahead within about one lease of 10 s: {took:?}");
    assert!(keys(&emu, "ops/locks/").is_empty(), "the waiting run took the lock over and gave it back");
}

#[test]
fn the_store_is_reached_with_the_journal_profile() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let machine = Machine::new("profiled");
    let config = machine.cwd.join("aws-config");
    std::fs::write(
        &config,
        "[profile journals]\naws_access_key_id = journalkey\naws_secret_access_key = journalsecret\nregion = us-east-1\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // The command has no credentials of its own: only the journal profile reaches the store.
    let bare = |extra: &[&str]| {
        machine
            .runbook(&emu)
            .env("AWS_CONFIG_FILE", config)
            .unset("AWS_ACCESS_KEY_ID")
            .unset("AWS_SECRET_ACCESS_KEY")
            .args(extra)
    };
    let without = bare(&["runs"]).output();
    assert_eq!(without.code, 2, "{}", without.stderr);
    assert!(
        without.stderr.contains("journal store s3://team-journals/ops: the bucket does not answer"),
        "{}",
        without.stderr
    );
    let with = bare(&["runs", "--journal-profile", "journals"]).output().success();
    assert!(with.stderr.contains("no runs recorded"), "{}", with.stderr);
    let env = bare(&["runs"]).env("RUNBOOK_JOURNAL_PROFILE", "journals").output().success();
    assert!(env.stderr.contains("no runs recorded"), "{}", env.stderr);
    // The journal profile's credentials win over the environment's, so a missing one is named.
    let shadowed =
        machine.runbook(&emu).env("AWS_CONFIG_FILE", config).args(["runs", "--journal-profile", "nosuch"]).output();
    assert_eq!(shadowed.code, 2, "{}", shadowed.stderr);
    assert!(shadowed.stderr.contains("nosuch"), "{}", shadowed.stderr);
    let missing = bare(&["runs", "--journal-profile", "nosuch"]).output();
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("nosuch"), "the profile is named: {}", missing.stderr);
    // A journal profile is for a store only.
    let local = machine
        .runbook(&emu)
        .env("RUNBOOK_JOURNAL_DIR", "/tmp/x")
        .args(["runs", "--journal-profile", "journals"])
        .output();
    assert_eq!(local.code, 2, "{}", local.stderr);
    assert!(
        local.stderr.contains(
            "the journal profile journals (--journal-profile or RUNBOOK_JOURNAL_PROFILE) is for a journal store in S3"
        ),
        "{}",
        local.stderr
    );
}

/// The records of `run` in the store, in order.
fn store_records(emu: &Emulator, run: &str) -> Vec<Value> {
    keys(emu, &format!("ops/runs/{run}/")).iter().map(|k| object_json(emu, k)).collect()
}

#[test]
fn a_kill_between_a_store_write_and_an_aws_write_loses_no_record_and_undo_restores_the_account() {
    let emu = Emulator::start();
    emu.aws(&["s3api", "create-bucket", "--bucket", "team-journals"]);
    let before = emu.clients().state();
    // Where the run is killed: the intent on its way to the store (the request not sent yet); the
    // request on its way to AWS (the intent in the store); the outcome on its way to the store.
    for (i, point) in ["/00000001.json", "CreateTargetGroup", "/00000002.json"].into_iter().enumerate() {
        let machine = Machine::new(&format!("crash{i}"));
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stalled.clone();
        let proxy = Proxy::start(&emu.url, move |r| {
            let first = r.head.lines().next().unwrap_or("");
            let hit = if point.starts_with('/') {
                first.starts_with("PUT /team-journals/ops/runs/") && first.contains(point)
            } else {
                r.operation() == point
            };
            if hit && !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                Action::Stall
            } else {
                Action::Forward
            }
        });
        let mut child = command(runbook_bin(), &proxy.url)
            .args(["run", root().join("runbooks/create_tg.rhai").to_str().unwrap()])
            .env("HOME", &machine.home)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("RUNBOOK_CACHE_DIR")
            .env("RUNBOOK_JOURNAL_DIR", STORE)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Stalled, and the stalled request has reached the emulator.
        while !(stalled.load(std::sync::atomic::Ordering::SeqCst) && proxy.forwarded().len() == proxy.seen().len()) {
            assert!(child.try_wait().unwrap().is_none(), "{point}: the run ended before it was stopped there");
            assert!(Instant::now() < deadline, "{point}: never reached");
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        // Every record the store holds is the run's cache, in order, and nothing the store
        // acknowledged is missing from it.
        let cache = machine.home.join(".cache/runbook/journals/team-journals/ops");
        let file = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .unwrap()
            .path();
        let run = file.file_stem().unwrap().to_string_lossy().into_owned();
        let cached: Vec<Value> =
            std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let stored = store_records(&emu, &run);
        assert_eq!(
            stored.len(),
            [2, 2, 3][i],
            "{point}: start, the intent and (stopped at the outcome) the outcome are in the store"
        );
        assert_eq!(stored[..], cached[..stored.len()], "{point}: the store's records are the run's");
        assert!(stored.iter().all(|r| r["type"] != "end"));

        // Undone from another machine with nothing local: the account is as before.
        let laptop = Machine::new(&format!("crash-laptop{i}"));
        let undo = laptop.runbook(&emu).args(["undo", &run, "--endpoint-url", &emu.url]).output().success();
        assert_eq!(emu.clients().state(), before, "{point}: {}", undo.stdout);
        drop(proxy);
    }
}
