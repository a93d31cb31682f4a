//! The audit trail's next layout, prototyped natively (issue 20): what a record costs the
//! writer when a batch is one row and the lookups are written per second, against the
//! writer as it is, on the same records.
//!
//! `cargo bench --bench audit_layout` (≈ 20 s). Both groups write batches of 512 realistic
//! records (50 actors taking turns, 5,000 records per simulated second, time-leading request
//! ids) into a fresh SQLite store with the writer's pragmas; each batch is built outside the
//! timed part and continues the simulated clock, so the trail grows as it would:
//! - `current`: `audit::chain::append`, the writer's own path (a row per record, four
//!   secondary indexes, an HMAC link per record);
//! - `batch_second`: the prototype of `benches/load/audit_layouts.py`'s `batch_second`, in
//!   Rust through the store's own connection: the records' JSON in one row with one HMAC link
//!   for the batch, a row per (actor, second) the first time the actor appears in that
//!   second, and a count per (second, kind, decision, reason) added to by each batch.
//!
//! Both include encoding each record to JSON. The prototype is not the product: nothing reads
//! its tables, and the product's chain, verify and queries still use `audit_log`.

use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use erpgate::audit::{chain, AuditRecord, Kind};
use erpgate::crypto::{KeyedHasher, MasterKey};
use erpgate::store::sql::{Conn, Tx, Value};
use erpgate::store::{Store, StoreError};

/// Records per batch.
const BATCH: usize = 512;
/// Simulated microseconds between two records (5,000 per second).
const STEP_US: i64 = 200;
/// Start of the simulated trail (2026-12-01T00:00:00Z), in microseconds.
const T0_US: i64 = 1_796_083_200_000_000;

/// The next `BATCH` records from record number `*next` on.
fn batch(next: &mut i64) -> Vec<AuditRecord> {
    (0..BATCH)
        .map(|_| {
            let i = *next;
            *next += 1;
            let us = T0_US + i * STEP_US;
            let t = chrono::DateTime::from_timestamp_micros(us).expect("time");
            AuditRecord {
                ts: t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                request_id: format!("{:08x}{:08x}-{:016x}", us / 1_000_000, i, i * 7919),
                kind: Some(Kind::Request),
                actor: format!("acct-{}", i % 50),
                credential_id: Some("cred_0123456789abcdef".into()),
                tenant: Some("acme".into()),
                client_ip: Some("10.1.2.3".into()),
                method: "GET".into(),
                path: format!(
                    "/fscmRestApi/resources/11.13.18.05/invoices/{}",
                    300_100 + i % 1000
                ),
                query: Some("onlyData=true&limit=25".into()),
                decision: if i % 20 == 0 { "denied" } else { "relayed" }.into(),
                reason: if i % 20 == 0 { "policy.denied" } else { "" }.into(),
                endpoint: Some("invoices.item".into()),
                snapshot_version: Some(3),
                upstream_host: Some("acme.fa.us2.oraclecloud.com".into()),
                status: Some(200),
                upstream_status: Some(200),
                gateway_us: Some(4),
                upstream_us: Some(48_000),
                total_us: Some(48_200),
                bytes_out: Some(2_048),
                ..Default::default()
            }
        })
        .collect()
}

const PROTOTYPE: &str = "
CREATE TABLE proto_batch (id INTEGER PRIMARY KEY, node TEXT NOT NULL, last_id INTEGER NOT NULL,
  ts_first TEXT NOT NULL, ts_last TEXT NOT NULL, records TEXT NOT NULL, prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL);
CREATE INDEX proto_batch_ts ON proto_batch(ts_last);
CREATE TABLE proto_actor_second (actor TEXT NOT NULL, second TEXT NOT NULL,
  PRIMARY KEY (actor, second)) WITHOUT ROWID;
CREATE TABLE proto_second_count (second TEXT NOT NULL, kind TEXT NOT NULL,
  decision TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (second, kind, decision, reason)) WITHOUT ROWID;
";

/// The actors the writer has written a row for in the second it is in.
#[derive(Default)]
struct Seen {
    second: String,
    actors: HashSet<String>,
}

/// Appends `records` as one batch row with its per-second lookup rows, in one transaction
/// that reads the chain's tail first (as the writer does).
fn append_batch_second(
    conn: &Conn,
    key: &KeyedHasher,
    seen: &mut Seen,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    conn.transaction(Tx::Write, |tx| {
        let tail = tx.query_opt(
            "SELECT last_id, hash FROM proto_batch ORDER BY id DESC LIMIT 1",
            &[],
        )?;
        let (last, prev) = match tail {
            Some(r) => (r.int(0)?, r.text(1)?),
            None => (0, chain::GENESIS.to_string()),
        };
        let mut body = String::with_capacity(records.len() * 700);
        let mut counts: BTreeMap<(&str, &str, &str, &str), i64> = BTreeMap::new();
        let mut pairs = Vec::new();
        for r in records {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&chain::encode(r, "")?);
            let second = r.ts.get(..19).unwrap_or(&r.ts);
            // A second seen again (a clock stepped back) only repeats rows `OR IGNORE` skips.
            if seen.second != second {
                seen.second = second.to_string();
                seen.actors.clear();
            }
            if !seen.actors.contains(r.actor.as_str()) {
                seen.actors.insert(r.actor.clone());
                pairs.push((r.actor.as_str(), second));
            }
            let kind = r.kind.map_or("", Kind::as_str);
            *counts
                .entry((second, kind, r.decision.as_str(), r.reason.as_str()))
                .or_default() += 1;
        }
        let first = last + 1;
        let last = last + records.len() as i64;
        let hash = hex::encode(key.hash_parts(&[
            &first.to_be_bytes(),
            &last.to_be_bytes(),
            prev.as_bytes(),
            body.as_bytes(),
        ]));
        let (ts_first, ts_last) = match (records.first(), records.last()) {
            (Some(a), Some(b)) => (a.ts.as_str(), b.ts.as_str()),
            _ => return Ok(()),
        };
        tx.execute(
            "INSERT INTO proto_batch (node, last_id, ts_first, ts_last, records, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                Value::from(""),
                Value::from(last),
                Value::from(ts_first),
                Value::from(ts_last),
                Value::from(body),
                Value::from(prev),
                Value::from(hash),
            ],
        )?;
        for (actor, second) in pairs {
            tx.execute(
                "INSERT OR IGNORE INTO proto_actor_second (actor, second) VALUES (?1, ?2)",
                &[Value::from(actor), Value::from(second)],
            )?;
        }
        for ((second, kind, decision, reason), n) in counts {
            tx.execute(
                "INSERT INTO proto_second_count (second, kind, decision, reason, n) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (second, kind, decision, reason) DO UPDATE SET n = n + excluded.n",
                &[
                    Value::from(second),
                    Value::from(kind),
                    Value::from(decision),
                    Value::from(reason),
                    Value::from(n),
                ],
            )?;
        }
        Ok(())
    })
}

/// A fresh store with the writer's pragmas and the product's schema.
fn store(dir: &tempfile::TempDir, name: &str) -> Store {
    let mut store = Store::open(&dir.path().join(name)).expect("store");
    erpgate::audit::writer::tune(&store).expect("tune");
    store.migrate().expect("migrate");
    store
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let (master, _) = MasterKey::generate().expect("key");
    let key = master.audit_key();
    let mut g = c.benchmark_group("audit_layout");
    g.throughput(Throughput::Elements(BATCH as u64));

    let current = store(&dir, "current.db");
    let mut next = 0;
    g.bench_function("current", |b| {
        b.iter_batched(
            || batch(&mut next),
            |records| chain::append(current.conn(), &key, "", black_box(&records)).expect("append"),
            BatchSize::PerIteration,
        )
    });

    let proto = store(&dir, "batch_second.db");
    proto.conn().batch(PROTOTYPE).expect("prototype schema");
    let mut seen = Seen::default();
    let mut next = 0;
    g.bench_function("batch_second", |b| {
        b.iter_batched(
            || batch(&mut next),
            |records| {
                append_batch_second(proto.conn(), &key, &mut seen, black_box(&records))
                    .expect("append")
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = audit_layout;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(5)).sample_size(20);
    targets = benches
}
criterion_main!(audit_layout);
