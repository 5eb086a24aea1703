//! A permission missing in the middle of a run: the emulator enforces IAM, the runbook runs as a
//! user whose policy denies one action, and the run stops at that call with a sentence naming the
//! action and the principal, exit 1, and its journal whole; undo with enough rights removes what
//! it made. (Values without spaces: the emulator's signature check under enforcement rejects form
//! bodies whose spaces are encoded as `%20`, as the Rust SDK encodes them.)

use runbook_tests::{script, Emulator};

const SETS: &[&str] = &["emulator=true", "propagation_wait=0", "alb_sg_description=ALB-of-rent-a-room"];

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
