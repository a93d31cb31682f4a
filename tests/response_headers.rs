//! What leaves the gateway in response headers, through the real binary and the simulated
//! Oracle (which, like Fusion, sets `JSESSIONID` and an OAM SSO cookie, `X-ORACLE-DMS-CONTEXT`,
//! a Basic challenge naming the integration user on 401, and a `Location` naming its own host
//! on 201): only the allowlist passes, `Location` names the gateway, and the allowlist can be
//! extended only with headers that are safe to pass.

mod support;

use support::{basic, request, Gateway, Options, UPSTREAM_USER};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";
const PUBLIC: &str = "https://erp-gw.example.com";

/// Headers that must never reach a caller, by (lowercase) name.
const NEVER: [&str; 6] = [
    "set-cookie",
    "www-authenticate",
    "x-oracle-dms-context",
    "x-oracle-dms-ecid",
    "server",
    "x-powered-by",
];

fn assert_clean(r: &support::Response, what: &str) {
    for (k, v) in &r.headers {
        let k = k.to_ascii_lowercase();
        assert!(
            !NEVER.contains(&k.as_str()),
            "{what}: {k}: {v} reached the caller"
        );
        assert!(
            !v.contains("JSESSIONID") && !v.contains("OAMAuthn"),
            "{what}: {k}: {v}"
        );
    }
}

/// POST a new invoice as `auth`: Oracle answers 201 with `Location`.
fn create_invoice(gw: &Gateway, auth: &str) -> support::Response {
    let r = gw.send(&request(
        "POST",
        INVOICES,
        &[
            ("Authorization", auth),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"InvoiceNumber":"INV-HDR-1","InvoiceAmount":10}"#),
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    r
}

#[test]
fn oracle_sessions_challenges_and_diagnostics_stay_behind_the_gateway() {
    let gw = Gateway::start(Options {
        // Granted to ap-sync by the `sim.*` diagnostics rule.
        extra_config: "[[endpoint]]\nname = \"sim.status\"\npath = \"/__sim/status/{code}\"\nmethods = [\"GET\"]\n".into(),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let sim = gw.sim.base_url();

    // Oracle really sends them (asked directly, as the gateway asks).
    let auth = basic(UPSTREAM_USER, &gw.upstream_password);
    let raw = format!(
        "GET {INVOICES}?limit=1 HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        gw.sim.addr
    );
    let direct = support::http::raw(gw.sim.addr, raw.as_bytes()).expect("direct");
    for h in ["set-cookie", "x-oracle-dms-context", "x-sim-trace"] {
        assert!(direct.header(h).is_some(), "the simulated Oracle sends {h}");
    }

    // Through the gateway: the allowlist passes Oracle's protocol headers, nothing else.
    let r = gw.get_as(&cred, &format!("{INVOICES}?limit=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_clean(&r, "200");
    assert!(r.header("x-sim-trace").is_none(), "not on the allowlist");
    assert!(r.header("content-type").is_some());
    assert_eq!(r.header("rest-framework-version"), Some("4"));
    assert_eq!(r.header("content-language"), Some("en"));
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // Oracle's 401 challenge names the integration user: the caller never sees it.
    let r = gw.get_as(&cred, "/__sim/status/401");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_clean(&r, "401");
    assert!(!r.text().contains(UPSTREAM_USER));

    // 201: without a configured public origin, `Location` becomes a path on the gateway
    // (resolved by the client against the URL it called), never Oracle's host.
    let r = create_invoice(&gw, &cred.basic());
    assert_clean(&r, "201");
    let location = r.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{INVOICES}/3001")),
        "{location}"
    );
    assert!(!location.contains(&sim) && !location.contains("127.0.0.1"));
}

#[test]
fn location_names_the_public_origin_and_only_safe_headers_can_be_allowed() {
    let gw = Gateway::start(Options {
        gateway_extra: format!(
            "public_base_url = \"{PUBLIC}\"\nallow_response_headers = [\"X-Sim-Trace\"]"
        ),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let r = create_invoice(&gw, &cred.basic());
    assert_clean(&r, "201");
    let location = r.header("location").expect("location");
    assert!(
        location.starts_with(&format!("{PUBLIC}{INVOICES}/3001")),
        "{location}"
    );
    // The operator's extension passes exactly what it names.
    let r = gw.get_as(&cred, &format!("{INVOICES}?limit=1"));
    assert!(r.header("x-sim-trace").is_some_and(|v| v.starts_with("t-")));
    assert_clean(&r, "200 with an extended allowlist");

    // What may never be allowed, named precisely by `check`.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    for (setting, says) in [
        (
            "allow_response_headers = [\"Set-Cookie\"]",
            "\"Set-Cookie\" carries Oracle's session or authentication",
        ),
        (
            "allow_response_headers = [\"WWW-Authenticate\"]",
            "\"WWW-Authenticate\" carries Oracle's session or authentication",
        ),
        (
            "allow_response_headers = [\"X-ORACLE-DMS-CONTEXT\"]",
            "\"X-ORACLE-DMS-CONTEXT\" identifies Oracle's servers",
        ),
        (
            "allow_response_headers = [\"Connection\"]",
            "\"Connection\" is hop-by-hop",
        ),
        (
            "allow_response_headers = [\"Access-Control-Allow-Origin\"]",
            "is set by the gateway itself",
        ),
        ("allow_response_headers = [\"bad header\"]", "is not a header name"),
        (
            "allow_response_headers = [\"X-Sim-Trace\"]\nstrip_response_headers = [\"x-sim-trace\"]",
            "\"x-sim-trace\" is also in gateway.allow_response_headers",
        ),
    ] {
        let variant = text.replace("allow_response_headers = [\"X-Sim-Trace\"]", setting);
        std::fs::write(&gw.config, variant).expect("write");
        let out = gw.cli(&["check"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(err.contains(says), "{setting}: {err}");
    }
    std::fs::write(&gw.config, text).expect("restore");
}
