//! Validation of the identity settings of a tenant: the outbound assertion (`upstream_auth`
//! mode `jwt`) and the inbound Oracle user tokens it trusts (`inbound_jwt`).

use std::collections::HashMap;
use std::path::Path;

use crate::config::model::InboundJwtFile;
use crate::jwt::inbound::{InboundTrust, TrustedCert};
use crate::jwt::Certificate;
use crate::snapshot::{Tenant, UpstreamAuth};

/// Default assertion lifetime (Oracle's own default token lifetime is similar).
pub const DEFAULT_LIFETIME: u64 = 1800;
/// Shortest and longest assertion lifetimes accepted.
const LIFETIME_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;
/// Default inbound clock skew.
const DEFAULT_SKEW: u64 = 60;
/// Default and hard maximum inbound token size.
const DEFAULT_MAX_TOKEN: usize = 8192;

fn text_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.chars().any(char::is_control)
}

/// `upstream_auth = { mode = "jwt", … }`.
pub fn upstream_jwt(
    file: &str,
    tenant: &str,
    issuer: &str,
    username: Option<&str>,
    audience: Option<&str>,
    lifetime: Option<u64>,
    p: &mut Vec<String>,
) -> UpstreamAuth {
    let key = format!("{file}: tenants.{tenant}.upstream_auth");
    if !text_ok(issuer) {
        p.push(format!("{key}.issuer: must be 1-256 characters without control characters (the trusted-issuer name registered in Oracle)"));
    }
    if let Some(u) = username.filter(|u| !text_ok(u)) {
        p.push(format!(
            "{key}.username: \"{u}\" must be 1-256 characters without control characters"
        ));
    }
    if let Some(a) = audience.filter(|a| !text_ok(a)) {
        p.push(format!(
            "{key}.audience: \"{a}\" must be 1-256 characters without control characters"
        ));
    }
    let lifetime = lifetime.unwrap_or(DEFAULT_LIFETIME);
    if !LIFETIME_RANGE.contains(&lifetime) {
        p.push(format!(
            "{key}.lifetime_seconds: {lifetime} is outside {}..={}",
            LIFETIME_RANGE.start(),
            LIFETIME_RANGE.end()
        ));
    }
    UpstreamAuth::Jwt {
        issuer: issuer.to_string(),
        username: username.map(str::to_string),
        audience: audience.map(str::to_string),
        lifetime: lifetime as i64,
    }
}

/// `[tenants.T.inbound_jwt]`: reads and checks every certificate file.
pub fn inbound(
    base: &Path,
    file: &str,
    tenant: &str,
    i: &InboundJwtFile,
    p: &mut Vec<String>,
) -> Option<InboundTrust> {
    let key = format!("{file}: tenants.{tenant}.inbound_jwt");
    let before = p.len();
    if i.issuers.is_empty() {
        p.push(format!("{key}.issuers: list at least one issuer"));
    }
    for iss in i.issuers.iter().filter(|s| !text_ok(s)) {
        p.push(format!(
            "{key}.issuers: \"{iss}\" must be 1-256 characters without control characters"
        ));
    }
    if i.certificates.is_empty() {
        p.push(format!("{key}.certificates: list at least one PEM file"));
    }
    let certs = trusted_certs(base, &key, &i.certificates, p);
    let now = chrono::Utc::now().timestamp();
    for c in certs.iter().filter(|c| c.cert.not_after() < now) {
        tracing::warn!(tenant, subject = c.cert.subject(), "a trusted inbound certificate has expired; tokens it signed are still checked by signature and exp only");
    }
    let max = i.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN);
    if !(512..=DEFAULT_MAX_TOKEN).contains(&max) {
        p.push(format!(
            "{key}.max_token_bytes: {max} is outside 512..={DEFAULT_MAX_TOKEN}"
        ));
    }
    let skew = i.clock_skew_seconds.unwrap_or(DEFAULT_SKEW);
    if skew > 600 {
        p.push(format!("{key}.clock_skew_seconds: {skew} is above 600"));
    }
    if let Some(a) = i.audience.as_deref().filter(|a| !text_ok(a)) {
        p.push(format!("{key}.audience: \"{a}\" must be 1-256 characters"));
    }
    match (i.audience.as_deref(), i.audience_check) {
        (None, None | Some(true)) => p.push(format!(
            "{key}.audience: required: Fusion issues user tokens for many destinations, and without an audience a token issued for any of them is accepted; set the aud your secure destination's tokens carry (or audience_check = false to accept any, not recommended)"
        )),
        (Some(_), Some(false)) => p.push(format!(
            "{key}.audience_check: false contradicts audience = \"…\"; remove one of them"
        )),
        (None, Some(false)) => tracing::warn!(
            tenant,
            "tenants.{tenant}.inbound_jwt.audience_check = false: Oracle user tokens issued for any destination are accepted; set audience instead"
        ),
        (Some(_), _) => {}
    }
    if let Some(r) = i.roles_claim.as_deref().filter(|r| !text_ok(r)) {
        p.push(format!(
            "{key}.roles_claim: \"{r}\" must be 1-256 characters"
        ));
    }
    (p.len() == before).then(|| InboundTrust {
        issuers: i.issuers.clone(),
        certs,
        audience: i.audience.clone(),
        refused_audience: None,
        skew: skew as i64,
        max_token_bytes: max,
        roles_claim: i.roles_claim.clone(),
    })
}

/// The certificates of the PEM files `files` (relative to `base`), each named by its file's
/// stem; a problem for each file that cannot be read or parsed.
fn trusted_certs(
    base: &Path,
    key: &str,
    files: &[String],
    p: &mut Vec<String>,
) -> Vec<TrustedCert> {
    let mut certs = Vec::new();
    for c in files {
        let path = super::resolve(base, c);
        let alias = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        match std::fs::read(&path) {
            Ok(bytes) => match Certificate::from_pem_all(&bytes) {
                Ok(list) => certs.extend(list.into_iter().map(|cert| TrustedCert {
                    alias: alias.clone(),
                    cert,
                })),
                Err(e) => p.push(format!("{key}.certificates: {}: {e}", path.display())),
            },
            Err(e) => p.push(format!(
                "{key}.certificates: cannot read {}: {e}",
                path.display()
            )),
        }
    }
    certs
}

/// An issuer may be trusted by one tenant only: the issuer is what picks the tenant.
pub fn issuers_unique(tenants: &[Tenant], p: &mut Vec<String>) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for t in tenants {
        for iss in t.inbound.iter().flat_map(|i| &i.issuers) {
            if let Some(other) = seen.insert(iss, &t.name) {
                p.push(format!("tenants.{}.inbound_jwt.issuers: \"{iss}\" is already trusted by tenant {other}; an issuer selects exactly one tenant", t.name));
            }
        }
    }
}

/// `[tenants.T.pkcs11]`: the module must exist; exactly one PIN source, readable now.
pub(super) fn pkcs11(
    base: &Path,
    file: &str,
    tenant: &str,
    k: &crate::config::model::Pkcs11File,
    p: &mut Vec<String>,
) -> Option<crate::snapshot::Pkcs11Settings> {
    let key = format!("{file}: tenants.{tenant}.pkcs11");
    let module = k.module.trim();
    if !Path::new(module).is_absolute() {
        p.push(format!(
            "{key}.module: \"{module}\" must be an absolute path to the PKCS#11 library"
        ));
        return None;
    }
    if !Path::new(module).is_file() {
        p.push(format!("{key}.module: {module} does not exist (install the HSM's PKCS#11 library, e.g. softhsm2)"));
        return None;
    }
    let pin = match (&k.pin_file, &k.pin_env) {
        (Some(f), None) => {
            let path = super::resolve(base, f);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let text = crate::crypto::SecretString::new(text);
                    crate::crypto::SecretString::new(text.expose().trim().to_string())
                }
                Err(e) => {
                    p.push(format!(
                        "{key}.pin_file: cannot read {}: {e}",
                        path.display()
                    ));
                    return None;
                }
            }
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) => {
                let v = crate::crypto::SecretString::new(v);
                crate::crypto::SecretString::new(v.expose().trim().to_string())
            }
            Err(_) => {
                p.push(format!(
                    "{key}.pin_env: the environment variable {var} is not set"
                ));
                return None;
            }
        },
        _ => {
            p.push(format!(
                "{key}: set exactly one of pin_file or pin_env (the token's user PIN)"
            ));
            return None;
        }
    };
    if pin.expose().is_empty() {
        p.push(format!("{key}: the PIN is empty"));
        return None;
    }
    Some(crate::snapshot::Pkcs11Settings {
        module: module.to_string(),
        pin,
    })
}
