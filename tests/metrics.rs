//! Prometheus metrics on their own listener: per-decision counters match the requests made,
//! histograms count them, scrape-time state (audit, snapshot version, kill switch) is live,
//! and the listener keeps answering while the kill switch blocks the relay.

mod support;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices?limit=1";

fn scrape(addr: &str) -> String {
    let sock: std::net::SocketAddr = addr.parse().expect("addr");
    let r =
        support::http::raw(sock, &support::request("GET", "/metrics", &[], None)).expect("scrape");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    r.text()
}

/// The value of the sample whose line starts with `series ` (exact series, labels included).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn counters_follow_requests_and_state_is_live() {
    let port = support::free_port();
    let maddr = format!("127.0.0.1:{port}");
    let gw = Gateway::start(Options {
        gateway_extra: format!("metrics_listen = \"{maddr}\""),
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    let hr = gw.issue("hr-reader");
    assert_eq!(gw.get_as(&ap, INVOICES).status, 200);
    assert_eq!(gw.get_as(&ap, INVOICES).status, 200);
    assert_eq!(gw.get(INVOICES, &[]).error_code(), "auth.missing");
    assert_eq!(gw.get_as(&hr, INVOICES).error_code(), "policy.denied");
    assert_eq!(
        gw.get_as(&ap, "/fscmRestApi/resources/11.13.18.05/nothing")
            .error_code(),
        "endpoint.unknown"
    );

    // Metrics are recorded in the logging phase, after the response went out: wait for all
    // five before reading them.
    let mut m = String::new();
    gw.eventually("the five requests are counted", || {
        m = scrape(&maddr);
        value(&m, "erpgate_gateway_overhead_seconds_count") == Some(5.0)
            && value(
                &m,
                r#"erpgate_requests_total{decision="relayed",reason="none"}"#,
            )
            .is_some()
    });
    let v = |s: &str| value(&m, s);
    assert_eq!(
        v(r#"erpgate_requests_total{decision="relayed",reason="none"}"#),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        v(r#"erpgate_requests_total{decision="denied",reason="auth.missing"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"erpgate_requests_total{decision="denied",reason="policy.denied"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"erpgate_requests_total{decision="denied",reason="endpoint.unknown"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"erpgate_requests_total{decision="denied",reason="killswitch.on"}"#),
        Some(0.0),
        "pre-registered"
    );
    assert_eq!(v("erpgate_upstream_seconds_count"), Some(2.0));
    assert_eq!(v("erpgate_gateway_overhead_seconds_count"), Some(5.0));
    // ap-sync three times, hr-reader once: each credential verified once (argon2), then
    // confirmed from the cache.
    assert_eq!(v("erpgate_auth_cache_misses_total"), Some(2.0));
    assert_eq!(v("erpgate_auth_cache_hits_total"), Some(2.0));
    assert_eq!(v("erpgate_snapshot_version"), Some(1.0));
    assert_eq!(v("erpgate_killswitch"), Some(0.0));
    assert!(v("erpgate_audit_queue_depth").is_some());
    gw.eventually("audit records are counted", || {
        value(&scrape(&maddr), "erpgate_audit_records_written_total") == Some(5.0)
    });

    // The kill switch blocks the relay, not the metrics.
    gw.ok(&["killswitch", "on"]);
    gw.eventually("the kill switch shows", || {
        value(&scrape(&maddr), "erpgate_killswitch") == Some(1.0)
    });
    assert_eq!(gw.get_as(&ap, INVOICES).error_code(), "killswitch.on");
    gw.eventually("the kill-switch refusal is counted", || {
        value(
            &scrape(&maddr),
            r#"erpgate_requests_total{decision="denied",reason="killswitch.on"}"#,
        ) == Some(1.0)
    });

    // Reloads are counted and bump the snapshot version.
    let pid = gw.pid().expect("pid").to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    gw.eventually("the reload is counted", || {
        let m = scrape(&maddr);
        value(&m, r#"erpgate_reloads_total{result="ok"}"#) == Some(1.0)
            && value(&m, "erpgate_snapshot_version") == Some(2.0)
    });

    // Which build serves: the package version and the commit it was built from.
    let m = scrape(&maddr);
    let build = m
        .lines()
        .find(|l| l.starts_with("erpgate_build_info{"))
        .unwrap_or_else(|| panic!("no erpgate_build_info in {m}"));
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.ends_with(" 1"),
        "{build}"
    );
    let commit = build
        .split("commit=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{build}"
    );

    let sock: std::net::SocketAddr = maddr.parse().expect("addr");
    let other =
        support::http::raw(sock, &support::request("GET", "/admin", &[], None)).expect("404");
    assert_eq!(other.status, 404);
    let post = support::http::raw(sock, &support::request("POST", "/metrics", &[], Some(b"x")))
        .expect("405");
    assert_eq!(post.status, 405);
}

#[test]
fn token_flows_are_counted() {
    let port = support::free_port();
    let maddr = format!("127.0.0.1:{port}");
    let gw = Gateway::start(Options {
        gateway_extra: format!("metrics_listen = \"{maddr}\""),
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    for _ in 0..2 {
        let r = gw.send(&support::request(
            "POST",
            "/gateway/token",
            &[("Authorization", &ap.basic())],
            Some(b""),
        ));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let mut m = String::new();
    gw.eventually("two issued tokens are counted", || {
        m = scrape(&maddr);
        value(
            &m,
            r#"erpgate_requests_total{decision="token_issued",reason="none"}"#,
        ) == Some(2.0)
    });
    // No tenant here uses jwt or token mode, and no Oracle token arrived.
    for series in [
        "erpgate_jwt_inbound_verifications_total",
        "erpgate_jwt_assertions_signed_total",
        "erpgate_upstream_token_fetches_total",
    ] {
        assert_eq!(value(&m, series), Some(0.0), "{series}");
    }
}

/// Every `name{...}` series in the exposition.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}{{");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn labelled_series_name_tenants_and_endpoints_never_raw_paths_and_show_oracles_401s() {
    let port = support::free_port();
    let maddr = format!("127.0.0.1:{port}");
    let gw = Gateway::start(Options {
        gateway_extra: format!("metrics_listen = \"{maddr}\""),
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    // Fifty distinct item ids, a few unknown paths, odd methods: a handful of series.
    // (Relayed whatever Oracle answers: most of these ids do not exist, a 404 from Oracle.)
    for i in 0..50 {
        let path = format!("/fscmRestApi/resources/11.13.18.05/invoices/{i}");
        let r = gw.get_as(&ap, &path);
        assert!(r.status == 200 || r.status == 404, "{path}: {}", r.status);
        assert!(r.header("x-request-id").is_some());
    }
    for i in 0..10 {
        let r = gw.get_as(
            &ap,
            &format!("/fscmRestApi/resources/11.13.18.05/nothing-{i}"),
        );
        assert_eq!(r.error_code(), "endpoint.unknown");
    }
    let odd = gw.send(&support::request(
        "BREW",
        "/fscmRestApi/resources/11.13.18.05/invoices",
        &[("Authorization", &ap.basic())],
        None,
    ));
    assert!(odd.status >= 400);
    let mut m = String::new();
    gw.eventually("61 requests are counted", || {
        m = scrape(&maddr);
        series(&m, "erpgate_http_requests_total")
            .iter()
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            == 61.0
    });
    let sum = |name: &str, having: &str| -> f64 {
        series(&m, name)
            .iter()
            .filter(|l| l.contains(having))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(
        sum(
            "erpgate_http_requests_total",
            r#"{endpoint="invoices.item",method="GET",reason="none","#
        ),
        50.0,
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"erpgate_http_requests_total{endpoint="-",method="GET",reason="endpoint.unknown",status_class="4xx",tenant="acme"}"#
        ),
        Some(10.0),
        "{m}"
    );
    let all = series(&m, "erpgate_http_requests_total");
    assert!(all.len() <= 5, "bounded: {all:#?}");
    assert!(
        all.iter()
            .all(|l| !l.contains("nothing-") && !l.contains("invoices/")),
        "no raw path in a label: {all:#?}"
    );
    assert!(
        all.iter().any(|l| l.contains("method=\"other\"")),
        "{all:#?}"
    );
    assert_eq!(
        value(
            &m,
            r#"erpgate_http_request_duration_seconds_count{endpoint="invoices.item",tenant="acme"}"#
        ),
        Some(50.0)
    );
    assert_eq!(
        sum("erpgate_upstream_responses_total", r#"tenant="acme""#),
        50.0,
        "{m}"
    );

    // The integration password expires at Oracle: its 401s show by tenant.
    gw.ok_stdin(
        &[
            "secret",
            "set",
            "--tenant",
            "acme",
            "--name",
            "fin-integration-password",
        ],
        "expired-at-oracle",
    );
    gw.eventually("Oracle refuses the old password", || {
        gw.get_as(&ap, "/fscmRestApi/resources/11.13.18.05/invoices")
            .status
            != 200
    });
    gw.eventually("the 401s are counted", || {
        value(
            &scrape(&maddr),
            r#"erpgate_upstream_responses_total{status="401",tenant="acme"}"#,
        )
        .is_some_and(|n| n >= 1.0)
    });
}
