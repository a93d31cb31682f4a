//! What a record costs the audit writer (issue 20): the writer as it is (since schema 13 a
//! row per batch) beside the prototype of that layout that also wrote counts per second, on
//! the same records.
//!
//! `cargo bench --bench audit_layout` (≈ 20 s). Both groups write batches of 512 realistic
//! records (`ERPGATE_BENCH_LAYOUT_BATCH=64` for the writer's batch at 5,000 records a
//! second; 50 actors taking turns, 5,000 records per simulated second, 1 in 20 denied) into a
//! fresh SQLite store with the writer's pragmas. As in the gateway, a request id leads with
//! the second its request began and the record's time is when it ended (up to 2 s later).
//! Each batch is built outside the timed part and continues the simulated clock, so the
//! trail grows as it would:
//! - `current`: `audit::chain::append_noting`, the writer's own path (a row per batch with its
//!   reach and one HMAC link, indexed by node and id and by its latest instant; the actor
//!   lookup's rows not yet written, remembered across batches as the writer does);
//! - `batch_second`: the prototype of `benches/load/audit_layouts.py`'s `batch_second`, in
//!   Rust through the store's own connection: the records' JSON in one row with one HMAC link
//!   for the batch, its time range and the second its earliest request began, a row per
//!   (actor, second) the first time the actor appears in that second, and a count per
//!   (second, kind, decision, reason) added to by each batch.
//!
//! Both include encoding each record to JSON. The prototype is not the product: it has its
//! own tables (`proto_*`), which the product's verify and queries do not read.
//!
//! With `ERPGATE_BENCH_LAYOUT_QUERIES=N`, the `audit_layout_queries` group also writes a
//! prototype trail of N records (10,000,000 take about a minute) and times the lookups
//! `audit query` and the portal make on it, as the prototype would answer them: one request
//! id (the batches of the second the id leads with, searched for its text), the newest 100
//! of a one-minute window, of one actor (through its seconds) and under a path prefix, and
//! the counts by decision over the newest tenth (from the per-second rows).

use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use erpgate::audit::{batch, chain, AuditRecord, Kind};
use erpgate::crypto::{KeyedHasher, MasterKey};
use erpgate::store::sql::{Conn, Tx, Value};
use erpgate::store::{Store, StoreError};

/// Records per batch (`ERPGATE_BENCH_LAYOUT_BATCH`, 512 unless given; the writer's batches
/// at 5,000 records a second hold ≈ 50–65).
fn batch_size() -> usize {
    std::env::var("ERPGATE_BENCH_LAYOUT_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(512)
}

/// The longest a simulated request takes, in milliseconds: its id is made when it starts,
/// its record's time when it ends, as in the gateway.
const LONGEST_REQUEST_MS: i64 = 2_000;
/// Simulated microseconds between two records (5,000 per second).
const STEP_US: i64 = 200;
/// Start of the simulated trail (2026-12-01T00:00:00Z), in microseconds.
const T0_US: i64 = 1_796_083_200_000_000;

/// The next `size` records from record number `*next` on.
fn batch(next: &mut i64, size: usize) -> Vec<AuditRecord> {
    (0..size)
        .map(|_| {
            let i = *next;
            *next += 1;
            let us = T0_US + i * STEP_US;
            let began = us - (i * 7919 % LONGEST_REQUEST_MS) * 1_000;
            let t = chrono::DateTime::from_timestamp_micros(us).expect("time");
            AuditRecord {
                ts: t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                request_id: format!("{:08x}{:08x}-{:016x}", began / 1_000_000, i, i * 7919),
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
  ts_first TEXT NOT NULL, ts_last TEXT NOT NULL, started_first TEXT NOT NULL,
  records TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX proto_batch_ts ON proto_batch(ts_last);
CREATE TABLE proto_actor_second (actor TEXT NOT NULL, second TEXT NOT NULL,
  PRIMARY KEY (actor, second)) WITHOUT ROWID;
CREATE TABLE proto_second_count (second TEXT NOT NULL, kind TEXT NOT NULL,
  decision TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (second, kind, decision, reason)) WITHOUT ROWID;
";

/// The actors the writer has written a row for in the second it is in.
#[derive(Clone, Default)]
struct Seen {
    second: String,
    actors: HashSet<String>,
}

/// The second a request began: the one its id leads with (`src/ids/request.rs`).
fn began_second(r: &AuditRecord) -> Option<i64> {
    i64::from_str_radix(r.request_id.get(..8)?, 16).ok()
}

/// Appends `records` as one batch row with its per-second lookup rows, in one transaction
/// that reads the chain's tail first (as the writer does). `seen` changes only once the
/// transaction has committed, so a batch retried after a failure writes its actor rows.
fn append_batch_second(
    conn: &Conn,
    key: &KeyedHasher,
    seen: &mut Seen,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let mut next_seen = seen.clone();
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
        let (mut ts_first, mut ts_last, mut began_first) = (None::<&str>, None::<&str>, i64::MAX);
        for r in records {
            if !body.is_empty() {
                body.push('\n');
            }
            batch::encode_into(r, "", &mut body)?;
            let ts = r.ts.as_str();
            ts_first = Some(ts_first.map_or(ts, |t| t.min(ts)));
            ts_last = Some(ts_last.map_or(ts, |t| t.max(ts)));
            let second = ts.get(..19).unwrap_or(ts);
            began_first = began_first.min(began_second(r).unwrap_or(i64::MIN));
            // A second seen again (a clock stepped back) only repeats rows `OR IGNORE` skips.
            if next_seen.second != second {
                next_seen.second = second.to_string();
                next_seen.actors.clear();
            }
            if !next_seen.actors.contains(r.actor.as_str()) {
                next_seen.actors.insert(r.actor.clone());
                pairs.push((r.actor.as_str(), second));
            }
            let kind = r.kind.map_or("", Kind::as_str);
            *counts
                .entry((second, kind, r.decision.as_str(), r.reason.as_str()))
                .or_default() += 1;
        }
        let (Some(ts_first), Some(ts_last)) = (ts_first, ts_last) else {
            return Ok(());
        };
        // An id that does not lead with a second makes the batch a candidate for every
        // request-id lookup up to its end, rather than for none.
        let began_first = if began_first == i64::MIN {
            String::new()
        } else {
            second_prefix(began_first)
        };
        let first = last + 1;
        let last = last + records.len() as i64;
        let hash = hex::encode(key.hash_parts(&[
            &first.to_be_bytes(),
            &last.to_be_bytes(),
            prev.as_bytes(),
            body.as_bytes(),
        ]));
        tx.execute(
            "INSERT INTO proto_batch (node, last_id, ts_first, ts_last, started_first, records, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[
                Value::from(""),
                Value::from(last),
                Value::from(ts_first),
                Value::from(ts_last),
                Value::from(began_first),
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
    })?;
    *seen = next_seen;
    Ok(())
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
    let size = batch_size();
    let mut g = c.benchmark_group("audit_layout");
    g.throughput(Throughput::Elements(size as u64));

    let current = store(&dir, "current.db");
    let mut next = 0;
    // As the writer does: the actor lookup's rows committed lately are not written again.
    let mut noted = chain::NotedSeconds::new();
    g.bench_function("current", |b| {
        b.iter_batched(
            || batch(&mut next, size),
            |records| {
                chain::append_noting(current.conn(), &key, "", black_box(&records), &mut noted)
                    .expect("append")
            },
            BatchSize::PerIteration,
        )
    });

    let proto = store(&dir, "batch_second.db");
    proto.conn().batch(PROTOTYPE).expect("prototype schema");
    let mut seen = Seen::default();
    let mut next = 0;
    g.bench_function("batch_second", |b| {
        b.iter_batched(
            || batch(&mut next, size),
            |records| {
                append_batch_second(proto.conn(), &key, &mut seen, black_box(&records))
                    .expect("append")
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The records of the batches `filter` selects, newest record first, that `keep` accepts,
/// at most `limit`. The batches' ids come first (from the index, no record read), then each
/// batch's records, newest batch first, so a lookup reads only as far back as it needs.
fn newest(
    conn: &Conn,
    filter: &str,
    params: &[Value],
    limit: usize,
    keep: impl Fn(&str) -> bool,
) -> Vec<String> {
    let ids = conn
        .query(
            &format!("SELECT id FROM proto_batch WHERE {filter} ORDER BY id DESC"),
            params,
        )
        .expect("batches");
    let mut out = Vec::new();
    for id in ids {
        let id = id.int(0).expect("id");
        let row = conn
            .query_one(
                "SELECT records FROM proto_batch WHERE id = ?1",
                &[Value::from(id)],
            )
            .expect("batch");
        let text = row.text(0).expect("records");
        for line in text.rsplit('\n') {
            if keep(line) {
                out.push(line.to_string());
                if out.len() == limit {
                    return out;
                }
            }
        }
    }
    out
}

/// A record's time as the prototype stores it: its JSON's first member in the default
/// chain (a node's records begin with `"node"`, which this prototype does not write).
fn ts_of(line: &str) -> &str {
    line.get(7..34).unwrap_or("")
}

/// The time-of-second prefix (`2026-12-01T00:00:05`) of the Unix second `s`.
fn second_prefix(s: i64) -> String {
    chrono::DateTime::from_timestamp(s, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The longest a prototype batch spans, in whole seconds (512 records at 5,000 a second take
/// 0.1 s). The product would keep this bound with the trail: a writer stall makes one batch
/// of everything that waited.
const MAX_SPAN_S: i64 = 1;

/// The batches that may hold records written in the second `?1` (`?2`: the same, followed by
/// U+FFFF), through the time index: a batch ending in it or up to `MAX_SPAN_S` later.
const SECOND_BATCHES: &str = "ts_last >= ?1 AND ts_last < ?3 AND ts_first <= ?2";

/// The batches that may hold the record of a request that began in the second `?1` (`?2`:
/// the same, followed by U+FFFF): ending from that second on, up to the longest request and
/// the longest batch span later (`?3`), and holding a request that began by then.
const BEGAN_BATCHES: &str = "ts_last >= ?1 AND ts_last < ?3 AND started_first <= ?2";

/// The request id's record: the batches that may hold a request begun in the second the id
/// leads with, searched for the id.
fn by_request_id(conn: &Conn, id: &str) -> Vec<String> {
    let second = i64::from_str_radix(id.get(..8).unwrap_or(""), 16).expect("a time-leading id");
    let lo = second_prefix(second);
    let hi = format!("{lo}\u{ffff}");
    let until = second + 1 + (LONGEST_REQUEST_MS + 999) / 1_000 + MAX_SPAN_S;
    let needle = format!("\"request_id\":\"{id}\"");
    newest(
        conn,
        BEGAN_BATCHES,
        &[
            Value::from(lo),
            Value::from(hi),
            Value::from(second_prefix(until)),
        ],
        usize::MAX,
        |l| l.contains(&needle),
    )
}

fn queries(c: &mut Criterion) {
    let Some(n) = std::env::var("ERPGATE_BENCH_LAYOUT_QUERIES")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    else {
        return;
    };
    if n < 100_000 {
        eprintln!("ERPGATE_BENCH_LAYOUT_QUERIES: at least 100000 records (20 s of the clock)");
        return;
    }
    let size = batch_size();
    let dir = tempfile::tempdir().expect("dir");
    let (master, _) = MasterKey::generate().expect("key");
    let key = master.audit_key();
    let proto = store(&dir, "trail.db");
    proto.conn().batch(PROTOTYPE).expect("prototype schema");
    let (mut seen, mut next) = (Seen::default(), 0);
    let started = std::time::Instant::now();
    // About 20 request ids to look up, spread over the trail.
    let (mut picks, mut batches) = (Vec::new(), 0);
    let every = (n / size as i64 / 20).max(1);
    while next < n {
        let records = batch(&mut next, size);
        if batches % every == 0 {
            picks.push(records[(batches * 37) as usize % size].request_id.clone());
        }
        batches += 1;
        append_batch_second(proto.conn(), &key, &mut seen, &records).expect("append");
    }
    eprintln!(
        "prototype trail: {next} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let conn = proto.conn();
    let mid = T0_US + next / 2 * STEP_US;
    let minute = chrono::DateTime::from_timestamp_micros(mid)
        .expect("time")
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let minute_start = (mid / 60_000_000) * 60;
    let (lo, hi) = (format!("{minute}:00"), second_prefix(minute_start + 60));
    let after_minute = second_prefix(minute_start + 60 + MAX_SPAN_S);
    let tenth_s = (T0_US + next * 9 / 10 * STEP_US) / 1_000_000;
    let tenth = second_prefix(tenth_s);
    // Records written from that second on: the counts must add up to them.
    let from = (tenth_s * 1_000_000 - T0_US + STEP_US - 1) / STEP_US;
    let expected = next - from;

    let mut g = c.benchmark_group("audit_layout_queries");
    g.sample_size(10);
    let mut i = 0;
    g.bench_function("request_id", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            let found = by_request_id(conn, &picks[i]);
            assert_eq!(found.len(), 1, "request id {}", picks[i]);
        })
    });
    g.bench_function("minute_newest_100", |b| {
        b.iter(|| {
            let found = newest(
                conn,
                "ts_last >= ?1 AND ts_last < ?3 AND ts_first < ?2",
                &[
                    Value::from(lo.as_str()),
                    Value::from(hi.as_str()),
                    Value::from(after_minute.as_str()),
                ],
                100,
                |l| (lo.as_str()..hi.as_str()).contains(&ts_of(l)),
            );
            assert_eq!(found.len(), 100);
        })
    });
    g.bench_function("actor_newest_100", |b| {
        b.iter(|| {
            let needle = "\"actor\":\"acct-7\"";
            let mut found = Vec::new();
            let seconds = conn
                .query(
                    "SELECT second FROM proto_actor_second WHERE actor = 'acct-7' ORDER BY second DESC",
                    &[],
                )
                .expect("seconds");
            for row in seconds {
                let second = row.text(0).expect("second");
                let hi = format!("{second}\u{ffff}");
                let unix = chrono::NaiveDateTime::parse_from_str(&second, "%Y-%m-%dT%H:%M:%S")
                    .expect("second")
                    .and_utc()
                    .timestamp();
                found.extend(newest(
                    conn,
                    SECOND_BATCHES,
                    &[
                        Value::from(second.as_str()),
                        Value::from(hi),
                        Value::from(second_prefix(unix + 1 + MAX_SPAN_S)),
                    ],
                    100 - found.len(),
                    |l| l.contains(needle) && ts_of(l).starts_with(second.as_str()),
                ));
                if found.len() == 100 {
                    break;
                }
            }
            assert_eq!(found.len(), 100);
        })
    });
    g.bench_function("path_prefix_newest_100", |b| {
        b.iter(|| {
            let needle = "\"path\":\"/fscmRestApi/resources/11.13.18.05/invoices/3001";
            let found = newest(conn, "1", &[], 100, |l| l.contains(needle));
            assert_eq!(found.len(), 100);
        })
    });
    g.bench_function("counts_newest_tenth", |b| {
        b.iter(|| {
            let rows = conn
                .query(
                    "SELECT decision, SUM(n) FROM proto_second_count WHERE kind = 'request' AND second >= ?1 GROUP BY decision",
                    &[Value::from(tenth.as_str())],
                )
                .expect("counts");
            let total: i64 = rows.iter().map(|r| r.int(1).expect("sum")).sum();
            assert_eq!((rows.len(), total), (2, expected));
        })
    });
    g.finish();
}

criterion_group! {
    name = audit_layout;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(5)).sample_size(20);
    targets = benches, queries
}
criterion_main!(audit_layout);
