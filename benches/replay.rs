//! `erpgate check --replay-audit` over a trail of a million request records (SQLite): the
//! whole replay (read, parse the fields it needs, decide again, group), measured end to end.
//! `ERPGATE_REPLAY_RECORDS` changes the trail's size (default 1,000,000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use erpgate::audit::AuditRecord;
use erpgate::crypto::MasterKey;
use erpgate::explain::replay::replay;
use erpgate::snapshot::Snapshot;
use erpgate::store::Store;

#[path = "common/chain_fixture.rs"]
mod chain_fixture;
use chain_fixture::config_with;

fn record(i: usize) -> AuditRecord {
    let r = i % 50;
    let acct = (i / 7) % 50;
    // acct{n} is granted resources n and n+1 (items); others are refused.
    let granted = acct == r;
    AuditRecord {
        ts: format!(
            "2026-12-01T{:02}:{:02}:{:02}.{:06}Z",
            (i / 3_600_000) % 24,
            (i / 60_000) % 60,
            (i / 1_000) % 60,
            i % 1_000
        ),
        request_id: format!("{i:016x}-{:016x}", i * 7919),
        kind: Some(erpgate::audit::Kind::Request),
        actor: format!("acct{acct}"),
        credential_id: Some(format!("cred-{acct:04}")),
        tenant: Some("acme".into()),
        client_ip: Some("10.1.2.3".into()),
        method: "GET".into(),
        path: format!("/fscmRestApi/resources/11.13.18.05/resource{r}"),
        query: Some("limit=25&onlyData=true".into()),
        decision: if granted { "relayed" } else { "denied" }.into(),
        reason: if granted { "" } else { "policy.denied" }.into(),
        endpoint: Some(format!("r{r}.collection")),
        policy: granted.then(|| format!("p{acct}")),
        rule: granted.then(|| "rule-1".into()),
        snapshot_version: Some(1),
        snapshot_hash: Some("9f".repeat(32)),
        upstream_host: granted.then(|| "acme.fa.us2.oraclecloud.com".into()),
        status: Some(if granted { 200 } else { 403 }),
        upstream_status: granted.then_some(200),
        gateway_us: Some(41),
        upstream_us: granted.then_some(1_800),
        total_us: Some(1_900),
        bytes_out: Some(1_024),
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let n: usize = std::env::var("ERPGATE_REPLAY_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("erpgate.toml");
    std::fs::write(&cfg, config_with(50)).expect("config");
    let snapshot = Snapshot::load(&cfg, 1).expect("snapshot");
    let mut store = Store::connect(&snapshot.gateway.database).expect("store");
    store.migrate().expect("migrate");
    let (master, _) = MasterKey::generate().expect("key");
    let key = master.audit_key();
    let started = Instant::now();
    for start in (0..n).step_by(10_000) {
        let batch: Vec<_> = (start..(start + 10_000).min(n)).map(record).collect();
        erpgate::audit::chain::append(store.conn(), &key, "", &batch).expect("append");
    }
    eprintln!("trail of {n} records written in {:?}", started.elapsed());

    // The new configuration: p8 loses its subject, so acct8's relayed requests would be refused.
    let new_cfg = dir.path().join("new.toml");
    let text = config_with(50).replace(
        "subjects = [\"account:acct8\"]",
        "subjects = [\"account:nobody\"]",
    );
    std::fs::write(&new_cfg, text).expect("config");
    let new = Snapshot::load(&new_cfg, 2).expect("snapshot");
    let since = "2026-12-01T00:00:00Z";
    let report = replay(store.conn(), &new, since).expect("replay");
    assert_eq!(report.examined as usize, n);
    assert!(report.newly_refused() > 0, "{report:?}");
    eprintln!(
        "replay: {} compared, {} would change ({} newly refused)",
        report.compared,
        report.changes.iter().map(|c| c.requests).sum::<u64>(),
        report.newly_refused()
    );

    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    g.bench_function(format!("replay_audit_{n}_records"), |b| {
        b.iter(|| black_box(replay(store.conn(), &new, since).expect("replay")))
    });
    g.finish();
}

criterion_group!(replay_benches, benches);
criterion_main!(replay_benches);
