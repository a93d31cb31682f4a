//! The outbound assertion cache: one signed JWT per (tenant key, issuer, audience, user),
//! reused until less than a fifth of its lifetime is left, with at most one signing in
//! flight per entry (concurrent requests for the same user wait for it). RSA signing never
//! happens per request, and never on an async worker: it runs on the blocking pool (a
//! PKCS#11 token's signature is a call into a library that may wait on a network HSM, and
//! a software RSA signature takes about a millisecond). The cache is bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use http::HeaderValue;

use super::{sign, AssertionClaims, SigningKey};

/// What an assertion asserts, and how long it lives.
#[derive(Clone, Copy, Debug)]
pub struct AssertionSpec<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// The signing certificate's `x5t` (a rotated key never reuses an old entry).
    pub x5t: &'a str,
    /// Trusted-issuer name registered in Oracle.
    pub issuer: &'a str,
    /// Audience, when configured.
    pub audience: Option<&'a str>,
    /// The Oracle user.
    pub user: &'a str,
    /// Lifetime in seconds.
    pub lifetime: i64,
}

struct Entry {
    header: HeaderValue,
    refresh_at: i64,
    exp: i64,
}

/// Signed assertions, ready as `Authorization` header values (marked sensitive).
pub struct AssertionCache {
    capacity: usize,
    map: Mutex<HashMap<String, Entry>>,
    inflight: crate::sync::SingleFlight<String>,
    signings: AtomicU64,
    hits: AtomicU64,
}

impl AssertionCache {
    /// A cache of at most `capacity` assertions.
    pub fn new(capacity: usize) -> AssertionCache {
        AssertionCache {
            capacity: capacity.max(1),
            map: Mutex::new(HashMap::new()),
            inflight: crate::sync::SingleFlight::new(),
            signings: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    fn key(spec: &AssertionSpec<'_>) -> String {
        let mut k = String::with_capacity(
            spec.tenant.len() + spec.x5t.len() + spec.issuer.len() + spec.user.len() + 48,
        );
        for part in [
            spec.tenant,
            spec.x5t,
            spec.issuer,
            spec.audience.unwrap_or(""),
            spec.user,
        ] {
            k.push_str(part);
            k.push('\0');
        }
        k.push_str(&spec.lifetime.to_string());
        k
    }

    fn fresh(&self, key: &str, now: i64) -> Option<HeaderValue> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|e| now < e.refresh_at)
            .map(|e| e.header.clone())
    }

    /// The `Authorization: Bearer …` value for `spec` at `now` (Unix seconds). On a miss,
    /// `load_key` provides the tenant's signing key (opened from the store) and one signing
    /// runs; concurrent callers for the same entry wait for it.
    pub async fn get(
        &self,
        spec: &AssertionSpec<'_>,
        now: i64,
        load_key: impl FnOnce() -> Result<SigningKey, String>,
    ) -> Result<HeaderValue, String> {
        let key = Self::key(spec);
        if let Some(h) = self.fresh(&key, now) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(h);
        }
        self.inflight
            .run(&key, async {
                match self.fresh(&key, now) {
                    Some(h) => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        Ok(h)
                    }
                    None => self.sign_into(key.clone(), spec, now, load_key).await,
                }
            })
            .await
    }

    async fn sign_into(
        &self,
        key: String,
        spec: &AssertionSpec<'_>,
        now: i64,
        load_key: impl FnOnce() -> Result<SigningKey, String>,
    ) -> Result<HeaderValue, String> {
        let signing_key = load_key()?;
        let jti = crate::crypto::random_id("jti", 12).map_err(|e| e.to_string())?;
        let exp = now + spec.lifetime;
        let (issuer, user, audience) = (
            spec.issuer.to_owned(),
            spec.user.to_owned(),
            spec.audience.map(str::to_owned),
        );
        let token = tokio::task::spawn_blocking(move || {
            let claims = AssertionClaims {
                iss: &issuer,
                prn: &user,
                sub: &user,
                aud: audience.as_deref(),
                iat: now,
                exp,
                jti: &jti,
            };
            sign(&signing_key, &claims)
        })
        .await
        .map_err(|e| format!("the signing task did not finish: {e}"))??;
        self.signings.fetch_add(1, Ordering::Relaxed);
        let mut value = zeroize::Zeroizing::new(String::with_capacity(token.len() + 7));
        value.push_str("Bearer ");
        value.push_str(&token);
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| "assertion is not header-safe".to_string())?;
        header.set_sensitive(true);
        let entry = Entry {
            header: header.clone(),
            refresh_at: now + spec.lifetime - spec.lifetime / 5,
            exp,
        };
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.retain(|_, e| e.exp > now);
                if map.len() >= self.capacity {
                    map.clear();
                }
            }
            map.insert(key, entry);
        }
        Ok(header)
    }

    /// Assertions signed so far (cache misses).
    pub fn signings(&self) -> u64 {
        self.signings.load(Ordering::Relaxed)
    }

    /// Assertions served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
