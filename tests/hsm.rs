//! Tenant signing keys in an HSM, with SoftHSM2 from the distribution: a key generated in the
//! token or imported into it (non-extractable, sensitive), only a reference and the
//! certificate in the database, the relay's assertions signed there and verified by the
//! simulated Oracle with the certificate, one signature per user per refresh under load, an
//! unreachable token or a reference naming another library a 502
//! `upstream.signing_unavailable` (never a fallback), and `check` telling which.
//!
//! Needs `softhsm2` (`apt-get install softhsm2`; `.ci/run` installs it and sets
//! `ERPGATE_REQUIRE_SOFTHSM=1`, so in CI its absence fails instead of skipping).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use erpgate::crypto::pkcs11::{self, KeyRef};
use erpgate::crypto::SecretString;
use erpgate::jwt::{b64, cert, Certificate};
use serde_json::Value;
use support::{Gateway, Options};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "erpgate-user-pin-5c1d9e";
const ISSUER: &str = "erpgate-hsm-test";
const V: &str = "/fscmRestApi/resources/latest";

/// One SoftHSM2 configuration per test binary (its token directory in a temp dir), set in
/// this process's environment so the gateway and every CLI call inherit it. `None`: SoftHSM2
/// is not installed and not required.
fn softhsm() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let present = std::path::Path::new(MODULE).exists()
            && Command::new("softhsm2-util")
                .arg("--version")
                .output()
                .is_ok();
        if !present {
            assert!(
                std::env::var_os("ERPGATE_REQUIRE_SOFTHSM").is_none(),
                "ERPGATE_REQUIRE_SOFTHSM is set but SoftHSM2 is missing ({MODULE}, softhsm2-util)"
            );
            eprintln!("SKIPPED: SoftHSM2 is not installed (apt-get install softhsm2)");
            return None;
        }
        let dir = tempfile::tempdir().expect("dir").keep();
        std::fs::create_dir(dir.join("tokens")).expect("tokens");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .expect("conf");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::fs::write(dir.join("pin"), format!("{PIN}\n")).expect("pin");
        Some(dir)
    })
    .as_ref()
}

/// A fresh token labelled `label`.
fn init_token(label: &str) {
    let out = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ])
        .output()
        .expect("softhsm2-util");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pin() -> SecretString {
    SecretString::new(PIN.to_string())
}

/// The gateway with tenant `initech` in `jwt` mode, its key's token reached through
/// SoftHSM2's module with the PIN from a file.
fn start(dir: &std::path::Path) -> Gateway {
    let extra = format!(
        r#"
[tenants.initech]
upstream = "{{sim}}"
[tenants.initech.upstream_auth]
mode = "jwt"
issuer = "{ISSUER}"
lifetime_seconds = 300
[tenants.initech.pkcs11]
module = "{MODULE}"
pin_file = "{pin}"

[[policy]]
name = "initech-reads"
subjects = ["account:initech-a", "account:initech-b", "account:initech-c"]
  [[policy.rule]]
  endpoints = ["invoices.*"]
  methods = ["GET"]
"#,
        pin = dir.join("pin").display()
    );
    let gw = Gateway::start(Options {
        extra_config: extra,
        sim_jwt_issuers: vec![ISSUER.into()],
        gateway_extra: format!("metrics_listen = \"127.0.0.1:{}\"", support::free_port()),
        ..Options::default()
    });
    for (account, user) in [
        ("initech-a", "AP.CLERK"),
        ("initech-b", "AP.MANAGER"),
        ("initech-c", "AP.AUDITOR"),
    ] {
        gw.ok(&[
            "account",
            "create",
            "--name",
            account,
            "--tenant",
            "initech",
            "--oracle-user",
            user,
        ]);
    }
    gw
}

/// The certificate a `tenant gen-key|import-key` printed.
fn printed_cert(out: &str) -> Certificate {
    Certificate::from_pem_all(out.as_bytes())
        .expect("pem")
        .into_iter()
        .next()
        .expect("a certificate")
}

fn metrics(gw: &Gateway) -> String {
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let addr = text
        .lines()
        .find_map(|l| l.strip_prefix("metrics_listen = \""))
        .and_then(|r| r.strip_suffix('"'))
        .expect("metrics_listen");
    support::http::raw(
        addr.parse().expect("addr"),
        &support::request("GET", "/metrics", &[], None),
    )
    .expect("scrape")
    .text()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

/// The claims and signature check of the assertion the simulator received last.
fn last_assertion(gw: &Gateway, cert: &Certificate) -> Value {
    let last = gw.sim.requests().pop().expect("a request reached Oracle");
    let auth = last
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .expect("Authorization");
    let token = auth.strip_prefix("Bearer ").expect("bearer");
    let (input, sig) = token.rsplit_once('.').expect("jws");
    assert!(
        cert.verify_rs256(input.as_bytes(), &b64::decode(sig.as_bytes()).expect("sig")),
        "the assertion verifies with the tenant certificate"
    );
    let payload = input.split('.').nth(1).expect("payload");
    serde_json::from_slice(&b64::decode(payload.as_bytes()).expect("b64")).expect("json")
}

#[test]
fn a_key_generated_in_the_token_signs_the_relays_assertions_and_never_leaves_it() {
    let Some(dir) = softhsm() else { return };
    init_token("gen-token");
    let gw = start(dir);
    let out = gw.ok(&[
        "tenant",
        "gen-key",
        "--tenant",
        "initech",
        "--pkcs11",
        "--token-label",
        "gen-token",
        "--key-label",
        "initech-2026",
    ]);
    assert!(out.contains("generated in the PKCS#11 token"), "{out}");
    let cert = printed_cert(&out);
    let r = KeyRef {
        module: MODULE.into(),
        token: "gen-token".into(),
        label: "initech-2026".into(),
    };
    // The token holds it sensitive and non-extractable, and it is the certificate's key.
    let facts = pkcs11::describe(&r, &pin()).expect("describe");
    assert!(!facts.extractable && facts.sensitive, "{facts:?}");
    assert_eq!(
        pkcs11::rsa_public_der(&facts.modulus, &facts.exponent).expect("der"),
        cert.public_key_der()
    );
    // The database holds the reference and the certificate only.
    let row = erpgate::store::Store::open(&gw.db_path())
        .expect("db")
        .get_tenant_key("initech")
        .expect("read")
        .expect("row");
    assert!(row.key_ciphertext.is_empty());
    assert_eq!(
        KeyRef::from_text(row.key_ref.as_deref().expect("ref")),
        Ok(r.clone())
    );
    let show = gw.ok(&["tenant", "show-key", "--tenant", "initech"]);
    assert!(show.contains("in a PKCS#11 token"), "{show}");
    let check = gw.ok(&["check"]);
    assert!(
        check.contains("signing key reachable in the PKCS#11 token"),
        "{check}"
    );

    // The relay signs through the token; Oracle verifies with the certificate.
    gw.sim_trust.write().expect("trust").push(cert.clone());
    std::thread::sleep(Duration::from_millis(350));
    let a = gw.issue("initech-a");
    let resp = gw.get_as(&a, &format!("{V}/invoices"));
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), gw.log_text());
    let claims = last_assertion(&gw, &cert);
    assert_eq!(claims["prn"], "AP.CLERK");
    assert_eq!(claims["iss"], ISSUER);

    // Under load: every request for one user within the assertion's life, one signature.
    let b = gw.issue("initech-b");
    let before = metric(&metrics(&gw), "erpgate_jwt_assertions_signed_total");
    let auth = b.basic();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..4 {
                    let r = gw.get(&format!("{V}/invoices"), &[("Authorization", &auth)]);
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            });
        }
    });
    let after = metric(&metrics(&gw), "erpgate_jwt_assertions_signed_total");
    assert_eq!(
        after - before,
        1,
        "64 requests for one user, one signature in the token"
    );

    // No PIN anywhere but its file.
    let db = std::fs::read(gw.db_path()).expect("db");
    let trail = gw.ok(&["audit", "query", "--json", "--limit", "100000"]);
    assert!(!db.windows(PIN.len()).any(|w| w == PIN.as_bytes()));
    assert!(!gw.log_text().contains(PIN) && !trail.contains(PIN));
    assert!(
        trail.contains("\"pkcs11\""),
        "the gen_key record names the token"
    );
}

#[test]
fn an_imported_key_goes_into_the_token_and_a_broken_reference_never_falls_back() {
    let Some(dir) = softhsm() else { return };
    init_token("imp-token");
    let gw = start(dir);
    // A software key already in the database, then the imported one replaces it.
    gw.ok(&["tenant", "gen-key", "--tenant", "initech"]);
    let (key_der, c) = cert::generate(ISSUER, 30).expect("key");
    let key_file = gw.dir.path().join("k.pem");
    let cert_file = gw.dir.path().join("c.pem");
    std::fs::write(&key_file, support::page::pem("PRIVATE KEY", &key_der)).expect("key");
    std::fs::write(&cert_file, c.to_pem()).expect("cert");
    let import = |label: &str, force: bool| {
        let mut args = vec![
            "tenant",
            "import-key",
            "--tenant",
            "initech",
            "--key",
            key_file.to_str().expect("p"),
            "--cert",
            cert_file.to_str().expect("p"),
            "--pkcs11",
            "--token-label",
            "imp-token",
            "--key-label",
            label,
        ];
        if force {
            args.push("--force");
        }
        gw.cli(&args)
    };
    let refused = import("initech-imported", false);
    assert!(
        !refused.status.success(),
        "a key is there: --force is needed"
    );
    let out = import("initech-imported", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = KeyRef {
        module: MODULE.into(),
        token: "imp-token".into(),
        label: "initech-imported".into(),
    };
    let facts = pkcs11::describe(&r, &pin()).expect("describe");
    assert!(!facts.extractable && facts.sensitive, "{facts:?}");
    // The same label again is refused (never two keys under one label).
    assert!(!import("initech-imported", true).status.success());

    // Nothing of the key in the database or the log: not the DER, not its private exponent.
    let db = std::fs::read(gw.db_path()).expect("db");
    let der_probe = &key_der[key_der.len() - 64..];
    assert!(!db.windows(der_probe.len()).any(|w| w == der_probe));
    let b64_probe = {
        use base64::Engine as _;
        let all = base64::engine::general_purpose::STANDARD.encode(&key_der[..]);
        all[all.len() - 60..all.len() - 4].to_string()
    };
    assert!(!String::from_utf8_lossy(&db).contains(&b64_probe));
    assert!(!gw.log_text().contains(&b64_probe));

    gw.sim_trust.write().expect("trust").push(c.clone());
    std::thread::sleep(Duration::from_millis(350));
    let a = gw.issue("initech-a");
    let resp = gw.get_as(&a, &format!("{V}/invoices"));
    assert_eq!(resp.status, 200, "{}\n{}", resp.text(), gw.log_text());
    assert_eq!(last_assertion(&gw, &c)["prn"], "AP.CLERK");

    // The token gone from the reference's view (another token label): 502, no fallback to
    // the software key the database held before, nothing sent to Oracle.
    let store = erpgate::store::Store::open(&gw.db_path()).expect("db");
    let broken = KeyRef {
        token: "no-such-token".into(),
        ..r.clone()
    };
    store
        .put_tenant_key_ref("initech", &broken.to_text(), c.der(), c.x5t())
        .expect("edit");
    let b = gw.issue("initech-b");
    gw.sim.clear_requests();
    let resp = gw.get_as(&b, &format!("{V}/invoices"));
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert_eq!(resp.error_code(), "upstream.signing_unavailable");
    assert!(gw.sim.requests().is_empty(), "nothing reached Oracle");
    let check = gw.cli(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        said.contains("no token labelled \"no-such-token\""),
        "{said}"
    );

    // A reference naming another library is refused, never loaded.
    let evil = KeyRef {
        module: "/tmp/not-the-configured-module.so".into(),
        ..r.clone()
    };
    store
        .put_tenant_key_ref("initech", &evil.to_text(), c.der(), c.x5t())
        .expect("edit");
    let cc = gw.issue("initech-c");
    let resp = gw.get_as(&cc, &format!("{V}/invoices"));
    assert_eq!(resp.status, 502, "{}", resp.text());
    assert_eq!(resp.error_code(), "upstream.signing_unavailable");
    assert!(gw
        .log_text()
        .contains("a database row never chooses the library"));
    let said = String::from_utf8_lossy(&gw.cli(&["check"]).stderr).to_string();
    assert!(said.contains("never chooses the library"), "{said}");
    assert!(!gw.log_text().contains(PIN));
}
