//! Oracle identity both ways, through the real binary and the simulated Oracle: outbound
//! tenant-signed assertions (accounts in `jwt` mode), inbound Oracle user tokens verified
//! against trusted certificates and relayed as a fresh assertion for the same user, the
//! attacks a JWT verifier must survive, and the `tenant` key commands.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use erpgate::jwt::{b64, cert, Certificate, SigningKey};
use serde_json::{json, Value};
use support::page::pem;
use support::{Gateway, Options};

const V: &str = "/fscmRestApi/resources/11.13.18.05";
const ISSUER: &str = "erpgate-test";
const FUSION: &str = "https://initech.fa.oraclecloud.com";
/// The audience Fusion puts in tokens for the gateway's secure destination.
const AUD: &str = "https://erpgate.initech.example";

/// Keys made once per test binary: the Fusion key that signs inbound user tokens, the
/// tenant key the gateway signs assertions with, and an unrelated attacker key.
struct Keys {
    fusion: SigningKey,
    fusion_pem: String,
    tenant_key_pem: String,
    tenant_cert: Certificate,
    attacker: SigningKey,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (fk, fc) = cert::generate("fusion-initech", 30).expect("fusion key");
        let (tk, tc) = cert::generate(ISSUER, 30).expect("tenant key");
        let (ak, ac) = cert::generate("attacker", 30).expect("attacker key");
        Keys {
            fusion_pem: fc.to_pem(),
            fusion: SigningKey::from_der(&fk, fc).expect("fusion"),
            tenant_key_pem: pem("PRIVATE KEY", &tk),
            tenant_cert: tc,
            attacker: SigningKey::from_der(&ak, ac).expect("attacker"),
        }
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An Oracle user token as Fusion would issue it.
fn user_token(user: &str, roles: &[&str]) -> String {
    let claims = json!({"iss": FUSION, "prn": user, "sub": user, "iat": now() - 5,
                        "exp": now() + 600, "roles": roles, "aud": AUD});
    craft(
        &json!({"alg": "RS256", "typ": "JWT", "x5t": keys().fusion.certificate().x5t()}),
        &claims,
        Some(&keys().fusion),
    )
}

fn craft(header: &Value, claims: &Value, key: Option<&SigningKey>) -> String {
    let mut t = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = key.map(|k| k.sign_rs256(t.as_bytes()).expect("sign"));
    t.push('.');
    if let Some(sig) = sig {
        t.push_str(&b64::encode(&sig));
    }
    t
}

/// Tenant `initech`: assertions signed with its key, Oracle user tokens from Fusion trusted.
fn start() -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let fusion_pem = dir.path().join("fusion-2026.pem");
    std::fs::write(&fusion_pem, &keys().fusion_pem).expect("write pem");
    let extra = format!(
        r#"
[tenants.initech]
upstream = "{{sim}}"
[tenants.initech.upstream_auth]
mode = "jwt"
issuer = "{ISSUER}"
lifetime_seconds = 120
[tenants.initech.inbound_jwt]
issuers = ["{FUSION}"]
certificates = ["{pem}"]
audience = "{AUD}"
roles_claim = "roles"

[[policy]]
name = "initech-integration"
subjects = ["account:initech-app"]
  [[policy.rule]]
  endpoints = ["invoices.*", "sim.*"]
  methods = ["GET"]

[[policy]]
name = "jane-invoices"
subjects = ["user:JANE.DOE"]
  [[policy.rule]]
  endpoints = ["invoices.*"]
  methods = ["GET"]

[[policy]]
name = "supplier-viewers"
subjects = ["role:SUPPLIER_VIEWER"]
  [[policy.rule]]
  endpoints = ["suppliers.*"]
  methods = ["GET"]
"#,
        pem = fusion_pem.display()
    );
    let gw = Gateway::start(Options {
        extra_config: extra,
        sim_jwt_issuers: vec![ISSUER.into()],
        gateway_extra: format!("metrics_listen = \"127.0.0.1:{}\"", support::free_port()),
        ..Options::default()
    });
    gw.ok(&[
        "account",
        "create",
        "--name",
        "initech-app",
        "--tenant",
        "initech",
        "--oracle-user",
        "AP.CLERK",
    ]);
    let key_file = gw.dir.path().join("tenant-key.pem");
    let cert_file = gw.dir.path().join("tenant-cert.pem");
    std::fs::write(&key_file, &keys().tenant_key_pem).expect("key");
    std::fs::write(&cert_file, keys().tenant_cert.to_pem()).expect("cert");
    let out = gw.ok(&[
        "tenant",
        "import-key",
        "--tenant",
        "initech",
        "--key",
        key_file.to_str().expect("path"),
        "--cert",
        cert_file.to_str().expect("path"),
    ]);
    assert!(out.contains(keys().tenant_cert.x5t()), "{out}");
    assert!(out.contains(&format!("issuer name:   {ISSUER}")), "{out}");
    assert!(!out.contains("PRIVATE KEY"), "the key is never printed");
    std::fs::remove_file(&key_file).expect("rm key");
    gw.sim_trust
        .write()
        .expect("trust")
        .push(keys().tenant_cert.clone());
    // The running gateway picks the key up on its next store poll (100 ms here).
    std::thread::sleep(Duration::from_millis(350));
    std::mem::forget(dir); // the trusted certificate file must outlive the gateway
    gw
}

/// The gateway's metrics exposition (its `metrics_listen` is in the config).
fn metrics_of(gw: &Gateway) -> String {
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let addr = text
        .lines()
        .find_map(|l| l.strip_prefix("metrics_listen = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("metrics_listen");
    let r = support::http::raw(
        addr.parse().expect("addr"),
        &support::request("GET", "/metrics", &[], None),
    )
    .expect("scrape");
    r.text()
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// The claims of the assertion the simulator received last.
fn last_upstream_assertion(gw: &Gateway) -> (String, Value, Value) {
    let reqs = gw.sim.requests();
    let last = reqs.last().expect("a request reached the simulator");
    let auth = last
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .expect("upstream Authorization");
    let token = auth
        .strip_prefix("Bearer ")
        .expect("bearer upstream")
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value =
        serde_json::from_slice(&b64::decode(parts[0].as_bytes()).expect("b64")).expect("json");
    let claims: Value =
        serde_json::from_slice(&b64::decode(parts[1].as_bytes()).expect("b64")).expect("json");
    (token, header, claims)
}

#[test]
fn accounts_in_jwt_mode_reach_oracle_as_their_oracle_user_with_a_cached_assertion() {
    let gw = start();
    let cred = gw.issue("initech-app");
    let r = gw.get_as(&cred, &format!("{V}/invoices"));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), gw.log_text());
    assert!(r.json()["items"].is_array());
    let reqs = gw.sim.requests();
    assert_eq!(
        reqs.last()
            .and_then(|q| q.authenticated_as.clone())
            .as_deref(),
        Some("AP.CLERK")
    );
    let (token, header, claims) = last_upstream_assertion(&gw);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5t"], keys().tenant_cert.x5t());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["prn"], "AP.CLERK");
    assert_eq!(claims["sub"], "AP.CLERK");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() > 8));

    // The next requests reuse the same assertion: no signing per request.
    for _ in 0..5 {
        assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
        assert_eq!(last_upstream_assertion(&gw).0, token);
    }
    let metrics = metrics_of(&gw);
    assert!(
        metrics.contains("erpgate_jwt_assertions_signed_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("erpgate_jwt_assertion_cache_hits_total 5\n"),
        "{metrics}"
    );

    // The audit record names the asserted user and never holds the assertion.
    gw.eventually("a record naming the asserted user", || {
        gw.audit(&["--actor", "initech-app"])
            .iter()
            .any(|r| r["upstream_identity"] == "AP.CLERK")
    });
    std::thread::sleep(Duration::from_millis(200));
    let sig = token.rsplit('.').next().expect("sig");
    for path in [gw.db_path(), gw.db_path().with_extension("db-wal")] {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(sig.len()).any(|w| w == sig.as_bytes()),
            "assertion in {path:?}"
        );
    }
    assert!(!gw.log_text().contains(sig));
}

#[test]
fn the_simulated_oracle_refuses_expired_and_wrongly_signed_assertions() {
    let gw = start();
    let url = format!("{V}/invoices");
    let send = |token: &str| {
        support::http::raw(
            gw.sim
                .base_url()
                .trim_start_matches("http://")
                .parse()
                .expect("sim addr"),
            &support::request("GET", &url, &[("Authorization", &bearer(token))], None),
        )
        .expect("sim answers")
        .status
    };
    let t = &keys().tenant_cert;
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": t.x5t()});
    let good = json!({"iss": ISSUER, "prn": "AP.CLERK", "sub": "AP.CLERK", "iat": now(), "exp": now() + 60});
    // A correct one for contrast: signed with the tenant key (via the gateway's own path).
    let cred = gw.issue("initech-app");
    assert_eq!(gw.get_as(&cred, &url).status, 200);
    let (valid, _, _) = last_upstream_assertion(&gw);
    assert_eq!(
        send(&valid),
        200,
        "the gateway's assertion is accepted by the sim directly"
    );
    // Expired.
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 1);
    let der = cert::private_key_der_from_pem(keys().tenant_key_pem.as_bytes()).expect("der");
    let tenant_key = SigningKey::from_der(&der, t.clone()).expect("tenant key");
    assert_eq!(send(&craft(&header, &expired, Some(&tenant_key))), 401);
    assert_eq!(send(&craft(&header, &good, Some(&tenant_key))), 200);
    // Signed by another key but claiming the tenant's thumbprint.
    assert_eq!(send(&craft(&header, &good, Some(&keys().attacker))), 401);
    // Wrong issuer, missing x5t.
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("someone-else");
    assert_eq!(send(&craft(&header, &wrong_iss, Some(&tenant_key))), 401);
    assert_eq!(
        send(&craft(&json!({"alg": "RS256"}), &good, Some(&tenant_key))),
        401
    );
}

#[test]
fn oracle_users_are_relayed_as_themselves_with_a_fresh_assertion() {
    let gw = start();
    let jane = user_token("JANE.DOE", &[]);
    let r = gw.get(
        &format!("{V}/invoices"),
        &[("Authorization", &bearer(&jane))],
    );
    assert_eq!(r.status, 200, "{}\n{}", r.text(), gw.log_text());
    let (upstream, header, claims) = last_upstream_assertion(&gw);
    assert_ne!(upstream, jane, "the inbound token is never forwarded");
    assert_eq!(header["x5t"], keys().tenant_cert.x5t());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["prn"], "JANE.DOE");
    assert_eq!(
        gw.sim
            .requests()
            .last()
            .and_then(|q| q.authenticated_as.clone())
            .as_deref(),
        Some("JANE.DOE")
    );
    // JANE's grant is invoices only; a role claim grants suppliers to another user.
    let r = gw.get(
        &format!("{V}/suppliers"),
        &[("Authorization", &bearer(&jane))],
    );
    assert_eq!((r.status, r.error_code().as_str()), (403, "policy.denied"));
    let viewer = user_token("SAM.VIEWER", &["SUPPLIER_VIEWER"]);
    let r = gw.get(
        &format!("{V}/suppliers"),
        &[("Authorization", &bearer(&viewer))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        last_upstream_assertion(&gw).2["prn"],
        "SAM.VIEWER",
        "never elevated to another user"
    );
    let r = gw.get(
        &format!("{V}/invoices"),
        &[("Authorization", &bearer(&viewer))],
    );
    assert_eq!(r.status, 403);
    // The audit trail names the user.
    gw.eventually("JANE's relayed record", || {
        gw.audit(&["--actor", "user:JANE.DOE"])
            .iter()
            .any(|r| r["decision"] == "relayed" && r["upstream_identity"] == "JANE.DOE")
    });
    // The inbound token never lands anywhere.
    std::thread::sleep(Duration::from_millis(200));
    let sig = jane.rsplit('.').next().expect("sig");
    let db = std::fs::read(gw.db_path()).unwrap_or_default();
    let wal = std::fs::read(gw.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [db, wal, gw.log_text().into_bytes()] {
        assert!(!bytes.windows(sig.len()).any(|w| w == sig.as_bytes()));
    }
}

#[test]
fn jwt_attacks_are_refused_with_401_and_the_gateway_keeps_serving() {
    let gw = start();
    let url = format!("{V}/invoices");
    let f = &keys().fusion;
    let good_claims =
        json!({"iss": FUSION, "prn": "JANE.DOE", "iat": now() - 5, "exp": now() + 600, "aud": AUD});
    let rs = json!({"alg": "RS256", "x5t": f.certificate().x5t()});
    let with = |k: &str, v: Value| {
        let mut c = good_claims.clone();
        c[k] = v;
        c
    };
    // A local server a `jku`/`x5u` points at: it must never be contacted.
    let trap = TcpListener::bind("127.0.0.1:0").expect("trap");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://{}/keys", trap.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));

    let hs256 = |secret: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &good_claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .expect("hs256")
    };
    let mut no_exp = good_claims.clone();
    no_exp.as_object_mut().expect("obj").remove("exp");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            craft(&json!({"alg": "none"}), &good_claims, None),
            "jwt_algorithm",
        ),
        (
            "alg NoNe signed",
            craft(&json!({"alg": "NoNe"}), &good_claims, Some(f)),
            "jwt_algorithm",
        ),
        (
            "stripped signature",
            craft(&rs, &good_claims, None),
            "jwt_algorithm",
        ),
        (
            "HS256 with the public cert PEM",
            hs256(keys().fusion_pem.as_bytes()),
            "jwt_algorithm",
        ),
        (
            "HS256 with the cert DER",
            hs256(f.certificate().der()),
            "jwt_algorithm",
        ),
        (
            "wrong issuer",
            craft(&rs, &with("iss", json!("https://evil.example")), Some(f)),
            "jwt_issuer",
        ),
        (
            "issued by Fusion for another destination",
            craft(
                &rs,
                &with("aud", json!("https://other-app.initech.example")),
                Some(f),
            ),
            "jwt_audience",
        ),
        (
            "no audience at all",
            craft(&rs, &with("aud", json!([])), Some(f)),
            "jwt_audience",
        ),
        (
            "not yet valid",
            craft(&rs, &with("nbf", json!(now() + 3600)), Some(f)),
            "jwt_not_yet_valid",
        ),
        (
            "future iat",
            craft(&rs, &with("iat", json!(now() + 3600)), Some(f)),
            "jwt_issued_in_future",
        ),
        (
            "missing exp",
            craft(&rs, &no_exp, Some(f)),
            "jwt_missing_claim",
        ),
        (
            "another key",
            craft(
                &json!({"alg": "RS256"}),
                &good_claims,
                Some(&keys().attacker),
            ),
            "jwt_signature",
        ),
        (
            "attacker x5t",
            craft(
                &json!({"alg": "RS256", "x5t": keys().attacker.certificate().x5t()}),
                &good_claims,
                Some(&keys().attacker),
            ),
            "jwt_unknown_key",
        ),
        (
            "kid traversal",
            craft(
                &json!({"alg": "RS256", "kid": "../../../../etc/passwd"}),
                &good_claims,
                Some(f),
            ),
            "jwt_unknown_key",
        ),
        (
            "kid sql",
            craft(
                &json!({"alg": "RS256", "kid": "x' UNION SELECT key FROM tenant_keys --"}),
                &good_claims,
                Some(f),
            ),
            "jwt_unknown_key",
        ),
        (
            "jku to a local server",
            craft(
                &json!({"alg": "RS256", "jku": trap_url}),
                &good_claims,
                Some(f),
            ),
            "jwt_forbidden_header",
        ),
        (
            "x5u to a local server",
            craft(
                &json!({"alg": "RS256", "x5u": trap_url}),
                &good_claims,
                Some(f),
            ),
            "jwt_forbidden_header",
        ),
        ("garbage base64", "!!!.@@@.###".to_string(), "jwt_malformed"),
        (
            "garbage parts",
            "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AAAA".to_string(),
            "jwt_malformed",
        ),
        (
            "oversized",
            format!(
                "{}.{}.AAAA",
                b64::encode(br#"{"alg":"RS256"}"#),
                "A".repeat(9000)
            ),
            "credential_malformed",
        ),
    ];
    for (what, token, detail) in &cases {
        let r = gw.get(&url, &[("Authorization", &bearer(token))]);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.error_code(), "auth.invalid", "{what}");
        if trap.accept().is_ok() {
            hits.fetch_add(1, Ordering::SeqCst);
        }
        let rid = r.header("x-request-id").expect("rid").to_string();
        let mut recs = Vec::new();
        gw.eventually("the refusal's record", || {
            recs = gw.audit(&["--request-id", &rid]);
            !recs.is_empty()
        });
        assert_eq!(recs[0]["detail"], *detail, "{what}");
    }
    // Expired has its own code.
    let r = gw.get(
        &url,
        &[(
            "Authorization",
            &bearer(&craft(&rs, &with("exp", json!(now() - 3600)), Some(f))),
        )],
    );
    assert_eq!((r.status, r.error_code().as_str()), (401, "auth.expired"));
    std::thread::sleep(Duration::from_millis(200));
    let mut buf = [0u8; 1];
    if let Ok((mut s, _)) = trap.accept() {
        let _ = s.read(&mut buf);
        hits.fetch_add(1, Ordering::SeqCst);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a jku/x5u URL was fetched");
    // Still serving.
    let r = gw.get(
        &url,
        &[("Authorization", &bearer(&user_token("JANE.DOE", &[])))],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn tenant_gen_key_prints_the_registration_and_rotation_needs_force() {
    let gw = start();
    let out = gw.ok(&[
        "tenant",
        "gen-key",
        "--tenant",
        "globex",
        "--common-name",
        "erpgate-globex",
    ]);
    assert!(out.starts_with("-----BEGIN CERTIFICATE-----"), "{out}");
    assert!(!out.contains("PRIVATE KEY"));
    let certs = Certificate::from_pem_all(out.as_bytes()).expect("printed certificate parses");
    assert!(certs[0].subject().contains("erpgate-globex"));
    let show = gw.ok(&["tenant", "show-key", "--tenant", "globex"]);
    assert!(show.contains(certs[0].x5t()));
    assert!(show.contains("not in upstream_auth mode \"jwt\""), "{show}");
    let again = gw.cli(&["tenant", "gen-key", "--tenant", "globex"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    // Rotation of the jwt tenant: the gateway signs with the new key on its next request, and
    // Oracle (the simulator) accepts it once the new certificate is registered.
    let cred = gw.issue("initech-app");
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    let rotated = gw.ok(&["tenant", "gen-key", "--tenant", "initech", "--force"]);
    let new_cert = Certificate::from_pem_all(rotated.as_bytes())
        .expect("pem")
        .remove(0);
    assert_ne!(new_cert.x5t(), keys().tenant_cert.x5t());
    gw.sim_trust.write().expect("trust").push(new_cert.clone());
    gw.eventually("the gateway signs with the rotated key", || {
        gw.get_as(&cred, &format!("{V}/invoices")).status == 200
            && last_upstream_assertion(&gw).1["x5t"] == new_cert.x5t()
    });
    // Every key action is in the audit trail.
    let recs = gw.audit(&["--actor", &format!("cli:{}", whoami())]);
    let verbs: Vec<&str> = recs.iter().filter_map(|r| r["method"].as_str()).collect();
    assert!(
        verbs.contains(&"tenant.gen_key") && verbs.contains(&"tenant.import_key"),
        "{verbs:?}"
    );
    // Unknown tenant, bad files.
    assert!(!gw
        .cli(&["tenant", "show-key", "--tenant", "nope"])
        .status
        .success());
    let bad = gw.cli(&[
        "tenant",
        "import-key",
        "--tenant",
        "globex",
        "--key",
        "/nonexistent",
        "--cert",
        "/nonexistent",
    ]);
    assert!(!bad.status.success());
}

fn whoami() -> String {
    erpgate::cli::killswitch::whoami()
}

#[test]
fn inbound_tokens_without_an_audience_are_refused_by_check_unless_opted_out() {
    let gw = start();
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let line = format!("audience = \"{AUD}\"\n");
    assert!(text.contains(&line));
    let check = |body: &str| {
        let path = gw.dir.path().join("variant.toml");
        std::fs::write(&path, body).expect("write");
        gw.cli(&["check", "--config", path.to_str().expect("path")])
    };
    // Without an audience, a token Fusion issued for any other destination would pass.
    let out = check(&text.replace(&line, ""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tenants.initech.inbound_jwt.audience: required"),
        "{stderr}"
    );
    // The explicit opt-out is accepted, with a warning naming the setting.
    let out = check(&text.replace(&line, "audience_check = false\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("tenants.initech.inbound_jwt.audience_check = false"),
        "{stderr}"
    );
}
