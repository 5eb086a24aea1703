//! A proxy between `runbook` and the emulator: it forwards each request, or, as a test's rule
//! decides, holds its answer back, drops or delays the answer after forwarding, fails it, delays it
//! or cuts the connection; and it records the operation of every request that passed. Each
//! connection carries one request (answers say `Connection: close`), so a rule sees every request
//! on its own.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    Forward,
    /// Forward it, but never answer: the call is made and its outcome never arrives.
    Stall,
    /// Answer this HTTP status and body without forwarding.
    Fail {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Close the connection without an answer, and without forwarding.
    Cut,
    /// Wait, then forward.
    Delay(Duration),
    /// Forward it, then close the connection without answering: the call was made and its answer
    /// is lost, as when a connection drops after AWS did the work.
    DropAnswer,
    /// Forward it, then answer only after this long (longer than the client waits).
    Late(Duration),
}

/// A request as the rule sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The API operation: `X-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster` (JSON
    /// protocols) or `Action=CreateLoadBalancer` in the form body (query protocols).
    pub fn operation(&self) -> String {
        for line in self.head.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("x-amz-target") {
                    return v.trim().rsplit('.').next().unwrap_or("").to_string();
                }
            }
        }
        let body = String::from_utf8_lossy(&self.body);
        body.split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("").to_string()
    }

    /// The access key id the request is signed with: `Authorization: AWS4-HMAC-SHA256
    /// Credential=AKID/20260101/us-east-1/ecs/aws4_request, ...`.
    pub fn access_key(&self) -> String {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or("")
            .to_string()
    }
}

/// A throttling answer in the request's protocol: JSON (ECS, Application Auto Scaling), EC2's
/// query dialect, or the query protocol of ELBv2 and IAM.
pub fn throttled(r: &Request) -> Action {
    if r.head.to_ascii_lowercase().contains("x-amz-target:") {
        let body = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string();
        return Action::Fail { status: 400, content_type: "application/x-amz-json-1.1", body };
    }
    if String::from_utf8_lossy(&r.body).contains("Version=2016-11-15") {
        let body = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>injected</RequestID></Response>".to_string();
        return Action::Fail { status: 503, content_type: "text/xml", body };
    }
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>injected</RequestId></ErrorResponse>".to_string();
    Action::Fail { status: 400, content_type: "text/xml", body }
}

/// The fault mix: `before` percent of the requests fail before they reach the emulator, cycling
/// through throttling, 500, 503, a cut connection and a delay; `after` percent of the others are
/// forwarded and their answers dropped. `seed` picks the requests; `counts` tallies (before, after).
pub fn faulty(
    seed: u64,
    before: u64,
    after: u64,
    counts: Arc<(AtomicU64, AtomicU64)>,
) -> impl Fn(&Request) -> Action + Send + Sync {
    let state = AtomicU64::new(0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    move |r| {
        // xorshift64: the same sequence on every run of a seed.
        let mut x = state.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.store(x, Ordering::SeqCst);
        let roll = x % 100;
        if roll >= before {
            if (x / 100) % 100 < after {
                counts.1.fetch_add(1, Ordering::SeqCst);
                return Action::DropAnswer;
            }
            return Action::Forward;
        }
        match counts.0.fetch_add(1, Ordering::SeqCst) % 5 {
            0 => throttled(r),
            1 => Action::Fail { status: 500, content_type: "text/plain", body: "injected".into() },
            2 => Action::Fail { status: 503, content_type: "text/plain", body: "injected".into() },
            3 => Action::Cut,
            _ => Action::Delay(Duration::from_millis(300)),
        }
    }
}

type Rule = dyn Fn(&Request) -> Action + Send + Sync;
/// Each request's operation and the access key it was signed with.
type Signed = Mutex<Vec<(String, String)>>;
/// What becomes of an answer from the emulator before the client gets it (the whole HTTP answer).
type After = dyn Fn(&Request, Vec<u8>) -> Vec<u8> + Send + Sync;

pub struct Proxy {
    pub url: String,
    /// The operation of every request that reached the emulator, in order.
    pub forwarded: Arc<Mutex<Vec<String>>>,
    /// Every request's operation, whatever the rule did with it.
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Every request's operation and the access key it was signed with.
    pub signed: Arc<Signed>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: &str, rule: impl Fn(&Request) -> Action + Send + Sync + 'static) -> Proxy {
        Proxy::start_with(upstream, rule, |_, answer| answer)
    }

    /// A proxy whose rule decides each request, and whose `after` sees (and may change) each answer
    /// the emulator gave.
    pub fn start_with(
        upstream: &str,
        rule: impl Fn(&Request) -> Action + Send + Sync + 'static,
        after: impl Fn(&Request, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
    ) -> Proxy {
        let after: Arc<After> = Arc::new(after);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        listener.set_nonblocking(true).expect("nonblocking listener");
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let rule: Arc<Rule> = Arc::new(rule);
        let forwarded = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let signed = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s, st) = (forwarded.clone(), seen.clone(), stop.clone());
        let k = signed.clone();
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (rule, after, upstream, f, s, st) =
                            (rule.clone(), after.clone(), upstream.clone(), f.clone(), s.clone(), st.clone());
                        let k = k.clone();
                        std::thread::spawn(move || {
                            let _ = serve(client, &upstream, (&*rule, &*after), &f, (&s, &k), &st);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy { url, forwarded, seen, signed, stop }
    }

    pub fn forwarded(&self) -> Vec<String> {
        self.forwarded.lock().expect("proxy log").clone()
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("proxy log").clone()
    }

    /// The access keys requests were signed with, each once, in order of first use.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for (_, k) in self.signed.lock().expect("proxy log").iter() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
        keys
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    (rule, after): (&Rule, &After),
    forwarded: &Mutex<Vec<String>>,
    (seen, signed): (&Mutex<Vec<String>>, &Signed),
    stop: &AtomicBool,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    let Some(req) = read_request(&mut client)? else { return Ok(()) };
    let op = req.operation();
    seen.lock().map(|mut s| s.push(op.clone())).ok();
    signed.lock().map(|mut s| s.push((op.clone(), req.access_key()))).ok();
    let action = rule(&req);
    match action {
        Action::Fail { status, content_type, body } => {
            let head = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes())?;
            client.write_all(body.as_bytes())?;
            return Ok(());
        }
        Action::Cut => return Ok(()),
        Action::Delay(d) => std::thread::sleep(d),
        Action::Forward | Action::Stall | Action::DropAnswer | Action::Late(_) => {}
    }
    let answer = after(&req, forward(upstream, &req)?);
    forwarded.lock().map(|mut f| f.push(op)).ok();
    match action {
        Action::Stall => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Action::DropAnswer => client.shutdown(std::net::Shutdown::Both),
        Action::Late(d) => {
            std::thread::sleep(d);
            client.write_all(&answer)
        }
        _ => client.write_all(&answer),
    }
}

/// Reads one request: the head up to the blank line, then `Content-Length` bytes of body.
fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request { head, body: buf[head_end..].to_vec() }))
}

/// Sends the request on a new connection that the emulator closes after answering, and returns the
/// whole answer.
fn forward(upstream: &str, req: &Request) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    let head: String = req
        .head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    up.write_all(head.as_bytes())?;
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&req.body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    Ok(close_after(answer))
}

/// The answer with `Connection: close`, so that the client opens a new connection per request.
fn close_after(answer: Vec<u8>) -> Vec<u8> {
    let Some(i) = find(&answer, b"\r\n\r\n") else { return answer };
    let head = String::from_utf8_lossy(&answer[..i]);
    let mut out: Vec<u8> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&answer[i + 4..]);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
