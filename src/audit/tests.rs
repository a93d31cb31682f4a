use std::time::Duration;

use super::chain::{self, Verdict};
use super::*;
use crate::crypto::MasterKey;

fn db() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a.db");
    let mut s = Store::open(&path).expect("open");
    s.migrate().expect("migrate");
    (dir, path, s)
}

fn rec(i: usize, ts: &str) -> AuditRecord {
    AuditRecord {
        ts: ts.to_string(),
        request_id: format!("req-{i}"),
        kind: Some(Kind::Request),
        actor: "ap-sync".into(),
        method: "GET".into(),
        path: "/fscmRestApi/resources/latest/invoices".into(),
        decision: "relayed".into(),
        status: Some(200),
        ..Default::default()
    }
}

/// The verdict on the default chain (the only one these tests write), or on an empty trail.
fn verdict(s: &Store, m: &MasterKey) -> Verdict {
    let report = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
    assert!(report.chains.len() <= 1, "{report:?}");
    report.chain("").cloned().unwrap_or(Verdict::Intact {
        records: 0,
        last_hash: chain::GENESIS.into(),
    })
}

#[test]
fn chain_verifies_and_finds_the_first_edited_record() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let recs: Vec<_> = (0..10).map(|i| rec(i, &record::now())).collect();
    chain::append(s.conn(), &m.audit_key(), "", &recs[..4]).expect("append");
    chain::append(s.conn(), &m.audit_key(), "", &recs[4..]).expect("append");
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 10, .. }
    ));

    // Append-only: the store refuses edits and deletions.
    let e = s
        .conn()
        .execute("UPDATE audit_batch SET node = 'x' WHERE id = 1", &[])
        .expect_err("update");
    assert!(e.to_string().contains("append-only"), "{e}");
    let e = s
        .conn()
        .execute("DELETE FROM audit_batch WHERE id = 1", &[])
        .expect_err("delete");
    assert!(e.to_string().contains("append-only"), "{e}");

    // An attacker with file access drops the trigger and edits a record of the second
    // batch (records 5 to 10): verify names the batch.
    s.conn()
        .batch("DROP TRIGGER audit_batch_no_update")
        .expect("drop");
    s.conn()
        .execute("UPDATE audit_batch SET records = replace(records, '\"status\":200', '\"status\":403') WHERE id = 5", &[])
        .expect("edit");
    match verdict(&s, &m) {
        Verdict::Broken { id, why } => {
            assert_eq!(id, 5);
            assert!(why.contains("hash does not match"), "{why}");
        }
        v => panic!("tampering not detected: {v:?}"),
    }
}

#[test]
fn deletions_columns_and_foreign_keys_are_detected() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    // A batch per record; the third's request was made six seconds before it ended.
    let mut recs: Vec<_> = (0..5).map(|i| rec(i, &record::now())).collect();
    let ended = batch::unix_second(&recs[2].ts).expect("second");
    recs[2].request_id = format!("{:08x}00000000-0000000000000001", ended - 6);
    assert_eq!(batch::id_second(&recs[2].request_id), Some(ended - 6));
    for r in &recs {
        chain::append(s.conn(), &m.audit_key(), "", std::slice::from_ref(r)).expect("append");
    }
    assert_eq!(batch::span(s.conn()).expect("span"), 7);
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 5, .. }
    ));
    let (other, _) = MasterKey::generate().expect("key");
    assert!(
        matches!(verdict(&s, &other), Verdict::Broken { id: 1, .. }),
        "wrong key"
    );

    // The bounds only grow.
    assert!(s
        .conn()
        .execute("UPDATE audit_bounds SET span = 1", &[])
        .is_err());
    assert!(s.conn().execute("DELETE FROM audit_bounds", &[]).is_err());
    s.conn()
        .batch("DROP TRIGGER audit_batch_no_update; DROP TRIGGER audit_batch_no_delete; DROP TRIGGER audit_bounds_grow")
        .expect("drop");
    s.conn()
        .execute("UPDATE audit_bounds SET span = 1", &[])
        .expect("narrow");
    match verdict(&s, &m) {
        Verdict::Broken { id, why } => {
            assert_eq!(id, 3);
            assert!(why.contains("span"), "{why}");
        }
        v => panic!("narrowed bounds not detected: {v:?}"),
    }
    s.conn()
        .execute("UPDATE audit_bounds SET span = 7", &[])
        .expect("restore");
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 5, .. }
    ));
    // A record whose gateway id its second does not place (made two days before it ended)
    // moves the other bound; narrowing it is found too.
    let mut far = rec(5, &record::now());
    let ended = batch::unix_second(&far.ts).expect("second");
    far.request_id = format!("{:08x}00000000-0000000000000002", ended - 2 * 86_400);
    chain::append(s.conn(), &m.audit_key(), "", &[far]).expect("append");
    assert_eq!(
        batch::bounds(s.conn()).expect("bounds"),
        batch::Bounds {
            span: 7,
            unanchored_through: 6
        }
    );
    assert_eq!(
        batch::span(s.conn()).expect("span"),
        7,
        "the id is not its reach"
    );
    s.conn()
        .execute("UPDATE audit_bounds SET unanchored_through = 0", &[])
        .expect("narrow");
    match verdict(&s, &m) {
        Verdict::Broken { id, why } => {
            assert_eq!(id, 6);
            assert!(why.contains("does not place"), "{why}");
        }
        v => panic!("narrowed bounds not detected: {v:?}"),
    }
    s.conn()
        .execute("UPDATE audit_bounds SET unanchored_through = 6", &[])
        .expect("restore");
    for (column, edit) in [
        ("ts_last", "'2020-01-01T00:00:00.000000Z'"),
        ("ts_first", "'2020-01-01T00:00:00.000000Z'"),
        ("last_id", "3"),
        ("tally", "'[]'"),
    ] {
        let old = s
            .conn()
            .query_one(
                &format!("SELECT {column} FROM audit_batch WHERE id = 2"),
                &[],
            )
            .expect("old");
        let old = old.opt_text(0).ok().flatten().map_or_else(
            || old.int(0).expect("int").to_string(),
            |t| format!("'{t}'"),
        );
        s.conn()
            .execute(
                &format!("UPDATE audit_batch SET {column} = {edit} WHERE id = 2"),
                &[],
            )
            .expect("edit column");
        match verdict(&s, &m) {
            Verdict::Broken { id, why } => {
                assert_eq!(id, 2, "{column}");
                assert!(why.contains(column), "{why}");
            }
            v => panic!("{column} edit not detected: {v:?}"),
        }
        s.conn()
            .execute(
                &format!("UPDATE audit_batch SET {column} = {old} WHERE id = 2"),
                &[],
            )
            .expect("restore");
    }
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 6, .. }
    ));
    s.conn()
        .execute("DELETE FROM audit_batch WHERE id = 4", &[])
        .expect("delete");
    match verdict(&s, &m) {
        Verdict::Broken { id, why } => {
            // The batch after the gap no longer links to its predecessor.
            assert_eq!(id, 5);
            assert!(why.contains("missing"), "{why}");
        }
        v => panic!("deletion not detected: {v:?}"),
    }
    s.conn()
        .execute("DELETE FROM audit_batch WHERE id = 1", &[])
        .expect("delete head");
    assert!(
        matches!(verdict(&s, &m), Verdict::Broken { .. }),
        "head removal detected"
    );
}

#[test]
fn retention_prunes_and_the_checkpoint_keeps_the_chain_verifiable() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let old: Vec<_> = (0..5)
        .map(|i| rec(i, "2020-01-01T00:00:00.000000Z"))
        .collect();
    let new: Vec<_> = (5..8).map(|i| rec(i, &record::now())).collect();
    chain::append(s.conn(), &m.audit_key(), "", &old).expect("old");
    chain::append(s.conn(), &m.audit_key(), "", &new).expect("new");
    let n = chain::prune(s.conn(), &m.audit_key(), "2021-01-01T00:00:00Z", "test").expect("prune");
    assert_eq!(n, 5);
    match verdict(&s, &m) {
        Verdict::Intact { records, .. } => assert_eq!(records, 4, "3 kept + checkpoint"),
        v => panic!("{v:?}"),
    }
    // Deleting outside retention is still refused.
    assert!(s.conn().execute("DELETE FROM audit_batch", &[]).is_err());
    // Appending after a prune continues the chain.
    chain::append(s.conn(), &m.audit_key(), "", &[rec(9, &record::now())]).expect("more");
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 5, .. }
    ));
}

/// The writer linger the tests run with.
const LINGER: Duration = Duration::from_millis(2);

#[test]
fn the_writer_loses_nothing_on_shutdown_and_refuses_when_full() {
    let (_d, path, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let (sink, writer) = writer::start(
        crate::store::Database::Sqlite(path.clone()),
        "",
        m.audit_key(),
        64,
        LINGER,
    )
    .expect("start");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let mut sent = 0;
    for i in 0..1000 {
        // Retry on a full queue like a client would retry a 503.
        loop {
            match sink.reserve() {
                Ok(slot) => {
                    slot.send(rec(i, &record::now()));
                    sent += 1;
                    break;
                }
                Err(Unavailable::QueueFull) => rt.block_on(tokio::task::yield_now()),
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    let written = writer.shutdown(Duration::from_secs(10));
    assert_eq!(written, sent);
    let count: i64 = s
        .conn()
        .query_one("SELECT sum(last_id - id + 1) FROM audit_batch", &[])
        .and_then(|r| r.int(0))
        .expect("count");
    assert_eq!(count, 1000);
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 1000, .. }
    ));

    // Held slots fill the queue; the next reservation is refused, and counted.
    let (sink, writer) = writer::start(
        crate::store::Database::Sqlite(path),
        "",
        m.audit_key(),
        2,
        LINGER,
    )
    .expect("start");
    let a = sink.reserve().expect("slot a");
    let b = sink.reserve().expect("slot b");
    assert_eq!(sink.reserve().err(), Some(Unavailable::QueueFull));
    assert_eq!(
        sink.stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(sink.depth(), 2);
    a.send(rec(1, &record::now()));
    b.send(rec(2, &record::now()));
    assert_eq!(writer.shutdown(Duration::from_secs(10)), 2);
}

#[test]
fn the_writer_lingers_and_writes_a_burst_in_one_transaction() {
    let (_d, path, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let linger = Duration::from_millis(300);
    let (sink, writer) = writer::start(
        crate::store::Database::Sqlite(path),
        "",
        m.audit_key(),
        64,
        linger,
    )
    .expect("start");
    let stats = sink.stats().clone();
    let sent_at = std::time::Instant::now();
    for i in 0..5 {
        sink.reserve().expect("slot").send(rec(i, &record::now()));
    }
    // `written` grows by a whole batch at a time: the first change must be all five.
    let written = loop {
        let n = stats.written.load(std::sync::atomic::Ordering::Relaxed);
        if n > 0 {
            break n;
        }
        assert!(
            sent_at.elapsed() < Duration::from_secs(10),
            "nothing written"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(written, 5, "the burst went out in one batch");
    assert!(
        sent_at.elapsed() >= linger,
        "the first record waited for the others"
    );
    assert_eq!(writer.shutdown(Duration::from_secs(10)), 5);
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 5, .. }
    ));
}

#[test]
fn a_failing_database_refuses_traffic_until_it_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a.db");
    let (m, _) = MasterKey::generate().expect("key");
    // No schema yet: every write fails.
    let (sink, writer) = writer::start(
        crate::store::Database::Sqlite(path.clone()),
        "",
        m.audit_key(),
        8,
        LINGER,
    )
    .expect("start");
    sink.reserve()
        .expect("first slot")
        .send(rec(1, &record::now()));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sink.stats().healthy() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!sink.stats().healthy());
    assert_eq!(sink.reserve().err(), Some(Unavailable::WriterFailing));
    // The operator fixes it: the pending record is written and traffic resumes.
    Store::open(&path)
        .expect("open")
        .migrate()
        .expect("migrate");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !sink.stats().healthy() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sink.stats().healthy(), "recovered by itself");
    assert!(
        sink.stats()
            .write_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    assert_eq!(
        writer.shutdown(Duration::from_secs(5)),
        1,
        "the pending record was kept and written"
    );
}

#[test]
fn a_batch_with_ids_no_appender_gives_is_found() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let recs: Vec<_> = (0..4).map(|i| rec(i, &record::now())).collect();
    chain::append(s.conn(), &m.audit_key(), "", &recs).expect("append");
    let forged = serde_json::to_string(&rec(9, &record::now())).expect("json");
    // Ids no appender writes: the lowest there is (once missed by verify's paging), and ids
    // inside another batch's.
    for (id, node) in [(i64::MIN, ""), (0, "gw-x"), (3, "gw-x")] {
        s.conn()
            .execute(
                "INSERT INTO audit_batch (id, last_id, node, ts_first, ts_last, records, prev_hash, hash) VALUES (?1, ?1, ?2, 'x', 'x', ?3, 'genesis', 'h')",
                &[
                    crate::store::sql::Value::Int(id),
                    crate::store::sql::Value::from(node),
                    crate::store::sql::Value::from(forged.as_str()),
                ],
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let report = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
        match report.chain(node) {
            Some(Verdict::Broken { id: at, why }) => {
                assert_eq!(*at, id);
                assert!(why.contains("overlap") || why.contains("hash"), "{why}");
            }
            v => panic!("a forged batch at {id} not found: {v:?} in {report:?}"),
        }
        s.conn()
            .batch("DROP TRIGGER IF EXISTS audit_batch_no_delete")
            .expect("drop");
        s.conn()
            .execute(
                "DELETE FROM audit_batch WHERE id = ?1",
                &[crate::store::sql::Value::Int(id)],
            )
            .expect("remove");
    }
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 4, .. }
    ));
}

#[test]
fn a_span_raised_past_year_9999_or_a_cursor_that_is_no_time_hides_nothing() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let mut recs: Vec<_> = (0..3).map(|i| rec(i, &record::now())).collect();
    let ended = batch::unix_second(&recs[1].ts).expect("second");
    recs[1].request_id = format!("{ended:08x}00000000-0000000000000007");
    chain::append(s.conn(), &m.audit_key(), "", &recs).expect("append");
    let ids = |f: &query::Filter| -> Vec<String> {
        query::select(s.conn(), f, 10)
            .expect("select")
            .iter()
            .map(|j| {
                serde_json::from_str::<AuditRecord>(j)
                    .expect("json")
                    .request_id
            })
            .collect()
    };
    let by_id = query::Filter {
        request_id: Some(recs[1].request_id.clone()),
        ..Default::default()
    };
    let until = query::Filter {
        until: Some("9999-12-31T23:59:59Z".into()),
        ..Default::default()
    };
    let cursor = query::Filter {
        before: Some(("not a time".into(), i64::MAX)),
        ..Default::default()
    };
    // The gateways' role may raise the bounds (they only grow): however far, lookups still
    // find every record.
    for span in [1, 300_000_000_000, i64::MAX] {
        s.conn()
            .execute(
                "UPDATE audit_bounds SET span = ?1",
                &[crate::store::sql::Value::Int(span)],
            )
            .expect("raise");
        assert_eq!(ids(&by_id), [recs[1].request_id.clone()], "span {span}");
        assert_eq!(ids(&until).len(), 3, "span {span}");
        // "not a time" sorts after every time: every record is before it.
        assert_eq!(ids(&cursor).len(), 3, "span {span}");
    }
}

#[test]
fn queued_records_verify_and_a_batch_holds_only_its_own_lines() {
    let (_d, _p, s) = db();
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    // A batch of long lines, then a short batch through the same thread's kept buffer.
    let long: Vec<Queued> = (0..300)
        .map(|i| {
            Queued::of_record(AuditRecord {
                path: format!("/{}", "p".repeat(1_500)),
                ..rec(i, &record::now())
            })
        })
        .collect();
    let short: Vec<Queued> = (300..302)
        .map(|i| Queued::of_record(rec(i, &record::now())))
        .collect();
    chain::append(s.conn(), &key, "", &long).expect("long");
    chain::append(s.conn(), &key, "", &short).expect("short");
    assert!(matches!(
        verdict(&s, &m),
        Verdict::Intact { records: 302, .. }
    ));
    let stored = s
        .conn()
        .query_one(
            "SELECT records FROM audit_batch ORDER BY id DESC LIMIT 1",
            &[],
        )
        .and_then(|r| r.text(0))
        .expect("last batch");
    let mut expected = String::new();
    for (k, q) in short.iter().enumerate() {
        if k > 0 {
            expected.push('\n');
        }
        q.line_into("", &mut expected).expect("line");
    }
    assert_eq!(stored, expected);
    assert!(stored.contains("\"request_id\":\"req-301\"") && !stored.contains("ppp"));
}
