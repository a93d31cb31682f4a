use std::sync::OnceLock;

use serde_json::json;

use super::inbound::{verify, InboundTrust, OracleIdentity, TrustedCert};
use super::*;

struct Keys {
    a: SigningKey,
    a_pkcs8: Vec<u8>,
    b: SigningKey,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (ka, ca) = cert::generate("oracle-a", 30).expect("key a");
        let (kb, cb) = cert::generate("oracle-b", 30).expect("key b");
        Keys {
            a: SigningKey::from_der(&ka, ca).expect("a"),
            a_pkcs8: ka.to_vec(),
            b: SigningKey::from_der(&kb, cb).expect("b"),
        }
    })
}

const NOW: i64 = 1_800_000_000;

fn trust() -> InboundTrust {
    InboundTrust {
        issuers: vec!["https://acme.fa.oraclecloud.com".into()],
        certs: vec![TrustedCert {
            alias: "fusion-2026".into(),
            cert: keys().a.certificate().clone(),
        }],
        audience: None,
        refused_audience: None,
        skew: 60,
        max_token_bytes: 8192,
        roles_claim: Some("roles".into()),
    }
}

fn claims() -> serde_json::Value {
    json!({"iss": "https://acme.fa.oraclecloud.com", "prn": "JANE.DOE", "sub": "JANE.DOE",
           "iat": NOW - 10, "exp": NOW + 600, "roles": ["AP_CLERK"]})
}

/// A token with exactly this header and payload, signed by `key` (or with `sig` as given).
fn craft(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    key: Option<&SigningKey>,
) -> String {
    let mut t = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(payload.to_string().as_bytes())
    );
    let sig = key.map(|k| k.sign_rs256(t.as_bytes()).expect("sign"));
    t.push('.');
    if let Some(sig) = sig {
        t.push_str(&b64::encode(&sig));
    }
    t
}

fn rs256_header(k: &SigningKey) -> serde_json::Value {
    json!({"alg": "RS256", "typ": "JWT", "x5t": k.certificate().x5t()})
}

fn check(token: &str) -> Result<OracleIdentity, JwtError> {
    let t = trust();
    verify(token.as_bytes(), &[(3, t)], NOW)
}

#[test]
fn a_signed_token_verifies_and_yields_user_and_roles() {
    let k = &keys().a;
    let id = check(&craft(&rs256_header(k), &claims(), Some(k))).expect("valid");
    assert_eq!(id.tenant, 3);
    assert_eq!(id.user, "JANE.DOE");
    assert_eq!(id.roles, vec!["AP_CLERK".to_string()]);
    assert_eq!(id.exp, NOW + 600);
    // `sub` is used when there is no `prn`.
    let mut c = claims();
    c.as_object_mut().expect("obj").remove("prn");
    c["sub"] = json!("JOHN.ROE");
    assert_eq!(
        check(&craft(&rs256_header(k), &c, Some(k)))
            .expect("sub")
            .user,
        "JOHN.ROE"
    );
}

#[test]
fn our_assertions_are_read_by_an_independent_implementation() {
    let k = &keys().a;
    let claims = AssertionClaims {
        iss: "erpgate",
        prn: "AP.CLERK",
        sub: "AP.CLERK",
        aud: Some("https://acme.fa.oraclecloud.com"),
        iat: chrono::Utc::now().timestamp(),
        exp: chrono::Utc::now().timestamp() + 1800,
        jti: "jti_1",
    };
    let token = sign(k, &claims).expect("sign");
    let header = jsonwebtoken::decode_header(token.as_str()).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.x5t.as_deref(), Some(k.certificate().x5t()));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(k.certificate().to_pem().as_bytes())
        .expect("cert pem");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&["erpgate"]);
    v.set_audience(&["https://acme.fa.oraclecloud.com"]);
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token.as_str(), &key, &v).expect("verifies");
    assert_eq!(data.claims["prn"], "AP.CLERK");
    assert_eq!(data.claims["sub"], "AP.CLERK");
    assert_eq!(data.claims["exp"].as_i64(), Some(claims.exp));
    // x5t is base64url(SHA-1(DER)), no padding.
    let sha1 = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        k.certificate().der(),
    );
    assert_eq!(k.certificate().x5t(), b64::encode(sha1.as_ref()));
    assert!(!k.certificate().x5t().contains('='));
}

#[test]
fn tokens_from_an_independent_implementation_verify() {
    let pem = {
        use base64::Engine as _;
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&keys().a_pkcs8)
        )
    };
    let enc = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key pem");
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("fusion-2026".into());
    let token = jsonwebtoken::encode(&h, &claims(), &enc).expect("encode");
    assert_eq!(check(&token).expect("verifies").user, "JANE.DOE");
}

#[test]
fn alg_none_in_any_casing_and_stripped_signatures_are_refused() {
    let k = &keys().a;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "JWT"});
        assert_eq!(
            check(&craft(&h, &claims(), None)),
            Err(JwtError::Algorithm),
            "{alg}"
        );
        // Even with a (valid RS256) signature attached.
        assert_eq!(
            check(&craft(&h, &claims(), Some(k))),
            Err(JwtError::Algorithm),
            "{alg}"
        );
    }
    // RS256 header, signature stripped.
    assert_eq!(
        check(&craft(&rs256_header(k), &claims(), None)),
        Err(JwtError::Algorithm)
    );
    // Lower-case rs256 is not RS256.
    let h = json!({"alg": "rs256", "x5t": k.certificate().x5t()});
    assert_eq!(
        check(&craft(&h, &claims(), Some(k))),
        Err(JwtError::Algorithm)
    );
    // No alg at all.
    let h = json!({"typ": "JWT"});
    assert_eq!(
        check(&craft(&h, &claims(), Some(k))),
        Err(JwtError::Algorithm)
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let cert = keys().a.certificate();
    for secret in [cert.to_pem().into_bytes(), cert.der().to_vec()] {
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .expect("hs256");
        assert_eq!(check(&token), Err(JwtError::Algorithm));
    }
}

#[test]
fn claims_are_checked_after_the_signature() {
    let k = &keys().a;
    let h = rs256_header(k);
    let with = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut c = claims();
        f(c.as_object_mut().expect("obj"));
        check(&craft(&h, &c, Some(k)))
    };
    assert_eq!(
        with(&|c| {
            c.insert("iss".into(), json!("https://evil.example"));
        }),
        Err(JwtError::Issuer)
    );
    assert_eq!(
        with(&|c| {
            c.remove("iss");
        }),
        Err(JwtError::MissingClaim)
    );
    assert_eq!(
        with(&|c| {
            c.insert("exp".into(), json!(NOW - 61));
        }),
        Err(JwtError::Expired)
    );
    // Within the skew is still fine.
    assert!(with(&|c| {
        c.insert("exp".into(), json!(NOW - 59));
    })
    .is_ok());
    assert_eq!(
        with(&|c| {
            c.remove("exp");
        }),
        Err(JwtError::MissingClaim)
    );
    assert_eq!(
        with(&|c| {
            c.insert("exp".into(), json!("tomorrow"));
        }),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        with(&|c| {
            c.insert("nbf".into(), json!(NOW + 61));
        }),
        Err(JwtError::NotYetValid)
    );
    assert_eq!(
        with(&|c| {
            c.insert("iat".into(), json!(NOW + 3600));
        }),
        Err(JwtError::IssuedInFuture)
    );
    assert_eq!(
        with(&|c| {
            c.remove("prn");
            c.remove("sub");
        }),
        Err(JwtError::MissingClaim)
    );
    assert_eq!(
        with(&|c| {
            c.insert("prn".into(), json!("A\u{0}B"));
        }),
        Err(JwtError::Malformed)
    );
    assert_eq!(
        with(&|c| {
            c.insert("roles".into(), json!([1, 2]));
        }),
        Err(JwtError::Malformed)
    );
    // Audience, when configured.
    let mut t = trust();
    t.audience = Some("erpgate".into());
    let token = craft(&h, &claims(), Some(k));
    assert_eq!(
        verify(token.as_bytes(), &[(0, t.clone())], NOW),
        Err(JwtError::Audience)
    );
    let mut c = claims();
    c["aud"] = json!(["other", "erpgate"]);
    assert!(verify(craft(&h, &c, Some(k)).as_bytes(), &[(0, t.clone())], NOW).is_ok());
    // The launch audience refuses the token on the Bearer path, alone or among others, and
    // before the wanted audience is looked at.
    t.refused_audience = Some("erpgate-launch".into());
    assert!(verify(craft(&h, &c, Some(k)).as_bytes(), &[(0, t.clone())], NOW).is_ok());
    for aud in [
        json!("erpgate-launch"),
        json!(["erpgate", "erpgate-launch"]),
    ] {
        c["aud"] = aud;
        assert_eq!(
            verify(craft(&h, &c, Some(k)).as_bytes(), &[(0, t.clone())], NOW),
            Err(JwtError::LaunchAudience)
        );
    }
}

#[test]
fn another_tenants_key_and_tampering_are_refused() {
    let (a, b) = (&keys().a, &keys().b);
    // Signed by B, claiming A's thumbprint: signature fails.
    assert_eq!(
        check(&craft(&rs256_header(a), &claims(), Some(b))),
        Err(JwtError::Signature)
    );
    // Signed by B with B's thumbprint: not a trusted certificate.
    assert_eq!(
        check(&craft(&rs256_header(b), &claims(), Some(b))),
        Err(JwtError::UnknownKey)
    );
    // No selector at all: every trusted certificate is tried, none verifies.
    let h = json!({"alg": "RS256"});
    assert_eq!(
        check(&craft(&h, &claims(), Some(b))),
        Err(JwtError::Signature)
    );
    // A payload changed after signing.
    let good = craft(&rs256_header(a), &claims(), Some(a));
    let parts: Vec<&str> = good.split('.').collect();
    let mut c = claims();
    c["prn"] = json!("ADMIN");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64::encode(c.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(check(&forged), Err(JwtError::Signature));
}

#[test]
fn kid_and_url_headers_never_reach_outside_the_trusted_set() {
    let k = &keys().a;
    for kid in [
        "../../../../etc/passwd",
        "' OR 1=1 --",
        "/dev/zero",
        "fusion-2026\0",
    ] {
        let h = json!({"alg": "RS256", "kid": kid});
        assert_eq!(
            check(&craft(&h, &claims(), Some(k))),
            Err(JwtError::UnknownKey),
            "{kid:?}"
        );
    }
    let h = json!({"alg": "RS256", "kid": "fusion-2026"});
    assert!(check(&craft(&h, &claims(), Some(k))).is_ok());
    for (name, value) in [
        ("jku", json!("http://127.0.0.1:1/keys")),
        ("x5u", json!("http://127.0.0.1:1/cert.pem")),
        ("jwk", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"})),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
    ] {
        let mut h = rs256_header(k);
        h[name] = value;
        assert_eq!(
            check(&craft(&h, &claims(), Some(k))),
            Err(JwtError::ForbiddenHeader),
            "{name}"
        );
    }
    // A selector of the wrong type is malformed, not ignored.
    let h = json!({"alg": "RS256", "x5t": 42});
    assert_eq!(
        check(&craft(&h, &claims(), Some(k))),
        Err(JwtError::Malformed)
    );
}

#[test]
fn garbage_and_oversized_tokens_are_refused() {
    let k = &keys().a;
    for bad in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJ.eyJ.abc",
        "a..c",
    ] {
        let r = check(bad);
        assert!(
            matches!(r, Err(JwtError::Malformed) | Err(JwtError::Algorithm)),
            "{bad:?}: {r:?}"
        );
    }
    // Padding and the standard alphabet are not base64url.
    let good = craft(&rs256_header(k), &claims(), Some(k));
    let padded = format!("{good}==");
    assert_eq!(check(&padded), Err(JwtError::Malformed));
    // Header that is JSON but not an object.
    let t = format!("{}.{}.AAAA", b64::encode(b"[1]"), b64::encode(b"{}"));
    assert_eq!(check(&t), Err(JwtError::Malformed));
    // Oversized: refused before decoding.
    let mut c = claims();
    c["pad"] = json!("x".repeat(9000));
    assert_eq!(
        check(&craft(&rs256_header(k), &c, Some(k))),
        Err(JwtError::TooLarge)
    );
    let huge_header = json!({"alg": "RS256", "pad": "y".repeat(3000)});
    let mut t = trust();
    t.max_token_bytes = 100_000;
    assert_eq!(
        verify(
            craft(&huge_header, &claims(), Some(k)).as_bytes(),
            &[(0, t.clone())],
            NOW
        ),
        Err(JwtError::TooLarge)
    );
}

#[test]
fn key_and_certificate_must_match() {
    let (ka, _) = cert::generate("x", 1).expect("gen");
    let err = SigningKey::from_der(&ka, keys().b.certificate().clone()).expect_err("mismatch");
    assert!(err.contains("does not belong"), "{err}");
    assert!(format!("{:?}", keys().a).contains("<redacted>"));
}

#[test]
fn pem_parsing_takes_bundles_and_refuses_keys_as_certs() {
    let bundle = format!(
        "{}{}",
        keys().a.certificate().to_pem(),
        keys().b.certificate().to_pem()
    );
    let certs = Certificate::from_pem_all(bundle.as_bytes()).expect("bundle");
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[1].x5t(), keys().b.certificate().x5t());
    assert!(Certificate::from_pem_all(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    .is_err());
    assert!(Certificate::from_pem_all(b"nothing here").is_err());
    assert!(cert::private_key_der_from_pem(bundle.as_bytes()).is_err());
}

#[tokio::test]
async fn assertions_are_signed_once_and_refreshed_before_expiry() {
    let cache = std::sync::Arc::new(assertion::AssertionCache::new(100));
    let spec = assertion::AssertionSpec {
        tenant: "acme",
        x5t: keys().a.certificate().x5t(),
        issuer: "erpgate",
        audience: None,
        user: "AP.CLERK",
        lifetime: 1800,
    };
    let load = || SigningKey::from_der(&keys().a_pkcs8, keys().a.certificate().clone());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let cache = cache.clone();
        let spec_user = spec.user;
        tasks.push(tokio::spawn(async move {
            let spec = assertion::AssertionSpec {
                user: spec_user,
                ..spec_static()
            };
            cache.get(&spec, NOW, load).await.expect("assertion")
        }));
    }
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.expect("task"));
    }
    assert_eq!(cache.signings(), 1, "16 concurrent requests, one signing");
    assert!(values.iter().all(|v| *v == values[0]));
    assert!(values[0].is_sensitive());
    // Still fresh at 4/5 of the lifetime minus a second; refreshed after.
    let again = cache.get(&spec, NOW + 1439, load).await.expect("hit");
    assert_eq!(again, values[0]);
    assert_eq!(cache.signings(), 1);
    let renewed = cache.get(&spec, NOW + 1440, load).await.expect("refresh");
    assert_ne!(renewed, values[0]);
    assert_eq!(cache.signings(), 2);
    // Another user is another entry.
    let other = assertion::AssertionSpec {
        user: "JANE.DOE",
        ..spec
    };
    cache.get(&other, NOW, load).await.expect("other");
    assert_eq!(cache.signings(), 3);
    // The assertion verifies with the tenant certificate and names the user.
    let text = renewed.to_str().expect("ascii");
    let token = text.strip_prefix("Bearer ").expect("bearer");
    let t = InboundTrust {
        issuers: vec!["erpgate".into()],
        ..trust()
    };
    let id = verify(token.as_bytes(), &[(0, t.clone())], NOW + 1440).expect("verifies");
    assert_eq!(id.user, "AP.CLERK");
    assert_eq!(id.exp, NOW + 1440 + 1800);
}

fn spec_static() -> assertion::AssertionSpec<'static> {
    assertion::AssertionSpec {
        tenant: "acme",
        x5t: keys().a.certificate().x5t(),
        issuer: "erpgate",
        audience: None,
        user: "AP.CLERK",
        lifetime: 1800,
    }
}

#[test]
fn the_assertion_cache_is_bounded() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let cache = assertion::AssertionCache::new(8);
    let load = || SigningKey::from_der(&keys().a_pkcs8, keys().a.certificate().clone());
    for i in 0..20 {
        let user = format!("U{i}");
        let spec = assertion::AssertionSpec {
            user: &user,
            ..spec_static()
        };
        rt.block_on(cache.get(&spec, NOW, load)).expect("sign");
        assert!(cache.len() <= 8);
    }
}
