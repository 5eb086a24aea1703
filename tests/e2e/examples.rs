//! Every runbook in examples/ and the Rust embedding example, run against the emulator after the
//! tutorial, with the state they leave checked.

use runbook_tests::{command, runbook_bin, Emulator};

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

#[test]
fn path_routing_sends_api_requests_to_a_second_target_group() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    for _ in 0..2 {
        emu.runbook().runbook("examples/path_routing.rhai", &[]).output().success();
    }
    let c = emu.clients();
    let api = c.target_group("rent-a-room-api-tg");
    assert_eq!(api.port(), Some(8080));
    let lb = c.load_balancer("rent-a-room-alb");
    let listener = &c.listeners(lb.load_balancer_arn().unwrap())[0];
    let rules = c.block_on(c.elbv2.describe_rules().listener_arn(listener.listener_arn().unwrap()).send()).unwrap();
    let path_rules: Vec<_> = rules.rules().iter().filter(|r| r.is_default() != Some(true)).collect();
    assert_eq!(path_rules.len(), 1, "one rule after two runs: {path_rules:?}");
    let rule = path_rules[0];
    assert_eq!(rule.priority(), Some("10"));
    let values = rule.conditions()[0].path_pattern_config().map(|p| p.values().to_vec()).unwrap_or_default();
    assert_eq!(values, ["/api/*"]);
    assert_eq!(rule.actions()[0].target_group_arn(), api.target_group_arn());
    // The default action still goes to the tutorial's target group.
    let tg = c.target_group("rent-a-room-tg");
    assert_eq!(listener.default_actions()[0].target_group_arn(), tg.target_group_arn());
}

#[test]
fn stickiness_and_deregistration_delay_are_set_on_the_target_group() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let out = emu.runbook().runbook("examples/stickiness.rhai", &["drain_seconds=45"]).output().success();
    assert!(out.stdout.contains("DescribeTargetGroupAttributes"), "{}", out.stdout);
    let c = emu.clients();
    let tg = c.target_group("rent-a-room-tg");
    let attrs = c
        .block_on(c.elbv2.describe_target_group_attributes().target_group_arn(tg.target_group_arn().unwrap()).send())
        .unwrap();
    let get =
        |k: &str| attrs.attributes().iter().find(|a| a.key() == Some(k)).and_then(|a| a.value()).map(str::to_string);
    assert_eq!(get("stickiness.enabled").as_deref(), Some("true"));
    assert_eq!(get("stickiness.type").as_deref(), Some("lb_cookie"));
    assert_eq!(get("stickiness.lb_cookie.duration_seconds").as_deref(), Some("86400"));
    assert_eq!(get("deregistration_delay.timeout_seconds").as_deref(), Some("45"));
}

#[test]
fn blue_green_switches_the_listener_and_back() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let c = emu.clients();
    let lb = c.load_balancer("rent-a-room-alb");
    let forwards_to =
        || c.listeners(lb.load_balancer_arn().unwrap())[0].default_actions()[0].target_group_arn().map(str::to_string);
    let blue = c.target_group("rent-a-room-tg").target_group_arn().map(str::to_string);

    let out = emu.runbook().runbook("examples/blue_green.rhai", &[]).output().success();
    assert!(out.stdout.starts_with("Switched HTTP:80 from "), "{}", out.stdout);
    let green = c.target_group("rent-a-room-green-tg").target_group_arn().map(str::to_string);
    assert_eq!(forwards_to(), green);

    let again = emu.runbook().runbook("examples/blue_green.rhai", &[]).output().success();
    assert_eq!(again.stdout, "The listener already forwards to rent-a-room-green-tg.\n");
    emu.runbook().runbook("examples/blue_green.rhai", &["to=rent-a-room-tg"]).output().success();
    assert_eq!(forwards_to(), blue);
}

#[test]
fn the_embedding_example_runs_a_script_from_rust() {
    let emu = Emulator::start();
    let bin = runbook_bin().parent().unwrap().join("examples/embed");
    assert!(bin.exists(), "{} is missing: cargo test builds the examples", bin.display());
    let out = command(bin, &emu.url).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let c = emu.clients();
    let subnets = c.default_subnets();
    assert!(stdout.starts_with(&format!("The default VPC has {} subnets:\n", subnets.len())), "{stdout}");
    for s in &subnets {
        assert!(stdout.contains(&format!("  {} in {}\n", s.subnet_id().unwrap(), s.availability_zone().unwrap())));
    }
}

#[test]
fn a_vpc_of_its_own_is_found_by_name_on_every_run_and_undone_whole() {
    let emu = Emulator::start();
    let c = emu.clients();
    let vpcs_before = c.block_on(c.ec2.describe_vpcs().send()).unwrap().vpcs().len();
    emu.runbook().runbook("examples/vpc.rhai", &[]).output().success();
    let first = emu.last_journal()[0]["run"].as_str().expect("a run id").to_string();
    let again = emu.runbook().runbook("examples/vpc.rhai", &[]).output().success();
    assert!(again.stderr.contains("0 write(s), 0 created"), "{}", again.stderr);
    let named = |filter: &str, value: &str| aws_sdk_ec2::types::Filter::builder().name(filter).values(value).build();
    let vpcs = c.block_on(c.ec2.describe_vpcs().filters(named("tag:Name", "rent-a-room")).send()).unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "one VPC after two runs: {:?}", vpcs.vpcs());
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_string();
    let subnets = c.block_on(c.ec2.describe_subnets().filters(named("vpc-id", &vpc)).send()).unwrap();
    let mut names: Vec<(String, String)> = subnets
        .subnets()
        .iter()
        .map(|s| {
            let tag = |k: &str| {
                s.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).unwrap_or("").to_string()
            };
            (tag("Name"), format!("{} {}", s.cidr_block().unwrap_or(""), tag("tier")))
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("rent-a-room-public-1".to_string(), "10.20.0.0/24 public".to_string()),
            ("rent-a-room-public-2".to_string(), "10.20.1.0/24 public".to_string())
        ]
    );
    let igws = c.block_on(c.ec2.describe_internet_gateways().filters(named("attachment.vpc-id", &vpc)).send()).unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    let igw = igws.internet_gateways()[0].internet_gateway_id().unwrap().to_string();
    let rts =
        c.block_on(c.ec2.describe_route_tables().filters(named("tag:Name", "rent-a-room-public")).send()).unwrap();
    assert_eq!(rts.route_tables().len(), 1);
    let rt = &rts.route_tables()[0];
    let default_route: Vec<_> = rt
        .routes()
        .iter()
        .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .map(|r| r.gateway_id())
        .collect();
    assert_eq!(default_route, [Some(igw.as_str())]);
    assert_eq!(rt.associations().iter().filter(|a| a.subnet_id().is_some()).count(), 2);

    // Two VPCs of one name: the look-up names both instead of picking one.
    c.block_on(
        c.ec2
            .create_vpc()
            .cidr_block("10.30.0.0/16")
            .tag_specifications(
                aws_sdk_ec2::types::TagSpecification::builder()
                    .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                    .tags(aws_sdk_ec2::types::Tag::builder().key("Name").value("rent-a-room").build())
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let twice = emu.runbook().runbook("examples/vpc.rhai", &[]).output();
    assert_eq!(twice.code, 1);
    assert!(
        twice.stderr.starts_with(&format!("error: ec2_named: 2 vpcs are named \"rent-a-room\" ({vpc}, vpc-")),
        "{}",
        twice.stderr
    );
    assert!(twice.stderr.contains("examples/vpc.rhai:9:11\n"), "{}", twice.stderr);

    // The first run's undo removes what it made, in reverse order.
    emu.runbook().args(["undo", &first]).output().success();
    let left = c.block_on(c.ec2.describe_vpcs().send()).unwrap();
    assert_eq!(left.vpcs().len(), vpcs_before + 1, "only the VPC made outside the runbook is left");
    let subnets = c.block_on(c.ec2.describe_subnets().filters(named("vpc-id", &vpc)).send()).unwrap();
    assert!(subnets.subnets().is_empty());
}

/// A self-signed certificate and its key, as PEM files, made with the emulator's own Python
/// (its `cryptography` package).
fn self_signed_pair() -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = runbook_tests::script("cert.pem", "");
    let key = cert.with_file_name("key.pem");
    let program = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rent-a-room.example")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[2], "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
"#;
    let status = std::process::Command::new(runbook_tests::venv().join("bin/python"))
        .args(["-c", program, cert.to_str().unwrap(), key.to_str().unwrap()])
        .status()
        .expect("python");
    assert!(status.success());
    (cert, key)
}

#[test]
fn https_imports_pem_files_into_acm_adds_the_listener_and_redirect_and_undoes_them() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    let (cert, key) = self_signed_pair();
    let files = [format!("cert_file={}", cert.display()), format!("key_file={}", key.display())];
    let sets: Vec<&str> = files.iter().map(String::as_str).collect();
    emu.runbook().runbook("examples/https.rhai", &sets).output().success();
    let first = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let journal_text = std::fs::read_to_string(emu.journal.join(format!("{first}.jsonl"))).unwrap();
    assert!(
        journal_text.contains("\"PrivateKey\":\"<sensitive>\""),
        "the private key is not journaled: {journal_text}"
    );
    let again = emu.runbook().runbook("examples/https.rhai", &sets).output().success();
    assert!(again.stderr.contains("0 write(s), 0 created"), "{}", again.stderr);

    let c = emu.clients();
    let tg = c.target_group("rent-a-room-tg").target_group_arn().unwrap().to_string();
    let lb = c.load_balancer("rent-a-room-alb");
    let listener =
        |port: i32| c.listeners(lb.load_balancer_arn().unwrap()).into_iter().find(|l| l.port() == Some(port));
    let certs = emu.aws(&["acm", "list-certificates"])["CertificateSummaryList"].as_array().cloned().unwrap();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(
        (certs[0]["Type"].as_str(), certs[0]["DomainName"].as_str()),
        (Some("IMPORTED"), Some("rent-a-room.example"))
    );
    let cert_arn = certs[0]["CertificateArn"].as_str().unwrap().to_string();
    let https = listener(443).expect("an HTTPS listener");
    assert_eq!(https.protocol().map(|p| p.as_str()), Some("HTTPS"));
    assert_eq!(https.ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));
    assert_eq!(https.certificates()[0].certificate_arn(), Some(cert_arn.as_str()));
    assert_eq!(https.default_actions()[0].target_group_arn(), Some(tg.as_str()));
    let http = listener(80).unwrap();
    let redirect = http.default_actions()[0].redirect_config().expect("a redirect");
    assert_eq!((redirect.protocol(), redirect.port()), (Some("HTTPS"), Some("443")));
    assert_eq!(redirect.status_code().map(|s| s.as_str()), Some("HTTP_301"));
    let sg = &c.security_groups("group-name", "rent-a-room-alb-sg")[0];
    let opens = |port: i32, group: &aws_sdk_ec2::types::SecurityGroup| {
        group.ip_permissions().iter().any(|p| p.from_port() == Some(port) && p.to_port() == Some(port))
    };
    assert!(opens(443, sg) && opens(80, sg));
    // The self-signed certificate is valid for two days: diagnose names it, with a request to paste.
    let d = emu.runbook().runbook("runbooks/diagnose.rhai", &[]).output();
    assert_eq!(d.code, 1, "{}", d.stdout);
    assert!(d.stdout.contains("FAIL  certificate             arn:aws:acm:"), "{}", d.stdout);
    assert!(d.stdout.contains("expires in 1 days"), "{}", d.stdout);
    assert!(
        d.stdout.contains(
            "fix: acm::request_certificate(#{ DomainName: \"rent-a-room.example\", ValidationMethod: \"DNS\" })"
        ),
        "{}",
        d.stdout
    );

    // Another SSL policy: the listener changes in place, and undoing that run puts the first back.
    emu.runbook()
        .runbook("examples/https.rhai", &[sets[0], sets[1], "ssl_policy=ELBSecurityPolicy-2016-08"])
        .output()
        .success();
    let changed = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    assert_eq!(listener(443).unwrap().ssl_policy(), Some("ELBSecurityPolicy-2016-08"));
    let undo = emu.runbook().args(["undo", &changed]).output().success();
    assert!(undo.stdout.contains("elbv2::modify_listener: restored settings of listener arn:"), "{}", undo.stdout);
    assert_eq!(listener(443).unwrap().ssl_policy(), Some("ELBSecurityPolicy-TLS13-1-2-2021-06"));

    // Undoing the first run: HTTP forwards again, and the rest is gone.
    let undo = emu.runbook().args(["undo", &first]).output().success();
    assert!(undo.stderr.contains("3 removed, 1 restored, 0 already gone"), "{}", undo.stderr);
    assert!(listener(443).is_none());
    assert_eq!(listener(80).unwrap().default_actions()[0].target_group_arn(), Some(tg.as_str()));
    let left = emu.aws(&["acm", "list-certificates"])["CertificateSummaryList"].as_array().cloned().unwrap();
    assert!(left.is_empty(), "the certificate is deleted: {left:?}");
    let sg = &c.security_groups("group-name", "rent-a-room-alb-sg")[0];
    assert!(!opens(443, sg) && opens(80, sg));
}

#[test]
fn cross_region_copies_the_security_group_to_the_standby_region_and_undoes_it_there() {
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    emu.runbook().runbook("examples/cross_region.rhai", &[]).output().success();
    let first = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let again = emu.runbook().runbook("examples/cross_region.rhai", &[]).output().success();
    assert!(again.stderr.contains("0 write(s), 0 created"), "{}", again.stderr);
    let eu = runbook_tests::Clients::in_region(&emu.url, "eu-west-1", None);
    let copies = eu.security_groups("group-name", "rent-a-room-alb-sg");
    assert_eq!(copies.len(), 1);
    let rule = &copies[0].ip_permissions()[0];
    assert_eq!((rule.from_port(), rule.to_port()), (Some(80), Some(80)));
    assert_eq!(rule.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    emu.runbook().args(["undo", &first]).output().success();
    assert!(eu.security_groups("group-name", "rent-a-room-alb-sg").is_empty());
    assert_eq!(emu.clients().security_groups("group-name", "rent-a-room-alb-sg").len(), 1, "home is left alone");
}

#[test]
fn an_import_whose_answer_was_lost_is_found_and_not_imported_twice() {
    use runbook_tests::proxy::{Action, Proxy};
    let emu = Emulator::start();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    // The first ImportCertificate reaches ACM, and its answer is lost on the way back.
    let lost = std::sync::atomic::AtomicBool::new(false);
    let proxy = Proxy::start(&emu.url, move |r| {
        let first = r.operation() == "ImportCertificate" && !lost.swap(true, std::sync::atomic::Ordering::SeqCst);
        if first {
            Action::DropAnswer
        } else {
            Action::Forward
        }
    });
    let (cert, key) = self_signed_pair();
    let files = [format!("cert_file={}", cert.display()), format!("key_file={}", key.display())];
    let sets: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = emu.runbook().env("AWS_ENDPOINT_URL", &proxy.url).runbook("examples/https.rhai", &sets).output();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let certs = emu.aws(&["acm", "list-certificates"])["CertificateSummaryList"].as_array().cloned().unwrap();
    assert_eq!(certs.len(), 1, "one certificate, not two: {certs:?}\n{}", out.stderr);
    let journal = emu.last_journal();
    let import = journal.iter().find(|r| r["type"] == "outcome" && r["reconciled"].is_object()).cloned();
    let import = import.unwrap_or_else(|| panic!("a reconciled outcome: {journal:?}"));
    assert_eq!(import["created"][0]["id"], certs[0]["CertificateArn"], "{import}");
}
