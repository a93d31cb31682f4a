use super::*;

/// SQLite's plan for `sql` (the detail of each `EXPLAIN QUERY PLAN` row): what tests that fix
/// which index a statement reads assert on.
pub(crate) fn plan(conn: &sql::Conn, sql: &str, params: &[sql::Value]) -> Vec<String> {
    conn.query(&format!("EXPLAIN QUERY PLAN {sql}"), params)
        .expect("plan")
        .iter()
        .map(|r| r.text(3).expect("detail"))
        .collect()
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = Store::open(&dir.path().join("t.db")).expect("open");
    s.migrate().expect("migrate");
    (dir, s)
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

#[test]
fn migrate_is_idempotent_and_schema_is_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t.db");
    let mut s = Store::open(&path).expect("open");
    assert!(matches!(
        s.check_schema(),
        Err(StoreError::Unmigrated { current: 0, .. })
    ));
    assert_eq!(
        s.migrate().expect("m1"),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    );
    assert!(s.migrate().expect("m2").is_empty());
    s.check_schema().expect("current");
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

#[test]
fn file_is_private_and_in_wal_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, s) = fresh();
    let mode = std::fs::metadata(dir.path().join("t.db"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let jm = s
        .conn()
        .query_one("PRAGMA journal_mode", &[])
        .and_then(|r| r.text(0))
        .expect("pragma");
    assert_eq!(jm, "wal");
}

#[test]
fn every_change_bumps_the_counter_even_from_another_connection() {
    let (dir, s) = fresh();
    let other = Store::open(&dir.path().join("t.db")).expect("second connection");
    let mut last = s.change_counter().expect("c");
    let mut bumped = |what: &str| {
        let now = s.change_counter().expect("c");
        assert!(now > last, "{what} did not bump the counter");
        last = now;
    };
    other
        .create_account("ap-sync", "acme", None, None)
        .expect("create");
    bumped("account create");
    other
        .insert_credential(&cred("cred_1", "ap-sync", "ap-sync.aa", "0123456789abcdef"))
        .expect("cred");
    bumped("credential insert");
    other.revoke_credential("cred_1").expect("revoke");
    bumped("revoke");
    other
        .set_account_status("ap-sync", AccountStatus::Suspended)
        .expect("suspend");
    bumped("suspend");
    other.put_secret("acme", "pw", b"sealed").expect("secret");
    bumped("secret");
    other.set_killswitch(true, "test").expect("ks");
    bumped("killswitch");
}

#[test]
fn directory_is_consistent_and_debug_hides_hashes() {
    let (_dir, s) = fresh();
    s.create_account("ap-sync", "acme", Some("AP_USER"), Some("ap-pw"))
        .expect("create");
    s.insert_credential(&cred("cred_1", "ap-sync", "ap-sync.aa", "0123456789abcdef"))
        .expect("cred");
    s.put_secret("acme", "ap-pw", b"\x01sealed-bytes")
        .expect("secret");
    let d = s.load_directory().expect("dir");
    assert_eq!(d.accounts.len(), 1);
    assert_eq!(d.credentials[0].account, "ap-sync");
    assert_eq!(d.credentials[0].api_key_hash, [9u8; 32]);
    assert_eq!(d.secrets[0].ciphertext, b"\x01sealed-bytes");
    assert!(!d.killswitch);
    let dbg = format!("{:?} {:?}", d.credentials[0], d.secrets[0]);
    assert!(
        !dbg.contains("argon2id") && !dbg.contains("sealed-bytes") && !dbg.contains("9, 9"),
        "{dbg}"
    );
}

#[test]
fn errors_are_precise() {
    let (_dir, s) = fresh();
    s.create_account("ap-sync", "acme", None, None)
        .expect("create");
    assert!(matches!(
        s.create_account("ap-sync", "acme", None, None),
        Err(StoreError::Conflict {
            what: "account",
            ..
        })
    ));
    for bad in ["", "Upper", "-lead", "has space", &"x".repeat(65)] {
        assert!(
            matches!(
                s.create_account(bad, "acme", None, None),
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        s.revoke_credential("cred_nope"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.set_account_status("nope", AccountStatus::Active),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.insert_credential(&cred("cred_2", "nope", "u", "0123456789abcdef")),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn revocation_is_idempotent_and_killswitch_persists() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t.db");
    {
        let mut s = Store::open(&path).expect("open");
        s.migrate().expect("migrate");
        s.create_account("a", "acme", None, None).expect("create");
        s.insert_credential(&cred("cred_1", "a", "a.1", "0123456789abcdef"))
            .expect("cred");
        let first = s.revoke_credential("cred_1").expect("revoke").revoked_at;
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = s.revoke_credential("cred_1").expect("again").revoked_at;
        assert!(first.is_some());
        assert_eq!(first, second);
        assert!(!s.set_killswitch(true, "t").expect("on"));
    }
    let s = Store::open(&path).expect("reopen");
    assert!(s.killswitch().expect("ks"));
    assert_eq!(
        s.list_credentials(Some("a")).expect("list")[0].status,
        CredentialStatus::Revoked
    );
}
