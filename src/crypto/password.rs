//! argon2id password hashing for issued API passwords.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::CryptoError;

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// argon2 iterations (time cost).
    pub t: u32,
    /// argon2 lanes (parallelism).
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

/// The largest work area a stored hash may ask for (256 MiB): a corrupted row cannot make
/// the gateway allocate without bound.
const MAX_M_KIB: u32 = 256 * 1024;

/// Hashes and verifies passwords with argon2id.
pub struct PasswordHasher {
    params: PasswordParams,
    dummy: OnceLock<Option<String>>,
    /// The argon2 work area (19 MiB with the default parameters) kept for the next
    /// verification, wiped after each use: the usual one-at-a-time cache misses allocate
    /// nothing, and the extra areas of verifications that ran at the same time (at most the
    /// authenticator's `max_concurrent_hashes`) are freed rather than kept for the life of
    /// the process. Released by [`PasswordHasher::release_idle`] once no verification has
    /// used it for a while, so an idle gateway does not hold 19 MiB for the next cache miss.
    memory: Mutex<Option<(Vec<Block>, Instant)>>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
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
            memory: Mutex::new(None),
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

    /// Whether `password` matches `phc` (argon2id); false for malformed hashes. Never panics.
    /// The hash's own parameters are used, in a reused work area; the comparison is
    /// constant-time.
    pub fn verify(&self, password: &[u8], phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return false;
        }
        let (Ok(params), Some(salt), Some(expected)) =
            (Params::try_from(&parsed), parsed.salt, parsed.hash)
        else {
            return false;
        };
        if params.m_cost() > MAX_M_KIB {
            return false;
        }
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let version = parsed
            .version
            .and_then(|v| Version::try_from(v).ok())
            .unwrap_or(Version::V0x13);
        let expected = expected.as_bytes();
        let mut out = zeroize::Zeroizing::new(vec![0u8; expected.len()]);
        let needed = params.block_count();
        let mut blocks = self
            .memory
            .lock()
            .ok()
            .and_then(|mut kept| kept.take())
            .map(|(b, _)| b)
            .filter(|b| b.len() >= needed)
            .unwrap_or_else(|| vec![Block::default(); needed]);
        let computed = Argon2::new(Algorithm::Argon2id, version, params)
            .hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..])
            .is_ok();
        self.return_area(blocks);
        computed && super::ct_eq(&out, expected)
    }

    /// Wipes a work area and keeps it for the next verification, unless one is kept already
    /// (the extra one is then freed, after the lock is released). Either way the kept area
    /// counts as used now.
    fn return_area(&self, mut blocks: Vec<Block>) {
        blocks.fill(Block::default());
        let extra = match self.memory.lock() {
            Ok(mut kept) => match kept.as_mut() {
                Some((_, used)) => {
                    *used = Instant::now();
                    Some(blocks)
                }
                None => {
                    *kept = Some((blocks, Instant::now()));
                    None
                }
            },
            Err(_) => Some(blocks),
        };
        drop(extra);
    }

    /// Frees the kept work area when the last verification returned it at least `idle` ago
    /// (called on every store poll). The next cache miss allocates a new one.
    /// Returns whether an area was freed.
    pub fn release_idle(&self, idle: Duration) -> bool {
        let freed = {
            let Ok(mut kept) = self.memory.lock() else {
                return false;
            };
            let due = kept
                .as_ref()
                .is_some_and(|(_, returned)| returned.elapsed() >= idle);
            if due {
                kept.take()
            } else {
                None
            }
        };
        // Wiped when it was returned; freed here, outside the lock, so a verification never
        // waits for 19 MiB to be handed back.
        let due = freed.is_some();
        drop(freed);
        due
    }

    /// Whether a work area is kept for the next verification.
    #[cfg(test)]
    fn keeps_area(&self) -> bool {
        self.memory.lock().map(|k| k.is_some()).unwrap_or(false)
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
    fn only_sane_argon2id_hashes_verify_and_work_areas_are_reused() {
        let h = fast();
        let phc = h.hash(b"pw").expect("hash");
        for _ in 0..3 {
            assert!(h.verify(b"pw", &phc));
        }
        assert!(h.memory.lock().is_ok_and(|k| k.is_some()), "one area, kept");
        // Two verifications at once: one holds the kept area while the other allocates its
        // own. When both are done, one area is kept and the other freed.
        let held = h
            .memory
            .lock()
            .ok()
            .and_then(|mut k| k.take())
            .map(|(b, _)| b)
            .expect("area");
        assert!(h.verify(b"pw", &phc));
        let kept = h
            .memory
            .lock()
            .ok()
            .and_then(|k| k.as_ref().map(|(b, _)| b.as_ptr()));
        assert!(kept.is_some(), "the second verification's area is kept");
        h.return_area(held);
        assert_eq!(
            h.memory
                .lock()
                .ok()
                .and_then(|k| k.as_ref().map(|(b, _)| b.as_ptr())),
            kept,
            "the extra area is freed, the kept one stays"
        );
        let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert!(!h.verify(b"pw", &argon2i));
        let huge = phc.replacen("m=256", "m=4194304", 1);
        assert_ne!(huge, phc);
        assert!(!h.verify(b"pw", &huge), "absurd memory cost refused");
        let truncated = &phc[..phc.len() - 4];
        assert!(!h.verify(b"pw", truncated));
    }

    #[test]
    fn an_idle_work_area_is_released_and_a_busy_one_kept() {
        let h = fast();
        let phc = h.hash(b"pw").expect("hash");
        assert!(!h.release_idle(Duration::ZERO), "nothing kept yet");
        assert!(h.verify(b"pw", &phc));
        assert!(h.keeps_area());
        assert!(
            !h.release_idle(Duration::from_secs(3600)),
            "used a moment ago: kept"
        );
        assert!(h.keeps_area());
        assert!(h.release_idle(Duration::ZERO), "idle long enough: freed");
        assert!(!h.keeps_area());
        assert!(h.verify(b"pw", &phc), "the next miss allocates anew");
        assert!(!h.verify(b"px", &phc));
        assert!(h.keeps_area());
    }

    #[test]
    fn default_params_are_owasp() {
        let phc = PasswordHasher::default().hash(b"pw").expect("hash");
        assert!(phc.contains("m=19456,t=2,p=1"), "{phc}");
    }
}
