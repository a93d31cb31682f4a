//! TLS on both sides: the public listener's certificate (loaded at validation, swapped on
//! reload, TLS 1.3 only by default) and the CA bundle upstream certificates are verified with.
//! Loading and checking only: the listener settings and the certificate resolver that serve
//! these (and enforce TLS 1.3-only) are Pingora's side, in `gateway::tls`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The public listener's TLS settings, as validated.
#[derive(Clone, Debug)]
pub struct DownstreamTls {
    /// Certificate chain file (PEM, leaf first).
    pub cert_file: PathBuf,
    /// Private key file (PEM).
    pub key_file: PathBuf,
    /// Refuse handshakes from clients that cannot do TLS 1.3.
    pub tls13_only: bool,
    /// The `Strict-Transport-Security` value, when HSTS is on.
    pub hsts: Option<Arc<str>>,
    /// The loaded certificate and key.
    pub key: ServerKey,
    /// The leaf certificate's `notAfter`, as X.509 prints it (for the log).
    pub not_after: String,
}

/// A loaded certificate chain with its signing key. `Debug` shows neither.
#[derive(Clone)]
pub struct ServerKey(pub Arc<CertifiedKey>);

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServerKey({} certificate(s), key redacted)",
            self.0.cert.len()
        )
    }
}

/// Loads and checks a certificate chain and its private key: both parse, the key matches the
/// leaf certificate, and the leaf is currently valid. Returns the key and the leaf's expiry.
pub fn load_server_key(cert: &Path, key: &Path) -> Result<(ServerKey, String), String> {
    let chain = read_certificates(cert)?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: no readable PEM private key ({e})", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        format!(
            "{} and {}: the key does not fit the certificate ({e})",
            cert.display(),
            key.display()
        )
    })?;
    let leaf = certified
        .cert
        .first()
        .ok_or_else(|| format!("{}: no certificate", cert.display()))?;
    let not_after = check_validity(cert, leaf.as_ref())?;
    Ok((ServerKey(Arc::new(certified)), not_after))
}

/// Reads every certificate of a PEM file (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: cannot read ({e})", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// Checks that a CA bundle holds certificates a verifier can use.
pub fn check_ca_bundle(path: &Path) -> Result<usize, String> {
    let certs = read_certificates(path)?;
    let mut store = rustls::RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "{}: none of its {ignored} certificate(s) is a usable CA certificate",
            path.display()
        ));
    }
    Ok(added)
}

fn check_validity(path: &Path, der: &[u8]) -> Result<String, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        format!(
            "{}: the leaf certificate does not parse ({e})",
            path.display()
        )
    })?;
    let validity = parsed.validity();
    let not_after = validity.not_after.to_string();
    let now = x509_parser::time::ASN1Time::now();
    if validity.not_after < now {
        return Err(format!(
            "{}: the certificate expired on {not_after}",
            path.display()
        ));
    }
    if validity.not_before > now {
        return Err(format!(
            "{}: the certificate is not valid before {}",
            path.display(),
            validity.not_before
        ));
    }
    Ok(not_after)
}
