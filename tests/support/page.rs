//! Oracle users in the browser, for the tests: tenant `initech` (assertions signed with its
//! key, Fusion's user tokens trusted, Page Integration at `/launch/initech`), tenant
//! `umbrella` (another Fusion, another launch path), the simulated Fusion's Secure
//! Destination pointed at the gateway, and the keys all of it is signed with.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use erpgate::jwt::{cert, Certificate, SigningKey};
use erpgate::sim::launcher::PageLauncher;

use super::{Gateway, Options};

pub const FUSION: &str = "https://initech.fa.oraclecloud.example";
pub const OTHER_FUSION: &str = "https://umbrella.fa.oraclecloud.example";
pub const AUD: &str = "https://erpgate.initech.example";
pub const ISSUER: &str = "erpgate-initech";
pub const LAUNCH: &str = "/launch/initech";
pub const OTHER_LAUNCH: &str = "/launch/umbrella";
pub const USER: &str = "casey.brown";

/// Keys made once per test binary.
pub struct Keys {
    pub fusion: Arc<SigningKey>,
    pub fusion_pem: String,
    pub other_fusion: Arc<SigningKey>,
    pub other_fusion_pem: String,
    pub tenant_key_pem: String,
    pub tenant_key_der: Vec<u8>,
    pub tenant_cert: Certificate,
    pub attacker: Arc<SigningKey>,
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let (fk, fc) = cert::generate("fusion-initech", 30).expect("fusion key");
        let (ok, oc) = cert::generate("fusion-umbrella", 30).expect("other fusion key");
        let (tk, tc) = cert::generate(ISSUER, 30).expect("tenant key");
        let (ak, ac) = cert::generate("attacker", 30).expect("attacker key");
        Keys {
            fusion_pem: fc.to_pem(),
            fusion: Arc::new(SigningKey::from_der(&fk, fc).expect("fusion")),
            other_fusion_pem: oc.to_pem(),
            other_fusion: Arc::new(SigningKey::from_der(&ok, oc).expect("other")),
            tenant_key_pem: pem("PRIVATE KEY", &tk),
            tenant_key_der: tk.to_vec(),
            tenant_cert: tc,
            attacker: Arc::new(SigningKey::from_der(&ak, ac).expect("attacker")),
        }
    })
}

/// A Secure Destination of the simulated Fusion signing with `key` as `issuer`.
pub fn destination(gw_origin: &str, key: &Arc<SigningKey>, issuer: &str) -> PageLauncher {
    PageLauncher {
        key: key.clone(),
        issuer: issuer.into(),
        audience: AUD.into(),
        destination: format!("{gw_origin}{LAUNCH}"),
        parameter: "jwt".into(),
        lifetime: 600,
        roles: vec!["AP_CLERK".into()],
    }
}

/// A launch token signed as `l` says, for `user`.
pub fn token(l: &PageLauncher, user: &str) -> String {
    erpgate::sim::launcher::user_token(l, user).expect("token")
}

/// The gateway with tenants `initech` and `umbrella` (`extra_gateway`: more `[gateway]`
/// keys); the simulated Fusion's destination is the gateway's `/launch/initech` on
/// `127.0.0.1`.
pub fn start(extra_gateway: &str) -> Gateway {
    start_with(extra_gateway, "", "")
}

/// [`start`], with more keys for `[tenants.initech]` (`tenant_extra`) and its
/// `page_integration` (`page_extra`).
pub fn start_with(extra_gateway: &str, tenant_extra: &str, page_extra: &str) -> Gateway {
    start_on(
        Options {
            gateway_extra: extra_gateway.to_string(),
            ..Options::default()
        },
        tenant_extra,
        page_extra,
    )
}

/// [`start_with`] on `base`'s store and `[gateway]` keys.
pub fn start_on(base: Options, tenant_extra: &str, page_extra: &str) -> Gateway {
    let dir = tempfile::tempdir().expect("tempdir");
    let fusion_pem = dir.path().join("fusion.pem");
    let other_pem = dir.path().join("umbrella-fusion.pem");
    std::fs::write(&fusion_pem, &keys().fusion_pem).expect("pem");
    std::fs::write(&other_pem, &keys().other_fusion_pem).expect("pem");
    let extra = format!(
        r#"
[tenants.initech]
upstream = "{{sim}}"
{tenant_extra}
[tenants.initech.upstream_auth]
mode = "jwt"
issuer = "{ISSUER}"
lifetime_seconds = 300
[tenants.initech.inbound_jwt]
issuers = ["{FUSION}"]
certificates = ["{fusion}"]
audience = "{AUD}"
roles_claim = "roles"
max_token_bytes = 4096
[tenants.initech.page_integration]
launch_path = "{LAUNCH}"
token_parameter = "jwt"
origin = "{{gateway}}"
session_max_minutes = 20
{page_extra}
[[tenants.initech.redact]]
path = "**.TaxRegistrationNumber"
action = "mask"

[tenants.umbrella]
upstream = "{{sim}}"
[tenants.umbrella.upstream_auth]
mode = "jwt"
issuer = "erpgate-umbrella"
[tenants.umbrella.inbound_jwt]
issuers = ["{OTHER_FUSION}"]
certificates = ["{other}"]
audience = "{AUD}"
[tenants.umbrella.page_integration]
launch_path = "{OTHER_LAUNCH}"
origin = "{{gateway}}"

[[policy]]
name = "casey-reads"
subjects = ["user:{USER}"]
  [[policy.rule]]
  endpoints = ["invoices.*", "suppliers.*"]
  methods = ["GET", "POST"]
"#,
        fusion = fusion_pem.display(),
        other = other_pem.display(),
    );
    let gw = Gateway::start(Options {
        extra_config: extra,
        sim_jwt_issuers: vec![ISSUER.into()],
        ..base
    });
    let key_file = gw.dir.path().join("tenant-key.pem");
    let cert_file = gw.dir.path().join("tenant-cert.pem");
    std::fs::write(&key_file, &keys().tenant_key_pem).expect("key");
    std::fs::write(&cert_file, keys().tenant_cert.to_pem()).expect("cert");
    gw.ok(&[
        "tenant",
        "import-key",
        "--tenant",
        "initech",
        "--key",
        key_file.to_str().expect("path"),
        "--cert",
        cert_file.to_str().expect("path"),
    ]);
    std::fs::remove_file(&key_file).expect("rm key");
    gw.sim_trust
        .write()
        .expect("trust")
        .push(keys().tenant_cert.clone());
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    *gw.sim_launcher.write().expect("launcher") =
        Some(destination(&origin, &keys().fusion, FUSION));
    std::thread::sleep(Duration::from_millis(350));
    std::mem::forget(dir); // the trusted certificate files must outlive the gateway
    gw
}

/// The value of the browser session cookie a launch answer sets.
pub fn session_cookie(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("__Host-erpgate-oracle="))
        .expect("the session cookie")
        .to_string()
}
