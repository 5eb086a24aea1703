//! The test proxy's AWS-like mode: what the emulator does not do and AWS does.
//!
//! - Every answer is late by 20–60 ms, as a region's endpoints answer from a nearby host.
//! - For `lag` after a create, a request that names what it made (the ids and ARNs of its answer,
//!   or the name a create gave: an ECS cluster or service, a role, a scalable target; an ACM
//!   certificate's ARN) is answered
//!   "not found" in its service's own protocol and error shape, without reaching the emulator, as
//!   AWS answers while a new resource propagates (the EC2 API reference, "Eventual consistency").
//! - For the same `lag`, EC2's filtered describes (by tag, name or VPC) leave out what a create made,
//!   as AWS's lists lag behind its writes.
//! - A load balancer stays `provisioning` for `provisioning` after its create.
//! - The first answer to each operation named in `lose` (per account and region) is lost after the
//!   emulator did the work, as when a connection drops.
//! - Requests draw on token buckets per account, region and service, as EC2 documents its request
//!   throttling (non-mutating actions: a bucket of 100 that refills 20 a second; mutating ones: 200
//!   and 5), scaled down twentyfold; an empty bucket answers the service's throttling error
//!   (`RequestLimitExceeded`, `Throttling`, `ThrottlingException`). ELBv2, ECS, IAM, Application
//!   Auto Scaling, ACM and Route 53 get the same buckets.
//! - A Route 53 change batch is answered `PENDING`, and the first `pending_polls` answers of
//!   `GetChange` about it say `PENDING` too, as Route 53 answers until every name server has the
//!   change (about a minute in AWS). Off by default: the `ResourceRecordSetsChanged` waiter polls
//!   every 30 s, so each pending answer costs a test half a minute.

use crate::proxy::{throttled, Action, Proxy, Request};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the AWS-like proxy behaves.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub lag: Duration,
    pub provisioning: Duration,
    /// Each answer is held this long, in milliseconds, drawn evenly from the range.
    pub latency_ms: (u64, u64),
    /// Token buckets (size, refill a second) for reads and for writes, per account, region and
    /// service; `None` never throttles.
    pub buckets: Option<[(f64, f64); 2]>,
    /// Operations whose first answer in each place is lost after the work is done.
    pub lose: &'static [&'static str],
    /// How many `GetChange` answers about a Route 53 change say `PENDING` before `INSYNC`.
    pub pending_polls: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lag: Duration::from_secs(4),
            provisioning: Duration::from_secs(10),
            latency_ms: (20, 60),
            buckets: Some([(5.0, 1.0), (10.0, 0.25)]),
            lose: &[],
            pending_polls: 0,
        }
    }
}

/// What a create made, as requests name it, and until when AWS does not know it yet.
struct Made {
    /// The value as requests name it, in a JSON body (`"sg-0123"`) or a form body (`=sg-0123`).
    value: String,
    /// The not-found code its service answers.
    code: &'static str,
    service: String,
    place: String,
    until: Instant,
}

struct State {
    settings: Settings,
    made: Mutex<Vec<Made>>,
    /// Load balancer ARNs and when they become active.
    provisioning: Mutex<Vec<(String, Instant)>>,
    rng: Mutex<crate::Rng>,
    /// Requests answered "not found" because of the lag.
    pub lagged: Mutex<Vec<String>>,
    /// Tokens left and when they were last counted, per account, region, service and kind.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    /// Requests answered with a throttling error.
    throttled: Mutex<u64>,
    /// The operations and places whose answer was lost.
    lost: Mutex<Vec<String>>,
    /// Route 53 change ids and how many more `GetChange` answers say `PENDING`.
    pending: Mutex<HashMap<String, u32>>,
    /// Each `GetChange` answered: the change id and the status it said.
    polled: Mutex<Vec<(String, String)>>,
}

/// A proxy in AWS-like mode in front of `upstream`; its `lagged()` counts the requests it answered
/// "not found" because what they named was too new.
pub struct AwsLike {
    pub proxy: Proxy,
    state: std::sync::Arc<State>,
}

/// A rule consulted before the AWS-like mode's own: what it answers is done to the request.
type First = dyn Fn(&Request) -> Option<Action> + Send + Sync;

impl AwsLike {
    pub fn start(upstream: &str, settings: Settings) -> AwsLike {
        AwsLike::start_with(upstream, settings, |_| None)
    }

    /// An AWS-like proxy whose `first` rule decides each request the mode would let through (a
    /// test's stall or cut); what the emulator answers still goes through the mode (a create it
    /// made lags).
    pub fn start_with(
        upstream: &str,
        settings: Settings,
        first: impl Fn(&Request) -> Option<Action> + Send + Sync + 'static,
    ) -> AwsLike {
        let first: Box<First> = Box::new(first);
        let state = std::sync::Arc::new(State {
            settings,
            made: Mutex::new(Vec::new()),
            provisioning: Mutex::new(Vec::new()),
            rng: Mutex::new(crate::Rng(0x2545_f491_4f6c_dd1d)),
            lagged: Mutex::new(Vec::new()),
            buckets: Mutex::new(HashMap::new()),
            throttled: Mutex::new(0),
            lost: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            polled: Mutex::new(Vec::new()),
        });
        let (a, b) = (state.clone(), state.clone());
        // The mode's refusals (throttling, not-found) come first: `first` sees only requests that
        // would reach the emulator.
        let rule = move |r: &Request| match a.rule(r) {
            own @ Action::Fail { .. } => own,
            own => first(r).unwrap_or(own),
        };
        let proxy = Proxy::start_with(upstream, rule, move |r, answer| b.after(r, answer));
        AwsLike { proxy, state }
    }

    pub fn url(&self) -> &str {
        &self.proxy.url
    }

    /// How many requests were answered with a throttling error.
    pub fn throttled(&self) -> u64 {
        self.state.throttled.lock().map(|t| *t).unwrap_or(0)
    }

    /// The operations whose answer was lost (see `Settings::lose`), in order.
    pub fn lost(&self) -> Vec<String> {
        self.state
            .lost
            .lock()
            .map(|l| l.iter().map(|k| k.split(' ').next().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }

    /// Each Route 53 `GetChange` answered, in order: the change id and the status it said.
    pub fn polled(&self) -> Vec<(String, String)> {
        self.state.polled.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The operations answered "not found" (or left out of a filtered describe) by the lag, in order.
    pub fn lagged(&self) -> Vec<String> {
        self.state.lagged.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Part `n` of the credential scope a request is signed with: `AKID/date/region/service/aws4_request`.
fn scope(r: &Request, n: usize) -> String {
    r.head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .and_then(|l| l.split("Credential=").nth(1))
        .and_then(|c| c.split(['/', ',']).nth(n))
        .unwrap_or("")
        .to_string()
}

/// The service a request is signed for.
fn service(r: &Request) -> String {
    scope(r, 3)
}

/// Where a request goes: its credentials (one account's) and region. What a create made lags only
/// there, as AWS's propagation does.
fn place(r: &Request) -> String {
    format!("{}/{}", scope(r, 0), scope(r, 2))
}

/// `value` as a form body encodes it.
fn form(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether a request body names `value` as a whole value. A filter's value does not count: AWS
/// answers a filter that matches nothing with an empty list.
fn names(body: &str, value: &str) -> bool {
    if body.contains(&format!("\"{value}\"")) {
        return true;
    }
    let encoded = form(value);
    body.split('&').any(|kv| kv.split_once('=').is_some_and(|(k, v)| v == encoded && !k.starts_with("Filter.")))
}

/// What a create made, as later requests name it: the new resource's id or ARN from its answer,
/// and the name its request gave where requests name it so. Each with the not-found code its
/// service answers about it.
fn created(op: &str, request: &str, answer: &str) -> Vec<(String, &'static str)> {
    let xml = |tag: &str| {
        let open = format!("<{tag}>");
        let start = answer.find(&open)? + open.len();
        let end = answer[start..].find('<')? + start;
        Some(answer[start..end].to_string())
    };
    let json =
        |a: &str, b: &str| serde_json::from_str::<serde_json::Value>(answer).ok()?[a][b].as_str().map(str::to_string);
    let mut out = Vec::new();
    let mut add = |v: Option<String>, code: &'static str| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push((v, code));
        }
    };
    match op {
        "CreateSecurityGroup" => add(xml("groupId"), "InvalidGroup.NotFound"),
        "CreateVpc" => add(xml("vpcId"), "InvalidVpcID.NotFound"),
        "CreateSubnet" => add(xml("subnetId"), "InvalidSubnetID.NotFound"),
        "CreateInternetGateway" => add(xml("internetGatewayId"), "InvalidInternetGatewayID.NotFound"),
        "CreateRouteTable" => add(xml("routeTableId"), "InvalidRouteTableID.NotFound"),
        "CreateTargetGroup" => add(xml("TargetGroupArn"), "TargetGroupNotFound"),
        "CreateLoadBalancer" => add(xml("LoadBalancerArn"), "LoadBalancerNotFound"),
        "CreateListener" => add(xml("ListenerArn"), "ListenerNotFound"),
        "CreateRule" => add(xml("RuleArn"), "RuleNotFound"),
        "CreateCluster" => {
            add(json("cluster", "clusterArn"), "ClusterNotFoundException");
            add(member(request, "clusterName"), "ClusterNotFoundException");
        }
        "CreateService" => {
            add(json("service", "serviceArn"), "ServiceNotFoundException");
            add(member(request, "serviceName"), "ServiceNotFoundException");
        }
        "CreateRole" => add(member(request, "RoleName"), "NoSuchEntity"),
        "RegisterScalableTarget" => add(member(request, "ResourceId"), "ObjectNotFoundException"),
        "RequestCertificate" | "ImportCertificate" => {
            let arn = serde_json::from_str::<serde_json::Value>(answer)
                .ok()
                .and_then(|v| v["CertificateArn"].as_str().map(str::to_string));
            add(arn, "ResourceNotFoundException");
        }
        _ => {}
    }
    out
}

/// A member of a JSON request body, or a field of a form body.
fn member(body: &str, name: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        return v[name].as_str().map(str::to_string);
    }
    body.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).map(|v| {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// The answer `service` gives with `code` about `value`, in its protocol and error shape.
fn not_found(service: &str, code: &str, value: &str) -> Action {
    let query = |ns: &str| {
        format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{value} not found</Message></Error><RequestId>aws-like-lag</RequestId></ErrorResponse>"
        )
    };
    let (status, content_type, body) = match service {
        "ec2" => (
            400,
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
                 <Message>The ID '{value}' does not exist</Message></Error></Errors>\
                 <RequestID>aws-like-lag</RequestID></Response>"
            ),
        ),
        "elasticloadbalancing" => (400, "text/xml", query("http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/")),
        "iam" => (404, "text/xml", query("https://iam.amazonaws.com/doc/2010-05-08/")),
        _ => (
            400,
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": format!("{value} not found") }).to_string(),
        ),
    };
    Action::Fail { status, content_type, body }
}

impl State {
    fn latency(&self) -> Duration {
        let (lo, hi) = self.settings.latency_ms;
        let r = self.rng.lock().map(|mut g| g.draw()).unwrap_or(0);
        Duration::from_millis(lo + r % (hi - lo + 1))
    }

    /// Takes a token from the request's bucket; false when it is empty.
    fn token(&self, r: &Request) -> bool {
        let Some(kinds) = self.settings.buckets else { return true };
        let op = r.operation();
        let read = ["Describe", "List", "Get"].iter().any(|v| op.starts_with(v));
        let (size, refill) = kinds[usize::from(!read)];
        let key = format!("{}/{}/{}", place(r), service(r), if read { "read" } else { "write" });
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        let (tokens, at) = buckets.entry(key).or_insert((size, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * refill).min(size);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return true;
        }
        if let Ok(mut t) = self.throttled.lock() {
            *t += 1;
        }
        false
    }

    fn rule(&self, r: &Request) -> Action {
        if service(r) != "sts" && !self.token(r) {
            std::thread::sleep(self.latency());
            return throttled(r);
        }
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let svc = service(r);
        let here = place(r);
        let now = Instant::now();
        // ECS answers a describe of what it does not know with `failures`, and Application Auto
        // Scaling with an empty list, not an error: those pass.
        let describe =
            matches!(svc.as_str(), "ecs" | "application-autoscaling") && r.operation().starts_with("Describe");
        let hit = self.made.lock().ok().and_then(|made| {
            made.iter()
                .find(|m| !describe && m.until > now && m.service == svc && m.place == here && names(&body, &m.value))
                .map(|m| (m.value.clone(), m.code))
        });
        if let Some((value, code)) = hit {
            if let Ok(mut l) = self.lagged.lock() {
                l.push(r.operation());
            }
            std::thread::sleep(self.latency());
            return not_found(&svc, code, &value);
        }
        let op = r.operation();
        if self.settings.lose.contains(&op.as_str()) {
            let key = format!("{op} {here}");
            if let Ok(mut lost) = self.lost.lock() {
                if !lost.contains(&key) {
                    lost.push(key);
                    return Action::DropAnswer;
                }
            }
        }
        Action::Delay(self.latency())
    }

    fn after(&self, r: &Request, answer: Vec<u8>) -> Vec<u8> {
        let op = r.operation();
        let svc = service(r);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let ok = text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        if ok && ["Create", "Register", "Run", "Allocate", "Import"].iter().any(|v| op.starts_with(v)) {
            let until = Instant::now() + self.settings.lag;
            let values = created(&op, &body, text.split("\r\n\r\n").nth(1).unwrap_or(""));
            if op == "CreateLoadBalancer" {
                let active = Instant::now() + self.settings.provisioning;
                if let (Ok(mut p), Some((arn, _))) = (self.provisioning.lock(), values.first()) {
                    p.push((arn.clone(), active));
                }
            }
            if let Ok(mut made) = self.made.lock() {
                for (value, code) in values {
                    made.push(Made { value, code, service: svc.clone(), place: place(r), until });
                }
            }
        }
        if ok && svc == "route53" {
            return self.route53_answer(r, answer);
        }
        if ok && op == "DescribeLoadBalancers" {
            return self.provisioning_answer(answer);
        }
        if ok && svc == "ec2" && body.contains("Filter.") {
            return self.lagging_list(r, answer);
        }
        answer
    }

    /// An EC2 describe filtered by tag, name or VPC, without the things created moments ago: each
    /// top-level `<item>` whose own id (its first id member) is young is left out.
    fn lagging_list(&self, r: &Request, answer: Vec<u8>) -> Vec<u8> {
        let id = match r.operation().as_str() {
            "DescribeSecurityGroups" => "groupId",
            "DescribeVpcs" => "vpcId",
            "DescribeSubnets" => "subnetId",
            "DescribeInternetGateways" => "internetGatewayId",
            "DescribeRouteTables" => "routeTableId",
            _ => return answer,
        };
        let (now, here) = (Instant::now(), place(r));
        let young: Vec<String> = self
            .made
            .lock()
            .map(|m| m.iter().filter(|m| m.until > now && m.place == here).map(|m| m.value.clone()).collect())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&answer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer };
        let mut out = String::with_capacity(body.len());
        let mut hidden = 0;
        let mut rest = body;
        // Top-level items: depth counts <item> and </item>; an item at depth 0 is one thing.
        while let Some(start) = rest.find("<item>") {
            out.push_str(&rest[..start]);
            let mut depth = 0usize;
            let mut at = start;
            let end = loop {
                let open = rest[at..].find("<item>").map(|i| i + at);
                let close = rest[at..].find("</item>").map(|i| i + at);
                match (open, close) {
                    (Some(o), Some(c)) if o < c => {
                        depth += 1;
                        at = o + 6;
                    }
                    (_, Some(c)) => {
                        depth -= 1;
                        at = c + 7;
                        if depth == 0 {
                            break at;
                        }
                    }
                    _ => break rest.len(),
                }
            };
            let item = &rest[start..end];
            let own = item.split(&format!("<{id}>")).nth(1).and_then(|v| v.split('<').next()).unwrap_or("");
            if young.iter().any(|y| y == own) {
                hidden += 1;
            } else {
                out.push_str(item);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        if hidden == 0 {
            return answer;
        }
        if let Ok(mut l) = self.lagged.lock() {
            l.extend(std::iter::repeat_n(format!("{} (list)", r.operation()), hidden));
        }
        with_body(head, &out)
    }

    /// A Route 53 answer whose change is still `PENDING`: a change batch's own answer, and the first
    /// `pending_polls` `GetChange` answers about it.
    fn route53_answer(&self, r: &Request, answer: Vec<u8>) -> Vec<u8> {
        let line = r.head.lines().next().unwrap_or("");
        let text = String::from_utf8_lossy(&answer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer };
        let id = body.split("<Id>").nth(1).and_then(|v| v.split('<').next()).unwrap_or("").to_string();
        let id = id.rsplit('/').next().unwrap_or("").to_string();
        let pending = "<Status>PENDING</Status>";
        if line.starts_with("POST ") && line.contains("/rrset") && self.settings.pending_polls > 0 {
            if let Ok(mut p) = self.pending.lock() {
                p.insert(id, self.settings.pending_polls);
            }
            return with_body(head, &body.replace("<Status>INSYNC</Status>", pending));
        }
        if line.starts_with("GET ") && line.contains("/change/") {
            let still = self.pending.lock().ok().is_some_and(|mut p| match p.get_mut(&id) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            });
            let out = if still { body.replace("<Status>INSYNC</Status>", pending) } else { body.to_string() };
            let status = out.split("<Status>").nth(1).and_then(|v| v.split('<').next()).unwrap_or("").to_string();
            if let Ok(mut polled) = self.polled.lock() {
                polled.push((id, status));
            }
            return with_body(head, &out);
        }
        answer
    }

    /// A DescribeLoadBalancers answer in which the load balancers created moments ago are still
    /// `provisioning`.
    fn provisioning_answer(&self, answer: Vec<u8>) -> Vec<u8> {
        let now = Instant::now();
        let young: Vec<String> = self
            .provisioning
            .lock()
            .map(|p| p.iter().filter(|(_, at)| *at > now).map(|(arn, _)| arn.clone()).collect())
            .unwrap_or_default();
        if young.is_empty() {
            return answer;
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer };
        // Each load balancer is a <member> with its ARN and its <State><Code>.
        let members: Vec<String> = body
            .split("<member>")
            .map(|part| {
                if young.iter().any(|arn| part.contains(&format!("<LoadBalancerArn>{arn}</LoadBalancerArn>"))) {
                    part.replace("<Code>active</Code>", "<Code>provisioning</Code>")
                } else {
                    part.to_string()
                }
            })
            .collect();
        with_body(head, &members.join("<member>"))
    }
}

/// An HTTP answer with `head` and a new `body`, its length counted again.
fn with_body(head: &str, body: &str) -> Vec<u8> {
    let head: String = head
        .lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{head}\r\n\r\n{body}").into_bytes()
}
