//! Token costs: inbound Oracle user token verification with a cold cache (RS256 signature
//! check) and a warm one (keyed-hash lookup), the outbound assertion from the cache and
//! signed cold, and gateway-token authentication alone and through the whole chain.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use erpgate::auth::{AuthSettings, Authenticator};
use erpgate::crypto::{MasterKey, PasswordHasher};
use erpgate::gateway::chain::{admit, RequestInput};
use erpgate::gateway::context::Trace;
use erpgate::jwt::assertion::{AssertionCache, AssertionSpec};
use erpgate::jwt::inbound::{InboundTrust, TrustedCert};
use erpgate::jwt::{b64, cert, SigningKey};

#[path = "common/chain_fixture.rs"]
mod chain_fixture;

fn benches(c: &mut Criterion) {
    let (fusion_der, fusion_cert) = cert::generate("fusion", 30).expect("key");
    let fusion = SigningKey::from_der(&fusion_der, fusion_cert.clone()).expect("fusion");
    let now = chrono::Utc::now().timestamp();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": fusion_cert.x5t()});
    let claims = serde_json::json!({"iss": "https://acme.fa.oraclecloud.com", "prn": "JANE.DOE",
        "sub": "JANE.DOE", "iat": now, "exp": now + 3600, "roles": ["AP_CLERK"]});
    let mut token = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = fusion.sign_rs256(token.as_bytes()).expect("sign");
    token.push('.');
    token.push_str(&b64::encode(&sig));
    let trust = vec![(
        0usize,
        InboundTrust {
            issuers: vec!["https://acme.fa.oraclecloud.com".into()],
            certs: vec![TrustedCert {
                alias: "fusion".into(),
                cert: fusion_cert.clone(),
            }],
            audience: None,
            refused_audience: None,
            skew: 60,
            max_token_bytes: 8192,
            roles_claim: Some("roles".into()),
        },
    )];
    assert!(erpgate::jwt::inbound::verify(token.as_bytes(), &trust, now).is_ok());
    c.bench_function("jwt/inbound_verify_cold", |b| {
        b.iter(|| {
            black_box(
                erpgate::jwt::inbound::verify(black_box(token.as_bytes()), &trust, now).is_ok(),
            )
        })
    });
    let (master, _) = MasterKey::generate().expect("master");
    let auth = Authenticator::new(
        master.keyed_hasher(erpgate::crypto::HashPurpose::ApiKey),
        master.keyed_hasher(erpgate::crypto::HashPurpose::CredentialCache),
        master.keyed_hasher(erpgate::crypto::HashPurpose::InboundJwt),
        master.keyed_hasher(erpgate::crypto::HashPurpose::GatewayToken),
        master.keyed_hasher(erpgate::crypto::HashPurpose::Lockout),
        PasswordHasher::default(),
        &AuthSettings::default(),
    );
    assert!(
        !auth
            .oracle_token(&token, &trust, 1, now)
            .expect("cold")
            .cache_hit
    );
    assert!(
        auth.oracle_token(&token, &trust, 1, now)
            .expect("warm")
            .cache_hit
    );
    c.bench_function("jwt/inbound_warm", |b| {
        b.iter(|| black_box(auth.oracle_token(black_box(&token), &trust, 1, now).is_ok()))
    });
    // What the Bearer path adds for a tenant with Page Integration: the token's keyed hash,
    // looked up among launched tokens (the view's and this node's).
    // (Some token was launched somewhere, else the check is skipped without hashing.)
    let browser = erpgate::session::browser::BrowserSessions::new(
        master.keyed_hasher(erpgate::crypto::HashPurpose::BrowserSession),
        master.keyed_hasher(erpgate::crypto::HashPurpose::LaunchToken),
    );
    let view = erpgate::directory::DirectoryView::build(erpgate::store::Directory {
        browser_sessions: vec![erpgate::store::StoredBrowserSession {
            session_hash: [1; 32],
            tenant: "acme".into(),
            oracle_user: "JANE.DOE".into(),
            roles: Vec::new(),
            created_at: now,
            expires_at: now + 600,
            keep_until: now + 900,
            launch_hash: browser.launch_hash(b"another token"),
            jti_key: None,
            ended_at: None,
        }],
        ..Default::default()
    });
    c.bench_function("jwt/bearer_not_launched", |b| {
        b.iter(|| black_box(browser.launched_token(&view, black_box(token.as_bytes()), now)))
    });

    // Outbound: the assertion from the cache (per request), and signed (per user per lifetime).
    let (tenant_der, tenant_cert) = cert::generate("erpgate", 30).expect("key");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let cache = AssertionCache::new(1000);
    let spec = AssertionSpec {
        tenant: "acme",
        x5t: tenant_cert.x5t(),
        issuer: "erpgate",
        audience: None,
        user: "AP.CLERK",
        lifetime: 1800,
    };
    let load = || SigningKey::from_der(&tenant_der, tenant_cert.clone());
    rt.block_on(cache.get(&spec, now, load)).expect("first");
    c.bench_function("jwt/assertion_from_cache", |b| {
        b.iter(|| black_box(rt.block_on(cache.get(black_box(&spec), now, load)).is_ok()))
    });
    let key = load().expect("key");
    let claims = erpgate::jwt::AssertionClaims {
        iss: "erpgate",
        prn: "AP.CLERK",
        sub: "AP.CLERK",
        aud: None,
        iat: now,
        exp: now + 1800,
        jti: "jti_0123456789",
    };
    let mut g = c.benchmark_group("jwt");
    g.sample_size(20);
    g.bench_function("assertion_sign_cold", |b| {
        b.iter(|| black_box(erpgate::jwt::sign(&key, &claims).is_ok()))
    });
    g.finish();

    // Gateway tokens: authentication alone and the whole request-side chain with one.
    let f = chain_fixture::fixture();
    let view = f.app.directory.load_full();
    let minted = erpgate::auth::tokens::mint(f.app.auth.token_hasher(), &f.credential_id, 900, now)
        .expect("mint");
    f.app.auth.issued.remember(minted.stored.clone(), now);
    let gt = minted.token.expose().clone();
    assert!(f.app.auth.gateway_token(&gt, &view, now).is_ok());
    c.bench_function("auth/gateway_token", |b| {
        b.iter(|| black_box(f.app.auth.gateway_token(black_box(&gt), &view, now).is_ok()))
    });
    let compiled = f.app.compiled.load_full();
    let bearer = format!("Bearer {gt}");
    let auth_h = [bearer.as_bytes()];
    let target = b"/fscmRestApi/resources/11.13.18.05/resource7/300100?onlyData=true&limit=25";
    let headers = http::HeaderMap::new();
    let run = || {
        let input = RequestInput {
            method: b"GET",
            target,
            authorization: &auth_h,
            api_key: &[],
            headers: &headers,
            client_ip: None,
            now: chrono::Utc::now(),
        };
        let mut trace = Trace::default();
        rt.block_on(admit(&f.app, &compiled, &view, &input, &mut trace))
    };
    assert!(run().is_ok(), "gateway token admits");
    c.bench_function("chain/gateway_token", |b| {
        b.iter(|| black_box(run().is_ok()))
    });
}

criterion_group! {
    name = jwt;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = benches
}
criterion_main!(jwt);
