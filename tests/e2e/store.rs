//! Journals in S3 (`--journal-dir s3://BUCKET/PREFIX`): a run made on one machine is listed, shown
//! and undone from another with nothing local, and locks are objects of the store.

use runbook_tests::{script, Emulator, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STORE: &str = "s3://team-journals/ops";

/// A machine of its own: its home (and so its cache) and its working folder.
pub(crate) struct Machine {
    home: PathBuf,
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
    // start, intent, outcome, end: each an object of its own, numbered in order.
    let records = keys(&emu, &format!("ops/runs/{id}/"));
    assert_eq!(records.len(), 4, "{records:?}");
    assert!(records[0].ends_with("/00000000.json") && records[3].ends_with("/00000003.json"), "{records:?}");
    assert_ne!(emu.clients().state(), before);

    // Another machine, with nothing local, lists, shows and undoes it.
    let runs = laptop.runbook(&emu).args(["runs"]).output().success();
    assert!(runs.stdout.contains(&id) && runs.stdout.contains("create_tg.rhai"), "{}", runs.stdout);
    let show = laptop.runbook(&emu).args(["show", &id]).output().success();
    assert!(show.stdout.contains("elbv2::create_target_group"), "{}", show.stdout);
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
        "let vpc = ec2::describe_vpcs().Vpcs[0].VpcId;\n\
         ec2::create_security_group(#{ GroupName: param(\"name\", \"a\"), Description: \"d\", VpcId: vpc });\n\
         sleep(param(\"hold\", 0));\n",
    );
    let project = file.parent().unwrap().parent().unwrap();
    std::fs::write(project.join("runbook.toml"), "").unwrap();
    let file = file.to_str().unwrap();
    let mut holder = a.runbook(&emu).args(["run", file, "--set", "hold=8"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let lock = loop {
        if let Some(k) = keys(&emu, "ops/locks/").first() {
            break k.clone();
        }
        assert!(holder.try_wait().unwrap().is_none(), "the holder ended before it held the lock");
        assert!(Instant::now() < deadline, "no lock object was made");
        std::thread::sleep(Duration::from_millis(200));
    };
    let body = lock_body(&emu, &lock);
    assert_eq!(body["lock"], "runbooks/hold.rhai", "{body}");

    let refused = b.runbook(&emu).args(["run", file, "--set", "name=b"]).output();
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let by = format!("is held by run {} (", body["run"].as_str().unwrap());
    assert!(refused.stderr.contains(&by), "{}", refused.stderr);
    let waited = b.runbook(&emu).args(["run", file, "--set", "name=b", "--lock-timeout", "60"]).output().success();
    assert!(waited.stderr.contains("; waiting up to 60 s"), "{}", waited.stderr);
    assert!(holder.wait().unwrap().success());
    assert!(keys(&emu, "ops/locks/").is_empty(), "both gave their locks back");
}

fn lock_body(emu: &Emulator, key: &str) -> Value {
    let out = std::env::temp_dir().join(format!("runbook-lock-{}.json", std::process::id()));
    emu.aws(&["s3api", "get-object", "--bucket", "team-journals", "--key", key, out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(Path::new(&out));
    serde_json::from_str(&text).unwrap()
}
