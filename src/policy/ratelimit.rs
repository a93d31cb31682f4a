//! Per-account and per-credential rate limits: token buckets configured in policies.
//!
//! Every policy that grants a request and sets `rate_limit` takes one token from its bucket
//! for the request's credential (or account); if any bucket is empty the request is refused
//! with 429 `ratelimit.exceeded` and `Retry-After` says when a token will be there. Buckets
//! are keyed by the policy's slot and a hash of the stable credential id or account name
//! (never a directory index, which moves when the store changes), and are forgotten when a
//! reload changes the configuration.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

/// Whose requests share a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Per {
    /// Each credential set has its own bucket.
    Credential,
    /// All credential sets of an account share one.
    Account,
}

/// One policy's limit.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    /// The policy it belongs to (for logs).
    pub policy: String,
    /// Whose bucket.
    pub per: Per,
    /// Tokens added per second.
    pub rate: f64,
    /// Bucket size.
    pub burst: f64,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

const SHARDS: usize = 16;

/// The buckets of a running gateway.
pub struct Limiter {
    shards: Vec<Mutex<HashMap<(u8, u64), Bucket>>>,
    /// The snapshot version the buckets belong to.
    version: Mutex<u64>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            version: Mutex::new(0),
        }
    }
}

fn key_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Limiter {
    /// Takes a token from every bucket in `slots` (see `GrantDecision::limited`) for this
    /// credential and account. Returns `Err(seconds)` to wait when one is empty.
    pub fn check(
        &self,
        version: u64,
        limits: &[RateLimit],
        slots: u128,
        credential_id: &str,
        account: &str,
        now: Instant,
    ) -> Result<(), u32> {
        if slots == 0 {
            return Ok(());
        }
        if let Ok(mut v) = self.version.lock() {
            if *v != version {
                *v = version;
                for s in &self.shards {
                    if let Ok(mut m) = s.lock() {
                        m.clear();
                    }
                }
            }
        }
        let mut wait: Option<f64> = None;
        for (slot, limit) in limits.iter().enumerate().take(128) {
            if slots & (1u128 << slot) == 0 {
                continue;
            }
            let who = match limit.per {
                Per::Credential => key_hash(credential_id),
                Per::Account => key_hash(account),
            };
            let key = (slot as u8, who);
            let Ok(mut map) = self.shards[(who as usize) % SHARDS].lock() else {
                continue;
            };
            let b = map.entry(key).or_insert(Bucket {
                tokens: limit.burst,
                at: now,
            });
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * limit.rate).min(limit.burst);
            b.at = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
            } else {
                let w = (1.0 - b.tokens) / limit.rate;
                wait = Some(wait.map_or(w, |x: f64| x.max(w)));
            }
        }
        match wait {
            None => Ok(()),
            Some(w) => Err(w.ceil().clamp(1.0, 86_400.0) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limit(per: Per, rate: f64, burst: f64) -> RateLimit {
        RateLimit {
            policy: "p".into(),
            per,
            rate,
            burst,
        }
    }

    #[test]
    fn buckets_refill_and_are_per_credential_or_account() {
        let l = Limiter::default();
        let limits = [
            limit(Per::Credential, 2.0, 3.0),
            limit(Per::Account, 1.0, 5.0),
        ];
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(1, &limits, 0b01, "c1", "a", t0).is_ok());
        }
        assert_eq!(l.check(1, &limits, 0b01, "c1", "a", t0), Err(1));
        assert!(
            l.check(1, &limits, 0b01, "c2", "a", t0).is_ok(),
            "own bucket"
        );
        assert!(
            l.check(1, &limits, 0b01, "c1", "a", t0 + Duration::from_millis(500))
                .is_ok(),
            "refilled one token after 0.5 s at 2/s"
        );
        // Account-wide: five for everyone of account b, whatever the credential.
        for c in ["x", "y", "z", "x", "y"] {
            assert!(l.check(1, &limits, 0b10, c, "b", t0).is_ok());
        }
        assert_eq!(l.check(1, &limits, 0b10, "w", "b", t0), Err(1));
        // Both slots: the empty one refuses.
        assert!(l.check(1, &limits, 0b11, "fresh", "b", t0).is_err());
        // A new configuration starts from full buckets.
        assert!(l.check(2, &limits, 0b10, "w", "b", t0).is_ok());
        assert!(
            l.check(2, &limits, 0, "w", "b", t0).is_ok(),
            "no limit, no bucket"
        );
    }

    #[test]
    fn retry_after_is_the_wait_for_one_token() {
        let l = Limiter::default();
        let slow = [limit(Per::Credential, 0.1, 1.0)];
        let t0 = Instant::now();
        assert!(l.check(1, &slow, 1, "c", "a", t0).is_ok());
        assert_eq!(l.check(1, &slow, 1, "c", "a", t0), Err(10));
    }
}
