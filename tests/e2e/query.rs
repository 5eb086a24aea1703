//! `query()` gives the same answers as the aws CLI's `--query` (jmespath.py) on the same data: the
//! tutorial's own expressions and harder ones.

use runbook_tests::{root, script, Run};
use serde_json::Value;

const DATA: &str = r#"{
  "Vpcs": [{"VpcId": "vpc-1", "IsDefault": true, "CidrBlock": "172.31.0.0/16"}, {"VpcId": "vpc-2", "IsDefault": false}],
  "Subnets": [{"SubnetId": "subnet-a", "AvailabilityZone": "us-east-1a", "AvailableIpAddressCount": 4091},
              {"SubnetId": "subnet-b", "AvailabilityZone": "us-east-1b", "AvailableIpAddressCount": 17},
              {"SubnetId": "subnet-c", "AvailabilityZone": "us-east-1c", "AvailableIpAddressCount": 250}],
  "LoadBalancers": [{"LoadBalancerArn": "arn:lb/1", "DNSName": "alb-1.us-east-1.elb.amazonaws.com",
                     "State": {"Code": "active"}, "AvailabilityZones": [{"ZoneName": "us-east-1a"}, {"ZoneName": "us-east-1b"}]}],
  "TargetGroups": [{"TargetGroupArn": "arn:tg/1", "Port": 80, "HealthCheckPath": "/", "Matcher": {"HttpCode": "200"}}],
  "GroupId": "sg-123",
  "services": [{"serviceName": "s", "desiredCount": 3, "runningCount": 2, "pendingCount": 1,
                "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS", "runningCount": 2},
                                {"status": "ACTIVE", "rolloutState": "COMPLETED", "runningCount": 1}]}],
  "taskArns": ["arn:task/1", "arn:task/2"],
  "tasks": [
    {"taskArn": "arn:task/1", "lastStatus": "RUNNING", "attachments": [{"details": [
        {"name": "subnetId", "value": "subnet-a"}, {"name": "privateIPv4Address", "value": "10.0.0.5"}]}]},
    {"taskArn": "arn:task/2", "lastStatus": "PENDING", "attachments": [{"details": [
        {"name": "privateIPv4Address", "value": "10.0.1.9"}]}]}],
  "TargetHealthDescriptions": [
    {"Target": {"Id": "10.0.0.5", "Port": 80}, "TargetHealth": {"State": "healthy"}},
    {"Target": {"Id": "10.0.1.9", "Port": 80}, "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}}],
  "Reservations": [{"Instances": [{"InstanceId": "i-1", "Tags": [{"Key": "Name", "Value": "web"}]}]},
                   {"Instances": [{"InstanceId": "i-2", "Tags": []}, {"InstanceId": "i-3"}]}],
  "Empty": [],
  "Nothing": null
}"#;

const EXPRESSIONS: &[&str] = &[
    // The tutorial's own --query expressions.
    "Vpcs[0].VpcId",
    "Subnets[*].SubnetId",
    "LoadBalancers[0].LoadBalancerArn",
    "TargetGroups[0].TargetGroupArn",
    "LoadBalancers[0].DNSName",
    "GroupId",
    "services[0].{desiredCount:desiredCount,runningCount:runningCount,pendingCount:pendingCount}",
    "taskArns[*]",
    "tasks[*].{TaskId:taskArn,Status:lastStatus,IP:attachments[0].details[?name==`privateIPv4Address`].value[0]}",
    // Filters, projections, multiselect hashes and lists, pipes, functions.
    "tasks[*].{TaskId:taskArn,IP:attachments[0].details[?name=='privateIPv4Address'].value | [0]}",
    "Vpcs[?IsDefault].VpcId | [0]",
    "Vpcs[?IsDefault==`false`].VpcId",
    "Subnets[?AvailableIpAddressCount > `100`].[SubnetId, AvailabilityZone]",
    "Subnets[?AvailableIpAddressCount > `100` && AvailabilityZone != 'us-east-1a'].SubnetId",
    "Subnets[?starts_with(AvailabilityZone, 'us-east-1') || AvailableIpAddressCount < `20`] | length(@)",
    "sort_by(Subnets, &AvailableIpAddressCount)[*].SubnetId",
    "max_by(Subnets, &AvailableIpAddressCount).SubnetId",
    "sum(Subnets[*].AvailableIpAddressCount)",
    "join(', ', Subnets[*].AvailabilityZone)",
    "LoadBalancers[*].AvailabilityZones[].ZoneName",
    "LoadBalancers[0].State.Code == 'active'",
    "services[0].deployments[?status=='PRIMARY'] | [0].rolloutState",
    "length(services[0].deployments)",
    "TargetHealthDescriptions[?TargetHealth.State!='healthy'].{Id:Target.Id,Why:TargetHealth.Reason}",
    "TargetHealthDescriptions[*].TargetHealth.State",
    "Reservations[].Instances[].InstanceId",
    "Reservations[].Instances[].Tags[?Key=='Name'].Value[]",
    "Reservations[*].Instances[*].InstanceId",
    "Reservations[].Instances[].[InstanceId, Tags[?Key=='Name'] | [0].Value]",
    "taskArns[::-1]",
    "taskArns[1:]",
    "keys(TargetGroups[0]) | sort(@)",
    "TargetGroups[0].Matcher.HttpCode",
    "contains(taskArns, 'arn:task/2')",
    "not_null(Nothing, GroupId)",
    "Empty[0]",
    "Missing.Deeply.Nested",
    "to_string(TargetGroups[0].Port)",
    "`{\"literal\": [1, 2]}`",
    "@.GroupId",
    "avg(`[]`)",
    "avg(`[1, 2, 4]`)",
    "avg(Empty)",
    "max(`[]`)",
    "min_by(`[]`, &Port)",
];

#[test]
fn query_matches_the_aws_cli_on_the_same_data() {
    let mut text = format!("let data = from_json({DATA:?});\n");
    for e in EXPRESSIONS {
        text.push_str(&format!("print(to_json(query(data, {e:?})));\nprint(\"<end>\");\n"));
    }
    let file = script("query.rhai", &text);
    let out = Run::new()
        .args(["run", file.to_str().unwrap()])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .success();
    let ours: Vec<Value> = out
        .stdout
        .split("<end>\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}")))
        .collect();

    let py = root().join(".venv/bin/python");
    let program = "import json, sys, warnings, jmespath\nwarnings.simplefilter('ignore')\n\
                   data = json.loads(sys.argv[1])\n\
                   print(json.dumps([jmespath.search(e, data) for e in json.loads(sys.argv[2])]))";
    let theirs = std::process::Command::new(py)
        .args(["-c", program, DATA, &serde_json::to_string(EXPRESSIONS).unwrap()])
        .output()
        .expect("python with jmespath (the aws CLI's query engine) from .venv");
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let theirs: Vec<Value> = serde_json::from_slice(&theirs.stdout).unwrap();

    assert_eq!(ours.len(), EXPRESSIONS.len());
    for ((expr, a), b) in EXPRESSIONS.iter().zip(&ours).zip(&theirs) {
        assert!(same(a, b), "query {expr}: runbook {a}, aws CLI {b}");
    }
}

/// JSON equality where numbers compare by value (`sum()` gives 4358.0 here and 4358 in Python).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn query_works_as_a_method_and_reports_bad_expressions_at_the_line() {
    // No match answers (), as every look-before-create relies on.
    let file = script(
        "q.rhai",
        "let r = #{ A: [1, 2, 3] };\nprint(r.query(\"A[-1]\"));\nprint(r.query(\"A[?@ > `5`] | [0]\") == () && r.query(\"B\") == ());\nprint(r.query(\"A[\"));\n",
    );
    let out = Run::new().args(["run", file.to_str().unwrap()]).output();
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "3\ntrue\n");
    let path = file.display();
    assert_eq!(
        out.stderr,
        format!(
            "error: invalid query \"A[\": Parse error: Expected number, ':', or '*' -- found Eof (line 0, column 2)\n  --> {path}:4:9\n  |\n4 | print(r.query(\"A[\"));\n  |         ^\n"
        )
    );
}
