//! The relay path end to end: real gateway binary, simulated Oracle, raw HTTP.

mod support;

use support::{Gateway, Options, Schedule, UPSTREAM_USER};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";

#[test]
fn allowed_request_is_relayed_with_the_gateways_credential_only() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let r = gw.get(
        &format!("{INVOICES}?limit=2&onlyData=true"),
        &[
            ("Authorization", &cred.basic()),
            ("Cookie", "JSESSIONID=client-cookie"),
            ("Accept", "application/json"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(body["limit"], 2);
    assert!(body["hasMore"].as_bool().expect("hasMore"));
    assert!(r
        .header("content-type")
        .is_some_and(|v| v.contains("application/vnd.oracle.adf.resourcecollection+json")));

    // Response hygiene: request id, security headers, no backend fingerprints.
    let rid = r.header("x-request-id").expect("x-request-id");
    // `<16 hex>-<16 hex>`: the Unix second, then 96 random bits: nothing about traffic volume.
    assert_eq!(rid.len(), 33, "{rid}");
    assert_eq!(rid.as_bytes()[16], b'-');
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let made = u64::from_str_radix(&rid[..8], 16).expect("hex second");
    assert!(now.abs_diff(made) <= 30, "{rid}: second {made}, now {now}");
    let next = gw.get(INVOICES, &[]); // refused (401): never reaches Oracle
    let next_rid = next.header("x-request-id").expect("x-request-id");
    let random = |id: &str| u128::from_str_radix(&id.replace('-', "")[8..], 16).expect("hex");
    assert!(
        (random(rid) ^ random(next_rid)).count_ones() >= 24,
        "consecutive ids look sequential: {rid} {next_rid}"
    );
    assert_ne!(
        rid[8..16],
        next_rid[8..16],
        "the random part shares no prefix"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("permissions-policy").is_some());
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'; sandbox")
    );
    assert!(r.header("server").is_none());
    assert!(r.header("x-powered-by").is_none());
    assert!(r.header("x-oracle-dms-ecid").is_none());

    // What Oracle saw: our Basic credential for the integration user, the exact target,
    // the upstream's Host, and none of the client's credentials or cookies.
    let seen = gw.sim.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.authenticated_as.as_deref(), Some(UPSTREAM_USER));
    assert_eq!(req.target, format!("{INVOICES}?limit=2&onlyData=true"));
    let header = |n: &str| {
        req.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        header("authorization"),
        vec![support::basic(UPSTREAM_USER, &gw.upstream_password)]
    );
    assert!(header("cookie").is_empty());
    let host = gw.sim.base_url().trim_start_matches("http://").to_string();
    assert_eq!(header("host"), vec![host]);
}

#[test]
fn api_key_client_and_api_key_upstream() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("globex-app");
    let r = gw.get(
        "/fscmRestApi/resources/latest/suppliers/1001",
        &[("x-api-key", &cred.api_key)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("etag").is_some(), "item ETag is relayed");
    let seen = gw.sim.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authenticated_as.as_deref(), Some("api-key"));
    let keys: Vec<&String> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "x-api-key")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        keys,
        vec![&gw.upstream_api_key],
        "only the gateway's upstream key"
    );
    assert!(seen[0].headers.iter().all(|(k, _)| k != "authorization"));
}

#[test]
fn every_authentication_failure_has_its_code_and_nothing_is_relayed() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let target = format!("{INVOICES}/300100");

    let r = gw.get(&target, &[]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.missing"));
    assert!(r
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic")));
    assert_eq!(
        r.json()["error"]["request_id"].as_str(),
        r.header("x-request-id")
    );

    let wrong = support::basic(&cred.username, "not-the-password");
    let r = gw.get(&target, &[("Authorization", &wrong)]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    let unknown = support::basic("nobody.000000", &cred.password);
    let r = gw.get(&target, &[("Authorization", &unknown)]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    let mut forged = cred.api_key.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let r = gw.get(&target, &[("x-api-key", &forged)]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    let r = gw.get(&target, &[("x-api-key", "egk_garbage")]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    // Two credentials at once is ambiguous, even if both are valid.
    let r = gw.get(
        &target,
        &[
            ("Authorization", &cred.basic()),
            ("x-api-key", &cred.api_key),
        ],
    );
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    let r = gw.get(&target, &[("Authorization", "Digest username=\"x\"")]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));

    assert_eq!(
        gw.sim.request_count(),
        0,
        "no denied request reaches Oracle"
    );
}

#[test]
fn catalog_policy_and_method_denials() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");

    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/secretStuff");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "endpoint.unknown")
    );
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices/1/extra/deep");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "endpoint.unknown")
    );

    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/externalBankAccounts");
    assert_eq!((r.status, r.error_code().as_str()), (403, "policy.denied"));
    let r = gw.get_as(&cred, "/hcmRestApi/resources/latest/workers");
    assert_eq!((r.status, r.error_code().as_str()), (403, "policy.denied"));

    // In the catalog but not granted: DELETE on an invoice.
    let auth = cred.basic();
    let r = gw.send(&support::request(
        "DELETE",
        &format!("{INVOICES}/300100"),
        &[("Authorization", &auth)],
        None,
    ));
    assert_eq!((r.status, r.error_code().as_str()), (403, "policy.denied"));
    // Not in the catalog for that endpoint at all.
    let r = gw.send(&support::request(
        "PUT",
        &format!("{INVOICES}/300100"),
        &[("Authorization", &auth)],
        None,
    ));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method.not_allowed")
    );

    // Literal beats parameter: /invoices/describe is its own endpoint (granted by the glob).
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices/describe");
    assert_eq!(r.status, 200, "{}", r.text());

    assert_eq!(
        gw.sim.request_count(),
        1,
        "only the describe call was relayed"
    );
}

#[test]
fn post_bodies_are_relayed_and_oversized_ones_refused() {
    let gw = Gateway::start(Options {
        max_body: 4096,
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let body = br#"{"InvoiceNumber":"ERP-GW-1","InvoiceAmount":125.5,"BusinessUnit":"US1 Business Unit","Supplier":"Lee Supplies"}"#;
    let r = gw.send(&support::request(
        "POST",
        INVOICES,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["InvoiceNumber"], "ERP-GW-1");

    let big = vec![b'x'; 5000];
    let r = gw.send(&support::request(
        "POST",
        INVOICES,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(&big),
    ));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (413, "request.body_too_large")
    );
    assert_eq!(gw.sim.request_count(), 1);

    // Header limits (defaults: 100 fields, 32 KiB): 431, never relayed.
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("x-h{i}"), "v".into())).collect();
    let mut headers: Vec<(&str, &str)> =
        many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    headers.push(("Authorization", &auth));
    let r = gw.send(&support::request("GET", INVOICES, &headers, None));
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (431, "request.headers_too_large")
    );
    let huge = "y".repeat(33 * 1024);
    let r = gw.send(&support::request(
        "GET",
        INVOICES,
        &[("Authorization", &auth), ("x-big", &huge)],
        None,
    ));
    assert_eq!(r.status, 431, "{}", r.text());
    let fine = "y".repeat(16 * 1024);
    let r = gw.send(&support::request(
        "GET",
        INVOICES,
        &[("Authorization", &auth), ("x-big", &fine)],
        None,
    ));
    assert_eq!(r.status, 200, "under the limit");
    assert_eq!(gw.sim.request_count(), 2);
}

#[test]
fn schedule_closed_except_for_exempt_policies() {
    let gw = Gateway::start(Options {
        schedule: Schedule::Closed,
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    let hr = gw.issue("hr-reader");
    let r = gw.get_as(&ap, INVOICES);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "schedule.closed")
    );
    let r = gw.get_as(&hr, "/hcmRestApi/resources/latest/workers");
    assert_eq!(r.status, 200, "schedule-exempt policy: {}", r.text());
    // Exempt from the schedule, not from authentication.
    let r = gw.get("/hcmRestApi/resources/latest/workers", &[]);
    assert_eq!(r.error_code(), "auth.missing");
    assert_eq!(gw.sim.request_count(), 1);
}

#[test]
fn upstream_failures_are_told_apart_from_blocks() {
    let dead = support::free_port();
    let gw = Gateway::start(Options {
        extra_config: format!(
            "[tenants.dead]\nupstream = \"http://127.0.0.1:{dead}\"\n[tenants.dead.upstream_auth]\nmode = \"basic\"\nusername = \"X\"\nsecret = \"dead-password\"\n\n[[policy]]\nname = \"dead\"\nsubjects = [\"account:dead-app\"]\n  [[policy.rule]]\n  endpoints = [\"invoices.collection\"]\n  methods = [\"GET\"]\n"
        ),
        ..Options::default()
    });
    gw.ok(&[
        "account", "create", "--name", "dead-app", "--tenant", "dead",
    ]);
    let dead_cred = gw.issue("dead-app");
    // No secret stored yet for the dead tenant: an operator problem, said as such.
    let r = gw.get_as(&dead_cred, INVOICES);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (502, "upstream.credential_missing")
    );
    gw.ok_stdin(
        &[
            "secret",
            "set",
            "--tenant",
            "dead",
            "--name",
            "dead-password",
        ],
        "pw",
    );
    gw.eventually("secret reaches the gateway", || {
        gw.get_as(&dead_cred, INVOICES).error_code() == "upstream.unavailable"
    });
    let r = gw.get_as(&dead_cred, INVOICES);
    assert_eq!(r.status, 502);
    assert!(r.header("x-request-id").is_some());

    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/__sim/slow?ms=4000");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (504, "upstream.timeout")
    );
}

#[test]
fn oracle_errors_pass_through_unchanged() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, &format!("{INVOICES}/999999999"));
    assert_eq!(r.status, 404, "Oracle's own 404 for a missing item");
    assert!(r.header("x-request-id").is_some());
    let r = gw.get_as(&cred, &format!("{INVOICES}?q=NoSuchField%20%3E%201"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(gw.sim.request_count(), 2);
}

#[test]
fn configured_response_headers_are_stripped_and_framing_ones_cannot_be() {
    let gw = Gateway::start(Options {
        gateway_extra:
            "strip_response_headers = [\"Content-Language\", \"rest-framework-version\"]".into(),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/fscmRestApi/resources/11.13.18.05/invoices?limit=1");
    assert_eq!(r.status, 200);
    assert!(r.header("content-language").is_none());
    assert!(r.header("rest-framework-version").is_none());
    assert!(
        r.header("server").is_none(),
        "the built-in list still applies"
    );
    assert!(r.header("content-type").is_some());
    // Without the setting Oracle's protocol headers pass.
    let plain = Gateway::start(Options::default());
    let cred = plain.issue("ap-sync");
    let r = plain.get_as(&cred, "/fscmRestApi/resources/11.13.18.05/invoices?limit=1");
    assert_eq!(r.header("content-language"), Some("en"));
    assert_eq!(r.header("rest-framework-version"), Some("4"));
    // Headers the gateway needs, or that are not header names, are configuration errors.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    for (bad, says) in [
        ("\"Content-Length\"", "cannot be removed"),
        ("\"bad header\"", "is not a header name"),
    ] {
        std::fs::write(&gw.config, text.replace("\"Content-Language\"", bad)).expect("write");
        let out = gw.cli(&["check"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("gateway.strip_response_headers") && err.contains(says),
            "{err}"
        );
    }
}

/// Pingora retries a request whose pooled upstream connection turned out to be closed (Oracle's
/// load balancer times out idle connections): the retry runs the credential phase again and
/// must carry the gateway's credential too (it was taken by the first try: 500 `internal`).
#[test]
fn a_retry_on_a_fresh_connection_carries_the_credential() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let get = || gw.get_as(&cred, &format!("{INVOICES}?limit=1"));
    let r = get();
    assert_eq!(r.status, 200, "{}", r.text());
    // A pooled connection is now dropped by the "balancer" when the next request arrives.
    gw.sim.drop_reused_connections(true);
    // A connection goes back to Pingora's pool just after its answer: a request that comes
    // sooner opens a fresh one, which the next request then reuses. So ask until a try on a
    // reused connection has been dropped (the second or third request at the latest).
    for attempt in 1.. {
        let (before, heads_before) = (gw.sim.requests().len(), gw.sim.heads_seen());
        let r = get();
        assert_eq!(r.status, 200, "{}", r.text());
        let seen = gw.sim.requests();
        assert_eq!(seen.len(), before + 1, "answered once");
        let last = seen.last().expect("a request");
        assert_eq!(last.authenticated_as.as_deref(), Some(UPSTREAM_USER));
        if gw.sim.heads_seen() > heads_before + 1 {
            // The dropped try reached the sim, and the retry carried the credential.
            break;
        }
        assert!(attempt < 10, "no request was tried on a reused connection");
    }
}
