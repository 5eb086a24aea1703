//! AWS as it behaves, through the test proxy's AWS-like mode: answers 20–60 ms late, "not found"
//! for a few seconds about what a create just made, load balancers `provisioning` after their
//! create. The runs use default settings and must end where an undisturbed run ends.

use runbook_tests::aws_like::{AwsLike, Settings};
use runbook_tests::Emulator;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

fn diff(state: &[String], expected: &[String]) -> String {
    let extra: Vec<_> = state.iter().filter(|s| !expected.contains(s)).collect();
    let missing: Vec<_> = expected.iter().filter(|s| !state.contains(s)).collect();
    format!("extra {extra:?}, missing {missing:?}")
}

#[test]
fn the_tutorial_and_its_undo_complete_through_lag_latency_and_provisioning() {
    let clean = Emulator::start();
    clean.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let expected = clean.clients().state();

    let emu = Emulator::start();
    let before = emu.clients().state();
    let like = AwsLike::start(&emu.url, Settings::default());
    let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).runbook("runbooks/tutorial.rhai", FAST).output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lagged = like.lagged();
    // Calls about the security group, the service's cluster and the load balancer came moments after
    // their creates: AWS did not know them yet, and the run waited for it.
    for op in ["CreateService", "DescribeLoadBalancers"] {
        assert!(lagged.iter().any(|o| o == op), "{op} was not lagged: {lagged:?}");
    }
    assert!(lagged.iter().any(|o| o == "AuthorizeSecurityGroupIngress" || o == "DescribeSecurityGroups"), "{lagged:?}");
    assert!(out.stderr.contains(": InvalidGroup.NotFound (sg-"), "{}", out.stderr);
    assert!(
        out.stderr.contains("[retry] ecs::create_service: ClusterNotFoundException (rent-a-room-cluster was created"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("s ago; AWS is eventually consistent); again in"), "{}", out.stderr);
    // The load balancer was provisioning when the waiter first looked.
    assert!(out.stderr.contains("provisioning"), "{}", out.stderr);
    let state = emu.clients().state();
    assert_eq!(state, expected, "{}", diff(&state, &expected));
    assert!(like.throttled() > 0, "the run was never throttled");

    let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    let state = emu.clients().state();
    assert_eq!(state, before, "{}", diff(&state, &before));
}

#[test]
fn a_not_found_about_what_the_run_did_not_make_fails_at_once() {
    let emu = Emulator::start();
    let like = AwsLike::start(&emu.url, Settings::default());
    let file = runbook_tests::script(
        "typo.rhai",
        "ec2::authorize_security_group_ingress(#{ GroupId: \"sg-0123456789abcdef0\", IpPermissions: [\n\
         #{ IpProtocol: \"tcp\", FromPort: 80, ToPort: 80, IpRanges: [#{ CidrIp: \"0.0.0.0/0\" }] }] });\n",
    );
    let started = std::time::Instant::now();
    let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("InvalidGroup"), "{}", out.stderr);
    assert!(!out.stderr.contains("[retry]"), "{}", out.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

/// `file` run on an emulator of its own, undisturbed, and the state it leaves.
fn undisturbed_state(file: &'static str, sets: &'static [&'static str]) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let emu = Emulator::start();
        emu.runbook().runbook(file, sets).output().success();
        emu.clients().state()
    })
}

#[test]
fn lost_answers_under_lag_make_nothing_twice_and_undo_removes_what_they_made() {
    // Each runbook's creates lose their first answer after AWS did the work, and for 4 s after it
    // neither a read by id nor a filtered describe shows what they made.
    let cases: [(&str, &[&str], &[&str]); 2] = [
        ("examples/vpc.rhai", &[], &["CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable"]),
        (
            "runbooks/tutorial.rhai",
            FAST,
            &["CreateSecurityGroup", "CreateTargetGroup", "CreateLoadBalancer", "CreateListener", "CreateService"],
        ),
    ];
    for (file, sets, lose) in cases {
        let expected = undisturbed_state(file, sets);
        let emu = Emulator::start();
        let before = emu.clients().state();
        let like = AwsLike::start(&emu.url, Settings { lose, ..Settings::default() });
        let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).runbook(file, sets).output();
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        let (mut lost, mut listed) = (like.lost(), lose.to_vec());
        lost.sort();
        listed.sort();
        assert_eq!(lost, listed, "{file}: every listed create lost its first answer");
        let state = emu.clients().state();
        let expected = expected.join().expect("the undisturbed run");
        // One VPC, two subnets, one gateway, one route table; one group, load balancer, listener.
        assert_eq!(state, expected, "{file}: {}\n{}", diff(&state, &expected), out.stderr);
        let journal = emu.last_journal();
        let reconciled = journal.iter().filter(|r| r["reconciled"].is_object()).count();
        assert!(reconciled >= 1, "{file}: no lost write was found done\n{}", out.stderr);
        if file == "examples/vpc.rhai" {
            // Every create adds a new one: each was found, none sent again, and the tag look-up
            // lagged at first.
            assert_eq!(reconciled, lose.len(), "{}", out.stderr);
            assert!(!journal.iter().any(|r| r["resent"].as_u64().unwrap_or(0) > 0), "{}", out.stderr);
            assert!(out.stderr.contains("a look-up finds nothing yet"), "{}", out.stderr);
            assert!(like.lagged().iter().any(|o| o.ends_with("(list)")), "{:?}", like.lagged());
        }
        let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
        assert_eq!(undo.code, 0, "{file}: {}\n{}", undo.stdout, undo.stderr);
        let state = emu.clients().state();
        assert_eq!(state, before, "{file} undone: {}", diff(&state, &before));
    }
}

/// The state of `us-east-1` and `eu-west-1` (of `account` through its role `runbook`, or the default).
fn places(url: &str, account: Option<&str>) -> Vec<String> {
    let mut all = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let c = runbook_tests::Clients::in_region(url, region, account.map(|a| (a, "runbook")));
        all.extend(c.state().into_iter().map(|s| format!("{region}: {s}")));
    }
    all
}

/// Each step: `run FILE` with its values, or `undo` of the newest run that wrote.
const STEPS: &[(&str, &[&str])] = &[
    ("runbooks/tutorial.rhai", FAST),
    ("examples/path_routing.rhai", &[]),
    ("undo", &[]),
    ("examples/stickiness.rhai", &["drain_seconds=45"]),
    ("undo", &[]),
    ("examples/blue_green.rhai", &[]),
    ("undo", &[]),
    ("examples/cross_region.rhai", &[]),
    ("undo", &[]),
    ("examples/vpc.rhai", &[]),
    ("undo", &[]),
    ("examples/https.rhai", &["domain=shop.example.com"]),
    ("examples/domain.rhai", &["domain=shop.example.com"]),
    ("undo", &[]),
    ("undo", &[]),
    ("runbooks/teardown.rhai", &[]),
];

/// Runs the steps against `emu`, through the AWS-like proxy or not, and the state after each.
fn walk(aws_like: bool) -> Vec<(String, Vec<String>)> {
    let emu = Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0")]);
    // The zone examples/https.rhai and domain.rhai write into.
    emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "walk"]);
    let like = aws_like.then(|| AwsLike::start(&emu.url, Settings::default()));
    let endpoint = like.as_ref().map(|l| l.url().to_string()).unwrap_or_else(|| emu.url.clone());
    let mut states = Vec::new();
    for (file, sets) in STEPS {
        let run = emu.runbook().env("AWS_ENDPOINT_URL", &endpoint);
        let out = if *file == "undo" { run.args(["undo", "last"]).output() } else { run.runbook(file, sets).output() };
        assert_eq!(out.code, 0, "{file} (AWS-like: {aws_like}):\n{}\n{}", out.stdout, out.stderr);
        states.push((file.to_string(), places(&emu.url, None)));
    }
    states
}

#[test]
fn every_example_teardown_and_undo_end_as_undisturbed_runs_end() {
    let undisturbed = std::thread::spawn(|| walk(false));
    let through = walk(true);
    let undisturbed = undisturbed.join().expect("the undisturbed walk");
    for ((step, state), (_, expected)) in through.iter().zip(&undisturbed) {
        assert_eq!(state, expected, "after {step}: {}", diff(state, expected));
    }
}

#[test]
fn a_fleet_of_two_accounts_and_two_regions_and_its_undo_complete_through_aws_like_mode() {
    let fleet = |emu: &Emulator, endpoint: &str| {
        emu.runbook()
            .env("AWS_ENDPOINT_URL", endpoint)
            .runbook("runbooks/tutorial.rhai", FAST)
            .args(["--accounts", "111111111111,222222222222", "--assume-role", "runbook"])
            .args(["--regions", "us-east-1,eu-west-1", "--concurrency", "4"])
            .output()
    };
    let accounts = ["111111111111", "222222222222"];
    let undisturbed = std::thread::spawn(move || {
        let clean = Emulator::start();
        fleet(&clean, &clean.url).success();
        accounts.map(|a| places(&clean.url, Some(a)))
    });
    let emu = Emulator::start();
    let before = accounts.map(|a| places(&emu.url, Some(a)));
    let like = AwsLike::start(&emu.url, Settings::default());
    let out = fleet(&emu, like.url());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("4 of 4 targets succeeded"), "{}", out.stderr);
    assert!(out.stdout.contains("AWS is eventually consistent") || out.stderr.contains("AWS is eventually consistent"));
    let expected = undisturbed.join().expect("the undisturbed fleet");
    for (i, a) in accounts.iter().enumerate() {
        let state = places(&emu.url, Some(a));
        assert_eq!(state, expected[i], "{a}: {}", diff(&state, &expected[i]));
    }
    timeline_of_the_fleet(&emu);
    let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    for (i, a) in accounts.iter().enumerate() {
        let state = places(&emu.url, Some(a));
        assert_eq!(state, before[i], "{a} after undo: {}", diff(&state, &before[i]));
    }
}

const SIXTEEN: [&str; 16] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "sa-east-1",
    "ca-central-1",
];

#[test]
fn sixteen_regions_at_once_complete_under_throttling_with_default_settings() {
    let emu = Emulator::start();
    let like = AwsLike::start(&emu.url, Settings::default());
    let out = emu
        .runbook()
        .env("AWS_ENDPOINT_URL", like.url())
        .runbook("runbooks/tutorial.rhai", FAST)
        .args(["--regions", &SIXTEEN.join(","), "--concurrency", "16"])
        .output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("16 of 16 targets succeeded"), "{}", out.stderr);
    assert!(like.throttled() > 0, "the buckets never ran dry: the test proves nothing");
    for region in SIXTEEN {
        let c = runbook_tests::Clients::in_region(&emu.url, region, None);
        let lb = c.load_balancer("rent-a-room-alb");
        assert_eq!(c.listeners(lb.load_balancer_arn().unwrap()).len(), 1, "{region}");
        assert_eq!(c.service("rent-a-room-cluster", "rent-a-room-service").desired_count(), 3, "{region}");
    }
    eprintln!("throttled {} request(s); lagged {}", like.throttled(), like.lagged().len());
}

#[test]
fn undo_of_a_route53_change_waits_until_route53_answers_insync() {
    let emu = Emulator::start();
    let zone = emu.aws(&["route53", "create-hosted-zone", "--name", "example.com", "--caller-reference", "insync"]);
    let zone = zone["HostedZone"]["Id"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let file = runbook_tests::script(
        "insync.rhai",
        &format!(
            r#"route53::change_resource_record_sets(#{{ HostedZoneId: "{zone}", ChangeBatch: #{{ Changes: [#{{ Action: "CREATE",
                ResourceRecordSet: #{{ Name: "txt.example.com", Type: "TXT", TTL: 60, ResourceRecords: [#{{ Value: "\"runbook\"" }}] }} }}] }} }});"#
        ),
    );
    // Route 53 says PENDING once for each change: the run's own change does not wait (its script
    // does not ask to), the undo's change is polled again and the undo ends after INSYNC.
    let like = AwsLike::start(&emu.url, Settings { pending_polls: 1, buckets: None, ..Settings::default() });
    emu.runbook().env("AWS_ENDPOINT_URL", like.url()).runbook(file.to_str().unwrap(), &[]).output().success();
    let txt = |emu: &Emulator| {
        let sets = emu.aws(&["route53", "list-resource-record-sets", "--hosted-zone-id", &zone]);
        sets["ResourceRecordSets"].as_array().unwrap().iter().filter(|r| r["Type"] == "TXT").count()
    };
    assert_eq!(txt(&emu), 1);
    assert_eq!(like.polled(), Vec::<(String, String)>::new());
    let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    let polled = like.polled();
    assert_eq!(polled.len(), 2, "{polled:?}\n{}", undo.stderr);
    assert_eq!(polled[0].0, polled[1].0, "{polled:?}");
    assert_eq!((polled[0].1.as_str(), polled[1].1.as_str()), ("PENDING", "INSYNC"), "{polled:?}");
    assert!(undo.stderr.contains("done after 2 poll(s)"), "{}", undo.stderr);
    assert_eq!(txt(&emu), 0, "{}", undo.stderr);
}

/// The value of `name="…"` in an SVG element's text.
fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
    let from = element.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("{name} in {element}")) + name.len() + 3;
    &element[from..from + element[from..].find('"').unwrap()]
}

/// `show last --timeline` of the fleet just run: every call of its four journals drawn, in the
/// lane of its target, lanes in the order the targets started, the critical path marked; and the
/// page opened in a browser draws them all.
fn timeline_of_the_fleet(emu: &Emulator) {
    let svg = emu.journal.join("fleet.svg");
    let html = emu.journal.join("fleet.html");
    for file in [&svg, &html] {
        let shown = emu.runbook().args(["show", "last", "--timeline", file.to_str().unwrap()]).output().success();
        assert!(shown.stderr.contains("in 4 lanes"), "{}", shown.stderr);
    }
    let read = |path: std::path::PathBuf| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let parent = std::fs::read_dir(&emu.journal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(read)
        .find(|records| records[0]["kind"] == "fleet")
        .expect("the fleet's journal");
    let children: Vec<(String, String)> = parent
        .iter()
        .filter(|r| r["type"] == "child")
        .map(|r| (r["target"].as_str().unwrap().to_string(), r["run"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(children.len(), 4);
    let picture = std::fs::read_to_string(&svg).unwrap();
    let lanes: Vec<&str> = picture.split("<g class=\"lane\"").skip(1).collect();
    assert_eq!(lanes.len(), 4, "{picture}");
    let mut total = 0;
    let mut kinds = std::collections::BTreeSet::new();
    let mut ends = Vec::new();
    for (lane, (label, run)) in lanes.iter().zip(&children) {
        assert_eq!(attribute(lane, "data-label"), label, "lanes in the order the targets started");
        assert_eq!(attribute(lane, "data-run"), run);
        let (start, end): (u64, u64) =
            (attribute(lane, "data-start-ms").parse().unwrap(), attribute(lane, "data-end-ms").parse().unwrap());
        ends.push((end, attribute(lane, "data-critical") == "true"));
        let calls: Vec<serde_json::Value> = read(emu.journal.join(format!("{run}.jsonl")))
            .into_iter()
            .flat_map(|r| r["events"].as_array().cloned().unwrap_or_default())
            .collect();
        // Every request the run counted is among them (the summary's and the recap's count).
        let records = read(emu.journal.join(format!("{run}.jsonl")));
        let counted = records.iter().rev().find(|r| r["type"] == "end").unwrap()["calls"].as_u64().unwrap();
        let requests = calls.iter().filter(|c| c["kind"] == "read" || c["kind"] == "write").count() as u64;
        assert_eq!(requests, counted, "{label}: the requests journaled and the run's count");
        let bars: Vec<&str> = lane.split("<rect class=\"call\"").skip(1).collect();
        assert_eq!(bars.len(), calls.len(), "{label}: every call of its journal, and no other");
        for (n, call) in calls.iter().enumerate() {
            let bar = bars.iter().find(|b| attribute(b, "data-n") == n.to_string()).expect("the call's bar");
            assert_eq!(attribute(bar, "data-kind"), call["kind"].as_str().unwrap(), "{label} call {n}");
            let (t, ms) = (call["t"].as_u64().unwrap(), call["ms"].as_u64().unwrap());
            assert_eq!(attribute(bar, "data-start-ms"), t.to_string(), "{label} call {n}");
            assert!(start <= t && t + ms <= end, "{label} call {n} ({t}+{ms}) outside its run ({start}..{end})");
            kinds.insert(call["kind"].as_str().unwrap().to_string());
        }
        // Drawn in order of time: a later start is further right.
        let mut by_time: Vec<(u64, f64)> = bars
            .iter()
            .map(|b| (attribute(b, "data-start-ms").parse().unwrap(), attribute(b, "x").parse().unwrap()))
            .collect();
        by_time.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert!(by_time.windows(2).all(|w| w[0].1 <= w[1].1), "{label}: bars out of order");
        total += calls.len();
    }
    assert!(total > 200, "{total} calls");
    // AWS-like mode: load balancers provision (a waiter polls), new things lag (retries).
    for kind in ["read", "write", "wait", "retry"] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    let latest = ends.iter().max_by_key(|(end, _)| *end).unwrap();
    assert!(latest.1, "the target that ended last is on the critical path: {ends:?}");

    // A browser lays the page out and draws every call.
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "Chromium is not installed: make test installs it (make browser)");
    let profile = emu.journal.join("chromium-profile");
    let dom = std::process::Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("start chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains(&format!("data-drawn=\"{total}\"")), "{}", &dom[..dom.len().min(2000)]);
    assert!(dom.contains(&format!("{total} of {total} calls drawn")));
}
