//! `runbook aws`: the aws CLI's command language, checked against the aws CLI of .venv as the
//! oracle. What a command line asks (its operation's parameters, before anything is sent) must be
//! what the aws CLI builds from the same words; what an answer prints must be what the aws CLI
//! prints on the same state (JSON and text; timestamps as `cli_timestamp_format = iso8601` prints
//! them); errors take the aws CLI's exit codes; a write is a run that `runbook undo` takes back;
//! and the tutorial's own aws CLI commands, with `aws` being runbook, leave what the aws CLI leaves.

use runbook_tests::{aws_cli, command, python_script, root, Emulator, Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Command lines (the words after `aws`) whose parameters the two must build alike.
const LINES: &[&[&str]] = &[
    &["ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0"],
    &["ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--protocol", "all", "--port", "1-65535", "--source-group", "sg-2", "--group-owner", "123"],
    &["ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--protocol", "icmp", "--port", "-1", "--source-group", "web"],
    &["ec2", "authorize-security-group-egress", "--group-id", "sg-1", "--protocol", "udp", "--port", "53", "--cidr", "10.0.0.0/8"],
    &["ec2", "revoke-security-group-ingress", "--group-id", "sg-1", "--protocol", "6", "--cidr", "1.0.0.0/8"],
    &["ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--ip-permissions", "IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.0.0.0/8,Description=office}]"],
    &["elbv2", "describe-load-balancers", "--names", "a,b"],
    &["elbv2", "describe-load-balancers", "--names", "a", "b"],
    &["elbv2", "describe-load-balancers", "--names", "[\"a\",\"b\"]"],
    &["ec2", "describe-vpcs", "--filters", "Name=isDefault,Values=true", "Name=x,Values=a,b"],
    &["ec2", "describe-vpcs", "--filters", "Name=x,Values=[a,b]"],
    &["ec2", "describe-vpcs", "--filters", "[{\"Name\":\"x\",\"Values\":[\"a\"]}]"],
    &["ec2", "describe-vpcs", "--filter", "Name=a,Values=b"],
    &["ec2", "describe-vpcs", "--vpc-id", "vpc-2"],
    &["ec2", "describe-vpcs", "--dry-run"],
    &["ec2", "describe-vpcs", "--no-dry-run"],
    &["ec2", "describe-vpcs", "--max-items", "3"],
    &["ec2", "describe-vpcs", "--page-size", "3"],
    &["ec2", "describe-vpcs", "--max-results", "7"],
    &["ec2", "describe-vpcs", "--cli-input-json", "{\"VpcIds\":[\"vpc-1\"],\"DryRun\":false}", "--vpc-ids", "vpc-2"],
    &["ec2", "describe-instances", "--filters", "Name=tag:Name,Values=a b"],
    &["ec2", "describe-vpcs", "--filters", "Name = x , Values = a"],
    &["ec2", "create-tags", "--resources", "i-1", "--tags", "Key=Name,Value=web server"],
    &["ec2", "run-instances", "--image-id", "ami-1", "--count", "2:4", "--user-data", "hello", "--associate-public-ip-address", "--subnet-id", "subnet-1", "--security-group-ids", "sg-1", "sg-2"],
    &["ec2", "run-instances", "--image-id", "ami-1"],
    &["ec2", "run-instances", "--image-id", "ami-1", "--count", "3", "--secondary-private-ip-address-count", "2", "--subnet-id", "subnet-1"],
    &["ec2", "run-instances", "--image-id", "ami-1", "--instance-type", "t3.micro", "--key-name", "k", "--no-associate-public-ip-address"],
    &["ecs", "update-service", "--cluster", "c", "--service", "s", "--load-balancers", "targetGroupArn=arn:x,containerName=r,containerPort=80", "--force-new-deployment"],
    &["ecs", "update-service", "--cluster", "c", "--service", "s", "--desired-count", "3"],
    &["ecs", "register-task-definition", "--family", "f", "--container-definitions", "name=a,image=nginx,portMappings=[{containerPort=80}]", "--cpu", "256"],
    &["ecs", "create-service", "--cluster", "c", "--service-name", "s", "--network-configuration", "awsvpcConfiguration={subnets=[s1,s2],securityGroups=[g],assignPublicIp=ENABLED}"],
    &["ecs", "list-tasks", "--cluster", "c", "--service-name", "s", "--desired-status", "RUNNING"],
    &["elbv2", "create-listener", "--load-balancer-arn", "arn:lb", "--protocol", "HTTP", "--port", "80", "--default-actions", "Type=forward,TargetGroupArn=arn:tg"],
    &["elbv2", "create-target-group", "--name", "t", "--protocol", "HTTP", "--port", "80", "--vpc-id", "vpc-1", "--target-type", "ip", "--health-check-path", "/", "--health-check-interval-seconds", "30", "--matcher", "HttpCode=200-299"],
    &["elbv2", "add-tags", "--resource-arns", "arn:1", "--tags", "Key=a,Value=\"q=1,2\"", "Key=c,Value='x,y'"],
    &["elbv2", "modify-target-group-attributes", "--target-group-arn", "arn:tg", "--attributes", "Key=deregistration_delay.timeout_seconds,Value=30"],
    &["application-autoscaling", "register-scalable-target", "--service-namespace", "ecs", "--resource-id", "service/c/s", "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "5"],
    &["application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs", "--resource-id", "service/c/s", "--scalable-dimension", "ecs:service:DesiredCount", "--policy-name", "p", "--policy-type", "TargetTrackingScaling", "--target-tracking-scaling-policy-configuration", "{\"TargetValue\": 70.0, \"PredefinedMetricSpecification\": {\"PredefinedMetricType\": \"ECSServiceAverageCPUUtilization\"}}"],
    &["application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs", "--resource-id", "service/c/s", "--scalable-dimension", "ecs:service:DesiredCount", "--policy-name", "p", "--target-tracking-scaling-policy-configuration", "TargetValue=70.5,PredefinedMetricSpecification={PredefinedMetricType=ECSServiceAverageCPUUtilization},DisableScaleIn=true"],
    &["iam", "create-role", "--role-name", "r", "--assume-role-policy-document", "{\"Version\":\"2012-10-17\"}", "--tags", "Key=a,Value=b"],
    &["iam", "get-role", "--role-name", "AWSServiceRoleForECS"],
    &["iam", "create-service-linked-role", "--aws-service-name", "ecs.amazonaws.com"],
    &["route53", "change-resource-record-sets", "--hosted-zone-id", "Z1", "--change-batch", "Changes=[{Action=UPSERT,ResourceRecordSet={Name=a.example.com,Type=A,TTL=60,ResourceRecords=[{Value=1.2.3.4}]}}]"],
    &["acm", "request-certificate", "--domain-name", "a.com", "--validation-method", "DNS", "--subject-alternative-names", "b.com", "c.com"],
    &["acm", "list-certificates", "--certificate-statuses", "ISSUED", "PENDING_VALIDATION"],
    // Refused by both: the exit code must agree.
    &["ec2", "authorize-security-group-ingress", "--group-id", "sg-1", "--protocol", "tcp", "--cidr", "0.0.0.0/0", "--ip-permissions", "IpProtocol=tcp"],
    &["ecs", "update-service", "--cluster", "c", "--service", "s", "--desired-count", "x"],
    &["ec2", "create-security-group", "--group-name", "x"],
    &["ec2", "describe-vpc"],
    &["ec2", "describe-vpcs", "--bogus"],
    &["elbv2", "describe-load-balancers", "--names"],
    &["nosuch", "thing"],
    &["ec2", "describe-vpcs", "--query", "[["],
];

/// What the aws CLI says of each command line (`lines`, a JSON list of word lists), from
/// tests/emulator/cli_params.py started as `oracle` is: the parameters it builds, or with
/// `--send` what it prints.
fn ask(mut oracle: std::process::Command, lines: Value) -> Vec<Value> {
    let mut child = oracle
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the aws CLI");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "cli_params.py: {}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the aws CLI's answers as JSON");
    assert_eq!(Some(answers.len()), lines.as_array().map(Vec::len));
    answers
}

/// The oracle's blobs (`{"blob": base64}`) as `--to json` writes them (base64 text).
fn plain_blobs(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("blob") => m["blob"].clone(),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), plain_blobs(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(plain_blobs).collect()),
        other => other.clone(),
    }
}

#[test]
fn command_lines_ask_what_the_aws_cli_asks() {
    let expected = ask(python_script(&root().join("tests/emulator/cli_params.py")), serde_json::json!(LINES));
    let mut wrong = Vec::new();
    for (line, want) in LINES.iter().zip(&expected) {
        let out = Run::new().args(["aws", "--to", "json"]).args(line.iter()).output();
        match want.get("params") {
            Some(params) => {
                let got: Result<Value, _> = serde_json::from_str(&out.stdout);
                match got {
                    Ok(got) if out.code == 0 && got == plain_blobs(params) => {}
                    _ => wrong.push(format!(
                        "aws {}\n  aws CLI: {params}\n  runbook (exit {}): {}{}",
                        line.join(" "),
                        out.code,
                        out.stdout.trim(),
                        out.stderr.trim()
                    )),
                }
            }
            None => {
                let code = want["rc"].as_i64().unwrap_or(-1);
                if i64::from(out.code) != code || !out.stderr.contains("runbook aws: error:") {
                    wrong.push(format!(
                        "aws {}\n  aws CLI: exit {code} {}\n  runbook: exit {} {}",
                        line.join(" "),
                        want["error"],
                        out.code,
                        out.stderr.trim()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} lines differ:\n{}", wrong.len(), LINES.len(), wrong.join("\n"));
}

/// The aws CLI's configuration for the comparison: timestamps as ISO 8601, as runbook prints them.
fn iso_config() -> PathBuf {
    let path = std::env::temp_dir().join(format!("runbook-aws-cli-config-{}", std::process::id()));
    std::fs::write(&path, "[default]\ncli_timestamp_format = iso8601\n").unwrap();
    path
}

fn cli_out(emu: &Emulator, config: &Path, words: &[&str]) -> (i32, String, String) {
    let out = aws_cli(&emu.url).env("AWS_CONFIG_FILE", config).args(words).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn answers_and_errors_print_as_the_aws_cli_prints_them() {
    let emu = Emulator::start();
    let config = iso_config();
    // The seed, one command line a string (no word holds a space).
    let run = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let (code, out, err) = cli_out(&emu, &config, &words);
        assert_eq!(code, 0, "aws {line}: {err}");
        out.trim().to_string()
    };
    let vpc = run("ec2 describe-vpcs --filters Name=isDefault,Values=true --query Vpcs[0].VpcId --output text");
    let sg = run(&format!(
        "ec2 create-security-group --group-name alb --description the-ALB --vpc-id {vpc} --query GroupId --output text"
    ));
    run(&format!("ec2 authorize-security-group-ingress --group-id {sg} --protocol tcp --port 80 --cidr 0.0.0.0/0"));
    let subnets = run(&format!(
        "ec2 describe-subnets --filters Name=vpc-id,Values={vpc} --query Subnets[*].SubnetId --output text"
    ));
    let subnets = subnets.split_whitespace().collect::<Vec<_>>().join(" ");
    run(&format!("elbv2 create-load-balancer --name alb --security-groups {sg} --subnets {subnets}"));
    for i in 1..=5 {
        run(&format!("elbv2 create-target-group --name tg{i} --protocol HTTP --port 80 --vpc-id {vpc}"));
    }
    run("ecs create-cluster --cluster-name c1");
    let token = {
        let (_, out, _) = cli_out(
            &emu,
            &config,
            &["elbv2", "describe-target-groups", "--max-items", "2", "--query", "NextToken", "--output", "json"],
        );
        out.trim().trim_matches('"').to_string()
    };
    let commands: Vec<Vec<String>> = [
        "ec2 describe-vpcs",
        "ec2 describe-security-groups",
        "ec2 describe-subnets",
        "ec2 describe-availability-zones",
        "elbv2 describe-load-balancers",
        "elbv2 describe-target-groups",
        "elbv2 describe-target-groups --max-items 2",
        "elbv2 describe-target-groups --max-items 5",
        "elbv2 describe-target-groups --page-size 2 --query TargetGroups[].TargetGroupName",
        "elbv2 describe-target-groups --max-items 2 --query TargetGroups[].TargetGroupName",
        "ec2 describe-security-groups --query SecurityGroups[*].{id:GroupId,name:GroupName,perms:IpPermissions}",
        "ec2 describe-subnets --query Subnets[*].SubnetId",
        "ec2 describe-vpcs --query Nope",
        "elbv2 describe-load-balancers --query LoadBalancers[0].CreatedTime",
        "elbv2 describe-load-balancers --names alb --query LoadBalancers[0].{State:State.Code,Dns:DNSName,Zones:length(AvailabilityZones)}",
        "ecs describe-clusters --clusters c1",
        "ecs list-clusters",
        "iam list-roles",
        "elbv2 describe-load-balancers --names nope",
        "ecs describe-services --cluster nope --services s",
        "ec2 describe-security-groups --group-ids sg-nope",
    ]
    .iter()
    .map(|c| c.split(' ').map(str::to_string).collect())
    .chain(std::iter::once(
        ["elbv2", "describe-target-groups", "--max-items", "2", "--starting-token", token.as_str()].map(String::from).to_vec(),
    ))
    .collect();
    let lines: Vec<Vec<String>> = commands
        .iter()
        .flat_map(|words| {
            ["json", "text", "table"]
                .map(|output| words.iter().cloned().chain(["--output".into(), output.into()]).collect())
        })
        .collect();
    // The aws CLI's answers, one process for them all.
    let mut oracle = command(runbook_tests::venv().join("bin/python"), &emu.url);
    oracle.arg(root().join("tests/emulator/cli_params.py")).arg("--send").env("AWS_CONFIG_FILE", &config);
    let answers = ask(oracle, serde_json::json!(lines));
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (line, cli) in lines.iter().zip(&answers) {
        let (code, out, err) = (
            cli["code"].as_i64().unwrap_or(-1),
            cli["stdout"].as_str().unwrap_or(""),
            cli["stderr"].as_str().unwrap_or(""),
        );
        let ours = emu.runbook().args(["aws"]).args(line.iter()).output();
        compared += 1;
        // An AWS error: the same code and line on stderr.
        let error_line = |text: &str| text.lines().find(|l| l.starts_with("An error occurred")).map(str::to_string);
        if i64::from(ours.code) != code || ours.stdout != out || error_line(err) != error_line(&ours.stderr) {
            wrong.push(format!(
                "aws {}\n--- aws CLI (exit {code})\n{out}{err}\n--- runbook aws (exit {})\n{}{}",
                line.join(" "),
                ours.code,
                ours.stdout,
                ours.stderr
            ));
        }
    }
    assert!(compared >= 66, "{compared} compared");
    assert!(wrong.is_empty(), "{} of {compared} differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn a_write_is_a_run_that_undo_takes_back_and_no_tag_sends_the_aws_clis_request() {
    let emu = Emulator::start();
    let c = emu.clients();
    let vpc = c.default_vpc();
    let made = emu
        .runbook()
        .args([
            "aws",
            "ec2",
            "create-security-group",
            "--group-name",
            "by-runbook",
            "--description",
            "d",
            "--vpc-id",
            &vpc,
        ])
        .output()
        .success();
    let answer: Value = serde_json::from_str(&made.stdout).expect("the answer as JSON");
    let id = answer["GroupId"].as_str().expect("GroupId").to_string();
    assert!(made.stderr.is_empty(), "nothing on stderr, as the aws CLI: {}", made.stderr);
    let group = c.security_groups("group-id", &id);
    let tags: Vec<(String, String)> = group[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    let journal = emu.last_journal();
    assert!(tags.iter().any(|(k, _)| k == "runbook:run-id"), "tagged with the run: {tags:?}");
    assert_eq!(
        journal[0]["file"],
        format!("aws ec2 create-security-group --group-name by-runbook --description d --vpc-id {vpc}")
    );
    // A read is not a run.
    emu.runbook().args(["aws", "ec2", "describe-vpcs"]).output().success();
    let runs = emu.runbook().args(["runs"]).output().success();
    assert_eq!(runs.stdout.matches("aws ec2").count(), 1, "one run, the write:\n{}", runs.stdout);
    let undone = emu.runbook().args(["undo", "last"]).output().success();
    assert!(c.security_groups("group-id", &id).is_empty(), "undo removed {id}: {}{}", undone.stdout, undone.stderr);

    let plain = emu
        .runbook()
        .args([
            "aws",
            "--no-tag",
            "ec2",
            "create-security-group",
            "--group-name",
            "plain",
            "--description",
            "d",
            "--vpc-id",
            &vpc,
        ])
        .args(["--query", "GroupId", "--output", "text"])
        .output()
        .success();
    let id = plain.stdout.trim();
    assert!(id.starts_with("sg-"), "{}", plain.stdout);
    assert!(c.security_groups("group-id", id)[0].tags().is_empty(), "--no-tag sends the request untagged");
    // A refused write sends nothing and leaves no run behind.
    let before = emu.runbook().args(["runs"]).output().success().stdout;
    let bad = emu.runbook().args(["aws", "ec2", "create-security-group", "--group-name", "x"]).output();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--description"), "{}", bad.stderr);
    assert_eq!(emu.runbook().args(["runs"]).output().success().stdout, before);
    assert!(c.security_groups("group-name", "x").is_empty());
    // A write the model refuses is not a run: nothing sent, nothing journaled.
    let refused = emu
        .runbook()
        .args(["aws", "elbv2", "create-target-group", "--name", "t", "--protocol", "HTTPX", "--port", "80"])
        .output();
    assert_eq!(refused.code, 255, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("Parameter validation failed") && refused.stderr.contains("HTTPS"),
        "{}",
        refused.stderr
    );
    assert_eq!(emu.runbook().args(["runs"]).output().success().stdout, before);
    // A query that cannot be read stops a write before it is sent, as the aws CLI's does.
    let query = emu
        .runbook()
        .args(["aws", "ec2", "create-security-group", "--group-name", "q", "--description", "d", "--vpc-id", &vpc])
        .args(["--query", "[["])
        .output();
    assert_eq!(query.code, 255, "{}", query.stderr);
    assert!(query.stderr.contains("Bad value for --query [["), "{}", query.stderr);
    assert!(c.security_groups("group-name", "q").is_empty(), "nothing was sent");
}

#[test]
fn the_tutorials_cli_commands_with_runbook_as_aws_leave_what_the_aws_cli_leaves() {
    let by_runbook = Emulator::start();
    let by_cli = Emulator::start();
    let as_script = Emulator::start();
    // `aws` is runbook on this PATH.
    let bin = std::env::temp_dir().join(format!("runbook-as-aws-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let shim = bin.join("aws");
    std::fs::write(&shim, format!("#!/bin/sh\nexec '{}' aws \"$@\"\n", runbook_tests::runbook_bin().display()))
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path_with = |first: &Path| {
        format!(
            "{}:{}:{}",
            first.display(),
            root().join(".venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    };
    for (emu, first) in [(&by_runbook, bin.clone()), (&by_cli, runbook_tests::aws_cli_folder())] {
        let out = command("bash", &emu.url)
            .arg(root().join("tests/emulator/tutorial-cli.sh"))
            .env("PATH", path_with(&first))
            .env("RUNBOOK_JOURNAL_DIR", &emu.journal)
            .env("WITH_PREREQS", "1")
            .env("WITH_VERIFY", "1")
            .env("PROPAGATION_WAIT", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the tutorial's CLI commands failed with {}:\n{}{}",
            first.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        crate::compare::snapshot(&by_runbook.clients()),
        crate::compare::snapshot(&by_cli.clients()),
        "runbook as aws left other resources than the aws CLI"
    );
    // The same script as one run of runbook: the same resources, one journal, one undo.
    let script = root().join("tests/emulator/tutorial-cli.sh");
    let script = script.to_string_lossy();
    let ran = as_script
        .runbook()
        .args(["run", &script, "--set", "WITH_PREREQS=1", "--set", "WITH_VERIFY=1", "--set", "PROPAGATION_WAIT=0"])
        .output()
        .success();
    assert!(ran.stdout.contains("Your application is available at: http://rent-a-room-alb"), "{}", ran.stdout);
    assert!(ran.stderr.contains("done,") && ran.stderr.contains("undo:"), "one recap:\n{}", ran.stderr);
    let c = as_script.clients();
    assert_eq!(crate::compare::snapshot(&c), crate::compare::snapshot(&by_cli.clients()), "the script as a run");
    let journal = as_script.last_journal();
    let writes: Vec<&Value> = journal.iter().filter(|r| r["type"] == "intent").collect();
    assert!(writes.len() >= 12, "every write of the script in one journal: {}", writes.len());
    assert!(
        writes.iter().all(|w| w["at"].as_str().is_some_and(|at| at.contains("tutorial-cli.sh:"))),
        "each write names its line: {writes:?}"
    );
    let runs = as_script.runbook().args(["runs", "--writes"]).output().success();
    assert_eq!(runs.stdout.lines().count(), 2, "one run:\n{}", runs.stdout);
    let undone = as_script.runbook().args(["undo", "last"]).output().success();
    assert!(c.scaling_policies(runbook_tests::SERVICE_RESOURCE).is_empty(), "{}", undone.stderr);
    assert!(c.security_groups("group-name", "rent-a-room-alb-sg").is_empty(), "{}", undone.stderr);
    assert!(as_script.aws(&["elbv2", "describe-load-balancers"])["LoadBalancers"].as_array().unwrap().is_empty());
    let clusters = as_script.aws(&["ecs", "describe-clusters", "--clusters", "rent-a-room-cluster"]);
    assert_eq!(clusters["clusters"][0]["status"], "INACTIVE", "{}", undone.stderr);

    // Every write was a run of its own, each undoable: the last, the scaling policy, goes first.
    let runs = by_runbook.runbook().args(["runs", "--writes"]).output().success();
    assert!(runs.stdout.matches("aws ").count() >= 9, "{}", runs.stdout);
    by_runbook.runbook().args(["undo", "last"]).output().success();
    let c = by_runbook.clients();
    assert!(c.scaling_policies(runbook_tests::SERVICE_RESOURCE).is_empty(), "undo last removed the scaling policy");
    assert_eq!(c.scalable_targets(runbook_tests::SERVICE_RESOURCE).len(), 1, "and only that");
}

#[test]
fn a_plan_of_a_script_sends_no_write_and_runs_nothing_but_aws_and_text_tools() {
    let emu = Emulator::start();
    let dir = std::env::temp_dir().join(format!("runbook-script-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kept = dir.join("kept.txt");
    std::fs::write(&kept, "as it was\n").unwrap();
    let touched = dir.join("touched");
    let script = dir.join("setup.sh");
    std::fs::write(
        &script,
        format!(
            r#"set -euo pipefail
VPC_ID=$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)
SG=$(aws ec2 create-security-group --group-name plan-sg --description "a plan's" --vpc-id $VPC_ID --query GroupId --output text)
aws ec2 authorize-security-group-ingress --group-id $SG --protocol tcp --port 80 --cidr 0.0.0.0/0 > /dev/null
TG=$(aws elbv2 create-target-group --name plan-tg --protocol HTTP --port 80 --vpc-id $VPC_ID --query 'TargetGroups[0].TargetGroupArn' --output text)
FOUND=$(aws elbv2 describe-target-groups --names plan-tg --query 'TargetGroups[0].TargetGroupName' --output text)
echo "found $FOUND" | tr a-z A-Z
aws elbv2 modify-target-group-attributes --target-group-arn $TG --attributes Key=deregistration_delay.timeout_seconds,Value=30 > /dev/null
touch {touched}
rm -f {kept}
sed -i s/was/is/ {kept}
sleep 600
echo "still here"
echo changed > {kept}
echo "not reached"
"#,
            touched = touched.display(),
            kept = kept.display()
        ),
    )
    .unwrap();
    let planned = emu.runbook().args(["plan", &script.to_string_lossy()]).output();
    assert_eq!(planned.code, 3, "a write to a file ends the plan:\n{}{}", planned.stdout, planned.stderr);
    assert!(planned.stderr.contains(&format!("writes to {}", kept.display())), "{}", planned.stderr);
    // The read of what the plan would make is answered from the plan, and `tr` ran on it.
    assert!(planned.stdout.contains("FOUND <ELBV2.CREATE_TARGET_GROUP#3:") && planned.stdout.contains("still here"));
    assert!(!planned.stdout.contains("not reached"), "{}", planned.stdout);
    // The writes in order, with their lines; the ingress names the group the plan would make.
    let listed: Vec<&str> = planned.stdout.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    let expected = [
        "1. ec2::create_security_group  (",
        "2. ec2::authorize_security_group_ingress  (",
        "3. elbv2::create_target_group  (",
        "4. elbv2::modify_target_group_attributes  (",
    ];
    assert_eq!(listed.len(), 4, "{}", planned.stdout);
    for ((line, want), at) in listed.iter().zip(expected).zip([3, 4, 5, 8]) {
        assert!(line.trim_start().starts_with(want) && line.ends_with(&format!("setup.sh:{at})")), "{line}");
    }
    assert!(planned.stdout.contains("\"GroupId\": \"<ec2.create_security_group#1 GroupId>\""), "{}", planned.stdout);
    assert!(
        planned.stdout.contains("\"TargetGroupArn\": \"<elbv2.create_target_group#3 TargetGroups[0].TargetGroupArn>\""),
        "{}",
        planned.stdout
    );
    // What it did not run, listed; and nothing changed outside AWS or in it.
    for skipped in [format!("touch {}", touched.display()), format!("rm -f {}", kept.display()), "sed -i".to_string()] {
        assert!(planned.stdout.contains(&skipped), "{skipped} listed:\n{}", planned.stdout);
    }
    assert!(!touched.exists());
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "as it was\n");
    let c = emu.clients();
    assert!(c.security_groups("group-name", "plan-sg").is_empty());
    assert!(emu.aws(&["elbv2", "describe-target-groups"])["TargetGroups"].as_array().unwrap().is_empty());
    let runs = emu.runbook().args(["runs"]).output().success();
    assert!(!runs.stdout.contains("setup.sh"), "a plan is not a run:\n{}", runs.stdout);

    // A Markdown file: its ```bash blocks in order, as one run; the lines are the file's.
    let md = dir.join("guide.md");
    std::fs::write(
        &md,
        "# Guide\n\nSome text.\n\n```bash\nVPC=$(aws ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text)\n```\n\n\
         ```json\n{\"not\": \"run\"}\n```\n\nMore.\n\n```bash\naws ec2 create-security-group --group-name md-sg \\\n    \
         --description md --vpc-id $VPC\n```\n",
    )
    .unwrap();
    let ran = emu.runbook().args(["run", &md.to_string_lossy()]).output().success();
    assert!(ran.stdout.contains("\"GroupId\": \"sg-"), "{}", ran.stdout);
    let group = c.security_groups("group-name", "md-sg");
    assert_eq!(group.len(), 1);
    let journal = emu.last_journal();
    let intent = journal.iter().find(|r| r["type"] == "intent").unwrap();
    assert!(intent["at"].as_str().unwrap().ends_with("guide.md:16"), "{intent}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal's writes as (function, input), ids and the run's tag made alike, so that two runs
/// against two emulators compare.
fn writes_of(journal: &[Value]) -> Vec<(String, Value)> {
    fn alike(v: &Value) -> Value {
        match v {
            Value::String(s) if ["vpc-", "subnet-", "sg-", "arn:", "2026", "2027"].iter().any(|p| s.starts_with(p)) => {
                Value::String("<id>".into())
            }
            Value::Array(a) => Value::Array(a.iter().map(alike).collect()),
            Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), alike(x))).collect()),
            other => other.clone(),
        }
    }
    journal
        .iter()
        .filter(|r| r["type"] == "intent")
        .map(|r| (r["function"].as_str().unwrap_or_default().to_string(), alike(&r["input"])))
        .collect()
}

#[test]
fn import_writes_a_runbook_that_sends_the_scripts_requests_and_idempotent_reruns_write_nothing() {
    let dir = std::env::temp_dir().join(format!("runbook-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = root().join("tests/emulator/tutorial-cli.sh");
    let script = script.to_string_lossy();
    let plain = dir.join("tutorial.rhai");
    let idempotent = dir.join("tutorial_idempotent.rhai");
    let imported = Run::new().args(["import", &script, "-o", &plain.to_string_lossy()]).output().success();
    assert!(imported.stderr.is_empty(), "everything converted: {}", imported.stderr);
    Run::new().args(["import", &script, "--idempotent", "-o", &idempotent.to_string_lossy()]).output().success();
    Run::new().args(["check", &plain.to_string_lossy(), &idempotent.to_string_lossy()]).output().success();

    let sets = ["--set", "WITH_PREREQS=1", "--set", "WITH_VERIFY=1", "--set", "PROPAGATION_WAIT=0"];
    let by_runbook = Emulator::start();
    let by_script = Emulator::start();
    let ran = by_runbook.runbook().args(["run", &plain.to_string_lossy()]).args(sets).output().success();
    assert!(ran.stdout.contains("Your application is available at: http://rent-a-room-alb"), "{}", ran.stdout);
    let runbook_writes = writes_of(&by_runbook.last_journal());
    by_script.runbook().args(["run", &script]).args(sets).output().success();
    let script_writes = writes_of(&by_script.last_journal());
    assert!(runbook_writes.len() >= 12, "{runbook_writes:?}");
    assert_eq!(runbook_writes, script_writes, "the imported runbook sends the script's writes");
    assert_eq!(
        crate::compare::snapshot(&by_runbook.clients()),
        crate::compare::snapshot(&by_script.clients()),
        "and leaves what it leaves"
    );

    // Imported with --idempotent and run again where everything is in place: nothing is sent.
    let again = by_runbook
        .runbook()
        .args(["run", &idempotent.to_string_lossy(), "--set", "PROPAGATION_WAIT=0"])
        .output()
        .success();
    assert!(again.stderr.contains("0 write(s), 0 created, 10 skipped"), "{}", again.stderr);
    let journal = by_runbook.last_journal();
    assert!(writes_of(&journal).is_empty(), "{:?}", writes_of(&journal));
    let reasons: Vec<&str> = journal.iter().filter_map(|r| r["converged"].as_str()).collect();
    assert_eq!(reasons.iter().filter(|r| **r == "exists").count(), 6, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| **r == "unchanged").count(), 4, "{reasons:?}");
    // A change that does not hold is still sent: another desired count.
    let changed = std::fs::read_to_string(&idempotent).unwrap().replace("desiredCount: 3", "desiredCount: 2");
    std::fs::write(&idempotent, changed).unwrap();
    by_runbook.runbook().args(["run", &idempotent.to_string_lossy(), "--set", "PROPAGATION_WAIT=0"]).output().success();
    let sent: Vec<String> = writes_of(&by_runbook.last_journal()).into_iter().map(|(f, _)| f).collect();
    assert_eq!(sent, vec!["ecs::update_service"]);
    assert_eq!(by_runbook.clients().service("rent-a-room-cluster", "rent-a-room-service").desired_count(), 2);

    // What cannot be converted stays as a comment, listed with its line; exit 1.
    let odd = dir.join("odd.sh");
    std::fs::write(&odd, "VPC=$(aws ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text)\nrm -rf /tmp/nothing\nX=$(aws ec2 describe-vpcs | awk '{print $1}')\naws ec2 describe-vpcz\necho \"vpc $VPC\"\n").unwrap();
    let out = Run::new().args(["import", &odd.to_string_lossy()]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("// not converted: rm -rf /tmp/nothing"), "{}", out.stdout);
    assert!(out.stdout.contains("print(`vpc ${vpc}`);"), "{}", out.stdout);
    for line in ["odd.sh:2:", "odd.sh:3:", "odd.sh:4:"] {
        assert!(out.stderr.contains(line), "{line} listed: {}", out.stderr);
    }
    assert!(out.stderr.contains("describe-vpcs?"), "the CLI reading's did-you-mean: {}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_script_runs_in_every_target_of_a_fleet_and_one_undo_takes_back_each() {
    let emu = Emulator::start();
    let file = runbook_tests::script(
        "fleet.sh",
        "set -eu\nVPC_ID=$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)\n\
         aws ec2 create-security-group --group-name fleet-sg --description \"from $NAME\" --vpc-id $VPC_ID --query GroupId --output text\n",
    );
    let ran = emu
        .runbook()
        .args(["run", &file.to_string_lossy(), "--regions", "us-east-1,eu-west-1", "--set", "NAME=the-fleet"])
        .output()
        .success();
    assert!(ran.stdout.contains("[us-east-1] sg-") && ran.stdout.contains("[eu-west-1] sg-"), "{}", ran.stdout);
    let groups = |region: &str| {
        runbook_tests::Clients::in_region(&emu.url, region, None).security_groups("group-name", "fleet-sg")
    };
    for region in ["us-east-1", "eu-west-1"] {
        let found = groups(region);
        assert_eq!(found.len(), 1, "{region}");
        assert_eq!(found[0].description(), Some("from the-fleet"), "--set is the script's variable");
    }
    emu.runbook().args(["undo", "last"]).output().success();
    assert!(groups("us-east-1").is_empty() && groups("eu-west-1").is_empty());
}

#[test]
fn a_script_with_a_mistake_sends_nothing_and_undo_last_passes_over_a_run_whose_writes_failed() {
    let emu = Emulator::start();
    let c = emu.clients();
    let good = runbook_tests::script(
        "good.sh",
        "VPC_ID=$(aws ec2 describe-vpcs --query 'Vpcs[0].VpcId' --output text)\n\
         aws ec2 create-security-group --group-name kept --description \"$WHAT\" --vpc-id $VPC_ID\n",
    );
    let good = good.to_string_lossy();
    // A parameter the script never reads is refused, with the one it reads.
    let misspelt = emu.runbook().args(["run", &good, "--set", "WHT=x"]).output();
    assert_eq!(misspelt.code, 2, "{}", misspelt.stderr);
    assert!(misspelt.stderr.contains("never reads $WHT (did you mean WHAT?)"), "{}", misspelt.stderr);
    emu.runbook().args(["run", &good, "--set", "WHAT=first"]).output().success();
    assert_eq!(c.security_groups("group-name", "kept").len(), 1);
    // Run again, its one write fails (the group exists): `undo last` is still the first run.
    let again = emu.runbook().args(["run", &good, "--set", "WHAT=again"]).output();
    assert_ne!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("InvalidGroup.Duplicate"), "{}", again.stderr);
    let undone = emu.runbook().args(["undo", "last"]).output().success();
    assert!(undone.stdout.contains("removed security group"), "{}{}", undone.stdout, undone.stderr);
    assert!(c.security_groups("group-name", "kept").is_empty());

    // An aws command the aws CLI would refuse whatever the variables hold: found by check, and
    // before a run, which sends nothing.
    let bad = runbook_tests::script(
        "bad.sh",
        "aws ec2 create-security-group --group-name early --description d\n\
         aws elbv2 describe-target-groupz --names x\naws ec2 describe-vpcs --filterz Name=a,Values=b\n",
    );
    let bad = bad.to_string_lossy();
    let checked = Run::new().args(["check", &bad]).output();
    assert_eq!(checked.code, 1, "{}{}", checked.stdout, checked.stderr);
    let found = format!("{}{}", checked.stdout, checked.stderr);
    assert!(found.contains("bad.sh:2") && found.contains("did you mean describe-target-groups?"), "{found}");
    assert!(found.contains("bad.sh:3") && found.contains("--filters"), "{found}");
    let before = emu.runbook().args(["runs"]).output().stdout;
    let ran = emu.runbook().args(["run", &bad]).output();
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("2 mistake(s) found before the run") && ran.stderr.contains("nothing was sent"),
        "{}",
        ran.stderr
    );
    assert!(c.security_groups("group-name", "early").is_empty(), "the write before the mistake was not sent");
    assert_eq!(emu.runbook().args(["runs"]).output().stdout, before);
    // The commands that read runbooks say what a script is instead.
    let params = Run::new().args(["params", &bad]).output();
    assert!(params.code != 0 && params.stderr.contains("is a script"), "{}", params.stderr);
}

#[test]
fn the_tutorials_cli_script_as_one_run_completes_through_lag_latency_and_provisioning_and_undoes() {
    use runbook_tests::aws_like::{AwsLike, Settings};
    let script = root().join("tests/emulator/tutorial-cli.sh");
    let script = script.to_string_lossy();
    // No sleep: the run's own retries wait for what AWS does not know yet, as runbooks do.
    let sets = ["--set", "WITH_PREREQS=1", "--set", "PROPAGATION_WAIT=0"];
    let clean = Emulator::start();
    clean.runbook().args(["run", &script]).args(sets).output().success();
    let expected = clean.clients().state();

    let emu = Emulator::start();
    let before = emu.clients().state();
    let like = AwsLike::start(&emu.url, Settings::default());
    let out = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["run", &script]).args(sets).output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!like.lagged().is_empty(), "nothing was lagged");
    assert!(out.stderr.contains("[retry] "), "the run waited for AWS to catch up:\n{}", out.stderr);
    assert_eq!(emu.clients().state(), expected);

    let undo = emu.runbook().env("AWS_ENDPOINT_URL", like.url()).args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    assert_eq!(emu.clients().state(), before);
}

#[test]
fn a_script_run_stopped_with_sigterm_ends_the_script_too_and_sends_nothing_after() {
    let emu = Emulator::start();
    let c = emu.clients();
    let file = runbook_tests::script(
        "stopped.sh",
        "aws ec2 create-security-group --group-name before-stop --description d > /dev/null\n\
         sleep 120\n\
         aws ec2 create-security-group --group-name after-stop --description d > /dev/null\n",
    );
    let child = emu.runbook().args(["run", &file.to_string_lossy()]).spawn();
    let made = runbook_tests::eventually(std::time::Duration::from_secs(60), || {
        (!c.security_groups("group-name", "before-stop").is_empty()).then_some(())
    });
    assert!(made.is_some(), "the first write was not made");
    let stopped = std::time::Instant::now();
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    // The run ends with the script, not after the script's two-minute sleep (half of it is a wide
    // margin on a loaded machine: the stop takes well under a second).
    let out = child.wait_with_output().unwrap();
    assert!(stopped.elapsed() < std::time::Duration::from_secs(60), "the script went on: {:?}", stopped.elapsed());
    assert_eq!(out.status.code(), Some(143), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(c.security_groups("group-name", "after-stop").is_empty(), "nothing is sent after the stop");
    let journal = emu.last_journal();
    let end = journal.iter().rev().find(|r| r["type"] == "end").expect("an end record");
    assert_eq!(end["outcome"], "interrupted", "{end}");
    // What it made before is undone as any run's.
    emu.runbook().args(["undo", "last"]).output().success();
    assert!(c.security_groups("group-name", "before-stop").is_empty());
}
