//! Log lines for the tools operators run: `gateway.log_format = "json"` writes one JSON object per
//! line (timestamp, level, target, message and fields), and `gateway.access_log` adds a line
//! per request, relayed ones included. No line holds a secret.

mod support;

use serde_json::Value;
use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

#[test]
fn json_lines_and_an_access_line_per_request() {
    let mut gw = Gateway::prepare(Options {
        gateway_extra: "log_format = \"json\"\naccess_log = true".into(),
        ..Options::default()
    });
    // The level as operators set it (the harness's default is debug for erpgate).
    gw.serve_env.push(("ERPGATE_LOG".into(), "info".into()));
    gw.spawn();
    let cred = gw.issue("ap-sync");
    let relayed = gw.get_as(&cred, INVOICES);
    assert_eq!(relayed.status, 200);
    let denied = gw.get(
        INVOICES,
        &[(
            "Authorization",
            &support::basic(&cred.username, "wrong-password-123"),
        )],
    );
    assert_eq!(denied.status, 401);
    let ids = [
        relayed.header("x-request-id").expect("id").to_string(),
        denied.header("x-request-id").expect("id").to_string(),
    ];
    let mut lines: Vec<Value> = Vec::new();
    gw.eventually("both requests are logged", || {
        lines = gw
            .log_text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        ids.iter().all(|id| {
            lines
                .iter()
                .any(|l| l["target"] == "erpgate::access" && l["request_id"] == id.as_str())
        })
    });
    for l in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
    }
    let access = |id: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "erpgate::access" && l["request_id"] == id)
            .cloned()
            .expect("access line")
    };
    let ok = access(&ids[0]);
    assert_eq!(ok["level"], "INFO");
    assert_eq!(ok["decision"], "relayed");
    assert_eq!(ok["tenant"], "acme");
    assert_eq!(ok["endpoint"], "invoices.collection");
    assert_eq!(ok["actor"], "ap-sync");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["upstream_status"], 200);
    assert!(ok["oracle_ecid"].as_str().is_some_and(|e| e.len() == 16));
    let no = access(&ids[1]);
    assert_eq!(
        (no["decision"].as_str(), no["reason"].as_str()),
        (Some("denied"), Some("auth.invalid"))
    );
    let text = gw.log_text();
    for secret in [
        cred.password.as_str(),
        "wrong-password-123",
        gw.upstream_password.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret in the log");
    }
}

#[test]
fn an_unknown_log_format_is_a_configuration_error() {
    let gw = Gateway::prepare(Options {
        gateway_extra: "log_format = \"text\"".into(),
        ..Options::default()
    });
    let text = std::fs::read_to_string(&gw.config).expect("config");
    std::fs::write(
        &gw.config,
        text.replace("log_format = \"text\"", "log_format = \"yaml\""),
    )
    .expect("write");
    let out = gw.cli(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gateway.log_format") && err.contains("\"json\""),
        "{err}"
    );
}
