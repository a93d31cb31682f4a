//! Proof of an issued credential — HTTP Basic (username + argon2id password) or an x-api-key
//! (keyed hash) — on the relay and at `POST /gateway/token` alike.
//!
//! The warm path is one keyed hash and one cache lookup: a secret verified within the cache
//! TTL costs no argon2, and while no lock is active anywhere (one atomic load) nothing else.
//! Everything else is guarded against abuse, per credential and per client address:
//! 1. a locked key is refused before any work (429 `auth.locked`, [`super::lockout`]);
//! 2. a wrong secret presented again within the failure cache's TTL costs no argon2
//!    ([`super::cache::FailedCache`], keyed hashes only) but still counts as a failure;
//! 3. a verification is reserved against the key's remaining failures (a burst from one
//!    address or against one credential gets at most that many argon2 runs; the rest get 503
//!    `auth.busy`), then waits for a bounded argon2 queue ([`super::hashing`]; full → 503
//!    `auth.busy` at once) and checks the lock again when its turn comes;
//! 4. after verification the lock is checked once more, so a right guess that finishes
//!    after the lock engaged is refused; a failure is delayed (250 ms, 500 ms, 1 s, 2 s) or
//!    locks the keys.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::lockout::{LockKey, Lockout, LockoutSettings, Outcome, Refusal};
use super::presented::Presented;
use super::{state, AuthKind, Authenticator, Principal};
use crate::crypto::parse_api_key;
use crate::directory::{CredentialIdx, DirectoryView};
use crate::refusal::{Deny, Reason};

/// A refusal, and how long to hold it back (failed proofs are answered late).
type Refused = (Deny, Duration);

/// The lockout keys of one proof and the settings (of the request's configuration snapshot)
/// they are judged by.
#[derive(Clone, Copy)]
struct Lock {
    keys: [LockKey; 2],
    settings: LockoutSettings,
}

/// A reserved verification; gives the reservation back unless finished.
struct Attempt<'a> {
    lockout: &'a Lockout,
    lock: Lock,
    done: bool,
}

impl Attempt<'_> {
    fn finish(mut self, outcome: Outcome, now: Instant) -> Result<Duration, u32> {
        self.done = true;
        self.lockout
            .finish(&self.lock.keys, outcome, now, self.lock.settings)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.lockout.finish(
                &self.lock.keys,
                Outcome::Abandoned,
                Instant::now(),
                self.lock.settings,
            );
        }
    }
}

fn locked(secs: u32) -> Deny {
    let mut d = Deny::with_detail(Reason::AuthLocked, "locked_out");
    d.retry_after = Some(secs);
    d
}

fn busy(detail: &'static str) -> Deny {
    let mut d = Deny::with_detail(Reason::AuthBusy, detail);
    d.retry_after = Some(1);
    d
}

fn shared_refusal(r: super::shared_lockout::SharedRefusal) -> Deny {
    use super::shared_lockout::SharedRefusal;
    match r {
        SharedRefusal::Locked(secs) => locked(secs),
        SharedRefusal::Busy => busy("attempts_in_flight"),
        SharedRefusal::Unavailable => busy("lockout_store_unavailable"),
    }
}

fn refusal(r: Refusal) -> Deny {
    match r {
        Refusal::Locked(secs) => locked(secs),
        Refusal::Busy => busy("attempts_in_flight"),
    }
}

fn wrong_basic(found: Option<CredentialIdx>) -> Deny {
    Deny::with_detail(
        Reason::AuthInvalid,
        if found.is_some() {
            "basic_wrong_password"
        } else {
            "basic_unknown_user"
        },
    )
}

impl Authenticator {
    /// Authenticates what the client presented against `view`; `client` is the client's
    /// address as the gateway determines it (`gateway.trusted_proxies`), the per-address key
    /// of the lockout; `lockout` the settings of the request's configuration snapshot.
    pub async fn authenticate(
        &self,
        presented: &Presented<'_>,
        view: &DirectoryView,
        client: Option<IpAddr>,
        lockout: LockoutSettings,
    ) -> Result<Principal, Deny> {
        let refused = match presented {
            Presented::Nothing => return Err(Deny::new(Reason::AuthMissing)),
            Presented::Bearer(_) => {
                return Err(Deny::with_detail(Reason::AuthInvalid, "bearer_unsupported"))
            }
            Presented::ApiKey(key) => self.api_key(key, view, client, lockout).await,
            Presented::Basic { .. } => {
                let (user, pass) = presented
                    .basic_parts()
                    .ok_or(Deny::new(Reason::AuthInvalid))?;
                self.basic(user, pass, view, client, lockout).await
            }
        };
        match refused {
            Ok(p) => Ok(p),
            Err((deny, delay)) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Err(deny)
            }
        }
    }

    /// The lockout keys of a proof: the credential (by its stable id when `found`, else by the
    /// identifier presented) and the client address.
    fn lock_keys(
        &self,
        view: &DirectoryView,
        found: Option<CredentialIdx>,
        kind: &[u8],
        presented_id: &[u8],
        client: Option<IpAddr>,
    ) -> [LockKey; 2] {
        let credential = match found.and_then(|idx| view.credential(idx)) {
            Some(c) => self.lockout.credential_key(b"cred", c.id.as_bytes()),
            None => self.lockout.credential_key(kind, presented_id),
        };
        [credential, self.lockout.address_key(client)]
    }

    /// Counts a failure in the shared counters after it was counted here (`refused`): a
    /// lock engaged there (guesses spread over several gateways) becomes the answer.
    async fn shared_failure(&self, lock: &Lock, refused: Refused) -> Refused {
        match self.push_failure(lock.keys, lock.settings).await {
            Ok(()) => refused,
            Err(secs) => (locked(secs), Duration::ZERO),
        }
    }

    /// Counts a failure that ran no reserved verification.
    fn failed_now(&self, lock: &Lock, now: Instant, deny: Deny) -> Refused {
        match self.lockout.failed(&lock.keys, now, lock.settings) {
            Ok(delay) => (deny, delay),
            Err(secs) => (locked(secs), Duration::ZERO),
        }
    }

    async fn api_key(
        &self,
        key: &str,
        view: &DirectoryView,
        client: Option<IpAddr>,
        settings: LockoutSettings,
    ) -> Result<Principal, Refused> {
        let malformed = || {
            (
                Deny::with_detail(Reason::AuthInvalid, "api_key_malformed"),
                Duration::ZERO,
            )
        };
        let parsed = parse_api_key(key).ok_or_else(malformed)?;
        let found = view.credential_by_key_id(parsed.id);
        // Compute the MAC whether or not the id exists: equal work either way.
        let mac = self.api_key_hasher.hash(key.as_bytes());
        let now = Instant::now();
        let matched = found.filter(|idx| {
            view.credential(*idx)
                .is_some_and(|c| crate::crypto::ct_eq(&mac, &c.api_key_hash))
        });
        let keys = || self.lock_keys(view, found, b"key", parsed.id.as_bytes(), client);
        if let Some(idx) = matched {
            // A proven issued key (256 random bits, checked by MAC) passes its credential's
            // lock: the lock is there to stop guessing, a key cannot be guessed, and refusing
            // it would let anyone who knows a key id keep the integration locked out. An
            // address that is locked for its own failures stays locked.
            if !self.lockout.none_locked(now) {
                let [_, address] = keys();
                self.lockout
                    .check(&[address], now)
                    .map_err(|s| (locked(s), Duration::ZERO))?;
            }
            return state(view, idx, AuthKind::ApiKey, false).map_err(|d| (d, Duration::ZERO));
        }
        let lock = Lock {
            keys: keys(),
            settings,
        };
        // This gateway's own lock first: a locked key costs no store round trip.
        self.lockout
            .check(&lock.keys, now)
            .map_err(|s| (locked(s), Duration::ZERO))?;
        self.pull_shared(lock.keys, settings)
            .await
            .map_err(|s| (locked(s), Duration::ZERO))?;
        let now = Instant::now();
        let detail = if found.is_some() {
            "api_key_mismatch"
        } else {
            "api_key_unknown"
        };
        let refused = self.failed_now(&lock, now, Deny::with_detail(Reason::AuthInvalid, detail));
        Err(self.shared_failure(&lock, refused).await)
    }

    async fn basic(
        &self,
        user: &[u8],
        pass: &[u8],
        view: &DirectoryView,
        client: Option<IpAddr>,
        settings: LockoutSettings,
    ) -> Result<Principal, Refused> {
        let now = Instant::now();
        let key = self.cache_hasher.hash_parts(&[b"basic", user, pass]);
        let username = std::str::from_utf8(user).ok();
        let found = username.and_then(|u| view.credential_by_username(u));
        let cached = |now| {
            let idx = found?;
            let id = self.cache.get(&key, now)?;
            view.credential(idx)
                .is_some_and(|c| c.id == id)
                .then_some(idx)
        };
        if let Some(idx) = cached(now) {
            if !self.lockout.none_locked(now) {
                let keys = self.lock_keys(view, found, b"user", user, client);
                self.lockout
                    .check(&keys, now)
                    .map_err(|s| (locked(s), Duration::ZERO))?;
            }
            return state(view, idx, AuthKind::Basic, true).map_err(|d| (d, Duration::ZERO));
        }
        let lock = Lock {
            keys: self.lock_keys(view, found, b"user", user, client),
            settings,
        };
        // Boxed: the slow path's state (argon2 hand-off, single-flight gate) would otherwise
        // make every request's future kilobytes larger, copied on every request.
        Box::pin(self.basic_uncached(key, lock, found, user, pass, view, &cached)).await
    }

    /// The cache missed: refuse a locked key, answer a known-wrong secret from the failure
    /// cache, else verify once per presented secret (single flight) and fill a cache.
    #[allow(clippy::too_many_arguments)]
    async fn basic_uncached(
        &self,
        key: [u8; 32],
        lock: Lock,
        found: Option<CredentialIdx>,
        user: &[u8],
        pass: &[u8],
        view: &DirectoryView,
        cached: &impl Fn(Instant) -> Option<CredentialIdx>,
    ) -> Result<Principal, Refused> {
        // This gateway's own lock first: a locked key costs no store round trip.
        self.lockout
            .check(&lock.keys, Instant::now())
            .map_err(|s| (locked(s), Duration::ZERO))?;
        self.pull_shared(lock.keys, lock.settings)
            .await
            .map_err(|s| (locked(s), Duration::ZERO))?;
        let now = Instant::now();
        // Keyed by the credential's stable id when it exists (by the username otherwise), so
        // an entry never outlives the question it answered.
        let failed_key = match found.and_then(|idx| view.credential(idx)) {
            Some(c) => self
                .cache_hasher
                .hash_parts(&[b"failed", b"cred", c.id.as_bytes(), pass]),
            None => self
                .cache_hasher
                .hash_parts(&[b"failed", b"user", user, pass]),
        };
        if self.failed.get(&failed_key, now).is_some() {
            let refused = self.failed_now(&lock, now, wrong_basic(found));
            return Err(self.shared_failure(&lock, refused).await);
        }
        // Single flight: the first request with this secret verifies; the others wait for it
        // and then find a cache filled.
        self.inflight
            .run(
                &key,
                self.verify_basic(key, failed_key, &lock, found, pass, view, cached),
            )
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn verify_basic(
        &self,
        key: [u8; 32],
        failed_key: [u8; 32],
        lock: &Lock,
        found: Option<CredentialIdx>,
        pass: &[u8],
        view: &DirectoryView,
        cached: &impl Fn(Instant) -> Option<CredentialIdx>,
    ) -> Result<Principal, Refused> {
        let plain = |d| (d, Duration::ZERO);
        let now = Instant::now();
        if let Some(idx) = cached(now) {
            self.lockout
                .check(&lock.keys, now)
                .map_err(|s| plain(locked(s)))?;
            return state(view, idx, AuthKind::Basic, true).map_err(plain);
        }
        if self.failed.get(&failed_key, now).is_some() {
            let refused = self.failed_now(lock, now, wrong_basic(found));
            return Err(self.shared_failure(lock, refused).await);
        }
        self.lockout
            .begin(&lock.keys, now, lock.settings)
            .map_err(|r| plain(refusal(r)))?;
        let attempt = Attempt {
            lockout: &self.lockout,
            lock: *lock,
            done: false,
        };
        // Reserved in every gateway's counters too (PostgreSQL): counted as a failure now.
        self.reserve_shared(lock.keys, lock.settings)
            .await
            .map_err(|r| plain(shared_refusal(r)))?;
        let turn = self
            .hashing
            .turn()
            .await
            .map_err(|_| plain(busy("verification_queue_full")))?;
        // The lock may have engaged while this waited for its turn.
        self.lockout
            .check(&lock.keys, Instant::now())
            .map_err(|s| plain(locked(s)))?;
        let phc = found
            .and_then(|idx| view.credential(idx))
            .map(|c| c.password_hash.clone());
        let ok = self.verify_password(pass, phc).await.map_err(plain)?;
        drop(turn);
        let now = Instant::now();
        match (found, ok) {
            (Some(idx), true) => {
                attempt
                    .finish(Outcome::Succeeded, now)
                    .map_err(|s| plain(locked(s)))?;
                if let Some(c) = view.credential(idx) {
                    self.cache.insert(key, c.id.clone(), now);
                }
                self.shared_succeeded(lock.keys, lock.settings)
                    .await
                    .map_err(|r| plain(shared_refusal(r)))?;
                state(view, idx, AuthKind::Basic, false).map_err(plain)
            }
            _ => {
                self.failed.insert(failed_key, (), now);
                let refused = match attempt.finish(Outcome::Failed, now) {
                    Ok(delay) => (wrong_basic(found), delay),
                    Err(secs) => plain(locked(secs)),
                };
                let refused = match self.shared_failed(lock.keys, lock.settings).await {
                    Ok(()) => refused,
                    Err(secs) => plain(locked(secs)),
                };
                if refused.0.reason == Reason::AuthLocked {
                    tracing::warn!("authentication: locked out after repeated failures");
                }
                Err(refused)
            }
        }
    }

    /// Runs argon2 off the async workers (the caller holds a [`super::hashing`] turn). With
    /// no hash (unknown user) it runs the dummy verification so timing does not tell.
    async fn verify_password(&self, pass: &[u8], phc: Option<String>) -> Result<bool, Deny> {
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hasher = self.passwords.clone();
        let pass = zeroize::Zeroizing::new(pass.to_vec());
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => hasher.verify(&pass, &phc),
            None => {
                hasher.verify_dummy(&pass);
                false
            }
        })
        .await
        .map_err(|_| Deny::new(Reason::Internal))
    }
}
