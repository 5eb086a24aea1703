//! Mistakes found before the first write: a run, a plan, a policy and a fleet whose runbook (or a
//! module it imports) holds a mistake `runbook check` is certain of stop before any request, with
//! the run's own message; and `runbook params` refuses a file that does not parse, as `run` does.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{script, Emulator, Run};

#[test]
fn a_mistake_check_is_certain_of_stops_every_command_before_any_request() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.url, |_| Action::Forward);
    // A write first, then a mistake a run would meet only after it; in an imported module, another.
    let dir = script("before/lib/names.rhai", "fn cluster() { \"early\" }\nfn broken() { ecs::create_clustr(#{}); }\n");
    let dir = dir.parent().unwrap().parent().unwrap().to_path_buf();
    let file = dir.join("late.rhai");
    std::fs::write(
        &file,
        "import \"lib/names\" as names;\n\
         ecs::create_cluster(#{ clusterName: names::cluster() });\n\
         elbv2::create_target_group(#{ Nmae: \"late\", Protocol: \"HTTP\", Port: 80 });\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let cases: [&[&str]; 4] =
        [&["run", file], &["plan", file], &["policy", file], &["run", file, "--regions", "us-east-1,eu-west-1"]];
    for args in cases {
        let out = emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url).args(args).output();
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("unknown key Nmae (did you mean Name?)"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("--> {file}:3:")), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("unknown function ecs::create_clustr"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("names.rhai:2:"), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("runbook: 2 mistakes found before the run (as `runbook check` finds them); nothing was sent"),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(proxy.seen(), Vec::<String>::new(), "{args:?} sent requests");
    }
    let clusters = emu.aws(&["ecs", "list-clusters"]);
    assert_eq!(clusters["clusterArns"], serde_json::json!([]));
    // Nothing was journaled either: no run was started.
    assert!(!emu.journal.exists() || std::fs::read_dir(&emu.journal).unwrap().next().is_none());

    // What check only advises (code after a throw) does not stop a run.
    let advice = script("advice.rhai", "print(\"ran\");\nif false { throw \"no\"; print(\"never\"); }\n");
    let out = emu.runbook().args(["run", advice.to_str().unwrap()]).output().success();
    assert!(out.stdout.contains("ran"), "{}", out.stdout);
}

#[test]
fn params_of_a_file_that_does_not_parse_exit_2_as_run_does() {
    let broken = script("broken.rhai", "let tg = param(\"tg_name\", \"x\");\nlet m = #{ a: 1;\n");
    let params = Run::new().args(["params", broken.to_str().unwrap()]).output();
    let run = Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["run", broken.to_str().unwrap()]).output();
    assert_eq!(params.code, 2, "{}", params.stderr);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
    assert_eq!(first(&params.stderr), first(&run.stderr));
    assert!(params.stderr.contains("error: syntax:"), "{}", params.stderr);
    assert!(params.stdout.is_empty(), "{}", params.stdout);
}
