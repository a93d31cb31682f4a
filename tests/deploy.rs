//! What an operator deploys: the systemd unit in `deploy/` is valid for systemd, and
//! `serve --pid-file` writes the pid that unit (and the README's recipes) signal, and removes
//! it at a clean exit.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/erpgate.service"
    ))
    .expect("deploy/erpgate.service");
    for needed in [
        "User=erpgate",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "StateDirectory=erpgate",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "--pid-file /run/erpgate/erpgate.pid",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    // systemd checks that the commands exist: point them at the binary under test.
    let dir = tempfile::tempdir().expect("dir");
    let local = unit.replace("/usr/local/bin/erpgate", env!("CARGO_BIN_EXE_erpgate"));
    let path = dir.path().join("erpgate.service");
    std::fs::write(&path, local).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd; .ci/run installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("Unknown") && !stderr.contains("ignoring"),
        "systemd-analyze verify complains: {stderr}"
    );
}

#[test]
fn serve_writes_and_removes_its_pid_file() {
    let mut gw = support::Gateway::start(support::Options::default());
    gw.stop();
    let pid_file = gw.config.with_file_name("erpgate.pid");
    gw.serve_env
        .push(("ERPGATE_PID_FILE".into(), pid_file.display().to_string()));
    gw.spawn();
    let pid = gw.pid().expect("running");
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(written.trim(), pid.to_string());
    // A recipe's `kill -HUP "$(cat erpgate.pid)"` reaches the gateway: it reloads.
    let hup = Command::new("kill")
        .args(["-HUP", written.trim()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.log_text().contains("configuration reloaded") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        gw.log_text().contains("configuration reloaded"),
        "{}",
        gw.log_text()
    );
    gw.stop();
    assert!(!pid_file.exists(), "removed at a clean exit");
}

#[test]
fn the_version_names_the_commit_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .arg("--version")
        .output()
        .expect("erpgate --version");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        text,
        format!("erpgate {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}
