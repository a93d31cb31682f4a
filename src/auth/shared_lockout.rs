//! The failed-attempt counters of every gateway on one PostgreSQL store, in step with this
//! gateway's table around each unproven attempt:
//! - before it is judged, the store's counts and locks of its keys are taken in
//!   ([`Lockout::absorb`](super::lockout::Lockout::absorb));
//! - a Basic verification is *reserved* in the store before argon2 runs: it counts as a
//!   failure at once, and none is granted while the key has `max_failures` failures and
//!   reservations in the window, so guesses sent to every gateway at the same instant still
//!   get at most that many verifications in all;
//! - a failure that ran no verification (an x-api-key mismatch, a known-wrong secret) is
//!   counted there; a reserved one that failed may lock the key; one that succeeded gives its
//!   reservation back, unless a lock came first (then it is refused, as on one gateway).
//!
//! Locks engaged elsewhere also reach warm paths here through the store poller
//! ([`Lockout::absorb_locks`](super::lockout::Lockout::absorb_locks)). Only failures and
//! unproven attempts touch the store, off the async workers, at most [`SHARED_CALLS`] at a
//! time and each bounded by [`SHARED_WAIT`]: a verified-cache hit never does. When the store
//! cannot answer, an unproven Basic attempt is refused (503 `auth.busy`) rather than judged by
//! this gateway's counters alone.

use std::time::{Duration, Instant};

use super::lockout::{LockKey, LockoutSettings, SharedFailures, SharedReservation, SharedState};
use super::Authenticator;

/// A call to the shared counters that answers with counters.
type StoreCall =
    fn(&dyn SharedFailures, &[[u8; 16]], LockoutSettings) -> Result<Vec<SharedState>, String>;

/// How long an attempt waits for the shared counters.
const SHARED_WAIT: Duration = Duration::from_secs(2);

/// Store calls in flight at once per gateway; more are answered at once as unavailable (a
/// flood of failures must not queue behind one connection).
pub const SHARED_CALLS: usize = 32;

/// Why the shared counters refuse a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SharedRefusal {
    /// A key is locked for this many more seconds.
    Locked(u32),
    /// A key has as many failures and verifications in flight as it may.
    Busy,
    /// The store did not answer in time (or too many calls are in flight).
    Unavailable,
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)
}

impl Authenticator {
    /// Takes the shared counters of `keys` in. `Err(seconds)` when one of them is locked.
    pub(super) async fn pull_shared(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), u32> {
        self.absorb_shared(keys, s, |f, k, s| f.state(k, s)).await
    }

    /// Counts a failure that ran no reserved verification. `Err(seconds)` when, with the
    /// failures counted by every gateway, a key is now locked.
    pub(super) async fn push_failure(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), u32> {
        self.absorb_shared(keys, s, |f, k, s| f.count(k, s)).await
    }

    /// Runs `call` against the shared counters and takes the counters it returns in; a store
    /// that cannot answer leaves this table as it is (the callers' failures are counted here
    /// regardless, and a reserved one already is there).
    async fn absorb_shared(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
        call: StoreCall,
    ) -> Result<(), u32> {
        let Some(shared) = self.shared.get().cloned() else {
            return Ok(());
        };
        let bytes = keys.map(|k| k.bytes());
        match self.off_workers(move || call(&*shared, &bytes, s)).await {
            Some(states) => self.lockout.absorb(&keys, &states, Instant::now(), s),
            None => Ok(()),
        }
    }

    /// Reserves a verification in the shared counters.
    pub(super) async fn reserve_shared(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), SharedRefusal> {
        let Some(shared) = self.shared.get().cloned() else {
            return Ok(());
        };
        let bytes = keys.map(|k| k.bytes());
        match self.off_workers(move || shared.reserve(&bytes, s)).await {
            Some(SharedReservation::Granted(mut states)) => {
                // The store counts this attempt already; here it is the reservation `begin`
                // holds, counted when it finishes: take in the others' failures only.
                for st in &mut states {
                    st.failures = st.failures.saturating_sub(1);
                }
                self.lockout
                    .absorb(&keys, &states, Instant::now(), s)
                    .map_err(SharedRefusal::Locked)
            }
            Some(SharedReservation::Locked(d)) => Err(SharedRefusal::Locked(secs(d))),
            Some(SharedReservation::Busy) => Err(SharedRefusal::Busy),
            None => Err(SharedRefusal::Unavailable),
        }
    }

    /// A reserved verification failed. `Err(seconds)` when a key is now locked.
    pub(super) async fn shared_failed(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), u32> {
        self.absorb_shared(keys, s, |f, k, s| f.fail(k, s)).await
    }

    /// A reserved verification succeeded: refused when a key got locked first, or when the
    /// store cannot say.
    pub(super) async fn shared_succeeded(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), SharedRefusal> {
        let Some(shared) = self.shared.get().cloned() else {
            return Ok(());
        };
        let [credential, address] = keys.map(|k| k.bytes());
        match self
            .off_workers(move || shared.succeed(credential, address, s))
            .await
        {
            Some(None) => Ok(()),
            Some(Some(d)) => Err(SharedRefusal::Locked(secs(d))),
            None => Err(SharedRefusal::Unavailable),
        }
    }

    /// Runs a store call on the blocking pool: at most [`SHARED_CALLS`] at once, waiting at
    /// most [`SHARED_WAIT`]; `None` (logged) when it failed, took longer or found no slot.
    async fn off_workers<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Option<T> {
        let Ok(_slot) = self.shared_calls.try_acquire() else {
            tracing::debug!("shared lockout counters: too many calls in flight");
            return None;
        };
        let outcome = tokio::time::timeout(SHARED_WAIT, tokio::task::spawn_blocking(call)).await;
        let why = match outcome {
            Ok(Ok(Ok(v))) => return Some(v),
            Ok(Ok(Err(e))) => e,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", SHARED_WAIT.as_secs()),
        };
        tracing::warn!(error = %why, "shared lockout counters unavailable");
        None
    }
}
