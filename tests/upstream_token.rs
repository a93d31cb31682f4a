//! Upstream auth mode `token` through the real binary: the gateway trades the stored
//! password for a bearer token at the simulated Oracle's `/fscmRestApi/tokenrelay`, reuses it,
//! never stampedes the endpoint, and refreshes once when Oracle refuses the token.

mod support;

use std::sync::Arc;

use support::{request, Gateway, Options, UPSTREAM_USER};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn start() -> Gateway {
    let gw = Gateway::start(Options {
        extra_config: r#"
[tenants.umbrella]
upstream = "{sim}"
[tenants.umbrella.upstream_auth]
mode = "token"
username = "FIN_INTEGRATION"
secret = "umbrella-password"

[[policy]]
name = "umbrella-ap"
subjects = ["account:umbrella-app"]
  [[policy.rule]]
  endpoints = ["invoices.*"]
  methods = ["GET", "POST"]
"#
        .into(),
        ..Options::default()
    });
    gw.ok(&[
        "account",
        "create",
        "--name",
        "umbrella-app",
        "--tenant",
        "umbrella",
    ]);
    let pw = gw.upstream_password.clone();
    gw.ok_stdin(
        &[
            "secret",
            "set",
            "--tenant",
            "umbrella",
            "--name",
            "umbrella-password",
        ],
        &pw,
    );
    gw
}

fn last_upstream_authorization(gw: &Gateway) -> String {
    gw.sim
        .requests()
        .last()
        .and_then(|q| {
            q.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
        })
        .expect("upstream Authorization")
}

#[test]
fn a_token_is_fetched_once_and_reused() {
    let gw = start();
    let cred = gw.issue("umbrella-app");
    let mut rid = String::new();
    for _ in 0..5 {
        let r = gw.get_as(&cred, &format!("{V}/invoices"));
        assert_eq!(r.status, 200, "{}\n{}", r.text(), gw.log_text());
        rid = r.header("x-request-id").expect("request id").to_string();
    }
    assert_eq!(gw.sim_relay.issued(), 1, "one token for five requests");
    let auth = last_upstream_authorization(&gw);
    assert!(auth.starts_with("Bearer simrelay-"), "{auth}");
    assert_eq!(
        gw.sim
            .requests()
            .last()
            .and_then(|q| q.authenticated_as.clone())
            .as_deref(),
        Some(UPSTREAM_USER)
    );
    // The token endpoint call carried the stored password, never the client's credential.
    let relay = gw
        .sim
        .requests()
        .into_iter()
        .find(|q| q.target == "/fscmRestApi/tokenrelay")
        .expect("token endpoint called");
    assert_eq!(relay.authenticated_as.as_deref(), Some(UPSTREAM_USER));
    // The upstream token is never stored or logged.
    let token = auth.trim_start_matches("Bearer ");
    gw.audit_record(&rid);
    for bytes in [
        std::fs::read(gw.db_path()).unwrap_or_default(),
        std::fs::read(gw.db_path().with_extension("db-wal")).unwrap_or_default(),
        gw.log_text().into_bytes(),
    ] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[test]
fn concurrent_requests_do_not_stampede_the_token_endpoint() {
    let gw = Arc::new(start());
    let cred = gw.issue("umbrella-app");
    let mut threads = Vec::new();
    for _ in 0..16 {
        let (gw, cred) = (gw.clone(), cred.clone());
        threads.push(std::thread::spawn(move || {
            gw.get_as(&cred, &format!("{V}/invoices")).status
        }));
    }
    for t in threads {
        assert_eq!(t.join().expect("thread"), 200);
    }
    assert_eq!(
        gw.sim_relay.issued(),
        1,
        "16 concurrent requests, one token fetch"
    );
}

#[test]
fn a_refused_token_is_refreshed_once_and_the_request_retried() {
    let gw = start();
    let cred = gw.issue("umbrella-app");
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    let first = last_upstream_authorization(&gw);
    // Oracle invalidates every token.
    gw.sim_relay.revoke_all();
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!(r.status, 200, "retried transparently: {}", r.text());
    assert_eq!(gw.sim_relay.issued(), 2);
    assert_ne!(last_upstream_authorization(&gw), first);
    // A request with a body is not repeated: Oracle's 401 goes back, and the next request
    // fetches a fresh token.
    gw.sim_relay.revoke_all();
    let body = br#"{"InvoiceNumber":"T-1","InvoiceAmount":1}"#;
    let auth = cred.basic();
    let r = gw.send(&request(
        "POST",
        &format!("{V}/invoices"),
        &[
            ("Authorization", &auth),
            (
                "Content-Type",
                "application/vnd.oracle.adf.resourceitem+json",
            ),
        ],
        Some(body),
    ));
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        gw.sim_relay.issued(),
        2,
        "no retry for a request with a body"
    );
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    assert_eq!(gw.sim_relay.issued(), 3);
}

#[test]
fn a_token_endpoint_refusal_is_an_upstream_failure_not_a_leak() {
    let gw = start();
    gw.ok_stdin(
        &[
            "secret",
            "set",
            "--tenant",
            "umbrella",
            "--name",
            "umbrella-password",
        ],
        "canary-wrong-password",
    );
    let cred = gw.issue("umbrella-app");
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (502, "upstream.unavailable")
    );
    assert!(!r.text().contains("canary-wrong-password"));
    assert!(!gw.log_text().contains("canary-wrong-password"));
    let rid = r.header("x-request-id").expect("rid").to_string();
    gw.eventually("the failure's record", || {
        gw.audit(&["--request-id", &rid])
            .first()
            .is_some_and(|rec| rec["detail"] == "token_endpoint_failed")
    });
}
