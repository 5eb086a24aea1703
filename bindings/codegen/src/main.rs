//! runbook-codegen: writes `bindings/generated/src/generated/<service>.rs` and `<service>.json` from botocore's
//! service models, checked name by name against the pinned aws-sdk-rust crates.
//!
//! Usage: `runbook-codegen --botocore DIR [--out DIR] [--check]`
//!
//! Only names, types and structure are taken from the models; their documentation text is not.

mod emit;
mod model;
mod names;
mod partitions;
mod sdk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The services: script module name, botocore directory, SDK crate, the API reference's URL
/// stem, and (for EC2) which operations the default build includes.
pub struct Service {
    pub module: &'static str,
    pub botocore: &'static str,
    pub krate: &'static str,
    pub reference: &'static str,
    pub default_ops: Option<&'static [&'static str]>,
}

/// EC2 operations whose name contains one of these are in the default build; the rest need the
/// `ec2-all` feature (DESIGN.md, build budget).
const EC2_DEFAULT: &[&str] = &[
    "Vpc",
    "Subnet",
    "RouteTable",
    "Route",
    "Gateway",
    "SecurityGroup",
    "NetworkInterface",
    "Address",
    "Instances",
    "InstanceStatus",
    "InstanceAttribute",
    "Image",
    "KeyPair",
    "LaunchTemplate",
    "Tags",
    "AvailabilityZones",
    "Regions",
    "AccountAttributes",
];

pub const SERVICES: &[Service] = &[
    Service {
        module: "ecs",
        botocore: "ecs",
        krate: "aws-sdk-ecs",
        reference: "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_",
        default_ops: None,
    },
    Service {
        module: "elbv2",
        botocore: "elbv2",
        krate: "aws-sdk-elasticloadbalancingv2",
        reference: "https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_",
        default_ops: None,
    },
    Service {
        module: "ec2",
        botocore: "ec2",
        krate: "aws-sdk-ec2",
        reference: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_",
        default_ops: Some(EC2_DEFAULT),
    },
    Service {
        module: "iam",
        botocore: "iam",
        krate: "aws-sdk-iam",
        reference: "https://docs.aws.amazon.com/IAM/latest/APIReference/API_",
        default_ops: None,
    },
    Service {
        module: "application_autoscaling",
        botocore: "application-autoscaling",
        krate: "aws-sdk-applicationautoscaling",
        reference: "https://docs.aws.amazon.com/autoscaling/application/APIReference/API_",
        default_ops: None,
    },
    Service {
        module: "acm",
        botocore: "acm",
        krate: "aws-sdk-acm",
        reference: "https://docs.aws.amazon.com/acm/latest/APIReference/API_",
        default_ops: None,
    },
    Service {
        module: "route53",
        botocore: "route53",
        krate: "aws-sdk-route53",
        reference: "https://docs.aws.amazon.com/Route53/latest/APIReference/API_",
        default_ops: None,
    },
];

struct Args {
    botocore: PathBuf,
    out: PathBuf,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut botocore = None;
    let mut out = PathBuf::from("bindings/generated/src/generated");
    let mut check = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--botocore" => botocore = it.next().map(PathBuf::from),
            "--out" => out = it.next().map(PathBuf::from).ok_or("--out needs a directory")?,
            "--check" => check = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: runbook-codegen --botocore DIR [--out DIR] [--check]"
                ))
            }
        }
    }
    let botocore = botocore.ok_or("--botocore DIR is required (the botocore package directory)")?;
    Ok(Args { botocore, out, check })
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("runbook-codegen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let args = parse_args()?;
    let botocore_version = model::botocore_version(&args.botocore)?;
    let crates = sdk_sources()?;
    let mut clean = true;
    for svc in SERVICES {
        let (src, version) = crates
            .iter()
            .find(|(name, _, _)| name == svc.krate)
            .map(|(_, v, p)| (p.clone(), v.clone()))
            .ok_or_else(|| format!("{} is not in Cargo.lock", svc.krate))?;
        let sdk = sdk::SdkCrate::read(&src.join("src"))?;
        let models = model::Models::load(&args.botocore.join("data").join(svc.botocore))?;
        let generated = emit::generate(svc, &models, &sdk, &botocore_version, &version)?;
        for line in &generated.report {
            println!("{}: {line}", svc.module);
        }
        for (ext, text) in [("rs", &generated.rust), ("json", &generated.table)] {
            let path = args.out.join(format!("{}.{ext}", svc.module));
            if args.check {
                let current = std::fs::read_to_string(&path).unwrap_or_default();
                if &current != text {
                    println!("{} differs from what the models generate", path.display());
                    clean = false;
                }
            } else {
                write(&path, text)?;
            }
        }
    }
    // The regions, from the partition data of the first service crate (every crate embeds the same).
    let (krate, version, dir) = crates
        .iter()
        .find(|(name, _, _)| name == SERVICES[0].krate)
        .ok_or_else(|| format!("{} is not in Cargo.lock", SERVICES[0].krate))?;
    let regions = partitions::generate(dir, krate, version)?;
    let path = args.out.join("regions.rs");
    if args.check {
        if std::fs::read_to_string(&path).unwrap_or_default() != regions {
            println!("{} differs from what the partition data generates", path.display());
            clean = false;
        }
    } else {
        write(&path, &regions)?;
    }
    Ok(clean)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// (crate name, version, crate directory) of every package in the workspace's dependency graph,
/// from `cargo metadata`, so the generator reads exactly the SDK sources that Cargo.lock pins.
fn sdk_sources() -> Result<Vec<(String, String, PathBuf)>, String> {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let mut found = Vec::new();
    for p in v["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(version), Some(manifest)) =
            (p["name"].as_str(), p["version"].as_str(), p["manifest_path"].as_str())
        else {
            continue;
        };
        if name.starts_with("aws-sdk-") {
            let dir = Path::new(manifest).parent().map(Path::to_path_buf).unwrap_or_default();
            found.push((name.to_string(), version.to_string(), dir));
        }
    }
    Ok(found)
}
