//! The audit trail's cases: a chain per gateway, appended concurrently through several
//! connections, verified chain by chain, tampering named by node and record, retention per
//! chain, queries merged by time.

use erpgate::audit::chain::{self, Report, Verdict};
use erpgate::audit::AuditRecord;
use erpgate::crypto::MasterKey;
use erpgate::store::sql::Engine;
use erpgate::store::Store;

use super::{migrated, Open};

/// `n` records on `day` (second `i` of its first minute), request ids `r-{day}-{i}`.
pub fn records(n: usize, day: u32) -> Vec<AuditRecord> {
    (0..n)
        .map(|i| AuditRecord {
            ts: format!("2026-12-{day:02}T00:00:{i:02}.000000Z"),
            request_id: format!("r-{day}-{i}"),
            actor: if i % 2 == 0 { "ap-sync" } else { "hr-feed" }.into(),
            method: "GET".into(),
            path: format!("/fscmRestApi/resources/11.13.18.05/invoices/{i}"),
            decision: "relayed".into(),
            status: Some(200),
            ..Default::default()
        })
        .collect()
}

/// The records of `node`'s chain, which must be intact.
pub fn intact(report: &Report, node: &str) -> u64 {
    match report.chain(node) {
        Some(Verdict::Intact { records, .. }) => *records,
        other => panic!("chain {node:?}: {other:?} in {report:?}"),
    }
}

/// Lets the test's owner role edit the trail the way an attacker with database rights could.
pub fn disable_protection(s: &Store) {
    match s.conn().engine() {
        Engine::Sqlite => s
            .conn()
            .batch("DROP TRIGGER audit_batch_no_update; DROP TRIGGER audit_batch_no_delete")
            .expect("drop triggers"),
        Engine::Postgres => s
            .conn()
            .batch("ALTER TABLE audit_batch DISABLE TRIGGER audit_batch_no_update")
            .expect("disable trigger"),
    }
}

/// Each of `writes` on `table` is refused as append-only, and so, on PostgreSQL, is
/// `TRUNCATE table` (SQLite has no `TRUNCATE`).
pub fn refused_as_append_only(s: &Store, table: &str, writes: &[&str]) {
    for sql in writes {
        let e = s.conn().execute(sql, &[]).expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    if s.conn().engine() == Engine::Postgres {
        let e = s
            .conn()
            .batch(&format!("TRUNCATE {table}"))
            .expect_err("truncate");
        assert!(e.to_string().contains("append-only"), "{table}: {e}");
    }
}

pub fn chains(open: Open<'_>) {
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    let recs = records(10, 1);
    // Two gateways' chains interleave by id.
    assert_eq!(
        chain::append(s.conn(), &key, "gw-a", &recs[..4]).expect("a"),
        4
    );
    assert_eq!(
        chain::append(open().conn(), &key, "gw-b", &recs[4..7]).expect("b"),
        7
    );
    assert_eq!(
        chain::append(open().conn(), &key, "gw-a", &recs[7..]).expect("a again"),
        10
    );
    let report = chain::verify_db(open().conn(), &key).expect("verify");
    assert!(report.intact(), "{report:?}");
    assert_eq!((intact(&report, "gw-a"), intact(&report, "gw-b")), (7, 3));
    assert_eq!(report.records(), 10);
    // Every stored record names its chain, in the hashed JSON and beside it: gw-b's batch
    // holds records 5 to 7, one per line.
    let row = s
        .conn()
        .query_one(
            "SELECT records, node, last_id FROM audit_batch WHERE id = 5",
            &[],
        )
        .expect("row");
    let lines = row.text(0).expect("json");
    assert_eq!(lines.lines().count(), 3);
    for line in lines.lines() {
        let rec: AuditRecord = serde_json::from_str(line).expect("record");
        assert_eq!(rec.node.as_deref(), Some("gw-b"));
    }
    assert_eq!(row.int(2).expect("last id"), 7);
    assert_eq!(row.text(1).expect("node"), "gw-b");

    let (other, _) = MasterKey::generate().expect("key");
    let wrong = chain::verify_db(s.conn(), &other.audit_key()).expect("verify");
    assert_eq!(
        wrong.first_broken().map(|(n, id, _)| (n.to_string(), id)),
        Some(("gw-a".to_string(), 1))
    );
    refused_as_append_only(
        &s,
        "audit_batch",
        &[
            "UPDATE audit_batch SET node = 'x' WHERE id = 5",
            "DELETE FROM audit_batch WHERE id = 5",
            "DELETE FROM audit_batch",
        ],
    );
    assert_eq!(s.oldest_audit_row().expect("oldest").map(|r| r.0), Some(1));

    // Concurrent appenders: two processes of gateway a (its writer and a CLI command) and two
    // of gateway b; every chain stays unbroken.
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let store = open();
            let key = m.audit_key();
            let node = if t < 2 { "gw-a" } else { "gw-b" };
            std::thread::spawn(move || {
                for round in 0..5 {
                    let batch = records(3, 10 + t)
                        .into_iter()
                        .map(|mut r| {
                            r.request_id = format!("{}-{round}", r.request_id);
                            r
                        })
                        .collect::<Vec<_>>();
                    chain::append(store.conn(), &key, node, &batch).expect("concurrent append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("appender");
    }
    let report = chain::verify_db(s.conn(), &key).expect("verify");
    assert_eq!(
        (intact(&report, "gw-a"), intact(&report, "gw-b")),
        (7 + 2 * 5 * 3, 3 + 2 * 5 * 3)
    );
    // A record cannot join another node's chain.
    let mut foreign = records(1, 20).remove(0);
    foreign.node = Some("gw-a".into());
    assert!(chain::append(s.conn(), &key, "gw-b", &[foreign]).is_err());
}

pub fn tampering(open: Open<'_>) {
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    for (node, day) in [
        ("gw-a", 1),
        ("gw-b", 2),
        ("gw-c", 3),
        ("gw-a", 4),
        ("gw-b", 5),
        ("gw-b", 6),
        ("gw-c", 7),
    ] {
        chain::append(s.conn(), &key, node, &records(3, day)).expect("append");
    }
    // Batches of three: gw-a 1, 10; gw-b 4, 13, 16; gw-c 7, 19.
    disable_protection(&s);
    s.conn()
        .execute("DELETE FROM audit_batch WHERE id = 13", &[])
        .expect("delete");
    let report = chain::verify_db(open().conn(), &key).expect("verify");
    assert_eq!(intact(&report, "gw-a"), 6);
    assert_eq!(intact(&report, "gw-c"), 6);
    match report.chain("gw-b") {
        Some(Verdict::Broken { id, why }) => {
            assert_eq!(*id, 16, "the batch after the gap");
            assert!(why.contains("missing"), "{why}");
        }
        other => panic!("deletion in gw-b not detected: {other:?}"),
    }
    // Moving a batch into another chain (its column) is named too.
    s.conn()
        .execute("UPDATE audit_batch SET node = 'gw-c' WHERE id = 1", &[])
        .expect("move");
    let report = chain::verify_db(open().conn(), &key).expect("verify");
    assert!(
        matches!(report.chain("gw-c"), Some(Verdict::Broken { id: 1, why }) if why.contains("another node")),
        "{report:?}"
    );
    // A chain whose head was removed does not start at genesis.
    s.conn()
        .execute("UPDATE audit_batch SET node = 'gw-a' WHERE id = 1", &[])
        .expect("put back");
    s.conn()
        .execute("DELETE FROM audit_batch WHERE id = 7", &[])
        .expect("delete head");
    let report = chain::verify_db(open().conn(), &key).expect("verify");
    assert!(
        matches!(report.chain("gw-c"), Some(Verdict::Broken { id: 19, why }) if why.contains("genesis")),
        "{report:?}"
    );
    assert_eq!(intact(&report, "gw-a"), 6);
}

pub fn retention_and_query(open: Open<'_>) {
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    // Retention deletes whole batches, never a chain's newest: gw-b's and gw-c's records are
    // a batch each.
    chain::append(s.conn(), &key, "gw-a", &records(6, 1)).expect("old a");
    for r in records(2, 1) {
        chain::append(s.conn(), &key, "gw-b", &[r]).expect("old b");
    }
    chain::append(s.conn(), &key, "gw-a", &records(4, 3)).expect("new a");
    // gw-c has only old records: its newest is kept, so its chain can continue.
    for r in records(3, 1) {
        chain::append(s.conn(), &key, "gw-c", &[r]).expect("old c");
    }
    // The stored floor (30 days unless `migrate` recorded the configured one) refuses to
    // prune these records of a few days ago, on both engines.
    assert_eq!(s.retention_floor().expect("floor"), 30);
    let e = chain::prune(s.conn(), &key, "2026-12-02T00:00:00Z", "test").expect_err("floor");
    assert!(e.to_string().contains("retention floor"), "{e}");
    s.set_retention_floor(0).expect("floor");
    let pruned = chain::prune(s.conn(), &key, "2026-12-02T00:00:00Z", "test").expect("prune");
    assert_eq!(pruned, 6 + 1 + 2, "all old records but each chain's newest");
    // The actor lookup keeps the seconds records are left in (from gw-b's r-1-1 on).
    let seconds = |actor: &str| -> Vec<String> {
        s.conn()
            .query(
                "SELECT second FROM audit_actor_second WHERE actor = ?1 AND second < '2026-12-03' ORDER BY second",
                &[actor.into()],
            )
            .expect("seconds")
            .iter()
            .map(|r| r.text(0).expect("second"))
            .collect()
    };
    assert_eq!(seconds("ap-sync"), ["2026-12-01T00:00:02"], "gw-c's newest");
    assert_eq!(seconds("hr-feed"), ["2026-12-01T00:00:01"], "gw-b's newest");
    let report = chain::verify_db(open().conn(), &key).expect("verify");
    assert_eq!(intact(&report, "gw-a"), 4 + 1, "the rest and a checkpoint");
    assert_eq!(intact(&report, "gw-b"), 1 + 1);
    assert_eq!(intact(&report, "gw-c"), 1 + 1);
    assert!(
        s.conn().execute("DELETE FROM audit_batch", &[]).is_err(),
        "the gate closed again"
    );
    chain::append(s.conn(), &key, "gw-b", &records(2, 4)).expect("after prune");
    assert_eq!(
        intact(&chain::verify_db(s.conn(), &key).expect("verify"), "gw-b"),
        4
    );

    use erpgate::audit::query::{select, Filter};
    let ids = |f: &Filter, limit| -> Vec<String> {
        select(s.conn(), f, limit)
            .expect("select")
            .iter()
            .map(|j| {
                serde_json::from_str::<AuditRecord>(j)
                    .expect("json")
                    .request_id
            })
            .collect()
    };
    let day3 = Filter {
        since: Some("2026-12-03T00:00:00Z".into()),
        until: Some("2026-12-03T05:00:02+05:00".into()),
        ..Default::default()
    };
    assert_eq!(ids(&day3, 10), ["r-3-0", "r-3-1"]);
    let actor = Filter {
        actor: Some("hr-feed".into()),
        path_prefix: Some("/fscmRestApi/resources/11.13.18.05/invoices/".into()),
        ..Default::default()
    };
    // r-1-1 is gw-b's newest record before the prune: kept.
    assert_eq!(ids(&actor, 10), ["r-1-1", "r-3-1", "r-3-3", "r-4-1"]);
    assert_eq!(ids(&actor, 1), ["r-4-1"], "the newest, when limited");
    let literal = Filter {
        path_prefix: Some("/fscmRestApi/resources/11.13.18.05/invoices/_".into()),
        ..Default::default()
    };
    assert!(ids(&literal, 10).is_empty(), "`_` is not a wildcard");
    let only_b = Filter {
        node: Some("gw-b".into()),
        decision: Some("relayed".into()),
        ..Default::default()
    };
    assert_eq!(ids(&only_b, 10), ["r-1-1", "r-4-0", "r-4-1"]);

    // Chains written out of time order are merged by time.
    let mut late = records(2, 9);
    late[0].ts = "2026-12-09T00:00:05.000000Z".into();
    late[1].ts = "2026-12-09T00:00:07.000000Z".into();
    let mut early = records(2, 9);
    early[0].request_id = "early-0".into();
    early[1].request_id = "early-1".into();
    early[1].ts = "2026-12-09T00:00:06.000000Z".into();
    chain::append(s.conn(), &key, "gw-a", &late).expect("late");
    chain::append(s.conn(), &key, "gw-c", &early).expect("early, written after");
    let day9 = Filter {
        since: Some("2026-12-09T00:00:00Z".into()),
        ..Default::default()
    };
    assert_eq!(ids(&day9, 10), ["early-0", "r-9-0", "early-1", "r-9-1"]);
    assert_eq!(ids(&day9, 2), ["early-1", "r-9-1"], "the newest by time");

    // Lookups read batches a page at a time. Each record below is a batch of its own, in
    // chain gw-p every `nth` record and gw-a otherwise.
    let batches_of_one = |recs: &[AuditRecord], nth: usize| {
        for (i, r) in recs.iter().enumerate() {
            let node = if i % nth == 0 { "gw-p" } else { "gw-a" };
            chain::append(s.conn(), &key, node, std::slice::from_ref(r)).expect("append");
        }
    };
    // 40 batches, the chains taking turns, read across pages with and without a node, and
    // counted by the summary.
    let mut day11 = records(40, 11);
    for r in &mut day11 {
        r.kind = Some(erpgate::audit::Kind::Request);
    }
    batches_of_one(&day11, 2);
    let since11 = Filter {
        since: Some("2026-12-11T00:00:00Z".into()),
        ..Default::default()
    };
    let want: Vec<String> = (0..40).map(|i| format!("r-11-{i}")).collect();
    assert_eq!(ids(&since11, 100), want, "every batch, oldest first");
    let only_p = Filter {
        node: Some("gw-p".into()),
        ..since11.clone()
    };
    let want_p: Vec<String> = (0..40).step_by(2).map(|i| format!("r-11-{i}")).collect();
    assert_eq!(
        ids(&only_p, 100),
        want_p,
        "one chain's batches across pages"
    );
    assert_eq!(ids(&only_p, 3), want_p[17..], "its newest, when limited");
    let summary = erpgate::audit::query::summary(s.conn(), "2026-12-11T00:00:00.000000Z", 5)
        .expect("summary");
    assert_eq!(summary.decisions, [("relayed".to_string(), 40)]);

    // Batches that end at the same instant are paged by id: 24 of them, both chains, across
    // a page boundary.
    let mut day12 = records(24, 12);
    for r in &mut day12 {
        r.ts = "2026-12-12T00:00:00.000000Z".into();
    }
    batches_of_one(&day12, 3);
    let since12 = Filter {
        since: Some("2026-12-12T00:00:00Z".into()),
        ..Default::default()
    };
    let want: Vec<String> = (0..24).map(|i| format!("r-12-{i}")).collect();
    assert_eq!(ids(&since12, 100), want, "ties, in id order, none twice");
    assert_eq!(ids(&since12, 20), want[4..], "the newest 20 of the ties");
    let only_a = Filter {
        node: Some("gw-a".into()),
        ..since12.clone()
    };
    let want_a: Vec<String> = (0..24)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("r-12-{i}"))
        .collect();
    assert_eq!(ids(&only_a, 100), want_a);
}

/// A trail written a row per record (before schema 13) is copied into batches of one by the
/// migration: every chain still verifies (a batch of one has the record's link), each row's
/// reach takes in the second its request id was made in, the span covers the longest, and
/// the chains continue with batches.
pub fn per_record_trail_migrates(open: Open<'_>) {
    use erpgate::audit::query::{select, Filter};
    use erpgate::store::migrations;
    use erpgate::store::sql::Value;
    let s = open();
    s.conn()
        .batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)")
        .expect("migrations table");
    for m in migrations::for_engine(s.conn().engine())
        .iter()
        .filter(|m| m.version <= 12)
    {
        s.conn().batch(m.sql).expect("old migration");
        s.conn()
            .execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, 'then')",
                &[Value::Int(i64::from(m.version)), Value::from(m.description)],
            )
            .expect("recorded");
    }
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    // 2026-12-01T00:00:10Z; the third request began three seconds before it ended; the
    // fourth's id is of random bits (before ids led with their second): 100 days off.
    let base = 1_796_083_210i64;
    let mut recs = records(5, 1);
    for (i, r) in recs.iter_mut().enumerate() {
        r.ts = format!("2026-12-01T00:00:{:02}.500000Z", 10 + i);
        // The last record is of the default chain.
        r.node = (i != 4).then(|| "gw-a".to_string());
        if i != 1 {
            let began = base + i as i64
                - match i {
                    2 => 3,
                    3 => 100 * 86_400,
                    _ => 0,
                };
            r.request_id = format!("{began:08x}00000000-{i:016x}");
        }
    }
    let mut prev = std::collections::HashMap::new();
    for (i, r) in recs.iter().enumerate() {
        let id = i as i64 + 1;
        let node = r.node.clone().unwrap_or_default();
        let json = serde_json::to_string(r).expect("json");
        let before = prev
            .get(&node)
            .cloned()
            .unwrap_or_else(|| chain::GENESIS.to_string());
        let hash = chain::link(&key, id, &before, &json);
        s.conn()
            .execute(
                "INSERT INTO audit_log (id, ts, request_id, kind, actor, decision, reason, path, record, prev_hash, hash, node) VALUES (?1, ?2, ?3, '', ?4, ?5, '', ?6, ?7, ?8, ?9, ?10)",
                &[
                    Value::Int(id),
                    Value::from(r.ts.as_str()),
                    Value::from(r.request_id.as_str()),
                    Value::from(r.actor.as_str()),
                    Value::from(r.decision.as_str()),
                    Value::from(r.path.as_str()),
                    Value::from(json.as_str()),
                    Value::from(before.as_str()),
                    Value::from(hash.as_str()),
                    Value::from(node.as_str()),
                ],
            )
            .expect("old row");
        s.conn()
            .execute(
                "INSERT INTO audit_actor_second (actor, second) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                &[Value::from(r.actor.as_str()), Value::from(&r.ts[..19])],
            )
            .expect("lookup row");
        prev.insert(node, hash);
    }
    let mut s = open();
    assert_eq!(s.migrate().expect("migrate"), vec![13, 14]);
    let report = chain::verify_db(s.conn(), &key).expect("verify");
    assert_eq!(
        (intact(&report, "gw-a"), intact(&report, "")),
        (4, 1),
        "{report:?}"
    );
    assert_eq!(
        erpgate::audit::batch::bounds(s.conn()).expect("bounds"),
        erpgate::audit::batch::Bounds {
            span: 4,
            unanchored_through: 4
        }
    );
    let reach = s
        .conn()
        .query_one(
            "SELECT ts_first, ts_last FROM audit_batch WHERE id = 3",
            &[],
        )
        .expect("reach");
    assert_eq!(
        (reach.text(0).expect("first"), reach.text(1).expect("last")),
        (
            "2026-12-01T00:00:09.000000Z".to_string(),
            "2026-12-01T00:00:12.500000Z".to_string()
        )
    );
    let by_id = |id: &str| {
        let f = Filter {
            request_id: Some(id.to_string()),
            ..Default::default()
        };
        select(s.conn(), &f, 10).expect("select").len()
    };
    for r in &recs {
        assert_eq!(by_id(&r.request_id), 1, "{}", r.request_id);
    }
    // The chains continue in batches; an unanchored id in one moves the bound.
    let mut more = records(3, 2);
    more[1].request_id = format!("{:08x}00000000-0000000000000009", base - 3 * 86_400);
    chain::append(s.conn(), &key, "gw-a", &more).expect("append");
    let report = chain::verify_db(s.conn(), &key).expect("verify");
    assert_eq!(intact(&report, "gw-a"), 7, "{report:?}");
    assert_eq!(
        erpgate::audit::batch::bounds(s.conn())
            .expect("bounds")
            .unanchored_through,
        6
    );
    assert_eq!(by_id(&more[1].request_id), 1);
    let absent = format!("{:08x}00000000-00000000000000ff", base);
    assert_eq!(by_id(&absent), 0);
    let newest = select(s.conn(), &Filter::default(), 2).expect("newest");
    assert_eq!(newest.len(), 2);
    assert!(
        newest
            .iter()
            .all(|j| j.contains("\"ts\":\"2026-12-02T00:00:0")),
        "{newest:?}"
    );
}
