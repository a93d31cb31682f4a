//! Validating `[gateway.tls]` (the public listener's certificate, loaded and checked here so
//! `erpgate check` and a reload report a bad file) and `gateway.upstream_ca_file`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::super::model::TlsFile;
use crate::tls::DownstreamTls;

/// Default HSTS `max-age`: one year.
const HSTS_MAX_AGE: u64 = 31_536_000;

/// `[gateway.tls]`: both files load, the key fits the certificate, the certificate is valid
/// now; `min_version` is `1.2` or `1.3`; `hsts_max_age_seconds` within 300..=63072000.
pub(super) fn downstream(
    file: &str,
    base: &Path,
    t: Option<&TlsFile>,
    p: &mut Vec<String>,
) -> Option<DownstreamTls> {
    let t = t?;
    let before = p.len();
    let tls13_only = match t.min_version.as_deref().unwrap_or("1.3") {
        "1.3" => true,
        "1.2" => false,
        other => {
            p.push(format!(
                "{file}: gateway.tls.min_version: \"{other}\" is not \"1.2\" or \"1.3\""
            ));
            true
        }
    };
    let max_age = t.hsts_max_age_seconds.unwrap_or(HSTS_MAX_AGE);
    if !(300..=63_072_000).contains(&max_age) {
        p.push(format!(
            "{file}: gateway.tls.hsts_max_age_seconds: {max_age} is outside 300..=63072000"
        ));
    }
    let hsts = t
        .hsts
        .unwrap_or(true)
        .then(|| Arc::<str>::from(format!("max-age={max_age}; includeSubDomains")));
    let cert_file = super::resolve(base, &t.cert_file);
    let key_file = super::resolve(base, &t.key_file);
    let loaded = match crate::tls::load_server_key(&cert_file, &key_file) {
        Ok(k) => Some(k),
        Err(e) => {
            p.push(format!("{file}: gateway.tls: {e}"));
            None
        }
    };
    warn_if_readable(&key_file);
    let (key, not_after) = loaded?;
    (p.len() == before).then_some(DownstreamTls {
        cert_file,
        key_file,
        tls13_only,
        hsts,
        key,
        not_after,
    })
}

/// `gateway.upstream_ca_file`: a PEM bundle with at least one usable CA certificate.
pub(super) fn upstream_ca(
    file: &str,
    base: &Path,
    v: Option<&str>,
    p: &mut Vec<String>,
) -> Option<PathBuf> {
    let path = super::resolve(base, v?);
    if let Err(e) = crate::tls::check_ca_bundle(&path) {
        p.push(format!("{file}: gateway.upstream_ca_file: {e}"));
    }
    Some(path)
}

#[cfg(unix)]
fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the TLS private key is readable by group or others: chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable(_: &Path) {}
