//! Rate limits from policies: a credential's bucket empties into 429 `ratelimit.exceeded`
//! with `Retry-After`, other credentials keep their own bucket, tokens come back with time,
//! refusals are audited, and a reload keeps every bucket (and lockout) it did not change.

mod support;

use std::time::Duration;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices?limit=1";

#[test]
fn a_credential_over_its_limit_gets_429_with_retry_after() {
    let gw = Gateway::start(Options {
        extra_config: r#"
[[policy]]
name = "metered"
subjects = ["account:metered"]
rate_limit = { per = "credential", requests_per_second = 0.5, burst = 3 }
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["GET"]
"#
        .into(),
        ..Options::default()
    });
    gw.ok(&["account", "create", "--name", "metered", "--tenant", "acme"]);
    let a = gw.issue("metered");
    let b = gw.issue("metered");
    for i in 0..3 {
        let r = gw.get_as(&a, INVOICES);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    let r = gw.get_as(&a, INVOICES);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.error_code(), "ratelimit.exceeded");
    // One token every 2 s: the wait is at most 2 s (less if the burst took a while).
    assert!(
        matches!(r.header("retry-after"), Some("1" | "2")),
        "{:?}",
        r.header("retry-after")
    );
    assert_eq!(
        gw.get_as(&b, INVOICES).status,
        200,
        "another credential, another bucket"
    );
    // Unlimited policies are untouched: ap-sync is not metered.
    let ap = gw.issue("ap-sync");
    for _ in 0..6 {
        assert_eq!(gw.get_as(&ap, INVOICES).status, 200);
    }
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(gw.get_as(&a, INVOICES).status, 200, "a token came back");
    assert_eq!(gw.get_as(&a, INVOICES).status, 429);
    gw.eventually("refusals are audited", || {
        gw.audit(&["--actor", "metered"])
            .iter()
            .filter(|r| r["reason"] == "ratelimit.exceeded")
            .count()
            == 2
    });
}

const METERED: &str = r#"
[[policy]]
name = "metered"
subjects = ["account:metered"]
rate_limit = { per = "credential", requests_per_second = 0.01, burst = 2 }
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["GET"]
"#;

fn count(gw: &Gateway, what: &str) -> usize {
    gw.log_text().matches(what).count()
}

/// Writes `text` as the configuration, sends SIGHUP and waits until it was applied.
fn reload_with(gw: &Gateway, text: &str) {
    let before = count(gw, "configuration reloaded");
    std::fs::write(&gw.config, text).expect("write config");
    let pid = gw.pid().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -HUP failed");
    gw.eventually("the reload is applied", || {
        count(gw, "configuration reloaded") > before
    });
}

#[test]
fn a_reload_keeps_unchanged_limits_and_lockouts_and_applies_changed_ones() {
    let gw = Gateway::start(Options {
        extra_config: METERED.into(),
        gateway_extra: "trusted_proxies = [\"127.0.0.1\"]\ntoken_max_failures = 2".into(),
        ..Options::default()
    });
    gw.ok(&["account", "create", "--name", "metered", "--tenant", "acme"]);
    let a = gw.issue("metered");
    let ap = gw.issue("ap-sync");
    for i in 0..2 {
        assert_eq!(gw.get_as(&a, INVOICES).status, 200, "request {i}");
    }
    assert_eq!(gw.get_as(&a, INVOICES).error_code(), "ratelimit.exceeded");
    // Lock one client address out with two wrong secrets.
    let from = |client: &str, auth: &str| {
        gw.get(
            INVOICES,
            &[("Authorization", auth), ("X-Forwarded-For", client)],
        )
    };
    let wrong = support::basic(&ap.username, "not-the-password");
    assert_eq!(from("198.51.100.7", &wrong).status, 401);
    assert_eq!(from("198.51.100.7", &wrong).error_code(), "auth.locked");

    // A reload that changes something else: the bucket stays empty, the lock stays.
    let original = std::fs::read_to_string(&gw.config).expect("config");
    let unrelated = format!(
        "{original}\n[[endpoint]]\nname = \"unrelated.added\"\npath = \"/unrelated/added\"\nmethods = [\"GET\"]\n"
    );
    reload_with(&gw, &unrelated);
    let r = gw.get_as(&a, INVOICES);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (429, "ratelimit.exceeded"),
        "an unchanged limit keeps its bucket across a reload"
    );
    let hr = gw.issue("hr-reader");
    assert_eq!(
        from("198.51.100.7", &hr.basic()).error_code(),
        "auth.locked",
        "lockouts survive a reload"
    );

    // A reload that changes the limit: it takes effect (a full bucket of the new size).
    let raised = unrelated.replace("burst = 2 }", "burst = 4 }");
    assert_ne!(raised, unrelated);
    reload_with(&gw, &raised);
    for i in 0..4 {
        let r = gw.get_as(&a, INVOICES);
        assert_eq!(
            r.status,
            200,
            "request {i} under the raised burst: {}",
            r.text()
        );
    }
    assert_eq!(gw.get_as(&a, INVOICES).error_code(), "ratelimit.exceeded");
}
