//! The tests' proxies as a program, for `make bench`. It prints its own URL, serves until its
//! standard input closes, then prints what it saw.
//!
//! - `fault-proxy UPSTREAM SEED`: the fault mix of tests/proxy.rs, 20 % of the requests failing
//!   before they are forwarded and 5 % of the answers dropped after; it ends by printing how many
//!   requests it saw, failed and dropped.
//! - `fault-proxy UPSTREAM aws-like MODE`: the AWS-like mode of tests/aws_like.rs. MODE `latency`
//!   holds each answer 20–60 ms and does nothing else; `lag` adds the 4 s of "not found" after
//!   creates; `full` is the mode as the tests use it (lag, load balancers provisioning for 10 s,
//!   token-bucket throttling). It ends by printing how many requests it saw, throttled and lagged.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use runbook_tests::aws_like::{AwsLike, Settings};
use runbook_tests::proxy::{faulty, Proxy};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: fault-proxy UPSTREAM SEED | fault-proxy UPSTREAM aws-like latency|lag|full");
        std::process::exit(2);
    };
    let Some(upstream) = args.get(1) else { usage() };
    if args.get(2).map(String::as_str) == Some("aws-like") {
        let settings = match args.get(3).map(String::as_str) {
            Some("full") => Settings::default(),
            Some("lag") => Settings { provisioning: Duration::ZERO, buckets: None, ..Settings::default() },
            Some("latency") => {
                Settings { lag: Duration::ZERO, provisioning: Duration::ZERO, buckets: None, ..Settings::default() }
            }
            _ => usage(),
        };
        let like = AwsLike::start(upstream, settings);
        println!("{}", like.url());
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        println!(
            "{} requests, {} throttled, {} lagged",
            like.proxy.seen().len(),
            like.throttled(),
            like.lagged().len()
        );
        return;
    }
    let Some(seed) = args.get(2).and_then(|s| s.parse::<u64>().ok()) else { usage() };
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let proxy = Proxy::start(upstream, faulty(seed, 20, 5, counts.clone()));
    println!("{}", proxy.url);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!(
        "{} requests, {} failed before forwarding, {} answers dropped",
        proxy.seen().len(),
        counts.0.load(Ordering::SeqCst),
        counts.1.load(Ordering::SeqCst)
    );
}
