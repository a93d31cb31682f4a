//! Inbound Oracle user tokens: which tenant trusts the issuer, signature against that
//! tenant's trusted certificates, then the time and audience claims; verified identities
//! are cached by the token's keyed hash until `exp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::{split, Certificate, JwtError};
use crate::crypto::KeyedHasher;

/// One trusted Oracle certificate; `alias` is what a token's `kid` may name.
#[derive(Clone, Debug)]
pub struct TrustedCert {
    /// Name a `kid` may use (the configured alias, or the file stem).
    pub alias: String,
    /// The certificate.
    pub cert: Certificate,
}

/// What a tenant trusts for inbound user tokens (compiled from `[tenants.T.inbound_jwt]`).
#[derive(Clone, Debug)]
pub struct InboundTrust {
    /// Accepted `iss` values (exact).
    pub issuers: Vec<String>,
    /// Certificates whose signatures are accepted (several during rotation).
    pub certs: Vec<TrustedCert>,
    /// Required audience, when set.
    pub audience: Option<String>,
    /// An audience that refuses the token (the tenant's Page Integration launch audience, on
    /// the Bearer path: a launch token is not a Bearer credential).
    pub refused_audience: Option<String>,
    /// Allowed clock skew for `exp`, `nbf`, `iat` (seconds).
    pub skew: i64,
    /// Longest token accepted (bytes).
    pub max_token_bytes: usize,
    /// The claim holding the user's roles, when tokens carry them.
    pub roles_claim: Option<String>,
}

/// A verified Oracle user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OracleIdentity {
    /// The tenant whose trust verified it (index into the snapshot's tenants).
    pub tenant: usize,
    /// The user (`prn`, else `sub`).
    pub user: String,
    /// Role names from the configured roles claim.
    pub roles: Vec<String>,
    /// `exp` (Unix seconds).
    pub exp: i64,
}

/// The most bytes of a user name or role we accept.
const MAX_NAME: usize = 256;
/// The most roles we read from one token.
const MAX_ROLES: usize = 256;

/// Verifies `token` for the tenant trusting its issuer. `tenants` are (tenant index, trust)
/// pairs; the unverified `iss` only *selects* the tenant, whose certificates must then
/// verify the signature before any claim is believed.
pub fn verify(
    token: &[u8],
    tenants: &[(usize, InboundTrust)],
    now: i64,
) -> Result<OracleIdentity, JwtError> {
    let max = tenants
        .iter()
        .map(|(_, t)| t.max_token_bytes)
        .max()
        .ok_or(JwtError::UnknownKey)?;
    let compact = split(token, max)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&compact.payload).map_err(|_| JwtError::Malformed)?;
    let iss = match claims.get("iss") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(JwtError::Malformed),
        None => return Err(JwtError::MissingClaim),
    };
    let (tenant, trust) = tenants
        .iter()
        .find(|(_, t)| t.issuers.iter().any(|i| i == iss))
        .ok_or(JwtError::Issuer)?;
    if token.len() > trust.max_token_bytes {
        return Err(JwtError::TooLarge);
    }
    let selector = |name: &str| match compact.header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(JwtError::Malformed),
    };
    let x5t = selector("x5t")?;
    let kid = selector("kid")?;
    let candidates: Vec<&Certificate> = trust
        .certs
        .iter()
        .filter(|c| match (x5t, kid) {
            (Some(t), _) => c.cert.x5t() == t,
            (None, Some(k)) => c.alias == k || c.cert.x5t() == k,
            (None, None) => true,
        })
        .map(|c| &c.cert)
        .collect();
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey);
    }
    if !candidates
        .iter()
        .any(|c| c.verify_rs256(compact.signing_input, &compact.signature))
    {
        return Err(JwtError::Signature);
    }

    // Signed by a trusted key: now the claims are believed, and checked.
    let exp = check_validity(&claims, trust, now)?;
    let user = ["prn", "sub"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .ok_or(JwtError::MissingClaim)?;
    if !name_ok(user) {
        return Err(JwtError::Malformed);
    }
    let roles = roles(&claims, trust)?;
    Ok(OracleIdentity {
        tenant: *tenant,
        user: user.to_string(),
        roles,
        exp,
    })
}

/// The time and audience claims of a verified token, checked with the trust's skew; its
/// `exp` when they pass.
fn check_validity(
    claims: &Map<String, Value>,
    trust: &InboundTrust,
    now: i64,
) -> Result<i64, JwtError> {
    let exp = numeric(claims, "exp")?.ok_or(JwtError::MissingClaim)?;
    if now > exp.saturating_add(trust.skew) {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = numeric(claims, "nbf")? {
        if nbf > now.saturating_add(trust.skew) {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iat) = numeric(claims, "iat")? {
        if iat > now.saturating_add(trust.skew) {
            return Err(JwtError::IssuedInFuture);
        }
    }
    if let Some(refused) = &trust.refused_audience {
        if names_audience(claims, refused) {
            return Err(JwtError::LaunchAudience);
        }
    }
    if let Some(want) = &trust.audience {
        if !names_audience(claims, want) {
            return Err(JwtError::Audience);
        }
    }
    Ok(exp)
}

/// Whether the token's `aud` (one string or a list) names `want`.
fn names_audience(claims: &Map<String, Value>, want: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == want,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
        _ => false,
    }
}

/// The roles the trust's `roles_claim` names (none without one): a name or a list of names.
fn roles(claims: &Map<String, Value>, trust: &InboundTrust) -> Result<Vec<String>, JwtError> {
    Ok(
        match trust.roles_claim.as_deref().and_then(|c| claims.get(c)) {
            None => Vec::new(),
            Some(Value::String(r)) if name_ok(r) => vec![r.clone()],
            Some(Value::Array(list)) if list.len() <= MAX_ROLES => list
                .iter()
                .map(|r| r.as_str().filter(|r| name_ok(r)).map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::Malformed)?,
            Some(_) => return Err(JwtError::Malformed),
        },
    )
}

fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control)
}

/// A NumericDate claim: absent, or an integer (a fractional value is truncated).
fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(JwtError::Malformed),
        Some(_) => Err(JwtError::Malformed),
    }
}

/// Verified tokens by keyed hash, until their `exp`; bounded; emptied when the configuration
/// changes (trust may have been withdrawn).
pub struct InboundCache {
    hasher: KeyedHasher,
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    version: u64,
    map: HashMap<[u8; 32], Arc<OracleIdentity>>,
}

impl InboundCache {
    /// A cache of at most `capacity` tokens, keyed under `hasher`.
    pub fn new(hasher: KeyedHasher, capacity: usize) -> InboundCache {
        InboundCache {
            hasher,
            capacity: capacity.max(1),
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The cache key of `token`.
    pub fn key(&self, token: &[u8]) -> [u8; 32] {
        self.hasher.hash(token)
    }

    /// The identity verified for `key` under snapshot `version`, if still before its `exp`
    /// (plus `skew`).
    pub fn get(
        &self,
        key: &[u8; 32],
        version: u64,
        now: i64,
        skew: i64,
    ) -> Option<Arc<OracleIdentity>> {
        let inner = self.inner.lock().ok()?;
        if inner.version != version {
            return None;
        }
        inner
            .map
            .get(key)
            .filter(|id| now <= id.exp.saturating_add(skew))
            .cloned()
    }

    /// Remembers a verified identity.
    pub fn insert(&self, key: [u8; 32], version: u64, now: i64, id: Arc<OracleIdentity>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        // Only a newer snapshot starts the cache over: a request still finishing on an older
        // one neither clears what the newer one verified nor fills the cache for itself.
        match version.cmp(&inner.version) {
            std::cmp::Ordering::Greater => {
                inner.map.clear();
                inner.version = version;
            }
            std::cmp::Ordering::Less => return,
            std::cmp::Ordering::Equal => {}
        }
        if inner.map.len() >= self.capacity {
            inner.map.retain(|_, v| v.exp >= now);
            if inner.map.len() >= self.capacity {
                // Still full of live tokens: start over rather than grow.
                inner.map.clear();
            }
        }
        inner.map.insert(key, id);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.map.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn requests_on_an_older_snapshot_do_not_clear_the_cache() {
        let c = InboundCache::new(KeyedHasher::from_raw(&[3u8; 32]), 10);
        let id = |user: &str| {
            Arc::new(OracleIdentity {
                tenant: 0,
                user: user.into(),
                roles: Vec::new(),
                exp: 2_000,
            })
        };
        let (k1, k2) = (c.key(b"t1"), c.key(b"t2"));
        c.insert(k1, 2, 1_000, id("a"));
        // A request that started before the reload finishes on version 1.
        c.insert(k2, 1, 1_000, id("b"));
        assert!(
            c.get(&k1, 2, 1_000, 0).is_some(),
            "version 2's entry survives"
        );
        assert!(c.get(&k2, 2, 1_000, 0).is_none());
        assert!(
            c.get(&k1, 1, 1_000, 0).is_none(),
            "never served to an older snapshot"
        );
        // A newer snapshot starts over (trust may have been withdrawn).
        c.insert(k2, 3, 1_000, id("b"));
        assert!(c.get(&k1, 3, 1_000, 0).is_none());
        assert_eq!(c.len(), 1);
    }
}
