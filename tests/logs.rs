//! No log level writes a secret or an unmasked body: the gateway runs at every `ERPGATE_LOG`
//! level through relayed, denied, malformed and failed requests carrying canaries, and the
//! log is searched for each canary in raw and encoded forms.

mod support;

use base64::Engine as _;
use support::{Gateway, Options};

const QUERY: &str = "?limit=3&access_token=CANARY-QUERY-TOKEN&password=CANARY-QUERY-PASSWORD";

fn options() -> Options {
    let dead = support::free_port();
    Options {
        // The canary query parameters are not Oracle framework parameters: relayed, so the
        // test can show they never reach a log line.
        acme_extra: "unknown_query_parameters = \"allow\"".into(),
        extra_config: format!(
            r#"
[[tenants.acme.redact]]
path = "**.BankAccountNumber"
action = "mask"

[[policy]]
name = "bank-read"
subjects = ["account:ap-sync"]
  [[policy.rule]]
  endpoints = ["externalBankAccounts.collection"]
  methods = ["GET"]

[tenants.dead]
upstream = "http://127.0.0.1:{dead}"
[tenants.dead.upstream_auth]
mode = "basic"
username = "X"
secret = "dead-password"

[[policy]]
name = "dead"
subjects = ["account:dead-app"]
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["GET"]
"#
        ),
        ..Options::default()
    }
}

/// Every form a secret could take in a log line.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_string(),
        b64.encode(secret),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ]
}

#[test]
fn no_level_logs_a_secret_or_an_unmasked_body() {
    for level in ["error", "warn", "info", "debug", "trace"] {
        let mut gw = Gateway::start(options());
        gw.stop();
        let from = gw.log_text().len();
        gw.serve_env.push(("ERPGATE_LOG".into(), level.into()));
        gw.spawn();
        gw.ok(&[
            "account", "create", "--name", "dead-app", "--tenant", "dead",
        ]);
        gw.ok_stdin(
            &[
                "secret",
                "set",
                "--tenant",
                "dead",
                "--name",
                "dead-password",
            ],
            "CANARY-DEAD-UPSTREAM-PASSWORD",
        );
        let cred = gw.issue("ap-sync");
        let dead = gw.issue("dead-app");

        // Relayed, with a masked field in Oracle's answer.
        let r = gw.get_as(
            &cred,
            &format!("/fscmRestApi/resources/latest/externalBankAccounts{QUERY}"),
        );
        assert_eq!(r.status, 200, "{level}: {}", r.text());
        let unmasked: Vec<String> = gw
            .sim
            .unmasked_values("externalBankAccounts", "BankAccountNumber")
            .into_iter()
            .take(3)
            .collect();
        assert_eq!(unmasked.len(), 3);
        for v in &unmasked {
            assert!(
                !r.text().contains(v.as_str()),
                "{level}: unmasked in the response"
            );
        }
        // Denied, malformed, and failed upstream (the path Pingora logs "Fail to proxy" on).
        let r = gw.get_as(
            &cred,
            &format!("/fscmRestApi/resources/latest/nosuch{QUERY}"),
        );
        assert_eq!(r.status, 404, "{level}");
        let raw = format!(
            "GET /fscmRestApi/resources/latest/invoices{QUERY} HTTP/1.1\r\nAuthorization: {}\r\nBad Header\r\n\r\n",
            cred.basic()
        );
        let r = support::http::raw(gw.addr, raw.as_bytes()).expect("malformed answered");
        assert_eq!(r.status, 400, "{level}");
        gw.eventually("the dead tenant's secret reaches the gateway", || {
            gw.get_as(
                &dead,
                &format!("/fscmRestApi/resources/latest/invoices{QUERY}"),
            )
            .error_code()
                == "upstream.unavailable"
        });
        let rid = r.header("x-request-id").expect("rid").to_string();
        gw.audit_record(&rid);
        gw.stop();

        let log = gw.log_text();
        let mut canaries = vec![
            "CANARY-QUERY-TOKEN".to_string(),
            "CANARY-QUERY-PASSWORD".to_string(),
            "CANARY-DEAD-UPSTREAM-PASSWORD".to_string(),
            cred.password.clone(),
            format!("{}:{}", cred.username, cred.password),
            gw.upstream_password.clone(),
            format!("{}:{}", support::UPSTREAM_USER, gw.upstream_password),
            dead.password.clone(),
        ];
        canaries.extend(unmasked);
        for c in &canaries {
            for form in forms(c) {
                assert!(
                    !log.contains(&form),
                    "{level}: the log holds a secret or an unmasked value ({form}):\n{log}"
                );
            }
        }
        let log = &log[from..];
        // The level took effect: erpgate's lines are there at info and below, and at debug the
        // relayed request's line too (so the search above looked at a real log).
        if matches!(level, "info" | "debug" | "trace") {
            assert!(log.contains("erpgate serving"), "{level}: {log}");
        }
        if matches!(level, "debug" | "trace") {
            assert!(log.contains("decision=relayed"), "{level}: {log}");
        }
        if level == "error" {
            assert!(!log.contains(" INFO "), "{level}: {log}");
        }
    }
}
