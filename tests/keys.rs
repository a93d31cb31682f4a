//! The master key is bound to its database: a valid but wrong key is refused at start and by
//! every command that uses the key, with a clear message, before anything is written — also
//! for a database migrated before the binding existed, where the first key used must prove
//! itself against the audit trail and the sealed values before it is bound.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Gateway, Options};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn wrong_key() -> String {
    erpgate::crypto::MasterKey::generate()
        .expect("key")
        .1
        .expose()
        .clone()
}

fn key_id(b64: &str) -> String {
    erpgate::crypto::MasterKey::from_base64(b64)
        .expect("key")
        .key_id()
}

/// What a write would change: audit records, the change counter, the key material, the
/// kill switch row, admin tokens, gateway tokens.
fn state(gw: &Gateway) -> Vec<i64> {
    let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
    [
        "SELECT coalesce(SUM(last_id - id + 1), 0) FROM audit_batch",
        "SELECT MAX(last_id) FROM audit_batch",
        "SELECT value FROM change_counter",
        "SELECT COUNT(*) FROM key_material",
        "SELECT COUNT(*) FROM settings",
        "SELECT COUNT(*) FROM admin_tokens",
        "SELECT COUNT(*) FROM gateway_tokens",
        "SELECT COUNT(*) FROM accounts",
        "SELECT COUNT(*) FROM credentials",
    ]
    .iter()
    .map(|q| {
        conn.query_row(q, [], |r| r.get::<_, Option<i64>>(0))
            .expect(q)
            .unwrap_or(0)
    })
    .collect()
}

/// Every command that opens the database, as an operator would run it: those that use the
/// key, and those that do not need it but are run with one (a wrong key is never ignored).
const KEYED: &[&[&str]] = &[
    &["killswitch", "status"],
    &["account", "list"],
    &["credential", "list"],
    &["secret", "list"],
    &["token", "list"],
    &["admin-token", "list"],
    &["audit", "query"],
    &["audit", "export"],
    &["tenant", "show-key", "--tenant", "acme"],
    &["killswitch", "on"],
    &["killswitch", "off"],
    &["audit", "verify"],
    &["audit", "prune", "--days", "400", "--yes"],
    &["key", "id"],
    &["migrate"],
    &[
        "account", "create", "--name", "intruder", "--tenant", "acme",
    ],
    &["account", "suspend", "ap-sync"],
    &["credential", "issue", "--account", "ap-sync"],
    &["secret", "set", "--tenant", "acme", "--name", "other"],
    &["admin-token", "create", "--role", "owner", "--name", "x"],
    &["token", "prune", "--yes"],
    &["tenant", "gen-key", "--tenant", "acme"],
];

fn assert_all_refused(gw: &Gateway, key: &str, why: &str) {
    let before = state(gw);
    for args in KEYED {
        let out = gw.cli_env(args, &[("ERPGATE_APP_KEY", key)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} with a wrong key: {err}"
        );
        assert!(
            err.contains("is not this database's key") && err.contains(why),
            "{args:?}: {err}"
        );
        assert_eq!(
            state(gw),
            before,
            "{args:?} wrote something under a wrong key"
        );
    }
}

/// Runs `erpgate serve` with `key`; its exit code and output if it exits within `within`.
fn serve_with(gw: &Gateway, key: &str, within: Duration) -> Option<(Option<i32>, String)> {
    let log = gw.dir.path().join("wrong-serve.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["serve", "--config"])
        .arg(&gw.config)
        .env("ERPGATE_APP_KEY", key)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((
                status.code(),
                std::fs::read_to_string(&log).unwrap_or_default(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_wrong_key_is_refused_at_start_and_by_every_command_before_anything_is_written() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    assert_eq!(gw.stop(), Some(0));
    let wrong = wrong_key();
    // Bound from `migrate` on: the key material names the key the tests migrated with.
    let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
    let bound: String = conn
        .query_row(
            "SELECT key_id FROM key_material WHERE name = 'hash_root'",
            [],
            |r| r.get(0),
        )
        .expect("bound at migrate");
    assert_eq!(bound, key_id(&gw.app_key));

    assert_all_refused(&gw, &wrong, &key_id(&wrong));
    let status = gw.ok(&["killswitch", "status"]);
    assert!(status.contains("off"), "{status}");

    let (code, log) = serve_with(&gw, &wrong, Duration::from_secs(15))
        .expect("serve with a wrong key must refuse to start");
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("is not this database's key"), "{log}");

    // The right key: everything as before, one intact chain.
    gw.spawn();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    assert_eq!(gw.stop(), Some(0));
    let verify = gw.ok(&["audit", "verify"]);
    assert!(verify.starts_with("audit chain intact"), "{verify}");
}

#[test]
fn a_database_from_before_the_binding_binds_only_a_key_that_opens_what_it_holds() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.stop(), Some(0));
    let wrong = wrong_key();
    // A database migrated before this change: no key material.
    let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
    conn.execute("DELETE FROM key_material", [])
        .expect("unbind");

    // The oldest audit record does not verify under a wrong key: refused, nothing bound.
    assert_all_refused(&gw, &wrong, "audit record 1");
    // With the audit trail gone too (a database whose trail was emptied by hand), the sealed
    // upstream secrets still tell: they do not open with the wrong key.
    conn.execute_batch("DROP TRIGGER audit_batch_no_delete; DELETE FROM audit_batch;")
        .expect("empty the trail");
    assert_all_refused(&gw, &wrong, "does not open");
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM key_material", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 0, "a wrong key was never bound");

    // The right key proves itself and is bound on first use; after that the wrong key is
    // refused by the binding itself.
    let out = gw.ok(&["key", "id"]);
    assert!(out.contains(&key_id(&gw.app_key)), "{out}");
    let bound: String = conn
        .query_row(
            "SELECT key_id FROM key_material WHERE name = 'hash_root'",
            [],
            |r| r.get(0),
        )
        .expect("bound on first use");
    assert_eq!(bound, key_id(&gw.app_key));
    assert_all_refused(&gw, &wrong, &bound);
    gw.spawn();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
}

#[test]
fn a_first_migration_without_a_key_binds_the_first_key_used() {
    let gw = Gateway::prepare(Options::default());
    // Start over: a fresh database migrated before any key exists.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", gw.db_path().display()));
    }
    let out = gw.cli_env(&["migrate"], &[("ERPGATE_APP_KEY", "")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("binds it"));
    // The first key used binds itself; a second key is then refused.
    gw.ok(&["killswitch", "off"]);
    let wrong = wrong_key();
    assert_all_refused(&gw, &wrong, &key_id(&wrong));
    let verify = gw.ok(&["audit", "verify"]);
    assert!(verify.starts_with("audit chain intact"), "{verify}");
}
