//! Slowing down and then locking out repeated failed proofs of an issued credential (HTTP
//! Basic, x-api-key — on the relay and at `POST /gateway/token` alike), per credential and per
//! client address, so neither can be used to guess secrets or to burn argon2 time: each
//! failure within the window delays the answer longer (250 ms, 500 ms, 1 s, 2 s …); the
//! `max_failures`-th locks the key for `lock_for` (429 `auth.locked`).
//!
//! Unproven attempts are *reserved* before their verification runs ([`Lockout::begin`]): a
//! key never has more verifications outstanding than the failures it may still make, so a
//! burst of concurrent guesses cannot all be evaluated before the first failures lock it.
//! The lock is checked again when a verification succeeds ([`Lockout::finish`]), so a right
//! guess that finishes after the lock engaged is refused too.
//!
//! Keys are a credential ([`LockKey::Credential`], a keyed hash of its stable id, or of the
//! username / key id presented when no such credential exists) and a client address
//! ([`LockKey::Address`], a keyed hash of it, IPv6 by its /64: one host usually holds the
//! whole prefix). No key holds a secret, a name or an address. The hash key derives from the
//! master key's hash root, so every gateway on one store computes the same keys: on
//! PostgreSQL the counters are shared ([`SharedFailures`], [`Lockout::absorb`]), and guesses
//! spread over several gateways lock as soon as they would on one.
//!
//! The table holds counters, not settings: every call takes the [`LockoutSettings`] of the
//! configuration snapshot its request runs under, so a reload changes them in the same swap as
//! everything else and keeps every counter and lock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lockout settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutSettings {
    /// Failures within `window` that lock a key.
    pub max_failures: u32,
    /// How long a locked key stays locked.
    pub lock_for: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        LockoutSettings {
            max_failures: 5,
            lock_for: Duration::from_secs(300),
            window: Duration::from_secs(900),
        }
    }
}

/// What a failure counter is kept for: a keyed hash, the same on every gateway of a store.
/// Keys are equal when their bytes are (what a credential's and an address's hash are taken
/// over differs, so they never collide; a lock learnt from the store by bytes alone finds
/// its entry whichever kind it is).
#[derive(Clone, Copy, Debug)]
pub enum LockKey {
    /// A credential (see [`Lockout::credential_key`]).
    Credential([u8; 16]),
    /// A client address (see [`Lockout::address_key`]).
    Address([u8; 16]),
}

impl PartialEq for LockKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for LockKey {}

impl std::hash::Hash for LockKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl LockKey {
    /// The key as the shared store holds it.
    pub fn bytes(&self) -> [u8; 16] {
        match self {
            LockKey::Credential(b) | LockKey::Address(b) => *b,
        }
    }
}

/// A key's counters as every gateway of the store sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedState {
    /// The key ([`LockKey::bytes`]).
    pub key: [u8; 16],
    /// Failures within the current window.
    pub failures: u32,
    /// How much longer the key is locked (zero: not locked).
    pub locked_for: Duration,
}

/// The shared store's answer to a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharedReservation {
    /// Verify (the attempt already counts as a failure there); the counters after.
    Granted(Vec<SharedState>),
    /// A key is locked for this much longer.
    Locked(Duration),
    /// A key has as many failures and verifications in flight as it may.
    Busy,
}

/// Failure counters kept where every gateway sees them (PostgreSQL). Calls block: run them
/// off the async workers.
pub trait SharedFailures: Send + Sync {
    /// The counters of `keys` (keys without failures are absent).
    fn state(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String>;
    /// Counts one failure that ran no reserved verification against each of `keys`.
    fn count(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String>;
    /// Reserves a verification against every gateway's counters.
    fn reserve(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<SharedReservation, String>;
    /// A reserved verification failed; the counters after (a key may now be locked).
    fn fail(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String>;
    /// A reserved verification succeeded: `Some(remaining)` when a key got locked first.
    fn succeed(
        &self,
        credential: [u8; 16],
        address: [u8; 16],
        settings: LockoutSettings,
    ) -> Result<Option<Duration>, String>;
    /// Every key locked now (applied to each gateway's table by its store poller).
    fn locked(&self) -> Result<Vec<SharedState>, String>;
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    /// Verifications begun and not finished.
    pending: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Why an attempt may not be verified now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A key is locked for this many more seconds.
    Locked(u32),
    /// A key has as many verifications outstanding as failures left (or the table is full of
    /// locks and verifications in progress): retry shortly.
    Busy,
}

/// How a begun verification ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The secret was right.
    Succeeded,
    /// The secret was wrong.
    Failed,
    /// Not evaluated (refused before verification, or an internal error).
    Abandoned,
}

/// Failure counters by key, bounded.
pub struct Lockout {
    map: Mutex<HashMap<LockKey, Entry>>,
    capacity: usize,
    hasher: crate::crypto::KeyedHasher,
    base: Instant,
    /// The latest `locked_until` ever set, in nanoseconds since `base`: while the clock is past
    /// it nothing is locked, and a verified-cache hit checks no table (one atomic load).
    locked_any_until: AtomicU64,
}

/// The longest delay applied to a failed attempt before lockout.
const MAX_DELAY: Duration = Duration::from_secs(2);

impl Lockout {
    /// Counters for at most `capacity` keys, keyed under `hasher`
    /// ([`crate::crypto::HashPurpose::Lockout`]).
    pub fn new(capacity: usize, hasher: crate::crypto::KeyedHasher) -> Lockout {
        Lockout {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
            hasher,
            base: Instant::now(),
            locked_any_until: AtomicU64::new(0),
        }
    }

    /// The key of a credential: `kind` says what `id` is (`b"cred"` for a stable credential
    /// id, `b"user"` / `b"key"` for an identifier that names no credential).
    pub fn credential_key(&self, kind: &[u8], id: &[u8]) -> LockKey {
        LockKey::Credential(self.key16(&[b"credential", kind, id]))
    }

    fn key16(&self, parts: &[&[u8]]) -> [u8; 16] {
        let full = self.hasher.hash_parts(parts);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// The key of a client address: IPv4 (and IPv4-mapped IPv6) by address, IPv6 by /64.
    pub fn address_key(&self, ip: Option<IpAddr>) -> LockKey {
        let ip = match ip {
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            Some(v4) => v4,
            None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let octets = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        LockKey::Address(self.key16(&[b"address", &octets]))
    }

    /// Takes in what the shared store knows of `keys` (`states`, from
    /// [`SharedFailures`]): a key's failures rise to the store's count, and a lock there
    /// locks it here. Returns `Err(seconds)` when one of them is locked now.
    pub fn absorb(
        &self,
        keys: &[LockKey],
        states: &[SharedState],
        now: Instant,
        s: LockoutSettings,
    ) -> Result<(), u32> {
        let Ok(mut map) = self.map.lock() else {
            return Err(1);
        };
        for st in states {
            let Some(k) = keys.iter().find(|k| k.bytes() == st.key) else {
                continue;
            };
            if !map.contains_key(k) && !self.make_room(&mut map, &[*k], now, s) {
                continue;
            }
            let e = map.entry(*k).or_insert_with(|| fresh(now));
            expire_window(e, now, s);
            e.failures = e.failures.max(st.failures);
            if !st.locked_for.is_zero() && e.locked_until.is_none_or(|u| u < now + st.locked_for) {
                self.lock_entry(e, now + st.locked_for);
            }
        }
        locked(&map, keys, now)
    }

    /// Applies locks engaged on other gateways (the store poller's sync, [`SharedFailures::locked`]).
    /// A key not tracked here is tracked from now on (the table's bound still holds).
    pub fn absorb_locks(&self, states: &[SharedState], now: Instant, s: LockoutSettings) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        for st in states.iter().filter(|st| !st.locked_for.is_zero()) {
            // Which kind it is does not matter for a lock: keys compare by bytes.
            let k = LockKey::Credential(st.key);
            if !map.contains_key(&k) && !self.make_room(&mut map, &[k], now, s) {
                continue;
            }
            let e = map.entry(k).or_insert_with(|| fresh(now));
            e.failures = e.failures.max(st.failures);
            if e.locked_until.is_none_or(|u| u < now + st.locked_for) {
                self.lock_entry(e, now + st.locked_for);
            }
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether no key can be locked at `now` (lock-free).
    pub fn none_locked(&self, now: Instant) -> bool {
        self.nanos(now) >= self.locked_any_until.load(Ordering::Acquire)
    }

    fn lock_entry(&self, e: &mut Entry, until: Instant) {
        e.locked_until = Some(until);
        self.locked_any_until
            .fetch_max(self.nanos(until), Ordering::AcqRel);
    }

    /// `Err(seconds)` when any of `keys` is locked at `now`.
    pub fn check(&self, keys: &[LockKey], now: Instant) -> Result<(), u32> {
        if self.none_locked(now) {
            return Ok(());
        }
        let Ok(map) = self.map.lock() else {
            return Err(1);
        };
        locked(&map, keys, now)
    }

    /// Reserves a verification for each of `keys`, unless one is locked or already has as
    /// many verifications outstanding as failures left. Every `Ok` must be followed by one
    /// [`Lockout::finish`] with the same keys.
    pub fn begin(&self, keys: &[LockKey], now: Instant, s: LockoutSettings) -> Result<(), Refusal> {
        let Ok(mut map) = self.map.lock() else {
            return Err(Refusal::Busy);
        };
        locked(&map, keys, now).map_err(Refusal::Locked)?;
        if !self.make_room(&mut map, keys, now, s) {
            return Err(Refusal::Busy);
        }
        for k in keys {
            if let Some(e) = map.get_mut(k) {
                expire_window(e, now, s);
                if e.failures.saturating_add(e.pending) >= s.max_failures {
                    return Err(Refusal::Busy);
                }
            }
        }
        for k in keys {
            map.entry(*k).or_insert_with(|| fresh(now)).pending += 1;
        }
        Ok(())
    }

    /// Ends a verification begun with [`Lockout::begin`]. A failure counts against every key
    /// and returns how long to delay the answer, or `Err(seconds)` when it locked a key. A
    /// success returns `Err(seconds)` if a key got locked meanwhile (refuse it: the lock
    /// came first), else clears the credential's counter (never an address's).
    pub fn finish(
        &self,
        keys: &[LockKey],
        outcome: Outcome,
        now: Instant,
        s: LockoutSettings,
    ) -> Result<Duration, u32> {
        let Ok(mut map) = self.map.lock() else {
            return Err(1);
        };
        for k in keys {
            if let Some(e) = map.get_mut(k) {
                e.pending = e.pending.saturating_sub(1);
            }
        }
        let result = match outcome {
            Outcome::Abandoned => Ok(Duration::ZERO),
            Outcome::Failed => self.count_failure(&mut map, keys, now, s),
            Outcome::Succeeded => locked(&map, keys, now).map(|()| {
                for k in keys.iter().filter(|k| matches!(k, LockKey::Credential(_))) {
                    if let Some(e) = map.get_mut(k) {
                        e.failures = 0;
                    }
                }
                Duration::ZERO
            }),
        };
        // A counter left with nothing to count (an attempt abandoned or proven with no
        // failure behind it) takes no room in the table.
        for k in keys {
            if map
                .get(k)
                .is_some_and(|e| e.failures == 0 && e.pending == 0 && e.locked_until.is_none())
            {
                map.remove(k);
            }
        }
        result
    }

    /// Counts a failure that needed no reserved verification (an x-api-key mismatch, a
    /// repeated wrong secret from the failure cache): the delay, or `Err(seconds)` when it
    /// locked a key.
    pub fn failed(
        &self,
        keys: &[LockKey],
        now: Instant,
        s: LockoutSettings,
    ) -> Result<Duration, u32> {
        let Ok(mut map) = self.map.lock() else {
            return Ok(MAX_DELAY);
        };
        self.count_failure(&mut map, keys, now, s)
    }

    fn count_failure(
        &self,
        map: &mut HashMap<LockKey, Entry>,
        keys: &[LockKey],
        now: Instant,
        s: LockoutSettings,
    ) -> Result<Duration, u32> {
        if !self.make_room(map, keys, now, s) {
            // Still full of live counters: delay everyone; unbounded growth is not an option.
            tracing::warn!("lockout table full; new keys are not tracked");
            return Ok(MAX_DELAY);
        }
        let mut most = 0;
        for k in keys {
            let e = map.entry(*k).or_insert_with(|| fresh(now));
            expire_window(e, now, s);
            e.failures = e.failures.saturating_add(1);
            if e.failures >= s.max_failures && e.locked_until.is_none_or(|u| u <= now) {
                self.lock_entry(e, now + s.lock_for);
            }
            most = most.max(e.failures);
        }
        if most >= s.max_failures {
            return Err(s.lock_for.as_secs().clamp(1, u64::from(u32::MAX)) as u32);
        }
        let exp = most.saturating_sub(1).min(8);
        Ok((Duration::from_millis(250) * 2u32.pow(exp)).min(MAX_DELAY))
    }

    /// Makes room for `keys`' entries; false when the table is full of live counters.
    fn make_room(
        &self,
        map: &mut HashMap<LockKey, Entry>,
        keys: &[LockKey],
        now: Instant,
        s: LockoutSettings,
    ) -> bool {
        let missing = keys.iter().filter(|k| !map.contains_key(*k)).count();
        if map.len() + missing <= self.capacity {
            return true;
        }
        map.retain(|_, e| {
            e.pending > 0
                || now.duration_since(e.since) < s.window
                || e.locked_until.is_some_and(|u| u > now)
        });
        if map.len() + missing <= self.capacity {
            return true;
        }
        // Still full of live counters (a flood of new identifiers or addresses): the ones with
        // the fewest failures give way, never a lock and never one mid-verification, a tenth
        // of the table at once so a flood pays for one sweep per tenth. Only a table full of
        // locks and pending verifications refuses.
        let mut candidates: Vec<(u32, LockKey)> = map
            .iter()
            .filter(|(k, e)| {
                e.pending == 0 && e.locked_until.is_none_or(|u| u <= now) && !keys.contains(k)
            })
            .map(|(k, e)| (e.failures, *k))
            .collect();
        let want = (map.len() + missing - self.capacity + self.capacity / 10).min(candidates.len());
        if want < candidates.len() {
            candidates.select_nth_unstable_by_key(want, |c| c.0);
        }
        for (_, k) in candidates.iter().take(want) {
            map.remove(k);
        }
        map.len() + missing <= self.capacity
    }

    /// Keys tracked (for tests).
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn fresh(now: Instant) -> Entry {
    Entry {
        failures: 0,
        pending: 0,
        since: now,
        locked_until: None,
    }
}

/// Forgets failures older than the window (a lock runs its course first); a lock that ran
/// its course leaves one failure of budget: the next failure locks again.
fn expire_window(e: &mut Entry, now: Instant, s: LockoutSettings) {
    if e.locked_until.is_some_and(|u| u <= now) {
        e.locked_until = None;
        e.failures = e.failures.min(s.max_failures.saturating_sub(1));
    }
    if now.duration_since(e.since) >= s.window && e.locked_until.is_none_or(|u| u <= now) {
        e.failures = 0;
        e.since = now;
        e.locked_until = None;
    }
}

fn locked(map: &HashMap<LockKey, Entry>, keys: &[LockKey], now: Instant) -> Result<(), u32> {
    let worst = keys
        .iter()
        .filter_map(|k| map.get(k)?.locked_until)
        .filter(|until| *until > now)
        .max();
    match worst {
        Some(until) => Err(until.duration_since(now).as_secs().max(1) as u32),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
