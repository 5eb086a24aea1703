//! The command line around runs: `params`, `runs`, and the shell completion script.

use runbook_tests::{root, runbook_bin, script, Emulator, Run};

/// The names in every `param("NAME"` of a runbook's folder, found by a plain text search.
fn param_names_in(dir: &std::path::Path, names: &mut std::collections::BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            param_names_in(&path, names);
        } else if path.extension().is_some_and(|e| e == "rhai") {
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split("param(\"").skip(1) {
                names.insert(part.split('"').next().unwrap().to_string());
            }
        }
    }
}

#[test]
fn params_shows_every_runbooks_comment_and_parameters() {
    let dir = root().join("runbooks");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rhai") {
            continue;
        }
        let relative = format!("runbooks/{}", path.file_name().unwrap().to_string_lossy());
        let out = Run::new().args(["params", &relative]).output().success();
        let text = std::fs::read_to_string(&path).unwrap();
        let first_comment = text.lines().next().unwrap().trim_start_matches("//").trim();
        assert!(out.stdout.starts_with(&format!("{relative}\n  {first_comment}\n")), "{relative}: {}", out.stdout);
        assert!(out.stdout.contains("\nParameters (") || out.stdout.contains("\nNo parameters."), "{}", out.stdout);
    }

    // The tutorial reads every parameter of the folder's runbooks and modules, except the ones
    // only teardown and the standalone steps read.
    let out = Run::new().args(["params", "runbooks/tutorial.rhai"]).output().success();
    let flat: Vec<String> = out.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert!(
        flat.contains(
            &"tg_name string \"rent-a-room-tg\" --set tg_name=rent-a-room-tg lib/settings.rhai:21".to_string()
        ),
        "{}",
        out.stdout
    );
    assert!(
        flat.iter().any(|l| l.starts_with("target_cpu float 70.0 1..=100 --set target_cpu=70.0 ")),
        "{}",
        out.stdout
    );
    assert!(
        flat.iter().any(|l| l.contains("--set 'alb_sg_description=Security group for Rent-A-Room ALB'")),
        "a value with spaces is quoted for the shell: {}",
        out.stdout
    );
    let mut in_folder = std::collections::BTreeSet::new();
    param_names_in(&dir.join("lib"), &mut in_folder);
    let listed: std::collections::BTreeSet<String> = flat
        .iter()
        .skip_while(|l| !l.starts_with("NAME TYPE"))
        .skip(1)
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .collect();
    assert!(in_folder.is_subset(&listed), "every lib/ parameter: {in_folder:?} in {listed:?}");

    // An unknown --set points at the command.
    let out = Run::new().args(["run", "runbooks/verify.rhai", "--set", "clustr=x"]).output();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("did you mean cluster?"), "{}", out.stderr);
    assert!(out.stderr.contains("`runbook params FILE` shows their types and defaults"), "{}", out.stderr);
}

#[test]
fn runs_name_their_region_and_endpoint_and_can_hide_read_only_runs() {
    let emu = Emulator::start();
    let read = script("read.rhai", "ec2::describe_vpcs();\n");
    emu.runbook().args(["run", read.to_str().unwrap()]).output().success();
    let write = script("write.rhai", "ec2::create_security_group(#{ GroupName: \"g\", Description: \"d\" });\n");
    emu.runbook().args(["run", write.to_str().unwrap(), "--region", "eu-west-1"]).output().success();
    let runs = emu.runbook().args(["runs"]).output().success();
    let lines: Vec<&str> = runs.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", runs.stdout);
    assert!(lines[0].contains(" REGION ") && lines[0].contains(" ENDPOINT "), "{}", lines[0]);
    assert!(
        lines[1].contains(" us-east-1 ") && lines[1].contains(&emu.url) && lines[1].ends_with("read.rhai"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(" eu-west-1 ") && lines[2].ends_with("write.rhai"), "{}", lines[2]);
    let writes = emu.runbook().args(["runs", "--writes"]).output().success();
    let lines: Vec<&str> = writes.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", writes.stdout);
    assert!(lines[1].ends_with("write.rhai"), "{}", writes.stdout);
}

/// What bash's completion of runbook offers for a command line, as on Tab, with `env` added.
pub(crate) fn bash_completes(words: &str, env: &[(&str, &str)]) -> String {
    let out = Run::new().args(["completions", "bash"]).output().success();
    let file = script("runbook.bash", &out.stdout);
    let program = format!(
        "source {file}\ncomplete -p runbook\nCOMP_WORDS=({words})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE=\"{words}\"\nCOMP_POINT=${{#COMP_LINE}}\nCOMP_TYPE=9\n\
         _runbook_complete runbook \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        file = file.display()
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(program)
        .env("PATH", format!("{}:{}", runbook_bin().parent().unwrap().display(), std::env::var("PATH").unwrap()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_bash_completion_script_completes_commands_topics_and_run_ids() {
    let emu = Emulator::start();
    emu.runbook().args(["run", script("one.rhai", "1;\n").to_str().unwrap()]).output().success();
    let id = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let journal = emu.journal.to_string_lossy().into_owned();
    let ask = |words: &str| bash_completes(words, &[("RUNBOOK_JOURNAL_DIR", &journal)]);
    // The line as typed, up to the cursor at its end (a blank after the last word: a new word).
    let registered = ask("runbook ");
    assert!(registered.starts_with("complete "), "{registered}");
    assert!(registered.contains("-F _runbook_complete runbook\n"), "{registered}");
    for sub in ["run", "plan", "repl", "params", "runs", "show", "undo", "help", "completions"] {
        assert!(registered.lines().any(|l| l == sub), "{sub} in {registered}");
    }
    // bash replaces only what follows the last `:` of the word: the candidates are that part.
    let topics = ask("runbook help elbv2::create_t");
    assert_eq!(topics.lines().skip(1).collect::<Vec<_>>(), ["create_target_group", "create_trust_store"]);
    let flags = ask("runbook run --call-t");
    assert!(flags.lines().any(|l| l == "--call-timeout"), "{flags}");
    let runs = ask("runbook undo ");
    assert!(runs.lines().any(|l| l == id), "{id} in {runs}");
    assert!(runs.lines().any(|l| l == "last"), "{runs}");
    // `runbook aws` completes as the REPL's aws lines do: operations, arguments, enum values.
    let ops = ask("runbook aws ec2 describe-vpc");
    assert!(ops.lines().any(|l| l == "describe-vpcs") && ops.lines().any(|l| l == "describe-vpc-attribute"), "{ops}");
    let args = ask("runbook aws elbv2 create-target-group --health-check-pa");
    assert!(args.lines().any(|l| l == "--health-check-path"), "{args}");
    let values = ask("runbook aws elbv2 create-target-group --target-type ");
    assert!(values.lines().any(|l| l == "ip") && values.lines().any(|l| l == "instance"), "{values}");
}
