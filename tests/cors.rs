//! CORS: preflights answered by the gateway for allowed origins only (never relayed, fixed
//! lists, no catalog disclosure), actual browser requests admitted only from the caller's
//! tenant's origins, allowed responses naming the origin (never `*`), and Oracle never seeing
//! the browser's `Origin`.

mod support;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices?limit=1";
const ACME: &str = "https://acme.fa.us2.oraclecloud.com";
const OTHER: &str = "https://evil.example.com";

#[test]
fn origins_are_allowed_per_tenant_and_preflights_are_answered_here() {
    let gw = Gateway::start(Options {
        acme_extra: format!("cors_origins = [\"{ACME}\", \"https://Portal.Example.com:8443\"]"),
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    let globex = gw.issue("globex-app");
    let before = gw.sim.request_count();

    // Preflight from an allowed origin: 204 from the gateway, nothing relayed.
    let r = gw.send(&support::request(
        "OPTIONS",
        INVOICES,
        &[
            ("Origin", ACME),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        None,
    ));
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(ACME));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert!(r
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("authorization")));
    assert_eq!(r.header("vary"), Some("Origin"));
    assert!(r.header("x-request-id").is_some());
    // Canonical comparison: the configured origin was lower-cased.
    let r = gw.send(&support::request(
        "OPTIONS",
        "/anything/at/all",
        &[
            ("Origin", "https://portal.example.com:8443"),
            ("Access-Control-Request-Method", "PATCH"),
        ],
        None,
    ));
    assert_eq!(r.status, 204, "preflights do not reveal the catalog");
    // Preflight from an unknown origin: refused.
    let r = gw.send(&support::request(
        "OPTIONS",
        INVOICES,
        &[("Origin", OTHER), ("Access-Control-Request-Method", "GET")],
        None,
    ));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "cors.origin_denied")
    );
    assert!(r.header("access-control-allow-origin").is_none());
    assert_eq!(
        gw.sim.request_count(),
        before,
        "no preflight reached Oracle"
    );

    // Actual request from the tenant's origin: relayed, CORS headers on the response, Oracle
    // never sees the Origin.
    let auth = ap.basic();
    let r = gw.get(
        "/__sim/echo/x",
        &[("Authorization", &auth), ("Origin", ACME)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some(ACME));
    assert!(r
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("x-request-id")));
    let echoed = r.json()["headers"].to_string().to_ascii_lowercase();
    assert!(!echoed.contains("\"origin\""), "{echoed}");
    // Without Origin (a server-side client): as before, no CORS headers.
    let r = gw.get_as(&ap, INVOICES);
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    // From an origin nobody allows: refused, and the browser may not read why.
    let r = gw.get(INVOICES, &[("Authorization", &auth), ("Origin", OTHER)]);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "cors.origin_denied")
    );
    assert!(r.header("access-control-allow-origin").is_none());
    // From acme's origin but as a globex caller: that tenant does not allow it.
    let r = gw.get(
        INVOICES,
        &[("x-api-key", &globex.api_key), ("Origin", ACME)],
    );
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "cors.origin_denied")
    );
    // An unauthenticated browser request from an allowed origin can read its 401.
    let r = gw.get(INVOICES, &[("Origin", ACME)]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some(ACME));

    gw.eventually("preflights and refusals are audited", || {
        let recs = gw.audit(&[]);
        recs.iter().filter(|r| r["decision"] == "preflight").count() == 2
            && recs
                .iter()
                .filter(|r| r["reason"] == "cors.origin_denied")
                .count()
                == 3
    });
}

#[test]
fn wildcards_and_malformed_origins_are_configuration_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("c.toml");
    for (origins, want) in [
        ("[\"*\"]", "wildcards and \"null\" are not allowed"),
        ("[\"https://*.example.com\"]", "wildcards"),
        (
            "[\"https://a.example.com/path\"]",
            "scheme://host[:port] only",
        ),
        ("[\"null\"]", "\"null\" are not allowed"),
    ] {
        std::fs::write(
            &cfg,
            format!(
                "[gateway]\nlisten = \"127.0.0.1:1\"\ndatabase = \"x.db\"\n\
                 [tenants.acme]\nupstream = \"https://acme.example.com\"\ncors_origins = {origins}\n\
                 [tenants.acme.upstream_auth]\nmode = \"basic\"\nusername = \"U\"\nsecret = \"pw\"\n\
                 [[endpoint]]\nname = \"e\"\npath = \"/x\"\nmethods = [\"GET\"]\n"
            ),
        )
        .expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpgate"))
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("tenants.acme.cors_origins") && err.contains(want),
            "{origins}: {err}"
        );
    }
}
