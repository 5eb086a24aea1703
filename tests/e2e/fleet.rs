//! One runbook across many accounts and regions: each target's resources in its own account and
//! region, a failing target in the recap, the error limit, one undo for all, per-target parameters
//! and an interrupt in the middle.

use runbook_tests::{script, Clients, Emulator};
use std::time::{Duration, Instant};

const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// The tutorial's resources in one account and region, as counts and the ARNs' places.
fn census(c: &Clients) -> (usize, usize, usize, usize, Vec<String>) {
    let tgs = c.block_on(c.elbv2.describe_target_groups().send()).unwrap();
    let lbs = c.block_on(c.elbv2.describe_load_balancers().send()).unwrap();
    // Deleted clusters and services linger as INACTIVE, as on AWS.
    let listed = c.block_on(c.ecs.list_clusters().send()).unwrap().cluster_arns().to_vec();
    let described = c.block_on(c.ecs.describe_clusters().set_clusters(Some(listed)).send()).unwrap();
    let active: Vec<String> = described
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .filter_map(|c| c.cluster_arn())
        .map(str::to_string)
        .collect();
    let services = active
        .iter()
        .map(|arn| {
            let names = c.block_on(c.ecs.list_services().cluster(arn).send()).unwrap().service_arns().to_vec();
            if names.is_empty() {
                return 0;
            }
            let svcs = c.block_on(c.ecs.describe_services().cluster(arn).set_services(Some(names)).send()).unwrap();
            svcs.services().iter().filter(|s| s.status() == Some("ACTIVE")).count()
        })
        .sum();
    let mut places: Vec<String> = tgs
        .target_groups()
        .iter()
        .filter_map(|t| t.target_group_arn())
        .chain(lbs.load_balancers().iter().filter_map(|l| l.load_balancer_arn()))
        .chain(active.iter().map(String::as_str))
        .map(|arn| arn.split(':').skip(3).take(2).collect::<Vec<_>>().join(":"))
        .collect();
    places.sort();
    places.dedup();
    (tgs.target_groups().len(), lbs.load_balancers().len(), active.len(), services, places)
}

fn fleet_args(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["run", "runbooks/tutorial.rhai", "--set", "emulator=true", "--set", "propagation_wait=0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn the_tutorial_on_three_accounts_and_two_regions_and_one_undo_for_all() {
    let emu = Emulator::start();
    let accounts = ACCOUNTS.join(",");
    let regions = REGIONS.join(",");
    let args =
        fleet_args(&["--accounts", &accounts, "--assume-role", "runbook", "--regions", &regions, "--concurrency", "3"]);
    let out = emu.runbook().args(args).output().success();

    // Lines of concurrent targets come whole, each behind its target.
    for line in out.stdout.lines().filter(|l| !l.is_empty()) {
        assert!(line.starts_with('['), "every line names its target: {line:?}");
    }
    assert!(
        out.stdout.contains("[222222222222/eu-west-1] Your application is available at: http://"),
        "{}",
        out.stdout
    );
    let recap = out.stderr.split("\nRECAP ").nth(1).expect("a recap");
    for a in ACCOUNTS {
        for r in REGIONS {
            let row = recap
                .lines()
                .find(|l| l.starts_with(&format!("{a}/{r} ")))
                .unwrap_or_else(|| panic!("{a}/{r} in {recap}"));
            assert!(row.contains(" succeeded "), "{row}");
        }
    }
    assert!(recap.contains("6 of 6 targets succeeded"), "{recap}");

    for a in ACCOUNTS {
        for r in REGIONS {
            let c = Clients::in_region(&emu.url, r, Some((a, "runbook")));
            let (tgs, lbs, clusters, services, places) = census(&c);
            assert_eq!((tgs, lbs, clusters, services), (1, 1, 1, 1), "one of each in {a}/{r}");
            assert_eq!(places, [format!("{r}:{a}")], "in its own account and region");
        }
    }
    // The default account was not touched.
    let home = Clients::in_region(&emu.url, "us-east-1", None);
    assert_eq!(census(&home).0, 0);

    // `runs` shows the fleet, not its six children; `show` lists them.
    let runs = emu.runbook().args(["runs"]).output().success();
    assert_eq!(runs.stdout.lines().count(), 2, "{}", runs.stdout);
    assert!(runs.stdout.contains("(fleet: 6 of 6 targets succeeded)"), "{}", runs.stdout);
    let show = emu.runbook().args(["show", "last"]).output().success();
    assert_eq!(show.stdout.lines().filter(|l| l.contains(" succeeded ")).count(), 6, "{}", show.stdout);

    // One undo for all, under the same rate control.
    let undo = emu.runbook().args(["undo", "last", "--concurrency", "3"]).output().success();
    assert!(undo.stderr.contains("6 of 6 targets undone"), "{}", undo.stderr);
    for a in ACCOUNTS {
        for r in REGIONS {
            let c = Clients::in_region(&emu.url, r, Some((a, "runbook")));
            let (tgs, lbs, clusters, services, _) = census(&c);
            assert_eq!((tgs, lbs, clusters, services), (0, 0, 0, 0), "nothing left in {a}/{r}: {}", undo.stdout);
        }
    }
}

/// A targets file: every account in us-east-1, the second given a value that fails its run.
fn targets_file(second: &str) -> std::path::PathBuf {
    let mut text = String::new();
    for (i, a) in ACCOUNTS.iter().enumerate() {
        text.push_str(&format!("[[target]]\naccount = \"{a}\"\nregion = \"us-east-1\"\nrole = \"runbook\"\n"));
        if i == 1 {
            text.push_str(&format!("set = {{ {second} }}\n"));
        } else {
            text.push_str(&format!("set = {{ desired_count = {} }}\n", i + 1));
        }
        text.push('\n');
    }
    script("targets.toml", &text)
}

/// Takes the load balancer's name in the second account with a network load balancer: its run
/// makes the target group and the security group, then cannot put an HTTP listener on it.
fn take_the_name(emu: &Emulator) {
    let c = Clients::in_region(&emu.url, "us-east-1", Some((ACCOUNTS[1], "runbook")));
    let vpc = c.default_vpc();
    let f = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build();
    let subnets = c.block_on(c.ec2.describe_subnets().filters(f).send()).unwrap();
    let ids: Vec<String> = subnets.subnets().iter().filter_map(|s| s.subnet_id()).map(str::to_string).collect();
    let nlb = aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network;
    c.block_on(c.elbv2.create_load_balancer().name("rent-a-room-alb").set_subnets(Some(ids)).r#type(nlb).send())
        .unwrap();
}

#[test]
fn a_failing_target_is_in_the_recap_and_the_others_complete() {
    let emu = Emulator::start();
    // A parameter of the wrong type for one target is refused before anything runs anywhere.
    let file = targets_file("desired_count = \"three\"");
    let out = emu.runbook().args(fleet_args(&["--targets", file.to_str().unwrap()])).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("target 222222222222/us-east-1: parameter desired_count: expected an integer"),
        "{}",
        out.stderr
    );

    take_the_name(&emu);
    let file = targets_file("desired_count = 2");
    let out = emu.runbook().args(fleet_args(&["--targets", file.to_str().unwrap()])).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let recap = out.stderr.split("\nRECAP ").nth(1).expect("a recap");
    let row = |a: &str| recap.lines().find(|l| l.starts_with(&format!("{a}/us-east-1 "))).unwrap().to_string();
    assert!(row("111111111111").contains(" succeeded "), "{recap}");
    assert!(
        row("222222222222").contains(" failed ") && row("222222222222").contains("Listener protocol 'HTTP'"),
        "{recap}"
    );
    assert!(row("333333333333").contains(" succeeded "), "{recap}");
    assert!(
        out.stderr.contains("re-run the 1 that did not succeed: runbook run runbooks/tutorial.rhai --targets "),
        "{}",
        out.stderr
    );
    // Parameters per target reached their own target.
    for (a, count) in [("111111111111", 1), ("333333333333", 3)] {
        let c = Clients::in_region(&emu.url, "us-east-1", Some((a, "runbook")));
        assert_eq!(c.service("rent-a-room-cluster", "rent-a-room-service").desired_count(), count, "{a}");
    }

    // With no error allowed and one target at a time, nothing starts after the failure.
    let emu = Emulator::start();
    take_the_name(&emu);
    let out = emu.runbook().args(fleet_args(&["--targets", file.to_str().unwrap(), "--max-errors", "0"])).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let recap = out.stderr.split("\nRECAP ").nth(1).expect("a recap");
    assert!(recap.lines().any(|l| l.starts_with("333333333333/us-east-1 ") && l.contains(" not started")), "{recap}");
    let third = Clients::in_region(&emu.url, "us-east-1", Some(("333333333333", "runbook")));
    assert_eq!(census(&third).0, 0, "the third target never ran");
}

#[test]
fn credentials_are_checked_everywhere_before_anything_runs() {
    let emu = Emulator::start();
    // A profile named signs with its own keys, as in the aws CLI, not with the environment's.
    let keys =
        script("credentials", "[default]\naws_access_key_id = AKIADEFAULT000000001\naws_secret_access_key = s\n");
    let keys = keys.to_str().unwrap();
    // A profile that does not exist: nothing runs anywhere.
    let out = emu
        .runbook()
        .args(fleet_args(&["--profiles", "default,no-such-profile", "--regions", "us-east-1"]))
        .env("AWS_CONFIG_FILE", script("config", "[default]\nregion = us-east-1\n").to_str().unwrap())
        .env("AWS_SHARED_CREDENTIALS_FILE", keys)
        .output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("[no-such-profile/us-east-1] unreachable: "), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was run anywhere"), "{}", out.stderr);
    assert_eq!(census(&emu.clients()).0, 0);

    // With --skip-unreachable the others run, and the recap names the one that could not.
    let config = script("config", "[default]\nregion = us-east-1\n");
    let out = emu
        .runbook()
        .args(fleet_args(&["--profiles", "default,no-such-profile", "--regions", "us-east-1", "--skip-unreachable"]))
        .env("AWS_CONFIG_FILE", config.to_str().unwrap())
        .env("AWS_SHARED_CREDENTIALS_FILE", keys)
        .output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let recap = out.stderr.split("\nRECAP ").nth(1).expect("a recap");
    assert!(recap.lines().any(|l| l.starts_with("default/us-east-1 ") && l.contains(" succeeded ")), "{recap}");
    assert!(
        recap.lines().any(|l| l.starts_with("no-such-profile/us-east-1 ") && l.contains(" unreachable ")),
        "{recap}"
    );
    assert_eq!(census(&emu.clients()).0, 1);

    // One run's target() asks STS for its account.
    let who = script("who.rhai", "print(to_json(target()));\n");
    let out = emu.runbook().args(["run", who.to_str().unwrap(), "--region", "eu-west-1"]).output().success();
    let t: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        t,
        serde_json::json!({
            "account": "123456789012",
            "profile": null,
            "region": "eu-west-1",
            "credentials": "environment (AWS_ACCESS_KEY_ID)"
        })
    );
}

#[test]
fn an_interrupt_mid_fan_out_stops_every_target_and_leaves_readable_journals() {
    let emu = Emulator::start();
    let slow =
        script("slow.rhai", "ecs::create_cluster(#{ clusterName: \"slow\" });\nprint(\"waiting\");\nsleep(60);\n");
    let accounts = ACCOUNTS.join(",");
    let mut child = emu
        .runbook()
        .args([
            "run",
            slow.to_str().unwrap(),
            "--accounts",
            &accounts,
            "--assume-role",
            "runbook",
            "--regions",
            "us-east-1",
            "--concurrency",
            "3",
        ])
        .spawn();
    // Wait until every target is in its sleep.
    let started = Instant::now();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut waiting = 0;
    while waiting < 3 {
        let line = lines.next().expect("a line").unwrap();
        if line.ends_with("] waiting") {
            waiting += 1;
        }
        // target() answers each run's own account and region.
        if let Some(rest) = line.strip_prefix('[').and_then(|l| l.split_once("] in ")) {
            assert_eq!(rest.0.replace('/', " "), rest.1, "{line}");
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    let sent = Instant::now();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(sent.elapsed() < Duration::from_secs(20), "stopped promptly");
    let mut children = 0;
    for entry in std::fs::read_dir(&emu.journal).unwrap().flatten() {
        if entry.path().extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let records: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).expect("a JSON record")).collect();
        let end = records.last().unwrap();
        assert_eq!((end["type"].as_str(), end["outcome"].as_str()), (Some("end"), Some("interrupted")), "{text}");
        if records[0]["parent"].is_string() {
            children += 1;
        }
    }
    assert_eq!(children, 3);
}

#[test]
fn a_block_runs_in_another_region_or_account_and_undo_follows_it() {
    let emu = Emulator::start();
    let text = r#"
let home = target();
let sg = with_region("eu-west-1", || {
    let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).Vpcs[0].VpcId;
    ec2::create_security_group(#{ GroupName: "replica", Description: "cross-region step", VpcId: vpc }).GroupId
});
let there = with_target(#{ account: "222222222222", role: "runbook", region: "eu-west-1" }, || {
    ecs::create_cluster(#{ clusterName: "elsewhere" });
    target()
});
try {
    with_region("ap-south-1", || { throw "inside"; });
} catch (e) {
    print(`caught ${e}`);
}
ecs::create_cluster(#{ clusterName: "at-home" });
print(`${home.account} ${home.region} -> ${there.account} ${there.region}`);
"#;
    let file = script("cross.rhai", text);
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    assert!(out.stdout.contains("caught inside"), "{}", out.stdout);
    assert!(out.stdout.contains("123456789012 us-east-1 -> 222222222222 eu-west-1"), "{}", out.stdout);
    let cluster_names = |c: &Clients| {
        let arns = c.block_on(c.ecs.list_clusters().send()).unwrap().cluster_arns().to_vec();
        arns.iter().map(|a| a.rsplit('/').next().unwrap().to_string()).collect::<Vec<_>>()
    };
    let home = Clients::in_region(&emu.url, "us-east-1", None);
    let eu = Clients::in_region(&emu.url, "eu-west-1", None);
    let other = Clients::in_region(&emu.url, "eu-west-1", Some(("222222222222", "runbook")));
    assert_eq!(cluster_names(&home), ["at-home"], "back home after each block, also after an error");
    assert_eq!(cluster_names(&other), ["elsewhere"]);
    assert_eq!(eu.security_groups("group-name", "replica").len(), 1);
    assert!(home.security_groups("group-name", "replica").is_empty());
    let records = emu.last_journal();
    let placed: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["type"] == "intent" && r["place"].is_object()).collect();
    assert_eq!(placed.len(), 2, "{records:?}");
    assert_eq!(placed[1]["place"]["role"], "arn:aws:iam::222222222222:role/runbook");

    // Undo goes where each write was made.
    emu.runbook().args(["undo", "last"]).output().success();
    assert!(eu.security_groups("group-name", "replica").is_empty());
    let active = |c: &Clients| {
        let arns = c.block_on(c.ecs.list_clusters().send()).unwrap().cluster_arns().to_vec();
        let d = c.block_on(c.ecs.describe_clusters().set_clusters(Some(arns)).send()).unwrap();
        d.clusters().iter().filter(|c| c.status() == Some("ACTIVE")).count()
    };
    assert_eq!((active(&home), active(&other)), (0, 0));
}

#[test]
fn batches_run_a_canary_first_and_output_dir_keeps_one_log_per_target() {
    let emu = Emulator::start();
    let file = script("where.rhai", "ecs::create_cluster(#{ clusterName: \"c\" });\nprint(`in ${target().region}`);\n");
    let logs = file.with_file_name("logs");
    let regions = "us-east-1,eu-west-1,ap-south-1";
    let out = emu
        .runbook()
        .args(["run", file.to_str().unwrap(), "--regions", regions, "--batches", "1,100%", "--concurrency", "3"])
        .args(["--output-dir", logs.to_str().unwrap()])
        .output()
        .success();
    assert_eq!(out.stdout, "", "the targets' lines went to their logs");
    for r in ["us-east-1", "eu-west-1", "ap-south-1"] {
        let log = std::fs::read_to_string(logs.join(format!("{r}.log"))).unwrap();
        assert!(log.contains(&format!("in {r}\n")), "{log}");
        assert!(out.stderr.contains(&format!("[{r}] started\n")) && out.stderr.contains(&format!("[{r}] succeeded\n")));
    }
    // The canary ended before the next batch started (the fleet's own journal says when each began).
    let records: Vec<serde_json::Value> = std::fs::read_dir(&emu.journal)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .map(|t| t.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<serde_json::Value>>())
        .find(|r| r[0]["kind"] == "fleet")
        .expect("the fleet's journal");
    let kinds: Vec<String> = records
        .iter()
        .filter(|r| r["type"] == "child" || r["type"] == "child_end")
        .map(|r| format!("{} {}", r["type"].as_str().unwrap(), r["target"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds[..2], ["child us-east-1".to_string(), "child_end us-east-1".to_string()], "{kinds:?}");

    // A plan takes the same options and writes nothing.
    let plan =
        emu.runbook().args(["plan", file.to_str().unwrap(), "--regions", "us-west-2,eu-central-1"]).output().success();
    assert!(plan.stderr.contains("RECAP plan of "), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("[eu-central-1] ") && plan.stdout.contains("1. ecs::create_cluster"),
        "{}",
        plan.stdout
    );
    let west = Clients::in_region(&emu.url, "us-west-2", None);
    assert!(west.block_on(west.ecs.list_clusters().send()).unwrap().cluster_arns().is_empty());

    // Options for many targets without targets, or --step with them, are refused.
    let bad = emu.runbook().args(["run", file.to_str().unwrap(), "--concurrency", "2"]).output();
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("--concurrency is for many targets: add --regions, --profiles, --accounts or --targets"),
        "{}",
        bad.stderr
    );
    let bad = emu.runbook().args(["run", file.to_str().unwrap(), "--regions", "us-east-1", "--step"]).output();
    assert_eq!(bad.code, 2);
    let bad = emu.runbook().args(["run", file.to_str().unwrap(), "--accounts", "111111111111"]).output();
    assert!(bad.stderr.contains("--accounts needs --assume-role NAME"), "{}", bad.stderr);
}
