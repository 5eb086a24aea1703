//! The tests' fault mix as a program, for `make bench`: `fault-proxy UPSTREAM SEED` forwards to
//! UPSTREAM through the proxy of tests/proxy.rs, 20 % of the requests failing before they are
//! forwarded and 5 % of the answers dropped after, prints its own URL, and serves until its
//! standard input closes; then it prints how many requests it saw, failed and dropped.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use runbook_tests::proxy::{faulty, Proxy};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(upstream), Some(seed)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: fault-proxy UPSTREAM SEED");
        std::process::exit(2);
    };
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
