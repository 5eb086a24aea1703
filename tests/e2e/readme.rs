//! The examples of error messages in the README and the book (`docs/src`) are what the binary
//! prints: every fenced block that begins with `error:` is reproduced from the script it names, and
//! each quoted message is found in the output of the run that causes it. The book's contents list
//! names every page, and the README's links reach pages that exist.

use runbook_tests::{root, script, Run};

/// The script behind each fenced error example, by the file name its `-->` line shows.
const BLOCK_SCRIPTS: &[(&str, &str)] = &[
    ("bad.rhai", "elbv2::create_target_group(#{ Name: \"t\", Protocol: \"HTTPX\", Port: \"80\", VpcID: \"v\" });\n"),
    (
        "role_read.rhai",
        "fn tg_arn(name) {\n    let found = name;\n    let x = 1;\n    found.arn_of()\n}\n// the caller\nfn both(name) { tg_arn(name) }\nboth(\"web\");\n",
    ),
];

/// The README and every page of the book, one after the other.
fn readme() -> String {
    let mut text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for page in pages() {
        text.push('\n');
        text.push_str(&std::fs::read_to_string(root().join("docs/src").join(&page)).expect("a page of the book"));
    }
    text
}

/// The book's pages (`docs/src/*.md` but its contents list), sorted.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs/src"))
        .expect("docs/src")
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".md") && n != "SUMMARY.md")
        .collect();
    pages.sort();
    pages
}

/// The targets of the Markdown links `[text](target)` in `text`, without their `#anchor`.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|t| t.split('#').next().unwrap_or("").to_string())
        .filter(|t| !t.is_empty() && !t.contains("://"))
        .collect()
}

#[test]
fn the_books_contents_list_every_page_and_the_links_reach_pages_that_exist() {
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).expect("SUMMARY.md");
    let listed = links(&summary);
    assert_eq!(listed.iter().cloned().collect::<std::collections::BTreeSet<_>>().len(), listed.len(), "{listed:?}");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, pages(), "SUMMARY.md lists each page of docs/src once");
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    assert!(readme.lines().count() < 150, "the README fits on a screen or two: {} lines", readme.lines().count());
    for target in links(&readme) {
        assert!(root().join(&target).exists(), "the README links to {target}, which does not exist");
    }
    for page in pages() {
        let text = std::fs::read_to_string(root().join("docs/src").join(&page)).expect("a page");
        for target in links(&text) {
            assert!(root().join("docs/src").join(&target).exists(), "{page} links to {target}, which does not exist");
        }
    }
}

/// The fenced blocks whose first line is an error, without the list item's indent.
fn error_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            match current.take() {
                Some(lines) => blocks.push(lines),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        if let Some(lines) = current.as_mut() {
            lines.push(line.to_string());
        }
    }
    blocks
        .into_iter()
        .filter(|b| b.first().is_some_and(|l| l.trim_start().starts_with("error:")))
        .map(|b| {
            let indent = b[0].len() - b[0].trim_start().len();
            b.iter().map(|l| format!("{}\n", l.get(indent..).unwrap_or("").trim_end())).collect()
        })
        .collect()
}

#[test]
fn every_error_block_in_the_readme_is_what_the_binary_prints() {
    let blocks = error_blocks(&readme());
    assert!(blocks.len() >= 2, "the README's error examples: {blocks:?}");
    for block in blocks {
        let file = block
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
            .and_then(|at| at.split(':').next())
            .expect("a --> line");
        let (_, text) = BLOCK_SCRIPTS
            .iter()
            .find(|(name, _)| *name == file)
            .unwrap_or_else(|| panic!("the README shows an error from {file}; add its script to BLOCK_SCRIPTS"));
        let path = script(file, text);
        // Nothing is sent in these examples; an endpoint that is not there proves it.
        let out = Run::new()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .in_dir(path.parent().unwrap())
            .args(["run", file])
            .output();
        // What `runbook check` is certain of stops the run before it starts (exit 2).
        let code = if block.contains("found before the run") { 2 } else { 1 };
        assert_eq!(out.code, code, "{}", out.stderr);
        assert_eq!(out.stderr, block, "README example from {file}");
    }
}

/// Collapses runs of whitespace, so a message quoted across two README lines still matches.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn messages_quoted_in_the_readme_are_what_the_binary_prints() {
    let readme = flat(&readme());
    let check = |quoted: &str, stderr: &str| {
        assert!(readme.contains(quoted), "the README no longer quotes {quoted:?}");
        assert!(flat(stderr).contains(quoted), "{quoted:?} in {stderr}");
    };

    let file = script("vpc_read.rhai", "ec2::describe_vpcs();\n");
    let refused =
        Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["run", file.to_str().unwrap()]).output();
    check(
        "ConnectionRefused: could not connect to http://127.0.0.1:9: the connection was refused (3 attempts)",
        &refused.stderr,
    );

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let timed_out = Run::new()
        .env("AWS_ENDPOINT_URL", &url)
        .args(["run", file.to_str().unwrap(), "--call-timeout", "1", "--max-attempts", "2"])
        .output();
    // The README's port stands for whichever one the silent listener got.
    check(
        "CallTimeout: http://127.0.0.1:5078 did not answer within 1 s (--call-timeout, per attempt); 2 attempts",
        &timed_out.stderr.replace(&url, "http://127.0.0.1:5078"),
    );

    let file = script(
        "mikro.rhai",
        "ec2::run_instances(#{ ImageId: \"ami-1\", MinCount: 1, MaxCount: 1, InstanceType: \"t3.mikro\" });\n",
    );
    let enum_error =
        Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["run", file.to_str().unwrap()]).output();
    check(
        "InstanceType: invalid value \"t3.mikro\" (did you mean t3.micro?); 10 of 1437 allowed values: t3.micro, t3.medium,",
        &enum_error.stderr,
    );

    let file = script("camel.rhai", "iam::getRole(#{ RoleName: \"x\" });\n");
    let camel = Run::new().args(["run", file.to_str().unwrap()]).output();
    check("iam::get_role", &camel.stderr);

    // Regions, ranges, patterns, case, a map without its `#`: each found before anything is sent.
    let file = script("vpc_read.rhai", "ec2::describe_vpcs();\n");
    let region = Run::new().args(["run", file.to_str().unwrap(), "--region", "eu-wst-1"]).output();
    check("unknown region \"eu-wst-1\"; did you mean eu-west-1?", &region.stderr);
    let offline = |name: &str, text: &str| {
        let file = script(name, text);
        Run::new().env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").args(["run", file.to_str().unwrap()]).output().stderr
    };
    let tg = |port: &str, protocol: &str| {
        format!("elbv2::create_target_group(#{{ Name: \"t\", Protocol: \"{protocol}\", Port: {port}, VpcId: \"vpc-1\" }});\n")
    };
    check("Port: 99999 is out of range; allowed: 1 to 65535", &offline("port.rhai", &tg("99999", "HTTP")));
    check("Protocol: invalid value \"http\" (did you mean HTTP?)", &offline("case.rhai", &tg("80", "http")));
    let role =
        |name: &str| format!("iam::create_role(#{{ RoleName: \"{name}\", AssumeRolePolicyDocument: \"{{}}\" }});\n");
    check(
        "RoleName: 70 character(s) long is out of range; allowed: 1 to 64 characters",
        &offline("long.rhai", &role(&"r".repeat(70))),
    );
    check("RoleName: \"my role\" does not match the pattern [\\w+=,.@-]+", &offline("space.rhai", &role("my role")));
    check("object maps are written #{ key: value }", &offline("map.rhai", "ec2::describe_vpcs({ VpcIds: [] });\n"));

    // An endpoint that is not AWS; the README's port stands for whichever one the proxy got.
    let page = "<html><head><title>501 Not Implemented</title></head></html>".to_string();
    let proxy = runbook_tests::proxy::Proxy::start("127.0.0.1:9", move |_| runbook_tests::proxy::Action::Fail {
        status: 501,
        content_type: "text/html",
        body: page.clone(),
    });
    let not_aws = Run::new().env("AWS_ENDPOINT_URL", &proxy.url).args(["run", file.to_str().unwrap()]).output();
    check(
        "http://127.0.0.1:8080 (AWS_ENDPOINT_URL) answered HTTP 501 with an HTML page (\"501 Not \
         Implemented\"), which is not an AWS answer; is the endpoint URL right, and is an AWS API (or an emulator of \
         one) listening there?",
        &not_aws.stderr.replace(&proxy.url, "http://127.0.0.1:8080"),
    );

    // A value for a parameter only another runbook reads; the emulator without a simulator.
    let other = Run::new().args(["run", "runbooks/tutorial.rhai", "--set", "matcher=300"]).output();
    check("matcher is read by runbooks/diagnose.rhai:16, which runbooks/tutorial.rhai does not run", &other.stderr);
    let unused = Run::new().args(["run", "runbooks/create_tg.rhai", "--set", "desired_count=2"]).output();
    check(
        "desired_count is read by runbooks/scale.rhai (at runbooks/lib/settings.rhai:38) and runbooks/tutorial.rhai \
         (at runbooks/lib/settings.rhai:38), which runbooks/create_tg.rhai does not run",
        &unused.stderr,
    );
    let metric = Run::new().args(["run", "runbooks/autoscale.rhai", "--set", "metric=gpu"]).output();
    check(
        "error: parameter metric: \"gpu\" is not one of cpu, memory, requests (from --set metric=gpu) --> \
         runbooks/lib/settings.rhai:43",
        &metric.stderr,
    );
    let create_tg = Run::new().args(["params", "runbooks/create_tg.rhai"]).output().success();
    assert_eq!(create_tg.stdout.matches("lib/settings.rhai:").count(), 7, "{}", create_tg.stdout);
    assert!(readme.contains("lists the target group's seven settings and nothing else"));
    let emu = runbook_tests::Emulator::start();
    let plan = emu.runbook().args(["plan", "examples/stickiness.rhai"]).output();
    check(
        "permissions not checked: iam:SimulatePrincipalPolicy did not answer (InvalidResponse: HTTP 500 with an \
         HTML page (\"500 Internal Server Error\"), which is not an AWS answer); the endpoint may not offer it",
        &plan.stderr,
    );
}
