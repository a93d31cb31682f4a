//! The CLI as an operator uses it: who acted is the process's real uid, not `$USER`; commands
//! that destroy evidence or state ask for `--yes` and never cut the audit trail below
//! `gateway.audit_min_retention_days`.

mod support;

use support::{Gateway, Options};

fn count(gw: &Gateway, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_cli_actor_is_the_real_uid_and_sudo_user_only_a_hint() {
    let gw = Gateway::prepare(Options::default());
    // The login name of our real uid, as the system tools report it.
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id -un");
    let real = String::from_utf8_lossy(&id.stdout).trim().to_string();
    assert!(!real.is_empty());
    assert_ne!(real, "mallory");
    let spoof = [
        ("USER", "mallory"),
        ("LOGNAME", "mallory"),
        ("SUDO_USER", "eve"),
    ];
    let out = gw.cli_env(&["killswitch", "on"], &spoof);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(gw.audit(&["--actor", "cli:mallory"]).is_empty());
    let recs = gw.audit(&["--actor", &format!("cli:{real}")]);
    let rec = recs
        .iter()
        .find(|r| r["method"] == "killswitch.on")
        .unwrap_or_else(|| panic!("killswitch.on by cli:{real}: {recs:?}"));
    assert_eq!(rec["note"]["sudo_user_hint"], "eve", "{rec}");
    let by: String = rusqlite::Connection::open(gw.db_path())
        .expect("db")
        .query_row(
            "SELECT updated_by FROM settings WHERE value = 'on'",
            [],
            |r| r.get(0),
        )
        .expect("kill switch row");
    assert_eq!(by, format!("cli:{real}"));
    // Without SUDO_USER there is no hint.
    let out = gw.cli_env(&["killswitch", "off"], &[("USER", "mallory")]);
    assert!(out.status.success());
    let recs = gw.audit(&["--actor", &format!("cli:{real}")]);
    let off = recs
        .iter()
        .find(|r| r["method"] == "killswitch.off")
        .expect("killswitch.off");
    assert!(off["note"].get("sudo_user_hint").is_none(), "{off}");
}

#[test]
fn audit_prune_asks_for_yes_and_never_cuts_below_the_minimum_retention() {
    let gw = Gateway::prepare(Options::default());
    let all = "SELECT coalesce(SUM(last_id - id + 1), 0) FROM audit_batch";
    let n = count(&gw, all);
    assert!(n >= 5, "the setup left records ({n})");
    // `--days 0` used to delete every record without asking.
    for args in [
        &["audit", "prune", "--days", "0"][..],
        &["audit", "prune", "--days", "0", "--yes"],
        &["audit", "prune", "--days", "29", "--yes"],
    ] {
        let out = gw.cli(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("below gateway.audit_min_retention_days (30): nothing pruned"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_eq!(count(&gw, all), n, "{args:?} deleted records");
    }
    // At the minimum, without --yes: it says what it would do and does nothing.
    let out = gw.cli(&["audit", "prune", "--days", "30"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would delete 0 audit record(s)") && stderr(&out).contains("--yes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&gw, all), n);
    // With --yes it runs (nothing here is older than 30 days).
    let out = gw.ok(&["audit", "prune", "--days", "30", "--yes"]);
    assert!(out.contains("pruned 0 record(s)"), "{out}");
    assert!(gw.ok(&["audit", "verify"]).contains("intact"));
}

#[test]
fn token_prune_asks_for_yes_and_is_audited() {
    let gw = Gateway::prepare(Options::default());
    let cred = gw.issue("ap-sync");
    {
        let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
        let expired = chrono::Utc::now().timestamp() - 3 * 86_400;
        conn.execute(
            "INSERT INTO gateway_tokens (id, token_hash, credential_id, issued_at, expires_at, status)
             VALUES ('00112233445566aa', zeroblob(32), ?1, '2026-01-01T00:00:00Z', ?2, 'active')",
            rusqlite::params![cred.id, expired],
        )
        .expect("an expired token row");
    }
    let tokens = "SELECT COUNT(*) FROM gateway_tokens";
    let out = gw.cli(&["token", "prune"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would delete 1 expired token row(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&gw, tokens), 1);
    let out = gw.ok(&["token", "prune", "--yes"]);
    assert!(out.contains("1 expired token rows deleted"), "{out}");
    assert_eq!(count(&gw, tokens), 0);
    let recs = gw.audit(&[]);
    let rec = recs
        .iter()
        .find(|r| r["method"] == "token.prune")
        .expect("token.prune record");
    assert_eq!(rec["note"]["deleted"], 1, "{rec}");
}
