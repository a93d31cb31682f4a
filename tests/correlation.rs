//! Matching a request across the gateway and Oracle: the gateway's request id goes upstream
//! in a configurable header (never the client's own), and Oracle's execution context id
//! (`X-ORACLE-DMS-ECID`) is kept in the audit record while the client never sees it.

mod support;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

fn header<'a>(r: &'a erpgate::sim::RecordedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_request_id_reaches_oracle_and_oracles_ecid_reaches_the_audit_record() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let mut ecids = Vec::new();
    for _ in 0..2 {
        gw.sim.clear_requests();
        // A client's own request id is never what Oracle is told.
        let r = gw.get(
            INVOICES,
            &[
                ("Authorization", &cred.basic()),
                ("X-Request-Id", "forged-by-the-client"),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let rid = r.header("x-request-id").expect("request id").to_string();
        assert_ne!(rid, "forged-by-the-client");
        assert!(
            r.header("x-oracle-dms-ecid").is_none(),
            "Oracle's diagnostics never reach the client"
        );
        let seen = gw.sim.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(header(&seen[0], "x-request-id"), Some(rid.as_str()));
        let rec = gw.audit_record(&rid);
        let ecid = rec["oracle_ecid"]
            .as_str()
            .expect("ecid recorded")
            .to_string();
        assert!(
            ecid.len() == 16 && ecid.bytes().all(|b| b.is_ascii_hexdigit()),
            "{ecid}"
        );
        ecids.push(ecid);
    }
    assert_ne!(ecids[0], ecids[1], "each answer's own id");
    // A refusal never reached Oracle: no ECID to record.
    let denied = gw.get(INVOICES, &[]);
    let rec = gw.audit_record(denied.header("x-request-id").expect("id"));
    assert!(rec.get("oracle_ecid").is_none(), "{rec}");
}

#[test]
fn the_header_is_configurable_and_never_one_oracle_reads() {
    let gw = Gateway::start(Options {
        gateway_extra: "upstream_request_id_header = \"X-Gateway-Request\"".into(),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    gw.sim.clear_requests();
    let r = gw.get_as(&cred, INVOICES);
    assert_eq!(r.status, 200);
    let seen = gw.sim.requests();
    assert_eq!(
        header(&seen[0], "x-gateway-request"),
        r.header("x-request-id")
    );
    assert_eq!(header(&seen[0], "x-request-id"), None);

    for (value, why) in [
        ("Authorization", "may never reach Oracle"),
        ("Content-Type", "Oracle reads"),
        ("Upsert-Mode", "may never reach Oracle"),
        ("bad header", "not a header name"),
    ] {
        let text = std::fs::read_to_string(&gw.config).expect("config");
        let changed = text.replace(
            "upstream_request_id_header = \"X-Gateway-Request\"",
            &format!("upstream_request_id_header = \"{value}\""),
        );
        let path = gw.dir.path().join("variant.toml");
        std::fs::write(&path, changed).expect("write");
        let out = gw.cli(&["check", "--config", path.to_str().expect("path")]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("gateway.upstream_request_id_header") && err.contains(why),
            "{value}: {err}"
        );
    }
    // Empty: none is sent.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let path = gw.dir.path().join("none.toml");
    std::fs::write(
        &path,
        text.replace(
            "upstream_request_id_header = \"X-Gateway-Request\"",
            "upstream_request_id_header = \"\"",
        ),
    )
    .expect("write");
    let out = gw.cli(&["check", "--config", path.to_str().expect("path")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
