//! Records the git commit the binary is built from (`ERPGATE_COMMIT`, for the
//! `erpgate_build_info` metric and `--version`-style reporting); `unknown` outside a git
//! checkout (a source tarball) or when git is absent.

use std::process::Command;

fn main() {
    // A container build copies no `.git`: the Dockerfile passes the commit in instead.
    let given = std::env::var("ERPGATE_COMMIT")
        .ok()
        .filter(|s| (7..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|s| s[..s.len().min(12)].to_string());
    let commit = given.unwrap_or_else(commit_from_git);
    println!("cargo:rustc-env=ERPGATE_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=ERPGATE_COMMIT");
    // Rebuilt when HEAD moves (a commit, a checkout); not on every build.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-changed=build.rs");
}

fn commit_from_git() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string())
}
