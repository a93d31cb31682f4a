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

/// The metric names a running gateway exposes (histograms with their `_bucket`, `_count` and
/// `_sum` series).
fn exposed_metric_names() -> std::collections::BTreeSet<String> {
    let addr = format!("127.0.0.1:{}", support::free_port());
    let gw = support::Gateway::start(support::Options {
        gateway_extra: format!("metrics_listen = \"{addr}\""),
        ..support::Options::default()
    });
    // Labelled families appear with their first series: one relayed request makes them.
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices");
    assert_eq!(r.status, 200);
    let sock: std::net::SocketAddr = addr.parse().expect("addr");
    let mut text = String::new();
    gw.eventually("the request is counted", || {
        text = support::http::raw(sock, &support::request("GET", "/metrics", &[], None))
            .expect("scrape")
            .text();
        // Both are counted as the request ends, the second in its logging phase: wait for
        // both, or a scrape between them misses one.
        text.contains("erpgate_upstream_responses_total{")
            && text.contains("erpgate_http_requests_total{")
    });
    drop(gw);
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_count", "_sum"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Every metric identifier of erpgate's own (`erpgate_…`) or of its process (`process_…`) in
/// `text`.
fn referenced(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for prefix in ["erpgate_", "process_"] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn the_alert_rules_and_the_dashboard_use_only_metrics_that_exist() {
    let names = exposed_metric_names();
    assert!(
        names.contains("erpgate_upstream_responses_total"),
        "{names:?}"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");

    let rules = std::fs::read_to_string(root.join("prometheus/erpgate-alerts.yml")).expect("rules");
    let alerts = rules.matches("- alert: ").count();
    assert!(alerts >= 10, "{alerts} alerts");
    assert_eq!(
        rules.matches("\n        expr: ").count(),
        alerts,
        "an expr per alert"
    );
    // Each alert but the scrape check (`up`) watches an erpgate metric.
    for alert in rules.split("- alert: ").skip(1) {
        let name = alert.lines().next().unwrap_or_default();
        assert!(
            name == "ErpgateDown" || !referenced(alert).is_empty(),
            "{name} watches no erpgate metric"
        );
    }
    let used = referenced(&rules);
    for m in &used {
        assert!(
            names.contains(m),
            "the rules use {m}, which erpgate does not expose"
        );
    }
    // The checks Prometheus itself makes, where its tool is installed.
    if let Ok(out) = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root.join("prometheus/erpgate-alerts.yml"))
        .output()
    {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let text =
        std::fs::read_to_string(root.join("grafana/erpgate-dashboard.json")).expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(dash["uid"], "erpgate-overview");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut ids = std::collections::BTreeSet::new();
    let mut exprs = 0;
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().expect("id")),
            "panel ids are unique"
        );
        assert!(p["gridPos"]["w"].as_u64().is_some(), "{p}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let used = referenced(expr);
            assert!(!used.is_empty(), "{expr}");
            for m in used {
                assert!(
                    names.contains(&m),
                    "the dashboard uses {m}, which erpgate does not expose"
                );
            }
            exprs += 1;
        }
    }
    assert!(exprs >= panels.len());
    // Every metric family erpgate exposes is on the dashboard or in a rule.
    let everywhere: std::collections::BTreeSet<String> = referenced(&rules)
        .into_iter()
        .chain(referenced(&text))
        .collect();
    let unused: Vec<&String> = names
        .iter()
        .filter(|n| !["_bucket", "_count", "_sum"].iter().any(|s| n.ends_with(s)))
        .filter(|n| {
            !everywhere.contains(n.as_str()) && !everywhere.contains(&format!("{n}_bucket"))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "metrics neither graphed nor alerted on: {unused:?}"
    );
}

#[test]
fn the_container_image_and_compose_example_hold_what_they_promise() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let docker = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = docker.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(stages.iter().all(|s| !s.contains(":latest")), "{stages:?}");
    assert!(
        stages[1].contains("-slim"),
        "a minimal runtime image: {}",
        stages[1]
    );
    // Built the way CI builds it.
    assert!(docker.contains("cargo build --release --locked --bin erpgate"));
    assert!(
        !docker.lines().any(|l| l.starts_with("ADD ")),
        "COPY, never ADD"
    );
    let runtime = docker.split(stages[1]).nth(1).expect("runtime stage");
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets a user");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    assert!(runtime.contains("HEALTHCHECK") && runtime.contains("\"erpgate\", \"health\""));
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).expect(".dockerignore");
    assert!(ignore.lines().any(|l| l == "target") && ignore.lines().any(|l| l == ".git"));
    if let Ok(out) = Command::new("hadolint")
        .arg(root.join("Dockerfile"))
        .output()
    {
        assert!(
            out.status.success(),
            "hadolint: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let compose = std::fs::read_to_string(root.join("deploy/docker/compose.yml")).expect("compose");
    for promise in [
        "read_only: true",
        "cap_drop: [ALL]",
        "no-new-privileges:true",
        "secrets: [app_key]",
        "127.0.0.1:8080:8080",
        "command: [\"sim\"",
    ] {
        assert!(compose.contains(promise), "compose: {promise}");
    }
    // The configuration it mounts is valid for this build.
    let out = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["check", "--config"])
        .arg(root.join("deploy/docker/erpgate.toml"))
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn erpgate_health_asks_the_admin_listener() {
    let addr = format!("127.0.0.1:{}", support::free_port());
    let gw = support::Gateway::start(support::Options {
        gateway_extra: format!("admin_listen = \"{addr}\""),
        ..support::Options::default()
    });
    let health = |a: &str| {
        Command::new(env!("CARGO_BIN_EXE_erpgate"))
            .args(["health", "--addr", a])
            .output()
            .expect("health")
    };
    let mut ok = health(&addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok.status.success() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        ok = health(&addr);
    }
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    drop(gw);
    let down = health(&addr);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains(&addr));
}
