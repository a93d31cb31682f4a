//! HMAC-SHA256 keyed hashes: how issued API keys, tokens and cache keys are stored and compared.

use ring::hmac;

/// An HMAC-SHA256 key. `Debug` is redacted.
pub struct KeyedHasher {
    key: hmac::Key,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher(redacted)")
    }
}

impl KeyedHasher {
    /// A hasher over raw key bytes (the master key derives these).
    pub(crate) fn from_raw(key: &[u8]) -> Self {
        KeyedHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// HMAC of `data`.
    pub fn hash(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// HMAC over several parts, each length-prefixed so `("ab","c")` ≠ `("a","bc")`.
    pub fn hash_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// Whether `expected` is the HMAC of `data` (constant time).
    pub fn verify(&self, data: &[u8], expected: &[u8]) -> bool {
        hmac::verify(&self.key, data, expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        let h = KeyedHasher::from_raw(b"Jefe");
        assert_eq!(
            hex::encode(h.hash(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn parts_are_unambiguous_and_verify_works() {
        let h = KeyedHasher::from_raw(b"k");
        assert_ne!(h.hash_parts(&[b"ab", b"c"]), h.hash_parts(&[b"a", b"bc"]));
        let mac = h.hash(b"data");
        assert!(h.verify(b"data", &mac));
        assert!(!h.verify(b"datb", &mac));
        assert!(!h.verify(b"data", &mac[..31]));
        assert_eq!(format!("{h:?}"), "KeyedHasher(redacted)");
    }
}
