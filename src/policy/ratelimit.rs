//! Per-account and per-credential rate limits: token buckets configured in policies.
//!
//! Every policy that grants a request and sets `rate_limit` takes one token from its bucket
//! for the request's credential (or account); if any bucket is empty the request is refused
//! with 429 `ratelimit.exceeded` and `Retry-After` says when a token will be there. Buckets
//! are keyed by the limit itself (its policy's name, `per`, rate and burst — not the policy's
//! position, which a reload may move) and a hash of the stable credential id or account name
//! (never a directory index, which moves when the store changes). A reload therefore keeps
//! every bucket whose limit it did not change; a changed limit starts from a full bucket of
//! its new size, and the buckets of limits that are gone are dropped the first time a request
//! of the newer configuration is checked (requests still finishing on the older one neither
//! reset nor drop anything).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Buckets by (limit fingerprint, whose).
    shards: Vec<Mutex<HashMap<(u64, u64), Bucket>>>,
    /// The newest snapshot version seen; buckets of limits it lacks have been dropped.
    version: AtomicU64,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            version: AtomicU64::new(0),
        }
    }
}

fn key_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl RateLimit {
    /// What identifies this limit across reloads: equal for an unchanged limit wherever its
    /// policy moved, different when its policy, `per`, rate or burst changed.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.policy.hash(&mut h);
        matches!(self.per, Per::Account).hash(&mut h);
        self.rate.to_bits().hash(&mut h);
        self.burst.to_bits().hash(&mut h);
        h.finish()
    }
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
        if self.version.fetch_max(version, Ordering::AcqRel) < version {
            self.forget_all_but(limits);
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
            let key = (limit.fingerprint(), who);
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

    /// Drops the buckets of every limit not in `limits` (a newer configuration's).
    fn forget_all_but(&self, limits: &[RateLimit]) {
        let keep: Vec<u64> = limits.iter().map(RateLimit::fingerprint).collect();
        for s in &self.shards {
            if let Ok(mut m) = s.lock() {
                m.retain(|(fp, _), _| keep.contains(fp));
            }
        }
    }

    /// Buckets held (for tests).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        // A new configuration that leaves the limits alone keeps their buckets.
        assert_eq!(l.check(2, &limits, 0b10, "w", "b", t0), Err(1));
        assert!(
            l.check(2, &limits, 0, "w", "b", t0).is_ok(),
            "no limit, no bucket"
        );
    }

    #[test]
    fn reloads_keep_unchanged_limits_and_apply_changed_ones() {
        let l = Limiter::default();
        let a = limit(Per::Credential, 0.01, 2.0);
        let mut other = limit(Per::Account, 1.0, 1.0);
        other.policy = "other".into();
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(l
                .check(1, std::slice::from_ref(&a), 1, "c", "acct", t0)
                .is_ok());
        }
        assert!(l
            .check(1, std::slice::from_ref(&a), 1, "c", "acct", t0)
            .is_err());
        // Version 2 adds a policy before it (the limit moves to slot 1): still empty.
        let v2 = [other.clone(), a.clone()];
        assert!(l.check(2, &v2, 0b10, "c", "acct", t0).is_err());
        // Requests finishing on version 1 after version 2 was seen reset nothing, and
        // version 2 after them still sees the empty bucket (no flip-flop).
        assert!(l
            .check(1, std::slice::from_ref(&a), 1, "c", "acct", t0)
            .is_err());
        assert!(l.check(2, &v2, 0b10, "c", "acct", t0).is_err());
        // Version 3 raises the burst: a changed limit takes effect, from a full bucket.
        let mut raised = a.clone();
        raised.burst = 5.0;
        for i in 0..5 {
            assert!(
                l.check(3, std::slice::from_ref(&raised), 1, "c", "acct", t0)
                    .is_ok(),
                "request {i} under the raised burst"
            );
        }
        assert!(l
            .check(3, std::slice::from_ref(&raised), 1, "c", "acct", t0)
            .is_err());
        // The old limit's buckets were dropped when version 3 was first seen.
        assert_eq!(l.len(), 1);
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
