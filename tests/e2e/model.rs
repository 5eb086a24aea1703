//! A model-based test of undo: generated sequences of runs (single, fleet, two targets in one place,
//! `with_region`, `with_target`), crashes and stops half-way, then undos of a run, of a fleet, of its
//! targets one by one by their own ids, or of some targets and then the fleet. After every undo, the
//! state of every account and region, read with the aws CLI, must be the state from before the run.
//!
//! `RUNBOOK_MODEL_SEQUENCES` (default 100) and `RUNBOOK_MODEL_SEED` change how many and which.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{command, eventually, runbook_bin, script, Emulator, Rng};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const ACCOUNTS: [&str; 2] = ["111111111111", "222222222222"];
/// Emulators run side by side, each taking its share of the sequences.
const LANES: usize = 4;

/// Makes a security group with a rule and a target group named `name` where it runs; with `away`,
/// the same in that region (`with_region`); with `acct`, the same in that account (`with_target`).
const RUNBOOK: &str = r#"
fn make(name) {
    let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).Vpcs[0].VpcId;
    let sg = ec2::create_security_group(#{ GroupName: name, Description: "model", VpcId: vpc }).GroupId;
    ec2::authorize_security_group_ingress(#{ GroupId: sg, IpPermissions: [
        #{ IpProtocol: "tcp", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: "0.0.0.0/0" }] }] });
    elbv2::create_target_group(#{ Name: name, Protocol: "HTTP", Port: 80, VpcId: vpc, TargetType: "ip" });
}
let name = param("name", "m");
make(name);
let away = param("away", "");
if away != "" {
    with_region(away, || make(name + "-r"));
}
let acct = param("acct", "");
if acct != "" {
    with_target(#{ account: acct, role: "runbook" }, || make(name + "-a"));
}
"#;

/// Writes of one `make`.
const WRITES_PER_PLACE: usize = 3;

/// Every place a sequence can touch: each region in the default account and in each account.
fn universe() -> Vec<String> {
    let mut places: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    for a in ACCOUNTS {
        places.extend(REGIONS.iter().map(|r| format!("{a}/{r}")));
    }
    places
}

/// The state of every place, read with the aws CLI.
fn state(url: &str) -> serde_json::Value {
    let out = runbook_tests::python_script(&runbook_tests::root().join("tests/emulator/state.py"))
        .arg(url)
        .args(universe())
        .output()
        .expect("run state.py");
    assert!(out.status.success(), "state.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("state as JSON")
}

/// One run of the runbook: where, with which values.
#[derive(Debug, Clone)]
struct Single {
    region: &'static str,
    away: Option<&'static str>,
    acct: Option<&'static str>,
}

fn single(rng: &mut Rng) -> Single {
    let region = REGIONS[rng.below(2)];
    let away = rng.chance(40).then(|| REGIONS.iter().copied().find(|r| *r != region).unwrap_or(region));
    let acct = rng.chance(30).then(|| ACCOUNTS[rng.below(2)]);
    Single { region, away, acct }
}

fn sets(s: &Single, name: &str) -> Vec<String> {
    let mut v = vec![format!("name={name}")];
    if let Some(a) = s.away {
        v.push(format!("away={a}"));
    }
    if let Some(a) = s.acct {
        v.push(format!("acct={a}"));
    }
    v
}

fn journal_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_string)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

fn first_record(dir: &Path, id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("{id}.jsonl"))).unwrap_or_default();
    text.lines().next().and_then(|l| serde_json::from_str(l).ok()).unwrap_or_default()
}

/// The new top-level run (not a fleet's target, not an undo) since `before`.
fn new_run(dir: &Path, before: &[String]) -> String {
    journal_ids(dir)
        .into_iter()
        .filter(|id| !before.contains(id))
        .find(|id| {
            let r = first_record(dir, id);
            r["parent"].is_null() && r["undo_of"].is_null()
        })
        .expect("the run's journal")
}

/// Runs one generated sequence on `emu`; returns what it did, for the failure message.
fn sequence(emu: &Emulator, rng: &mut Rng, n: usize, file: &Path, base: &serde_json::Value) -> String {
    let name = format!("m{n}");
    let before = journal_ids(&emu.journal);
    let file = file.to_string_lossy().to_string();
    let mut story;
    let kind = rng.below(4);
    let run = match kind {
        // A single run to its end.
        0 => {
            let s = single(rng);
            story = format!("single {s:?}");
            let mut args = vec!["run".to_string(), file.clone(), "--region".into(), s.region.into()];
            for v in sets(&s, &name) {
                args.extend(["--set".into(), v]);
            }
            emu.runbook().args(args).output().success();
            new_run(&emu.journal, &before)
        }
        // A single run stopped half-way by its own call limit.
        1 => {
            let s = single(rng);
            let limit = 2 + rng.below(4);
            story = format!("stopped after {limit} calls {s:?}");
            let mut args = vec!["run".to_string(), file.clone(), "--region".into(), s.region.into()];
            args.extend(["--limit".into(), format!("aws-calls={limit}")]);
            for v in sets(&s, &name) {
                args.extend(["--set".into(), v]);
            }
            let out = emu.runbook().args(args).output();
            assert_eq!(out.code, 1, "{story}: {}", out.stderr);
            new_run(&emu.journal, &before)
        }
        // A single run killed while one of its writes is in flight (sent, no answer yet).
        2 => {
            let s = single(rng);
            let places = 1 + usize::from(s.away.is_some()) + usize::from(s.acct.is_some());
            let at = 1 + rng.below(places * WRITES_PER_PLACE);
            story = format!("killed at write {at} {s:?}");
            let writes = ["CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateTargetGroup"];
            let seen = std::sync::atomic::AtomicUsize::new(0);
            let proxy = Proxy::start(&emu.url, move |r| {
                let op = r.operation();
                if writes.contains(&op.as_str()) && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == at {
                    Action::Stall
                } else {
                    Action::Forward
                }
            });
            let mut cmd = command(runbook_bin(), &proxy.url);
            cmd.args(["run", &file, "--region", s.region]).env("RUNBOOK_JOURNAL_DIR", &emu.journal);
            for v in sets(&s, &name) {
                cmd.args(["--set", &v]);
            }
            let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start runbook");
            let reached = eventually(Duration::from_secs(60), || {
                let sent = proxy.forwarded().iter().filter(|o| writes.contains(&o.as_str())).count();
                (sent >= at).then_some(())
            });
            let _ = child.kill();
            let _ = child.wait();
            assert!(reached.is_some(), "{story}: the run never reached write {at}: {:?}", proxy.forwarded());
            new_run(&emu.journal, &before)
        }
        // A fleet: one to three targets, some in one place, some in other accounts.
        _ => {
            let count = 1 + rng.below(3);
            let mut text = String::new();
            let mut shown = Vec::new();
            for t in 0..count {
                let region = REGIONS[rng.below(2)];
                let account = rng.chance(50).then(|| ACCOUNTS[rng.below(2)]);
                text.push_str(&format!("[[target]]\nregion = \"{region}\"\n"));
                if let Some(a) = account {
                    text.push_str(&format!("account = \"{a}\"\nrole = \"runbook\"\n"));
                }
                let away = rng.chance(30).then(|| REGIONS.iter().copied().find(|r| *r != region).unwrap_or(region));
                let away = away.map(|a| format!(", away = \"{a}\"")).unwrap_or_default();
                text.push_str(&format!("set = {{ name = \"{name}-{t}\"{away} }}\n\n"));
                shown.push(format!("{}{region}{away}", account.map(|a| format!("{a}/")).unwrap_or_default()));
            }
            story = format!("fleet {shown:?}");
            let targets = script("targets.toml", &text);
            let concurrency = (1 + rng.below(3)).to_string();
            emu.runbook()
                .args(["run", &file, "--targets", targets.to_str().unwrap(), "--concurrency", &concurrency])
                .output()
                .success();
            new_run(&emu.journal, &before)
        }
    };

    // Undo: the run; or a fleet as a whole, its targets one by one, or some of them and then the fleet.
    let undo = |id: &str| {
        let mut args = vec!["undo".to_string(), id.to_string()];
        if kind == 2 {
            // The journal names the proxy, gone now.
            args.extend(["--endpoint-url".into(), emu.url.clone()]);
        }
        emu.runbook().args(args).output()
    };
    let record = first_record(&emu.journal, &run);
    if record["kind"] == "fleet" {
        let text = std::fs::read_to_string(emu.journal.join(format!("{run}.jsonl"))).unwrap();
        let children: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["type"] == "child")
            .filter_map(|r| r["run"].as_str().map(String::from))
            .collect();
        match rng.below(3) {
            0 => {
                story.push_str("; undo fleet");
                undo(&run).success();
            }
            1 => {
                story.push_str("; undo each target by its id");
                for c in children.iter().rev() {
                    let out = undo(c);
                    assert_eq!(out.code, 0, "{story}: undo {c}: {}", out.stderr);
                }
            }
            _ => {
                story.push_str("; undo the first target, then the fleet");
                let out = undo(&children[0]);
                assert_eq!(out.code, 0, "{story}: {}", out.stderr);
                let out = undo(&run);
                assert_eq!(out.code, 0, "{story}: {}", out.stderr);
                assert!(out.stdout.contains("was undone already"), "{story}: {}", out.stdout);
            }
        }
    } else {
        story.push_str("; undo");
        let out = undo(&run);
        assert_eq!(out.code, 0, "{story}: {}\n{}", out.stdout, out.stderr);
    }
    let after = state(&emu.url);
    assert_eq!(&after, base, "sequence {n} ({story}) did not end where it began");
    story
}

#[test]
fn generated_sequences_of_runs_crashes_and_undos_end_where_they_began() {
    let total: usize = std::env::var("RUNBOOK_MODEL_SEQUENCES").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let seed: u64 = std::env::var("RUNBOOK_MODEL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_2026);
    let file = script("model.rhai", RUNBOOK);
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let file = file.clone();
            std::thread::spawn(move || {
                let emu = Emulator::start();
                let base = state(&emu.url);
                let mut rng = Rng(seed ^ (lane as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut done = Vec::new();
                for n in (lane..total).step_by(LANES) {
                    done.push(sequence(&emu, &mut rng, n, &file, &base));
                }
                done
            })
        })
        .collect();
    let mut stories = Vec::new();
    for lane in lanes {
        stories.extend(lane.join().expect("a lane of sequences failed"));
    }
    assert_eq!(stories.len(), total);
    // The generator reached every kind of step.
    for kind in
        ["single", "stopped", "killed", "fleet", "undo each target", "then the fleet", "acct: Some", "away: Some"]
    {
        assert!(stories.iter().any(|s| s.contains(kind)), "no sequence had {kind:?}");
    }
}
