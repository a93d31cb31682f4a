//! The public listener's TLS, Pingora's side: listener settings and the certificate
//! resolver serving the snapshot in force (certificates loaded and checked by [`crate::tls`]).
//!
//! Pingora's rustls listener always enables TLS 1.2 and 1.3 (its `TlsSettings` does not let a
//! caller choose), so TLS 1.3-only is enforced in two places: the certificate resolver gives
//! no certificate to a client hello that offers no TLS 1.3 cipher suite (most TLS 1.2-only
//! stacks: the handshake fails with an alert), and the relay refuses every request on a
//! connection that still negotiated TLS 1.2 (a client that lists TLS 1.3 suites but not the
//! version) with 426 `tls.version`, closing the connection. rustls' TLS 1.2 suites are all
//! ECDHE with AEAD, so even that one refused request travelled with forward secrecy.

use std::fmt;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::CipherSuite;

use crate::app::App;

/// Whether the session's connection negotiated TLS 1.3.
pub fn negotiated_tls13(session: &pingora::proxy::Session) -> bool {
    let tls13 = rustls::ProtocolVersion::TLSv1_3.as_str();
    session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .is_some_and(|s| Some(s.version.as_ref()) == tls13)
}

fn is_tls13(suite: &CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS13_AES_128_CCM_SHA256
            | CipherSuite::TLS13_AES_128_CCM_8_SHA256
    )
}

/// Serves the certificate of the snapshot in force, so a reload that changes the certificate
/// files takes effect at the next handshake.
pub struct CertResolver {
    app: Arc<App>,
}

impl CertResolver {
    /// A resolver reading `app`'s current snapshot.
    pub fn new(app: Arc<App>) -> Self {
        CertResolver { app }
    }
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertResolver")
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let compiled = self.app.compiled.load();
        let tls = compiled.snapshot.gateway.tls.as_ref()?;
        if tls.tls13_only && !hello.cipher_suites().iter().any(is_tls13) {
            return None;
        }
        Some(tls.key.0.clone())
    }
}

/// Pingora listener settings for the public relay: our resolver, HTTP/1.1.
pub fn listener_settings(app: Arc<App>) -> pingora::Result<pingora::listeners::tls::TlsSettings> {
    let mut settings = pingora::listeners::tls::TlsSettings::intermediate("", "")?;
    settings.set_cert_resolver(Arc::new(CertResolver::new(app)));
    settings.set_alpn(pingora::protocols::ALPN::H1);
    Ok(settings)
}
