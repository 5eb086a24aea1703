//! HTTPS and a domain as the tutorial's advanced section has them: `examples/https.rhai` requests an
//! ACM certificate, proves the domain with its validation record in the Route 53 zone that holds it,
//! and adds the HTTPS listener; `examples/domain.rhai` points the domain at the load balancer. Their
//! re-runs write nothing, `diagnose.rhai` passes on the result, and undo leaves the account as the
//! tutorial left it. State is read back with the aws CLI.

use runbook_tests::Emulator;
use serde_json::Value;

const FAST: &[&str] = &["emulator=true", "propagation_wait=0"];

/// The emulator as `tests/emulator/with-emulator.sh` starts it: certificates are issued at once and
/// a service's deployment completes.
fn emulator() -> Emulator {
    Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0"), ("MOTO_ECS_SERVICE_RUNNING", "1")])
}

fn zone(emu: &Emulator, name: &str) -> String {
    let out = emu.aws(&["route53", "create-hosted-zone", "--name", name, "--caller-reference", name]);
    out["HostedZone"]["Id"].as_str().unwrap().to_string()
}

/// The record sets of a zone other than its SOA and NS, as (name, type).
fn records(emu: &Emulator, zone: &str) -> Vec<(String, String, Value)> {
    let out = emu.aws(&["route53", "list-resource-record-sets", "--hosted-zone-id", zone]);
    out["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Type"] != "SOA" && r["Type"] != "NS")
        .map(|r| (r["Name"].as_str().unwrap().to_string(), r["Type"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

fn certificates(emu: &Emulator) -> Vec<Value> {
    emu.aws(&["acm", "list-certificates"])["CertificateSummaryList"].as_array().cloned().unwrap_or_default()
}

fn listener(emu: &Emulator, port: i64) -> Option<Value> {
    let lb = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb"])["LoadBalancers"][0]
        ["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let out = emu.aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb]);
    out["Listeners"].as_array().unwrap().iter().find(|l| l["Port"] == port).cloned()
}

fn opens(emu: &Emulator, port: i64) -> bool {
    let out = emu.aws(&["ec2", "describe-security-groups", "--filters", "Name=group-name,Values=rent-a-room-alb-sg"]);
    out["SecurityGroups"][0]["IpPermissions"].as_array().unwrap().iter().any(|p| p["FromPort"] == port)
}

#[test]
fn https_with_a_certificate_acm_issues_and_a_domain_diagnosed_clean_and_undone() {
    let emu = emulator();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    // The domain's zone is the longest name it ends with: not example.com, nor hop.example.com,
    // which shop.example.com ends with as text but not by labels.
    let parent = zone(&emu, "example.com");
    let decoy = zone(&emu, "hop.example.com");
    let shop = zone(&emu, "shop.example.com");
    let tg = emu.aws(&["elbv2", "describe-target-groups", "--names", "rent-a-room-tg"])["TargetGroups"][0]
        ["TargetGroupArn"]
        .clone();

    let run = emu.runbook().runbook("examples/https.rhai", &["domain=shop.example.com"]).output().success();
    let first = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    assert!(run.stdout.contains("https://shop.example.com"), "{}", run.stdout);
    let certs = certificates(&emu);
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(
        (certs[0]["DomainName"].as_str(), certs[0]["Status"].as_str()),
        (Some("shop.example.com"), Some("ISSUED"))
    );
    let arn = certs[0]["CertificateArn"].as_str().unwrap().to_string();
    let described = emu.aws(&["acm", "describe-certificate", "--certificate-arn", &arn]);
    let wanted = &described["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"];
    let written = records(&emu, &shop);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!((written[0].0.as_str(), written[0].1.as_str()), (wanted["Name"].as_str().unwrap(), "CNAME"));
    assert_eq!(written[0].2["ResourceRecords"][0]["Value"], wanted["Value"]);
    assert!(records(&emu, &parent).is_empty() && records(&emu, &decoy).is_empty());
    let https = listener(&emu, 443).expect("an HTTPS listener");
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["Certificates"][0]["CertificateArn"], arn.as_str());
    assert_eq!(https["DefaultActions"][0]["TargetGroupArn"], tg);
    let http = listener(&emu, 80).unwrap();
    assert_eq!(http["DefaultActions"][0]["RedirectConfig"]["Protocol"], "HTTPS");
    assert!(opens(&emu, 443));

    let again = emu.runbook().runbook("examples/https.rhai", &["domain=shop.example.com"]).output().success();
    assert!(again.stderr.contains("0 write(s), 0 created"), "{}", again.stderr);

    // The domain: an alias A record in the same zone, pointing at the load balancer.
    emu.runbook().runbook("examples/domain.rhai", &["domain=shop.example.com"]).output().success();
    let named = emu.last_journal()[0]["run"].as_str().unwrap().to_string();
    let again = emu.runbook().runbook("examples/domain.rhai", &["domain=shop.example.com"]).output().success();
    assert!(again.stderr.contains("0 write(s), 0 created"), "{}", again.stderr);
    let dns = emu.aws(&["elbv2", "describe-load-balancers", "--names", "rent-a-room-alb"])["LoadBalancers"][0]
        ["DNSName"]
        .as_str()
        .unwrap()
        .to_string();
    let alias = records(&emu, &shop).into_iter().find(|r| r.1 == "A").expect("an A record");
    assert_eq!(alias.0, "shop.example.com.");
    let target = alias.2["AliasTarget"]["DNSName"].as_str().unwrap().trim_end_matches('.').to_string();
    assert_eq!(target, dns);

    // Diagnose: HTTP redirects to an HTTPS listener that forwards, the certificate is issued for the
    // domain, and the domain points at the load balancer.
    let d = emu.runbook().runbook("runbooks/diagnose.rhai", &[]).output();
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    assert!(
        d.stdout
            .contains("PASS  listener                HTTP:80 redirects to HTTPS:443, which forwards to rent-a-room-tg"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains("PASS  certificate             AMAZON_ISSUED certificate for [\"shop.example.com\"] in ACM"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains(&format!("PASS  domain                  shop.example.com is an alias of {dns}")),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("tcp/443"), "{}", d.stdout);
    assert!(d.stdout.contains("All 13 checks passed."), "{}", d.stdout);

    // Undo, newest first: the alias record, then the redirect, the listener, the rule, the
    // validation record and the certificate.
    emu.runbook().args(["undo", &named]).output().success();
    assert!(records(&emu, &shop).iter().all(|r| r.1 != "A"));
    let undo = emu.runbook().args(["undo", &first]).output().success();
    assert!(undo.stderr.contains("4 removed, 1 restored, 0 already gone"), "{}", undo.stderr);
    assert!(listener(&emu, 443).is_none());
    assert_eq!(listener(&emu, 80).unwrap()["DefaultActions"][0]["TargetGroupArn"], tg);
    assert!(!opens(&emu, 443) && opens(&emu, 80));
    assert!(certificates(&emu).is_empty(), "{:?}", certificates(&emu));
    assert!(records(&emu, &shop).is_empty(), "{:?}", records(&emu, &shop));
    // And diagnose is back to the tutorial's eleven checks.
    let d = emu.runbook().runbook("runbooks/diagnose.rhai", &[]).output();
    assert!(d.stdout.contains("All 11 checks passed."), "{}\n{}", d.stdout, d.stderr);
}

#[test]
fn https_without_a_zone_for_the_domain_stops_before_any_write() {
    let emu = emulator();
    emu.runbook().runbook("runbooks/tutorial.rhai", FAST).output().success();
    zone(&emu, "example.org");
    let out = emu.runbook().runbook("examples/https.rhai", &["domain=shop.example.com"]).output();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("no hosted zone in this account holds shop.example.com"), "{}", out.stderr);
    assert!(out.stderr.contains("route53::create_hosted_zone(#{ Name: \"shop.example.com\""), "{}", out.stderr);
    assert!(certificates(&emu).is_empty());
    let both = emu.runbook().runbook("examples/https.rhai", &["domain=a.example.org", "cert_file=x.pem"]).output();
    assert_eq!(both.code, 1, "{}", both.stderr);
    assert!(both.stderr.contains("either --set domain=NAME"), "{}", both.stderr);
}
