//! Output as the aws CLI prints it, checked against the CLI in .venv on the same emulator state: IAM
//! policy documents come back as maps from every IAM operation that returns one (and can be given
//! as maps); timestamps sent as epoch seconds round to the microsecond as the CLI rounds them.

use runbook_tests::{aws_cli, script, Emulator};
use serde_json::Value;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const WRITE: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]}"#;
const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::bucket/a%20b*"}]}"#;

fn aws(emu: &Emulator, args: &[&str]) -> Value {
    emu.aws(args)
}

/// The aws CLI of .venv against the emulator, with a config file of the test's when given.
fn aws_with(emu: &Emulator, config: Option<&std::path::Path>, args: &[&str]) -> Value {
    let mut cmd = aws_cli(&emu.url);
    if let Some(c) = config {
        cmd.env("AWS_CONFIG_FILE", c);
    }
    let out = cmd.args(args).args(["--output", "json"]).output().unwrap();
    assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn policy_documents_are_maps_as_the_aws_cli_prints_them() {
    let emu = Emulator::start();
    // Seeded with the aws CLI: a role with a trust policy and an inline policy, a managed policy with
    // a second version, an instance profile holding the role, and a user with an inline policy.
    aws(&emu, &["iam", "create-role", "--role-name", "app", "--assume-role-policy-document", TRUST]);
    aws(&emu, &["iam", "put-role-policy", "--role-name", "app", "--policy-name", "read", "--policy-document", READ]);
    let arn = aws(&emu, &["iam", "create-policy", "--policy-name", "managed", "--policy-document", READ])["Policy"]
        ["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&emu, &["iam", "create-policy-version", "--policy-arn", &arn, "--policy-document", WRITE, "--set-as-default"]);
    aws(&emu, &["iam", "attach-role-policy", "--role-name", "app", "--policy-arn", &arn]);
    aws(&emu, &["iam", "create-instance-profile", "--instance-profile-name", "app-profile"]);
    aws(&emu, &["iam", "add-role-to-instance-profile", "--instance-profile-name", "app-profile", "--role-name", "app"]);
    aws(&emu, &["iam", "create-user", "--user-name", "dev"]);
    aws(&emu, &["iam", "put-user-policy", "--user-name", "dev", "--policy-name", "read", "--policy-document", READ]);

    // (aws CLI arguments, the same call in a runbook, where its documents are)
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (
            vec!["get-role", "--role-name", "app"],
            "get_role(#{ RoleName: \"app\" })".into(),
            "Role.AssumeRolePolicyDocument",
        ),
        (vec!["list-roles"], "list_roles()".into(), "Roles[].AssumeRolePolicyDocument"),
        (
            vec!["get-role-policy", "--role-name", "app", "--policy-name", "read"],
            "get_role_policy(#{ RoleName: \"app\", PolicyName: \"read\" })".into(),
            "PolicyDocument",
        ),
        (
            vec!["get-user-policy", "--user-name", "dev", "--policy-name", "read"],
            "get_user_policy(#{ UserName: \"dev\", PolicyName: \"read\" })".into(),
            "PolicyDocument",
        ),
        (
            vec!["get-policy-version", "--policy-arn", &arn, "--version-id", "v1"],
            format!("get_policy_version(#{{ PolicyArn: \"{arn}\", VersionId: \"v1\" }})"),
            "PolicyVersion.Document",
        ),
        (
            vec!["list-policy-versions", "--policy-arn", &arn],
            format!("list_policy_versions(#{{ PolicyArn: \"{arn}\" }})"),
            "Versions[].Document",
        ),
        (
            vec!["get-instance-profile", "--instance-profile-name", "app-profile"],
            "get_instance_profile(#{ InstanceProfileName: \"app-profile\" })".into(),
            "InstanceProfile.Roles[].AssumeRolePolicyDocument",
        ),
        (
            vec!["list-instance-profiles-for-role", "--role-name", "app"],
            "list_instance_profiles_for_role(#{ RoleName: \"app\" })".into(),
            "InstanceProfiles[].Roles[].AssumeRolePolicyDocument",
        ),
        (
            vec!["get-account-authorization-details"],
            "get_account_authorization_details()".into(),
            "[RoleDetailList[].AssumeRolePolicyDocument, RoleDetailList[].RolePolicyList[].PolicyDocument, \
             UserDetailList[].UserPolicyList[].PolicyDocument, Policies[].PolicyVersionList[].Document]",
        ),
    ];
    let calls: Vec<String> = cases.iter().map(|(_, call, query)| format!("iam::{call}.query({query:?})")).collect();
    let ours = emu.json_of(&calls);
    for ((args, call, query), mine) in cases.iter().zip(&ours) {
        let mut cli = vec!["iam"];
        cli.extend(args.iter().copied());
        cli.extend(["--query", query]);
        let theirs = aws(&emu, &cli);
        assert_eq!(mine, &theirs, "iam::{call} at {query}: runbook (left) vs aws CLI (right)");
        let text = mine.to_string();
        assert!(text.contains("\"Statement\":[{"), "iam::{call} at {query}: documents are maps: {text}");
    }

    // A document given as a map is sent as its JSON text; query() reaches into what comes back.
    let file = script(
        "as_map.rhai",
        r#"let trust = #{ Version: "2012-10-17",
    Statement: [#{ Effect: "Allow", Principal: #{ Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] };
iam::create_role(#{ RoleName: "from-map", AssumeRolePolicyDocument: trust });
print(iam::get_role(#{ RoleName: "from-map" }).query("Role.AssumeRolePolicyDocument.Statement[0].Principal.Service"));
"#,
    );
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    assert_eq!(out.stdout.trim(), "ec2.amazonaws.com");
    let doc = aws(&emu, &["iam", "get-role", "--role-name", "from-map", "--query", "Role.AssumeRolePolicyDocument"]);
    assert_eq!(doc["Statement"][0]["Principal"]["Service"], "ec2.amazonaws.com");
}

#[test]
fn help_says_a_policy_document_is_a_map_or_its_text() {
    let out = runbook_tests::Run::new().args(["help", "iam::create_role"]).output().success();
    assert!(
        out.stdout.contains("  AssumeRolePolicyDocument: policy document (a map, or its JSON text) (required)\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn epoch_timestamps_print_as_the_aws_cli_prints_them_in_iso_8601() {
    let emu = Emulator::start();
    let containers = r#"[{"name":"web","image":"nginx","memory":128}]"#;
    aws(&emu, &["ecs", "register-task-definition", "--family", "clock", "--container-definitions", containers]);
    aws(&emu, &["ecs", "create-cluster", "--cluster-name", "clock"]);
    let service = ["--cluster", "clock", "--service-name", "web", "--task-definition", "clock", "--desired-count", "0"];
    aws(&emu, &[&["ecs", "create-service"][..], &service[..]].concat());
    let target = ["--resource-id", "service/clock/web", "--scalable-dimension", "ecs:service:DesiredCount"];
    let limits = ["--min-capacity", "1", "--max-capacity", "2"];
    let register = ["application-autoscaling", "register-scalable-target", "--service-namespace", "ecs"];
    aws(&emu, &[&register[..], &target[..], &limits[..]].concat());
    // ECS and Application Auto Scaling send epoch seconds; the CLI prints them in ISO 8601 as v2
    // does by default (v1, in .venv, when the profile says so).
    let config = script("cli-config", "[default]\ncli_timestamp_format = iso8601\n");
    let deployment = aws_with(
        &emu,
        Some(&config),
        &[
            "ecs",
            "describe-services",
            "--cluster",
            "clock",
            "--services",
            "web",
            "--query",
            "services[0].deployments[0].[createdAt, updatedAt]",
        ],
    );
    let target = aws_with(
        &emu,
        Some(&config),
        &[
            "application-autoscaling",
            "describe-scalable-targets",
            "--service-namespace",
            "ecs",
            "--query",
            "ScalableTargets[0].CreationTime",
        ],
    );
    let theirs = [deployment[0].clone(), deployment[1].clone(), target];
    let file = script(
        "clock.rhai",
        r#"let d = ecs::describe_services(#{ cluster: "clock", services: ["web"] }).services[0].deployments[0];
print(to_json([d.createdAt, d.updatedAt,
    application_autoscaling::describe_scalable_targets(#{ ServiceNamespace: "ecs" }).ScalableTargets[0].CreationTime]));
"#,
    );
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    let ours: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(ours, Value::Array(theirs.to_vec()), "runbook (left) vs aws CLI (right)");
    assert!(ours[0].as_str().unwrap().contains('.'), "the emulator sends fractions of a second: {ours}");
}
