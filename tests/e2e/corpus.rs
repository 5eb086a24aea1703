//! The bad-input corpus (tests/corpus): every wrong input gets a clear error that names the
//! problem and where it is, the expected exit code, no panic, and no write reaching the emulator.

use runbook_tests::proxy::{Action, Proxy};
use runbook_tests::{root, Emulator};

/// Operation names of reads, as the services name them.
fn is_read(op: &str) -> bool {
    ["Describe", "List", "Get"].iter().any(|v| op.starts_with(v))
}

fn header<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("// {key}: ");
    text.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

#[test]
fn every_bad_input_is_reported_clearly_and_writes_nothing() {
    let emu = Emulator::start();
    let proxy = Proxy::start(&emu.url, |_| Action::Forward);
    let files = runbook_tests::corpus_files();
    assert!(files.len() >= 40, "the corpus has {} cases", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        let mut run = emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url).args(["run", rel.as_str()]);
        for a in header(&text, "args") {
            run = run.args(a.split_whitespace());
        }
        for pair in header(&text, "env").iter().flat_map(|e| e.split_whitespace()) {
            let (k, v) = pair.split_once('=').unwrap();
            run = run.env(k, v);
        }
        for name in header(&text, "unset").iter().flat_map(|u| u.split_whitespace()) {
            run = run.unset(name);
        }
        let before = proxy.forwarded().len();
        let out = run.output();
        let writes: Vec<String> = proxy.forwarded()[before..].iter().filter(|op| !is_read(op)).cloned().collect();
        let code: i32 = header(&text, "code").first().expect("a // code: line").parse().unwrap();
        let mut problems = Vec::new();
        if out.code != code {
            problems.push(format!("exit code {} instead of {code}", out.code));
        }
        for e in header(&text, "expect") {
            if !out.stderr.contains(e) {
                problems.push(format!("no {e:?}"));
            }
        }
        for at in header(&text, "at") {
            if !out.stderr.contains(&format!("--> {at}\n")) {
                problems.push(format!("not located at {at}"));
            }
        }
        if out.stderr.contains("panicked") || out.stderr.contains("RUST_BACKTRACE") {
            problems.push("a panic".into());
        }
        if !writes.is_empty() {
            problems.push(format!("writes reached the emulator: {writes:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{rel}: {}\n--- stderr\n{}", problems.join("; "), out.stderr));
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}
