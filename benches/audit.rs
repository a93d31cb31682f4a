//! Audit writer cost: sustained records per second into SQLite (batches of 512, one
//! transaction each, hash chain included), the per-record encode + MAC cost, and the relay's
//! side of a record (`queue_one`: encoded where it is made).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use erpgate::audit::{chain, AuditRecord, Kind};
use erpgate::crypto::MasterKey;
use erpgate::store::Store;

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        ts: "2026-11-25T08:00:00.000000Z".into(),
        request_id: format!("9f3a01c2-{i:016x}"),
        kind: Some(Kind::Request),
        actor: "ap-sync".into(),
        credential_id: Some("cred_0123456789abcdef".into()),
        tenant: Some("acme".into()),
        client_ip: Some("10.1.2.3".into()),
        method: "GET".into(),
        path: "/fscmRestApi/resources/11.13.18.05/invoices/300100".into(),
        query: Some("onlyData=true&limit=25".into()),
        decision: "relayed".into(),
        reason: String::new(),
        policy: Some("ap-automation".into()),
        rule: Some("read invoices and suppliers".into()),
        endpoint: Some("invoices.item".into()),
        snapshot_version: Some(3),
        snapshot_hash: Some(
            "107a5d84a2478da8d07b40ed70e1f474230cbd6657cb43e5210f0594214521a0".into(),
        ),
        upstream_host: Some("acme.fa.us2.oraclecloud.com".into()),
        upstream_identity: Some("FIN_INTEGRATION".into()),
        status: Some(200),
        upstream_status: Some(200),
        gateway_us: Some(4),
        upstream_us: Some(48_000),
        total_us: Some(48_200),
        bytes_in: Some(0),
        bytes_out: Some(2_048),
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("audit.db")).expect("store");
    erpgate::audit::writer::tune(&store).expect("tune");
    store.migrate().expect("migrate");
    let (master, _) = MasterKey::generate().expect("key");
    let key = master.audit_key();
    let batch: Vec<AuditRecord> = (0..512).map(record).collect();

    let mut g = c.benchmark_group("audit");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("append_batch_512", |b| {
        b.iter(|| chain::append(store.conn(), &key, "", black_box(&batch)).expect("append"))
    });
    g.throughput(Throughput::Elements(1));
    let one = record(1);
    g.bench_function("encode_one", |b| {
        let mut out = String::with_capacity(1024);
        b.iter(|| {
            out.clear();
            erpgate::audit::batch::encode_into(black_box(&one), "node-a", &mut out).expect("json");
            black_box(out.len())
        })
    });
    g.bench_function("encode_and_mac_one", |b| {
        b.iter(|| {
            let mut json = String::with_capacity(1024);
            erpgate::audit::batch::encode_into(black_box(&one), "", &mut json).expect("json");
            black_box(chain::link(&key, 42, "prev", &json))
        })
    });
    // The relay's side of a record. Before: the record's strings copied out of the request
    // (here: the record cloned), sent, encoded by the writer and freed there. Now: the fields
    // borrowed, encoded where the record is made, the line sent (`audit::Queued`).
    g.bench_function("copy_encode_drop_one", |b| {
        let mut out = String::with_capacity(1024);
        b.iter(|| {
            let copy = black_box(&one).clone();
            out.clear();
            erpgate::audit::batch::encode_into(&copy, "", &mut out).expect("json");
            black_box(out.len())
        })
    });
    g.bench_function("queue_one", |b| {
        b.iter(|| {
            let queued = erpgate::audit::Queued::encode(&black_box(&one).view()).expect("json");
            black_box(queued)
        })
    });
    g.finish();
}

criterion_group! {
    name = audit;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3)).sample_size(20);
    targets = benches
}
criterion_main!(audit);
