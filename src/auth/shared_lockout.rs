//! The failed-attempt counters of every gateway on one PostgreSQL store, taken into this
//! gateway's table around each unproven attempt: before it is judged, the store's counts and
//! locks of its keys ([`Lockout::absorb`](super::lockout::Lockout::absorb)); after a failure,
//! the failure counted in the store, whose answer can lock the key here. Guesses spread over
//! three gateways therefore lock after the same number of failures as on one. Locks engaged
//! elsewhere also reach warm paths here through the store poller
//! ([`Lockout::absorb_locks`](super::lockout::Lockout::absorb_locks)).
//!
//! Only failures and unproven attempts touch the store, off the async workers and bounded in
//! time: a verified-cache hit never does. A store that cannot answer in time leaves this
//! gateway's own counters in charge (logged); past `gateway.store_staleness_seconds` the
//! gateway refuses everything anyway (`store.unavailable`).

use std::time::{Duration, Instant};

use super::lockout::{LockKey, LockoutSettings};
use super::Authenticator;

/// How long an attempt waits for the shared counters.
const SHARED_WAIT: Duration = Duration::from_secs(2);

impl Authenticator {
    /// Takes the shared counters of `keys` in. `Err(seconds)` when one of them is locked.
    pub(super) async fn pull_shared(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), u32> {
        let Some(shared) = self.shared.get().cloned() else {
            return Ok(());
        };
        let bytes = keys.map(|k| k.bytes());
        match off_workers(move || shared.state(&bytes)).await {
            Some(states) => self.lockout.absorb(&keys, &states, Instant::now(), s),
            None => Ok(()),
        }
    }

    /// Counts a failure against `keys` in the shared counters. `Err(seconds)` when, with the
    /// failures counted by every gateway, one of them is now locked.
    pub(super) async fn push_failure(
        &self,
        keys: [LockKey; 2],
        s: LockoutSettings,
    ) -> Result<(), u32> {
        let Some(shared) = self.shared.get().cloned() else {
            return Ok(());
        };
        let bytes = keys.map(|k| k.bytes());
        match off_workers(move || shared.count(&bytes, s)).await {
            Some(states) => self.lockout.absorb(&keys, &states, Instant::now(), s),
            None => Ok(()),
        }
    }

    /// Clears a credential's shared failures once it was proven right.
    pub(super) async fn push_success(&self, credential: LockKey) {
        let Some(shared) = self.shared.get().cloned() else {
            return;
        };
        let bytes = credential.bytes();
        let _ = off_workers(move || shared.clear(bytes)).await;
    }
}

/// Runs a store call on the blocking pool, waiting at most [`SHARED_WAIT`]; `None` (logged)
/// when it failed or took longer.
async fn off_workers<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Option<T> {
    let outcome = tokio::time::timeout(SHARED_WAIT, tokio::task::spawn_blocking(call)).await;
    let why = match outcome {
        Ok(Ok(Ok(v))) => return Some(v),
        Ok(Ok(Err(e))) => e,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", SHARED_WAIT.as_secs()),
    };
    tracing::warn!(error = %why, "shared lockout counters unavailable; this gateway's own counters apply");
    None
}
