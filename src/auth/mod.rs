//! Authentication of integration clients: HTTP Basic (issued API username + password) and
//! issued x-api-keys.
//!
//! Input: the raw `Authorization` / `x-api-key` header values and the current
//! [`DirectoryView`]. Output: a [`Principal`] (which credential, which account) or a
//! [`Deny`] with one of `auth.missing`, `auth.invalid`, `auth.locked`, `auth.busy`,
//! `credential.revoked`, `account.suspended`. How failed proofs are slowed, locked out and
//! kept from burning argon2 time: `proof.rs`.
//!
//! Order matters for what an attacker can learn: the secret is verified *before* the
//! credential's state is looked at, so `credential.revoked` and `account.suspended` are only
//! ever told to someone who holds the right secret. An unknown username costs the same argon2
//! work as a known one (a dummy verification), so timing does not reveal which usernames exist.

pub mod cache;
pub mod hashing;
pub mod lockout;
pub mod presented;
mod proof;
mod shared_lockout;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use crate::crypto::{KeyedHasher, PasswordHasher};
use crate::directory::{AccountIdx, CredentialIdx, DirectoryView};
use crate::jwt::inbound::{InboundCache, InboundTrust, OracleIdentity};
use crate::jwt::JwtError;
use crate::refusal::{Deny, Reason};
use cache::{FailedCache, VerifiedCache};

/// How a caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// HTTP Basic with an issued API username and password.
    Basic,
    /// An issued x-api-key.
    ApiKey,
    /// A JWT Oracle Fusion issued to a user, verified against the tenant's trusted certificates.
    OracleJwt,
    /// A gateway token from `POST /gateway/token`.
    GatewayToken,
    /// A browser session started by a verified Page Integration launch token.
    BrowserSession,
}

impl AuthKind {
    /// Short name for the audit trail and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Basic => "basic",
            AuthKind::ApiKey => "api_key",
            AuthKind::OracleJwt => "oracle_jwt",
            AuthKind::GatewayToken => "gateway_token",
            AuthKind::BrowserSession => "browser_session",
        }
    }
}

/// Who the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An integration account, through one of its credential sets.
    Account {
        /// The credential set used.
        credential: CredentialIdx,
        /// The account it belongs to.
        account: AccountIdx,
    },
    /// An Oracle user, by a verified Oracle token.
    OracleUser(Arc<OracleIdentity>),
}

/// An authenticated caller, valid for the [`DirectoryView`] it was resolved against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// How the caller authenticated.
    pub kind: AuthKind,
    /// Who it is.
    pub caller: Caller,
    /// Whether the proof was confirmed from a cache (no argon2 / RSA this time).
    pub cache_hit: bool,
    /// The gateway token's public id, when one was used.
    pub token: Option<String>,
}

impl Principal {
    /// The credential set, for account callers.
    pub fn credential(&self) -> Option<CredentialIdx> {
        match &self.caller {
            Caller::Account { credential, .. } => Some(*credential),
            Caller::OracleUser(_) => None,
        }
    }

    /// The account, for account callers.
    pub fn account(&self) -> Option<AccountIdx> {
        match &self.caller {
            Caller::Account { account, .. } => Some(*account),
            Caller::OracleUser(_) => None,
        }
    }

    /// The verified Oracle user, for token callers.
    pub fn oracle_user(&self) -> Option<&OracleIdentity> {
        match &self.caller {
            Caller::OracleUser(id) => Some(id),
            Caller::Account { .. } => None,
        }
    }
}

/// Settings for the [`Authenticator`].
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// How long a verified Basic credential is trusted without re-running argon2.
    pub cache_ttl: Duration,
    /// Maximum cache entries.
    pub cache_capacity: usize,
    /// Maximum concurrent argon2 verifications (each holds ~19 MiB and a blocking thread).
    pub max_concurrent_hashes: usize,
    /// Maximum argon2 verifications waiting for a turn; beyond it, 503 `auth.busy` at once.
    pub max_queued_hashes: usize,
    /// How long a wrong (credential, secret) pair is remembered so it costs no argon2 again.
    /// (The lockout's settings are configuration: `gateway.token_*`, passed per request from
    /// the snapshot it runs under.)
    pub failure_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            cache_ttl: Duration::from_secs(300),
            cache_capacity: 100_000,
            max_concurrent_hashes: 4,
            max_queued_hashes: 8,
            failure_ttl: Duration::from_secs(900),
        }
    }
}

/// Verifies presented credentials against the directory.
pub struct Authenticator {
    api_key_hasher: KeyedHasher,
    cache_hasher: KeyedHasher,
    passwords: Arc<PasswordHasher>,
    cache: VerifiedCache,
    /// Recently failed (credential, secret) pairs, as keyed hashes.
    failed: FailedCache,
    hashing: hashing::HashQueue,
    /// One verification per presented credential at a time: concurrent requests with the
    /// same credential (a client opening many connections at once) wait for the first and
    /// then hit the cache, instead of each running argon2.
    inflight: crate::sync::SingleFlight<[u8; 32]>,
    /// argon2 verifications run (cache misses), for metrics and tests.
    verifications: std::sync::atomic::AtomicU64,
    /// Verified Oracle user tokens.
    inbound: InboundCache,
    /// Keys the gateway tokens' stored hashes.
    token_hasher: KeyedHasher,
    /// Gateway tokens this process issued (until the directory view holds them).
    pub issued: tokens::IssuedTokens,
    /// Failed-attempt counters of Basic / x-api-key proofs (relay and token endpoint).
    pub lockout: lockout::Lockout,
    /// Where the failed-attempt counters are shared with the other gateways of the store
    /// (PostgreSQL; set once at start).
    pub shared: std::sync::OnceLock<Arc<dyn lockout::SharedFailures>>,
    /// Slots for calls to the shared counters ([`shared_lockout::SHARED_CALLS`]).
    shared_calls: tokio::sync::Semaphore,
    /// Oracle token signature verifications run (cache misses).
    jwt_verifications: std::sync::atomic::AtomicU64,
}

impl Authenticator {
    /// Builds an authenticator. `api_key_hasher` must be the key the credentials were issued
    /// under (`MasterKey::keyed_hasher(HashPurpose::ApiKey)`); `cache_hasher` and `inbound_hasher` any
    /// other derived keys (they key the verified-credential and verified-token caches);
    /// `lockout_hasher` keys the failed-attempt counters (`HashPurpose::Lockout`: the same on
    /// every gateway of one store, so their counters can be shared).
    pub fn new(
        api_key_hasher: KeyedHasher,
        cache_hasher: KeyedHasher,
        inbound_hasher: KeyedHasher,
        token_hasher: KeyedHasher,
        lockout_hasher: KeyedHasher,
        passwords: PasswordHasher,
        settings: &AuthSettings,
    ) -> Self {
        Authenticator {
            api_key_hasher,
            cache_hasher,
            passwords: Arc::new(passwords),
            cache: VerifiedCache::new(settings.cache_capacity, settings.cache_ttl),
            failed: FailedCache::new(settings.cache_capacity, settings.failure_ttl),
            hashing: hashing::HashQueue::new(
                settings.max_concurrent_hashes,
                settings.max_queued_hashes,
            ),
            inflight: crate::sync::SingleFlight::new(),
            verifications: std::sync::atomic::AtomicU64::new(0),
            inbound: InboundCache::new(inbound_hasher, settings.cache_capacity),
            token_hasher,
            issued: tokens::IssuedTokens::default(),
            lockout: lockout::Lockout::new(settings.cache_capacity, lockout_hasher),
            shared: std::sync::OnceLock::new(),
            shared_calls: tokio::sync::Semaphore::new(shared_lockout::SHARED_CALLS),
            jwt_verifications: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The password hasher, shared with the portal's logins so one work area serves both and
    /// one sweep frees it.
    pub fn passwords(&self) -> &Arc<PasswordHasher> {
        &self.passwords
    }

    /// Authenticates an Oracle user token (`Authorization: Bearer <JWT>`) against the
    /// tenants that trust Oracle tokens (`trust`, from configuration snapshot `version`).
    /// `now` is Unix seconds.
    pub fn oracle_token(
        &self,
        token: &str,
        trust: &[(usize, InboundTrust)],
        version: u64,
        now: i64,
    ) -> Result<Principal, Deny> {
        if trust.is_empty() {
            return Err(Deny::with_detail(
                Reason::AuthInvalid,
                "bearer_not_accepted",
            ));
        }
        let key = self.inbound.key(token.as_bytes());
        let max_skew = trust.iter().map(|(_, t)| t.skew).max().unwrap_or(0);
        if let Some(id) = self.inbound.get(&key, version, now, max_skew) {
            return Ok(Principal {
                kind: AuthKind::OracleJwt,
                caller: Caller::OracleUser(id),
                cache_hit: true,
                token: None,
            });
        }
        self.jwt_verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = crate::jwt::inbound::verify(token.as_bytes(), trust, now).map_err(|e| {
            Deny::with_detail(
                if e == JwtError::Expired {
                    Reason::AuthExpired
                } else {
                    Reason::AuthInvalid
                },
                e.as_str(),
            )
        })?;
        let id = Arc::new(id);
        self.inbound.insert(key, version, now, id.clone());
        Ok(Principal {
            kind: AuthKind::OracleJwt,
            caller: Caller::OracleUser(id),
            cache_hit: false,
            token: None,
        })
    }

    /// Authenticates a gateway token (`Authorization: Bearer egt_…`) against `view` (and the
    /// tokens this process issued since `view` was built). The token's credential set and
    /// account must still be active.
    pub fn gateway_token(
        &self,
        token: &str,
        view: &DirectoryView,
        now: i64,
    ) -> Result<Principal, Deny> {
        use tokens::TokenRefusal;
        let id = tokens::parse_id(token)
            .ok_or(Deny::with_detail(Reason::AuthInvalid, "token_malformed"))?;
        let issued;
        let stored = match view.token(id) {
            Some(t) => t,
            None => {
                issued = self.issued.get(id);
                issued
                    .as_ref()
                    .ok_or(Deny::with_detail(Reason::AuthInvalid, "token_unknown"))?
            }
        };
        tokens::check(&self.token_hasher, token, stored, now).map_err(|r| match r {
            TokenRefusal::Malformed | TokenRefusal::Unknown => {
                Deny::with_detail(Reason::AuthInvalid, "token_unknown")
            }
            TokenRefusal::Revoked => Deny::with_detail(Reason::CredentialRevoked, "token_revoked"),
            TokenRefusal::Expired => Deny::with_detail(Reason::AuthExpired, "token_expired"),
        })?;
        let idx = view
            .credential_by_id(&stored.credential_id)
            .ok_or(Deny::with_detail(
                Reason::AuthInvalid,
                "token_credential_unknown",
            ))?;
        let mut p = state(view, idx, AuthKind::GatewayToken, true)?;
        p.token = Some(stored.id.clone());
        Ok(p)
    }

    /// The keyed hasher of gateway tokens (for minting).
    pub fn token_hasher(&self) -> &KeyedHasher {
        &self.token_hasher
    }

    /// Oracle token signature verifications run so far (cache misses).
    pub fn jwt_verifications(&self) -> u64 {
        self.jwt_verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entries in the verified-credential cache.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// argon2 verifications run so far (each one a cache miss).
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The state checks after the secret was proven: credential active, account present and active.
fn state(
    view: &DirectoryView,
    idx: CredentialIdx,
    kind: AuthKind,
    cache_hit: bool,
) -> Result<Principal, Deny> {
    if !view.credential_active(idx) {
        return Err(Deny::new(Reason::CredentialRevoked));
    }
    let account = view
        .account_of(idx)
        .ok_or(Deny::with_detail(Reason::AuthInvalid, "account_missing"))?;
    if !view.account_active(account) {
        return Err(Deny::new(Reason::AccountSuspended));
    }
    Ok(Principal {
        kind,
        caller: Caller::Account {
            credential: idx,
            account,
        },
        cache_hit,
        token: None,
    })
}

#[cfg(test)]
mod tests;
