//! The actor lookup (`audit_actor_second`) on both engines: written with the records, rebuilt
//! by its migration, append-only, read page by page, remembered by the writer, and checked by
//! verification.

use erpgate::audit::chain::{self, Verdict};
use erpgate::audit::AuditRecord;
use erpgate::crypto::MasterKey;
use erpgate::store::sql::Engine;
use erpgate::store::Store;

use super::audit::{intact, refused_as_append_only};
use super::{migrated, Open};

/// The actor lookup (`audit_actor_second`): written with the records, rebuilt by its
/// migration from a trail written before it, append-only, read page by page by queries by
/// actor, and checked by verification.
pub fn actor_lookup(open: Open<'_>) {
    use erpgate::audit::query::{last_use, last_uses, select_rows, Filter};
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    // A rare actor in 150 seconds, 40 s apart, and a busy one in every second between.
    let mut recs = Vec::new();
    for i in 0..150 * 40 {
        let t = chrono::DateTime::from_timestamp(1_796_083_200 + i, 250_000_000).expect("time");
        let rare = i % 40 == 0;
        recs.push(AuditRecord {
            ts: t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            request_id: format!("{}-{i}", if rare { "rare" } else { "busy" }),
            kind: Some(erpgate::audit::Kind::Request),
            actor: if rare { "rare" } else { "busy" }.into(),
            credential_id: Some(if i == 40 { "cred_old" } else { "cred_new" }.into()),
            method: "GET".into(),
            path: "/fscmRestApi/resources/11.13.18.05/invoices".into(),
            decision: "relayed".into(),
            ..Default::default()
        });
    }
    for part in recs.chunks(512) {
        chain::append(s.conn(), &key, "gw-a", part).expect("append");
    }
    let count = |sql: &str| s.conn().query_one(sql, &[]).expect(sql).int(0).expect("n");
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_actor_second WHERE actor = 'rare'"),
        150
    );
    assert_eq!(count("SELECT COUNT(*) FROM audit_actor_second"), 150 * 40);
    assert_eq!(
        intact(&chain::verify_db(s.conn(), &key).expect("verify"), "gw-a"),
        6000
    );

    // The newest 100 of the rare actor cross two pages of its seconds; the next page of
    // records continues before the first's oldest.
    let rare = |before: Option<(String, i64)>, limit| {
        let f = Filter {
            actor: Some("rare".into()),
            before,
            ..Default::default()
        };
        select_rows(s.conn(), &f, limit).expect("select")
    };
    let ids = |rows: &[erpgate::audit::query::Row]| -> Vec<String> {
        rows.iter()
            .map(|r| {
                serde_json::from_str::<AuditRecord>(&r.record)
                    .expect("json")
                    .request_id
            })
            .collect()
    };
    let first = rare(None, 100);
    let want: Vec<String> = (50..150).map(|k| format!("rare-{}", k * 40)).collect();
    assert_eq!(ids(&first), want);
    let cursor = first.first().map(|r| (r.ts.clone(), r.id));
    let second = rare(cursor, 100);
    let want: Vec<String> = (0..50).map(|k| format!("rare-{}", k * 40)).collect();
    assert_eq!(ids(&second), want);
    // Time bounds apply exactly, within a second too.
    let window = Filter {
        actor: Some("busy".into()),
        since: Some("2026-12-01T00:00:10.25Z".into()),
        until: Some("2026-12-01T00:00:13.25Z".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(&select_rows(s.conn(), &window, 10).expect("window")),
        ["busy-10", "busy-11", "busy-12"]
    );
    assert!(rare(None, 0).is_empty());
    if s.conn().engine() == Engine::Postgres {
        // The lookup's retention function, called with cuts of one's own choosing (as the
        // gateways' role may): a cut that only looks like a time under a locale's collation
        // is refused, and a cut in the future deletes nothing a record is behind.
        let e = s
            .conn()
            .query_one(
                "SELECT erpgate_audit_prune_lookup('2026-12-01Ť00:00:41')",
                &[],
            )
            .expect_err("not a time");
        assert!(e.to_string().contains("RFC 3339"), "{e}");
        let n = s
            .conn()
            .query_one(
                "SELECT erpgate_audit_prune_lookup('9999-12-31T23:59:59.999999Z')",
                &[],
            )
            .expect("a cut in the future")
            .int(0)
            .expect("n");
        assert_eq!(n, 0);
        assert_eq!(count("SELECT COUNT(*) FROM audit_actor_second"), 150 * 40);
    }
    // A bound that is not a time is the caller's error, by actor too.
    let bad = Filter {
        actor: Some("rare".into()),
        since: Some("yesterday".into()),
        ..Default::default()
    };
    assert!(matches!(
        select_rows(s.conn(), &bad, 10),
        Err(erpgate::audit::query::QueryError::Bound { field: "since", .. })
    ));
    // The last use of a credential among the account's newest request records.
    assert_eq!(
        last_use(s.conn(), "rare", "cred_new")
            .expect("last use")
            .as_deref(),
        Some("2026-12-01T01:39:20.250000Z")
    );
    assert_eq!(
        last_use(s.conn(), "rare", "cred_old")
            .expect("last use")
            .as_deref(),
        Some("2026-12-01T00:00:40.250000Z")
    );
    assert_eq!(
        last_use(s.conn(), "rare", "cred_none").expect("last use"),
        None
    );
    assert_eq!(
        last_use(s.conn(), "nobody", "cred_new").expect("last use"),
        None
    );
    // Several credential sets in one walk; a name is matched exactly (`_` is no wildcard).
    assert_eq!(
        last_uses(
            s.conn(),
            "rare",
            &["cred_old", "cred_none", "cred_new", "cred%", "cred_ne_"]
        )
        .expect("last uses"),
        [
            Some("2026-12-01T00:00:40.250000Z".to_string()),
            None,
            Some("2026-12-01T01:39:20.250000Z".to_string()),
            None,
            None,
        ]
    );

    // Append-only, like the trail.
    refused_as_append_only(
        &s,
        "audit_actor_second",
        &[
            "UPDATE audit_actor_second SET actor = 'x' WHERE actor = 'rare'",
            "DELETE FROM audit_actor_second WHERE actor = 'rare'",
        ],
    );

    // Deleting a lookup row (an attacker with the database's rights) hides the records of
    // that actor and second from queries by actor: verification names the first of them.
    match s.conn().engine() {
        Engine::Sqlite => s
            .conn()
            .batch("DROP TRIGGER audit_actor_second_no_delete")
            .expect("drop trigger"),
        Engine::Postgres => s
            .conn()
            .batch("ALTER TABLE audit_actor_second DISABLE TRIGGER audit_actor_second_no_update")
            .expect("disable trigger"),
    }
    s.conn()
        .execute(
            "DELETE FROM audit_actor_second WHERE actor = 'rare' AND second = '2026-12-01T00:00:40'",
            &[],
        )
        .expect("delete");
    assert_eq!(ids(&rare(None, 200)).len(), 149, "hidden from the query");
    let report = chain::verify_db(s.conn(), &key).expect("verify");
    match report.chain("gw-a") {
        Some(Verdict::Broken { id, why }) => {
            assert_eq!(*id, 41, "the rare actor's second record");
            assert!(why.contains("actor lookup"), "{why}");
        }
        other => panic!("a deleted lookup row was not detected: {other:?}"),
    }
    // What is missing can be added back from the records (the repair after an old gateway's
    // appends, `erpgate audit reindex`).
    assert_eq!(chain::reindex(s.conn()).expect("reindex"), 1);
    assert_eq!(chain::reindex(s.conn()).expect("again"), 0);
    assert_eq!(
        intact(&chain::verify_db(s.conn(), &key).expect("verify"), "gw-a"),
        6000
    );
    assert_eq!(ids(&rare(None, 200)).len(), 150);
}

/// An appender that remembers the lookup rows it has committed (the writer does) writes each
/// (actor, second) once, remembers nothing of a batch that failed (in the batch, or at its
/// commit), writes a forgotten second's rows again harmlessly, and starts afresh once
/// retention has pruned its chain: the lookup holds exactly the rows the records imply.
pub fn actor_lookup_remembered(open: Open<'_>) {
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    let mut noted = chain::NotedSeconds::new();
    // A lookup row for the actor `poison` makes the transaction fail at its COMMIT (a deferred
    // foreign key left dangling): after every statement of the batch has succeeded.
    s.conn()
        .batch(match s.conn().engine() {
            Engine::Sqlite => {
                "CREATE TABLE poison_target (id INTEGER PRIMARY KEY);
                 CREATE TABLE poison_ref (x INTEGER REFERENCES poison_target(id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE TRIGGER poison AFTER INSERT ON audit_actor_second WHEN NEW.actor = 'poison'
                 BEGIN INSERT INTO poison_ref VALUES (1); END;"
            }
            Engine::Postgres => {
                "CREATE TABLE poison_target (id BIGINT PRIMARY KEY);
                 CREATE TABLE poison_ref (x BIGINT REFERENCES poison_target(id) DEFERRABLE INITIALLY DEFERRED);
                 CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.actor = 'poison' THEN INSERT INTO poison_ref VALUES (1); END IF; RETURN NULL; END $$;
                 CREATE TRIGGER poison AFTER INSERT ON audit_actor_second
                 FOR EACH ROW EXECUTE FUNCTION poison();"
            }
        })
        .expect("poison");
    // Seven records a second over 20 seconds (more than the appender remembers), four actors.
    let at = |i: usize| AuditRecord {
        ts: format!("2026-12-01T00:00:{:02}.{:06}Z", i / 7, i % 7),
        request_id: format!("n-{i}"),
        actor: format!("actor-{}", i % 4),
        method: "GET".into(),
        path: "/fscmRestApi/resources/11.13.18.05/invoices".into(),
        decision: "relayed".into(),
        ..Default::default()
    };
    let all: Vec<AuditRecord> = (0..140).map(at).collect();
    for (k, part) in all.chunks(5).enumerate() {
        if k % 3 > 0 {
            // The same records and one that fails the batch: of another chain (refused while
            // the rows are written), or of the poisoned actor (refused at the commit). The
            // batch is rolled back, and the rows it would have written must be written by the
            // next.
            let mut failing = part.to_vec();
            let mut bad = at(1000);
            if k % 3 == 1 {
                bad.node = Some("gw-b".into());
            } else {
                bad.actor = "poison".into();
            }
            failing.push(bad);
            assert!(chain::append_noting(s.conn(), &key, "gw-a", &failing, &mut noted).is_err());
        }
        chain::append_noting(s.conn(), &key, "gw-a", part, &mut noted).expect("append");
    }
    let again: Vec<AuditRecord> = (0..10)
        .map(|i| AuditRecord {
            request_id: format!("again-{i}"),
            ..at(i)
        })
        .collect();
    chain::append_noting(s.conn(), &key, "gw-a", &again, &mut noted).expect("forgotten seconds");
    let got: Vec<(String, String)> = s
        .conn()
        .query(
            "SELECT actor, second FROM audit_actor_second ORDER BY actor, second",
            &[],
        )
        .expect("lookup")
        .iter()
        .map(|r| (r.text(0).expect("actor"), r.text(1).expect("second")))
        .collect();
    let want: std::collections::BTreeSet<(String, String)> = all
        .iter()
        .map(|r| (r.actor.clone(), r.ts[..19].to_string()))
        .collect();
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
    assert_eq!(
        intact(&chain::verify_db(s.conn(), &key).expect("verify"), "gw-a"),
        150
    );

    // Retention prunes the chain under the appender (another process, its clock ahead, or
    // the appender draining a backlog): the row the appender remembers for `late` goes with
    // its record, and a later record of `late` in that second must bring it back.
    let one = |actor: &str, ts: &str| AuditRecord {
        actor: actor.into(),
        ts: ts.into(),
        request_id: format!("{actor}-{ts}"),
        ..at(0)
    };
    for r in [
        one("late", "2026-12-01T00:00:30.100000Z"),
        one("other", "2026-12-01T00:00:50.000000Z"),
    ] {
        chain::append_noting(s.conn(), &key, "gw-a", &[r], &mut noted).expect("before prune");
    }
    s.set_retention_floor(0).expect("floor");
    let pruned = chain::prune(s.conn(), &key, "2026-12-01T00:00:40Z", "test").expect("prune");
    assert_eq!(pruned, 151, "all but the chain's newest");
    let late = |s: &Store| {
        s.conn()
            .query_one(
                "SELECT COUNT(*) FROM audit_actor_second WHERE actor = 'late'",
                &[],
            )
            .expect("late")
            .int(0)
            .expect("n")
    };
    assert_eq!(late(&s), 0, "retention took the row with its record");
    chain::append_noting(
        s.conn(),
        &key,
        "gw-a",
        &[one("late", "2026-12-01T00:00:30.500000Z")],
        &mut noted,
    )
    .expect("after prune");
    assert_eq!(late(&s), 1, "written again");
    assert_eq!(
        intact(&chain::verify_db(s.conn(), &key).expect("verify"), "gw-a"),
        3,
        "the newest, the checkpoint, and the record after it"
    );
}
