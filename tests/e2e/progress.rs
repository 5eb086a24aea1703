//! Long work you can watch: the status drawn in place on a terminal (a fleet's targets, a waiter's
//! polls), what it leaves on the screen, and Ctrl-C in the middle of it.

use runbook_tests::aws_like::{AwsLike, Settings};
use runbook_tests::pty::{screen, Terminal};
use runbook_tests::Emulator;
use std::time::Duration;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

fn fleet(emu: &Emulator) -> runbook_tests::Run {
    emu.runbook()
        .runbook("runbooks/tutorial.rhai", FAST)
        .args(["--accounts", "111111111111,222222222222", "--assume-role", "runbook"])
        .args(["--regions", "us-east-1,eu-west-1", "--concurrency", "2"])
}

/// The rows of the screen that a status drew (its counts or its spinner's line).
fn status_rows(rows: &[String]) -> Vec<&String> {
    rows.iter().filter(|r| r.contains("fleet: ") || r.contains("slowest: [") || r.contains("(timeout ")).collect()
}

#[test]
fn a_fleet_on_a_terminal_is_drawn_in_place_and_leaves_its_lines_and_recap_only() {
    let emu = Emulator::start();
    let term = Terminal::spawn(fleet(&emu).command());
    let (code, bytes) = term.finish();
    let raw = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 0, "{raw}");
    // Drawn, and drawn again in place (the line cleared and written over) as targets finished.
    assert!(raw.contains("fleet: 0/4 done · 2 running · 2 queued"), "{raw}");
    assert!(raw.contains("fleet: 2/4 done · 2 running"), "{raw}");
    assert!(raw.contains("slowest: ["), "{raw}");
    assert!(raw.matches("\x1b[2K").count() > 4, "{raw}");
    // Drawn, the status is two rows: the counts, then the slowest target on a row of its own.
    let drawn = raw.find("slowest: [").unwrap();
    let (rows, _) = screen(&bytes[..drawn + 30]);
    let at = rows.iter().rposition(|r| r.starts_with("  slowest: [")).unwrap_or_else(|| panic!("{rows:#?}"));
    assert!(rows[at - 1].contains("fleet: ") && !rows[at - 1].contains("slowest"), "{rows:#?}");
    let (rows, column) = screen(&bytes);
    let text = rows.join("\n");
    assert!(status_rows(&rows).is_empty(), "the status is left on the screen:\n{text}");
    assert!(text.contains("RECAP run of"), "{text}");
    assert!(text.contains("4 of 4 targets succeeded"), "{text}");
    assert_eq!(column, 0, "the cursor is left mid-line:\n{text}");
    // Every target's lines are whole, each on a row of its own with its target in front.
    for label in
        ["111111111111/us-east-1", "111111111111/eu-west-1", "222222222222/us-east-1", "222222222222/eu-west-1"]
    {
        let theirs: Vec<&String> = rows.iter().filter(|r| r.contains(&format!("[{label}]"))).collect();
        assert!(theirs.len() > 5, "{label}:\n{text}");
        let whole = |r: &String| r.starts_with(&format!("[{label}] ")) || *r == format!("[{label}]");
        let broken: Vec<&&String> = theirs.iter().filter(|r| !whole(r)).collect();
        assert!(broken.is_empty(), "{label}: {broken:?}\n{text}");
    }

    // --no-progress on a terminal, and stderr not a terminal: lines only, as before.
    let term = Terminal::spawn(fleet(&emu).args(["--no-progress"]).command());
    let (code, bytes) = term.finish();
    let raw = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 0, "{raw}");
    assert!(!raw.contains("fleet: ") && !raw.contains("\x1b[2K"), "{raw}");
    assert!(raw.contains("4 of 4 targets succeeded"), "{raw}");
    let piped = fleet(&emu).output().success();
    assert!(!piped.stderr.contains('\x1b') && !piped.stdout.contains('\x1b'), "{}", piped.stderr);
    assert!(piped.stderr.contains("4 of 4 targets succeeded"), "{}", piped.stderr);
}

#[test]
fn ctrl_c_during_a_wait_on_a_terminal_leaves_nothing_half_drawn_and_the_wait_is_in_the_timeline() {
    let emu = Emulator::start();
    // Route 53 answers PENDING about the change for as long as the test lasts.
    let like = AwsLike::start(&emu.url, Settings { pending_polls: 1_000, buckets: None, ..Settings::default() });
    let file = runbook_tests::script(
        "pending.rhai",
        r#"let zone = route53::create_hosted_zone(#{ Name: "watch.example.com", CallerReference: "watch-1" });
let change = route53::change_resource_record_sets(#{ HostedZoneId: zone.HostedZone.Id, ChangeBatch: #{ Changes: [#{
    Action: "UPSERT", ResourceRecordSet: #{ Name: "a.watch.example.com", Type: "A", TTL: 60, ResourceRecords: [#{ Value: "10.0.0.1" }] } }] } });
route53::wait_resource_record_sets_changed(#{ Id: change.ChangeInfo.Id }, #{ delay: 1, timeout: 600 });
print("not reached");
"#,
    );
    let run = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["run", file.to_str().unwrap()]);
    let mut term = Terminal::spawn(run.command());
    // The status has shown the second poll: it has been drawn again in place.
    assert!(term.wait_for("poll 2: ", Duration::from_secs(60)), "the wait was never drawn");
    term.ctrl_c();
    let (code, bytes) = term.finish();
    let raw = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 130, "{raw}");
    // Each poll was a redraw of one status, not a line of its own.
    assert!(raw.contains("route53::wait_resource_record_sets_changed: poll 1: "), "{raw}");
    let (rows, column) = screen(&bytes);
    let text = rows.join("\n");
    assert!(
        status_rows(&rows).is_empty(),
        "the status is left on the screen:\n{text}\n{:?}",
        &raw[raw.len().saturating_sub(3000)..]
    );
    assert!(!rows.iter().any(|r| r.contains("poll 1: ")), "a poll's line is left on the screen:\n{text}");
    assert!(text.contains("interrupted"), "{text}");
    assert!(!text.contains("not reached"), "{text}");
    assert_eq!(column, 0, "the cursor is left mid-line:\n{text}");

    // The journal holds the wait, cut short by the interrupt, and the timeline draws it.
    let records = emu.last_journal();
    let calls: Vec<&serde_json::Value> =
        records.iter().flat_map(|r| r["events"].as_array().into_iter().flatten()).collect();
    let wait = calls.iter().find(|c| c["kind"] == "wait").expect("a wait in the journal");
    assert_eq!(wait["what"], "route53::wait_resource_record_sets_changed");
    assert_eq!(wait["error"], "Interrupted", "{wait}");
    assert!(wait["n"].as_u64().unwrap() >= 2, "{wait}");
    assert!(wait["ms"].as_u64().unwrap() >= 1000, "{wait}");
    let polls = calls.iter().filter(|c| c["what"] == "route53::get_change").count();
    assert!(polls as u64 >= wait["n"].as_u64().unwrap(), "{calls:?}");
    let svg = emu.journal.join("pending.svg");
    emu.runbook().args(["show", "last", "--timeline", svg.to_str().unwrap()]).output().success();
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(picture.matches(r#"class="call""#).count(), calls.len());
    assert_eq!(picture.matches(r#"data-kind="wait""#).count(), 1, "{picture}");
}

#[test]
fn ctrl_c_in_a_fleet_on_a_terminal_clears_its_status_and_ends_with_the_recap() {
    let emu = Emulator::start();
    // AWS-like mode: load balancers provision for seconds, so the targets are mid-run when Ctrl-C
    // comes.
    let like = AwsLike::start(&emu.url, Settings { buckets: None, ..Settings::default() });
    let mut term = Terminal::spawn(fleet(&emu).env("AWS_ENDPOINT_URL", like.url()).command());
    assert!(term.wait_for("slowest: [", Duration::from_secs(60)), "the fleet's status was never drawn");
    assert!(term.wait_for("created security group", Duration::from_secs(60)), "no target got under way");
    term.ctrl_c();
    let (code, bytes) = term.finish();
    let raw = String::from_utf8_lossy(&bytes);
    assert_eq!(code, 130, "{raw}");
    let (rows, column) = screen(&bytes);
    let text = rows.join("\n");
    assert!(status_rows(&rows).is_empty(), "the status is left on the screen:\n{text}");
    assert!(text.contains("RECAP run of"), "{text}");
    assert!(rows.iter().any(|r| r.contains("  interrupted  ")), "{text}");
    assert!(text.contains("0 of 4 targets succeeded"), "{text}");
    assert_eq!(column, 0, "the cursor is left mid-line:\n{text}");
}
