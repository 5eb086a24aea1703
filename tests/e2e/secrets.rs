//! Secrets: credentials, secret parameters and members the models mark sensitive never appear in
//! anything the tool prints or writes, at any verbosity, unless the operator asks to see them.

use runbook_tests::{script, Emulator};

const KEY: &str = "canary-SECRET-key-7f3a9c";
const TOKEN: &str = "canary-SESSION-token-51d2e8";
const PARAM: &str = "canary-PARAM-password-0b7";

const LEAKY: &str = r#"
print(env("AWS_SECRET_ACCESS_KEY"));
info("token " + env("AWS_SESSION_TOKEN"));
debug(param("db_password", ""));
iam::create_user(#{ UserName: "ci" });
let key = iam::create_access_key(#{ UserName: "ci" });
print(key);
print(to_json(key));
print_table(key.AccessKey);
print("length " + key.AccessKey.SecretAccessKey.len());
iam::create_login_profile(#{ UserName: "ci", Password: param("db_password", "") });
iam::tag_user(#{ UserName: "ci", Tags: [#{ Key: "k", Value: key.AccessKey.SecretAccessKey }] });
throw "giving up with " + env("AWS_SECRET_ACCESS_KEY") + " and " + key.AccessKey.SecretAccessKey;
"#;

#[test]
fn a_canary_secret_never_appears_in_output_logs_diagnostics_or_journals() {
    let emu = Emulator::start();
    let file = script("leaky.rhai", LEAKY);
    let path = file.to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        emu.runbook()
            .env("AWS_SECRET_ACCESS_KEY", KEY)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .args(args)
            .args([path.as_str(), "--set", &format!("db_password={PARAM}"), "-vv"])
            .output()
    };
    let out = run(&["run"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("\"SecretAccessKey\": \"<sensitive>\""), "{}", out.stdout);
    assert!(out.stdout.contains("length 40"), "the script can still use the secret:\n{}", out.stdout);
    assert!(out.stderr.contains("error: giving up with <sensitive> and <sensitive>"), "{}", out.stderr);
    assert!(out.stderr.contains("[call] iam::CreateAccessKey"), "-vv logs the calls:\n{}", out.stderr);
    let plan = run(&["plan"]);
    let show = emu.runbook().args(["show", "last"]).output().success();

    let mut everything =
        [&out.stdout, &out.stderr, &plan.stdout, &plan.stderr, &show.stdout].map(|s| s.to_string()).join("\n");
    // The journals, and the lock files beside them.
    let folders = [emu.journal.clone(), emu.journal.join("locks")];
    for entry in folders.iter().filter_map(|d| std::fs::read_dir(d).ok()).flatten() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "jsonl" || e == "json") {
            everything.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    for canary in [KEY, TOKEN, PARAM] {
        assert!(!everything.contains(canary), "{canary} leaked:\n{everything}");
    }
    // The access key's secret, which only AWS knew: shown when asked for, then searched for.
    let shown = emu
        .runbook()
        .args(["run", path.as_str(), "--show-sensitive"])
        .env("RUNBOOK_JOURNAL_DIR", &emu.journal.join("shown").to_string_lossy())
        .output();
    assert!(!shown.stdout.contains("\"SecretAccessKey\": \"<sensitive>\""), "{}", shown.stdout);
    assert!(everything.matches("<sensitive>").count() >= 6, "{everything}");
    let c = emu.clients();
    let tags = c.block_on(c.iam.list_user_tags().user_name("ci").send()).unwrap();
    let secret = tags.tags().iter().find(|t| t.key() == "k").map(|t| t.value().to_string()).unwrap();
    assert_eq!(secret.len(), 40);
    assert!(!everything.contains(&secret), "the access key's secret leaked");
}

#[test]
fn sensitive_members_print_as_sensitive_whole_whatever_their_length() {
    let emu = Emulator::start();
    // ECS marks a container's environment list sensitive: short names and values included.
    let file = script(
        "environment.rhai",
        r#"ecs::register_task_definition(#{ family: "env", containerDefinitions: [#{ name: "web", image: "nginx",
    memory: 128, environment: [#{ name: "WORKERS", value: "4" }, #{ name: "STAGE", value: "blue" }] }] });
let td = ecs::describe_task_definition(#{ taskDefinition: "env" }).taskDefinition;
print(td);
print(to_json(td));
print_table(td.containerDefinitions[0]);
print(`${td.containerDefinitions}`);
debug(td.containerDefinitions[0].environment);
let env = td.containerDefinitions[0].environment;
print(`the script still has them: ${env.len()} variables, ${env[1].value.len()} letters`);
"#,
    );
    let out = emu.runbook().args(["run", file.to_str().unwrap()]).output().success();
    for leak in ["WORKERS", "STAGE", "blue", "\"4\""] {
        assert!(!out.stdout.contains(leak), "{leak} was printed:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("\"environment\": \"<sensitive>\""), "{}", out.stdout);
    assert!(out.stdout.contains("|  <sensitive> |"), "{}", out.stdout);
    assert!(out.stdout.contains("the script still has them: 2 variables, 4 letters"), "{}", out.stdout);
    let shown = emu.runbook().args(["run", file.to_str().unwrap(), "--show-sensitive"]).output().success();
    assert!(shown.stdout.contains("WORKERS") && shown.stdout.contains("blue"), "{}", shown.stdout);
}
