//! Certificates and keys for RS256 tokens: the Oracle certificates a tenant trusts for
//! inbound tokens, and the tenant's own signing key with its certificate.
//!
//! Parsing is x509-parser's; RSA signing and verification are ring's (constant-time private
//! key operations; keys under 2048 bits are refused by ring at use).

use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::b64;

/// The OID of `rsaEncryption` (the only key type we take).
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// A parsed X.509 certificate holding an RSA public key.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    x5t: String,
    public_key: Vec<u8>,
    subject: String,
    not_after: i64,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("x5t", &self.x5t)
            .finish()
    }
}

impl Certificate {
    /// Parses one DER certificate; refuses anything that is not an RSA key of at least
    /// 2048 bits.
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after the certificate".into());
        }
        let spki = cert.public_key();
        if spki.algorithm.algorithm.to_id_string() != RSA_ENCRYPTION {
            return Err("the certificate's key is not RSA (RS256 needs an RSA key)".into());
        }
        let public_key = spki.subject_public_key.data.to_vec();
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, ... }: 2048 bits is 256 bytes (+1 sign).
        let modulus_bytes = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(k)) => {
                k.modulus.iter().skip_while(|b| **b == 0).count()
            }
            _ => return Err("the certificate's RSA key does not parse".into()),
        };
        if modulus_bytes < 256 {
            return Err(format!(
                "the certificate's RSA key has {} bits; at least 2048 are required",
                modulus_bytes * 8
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        Ok(Certificate {
            der: der.to_vec(),
            x5t: b64::encode(digest.as_ref()),
            public_key,
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Every certificate in a PEM text (several may be concatenated, for rotation).
    pub fn from_pem_all(pem: &[u8]) -> Result<Vec<Certificate>, String> {
        let mut out = Vec::new();
        for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
            let item = item.map_err(|e| format!("bad PEM: {e}"))?;
            if item.label != "CERTIFICATE" {
                return Err(format!(
                    "PEM block `{}` where a CERTIFICATE was expected",
                    item.label
                ));
            }
            out.push(Certificate::from_der(&item.contents)?);
        }
        if out.is_empty() {
            return Err("no PEM CERTIFICATE block found".into());
        }
        Ok(out)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// base64url (no padding) of the SHA-1 of the DER: the JWS `x5t` header value.
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The subject distinguished name, as text.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The end of the validity period (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The PEM encoding.
    pub fn to_pem(&self) -> String {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(line).unwrap_or_default());
            s.push('\n');
        }
        s.push_str("-----END CERTIFICATE-----\n");
        s
    }

    /// Whether `signature` is a valid RS256 (RSASSA-PKCS1-v1_5 SHA-256) signature of
    /// `message` by this certificate's key.
    pub fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(message, signature)
            .is_ok()
    }
}

/// A tenant's signing key with its certificate: in memory (inside ring), or in a PKCS#11
/// token that signs for us. `Debug` shows the certificate only.
pub struct SigningKey {
    key: KeyHolder,
    cert: Certificate,
}

enum KeyHolder {
    /// The key, opened from the store, inside ring.
    Memory(RsaKeyPair),
    /// The key stays in the token; the PIN opens a session to it.
    Token {
        key: crate::crypto::pkcs11::KeyRef,
        pin: crate::crypto::SecretString,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("cert", &self.cert)
            .field(
                "key",
                &match &self.key {
                    KeyHolder::Memory(_) => "<redacted>".to_string(),
                    KeyHolder::Token { key, .. } => key.to_string(),
                },
            )
            .finish()
    }
}

impl SigningKey {
    /// A key from DER (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) and the certificate
    /// it belongs to. Refuses a key that does not match the certificate.
    pub fn from_der(key: &[u8], cert: Certificate) -> Result<SigningKey, String> {
        let pair = RsaKeyPair::from_pkcs8(key)
            .or_else(|_| RsaKeyPair::from_der(key))
            .map_err(|e| format!("not an RSA private key ({e})"))?;
        if pair.public().as_ref() != cert.public_key.as_slice() {
            return Err("the private key does not belong to the certificate".into());
        }
        if pair.public().modulus_len() < 256 {
            return Err("the RSA key is shorter than 2048 bits".into());
        }
        Ok(SigningKey {
            key: KeyHolder::Memory(pair),
            cert,
        })
    }

    /// A key held in a PKCS#11 token, for the certificate it belongs to. Nothing is checked
    /// here (that would take the token on every load): `erpgate check` signs a test message
    /// and verifies it with the certificate.
    pub fn in_token(
        key: crate::crypto::pkcs11::KeyRef,
        pin: crate::crypto::SecretString,
        cert: Certificate,
    ) -> SigningKey {
        SigningKey {
            key: KeyHolder::Token { key, pin },
            cert,
        }
    }

    /// Whether the key is held in a PKCS#11 token.
    pub fn in_hsm(&self) -> bool {
        matches!(self.key, KeyHolder::Token { .. })
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The RS256 signature of `message`.
    pub fn sign_rs256(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.key {
            KeyHolder::Memory(pair) => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            KeyHolder::Token { key, pin } => {
                crate::crypto::pkcs11::sign(key, pin, message).map_err(|e| e.to_string())
            }
        }
    }
}

impl Certificate {
    /// The subject public key (PKCS#1 `RSAPublicKey` DER for RSA).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key
    }
}

/// RS256 over a message, by a key held elsewhere.
pub type SignFn<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, String>;

/// A key that signs a certificate from outside (a PKCS#11 token), for [`generate_for`].
pub struct ExternalSigner<'a> {
    /// PKCS#1 `RSAPublicKey` DER of the key.
    pub public_der: Vec<u8>,
    /// RS256 over the message.
    pub sign: SignFn<'a>,
}

impl rcgen::PublicKeyData for ExternalSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for ExternalSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        (self.sign)(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// A self-signed certificate with `CN = common_name`, valid for `days`, signed by `signer`
/// (whose key never leaves where it is).
pub fn generate_for(
    common_name: &str,
    days: u32,
    signer: &ExternalSigner<'_>,
) -> Result<Certificate, String> {
    let params = cert_params(common_name, days)?;
    let cert = params
        .self_signed(signer)
        .map_err(|e| format!("self-signing failed: {e}"))?;
    let cert = Certificate::from_der(cert.der())?;
    if cert.public_key != signer.public_der {
        return Err("the signed certificate does not carry the token's public key".into());
    }
    Ok(cert)
}

fn cert_params(common_name: &str, days: u32) -> Result<rcgen::CertificateParams, String> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| format!("certificate parameters: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(300)).into();
    params.not_after = (now + std::time::Duration::from_secs(u64::from(days) * 86_400)).into();
    Ok(params)
}

/// The DER of the private key in a PEM text (`PRIVATE KEY` or `RSA PRIVATE KEY`), zeroised
/// on drop.
pub fn private_key_der_from_pem(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    for item in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let item = item.map_err(|_| "bad PEM in the key file".to_string())?;
        let contents = Zeroizing::new(item.contents);
        match item.label.as_str() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" => return Ok(contents),
            "ENCRYPTED PRIVATE KEY" => {
                return Err(
                    "the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)"
                        .into(),
                )
            }
            _ => continue,
        }
    }
    Err("no PEM PRIVATE KEY or RSA PRIVATE KEY block found".into())
}

/// A fresh RSA-2048 key (PKCS#8 DER, zeroised on drop) and a self-signed certificate with
/// `CN = common_name`, valid for `days`.
pub fn generate(common_name: &str, days: u32) -> Result<(Zeroizing<Vec<u8>>, Certificate), String> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| format!("RSA key generation failed: {e}"))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| format!("PKCS#8 encoding failed: {e}"))?;
    let pkcs8 = Zeroizing::new(pkcs8.as_bytes().to_vec());
    drop(key);
    let rc_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types_der(&pkcs8),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| format!("key not usable for the certificate: {e}"))?;
    let params = cert_params(common_name, days)?;
    let cert = params
        .self_signed(&rc_key)
        .map_err(|e| format!("self-signing failed: {e}"))?;
    let cert = Certificate::from_der(cert.der())?;
    Ok((pkcs8, cert))
}

fn rustls_pki_types_der(der: &[u8]) -> rustls_pki_types::PrivatePkcs8KeyDer<'_> {
    rustls_pki_types::PrivatePkcs8KeyDer::from(der)
}
