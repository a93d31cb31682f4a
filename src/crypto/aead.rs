//! AES-256-GCM sealing of upstream secrets, bound to (tenant, name, upstream host).
//!
//! Format: `0x01 ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag`. The additional data is the
//! length-prefixed context, so a sealed secret moved to another tenant, renamed, or pointed at
//! another host does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::{CryptoError, SecretBytes};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Where a secret belongs; authenticated with it.
#[derive(Debug, Clone, Copy)]
pub struct SealContext<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// Secret name.
    pub name: &'a str,
    /// The tenant's upstream host.
    pub upstream_host: &'a str,
}

impl SealContext<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"erpgate-secret-v1");
        for part in [self.tenant, self.name, self.upstream_host] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A tenant's AES-256-GCM key (and, during a master-key rotation, the previous key's, used
/// only to open). `Debug` is redacted.
pub struct TenantCipher {
    cipher: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

impl std::fmt::Debug for TenantCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantCipher(redacted)")
    }
}

impl TenantCipher {
    pub(crate) fn from_raw(key: &[u8; 32]) -> Self {
        TenantCipher {
            cipher: Aes256Gcm::new(key.into()),
            previous: None,
        }
    }

    /// Seals with `key`; opens with `key`, else with `previous` (rotation in progress).
    pub(crate) fn with_previous(key: &[u8; 32], previous: &[u8; 32]) -> Self {
        TenantCipher {
            cipher: Aes256Gcm::new(key.into()),
            previous: Some(Aes256Gcm::new(previous.into())),
        }
    }

    /// Seals `plaintext` for `context` with a fresh random nonce.
    pub fn seal(
        &self,
        context: &SealContext<'_>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = super::random_bytes::<NONCE_LEN>()?;
        self.seal_with_nonce(context, plaintext, &nonce)
    }

    fn seal_with_nonce(
        &self,
        context: &SealContext<'_>,
        plaintext: &[u8],
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Vec<u8>, CryptoError> {
        let aad = context.aad();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed secret; any tampering or context mismatch is an error.
    pub fn open(
        &self,
        context: &SealContext<'_>,
        sealed: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Decrypt)?;
        if version != VERSION {
            return Err(CryptoError::UnsupportedVersion);
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let aad = context.aad();
        let open = |c: &Aes256Gcm| {
            c.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
                .ok()
        };
        open(&self.cipher)
            .or_else(|| self.previous.as_ref().and_then(open))
            .map(SecretBytes::new)
            .ok_or(CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: SealContext<'static> = SealContext {
        tenant: "acme",
        name: "fin-password",
        upstream_host: "acme.fa.us2.oraclecloud.com",
    };

    #[test]
    fn nist_gcm_test_case_14_known_answer() {
        // AES-256-GCM, zero key, zero IV, one zero block (McGrew & Viega test case 14).
        let c = TenantCipher::from_raw(&[0u8; 32]);
        let ct = c
            .cipher
            .encrypt(Nonce::from_slice(&[0u8; 12]), &[0u8; 16][..])
            .expect("encrypt");
        assert_eq!(
            hex::encode(ct),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    #[test]
    fn round_trip_and_every_bit_flip_fails() {
        let c = TenantCipher::from_raw(&[7u8; 32]);
        let sealed = c.seal(&CTX, b"oracle-password").expect("seal");
        assert_eq!(
            c.open(&CTX, &sealed).expect("open").expose(),
            b"oracle-password"
        );
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[i] ^= 1 << bit;
                assert!(c.open(&CTX, &t).is_err(), "flip at {i}:{bit} opened");
            }
        }
        assert!(c.open(&CTX, &sealed[..sealed.len() - 1]).is_err());
        assert!(c.open(&CTX, &[]).is_err());
        assert_ne!(
            c.seal(&CTX, b"x").expect("a"),
            c.seal(&CTX, b"x").expect("b"),
            "fresh nonce"
        );
    }

    #[test]
    fn context_and_key_are_bound() {
        let c = TenantCipher::from_raw(&[7u8; 32]);
        let sealed = c.seal(&CTX, b"pw").expect("seal");
        for other in [
            SealContext {
                tenant: "globex",
                ..CTX
            },
            SealContext {
                name: "other",
                ..CTX
            },
            SealContext {
                upstream_host: "evil.example",
                ..CTX
            },
        ] {
            assert_eq!(c.open(&other, &sealed).err(), Some(CryptoError::Decrypt));
        }
        let d = TenantCipher::from_raw(&[8u8; 32]);
        assert!(d.open(&CTX, &sealed).is_err());
        assert_eq!(format!("{c:?}"), "TenantCipher(redacted)");
    }

    #[test]
    fn the_previous_key_only_opens() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let sealed_a = TenantCipher::from_raw(&a).seal(&CTX, b"pw").expect("seal");
        let rotating = TenantCipher::with_previous(&b, &a);
        assert_eq!(
            rotating.open(&CTX, &sealed_a).expect("open").expose(),
            b"pw"
        );
        assert!(TenantCipher::from_raw(&b).open(&CTX, &sealed_a).is_err());
        let sealed_b = rotating.seal(&CTX, b"pw").expect("seal");
        assert!(
            TenantCipher::from_raw(&a).open(&CTX, &sealed_b).is_err(),
            "sealing uses the new key only"
        );
        assert!(TenantCipher::from_raw(&b).open(&CTX, &sealed_b).is_ok());
    }
}
