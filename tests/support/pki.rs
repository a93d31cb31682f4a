//! A throwaway certificate authority for TLS tests: a CA, leaf certificates it signs, PEM
//! files on disk, and rustls configurations for servers and clients that trust it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A CA whose certificate is written to `dir/<name>-ca.pem`.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate file.
    pub file: PathBuf,
    dir: PathBuf,
}

/// A leaf certificate and its key, as files.
pub struct Leaf {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Ca {
    /// A new CA named `name`, files under `dir`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("ca cert");
        let file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&file, issuer.pem()).expect("write ca");
        Ca {
            issuer,
            file,
            dir: dir.to_path_buf(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid from yesterday
    /// for `days` days (negative: already expired), written as `<file_stem>.pem` and
    /// `<file_stem>.key`.
    pub fn leaf(&self, file_stem: &str, names: &[&str], days: i64) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        let now = time_now();
        params.not_before = now - time::Duration::days(2);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let cert_file = self.dir.join(format!("{file_stem}.pem"));
        let key_file = self.dir.join(format!("{file_stem}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write cert");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Leaf {
            cert_file,
            key_file,
        }
    }

    /// A client configuration trusting only this CA, speaking only `versions`.
    pub fn client(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.file).expect("ca file") {
            roots.add(c.expect("ca pem")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(versions)
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Ca {
    /// A TLS 1.2 client whose hello offers no TLS 1.3 cipher suite (like most TLS 1.2-only
    /// stacks; rustls' own TLS 1.2-only configuration still lists the TLS 1.3 suites).
    pub fn client_tls12_suites_only(&self) -> Arc<rustls::ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS12);
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.file).expect("ca file") {
            roots.add(c.expect("ca pem")).expect("add root");
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Leaf {
    /// A rustls server configuration serving this certificate.
    pub fn server(&self) -> Arc<rustls::ServerConfig> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert_file)
            .expect("cert file")
            .map(|c| c.expect("pem"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&self.key_file).expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("server config"),
        )
    }
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
