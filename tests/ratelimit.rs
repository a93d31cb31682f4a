//! Rate limits from policies: a credential's bucket empties into 429 `ratelimit.exceeded`
//! with `Retry-After`, other credentials keep their own bucket, tokens come back with time,
//! and refusals are audited.

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
