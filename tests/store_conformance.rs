//! One store, two engines: the same cases run against SQLite (a temporary file) and a real
//! PostgreSQL server (a private cluster, one fresh database per case), through the one store
//! interface the gateway, the CLI and the admin API use. A case that passes on one engine and
//! not the other is a bug in the SQL layer or in a migration.

mod support;

#[path = "store_conformance/audit.rs"]
mod audit;
#[path = "store_conformance/audit_actor.rs"]
mod audit_actor;
#[path = "store_conformance/audit_live.rs"]
mod audit_live;
#[path = "store_conformance/audit_summary.rs"]
mod audit_summary;
#[path = "store_conformance/cluster.rs"]
mod cluster;
#[path = "store_conformance/tls.rs"]
mod tls;

use erpgate::store::{
    AccountStatus, CredentialStatus, Database, NewCredential, Store, StoreError,
    StoredBrowserSession, StoredToken,
};
use support::postgres::Postgres;

/// Opens a new connection to the case's database (several per case: changes made through
/// one must be seen through another).
pub type Open<'a> = &'a dyn Fn() -> Store;

type Case = (&'static str, fn(Open<'_>));

const CASES: &[Case] = &[
    ("migrations", migrations),
    ("accounts", accounts),
    ("credentials", credentials),
    ("secrets_and_tenant_keys", secrets_and_tenant_keys),
    ("gateway_tokens", gateway_tokens),
    ("admin_tokens", admin_tokens),
    ("portal_users_and_sessions", portal_users_and_sessions),
    ("browser_sessions", browser_sessions),
    ("key_material_and_reseal", key_material_and_reseal),
    (
        "killswitch_and_change_counter",
        killswitch_and_change_counter,
    ),
    ("audit_chain", audit::chains),
    ("audit_tampering", audit::tampering),
    ("audit_retention_and_query", audit::retention_and_query),
    ("audit_actor_lookup", audit_actor::actor_lookup),
    (
        "audit_actor_lookup_remembered",
        audit_actor::actor_lookup_remembered,
    ),
    (
        "audit_per_record_trail_migrates",
        audit::per_record_trail_migrates,
    ),
    (
        "audit_verify_while_appending",
        audit_live::verify_while_appending,
    ),
    (
        "audit_summary_from_tallies",
        audit_summary::summary_from_tallies,
    ),
    ("nodes", cluster::nodes),
    ("shared_failures", cluster::shared_failures),
];

pub fn migrated(open: Open<'_>) -> Store {
    let mut s = open();
    s.migrate().expect("migrate");
    s
}

fn cred<'a>(id: &'a str, account: &'a str, user: &'a str, key_id: &'a str) -> NewCredential<'a> {
    NewCredential {
        id,
        account,
        username: user,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        api_key_id: key_id,
        api_key_hash: &[9u8; 32],
    }
}

fn migrations(open: Open<'_>) {
    let mut s = open();
    assert_eq!(s.schema_version().expect("version"), 0);
    assert!(matches!(
        s.check_schema(),
        Err(StoreError::Unmigrated { current: 0, .. })
    ));
    assert_eq!(
        s.migrate().expect("m1"),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    );
    assert!(s.migrate().expect("m2").is_empty());
    open()
        .check_schema()
        .expect("current, seen by another connection");
    for table in [
        "accounts",
        "credentials",
        "secrets",
        "settings",
        "audit_batch",
        "audit_bounds",
        "tenant_keys",
        "gateway_tokens",
        "admin_tokens",
        "key_material",
        "nodes",
        "auth_failures",
        "audit_policy",
        "portal_users",
        "portal_sessions",
        "audit_actor_second",
    ] {
        assert!(s.has_table(table).expect("has_table"), "{table}");
    }
    assert!(!s.has_table("nope").expect("has_table"));
    s.conn()
        .execute(
            "INSERT INTO schema_migrations VALUES (999, 'future', 'now')",
            &[],
        )
        .expect("insert");
    let e = s.check_schema().expect_err("too new");
    assert!(e.to_string().contains("newer than this erpgate"), "{e}");
    assert!(matches!(
        s.migrate(),
        Err(StoreError::TooNew { current: 999, .. })
    ));
}

fn accounts(open: Open<'_>) {
    let s = migrated(open);
    let a = s
        .create_account("ap-sync", "acme", Some("AP.USER"), Some("ap-pw"))
        .expect("create");
    assert_eq!(
        (a.name.as_str(), a.tenant.as_str(), a.status),
        ("ap-sync", "acme", AccountStatus::Active)
    );
    assert_eq!(a.oracle_user.as_deref(), Some("AP.USER"));
    s.create_account("zz-last", "acme", None, None)
        .expect("second");
    s.create_account("hr-feed", "acme", None, None)
        .expect("third");
    let e = s
        .create_account("ap-sync", "acme", None, None)
        .expect_err("taken");
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                what: "account",
                ..
            }
        ),
        "{e}"
    );
    assert!(s.create_account("Bad Name", "acme", None, None).is_err());
    let other = open();
    let names: Vec<String> = other
        .list_accounts()
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["ap-sync", "hr-feed", "zz-last"]);
    let b = other.get_account("hr-feed").expect("get").expect("exists");
    assert!(b.oracle_user.is_none() && b.upstream_secret.is_none());
    let suspended = s
        .set_account_status("ap-sync", AccountStatus::Suspended)
        .expect("suspend");
    assert_eq!(suspended.status, AccountStatus::Suspended);
    assert_eq!(
        other.get_account("ap-sync").expect("get").map(|a| a.status),
        Some(AccountStatus::Suspended)
    );
    assert!(matches!(
        s.set_account_status("ghost", AccountStatus::Active),
        Err(StoreError::NotFound {
            what: "account",
            ..
        })
    ));
    assert!(s.get_account("ghost").expect("get").is_none());
}

fn credentials(open: Open<'_>) {
    let s = migrated(open);
    s.create_account("a1", "acme", None, None).expect("a1");
    s.create_account("a2", "acme", None, None).expect("a2");
    let c = s
        .insert_credential(&cred("c-1", "a1", "u-1", "k-1"))
        .expect("insert");
    assert_eq!(c.api_key_hash, [9u8; 32]);
    assert_eq!(c.status, CredentialStatus::Active);
    s.insert_credential(&cred("c-2", "a2", "u-2", "k-2"))
        .expect("second");
    for dup in [
        cred("c-1", "a1", "u-9", "k-9"),
        cred("c-9", "a1", "u-1", "k-9"),
        cred("c-9", "a1", "u-9", "k-1"),
    ] {
        let e = s.insert_credential(&dup).expect_err("duplicate");
        assert!(
            matches!(
                e,
                StoreError::Conflict {
                    what: "credential",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(matches!(
        s.insert_credential(&cred("c-3", "ghost", "u-3", "k-3")),
        Err(StoreError::NotFound { .. })
    ));
    let r1 = s.revoke_credential("c-1").expect("revoke");
    assert_eq!(r1.status, CredentialStatus::Revoked);
    let r2 = open().revoke_credential("c-1").expect("again");
    assert_eq!(
        r1.revoked_at, r2.revoked_at,
        "the first revocation time is kept"
    );
    assert!(matches!(
        s.revoke_credential("c-404"),
        Err(StoreError::NotFound { .. })
    ));
    let ids = |acct: Option<&str>| -> Vec<String> {
        s.list_credentials(acct)
            .expect("list")
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(ids(None), ["c-1", "c-2"]);
    assert_eq!(ids(Some("a2")), ["c-2"]);
    assert!(ids(Some("ghost")).is_empty());
    // A hash of the wrong size is refused by the schema itself.
    assert!(s
        .conn()
        .execute(
            "UPDATE credentials SET api_key_hash = ?1 WHERE id = 'c-2'",
            &[vec![1u8; 31].into()],
        )
        .is_err());
}

fn secrets_and_tenant_keys(open: Open<'_>) {
    let s = migrated(open);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    s.put_secret("acme", "ap-pw", &every_byte).expect("put");
    s.put_secret("acme", "ap-pw", &[1, 2, 3]).expect("replace");
    s.put_secret("beta", "x", &[]).expect("empty");
    let got = open()
        .get_secret("acme", "ap-pw")
        .expect("get")
        .expect("exists");
    assert_eq!(got.ciphertext, [1, 2, 3]);
    assert_eq!(
        s.list_secrets()
            .expect("list")
            .into_iter()
            .map(|(t, n, _)| format!("{t}/{n}"))
            .collect::<Vec<_>>(),
        ["acme/ap-pw", "beta/x"]
    );
    assert!(s.delete_secret("beta", "x").expect("delete"));
    assert!(!s.delete_secret("beta", "x").expect("gone"));
    assert!(s.get_secret("beta", "x").expect("get").is_none());
    assert!(s.put_secret("acme", "Bad Name", &[1]).is_err());

    s.put_tenant_key("acme", &every_byte, b"cert-1", "x5t-1")
        .expect("key");
    s.put_tenant_key("acme", &[7; 64], b"cert-2", "x5t-2")
        .expect("replace");
    let k = open().get_tenant_key("acme").expect("get").expect("exists");
    assert_eq!(
        (k.key_ciphertext, k.cert_der, k.x5t),
        (vec![7; 64], b"cert-2".to_vec(), "x5t-2".to_string())
    );
    assert!(s.get_tenant_key("beta").expect("get").is_none());
    assert_eq!(k.key_ref, None);
    // A key held in a PKCS#11 token: the reference replaces the sealed key entirely, and a
    // rotation has nothing of it to re-seal.
    let reference = r#"{"module":"/usr/lib/softhsm/libsofthsm2.so","token":"t","label":"k"}"#;
    s.put_tenant_key_ref("gamma", reference, b"cert-3", "x5t-3")
        .expect("reference");
    let k = open()
        .get_tenant_key("gamma")
        .expect("get")
        .expect("exists");
    assert!(k.key_ciphertext.is_empty());
    assert_eq!(k.key_ref.as_deref(), Some(reference));
    assert!(!open()
        .sealed_values()
        .expect("sealed")
        .iter()
        .any(|(t, _, _)| t == "gamma"));
    s.put_tenant_key("gamma", &[9; 48], b"cert-4", "x5t-4")
        .expect("back to sealed");
    assert_eq!(
        open()
            .get_tenant_key("gamma")
            .expect("get")
            .expect("exists")
            .key_ref,
        None
    );
    let dir = open().load_directory().expect("directory");
    assert_eq!((dir.secrets.len(), dir.tenant_keys.len()), (1, 2));
}

fn gateway_tokens(open: Open<'_>) {
    let s = migrated(open);
    s.create_account("a1", "acme", None, None).expect("a1");
    s.insert_credential(&cred("c-1", "a1", "u-1", "k-1"))
        .expect("cred");
    let token = |id: &str, expires_at: i64| StoredToken {
        id: id.into(),
        token_hash: [id.len() as u8; 32],
        credential_id: "c-1".into(),
        issued_at: format!("2026-12-01T00:00:0{}.000000Z", id.len()),
        expires_at,
        active: true,
    };
    let counter = s.change_counter().expect("counter");
    s.insert_token(&token("t-1", 1_000)).expect("t-1");
    s.insert_token(&token("t-22", 3_000)).expect("t-22");
    s.insert_token(&token("t-333", 5_000)).expect("t-333");
    // One node (SQLite) knows its own tokens; on a shared store every node must learn of
    // them, so issuance is announced there.
    let issued = s.change_counter().expect("counter");
    match s.conn().engine() {
        erpgate::store::sql::Engine::Sqlite => assert_eq!(issued, counter, "issuing does not bump"),
        erpgate::store::sql::Engine::Postgres => assert!(issued > counter, "issuing bumps"),
    }
    let counter = issued;
    assert!(s.insert_token(&token("t-1", 9)).is_err(), "duplicate id");
    let live: Vec<String> = open()
        .live_tokens(2_000)
        .expect("live")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(live, ["t-22", "t-333"]);
    assert!(s.revoke_token("t-22").expect("revoke"));
    assert!(
        s.change_counter().expect("counter") > counter,
        "revoking bumps"
    );
    assert!(!s.revoke_token("t-22").expect("again"));
    assert!(matches!(
        s.revoke_token("t-404"),
        Err(StoreError::NotFound { what: "token", .. })
    ));
    let revoked = s
        .live_tokens(2_000)
        .expect("live")
        .into_iter()
        .find(|t| t.id == "t-22")
        .expect("still listed until expiry");
    assert!(!revoked.active && revoked.token_hash == [4; 32]);
    assert_eq!(s.count_prunable_tokens(4_000).expect("count"), 2);
    assert_eq!(s.prune_tokens(4_000).expect("prune"), 2);
    assert_eq!(
        s.list_tokens()
            .expect("list")
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>(),
        ["t-333"]
    );
}

fn browser_sessions(open: Open<'_>) {
    let s = migrated(open);
    let session = |hash: u8, launch: &str, jti: Option<&str>| StoredBrowserSession {
        session_hash: [hash; 32],
        tenant: "initech".into(),
        oracle_user: "casey.brown".into(),
        roles: vec!["AP_CLERK".into(), "VIEWER".into()],
        created_at: 1_000,
        expires_at: 2_000,
        keep_until: 2_500,
        launch_hash: launch.into(),
        jti_key: jti.map(str::to_string),
        ended_at: None,
    };
    let counter = s.change_counter().expect("counter");
    assert!(s
        .insert_browser_session(&session(1, "h-1", Some("jti-1")))
        .expect("first"));
    // A session's start must reach every node of a shared store; one node knows its own.
    let started = s.change_counter().expect("counter");
    match s.conn().engine() {
        erpgate::store::sql::Engine::Sqlite => assert_eq!(started, counter),
        erpgate::store::sql::Engine::Postgres => assert!(started > counter),
    }
    // A launch token starts one session: by its hash, or by its jti; a replay changes
    // nothing, and announces nothing.
    assert!(!s
        .insert_browser_session(&session(2, "h-1", None))
        .expect("replayed token"));
    assert!(!s
        .insert_browser_session(&session(3, "h-2", Some("jti-1")))
        .expect("replayed jti"));
    assert_eq!(s.change_counter().expect("counter"), started);
    assert!(s
        .insert_browser_session(&session(4, "h-3", None))
        .expect("another"));
    assert!(s
        .insert_browser_session(&session(5, "h-4", None))
        .expect("and another"));
    let live = open().live_browser_sessions(1_500).expect("live");
    assert_eq!(live.len(), 3);
    assert_eq!(live[0], session(1, "h-1", Some("jti-1")));
    // The directory holds the sessions live now.
    let now = chrono::Utc::now().timestamp();
    let mut current = session(7, "h-7", None);
    current.expires_at = now + 600;
    current.keep_until = now + 600;
    assert!(s.insert_browser_session(&current).expect("current"));
    let dir = open().load_directory().expect("directory");
    assert_eq!(dir.browser_sessions, [current.clone()]);
    // Ending is announced everywhere, once.
    let counter = s.change_counter().expect("counter");
    assert!(s.end_browser_session(&[4; 32], 1_600).expect("end"));
    assert!(!s.end_browser_session(&[4; 32], 1_700).expect("again"));
    assert!(s.change_counter().expect("counter") > counter);
    let ended = open()
        .live_browser_sessions(1_650)
        .expect("live")
        .into_iter()
        .find(|x| x.session_hash == [4; 32])
        .expect("listed until it expires");
    assert_eq!(ended.ended_at, Some(1_600));
    // Kept past the end for the replay checks (launch and Bearer), then forgotten.
    assert_eq!(open().live_browser_sessions(2_000).expect("kept").len(), 4);
    assert_eq!(
        open().live_browser_sessions(2_500).expect("live"),
        [current.clone()]
    );
    // A sweep with nothing due changes nothing, and announces nothing.
    let counter = s.change_counter().expect("counter");
    assert_eq!(s.forget_browser_sessions(2_400).expect("forget"), 0);
    assert_eq!(s.change_counter().expect("counter"), counter);
    assert!(!s
        .insert_browser_session(&session(6, "h-1", None))
        .expect("still a replay"));
    assert_eq!(s.forget_browser_sessions(2_501).expect("forget"), 3);
    assert!(s.change_counter().expect("counter") > counter);
}

fn admin_tokens(open: Open<'_>) {
    let s = migrated(open);
    s.insert_admin_token("adm-1", &[1; 32], "owner", "first", "cli")
        .expect("insert");
    s.insert_admin_token("adm-2", &[2; 32], "auditor", "second", "adm-1")
        .expect("insert");
    assert!(s
        .insert_admin_token("adm-3", &[3; 32], "root", "x", "cli")
        .is_err());
    let t = open()
        .get_admin_token("adm-2")
        .expect("get")
        .expect("exists");
    assert_eq!(
        (t.role.as_str(), t.name.as_str(), t.token_hash, t.active),
        ("auditor", "second", [2; 32], true)
    );
    assert!(s.revoke_admin_token("adm-2").expect("revoke"));
    assert!(!s.revoke_admin_token("adm-2").expect("again"));
    assert!(matches!(
        s.revoke_admin_token("adm-404"),
        Err(StoreError::NotFound { .. })
    ));
    let listed: Vec<(String, bool)> = open()
        .list_admin_tokens()
        .expect("list")
        .into_iter()
        .map(|t| (t.id, t.active))
        .collect();
    assert_eq!(
        listed,
        [("adm-1".to_string(), true), ("adm-2".to_string(), false)]
    );
}

fn portal_users_and_sessions(open: Open<'_>) {
    let s = migrated(open);
    s.insert_portal_user("ops", "owner", "$argon2id$x", "cli:test")
        .expect("insert");
    assert!(s
        .insert_portal_user("ops", "admin", "$argon2id$y", "cli")
        .is_err());
    assert!(s
        .insert_portal_user("bad", "root", "$argon2id$y", "cli")
        .is_err());
    let u = open().portal_user("ops").expect("get").expect("exists");
    assert_eq!(
        (
            u.role.as_str(),
            u.active,
            u.totp_sealed.is_none(),
            u.sso.is_none()
        ),
        ("owner", true, true, true)
    );
    // Sessions by keyed hash; the second factor's state; counts per user.
    s.insert_portal_session(&[1; 32], "ops", false, 1_000)
        .expect("session");
    s.insert_portal_session(&[2; 32], "ops", true, 1_000)
        .expect("session");
    let found = open()
        .portal_session(&[1; 32])
        .expect("get")
        .expect("exists");
    assert_eq!(
        (found.full, found.created_ms, found.user.name.as_str()),
        (false, 1_000, "ops")
    );
    s.touch_portal_session(&[1; 32], 5_000).expect("touch");
    assert_eq!(
        open()
            .portal_session(&[1; 32])
            .expect("get")
            .expect("exists")
            .seen_ms,
        5_000
    );
    assert_eq!(
        open().portal_session_counts().expect("counts"),
        [("ops".to_string(), 2)]
    );
    // Enrolment once; a step accepted once; recovery codes used up once.
    assert!(s
        .enroll_portal_totp("ops", &[7u8; 40], 100, &["aa".into(), "bb".into()])
        .expect("enrol"));
    assert!(!s
        .enroll_portal_totp("ops", &[8u8; 40], 100, &[])
        .expect("again"));
    let u = open().portal_user("ops").expect("get").expect("exists");
    assert_eq!(
        (u.totp_sealed.as_deref(), u.totp_last_step),
        (Some(&[7u8; 40][..]), 100)
    );
    assert!(!s.use_portal_totp_step("ops", 100).expect("same step"));
    assert!(s.use_portal_totp_step("ops", 101).expect("next step"));
    assert!(s.use_portal_recovery_code("ops", "bb").expect("use"));
    assert!(!s.use_portal_recovery_code("ops", "bb").expect("used"));
    assert!(!s.use_portal_recovery_code("nobody", "aa").expect("no user"));
    assert_eq!(
        open()
            .portal_user("ops")
            .expect("get")
            .expect("exists")
            .recovery,
        ["aa"]
    );
    // Single sign-on identities are unique; a change ends the sessions.
    s.insert_portal_user("other", "auditor", "$argon2id$z", "cli")
        .expect("insert");
    assert!(s.set_portal_user_sso("ops", Some("sub-1")).expect("link"));
    assert!(s.set_portal_user_sso("other", Some("sub-1")).is_err());
    assert_eq!(
        open()
            .portal_user_by_sso("sub-1")
            .expect("get")
            .expect("found")
            .name,
        "ops"
    );
    assert!(open().portal_session(&[2; 32]).expect("get").is_none());
    // A change to the user ends every session and revokes the admin tokens they made.
    s.insert_portal_session(&[3; 32], "ops", true, 1_000)
        .expect("session");
    s.insert_admin_token("adm-p", &[4; 32], "auditor", "bot", "portal:ops")
        .expect("token");
    assert!(s.set_portal_user_role("ops", "admin").expect("role"));
    assert!(open().portal_session(&[3; 32]).expect("get").is_none());
    assert!(
        !open()
            .get_admin_token("adm-p")
            .expect("get")
            .expect("exists")
            .active
    );
    assert!(!s.set_portal_user_active("nobody", false).expect("no user"));
    // The sweep, and deletion.
    s.insert_portal_session(&[5; 32], "other", true, 1_000)
        .expect("session");
    assert_eq!(s.forget_portal_sessions(2_000, 0).expect("sweep"), 1);
    s.insert_portal_session(&[6; 32], "other", true, 10_000)
        .expect("session");
    assert!(s.delete_portal_user("other").expect("delete"));
    assert!(open().portal_session(&[6; 32]).expect("get").is_none());
    assert!(open().portal_user("other").expect("get").is_none());
}

fn key_material_and_reseal(open: Open<'_>) {
    let mut s = migrated(open);
    assert!(s.key_material("hash-root").expect("none").is_none());
    assert!(s
        .bind_key_material("hash-root", "key-a", b"wrapped-a")
        .expect("bind"));
    assert!(
        !open()
            .bind_key_material("hash-root", "key-b", b"wrapped-b")
            .expect("second bind"),
        "the first binding stays"
    );
    assert_eq!(
        s.key_material("hash-root").expect("read"),
        Some(("key-a".to_string(), b"wrapped-a".to_vec()))
    );
    s.put_secret("acme", "one", b"sealed-1").expect("secret");
    s.put_secret("acme", "two", b"sealed-2").expect("secret");
    s.put_tenant_key("acme", b"sealed-key", b"cert", "x5t")
        .expect("key");
    assert_eq!(s.sealed_values().expect("sealed").len(), 3);

    // A failure half-way rolls everything back.
    let mut calls = 0;
    let mut failing = |_: &str, name: &str, c: &[u8]| {
        calls += 1;
        if name == "two" {
            Err("cannot open".to_string())
        } else {
            Ok([b"new:", c].concat())
        }
    };
    assert!(s
        .reseal_all(&mut failing, "hash-root", "key-b", b"wrapped-b")
        .is_err());
    assert!(calls >= 2);
    let other = open();
    assert_eq!(
        other
            .get_secret("acme", "one")
            .expect("get")
            .map(|x| x.ciphertext),
        Some(b"sealed-1".to_vec())
    );
    assert_eq!(
        other.key_material("hash-root").expect("read").map(|k| k.0),
        Some("key-a".to_string())
    );

    let mut ok = |_: &str, _: &str, c: &[u8]| Ok([b"new:", c].concat());
    let done = s
        .reseal_all(&mut ok, "hash-root", "key-b", b"wrapped-b")
        .expect("reseal");
    assert_eq!((done.secrets, done.tenant_keys), (2, 1));
    assert_eq!(
        other
            .get_tenant_key("acme")
            .expect("get")
            .map(|k| k.key_ciphertext),
        Some(b"new:sealed-key".to_vec())
    );
    assert_eq!(
        other.key_material("hash-root").expect("read"),
        Some(("key-b".to_string(), b"wrapped-b".to_vec()))
    );
}

fn killswitch_and_change_counter(open: Open<'_>) {
    let s = migrated(open);
    let other = open();
    assert!(!other.killswitch().expect("default off"));
    let c0 = other.change_counter().expect("counter");
    assert!(!s.set_killswitch(true, "cli:root").expect("on"));
    assert!(other.killswitch().expect("seen elsewhere"));
    assert!(s.set_killswitch(true, "cli:root").expect("again"));
    let c1 = other.change_counter().expect("counter");
    assert!(c1 > c0, "{c0} -> {c1}");
    s.create_account("a1", "acme", None, None).expect("a1");
    let c2 = other.change_counter().expect("counter");
    assert!(c2 > c1);
    s.put_secret("acme", "s", b"x").expect("secret");
    s.put_tenant_key("acme", b"k", b"c", "t").expect("key");
    let c3 = other.change_counter().expect("counter");
    assert!(c3 >= c2 + 2, "{c2} -> {c3}");
    let dir = open().load_directory().expect("directory");
    assert!(dir.killswitch && dir.counter == c3 && dir.accounts.len() == 1);
    assert!(
        s.set_killswitch(false, "cli:root").expect("off"),
        "it was on"
    );
    assert!(!open().killswitch().expect("off now"));
}

fn run_all(engine: &str, open_case: &dyn Fn(usize) -> Box<dyn Fn() -> Store>) {
    for (i, (name, case)) in CASES.iter().enumerate() {
        eprintln!("{engine}: {name}");
        let open = open_case(i);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&*open)));
        if let Err(e) = outcome {
            eprintln!("{engine}: case {name} failed");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn the_store_conforms_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let base = dir.path().to_path_buf();
    run_all("sqlite", &|i| {
        let path = base.join(format!("case-{i}.db"));
        Box::new(move || Store::open(&path).expect("open"))
    });
}

#[test]
fn the_store_conforms_on_postgres() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql("postgres", "create role gw login password 'gw-secret'")
        .expect("role");
    let dir = tempfile::tempdir().expect("dir");
    let pass = dir.path().join("pg.pass");
    std::fs::write(&pass, "gw-secret\n").expect("password file");
    let port = pg.port;
    let pg = &pg;
    run_all("postgres", &|i| {
        // A locale's collation, as production databases usually have (ICU, en-US), not the
        // byte order of the test cluster's C locale: every case holds under it.
        pg.psql(
            "postgres",
            &format!("create database case{i} owner gw template template0 locale_provider icu icu_locale 'en-US'"),
        )
        .expect("database");
        let db = Database::parse(
            &format!("postgres://gw@127.0.0.1:{port}/case{i}"),
            dir.path(),
            Some("pg.pass"),
            None,
        )
        .expect("target");
        Box::new(move || Store::connect(&db).unwrap_or_else(|e| panic!("connect: {e}")))
    });
}

#[test]
fn a_wrong_or_missing_postgres_password_is_a_clear_error_that_never_shows_it() {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql("postgres", "create role gw login password 'gw-secret'")
        .expect("role");
    pg.psql("postgres", "create database erpgate owner gw")
        .expect("database");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("wrong.pass"), "not-the-Secret-42\n").expect("write");
    let url = format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port);
    let wrong = Database::parse(&url, dir.path(), Some("wrong.pass"), None).expect("target");
    let e = Store::connect(&wrong).err().expect("refused").to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("not-the-Secret-42"), "{e}");
    assert!(!format!("{wrong:?}").contains("not-the-Secret-42"));
    let missing = Database::parse(&url, dir.path(), Some("absent.pass"), None).expect("target");
    let e = Store::connect(&missing).err().expect("refused").to_string();
    assert!(
        e.contains("gateway.database_password_file") && e.contains("absent.pass"),
        "{e}"
    );
    std::fs::write(dir.path().join("right.pass"), "gw-secret\n").expect("write");
    let right = Database::parse(&url, dir.path(), Some("right.pass"), None).expect("target");
    let mut s = Store::connect(&right).expect("connects");
    s.migrate().expect("migrate");
    s.check_schema().expect("current");
}
