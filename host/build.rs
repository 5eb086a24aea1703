//! Linker settings for the `runbook` executable.
fn main() {
    // Relative relocations packed (DT_RELR): the binary carries ~240,000 of them, which the dynamic
    // loader otherwise reads from a 5.8 MB table and applies one by one at every start.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && linker_supports_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// GNU ld 2.38 and later, and lld 15 and later, know `-z pack-relative-relocs`; glibc 2.36 and later
/// load it. Older toolchains ignore the question and link as before.
fn linker_supports_relr() -> bool {
    let Ok(out) = std::process::Command::new("ld").arg("--version").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next().and_then(|l| l.split_whitespace().last()).unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let glibc = std::process::Command::new("ldd").arg("--version").output().ok().is_some_and(|o| {
        let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string();
        let v = first.split_whitespace().last().unwrap_or("");
        let mut p = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        (p.next().unwrap_or(0), p.next().unwrap_or(0)) >= (2, 36)
    });
    text.contains("GNU ld") && (major, minor) >= (2, 38) && glibc
}
