//! The audit trail at scale: what one more batch costs once a trail holds many records, and
//! how fast the queries operators run are on it.
//!
//! `cargo bench --bench audit_trail` (ERPGATE_BENCH_TRAIL=N records per trail, default
//! 1,000,000, or 20,000 when run as a test; two trails are written, ~1 minute each at a
//! million; ERPGATE_BENCH_TRAIL_ORDERED_ONLY=1 writes only the second). Each trail is written
//! through the writer's chain appender (remembering its lookup rows) in batches of 512, with realistic records (50 actors, 100
//! endpoints, one record every 5 ms of simulated time, and a rare actor every 10,000th). The
//! two trails differ only in how request ids are made:
//! - `random_ids`: 128 random bits (erpgate before issue 20; with a row per record every
//!   append landed on a random page of the `request_id` index; in batches such ids are
//!   unanchored, `audit::batch::anchor`);
//! - `time_ordered_ids`: the Unix second then 96 random bits, the format of
//!   `erpgate::ids::RequestIds` (written here from the record's own simulated time, which the
//!   generator cannot be given): the second places the record for lookups by id.
//!
//! Then, per trail, appending one batch of 64 new records (the writer's batch at moderate load),
//! and on the time-ordered trail the queries `erpgate audit query` and the portal run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use erpgate::audit::query::{last_use, select_rows, Filter};
use erpgate::audit::{chain, AuditRecord, Kind};
use erpgate::crypto::{random_bytes, KeyedHasher, MasterKey};
use erpgate::store::Store;

/// Simulated milliseconds between two records.
const STEP_MS: i64 = 5;
/// Start of the simulated trail (2026-12-01T00:00:00Z).
const T0: i64 = 1_796_083_200;

#[derive(Clone, Copy)]
enum Ids {
    Random,
    TimeOrdered,
}

fn request_id(ids: Ids, second: i64) -> String {
    let r = random_bytes::<16>().expect("random");
    let hex = hex::encode(r);
    match ids {
        Ids::Random => format!("{}-{}", &hex[..16], &hex[16..]),
        Ids::TimeOrdered => format!("{:08x}{}-{}", second, &hex[..8], &hex[8..24]),
    }
}

fn ts(i: i64) -> (String, i64) {
    let ms = T0 * 1000 + i * STEP_MS;
    let t = chrono::DateTime::from_timestamp_millis(ms).expect("time");
    (
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        ms.div_euclid(1000),
    )
}

fn record(ids: Ids, i: i64) -> AuditRecord {
    let (ts, second) = ts(i);
    let endpoint = i % 100;
    AuditRecord {
        ts,
        request_id: request_id(ids, second),
        kind: Some(Kind::Request),
        actor: if i % 10_000 == 5_000 {
            "account:rare".to_string()
        } else {
            format!("account:integration-{:02}", i % 50)
        },
        credential_id: Some(format!("cred_{:016x}", i % 50)),
        tenant: Some("acme".into()),
        client_ip: Some("10.1.2.3".into()),
        method: "GET".into(),
        path: format!("/fscmRestApi/resources/11.13.18.05/resource{endpoint:03}/{i}"),
        query: Some("onlyData=true&limit=25".into()),
        decision: if i % 20 == 0 { "denied" } else { "relayed" }.into(),
        reason: if i % 20 == 0 { "policy.denied" } else { "" }.into(),
        policy: Some("ap-automation".into()),
        endpoint: Some(format!("resource{endpoint:03}.item")),
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
}

struct Trail {
    _dir: tempfile::TempDir,
    store: Store,
    key: KeyedHasher,
    next: i64,
    ids: Ids,
    /// The actor lookup rows the appender has committed, kept across batches as the writer
    /// keeps them.
    noted: chain::NotedSeconds,
}

fn write_trail(ids: Ids, n: i64, label: &str) -> Trail {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("audit.db")).expect("store");
    erpgate::audit::writer::tune(&store).expect("tune");
    store.migrate().expect("migrate");
    let (master, _) = MasterKey::generate().expect("key");
    let key = master.audit_key();
    let started = Instant::now();
    let mut noted = chain::NotedSeconds::new();
    let mut i = 0;
    while i < n {
        let batch: Vec<AuditRecord> = (i..(i + 512).min(n)).map(|j| record(ids, j)).collect();
        chain::append_noting(store.conn(), &key, "", &batch, &mut noted).expect("append");
        i += batch.len() as i64;
    }
    let took = started.elapsed();
    eprintln!(
        "{label}: wrote {n} records in {:.1} s ({:.1} µs per record, all in one thread)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
    Trail {
        _dir: dir,
        store,
        key,
        next: n,
        ids,
        noted,
    }
}

fn append_64(c: &mut Criterion, trail: &mut Trail, name: &str) {
    let mut g = c.benchmark_group("audit_trail");
    g.throughput(Throughput::Elements(64));
    g.bench_function(name, |b| {
        b.iter_batched(
            || {
                let batch: Vec<AuditRecord> = (trail.next..trail.next + 64)
                    .map(|j| record(trail.ids, j))
                    .collect();
                trail.next += 64;
                batch
            },
            |batch| {
                chain::append_noting(trail.store.conn(), &trail.key, "", &batch, &mut trail.noted)
                    .expect("append")
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn queries(c: &mut Criterion, trail: &Trail, n: i64) {
    let mut g = c.benchmark_group("audit_query");
    let conn = trail.store.conn();
    let middle = n / 2;
    let (since, _) = ts(n - 3_600_000 / STEP_MS);
    // The request id of the record in the middle of the trail, from its batch.
    let (first, records) = conn
        .query_one(
            "SELECT id, records FROM audit_batch WHERE id <= ?1 ORDER BY id DESC LIMIT 1",
            &[erpgate::store::sql::Value::Int(middle)],
        )
        .and_then(|r| Ok((r.int(0)?, r.text(1)?)))
        .expect("the middle batch");
    let id = erpgate::audit::batch::lines(first, &records)
        .find(|(i, _)| *i == middle)
        .and_then(|(_, line)| erpgate::audit::batch::Head::of(line))
        .map(|h| h.request_id.into_owned())
        .expect("a request id");
    let filters = [
        (
            "by_request_id",
            Filter {
                request_id: Some(id),
                ..Filter::default()
            },
        ),
        (
            "last_hour_newest_100",
            Filter {
                since: Some(since.clone()),
                ..Filter::default()
            },
        ),
        (
            "by_actor_newest_100",
            Filter {
                actor: Some("account:integration-07".into()),
                ..Filter::default()
            },
        ),
        (
            "by_actor_last_hour_denied",
            Filter {
                actor: Some("account:integration-00".into()),
                since: Some(since),
                decision: Some("denied".into()),
                ..Filter::default()
            },
        ),
        (
            // One record in 10,000 (every 50 s of simulated time): 100 of its seconds.
            "by_rare_actor_newest_100",
            Filter {
                actor: Some("account:rare".into()),
                ..Filter::default()
            },
        ),
        (
            "by_path_prefix_newest_100",
            Filter {
                path_prefix: Some("/fscmRestApi/resources/11.13.18.05/resource042/".into()),
                ..Filter::default()
            },
        ),
    ];
    for (name, f) in filters {
        let rows = select_rows(conn, &f, 100).expect("query");
        assert!(!rows.is_empty(), "{name}: no rows");
        g.bench_function(name, |b| {
            b.iter(|| black_box(select_rows(conn, black_box(&f), 100).expect("query")))
        });
    }
    // The portal overview's last hour: counts by decision and the top refusal reasons of the
    // hour's 720,000 records (a record every 5 ms), from each batch's tally and the records of
    // the batches across the hour's start.
    let (hour_ago, _) = ts(n - 3_600_000 / STEP_MS);
    let sum = erpgate::audit::query::summary(conn, &hour_ago, 5).expect("summary");
    assert_eq!(
        sum.decisions.iter().map(|(_, k)| k).sum::<i64>(),
        trail.next - (n - 3_600_000 / STEP_MS).max(0),
        "every request record of the hour (and those appended since) is counted"
    );
    g.bench_function("summary_last_hour", |b| {
        b.iter(|| {
            black_box(
                erpgate::audit::query::summary(conn, black_box(&hour_ago), 5).expect("summary"),
            )
        })
    });
    // The portal's "last used" of a credential set: the worst case, one the account has not
    // used among its newest `LAST_USE_WINDOW` request records, all of which are read.
    let actor = "account:integration-07";
    assert_eq!(
        last_use(conn, actor, "cred_unused").expect("last use"),
        None
    );
    assert!(last_use(conn, actor, &format!("cred_{:016x}", 7))
        .expect("last use")
        .is_some());
    g.bench_function("last_use_unused_credential", |b| {
        b.iter(|| black_box(last_use(conn, actor, black_box("cred_unused")).expect("last use")))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    // `cargo test --all-targets` runs each bench once as a test (no `--bench`): a small trail
    // then checks the code without spending minutes writing a million records.
    let measuring = std::env::args().any(|a| a == "--bench");
    let n: i64 = std::env::var("ERPGATE_BENCH_TRAIL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 1_000_000 } else { 20_000 });
    // ERPGATE_BENCH_TRAIL_ORDERED_ONLY=1: the time-ordered trail only (at 10 M records, the
    // random one takes a quarter of an hour to write).
    if std::env::var_os("ERPGATE_BENCH_TRAIL_ORDERED_ONLY").is_none() {
        let mut random = write_trail(Ids::Random, n, "random_ids");
        append_64(c, &mut random, "append_64_random_ids");
        drop(random);
    }
    let mut ordered = write_trail(Ids::TimeOrdered, n, "time_ordered_ids");
    append_64(c, &mut ordered, "append_64_time_ordered_ids");
    queries(c, &ordered, n);
}

criterion_group! {
    name = audit_trail;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    targets = benches
}
criterion_main!(audit_trail);
