//! Request-side filter cost: each step alone and the whole chain (canonicalise → authenticate
//! with a warm cache → catalog match → policy → schedule → kill switch → credential
//! preparation), with 50 endpoints and 50 policies loaded. No sockets: the same functions the
//! Pingora phases call.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use erpgate::crypto::PasswordHasher;
use erpgate::gateway::chain::{admit, RequestInput};
use erpgate::gateway::context::Trace;
use erpgate::policy::{Method, Subject};
use erpgate::snapshot::Snapshot;

#[path = "common/chain_fixture.rs"]
mod chain_fixture;
use chain_fixture::{config_with, fixture};

fn benches(c: &mut Criterion) {
    let f = fixture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let target = b"/fscmRestApi/resources/11.13.18.05/resource7/300100?onlyData=true&limit=25";
    let compiled = f.app.compiled.load_full();
    let view = f.app.directory.load_full();
    let auth = [f.basic.as_bytes()];
    let key = [f.api_key.as_bytes()];
    let headers = http::HeaderMap::new();
    let run = |authorization: &[&[u8]], api_key: &[&[u8]]| {
        let input = RequestInput {
            method: b"GET",
            target,
            authorization,
            api_key,
            headers: &headers,
            client_ip: None,
            now: chrono::Utc::now(),
        };
        let mut trace = Trace::default();
        rt.block_on(admit(&f.app, &compiled, &view, &input, &mut trace))
    };
    // Warm the verified-credential cache and prove the chain admits.
    assert!(run(&auth, &[]).is_ok(), "basic admits");
    assert!(run(&[], &key).is_ok(), "api key admits");

    c.bench_function("chain/basic_warm", |b| {
        b.iter(|| black_box(run(&auth, &[]).is_ok()))
    });
    c.bench_function("chain/api_key", |b| {
        b.iter(|| black_box(run(&[], &key).is_ok()))
    });
    let none: [&[u8]; 0] = [];
    c.bench_function("chain/deny_auth_missing", |b| {
        b.iter(|| black_box(run(&none, &none).is_err()))
    });

    // The same request with what an Oracle integration typically asks of the framework: a
    // filter, a sort, a projection and paging (all on unmasked attributes), and the headers an
    // integration sends (the governed and method-override families are looked for in them).
    let oracle_target: &[u8] = b"/fscmRestApi/resources/11.13.18.05/resource7/300100?q=Status%3D'ACTIVE'%20and%20Amount%20%3E%20100&orderBy=InvoiceDate:desc&fields=InvoiceId,InvoiceNumber,Amount&limit=25&offset=50&onlyData=true";
    let mut typical = http::HeaderMap::new();
    for (k, v) in [
        ("host", "erpgate.example.com"),
        ("accept", "application/json"),
        ("user-agent", "Apache-HttpClient/4.5.14 (Java/17)"),
        ("accept-encoding", "gzip,deflate"),
        ("connection", "keep-alive"),
        ("x-correlation-id", "7f1c2d3e-aaaa-bbbb-cccc-0123456789ab"),
        ("rest-framework-version", "4"),
        ("content-type", "application/json"),
    ] {
        typical.insert(k, http::HeaderValue::from_static(v));
    }
    let run_oracle = || {
        let input = RequestInput {
            method: b"GET",
            target: oracle_target,
            authorization: &auth,
            api_key: &[],
            headers: &typical,
            client_ip: None,
            now: chrono::Utc::now(),
        };
        let mut trace = Trace::default();
        rt.block_on(admit(&f.app, &compiled, &view, &input, &mut trace))
    };
    assert!(run_oracle().is_ok(), "an Oracle query admits");
    c.bench_function("chain/basic_warm_oracle_query", |b| {
        b.iter(|| black_box(run_oracle().is_ok()))
    });
    let oracle_query = std::str::from_utf8(oracle_target)
        .ok()
        .and_then(|t| t.split_once('?'))
        .map(|(_, q)| q)
        .expect("query");
    c.bench_function("step/query_analyse_paging", |b| {
        b.iter(|| {
            black_box(erpgate::oracle::query::analyse(black_box("onlyData=true&limit=25")).is_ok())
        })
    });
    c.bench_function("step/query_analyse_oracle", |b| {
        b.iter(|| black_box(erpgate::oracle::query::analyse(black_box(oracle_query)).is_ok()))
    });
    c.bench_function("step/governed_headers", |b| {
        b.iter(|| {
            let names = || typical.keys().map(http::HeaderName::as_str);
            black_box((
                erpgate::oracle::headers::method_override(names()),
                erpgate::oracle::headers::governed(names()),
            ))
        })
    });

    let ids = erpgate::ids::RequestIds::new();
    c.bench_function("step/request_id", |b| b.iter(|| black_box(ids.next_id())));
    // The front's strict head check on a typical integration request (10 fields).
    let head = b"GET /fscmRestApi/resources/11.13.18.05/invoices/300100555?onlyData=true HTTP/1.1\r\n\
Host: erpgate.example.com\r\nAuthorization: Basic YXAtc3luYy4xYTJiM2M6c2VjcmV0LXNlY3JldC1zZWNyZXQ=\r\n\
Accept: application/json\r\nUser-Agent: Apache-HttpClient/4.5.14 (Java/17)\r\n\
Accept-Encoding: gzip,deflate\r\nConnection: keep-alive\r\nX-Correlation-Id: 7f1c2d3e-aaaa-bbbb-cccc-0123456789ab\r\n\
REST-Framework-Version: 4\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n";
    let limits = erpgate::gateway::front::head::Limits {
        max_uri: 8192,
        max_header_count: 100,
        max_header_bytes: 32 * 1024,
        max_body: 10 * 1024 * 1024,
    };
    c.bench_function("step/front_head", |b| {
        b.iter(|| {
            black_box(erpgate::gateway::front::head::check(
                black_box(head),
                &limits,
            ))
        })
    });
    c.bench_function("step/path_canonicalize", |b| {
        b.iter(|| black_box(erpgate::path::canonicalize(black_box(target), 8192).is_ok()))
    });
    let canon = erpgate::path::canonicalize(target, 8192).expect("canonical");
    let snap = &compiled.snapshot;
    c.bench_function("step/catalog_match_100", |b| {
        b.iter(|| black_box(snap.catalog.match_path(black_box(canon).segments())))
    });
    let ep = snap.catalog.match_path(canon.segments()).expect("match");
    let (tid, _) = snap.tenant("acme").expect("tenant");
    let subject = Subject {
        account: Some("acct7"),
        oracle_user: None,
        roles: &[],
    };
    c.bench_function("step/policy_check_50", |b| {
        b.iter(|| black_box(snap.grants.check(black_box(&subject), tid, ep, Method::Get)))
    });
    c.bench_function("step/schedule", |b| {
        b.iter(|| black_box(snap.schedule.is_open(chrono::Utc::now())))
    });
    c.bench_function("step/killswitch", |b| {
        b.iter(|| black_box(f.app.directory.load().killswitch()))
    });

    // The catalog at 500 endpoints (250 resources): the trie keeps it flat.
    let dir = tempfile::tempdir().expect("dir");
    let big_cfg = dir.path().join("big.toml");
    std::fs::write(&big_cfg, config_with(250)).expect("config");
    let big = Snapshot::load(&big_cfg, 1).expect("snapshot");
    assert_eq!(big.catalog.len(), 500);
    let deep = erpgate::path::canonicalize(
        b"/fscmRestApi/resources/11.13.18.05/resource237/300100",
        8192,
    )
    .expect("canonical");
    assert!(big.catalog.match_path(deep.segments()).is_some());
    c.bench_function("step/catalog_match_500", |b| {
        b.iter(|| black_box(big.catalog.match_path(black_box(deep).segments())))
    });

    // Our upstream credential: open the sealed secret (AES-256-GCM) and build the header.
    let acct = view
        .account_by_name("acct7")
        .and_then(|i| view.account(i))
        .expect("account");
    let (tid, tenant) = snap.tenant("acme").expect("tenant");
    let runtime = compiled.tenant_runtime(tid).expect("runtime");
    c.bench_function("step/inject_upstream_credential", |b| {
        b.iter(|| {
            black_box(
                erpgate::upstream::inject::prepare(tenant, acct, &runtime.cipher, |t, n| {
                    view.secret(t, n)
                })
                .is_ok(),
            )
        })
    });
    // Header hygiene on a typical client request.
    let mut req = pingora::http::RequestHeader::build("GET", target, None).expect("req");
    for (k, v) in [
        ("host", "gw.example.com"),
        ("authorization", "Basic eDp5"),
        ("accept", "application/json"),
        ("user-agent", "integration/1.0"),
        ("x-forwarded-for", "10.0.0.1"),
        ("connection", "keep-alive"),
    ] {
        req.append_header(k, v).expect("header");
    }
    c.bench_function("step/sanitize_headers", |b| {
        b.iter(|| {
            let mut r = req.clone();
            let allowed = erpgate::gateway::upstream_headers::Allowed {
                gateway: &[],
                endpoint: &[],
                governed: 0,
            };
            erpgate::gateway::upstream_headers::sanitize(&mut r, &allowed, &[]);
            black_box(r.headers.len())
        })
    });
    // The response side: an answer with the headers the simulated Oracle sends (backend and
    // diagnostic headers, session cookies), filtered through the allowlist and given the
    // security headers, as `response_filter` does. Cloning it alone is the floor.
    let mut answer = pingora::http::ResponseHeader::build(200, Some(16)).expect("resp");
    for (k, v) in [
        (
            "content-type",
            "application/vnd.oracle.adf.resourceitem+json",
        ),
        ("content-length", "1342"),
        (
            "etag",
            "\"ACED0005737200136A6176612E7574696C2E41727261794C6973747881D21D99C7619D03000149\"",
        ),
        ("date", "Sun, 06 Dec 2026 21:00:00 GMT"),
        ("server", "Oracle-HTTP-Server"),
        ("x-oracle-dms-ecid", "0187c1a2b3c4d5e6"),
        ("x-sim-trace", "t-0187c1a2b3c4d5e6"),
        ("x-oracle-dms-rid", "0"),
        ("rest-framework-version", "4"),
        ("x-powered-by", "Servlet/3.0 JSP/2.2"),
        ("content-language", "en"),
        ("x-oracle-dms-context", "RaJkMr0187c1a2b3c4d5e6"),
        (
            "set-cookie",
            "JSESSIONID=0187c1a2b3c4d5e6!-1472032; path=/; HttpOnly; Secure",
        ),
        (
            "set-cookie",
            "OAMAuthnCookie_sim=sso-0187c1a2b3c4d5e6; path=/; Secure; HttpOnly",
        ),
    ] {
        answer.append_header(k.to_string(), v).expect("header");
    }
    c.bench_function("step/response_head_clone", |b| {
        b.iter(|| black_box(answer.clone().headers.len()))
    });
    c.bench_function("step/response_headers", |b| {
        b.iter(|| {
            let mut r = answer.clone();
            erpgate::redact::headers::filter_upstream(&mut r, &[], None).expect("filtered");
            erpgate::redact::headers::apply(&mut r, "0c1f2e3d4c5b6a79", None).expect("set");
            black_box(r.headers.len())
        })
    });
}

/// The cold path of Basic authentication: one argon2id verification with the production
/// parameters (19 MiB, t=2). Runs once per credential per cache lifetime, off the async
/// workers, at most four at a time.
fn cold(c: &mut Criterion) {
    let hasher = PasswordHasher::default();
    let phc = hasher.hash(b"correct horse battery staple").expect("hash");
    let mut g = c.benchmark_group("auth");
    g.sample_size(10);
    g.bench_function("basic_cold_argon2id_default", |b| {
        b.iter(|| black_box(hasher.verify(b"correct horse battery staple", &phc)))
    });
    g.finish();
}

criterion_group! {
    name = chain;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches, cold
}
criterion_main!(chain);
