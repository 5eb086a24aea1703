//! Linker settings for the `runbook` executable. Each one is used only when a probe shows that this
//! toolchain links a program with it and the program then runs; otherwise the link is as before.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    // Relative relocations packed (DT_RELR): the binary carries ~240,000 of them, which the dynamic
    // loader otherwise reads from a 5.8 MB table and applies one by one at every start.
    if probe("relr", &["-Wl,-z,pack-relative-relocs"]) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // The functions a tutorial run executes, placed together at the front of the code (the list is
    // written by `make layout`). Without it they lie spread over ~47 MB of code, and the kernel maps
    // 64 KiB around every first touch: ~30 MB of the run's resident memory was code it had touched
    // once. Release builds only: the list names release symbols.
    let order = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("symbol-order.txt");
    if std::env::var("PROFILE").as_deref() == Ok("release")
        && order.exists()
        && probe("order", &["-Wl,--symbol-ordering-file=/dev/null", "-Wl,--no-warn-symbol-ordering"])
    {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether an empty program links with `link_args`, with the same compiler, target and flags as
/// this build, and then runs.
fn probe(name: &str, link_args: &[&str]) -> bool {
    let Ok(out_dir) = std::env::var("OUT_DIR") else { return false };
    let dir = PathBuf::from(out_dir);
    let source = dir.join("probe.rs");
    if std::fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let exe = dir.join(format!("probe-{name}"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.arg(&source).arg("-o").arg(&exe);
    if let Ok(target) = std::env::var("TARGET") {
        cmd.args(["--target", &target]);
    }
    if let Ok(flags) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    for arg in link_args {
        cmd.arg(format!("-Clink-arg={arg}"));
    }
    let linked = cmd.output().is_ok_and(|o| o.status.success());
    linked && Command::new(&exe).output().is_ok_and(|o| o.status.success())
}
