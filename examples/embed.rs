//! Embedding runbook's AWS bindings in another Rust program: a Rhai engine with every service module
//! and helper registered, evaluating a script and using its result in Rust.
//!
//! `cargo run -p runbook-bindings --example embed` with the usual AWS configuration (or
//! `tests/emulator/with-emulator.sh target/debug/examples/embed`).

use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The standard AWS configuration chain; pass AwsOptions to choose a profile, region or endpoint.
    let ctx = Rc::new(runbook_bindings::Context::new(&Default::default(), Default::default())?);
    let mut engine = rhai::Engine::new();
    runbook_bindings::register(&mut engine, ctx);

    let script = r#"
        let vpc = ec2::describe_vpcs(#{ Filters: [#{ Name: "isDefault", Values: ["true"] }] }).query("Vpcs[0].VpcId");
        ec2::describe_subnets(#{ Filters: [#{ Name: "vpc-id", Values: [vpc] }] })
            .query("Subnets[*].{id: SubnetId, zone: AvailabilityZone}")
    "#;
    let subnets: rhai::Array = engine.eval(script).map_err(|e| e.to_string())?;
    println!("The default VPC has {} subnets:", subnets.len());
    for s in subnets {
        let m = s.cast::<rhai::Map>();
        let field = |k: &str| m.get(k).map(|v| v.to_string()).unwrap_or_default();
        println!("  {} in {}", field("id"), field("zone"));
    }
    Ok(())
}
