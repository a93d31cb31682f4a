//! Records the git commit the binary is built from (`ERPGATE_COMMIT`, for the
//! `erpgate_build_info` metric and `--version`-style reporting); `unknown` outside a git
//! checkout (a source tarball) or when git is absent.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ERPGATE_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit, a checkout); not on every build.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=build.rs");
}
