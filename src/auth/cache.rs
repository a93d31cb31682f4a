//! The verified-credential cache: argon2 runs once per credential per TTL, not per request.
//!
//! Keys are keyed hashes (HMAC under a key derived from the master key) of what the client
//! presented, so the cache never holds a password and a memory dump does not let anyone test
//! guesses offline. Values are credential ids only. The cache proves "this password was right
//! for this credential id at some point in the last TTL"; it says nothing about state: every
//! hit is followed by a check of the credential's and account's *current* status in the
//! directory view, so a revocation or suspension is never outlived by a cache entry.
//!
//! The same structure remembers recent *failures* ([`FailedCache`]): a keyed hash of (the
//! credential's id, the presented secret) that was wrong, so a wrong secret presented again
//! within the TTL costs no argon2. It holds no secret either.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// A bounded, sharded TTL map from a keyed hash of what was presented to a value.
pub struct TtlCache<V> {
    shards: Vec<Mutex<HashMap<[u8; 32], Entry<V>>>>,
    ttl: Duration,
    per_shard_capacity: usize,
}

/// Presented-credential hash → the credential id it was verified for.
pub type VerifiedCache = TtlCache<String>;

/// Keyed hash of (credential id, wrong secret) → nothing: the secret failed recently.
pub type FailedCache = TtlCache<()>;

struct Entry<V> {
    value: V,
    verified_at: Instant,
}

impl<V: Clone> TtlCache<V> {
    /// A cache holding up to `capacity` entries for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        TtlCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            ttl,
            per_shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &[u8; 32]) -> &Mutex<HashMap<[u8; 32], Entry<V>>> {
        // The key is a uniformly distributed MAC; its first byte picks the shard.
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The value stored for `key`, if stored within the TTL.
    pub fn get(&self, key: &[u8; 32], now: Instant) -> Option<V> {
        let map = self.shard(key).lock().ok()?;
        let e = map.get(key)?;
        if now.duration_since(e.verified_at) < self.ttl {
            Some(e.value.clone())
        } else {
            None
        }
    }

    /// Records a verification's result.
    pub fn insert(&self, key: [u8; 32], value: V, now: Instant) {
        let Ok(mut map) = self.shard(&key).lock() else {
            return;
        };
        if map.len() >= self.per_shard_capacity {
            let ttl = self.ttl;
            map.retain(|_, e| now.duration_since(e.verified_at) < ttl);
            if map.len() >= self.per_shard_capacity {
                // Still full of live entries: start the shard over. Costs re-verification,
                // never correctness, and bounds memory under any load.
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                value,
                verified_at: now,
            },
        );
    }

    /// Number of entries (for metrics and tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_ttl() {
        let c = VerifiedCache::new(10, Duration::from_secs(5));
        let t0 = Instant::now();
        c.insert([1; 32], "cred_a".to_string(), t0);
        assert_eq!(c.get(&[1; 32], t0).as_deref(), Some("cred_a"));
        assert_eq!(c.get(&[1; 32], t0 + Duration::from_secs(6)), None);
        assert_eq!(c.get(&[2; 32], t0), None);
    }

    #[test]
    fn stays_bounded() {
        let c = VerifiedCache::new(32, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            c.insert(k, String::new(), t0);
        }
        assert!(c.len() <= 32 + SHARDS, "len {}", c.len());
    }
}
