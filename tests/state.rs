//! Store changes reaching a running gateway: revocation, suspension, kill switch; header
//! stripping as Oracle sees it; and no secret anywhere a secret must not be.

mod support;

use std::time::{Duration, Instant};

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

#[test]
fn revocation_and_suspension_apply_to_the_next_request_within_a_second() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let spare = gw.issue("ap-sync");
    // Warm the verified-credential cache.
    assert_eq!(gw.get_as(&cred, INVOICES).status, 200);
    assert_eq!(
        gw.get(INVOICES, &[("x-api-key", &cred.api_key)]).status,
        200
    );

    gw.ok(&["credential", "revoke", &cred.id]);
    let t = Instant::now();
    gw.eventually("revocation", || gw.get_as(&cred, INVOICES).status == 401);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(
        gw.get_as(&cred, INVOICES).error_code(),
        "credential.revoked"
    );
    let r = gw.get(INVOICES, &[("x-api-key", &cred.api_key)]);
    assert_eq!(r.error_code(), "credential.revoked");
    // A revoked credential with the wrong password learns nothing about revocation.
    let wrong = support::basic(&cred.username, "wrong");
    assert_eq!(
        gw.get(INVOICES, &[("Authorization", &wrong)]).error_code(),
        "auth.invalid"
    );
    // Other credentials of the account still work.
    assert_eq!(gw.get_as(&spare, INVOICES).status, 200);

    gw.ok(&["account", "suspend", "ap-sync"]);
    let t = Instant::now();
    gw.eventually("suspension", || gw.get_as(&spare, INVOICES).status == 403);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    let r = gw.get_as(&spare, INVOICES);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (403, "account.suspended")
    );

    gw.ok(&["account", "resume", "ap-sync"]);
    gw.eventually("resume", || gw.get_as(&spare, INVOICES).status == 200);
    let listed = gw.ok(&["credential", "list", "--json"]);
    assert!(listed.contains("\"revoked\""));
    assert!(!listed.contains(&cred.password) && !listed.contains(&cred.api_key));
}

#[test]
fn kill_switch_blocks_public_traffic_and_survives_restart() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.get_as(&cred, INVOICES).status, 200);

    gw.ok(&["killswitch", "on"]);
    let t = Instant::now();
    gw.eventually("kill switch on", || {
        gw.get_as(&cred, INVOICES).status == 503
    });
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    // From here on nothing may reach Oracle.
    let before = gw.sim.request_count();
    let r = gw.get_as(&cred, INVOICES);
    assert_eq!(r.error_code(), "killswitch.on");
    assert!(r.header("retry-after").is_some());
    assert!(gw.ok(&["killswitch", "status"]).contains("ON"));

    // Persisted: a restarted gateway is still blocked.
    assert_eq!(gw.stop(), Some(0), "graceful exit");
    gw.spawn();
    assert_eq!(gw.get_as(&cred, INVOICES).error_code(), "killswitch.on");
    assert_eq!(gw.sim.request_count(), before, "nothing relayed while on");

    gw.ok(&["killswitch", "off"]);
    gw.eventually("kill switch off", || {
        gw.get_as(&cred, INVOICES).status == 200
    });
}

#[test]
fn oracle_never_sees_client_credentials_hop_by_hop_or_forwarding_headers() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let raw = format!(
        "GET /__sim/echo/x HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: {auth}\r\n\
         Cookie: ORA_FND_SESSION=stolen\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         X-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\n\
         Connection: close, X-Hop-Secret\r\nX-Hop-Secret: 1\r\nKeep-Alive: timeout=5\r\n\
         TE: trailers\r\nREST-Framework-Version: 4\r\n\r\n"
    );
    let r = gw.send(raw.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = gw.sim.requests();
    let names: Vec<&str> = seen[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    for banned in [
        "cookie",
        "proxy-authorization",
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "x-hop-secret",
        "keep-alive",
        "te",
    ] {
        assert!(
            !names.contains(&banned),
            "{banned} reached Oracle: {names:?}"
        );
    }
    assert!(
        names.contains(&"rest-framework-version"),
        "ordinary headers pass: {names:?}"
    );
    let auths: Vec<&String> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        auths,
        vec![&support::basic(
            support::UPSTREAM_USER,
            &gw.upstream_password
        )]
    );
    let hosts: Vec<&String> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "host")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(hosts.len(), 1);
    assert_ne!(hosts[0], "attacker.example");
}

fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_string(),
        b64.encode(secret),
        b64.encode(format!("{}:{secret}", support::UPSTREAM_USER)),
        secret.replace('-', "%2D"),
    ]
}

#[test]
fn secrets_never_reach_responses_logs_or_the_database_in_clear() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let globex = gw.issue("globex-app");
    let mut bodies = String::new();
    let mut collect = |r: support::Response| {
        bodies.push_str(&format!("{:?}{}", r.headers, r.text()));
    };
    collect(gw.get_as(&cred, INVOICES));
    collect(gw.get(INVOICES, &[("x-api-key", &globex.api_key)]));
    collect(gw.get_as(&cred, "/__sim/echo/x"));
    collect(gw.get(
        INVOICES,
        &[("Authorization", &support::basic(&cred.username, "bad"))],
    ));
    collect(gw.get_as(&cred, "/fscmRestApi/resources/latest/externalBankAccounts"));
    collect(gw.get_as(&cred, "/__sim/slow?ms=3000"));
    // Gateway tokens: issued, used, refused, revoked. The token is in the issuing response
    // only (that body is not collected); everywhere else it must be absent.
    let issued = gw.send(&support::request(
        "POST",
        "/gateway/token",
        &[("Authorization", &cred.basic())],
        Some(b""),
    ));
    assert_eq!(issued.status, 200);
    let token = issued.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {token}");
    collect(gw.get(INVOICES, &[("Authorization", &bearer)]));
    collect(gw.send(&support::request(
        "POST",
        "/gateway/token",
        &[("Authorization", &support::basic(&cred.username, "bad"))],
        Some(b""),
    )));
    gw.ok(&["token", "revoke", &token]);
    let last = gw.get(INVOICES, &[("Authorization", &bearer)]);
    let rid = last.header("x-request-id").expect("request id").to_string();
    collect(last);
    // Every record is on disk once the last request's is (one writer, in order).
    gw.audit_record(&rid);

    let log = gw.log_text();
    let mut db = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", gw.db_path().display());
        if let Ok(b) = std::fs::read(&p) {
            db.extend_from_slice(&b);
        }
    }
    let db = String::from_utf8_lossy(&db).into_owned();
    let secrets = [
        ("upstream password", gw.upstream_password.clone()),
        ("upstream api key", gw.upstream_api_key.clone()),
        ("client password", cred.password.clone()),
        ("client api key", cred.api_key.clone()),
        ("globex api key", globex.api_key.clone()),
        ("master key", gw.app_key.clone()),
        ("gateway token", token.clone()),
        ("gateway token secret part", token[21..].to_string()),
    ];
    for (what, secret) in &secrets {
        for form in forms(secret) {
            assert!(!log.contains(&form), "{what} in the gateway log");
            assert!(!db.contains(&form), "{what} in the database files");
        }
    }
    for (what, secret) in &secrets {
        for form in forms(secret) {
            assert!(!bodies.contains(&form), "{what} in a response");
        }
    }
}
