//! A permission missing in the middle of a run: the emulator enforces IAM, the runbook runs as a
//! user whose policy denies one action, and the run stops at that call with a sentence naming the
//! action and the principal, exit 1, and its journal whole; undo with enough rights removes what
//! it made. (Values without spaces: the emulator's signature check under enforcement rejects form
//! bodies whose spaces are encoded as `%20`, as the Rust SDK encodes them.)

use runbook_tests::proxy::{Action, Proxy, Request};
use runbook_tests::{script, Emulator};
use serde_json::{json, Value};

const SETS: &[&str] = &[
    "emulator=true",
    "propagation_wait=0",
    "alb_sg_description=ALB-of-rent-a-room",
    "task_sg_description=Tasks-of-rent-a-room",
];

const USERS: &str = r#"
fn user(name, denied) {
    iam::create_user(#{ UserName: name });
    let statements = [#{ Effect: "Allow", Action: "*", Resource: "*" }];
    if denied != "" {
        statements.push(#{ Effect: "Deny", Action: denied, Resource: "*" });
    }
    let policy = #{ Version: "2012-10-17", Statement: statements };
    iam::put_user_policy(#{ UserName: name, PolicyName: "runbook-test", PolicyDocument: to_json(policy) });
    let key = iam::create_access_key(#{ UserName: name }).AccessKey;
    print(`${name} ${key.AccessKeyId} ${key.SecretAccessKey}`);
}
user("no-services", "ecs:CreateService");
user("no-listeners", "elasticloadbalancing:CreateListener");
user("admin", "");
"#;

#[test]
fn a_denied_call_stops_the_run_naming_action_and_principal_and_undo_with_rights_removes_the_rest() {
    let emu = Emulator::start();
    let setup = script("users.rhai", USERS);
    let out = emu.runbook().args(["run", setup.to_str().unwrap(), "--show-sensitive"]).output().success();
    let keys: Vec<(String, String, String)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split(' ');
            Some((w.next()?.to_string(), w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    assert_eq!(keys.len(), 3, "{}", out.stdout);
    let before = emu.clients().state();
    let as_user = |name: &str| {
        let (_, id, secret) = keys.iter().find(|k| k.0 == name).expect("a key");
        emu.runbook().env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret)
    };
    emu.enforce_iam(true);

    // ECS answers in JSON; denied, the emulator answers in XML: still AccessDenied, named.
    let mut runs = Vec::new();
    for (user, action, line) in [
        ("no-services", "ecs:CreateService", "runbooks/prereqs.rhai"),
        ("no-listeners", "elasticloadbalancing:CreateListener", "runbooks/attach_alb.rhai"),
    ] {
        let out = as_user(user).runbook("runbooks/tutorial.rhai", SETS).output();
        assert_eq!(out.code, 1, "{user}: {}", out.stderr);
        let principal = format!("arn:aws:iam::123456789012:user/{user}");
        assert!(out.stderr.contains(": AccessDenied: "), "{user}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("{principal} may not call {action}: allow it")), "{user}: {}", out.stderr);
        assert!(out.stderr.contains(&format!("{line}:")), "{user}: {}", out.stderr);
        assert!(!out.stderr.contains("Unknown"), "{user}: {}", out.stderr);
        // The journal is whole: the denied write's intent and failed outcome, then the end.
        let journal = emu.last_journal();
        let last_intent = journal.iter().rev().find(|r| r["type"] == "intent").expect("an intent");
        let outcome =
            journal.iter().find(|r| r["type"] == "outcome" && r["seq"] == last_intent["seq"]).expect("outcome");
        assert_eq!(outcome["error"]["code"], "AccessDenied", "{outcome}");
        assert_eq!(journal.last().map(|r| r["type"].clone()), Some("end".into()), "{journal:?}");
        runs.push(journal[0]["run"].as_str().expect("run id").to_string());
    }

    // The second run made the service, the target group, the security group and its rule and the
    // load balancer; the first made the cluster and the task definition. The admin undoes both.
    for id in runs.iter().rev() {
        let undo = as_user("admin").args(["undo", id]).output();
        assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    }
    emu.enforce_iam(false);
    let after = emu.clients().state();
    let extra: Vec<_> = after.iter().filter(|s| !before.contains(s)).collect();
    assert_eq!(after, before, "left behind: {extra:?}");
}

/// Makes an IAM user whose only policy is `policy` (as the admin, or before enforcement) and
/// answers its access key.
fn user_with_policy(emu: &Emulator, admin: Option<&(String, String)>, name: &str, policy: &Value) -> (String, String) {
    let text = format!(
        "iam::create_user(#{{ UserName: \"{name}\" }});\n\
         iam::put_user_policy(#{{ UserName: \"{name}\", PolicyName: \"from-runbook-policy\", PolicyDocument: `{policy}` }});\n\
         let key = iam::create_access_key(#{{ UserName: \"{name}\" }}).AccessKey;\n\
         print(`${{key.AccessKeyId}} ${{key.SecretAccessKey}}`);\n"
    );
    let setup = script("user.rhai", &text);
    let mut run = emu.runbook();
    if let Some((id, secret)) = admin {
        run = run.env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret);
    }
    let out = run.args(["run", setup.to_str().unwrap(), "--show-sensitive"]).output().success();
    let mut words = out.stdout.split_whitespace();
    (words.next().expect("a key id").to_string(), words.next().expect("a secret").to_string())
}

/// `runbook policy FILE --set …` as the admin: the policy document.
fn policy_of(emu: &Emulator, admin: &(String, String), file: &str, sets: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["policy".to_string(), file.to_string()];
    for s in sets {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = emu
        .runbook()
        .env("AWS_ACCESS_KEY_ID", &admin.0)
        .env("AWS_SECRET_ACCESS_KEY", &admin.1)
        .args(args)
        .output()
        .success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The emulator's state at home and in the standby region of `cross_region.rhai`, read with
/// enforcement off for a moment.
fn state(emu: &Emulator) -> Vec<String> {
    emu.enforce_iam(false);
    let mut s = emu.clients().state();
    let eu = runbook_tests::Clients::in_region(&emu.url, "eu-west-1", None).state();
    s.extend(eu.into_iter().map(|line| format!("eu-west-1: {line}")));
    emu.enforce_iam(true);
    s
}

/// Every action of a policy document.
fn actions_of(policy: &Value) -> Vec<&str> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect()
}

/// The document without one action.
fn without(policy: &Value, action: &str) -> Value {
    let mut p = policy.clone();
    let statements = p["Statement"].as_array_mut().expect("statements");
    for s in statements.iter_mut() {
        if let Some(actions) = s["Action"].as_array_mut() {
            actions.retain(|a| a != action);
        }
    }
    statements.retain(|s| s["Action"].as_array().is_some_and(|a| !a.is_empty()));
    assert_ne!(&p, policy, "{action} is in the policy");
    p
}

/// A runbook run, then undone, as a user whose policy is exactly what `runbook policy` printed:
/// both succeed and leave the emulator as it was. With one action taken away, the run stops
/// naming it and `runbook policy`, and undo, with the same rights, cleans up.
fn exactly_enough(emu: &Emulator, admin: &(String, String), file: &str, sets: &[&str], removed: &str, tag: &str) {
    let policy = policy_of(emu, admin, file, sets, &[]);
    let actions = actions_of(&policy);
    assert!(actions.contains(&removed), "{file}: {actions:?}");
    assert!(actions.iter().all(|a| !a.contains('*')), "no wildcards: {actions:?}");
    let exact = user_with_policy(emu, Some(admin), &format!("exact-{tag}"), &policy);
    let short = user_with_policy(emu, Some(admin), &format!("short-{tag}"), &without(&policy, removed));
    let before = state(emu);
    let as_user = |(id, secret): &(String, String)| {
        emu.runbook().env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret)
    };

    let run = as_user(&exact).runbook(file, sets).output();
    assert_eq!(run.code, 0, "{file} as exact-{tag}:\n{}\n{}", run.stdout, run.stderr);
    let id = emu.last_journal()[0]["run"].as_str().expect("run id").to_string();
    assert_ne!(state(emu), before, "{file} made something");
    let undo = as_user(&exact).args(["undo", &id]).output();
    assert_eq!(undo.code, 0, "undo of {file} as exact-{tag}:\n{}\n{}", undo.stdout, undo.stderr);
    assert_eq!(state(emu), before, "{file}: undo as exact-{tag} left something");

    let run = as_user(&short).runbook(file, sets).output();
    assert_eq!(run.code, 1, "{file} as short-{tag}:\n{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("user/short-{tag} may not call {removed}")), "{}", run.stderr);
    assert!(run.stderr.contains("`runbook policy /"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("{file}` prints every permission")), "{}", run.stderr);
    let id = emu.last_journal()[0]["run"].as_str().expect("run id").to_string();
    let undo = as_user(&short).args(["undo", &id]).output();
    assert_eq!(undo.code, 0, "undo of {file} as short-{tag}:\n{}\n{}", undo.stdout, undo.stderr);
    assert_eq!(state(emu), before, "{file}: undo as short-{tag} left something");
}

#[test]
fn the_policy_runbook_prints_is_exactly_enough_for_the_tutorial_and_examples_and_their_undo() {
    let emu = Emulator::start();
    let all = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    let admin = user_with_policy(&emu, None, "admin", &all);
    emu.enforce_iam(true);
    exactly_enough(&emu, &admin, "runbooks/tutorial.rhai", SETS, "elasticloadbalancing:CreateListener", "tutorial");
    // Without the run tag, the tagging actions are those of the runbook's own tags only.
    let tagged = policy_of(&emu, &admin, "runbooks/tutorial.rhai", SETS, &[]).to_string();
    let untagged = policy_of(&emu, &admin, "runbooks/tutorial.rhai", SETS, &["--no-tag"]).to_string();
    for tagging in ["elasticloadbalancing:AddTags", "ecs:TagResource", "application-autoscaling:TagResource"] {
        assert!(tagged.contains(tagging), "{tagging}: {tagged}");
        assert!(!untagged.contains(tagging), "--no-tag lists {tagging}: {untagged}");
    }
    assert!(untagged.contains("ec2:CreateTags"), "the security group's Name tag is the runbook's own: {untagged}");
    exactly_enough(&emu, &admin, "examples/vpc.rhai", &[], "ec2:CreateRouteTable", "vpc");
    // On top of the tutorial's stack, made by the admin.
    let admin_run = || emu.runbook().env("AWS_ACCESS_KEY_ID", &admin.0).env("AWS_SECRET_ACCESS_KEY", &admin.1);
    admin_run().runbook("runbooks/tutorial.rhai", SETS).output().success();
    // Narrowed over existing things: their ARNs, never a placeholder of something only planned. (A
    // converged stack plans no write: a new health check path makes one on the existing group.)
    let changed: Vec<&str> = SETS.iter().copied().chain(["health_check_path=/health"]).collect();
    let narrow = policy_of(&emu, &admin, "runbooks/tutorial.rhai", &changed, &["--narrow"]).to_string();
    assert!(!narrow.contains('<'), "{narrow}");
    assert!(
        narrow
            .contains("\"Resource\":\"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/rent-a-room-tg/"),
        "{narrow}"
    );
    exactly_enough(&emu, &admin, "examples/path_routing.rhai", &[], "elasticloadbalancing:CreateRule", "paths");
    exactly_enough(&emu, &admin, "examples/cross_region.rhai", &[], "ec2:AuthorizeSecurityGroupIngress", "regions");
}

/// The state of one account, read with enforcement off for a moment.
fn account_state(emu: &Emulator, account: &str) -> Vec<String> {
    emu.enforce_iam(false);
    let s = runbook_tests::Clients::in_region(&emu.url, "us-east-1", Some((account, "state-reader"))).state();
    emu.enforce_iam(true);
    s
}

#[test]
fn a_two_account_fleet_runs_and_undoes_through_roles_made_from_the_policy_and_its_trust() {
    let emu = Emulator::start();
    let caller = "arn:aws:iam::123456789012:user/fleet-caller";
    // The role's policy and its trust, as printed; made in both accounts before enforcement.
    let admin_all =
        json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    let admin = user_with_policy(&emu, None, "admin", &admin_all);
    let printed = policy_of(&emu, &admin, "runbooks/tutorial.rhai", SETS, &["--trust", caller]);
    assert_eq!(printed["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["AWS"], caller, "{printed:#}");
    let (policy, trust) = (&printed["PolicyDocument"], &printed["AssumeRolePolicyDocument"]);
    let roles = script(
        "roles.rhai",
        &format!(
            "fn make() {{\n\
               iam::create_role(#{{ RoleName: \"runbook-target\", AssumeRolePolicyDocument: `{trust}` }});\n\
               iam::put_role_policy(#{{ RoleName: \"runbook-target\", PolicyName: \"from-runbook-policy\", PolicyDocument: `{policy}` }});\n\
             }}\n\
             make();\n\
             with_target(#{{ account: \"111111111111\", role: \"setup\" }}, || make());\n"
        ),
    );
    // A role whose trust names someone else, for the check before a run.
    let elsewhere =
        printed["AssumeRolePolicyDocument"].to_string().replace(caller, "arn:aws:iam::123456789012:user/someone-else");
    let wrong = script(
        "wrong.rhai",
        &format!("iam::create_role(#{{ RoleName: \"trusts-another\", AssumeRolePolicyDocument: `{elsewhere}` }});"),
    );
    emu.runbook().args(["run", wrong.to_str().unwrap(), "--no-tag"]).output().success();
    let made = emu.runbook().args(["run", roles.to_str().unwrap(), "--no-tag"]).output().success();
    // The names made at home are not taken for the same names made in the other account.
    assert!(!made.stderr.contains("[retry]"), "{}", made.stderr);
    let assume = json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*" }] });
    let fleet_caller = user_with_policy(&emu, None, "fleet-caller", &assume);
    let accounts = ["123456789012", "111111111111"];
    let before: Vec<Vec<String>> = {
        emu.enforce_iam(true);
        accounts.iter().map(|a| account_state(&emu, a)).collect()
    };
    let as_caller =
        || emu.runbook().env("AWS_ACCESS_KEY_ID", &fleet_caller.0).env("AWS_SECRET_ACCESS_KEY", &fleet_caller.1);
    let mut args = vec!["run", "runbooks/tutorial.rhai", "--accounts", "123456789012,111111111111"];
    args.extend(["--assume-role", "runbook-target"]);
    for s in SETS {
        args.extend(["--set", s]);
    }
    // The role that trusts another principal is refused before anything runs.
    let mut refused = args.clone();
    refused[3] = "123456789012";
    refused[5] = "trusts-another";
    let out = as_caller().args(&refused).output();
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("AccessDenied") && out.stderr.contains("trusts-another"), "{}", out.stderr);
    let run = as_caller().args(&args).output();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for (a, b) in accounts.iter().zip(&before) {
        assert_ne!(&account_state(&emu, a), b, "the tutorial ran in {a}");
    }
    let undo = as_caller().args(["undo", "last"]).output();
    assert_eq!(undo.code, 0, "{}\n{}", undo.stdout, undo.stderr);
    for (a, b) in accounts.iter().zip(&before) {
        assert_eq!(&account_state(&emu, a), b, "undo left something in {a}");
    }
}

/// IAM's policy simulator as AWS answers it, for an emulator that does not offer it: every action
/// asked is allowed except `denied`. (The answer's shape is recorded from IAM's query protocol.)
fn simulator(denied: &'static str) -> impl Fn(&Request) -> Action + Send + Sync + 'static {
    move |r: &Request| {
        if r.operation() != "SimulatePrincipalPolicy" {
            return Action::Forward;
        }
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let members: String = body
            .split('&')
            .filter(|kv| kv.starts_with("ActionNames.member."))
            .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.replace("%3A", ":").replace("%3a", ":")))
            .map(|action| {
                let decision = if action == denied { "implicitDeny" } else { "allowed" };
                format!(
                    "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>*</EvalResourceName>\
                     <EvalDecision>{decision}</EvalDecision><MatchedStatements/><MissingContextValues/></member>"
                )
            })
            .collect();
        let body = format!(
            "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
             <SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}\
             </EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>recorded</RequestId>\
             </ResponseMetadata></SimulatePrincipalPolicyResponse>"
        );
        Action::Fail { status: 200, content_type: "text/xml", body }
    }
}

#[test]
fn a_plan_and_a_fleets_check_list_what_the_simulator_denies_and_say_when_it_cannot_be_asked() {
    let emu = Emulator::start();
    let before = emu.clients().state();
    // The emulator has no simulator: one line says so, and the plan goes on.
    let plain = emu.runbook().args(["plan", "runbooks/tutorial.rhai", "--set", "emulator=true"]).output().success();
    let unchecked: Vec<&str> = plain.stderr.lines().filter(|l| l.starts_with("permissions not checked")).collect();
    assert_eq!(unchecked.len(), 1, "{}", plain.stderr);
    assert!(unchecked[0].contains("iam:SimulatePrincipalPolicy did not answer"), "{}", unchecked[0]);
    assert!(plain.stdout.contains("Plan for runbooks/tutorial.rhai"), "{}", plain.stdout);

    // With a simulator that denies one action, the plan lists it with the line that needs it.
    let proxy = Proxy::start(&emu.url, simulator("elasticloadbalancing:CreateListener"));
    let through = || emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url);
    let plan = through().args(["plan", "runbooks/tutorial.rhai", "--set", "emulator=true"]).output().success();
    assert!(plan.stdout.contains(": 1 of "), "{}", plan.stdout);
    let line =
        plan.stdout.lines().find(|l| l.contains("elasticloadbalancing:CreateListener")).expect("the denied action");
    assert!(line.contains("implicitDeny") && line.contains("runbooks/attach_alb.rhai:"), "{line}");
    assert!(plan.stdout.contains("`runbook policy runbooks/tutorial.rhai` prints every permission"), "{}", plan.stdout);
    assert!(!plan.stderr.contains("permissions not checked"), "{}", plan.stderr);

    // A fleet stops before any target runs, naming each target's missing permission.
    let fleet = through()
        .args(["run", "runbooks/tutorial.rhai", "--set", "emulator=true", "--regions", "us-east-1,us-west-2"])
        .output();
    assert_eq!(fleet.code, 2, "{}\n{}", fleet.stdout, fleet.stderr);
    assert!(
        fleet.stderr.contains("2 of 2 targets lack permissions the run needs; nothing was run anywhere"),
        "{}",
        fleet.stderr
    );
    for region in ["us-east-1", "us-west-2"] {
        let line = format!("[{region}]   elasticloadbalancing:CreateListener  implicitDeny  ");
        assert!(fleet.stderr.contains(&line), "{region}: {}", fleet.stderr);
    }
    assert_eq!(emu.clients().state(), before, "nothing was made");
    let journals = std::fs::read_dir(&emu.journal).map(|d| d.count()).unwrap_or(0);
    assert_eq!(journals, 0, "no run was started");
}

#[test]
fn drift_needs_only_the_reads_that_policy_drift_prints() {
    let emu = Emulator::start();
    let all = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] });
    let admin = user_with_policy(&emu, None, "admin", &all);
    emu.enforce_iam(true);
    let as_user = |(id, secret): &(String, String)| {
        emu.runbook().env("AWS_ACCESS_KEY_ID", id).env("AWS_SECRET_ACCESS_KEY", secret)
    };
    as_user(&admin).runbook("runbooks/tutorial.rhai", SETS).output().success();
    let run = emu.last_journal()[0]["run"].as_str().expect("run id").to_string();

    let policy = policy_of(&emu, &admin, "runbooks/tutorial.rhai", SETS, &["--drift"]);
    let actions = actions_of(&policy);
    let read = |a: &&str| {
        let op = a.split(':').nth(1).unwrap_or_default();
        ["Describe", "Get", "List"].iter().any(|v| op.starts_with(v))
    };
    assert!(actions.iter().all(|a| read(a) || *a == "sts:GetCallerIdentity"), "reads only: {actions:?}");
    for needed in [
        "elasticloadbalancing:DescribeListeners",
        "ecs:DescribeServices",
        "ec2:DescribeSecurityGroups",
        "application-autoscaling:DescribeScalingPolicies",
        "iam:GetRole",
        "sts:GetCallerIdentity",
    ] {
        assert!(actions.contains(&needed), "{needed} in {actions:?}");
    }
    let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert!(sids.iter().all(|s| s.starts_with("Drift")), "{sids:?}");

    // Exactly enough: drift as a user with that policy reads everything, in sync.
    let reader = user_with_policy(&emu, Some(&admin), "drift-reader", &policy);
    let out = as_user(&reader).args(["drift", &run]).output();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("failed"), "{}", out.stdout);
    // One read fewer: that resource's read fails, by name, and drift exits 1 (not 2: nothing is
    // known to have drifted).
    let short = user_with_policy(
        &emu,
        Some(&admin),
        "drift-short",
        &without(&policy, "elasticloadbalancing:DescribeListeners"),
    );
    let out = as_user(&short).args(["drift", &run]).output();
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let failed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("  failed")).collect();
    assert_eq!(failed.len(), 1, "{}", out.stdout);
    assert!(failed[0].contains(" listener arn:aws:elasticloadbalancing:"), "{}", out.stdout);
    assert!(out.stdout.contains("AccessDenied"), "{}", out.stdout);
}
