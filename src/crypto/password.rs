//! argon2id password hashing for issued API passwords.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::CryptoError;

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for PasswordParams {
    /// OWASP's recommendation: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        PasswordParams {
            m_kib: 19_456,
            t: 2,
            p: 1,
        }
    }
}

/// Hashes and verifies passwords with argon2id.
#[derive(Debug)]
pub struct PasswordHasher {
    params: PasswordParams,
    dummy: OnceLock<Option<String>>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher::new(PasswordParams::default())
    }
}

impl PasswordHasher {
    /// A hasher with `params` for new hashes (verification follows each hash's own parameters).
    pub fn new(params: PasswordParams) -> Self {
        PasswordHasher {
            params,
            dummy: OnceLock::new(),
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>, CryptoError> {
        let p = Params::new(self.params.m_kib, self.params.t, self.params.p, None)
            .map_err(|_| CryptoError::PasswordHash)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &[u8]) -> Result<String, CryptoError> {
        let salt_bytes = super::random_bytes::<16>()?;
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| CryptoError::PasswordHash)?;
        self.argon2()?
            .hash_password(password, &salt)
            .map(|h| h.to_string())
            .map_err(|_| CryptoError::PasswordHash)
    }

    /// Whether `password` matches `phc`; false for malformed hashes. Never panics.
    pub fn verify(&self, password: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        Argon2::default().verify_password(password, &parsed).is_ok()
    }

    /// Spends the same effort as a real verification, for unknown usernames.
    pub fn verify_dummy(&self, password: &[u8]) {
        let dummy = self
            .dummy
            .get_or_init(|| self.hash(b"erpgate-dummy-password").ok());
        if let Some(phc) = dummy {
            let _ = self.verify(password, phc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(PasswordParams {
            m_kib: 256,
            t: 1,
            p: 1,
        })
    }

    #[test]
    fn hash_verify_and_reject() {
        let h = fast();
        let phc = h.hash(b"correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify(b"correct horse", &phc));
        assert!(!h.verify(b"correct horsf", &phc));
        assert!(!h.verify(b"x", "not a phc string"));
        assert!(!h.verify(b"x", ""));
        assert_ne!(
            h.hash(b"same").expect("a"),
            h.hash(b"same").expect("b"),
            "salted"
        );
        h.verify_dummy(b"anything");
    }

    #[test]
    fn default_params_are_owasp() {
        let phc = PasswordHasher::default().hash(b"pw").expect("hash");
        assert!(phc.contains("m=19456,t=2,p=1"), "{phc}");
    }
}
