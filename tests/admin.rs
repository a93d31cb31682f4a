//! The admin API through the real binary: admin tokens and roles, every endpoint, changes
//! reaching the relay at once, every mutation audited with the admin identity, the kill switch
//! leaving the admin API up, and bad input answered with a 4xx naming the field.

mod support;

use serde_json::json;
use support::admin::start;
use support::{request, Response};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn token_of(r: &Response) -> String {
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_string()
}

#[test]
fn roles_gate_every_endpoint_and_a_lower_role_never_grants_a_higher_one() {
    let a = start();
    assert_eq!(a.call("GET", "/health", None, None).status, 200);
    assert_eq!(a.call("GET", "/ready", None, None).json()["ready"], true);
    let r = a.call("GET", "/status", None, None);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("admin.unauthorized"))
    );
    let r = a.call("GET", "/status", Some(&a.owner), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["snapshot_version"], 1);
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let admin = token_of(&a.call(
        "POST",
        "/admin-tokens",
        Some(&a.owner),
        Some(&json!({"role": "admin", "name": "ops"})),
    ));
    let auditor = token_of(&a.call(
        "POST",
        "/admin-tokens",
        Some(&a.owner),
        Some(&json!({"role": "auditor", "name": "sec"})),
    ));
    // Admins cannot manage admin tokens at all, let alone mint an owner.
    for (method, body) in [
        ("GET", None),
        ("POST", Some(json!({"role": "owner", "name": "x"}))),
    ] {
        let r = a.call(method, "/admin-tokens", Some(&admin), body.as_ref());
        assert_eq!(r.status, 403, "{}", r.text());
    }
    // Auditors read, never write.
    assert_eq!(a.call("GET", "/accounts", Some(&auditor), None).status, 200);
    assert_eq!(
        a.call("GET", "/audit?limit=5", Some(&auditor), None).status,
        200
    );
    // A time bound that is not a time is the caller's mistake, named, not a server error.
    let r = a.call("GET", "/audit?since=yesterday", Some(&auditor), None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("since"), "{}", r.text());
    let r = a.call(
        "POST",
        "/accounts",
        Some(&auditor),
        Some(&json!({"name": "x", "tenant": "acme"})),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("admin.forbidden"))
    );
    assert_eq!(
        a.call(
            "PUT",
            "/killswitch",
            Some(&auditor),
            Some(&json!({"on": true}))
        )
        .status,
        403
    );
    // A revoked token stops working on its next call.
    let list = a.call("GET", "/admin-tokens", Some(&a.owner), None).json();
    let sec_id = list["admin_tokens"]
        .as_array()
        .and_then(|l| l.iter().find(|t| t["name"] == "sec"))
        .and_then(|t| t["id"].as_str())
        .expect("sec id")
        .to_string();
    assert!(
        !list.to_string().contains(&auditor),
        "tokens are never listed"
    );
    assert_eq!(
        a.call(
            "POST",
            &format!("/admin-tokens/{sec_id}/revoke"),
            Some(&a.owner),
            None
        )
        .status,
        200
    );
    assert_eq!(a.call("GET", "/accounts", Some(&auditor), None).status, 401);
}

#[test]
fn changes_reach_the_relay_at_once_and_are_audited_with_the_admin_identity() {
    let a = start();
    let admin = token_of(&a.call(
        "POST",
        "/admin-tokens",
        Some(&a.owner),
        Some(&json!({"role": "admin", "name": "ops"})),
    ));
    // Create an account and issue a credential set: usable on the very next request.
    let r = a.call(
        "POST",
        "/accounts",
        Some(&admin),
        Some(&json!({"name": "api-made", "tenant": "acme"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = a.call(
        "POST",
        "/credentials",
        Some(&admin),
        Some(&json!({"account": "ap-sync"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let c = r.json();
    let basic = support::basic(
        c["username"].as_str().expect("u"),
        c["password"].as_str().expect("p"),
    );
    let get = |auth: &str| {
        a.gw.get(&format!("{V}/invoices"), &[("Authorization", auth)])
    };
    assert_eq!(get(&basic).status, 200, "no wait for the store poll");
    // Suspend / resume the account.
    assert_eq!(
        a.call("POST", "/accounts/ap-sync/suspend", Some(&admin), None)
            .status,
        200
    );
    assert_eq!(get(&basic).error_code(), "account.suspended");
    assert_eq!(
        a.call("POST", "/accounts/ap-sync/resume", Some(&admin), None)
            .status,
        200
    );
    assert_eq!(get(&basic).status, 200);
    // The kill switch blocks the relay, not the admin API.
    let r = a.call(
        "PUT",
        "/killswitch",
        Some(&admin),
        Some(&json!({"on": true})),
    );
    assert_eq!(r.json()["on"], true);
    assert_eq!(get(&basic).error_code(), "killswitch.on");
    assert_eq!(
        a.call("GET", "/status", Some(&admin), None).json()["killswitch"],
        true
    );
    assert_eq!(a.call("GET", "/health", None, None).status, 200);
    assert_eq!(
        a.call(
            "PUT",
            "/killswitch",
            Some(&admin),
            Some(&json!({"on": false}))
        )
        .status,
        200
    );
    assert_eq!(get(&basic).status, 200);
    // Gateway tokens of the set, then the set itself, revoked.
    let t = a.gw.send(&request(
        "POST",
        "/gateway/token",
        &[("Authorization", &basic)],
        Some(b""),
    ));
    let gt = t.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {gt}");
    assert_eq!(get(&bearer).status, 200);
    let r = a.call(
        "POST",
        &format!("/tokens/egt_{}/revoke", &gt[4..20]),
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&bearer).error_code(), "credential.revoked");
    let id = c["id"].as_str().expect("id");
    assert_eq!(
        a.call(
            "POST",
            &format!("/credentials/{id}/revoke"),
            Some(&admin),
            None
        )
        .status,
        200
    );
    assert_eq!(get(&basic).error_code(), "credential.revoked");
    // Every mutation is in the trail under the admin's identity, and the chain holds.
    let mut verbs = Vec::new();
    a.gw.eventually("the admin records", || {
        let recs = a
            .call("GET", "/audit?decision=ok&limit=1000", Some(&admin), None)
            .json();
        verbs = recs["records"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|r| {
                        r["actor"]
                            .as_str()
                            .is_some_and(|x| x.starts_with("admin:ops(eat_"))
                    })
                    .filter_map(|r| r["method"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        verbs.len() >= 8
    });
    assert_eq!(verbs.len(), 8, "one record per change, no more: {verbs:?}");
    for v in [
        "account.create",
        "credential.issue",
        "account.suspend",
        "account.resume",
        "killswitch.on",
        "killswitch.off",
        "token.revoke",
        "credential.revoke",
    ] {
        assert!(verbs.iter().any(|x| x == v), "{v} missing from {verbs:?}");
    }
    let secret = c["password"].as_str().expect("p");
    let recs = a
        .call("GET", "/audit?limit=10000", Some(&admin), None)
        .text();
    assert!(
        !recs.contains(secret),
        "the issued password is in no record"
    );
    let v = a.call("GET", "/audit/verify", Some(&admin), None).json();
    assert_eq!(v["intact"], true, "{v}");
}

#[test]
fn reload_swaps_or_refuses_with_the_problems() {
    let a = start();
    let r = a.call("POST", "/reload", Some(&a.owner), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["snapshot_version"], 2);
    // The same endpoint under the `/admin/` prefix.
    let r = a.call("POST", "/admin/reload", Some(&a.owner), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["snapshot_version"], 3);
    // Issued while the configuration is still valid: the CLI reads it too.
    let cred = a.gw.issue("ap-sync");
    let good = std::fs::read_to_string(&a.gw.config).expect("config");
    std::fs::write(
        &a.gw.config,
        format!("{good}\n[[policy]]\nname = \"broken\"\nsubjects = []\n"),
    )
    .expect("write");
    let r = a.call("POST", "/reload", Some(&a.owner), None);
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["code"], "admin.config_invalid");
    assert!(
        v["error"]["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{v}"
    );
    assert_eq!(
        a.call("GET", "/status", Some(&a.owner), None).json()["snapshot_version"],
        3
    );
    assert_eq!(
        a.gw.get_as(&cred, &format!("{V}/invoices")).status,
        200,
        "the old configuration serves"
    );
}

#[test]
fn bad_input_gets_a_4xx_naming_the_field() {
    let a = start();
    let t = Some(a.owner.as_str());
    let field = |r: &Response| {
        (
            r.status,
            r.json()["error"]["field"].as_str().map(str::to_string),
        )
    };
    let r = a.call("POST", "/accounts", t, Some(&json!({"tenant": "acme"})));
    assert_eq!(field(&r), (400, Some("name".into())));
    let r = a.call(
        "POST",
        "/accounts",
        t,
        Some(&json!({"name": "x1", "tenant": "nope"})),
    );
    assert_eq!(field(&r), (400, Some("tenant".into())));
    let r = a.call(
        "POST",
        "/accounts",
        t,
        Some(&json!({"name": "x1", "tenant": "acme", "role": "god"})),
    );
    assert_eq!(field(&r), (400, Some("role".into())));
    let r = a.call(
        "POST",
        "/accounts",
        t,
        Some(&json!({"name": "Bad Name!", "tenant": "acme"})),
    );
    assert_eq!(field(&r), (400, Some("name".into())));
    let r = a.call(
        "POST",
        "/accounts",
        t,
        Some(&json!({"name": "ap-sync", "tenant": "acme"})),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    let r = a.call("PUT", "/killswitch", t, Some(&json!({"on": "yes"})));
    assert_eq!(field(&r), (400, Some("on".into())));
    let r = a.call(
        "POST",
        "/credentials",
        t,
        Some(&json!({"account": "nobody"})),
    );
    assert_eq!(r.status, 404);
    let r = a.call(
        "POST",
        "/admin-tokens",
        t,
        Some(&json!({"role": "superuser", "name": "x"})),
    );
    assert_eq!(field(&r), (400, Some("role".into())));
    // Not JSON, unknown routes, wrong methods, oversized bodies.
    let auth = format!("Bearer {}", a.owner);
    let r = support::http::raw(
        a.addr,
        &request(
            "POST",
            "/accounts",
            &[("Authorization", &auth)],
            Some(b"name=x"),
        ),
    )
    .expect("answer");
    assert_eq!(field(&r), (400, Some("body".into())));
    assert_eq!(a.call("GET", "/nothing", t, None).status, 404);
    let r = a.call("DELETE", "/accounts", t, None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")));
    let big = json!({"name": "x".repeat(70 * 1024), "tenant": "acme"});
    assert_eq!(a.call("POST", "/accounts", t, Some(&big)).status, 413);
    let r = a.call("POST", "/tokens/not-an-id/revoke", t, None);
    assert_eq!(field(&r), (400, Some("id".into())));
    // A filter no record can match, or a parameter an endpoint does not take, is an error,
    // never a silently empty (or unfiltered) answer.
    let r = a.call("GET", "/audit?decision=blocked", t, None);
    assert_eq!(field(&r), (400, Some("decision".into())));
    assert!(r.text().contains("relayed, denied"), "{}", r.text());
    let r = a.call("GET", "/audit?reason=policy.deny", t, None);
    assert_eq!(field(&r), (400, Some("reason".into())));
    assert!(
        r.text().contains("policy.denied"),
        "did you mean: {}",
        r.text()
    );
    let r = a.call("GET", "/audit?actr=ap-sync", t, None);
    assert_eq!(field(&r), (400, Some("actr".into())));
    let r = a.call("GET", "/audit?actor=a&actor=b", t, None);
    assert_eq!(field(&r), (400, Some("actor".into())));
    let r = a.call("GET", "/accounts?status=active", t, None);
    assert_eq!(field(&r), (400, Some("status".into())));
    assert_eq!(
        a.call("GET", "/credentials?account=ap-sync", t, None)
            .status,
        200
    );
    let r = a.call(
        "GET",
        "/audit?decision=denied&reason=admin.forbidden&node=",
        t,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = a.gw.cli(&["audit", "query", "--decision", "blocked"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--decision") && err.contains("relayed, denied"),
        "{err}"
    );
}

/// Raw, base64 and URL-encoded forms of a secret.
fn forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_string(),
        b64.encode(secret),
        secret.replace('-', "%2D").replace('_', "%5F"),
    ]
}

#[test]
fn admin_tokens_and_issued_secrets_never_reach_the_log_or_the_database() {
    let a = start();
    let second = token_of(&a.call(
        "POST",
        "/admin-tokens",
        Some(&a.owner),
        Some(&json!({"role": "admin", "name": "canary"})),
    ));
    let r = a.call(
        "POST",
        "/credentials",
        Some(&second),
        Some(&json!({"account": "ap-sync"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let c = r.json();
    let (user, pass, key) = (
        c["username"].as_str().expect("u").to_string(),
        c["password"].as_str().expect("p").to_string(),
        c["api_key"].as_str().expect("k").to_string(),
    );
    assert_eq!(
        a.gw.get(
            &format!("{V}/invoices"),
            &[("Authorization", &support::basic(&user, &pass))]
        )
        .status,
        200
    );
    assert_eq!(
        a.gw.get(&format!("{V}/invoices"), &[("x-api-key", &key)])
            .status,
        200
    );
    for on in [true, false] {
        let r = a.call(
            "PUT",
            "/killswitch",
            Some(&second),
            Some(&json!({ "on": on })),
        );
        assert_eq!(r.status, 200);
    }
    let wrong = format!("{}x", &second[..second.len() - 1]);
    assert_eq!(a.call("GET", "/status", Some(&wrong), None).status, 401);
    let id = &second[..20];
    assert_eq!(
        a.call(
            "POST",
            &format!("/admin-tokens/{id}/revoke"),
            Some(&a.owner),
            None
        )
        .status,
        200
    );
    assert_eq!(a.call("GET", "/status", Some(&second), None).status, 401);
    let trail = a
        .call("GET", "/audit?limit=10000", Some(&a.owner), None)
        .text();
    assert!(trail.contains("admin:canary("), "the canary admin acted");
    std::thread::sleep(std::time::Duration::from_millis(300));

    let log = a.gw.log_text();
    let mut db = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{}{suffix}", a.gw.db_path().display())) {
            db.extend_from_slice(&b);
        }
    }
    let db = String::from_utf8_lossy(&db).into_owned();
    for (what, secret) in [
        ("owner token", a.owner.as_str()),
        ("owner token secret", &a.owner[21..]),
        ("admin token", second.as_str()),
        ("admin token secret", &second[21..]),
        ("issued password", pass.as_str()),
        ("issued api key", key.as_str()),
    ] {
        for form in forms(secret) {
            assert!(!log.contains(&form), "{what} in the gateway log");
            assert!(!db.contains(&form), "{what} in the database files");
            assert!(!trail.contains(&form), "{what} in the audit trail");
        }
    }
}

#[test]
fn only_an_owner_binds_an_account_to_an_oracle_identity() {
    let a = start();
    let admin = token_of(&a.call(
        "POST",
        "/admin-tokens",
        Some(&a.owner),
        Some(&json!({"role": "admin", "name": "ops"})),
    ));
    // In jwt mode the gateway signs assertions as the account's oracle_user; the secret an
    // account uses decides the same in basic and api_key modes. An admin may do neither.
    for (name, field) in [("bound-1", "oracle_user"), ("bound-2", "upstream_secret")] {
        let r = a.call(
            "POST",
            "/accounts",
            Some(&admin),
            Some(&json!({"name": name, "tenant": "acme", field: "FIN_CONTROLLER"})),
        );
        assert_eq!(r.status, 403, "{field}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["code"], "admin.forbidden", "{e}");
        assert_eq!(e["field"], field, "{e}");
    }
    let list = a.call("GET", "/accounts", Some(&admin), None).text();
    assert!(!list.contains("bound-"), "nothing was created: {list}");
    // Each refusal is in the trail, with who asked and what.
    let mut refused = Vec::new();
    a.gw.eventually("the refusals are audited", || {
        refused = a
            .call(
                "GET",
                "/audit?reason=admin.forbidden&limit=100",
                Some(&a.owner),
                None,
            )
            .json()["records"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        refused.len() >= 2
    });
    assert_eq!(refused.len(), 2, "{refused:?}");
    for r in &refused {
        assert_eq!(r["decision"], "denied");
        assert_eq!(r["method"], "account.create");
        assert!(r["actor"]
            .as_str()
            .is_some_and(|x| x.starts_with("admin:ops(eat_")));
        assert!(r["path"].as_str().is_some_and(|p| p.starts_with("bound-")));
    }
    // The owner decides.
    let r = a.call(
        "POST",
        "/accounts",
        Some(&a.owner),
        Some(&json!({"name": "bound-3", "tenant": "acme", "oracle_user": "FIN_CONTROLLER"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["oracle_user"], "FIN_CONTROLLER");
    // A credential acts as its account: an admin cannot issue one for a bound account (that
    // would hand out the Oracle identity the owner bound), the owner can.
    let r = a.call(
        "POST",
        "/credentials",
        Some(&admin),
        Some(&json!({"account": "bound-3"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "account");
    assert!(
        !r.text().contains("password"),
        "nothing issued: {}",
        r.text()
    );
    a.gw.eventually("the refused issue is audited", || {
        a.call(
            "GET",
            "/audit?reason=admin.forbidden&limit=100",
            Some(&a.owner),
            None,
        )
        .json()["records"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["method"] == "credential.issue"))
    });
    let r = a.call(
        "POST",
        "/credentials",
        Some(&a.owner),
        Some(&json!({"account": "bound-3"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = a.call("GET", "/audit/verify", Some(&a.owner), None).json();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["untallied_batches"], 0, "{v}");
    // Batches whose tallies were removed: no break, but counted.
    a.gw.trail_unguarded()
        .execute_batch(
            "UPDATE audit_batch SET tally = NULL WHERE id IN (SELECT id FROM audit_batch ORDER BY id LIMIT 2)",
        )
        .expect("null two tallies");
    let v = a.call("GET", "/audit/verify", Some(&a.owner), None).json();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["untallied_batches"], 2, "{v}");
}
