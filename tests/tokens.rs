//! Gateway tokens through the real binary: `POST /gateway/token` issues a short-lived bearer
//! token for a proven credential set; the relay accepts it; revocation (of the token, its
//! credential set, or its account) takes it down; failed attempts are slowed and locked out;
//! every attempt is audited without the token.

mod support;

use std::time::{Duration, Instant};

use support::{basic, request, Gateway, Options, UPSTREAM_USER};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn start() -> Gateway {
    Gateway::start(Options {
        gateway_extra:
            "token_ttl_seconds = 600\ntoken_max_failures = 3\ntoken_lockout_seconds = 60".into(),
        ..Options::default()
    })
}

fn post_token(gw: &Gateway, headers: &[(&str, &str)]) -> support::Response {
    gw.send(&request("POST", "/gateway/token", headers, Some(b"")))
}

fn token_of(r: &support::Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v.as_object().map(|o| o.len()), Some(3));
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

fn bearer_get(gw: &Gateway, token: &str, target: &str) -> support::Response {
    gw.get(target, &[("Authorization", &format!("Bearer {token}"))])
}

#[test]
fn tokens_are_issued_for_basic_and_api_keys_and_work_on_the_relay() {
    let gw = start();
    let cred = gw.issue("ap-sync");
    let r = post_token(&gw, &[("Authorization", &cred.basic())]);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("x-request-id").is_some());
    let token = token_of(&r);
    assert!(token.starts_with("egt_") && token.len() == 64, "{token}");
    let r = bearer_get(&gw, &token, &format!("{V}/invoices"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        gw.sim
            .requests()
            .last()
            .and_then(|q| q.authenticated_as.clone())
            .as_deref(),
        Some(UPSTREAM_USER),
        "the token is the caller's proof; Oracle still sees the gateway's credential"
    );
    let upstream_auth = gw
        .sim
        .requests()
        .last()
        .map(|q| q.headers.clone())
        .unwrap_or_default();
    assert!(
        !upstream_auth.iter().any(|(_, v)| v.contains(&token)),
        "the token never goes upstream"
    );
    // x-api-key works too, and yields a different token.
    let t2 = token_of(&post_token(&gw, &[("x-api-key", &cred.api_key)]));
    assert_ne!(t2, token);
    assert_eq!(bearer_get(&gw, &t2, &format!("{V}/invoices")).status, 200);

    // The audit trail: a `token` record per issuance (ok), request records carrying the
    // truncated token id; the token itself nowhere.
    let id8 = &token[4..12];
    gw.eventually("token and request records", || {
        let recs = gw.audit(&["--actor", "ap-sync"]);
        recs.iter().any(|r| {
            r["kind"] == "token" && r["decision"] == "ok" && r["token_id"] == format!("egt_{id8}")
        }) && recs.iter().any(|r| {
            r["kind"] == "request"
                && r["decision"] == "relayed"
                && r["token_id"] == format!("egt_{id8}")
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    let secret_part = &token[21..];
    for path in [gw.db_path(), gw.db_path().with_extension("db-wal")] {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes
                .windows(secret_part.len())
                .any(|w| w == secret_part.as_bytes()),
            "token in {path:?}"
        );
    }
    assert!(!gw.log_text().contains(secret_part));
    // `token list` shows ids only.
    let list = gw.ok(&["token", "list"]);
    assert!(list.contains(&format!("egt_{}", &token[4..20])) && !list.contains(secret_part));
}

#[test]
fn the_token_endpoint_refuses_what_it_should() {
    let gw = start();
    let cred = gw.issue("ap-sync");
    let r = gw.get("/gateway/token", &[("Authorization", &cred.basic())]);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method.not_allowed")
    );
    let r = post_token(&gw, &[]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.missing"));
    let token = token_of(&post_token(&gw, &[("Authorization", &cred.basic())]));
    let r = post_token(&gw, &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (401, "auth.invalid"),
        "a token cannot mint tokens"
    );
    // Forged tokens: right shape, wrong secret; wrong shape.
    let mut forged = token.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        forged.as_str(),
        "egt_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "egt_nothex",
    ] {
        let r = bearer_get(&gw, bad, &format!("{V}/invoices"));
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (401, "auth.invalid"),
            "{bad}"
        );
    }
}

#[test]
fn revoking_the_token_its_credential_or_its_account_takes_it_down() {
    let gw = start();
    let url = format!("{V}/invoices");
    let cred = gw.issue("ap-sync");
    let t1 = token_of(&post_token(&gw, &[("Authorization", &cred.basic())]));
    let t2 = token_of(&post_token(&gw, &[("Authorization", &cred.basic())]));
    assert_eq!(bearer_get(&gw, &t1, &url).status, 200);
    // Individually, by id.
    let out = gw.ok(&["token", "revoke", &format!("egt_{}", &t1[4..20])]);
    assert!(out.contains("revoked"), "{out}");
    gw.eventually("the revoked token is refused", || {
        let r = bearer_get(&gw, &t1, &url);
        r.status == 401 && r.error_code() == "credential.revoked"
    });
    assert_eq!(bearer_get(&gw, &t2, &url).status, 200, "only that token");
    // The account suspended: every token of it is refused; resumed: usable again.
    gw.ok(&["account", "suspend", "ap-sync"]);
    gw.eventually("suspension reaches tokens", || {
        bearer_get(&gw, &t2, &url).status == 403
    });
    gw.ok(&["account", "resume", "ap-sync"]);
    gw.eventually("resumption reaches tokens", || {
        bearer_get(&gw, &t2, &url).status == 200
    });
    // The credential set revoked: its tokens die with it.
    gw.ok(&["credential", "revoke", &cred.id]);
    gw.eventually("credential revocation reaches tokens", || {
        let r = bearer_get(&gw, &t2, &url);
        r.status == 401 && r.error_code() == "credential.revoked"
    });
    let recs = gw.audit(&[
        "--actor",
        &format!("cli:{}", erpgate::cli::killswitch::whoami()),
    ]);
    assert!(recs
        .iter()
        .any(|r| r["method"] == "token.revoke" && r["path"] == format!("egt_{}", &t1[4..12])));
}

#[test]
fn tokens_survive_a_gateway_restart() {
    let mut gw = start();
    let cred = gw.issue("ap-sync");
    let token = token_of(&post_token(&gw, &[("Authorization", &cred.basic())]));
    assert_eq!(gw.stop(), Some(0));
    gw.spawn();
    let r = bearer_get(&gw, &token, &format!("{V}/invoices"));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn failed_attempts_are_slowed_then_locked_out() {
    let gw = start();
    let cred = gw.issue("ap-sync");
    let wrong = basic(&cred.username, "not-the-password");
    let t0 = Instant::now();
    let r = post_token(&gw, &[("Authorization", &wrong)]);
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.invalid"));
    assert!(
        t0.elapsed() >= Duration::from_millis(240),
        "first failure delayed ≥ 250 ms"
    );
    let t1 = Instant::now();
    assert_eq!(post_token(&gw, &[("Authorization", &wrong)]).status, 401);
    assert!(
        t1.elapsed() >= Duration::from_millis(490),
        "second failure delayed ≥ 500 ms"
    );
    // The third failure locks the credential and the address out.
    let r = post_token(&gw, &[("Authorization", &wrong)]);
    assert_eq!((r.status, r.error_code().as_str()), (429, "auth.locked"));
    let retry: u32 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry), "{retry}");
    // Locked even with the right password, and for another credential from the same address.
    let r = post_token(&gw, &[("Authorization", &cred.basic())]);
    assert_eq!((r.status, r.error_code().as_str()), (429, "auth.locked"));
    let other = gw.issue("hr-reader");
    assert_eq!(
        post_token(&gw, &[("Authorization", &other.basic())]).status,
        429
    );
    // The relay shares the lockout: the same credential and address are refused there too,
    // right password or not.
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!((r.status, r.error_code().as_str()), (429, "auth.locked"));
    // Every attempt is a `token` record, refused ones with their reason (the relay's refusal
    // a `request` record).
    gw.eventually("token attempt records", || {
        let recs = gw.audit(&["--reason", "auth.locked"]);
        recs.iter().filter(|r| r["kind"] == "token").count() >= 3
            && recs.iter().filter(|r| r["kind"] == "request").count() == 1
    });
    let invalid = gw.audit(&["--reason", "auth.invalid"]);
    assert!(invalid.iter().filter(|r| r["kind"] == "token").count() >= 2);
}
