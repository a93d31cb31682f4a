//! The store-backed [`SharedFailures`]: failed-attempt counters on the PostgreSQL store every
//! gateway shares (`store::auth_failures`), through one connection of its own, reopened after
//! a failure. Calls block; the authenticator runs them off the async workers, a bounded
//! number at a time.

use std::sync::Mutex;
use std::time::Duration;

use crate::auth::lockout::{LockoutSettings, SharedFailures, SharedReservation, SharedState};
use crate::directory::cluster::unix_ms;
use crate::store::{Database, FailureCount, FailureRules, Reservation, Store};

/// Shared counters in the store at `db`.
pub struct StoreFailures {
    db: Database,
    conn: Mutex<Option<Store>>,
}

impl StoreFailures {
    /// Counters in `db` (connected on first use).
    pub fn new(db: Database) -> StoreFailures {
        StoreFailures {
            db,
            conn: Mutex::new(None),
        }
    }

    fn with<T>(
        &self,
        call: impl FnOnce(&Store) -> Result<T, crate::store::StoreError>,
    ) -> Result<T, String> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| "shared lockout connection poisoned".to_string())?;
        if guard.as_ref().is_none_or(Store::is_closed) {
            *guard = Some(Store::connect(&self.db).map_err(|e| e.to_string())?);
        }
        let store = guard.as_ref().ok_or("no store connection")?;
        let out = call(store).map_err(|e| e.to_string());
        if out.is_err() {
            *guard = None;
        }
        out
    }
}

/// A stored count as the lockout table takes it (`now_ms`: the time it was read).
pub fn state(c: &FailureCount, now_ms: i64) -> SharedState {
    SharedState {
        key: c.key,
        failures: c.failures,
        locked_for: left(c.locked_until_ms, now_ms),
    }
}

fn left(until_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(until_ms.saturating_sub(now_ms).max(0)).unwrap_or(0))
}

fn rules(s: LockoutSettings) -> FailureRules {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    FailureRules {
        max: s.max_failures,
        window_ms: ms(s.window),
        lock_ms: ms(s.lock_for),
    }
}

impl SharedFailures for StoreFailures {
    fn state(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String> {
        let now = unix_ms();
        let counts = self.with(|s| s.failures(keys, now, rules(settings)))?;
        Ok(counts.iter().map(|c| state(c, now)).collect())
    }

    fn count(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String> {
        let now = unix_ms();
        let counts = self.with(|s| s.count_failures(keys, now, rules(settings)))?;
        Ok(counts.iter().map(|c| state(c, now)).collect())
    }

    fn reserve(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<SharedReservation, String> {
        let now = unix_ms();
        Ok(
            match self.with(|s| s.reserve_attempt(keys, now, rules(settings)))? {
                Reservation::Granted(c) => {
                    SharedReservation::Granted(c.iter().map(|c| state(c, now)).collect())
                }
                Reservation::Locked(until) => SharedReservation::Locked(left(until, now)),
                Reservation::Busy => SharedReservation::Busy,
            },
        )
    }

    fn fail(
        &self,
        keys: &[[u8; 16]],
        settings: LockoutSettings,
    ) -> Result<Vec<SharedState>, String> {
        let now = unix_ms();
        let counts = self.with(|s| s.complete_failure(keys, now, rules(settings)))?;
        Ok(counts.iter().map(|c| state(c, now)).collect())
    }

    fn succeed(
        &self,
        credential: [u8; 16],
        address: [u8; 16],
        settings: LockoutSettings,
    ) -> Result<Option<Duration>, String> {
        let now = unix_ms();
        let locked =
            self.with(|s| s.complete_success(&credential, &address, now, rules(settings)))?;
        Ok(locked.map(|until| left(until, now)))
    }

    fn locked(&self) -> Result<Vec<SharedState>, String> {
        let now = unix_ms();
        let counts = self.with(|s| s.locked_keys(now, 10_000))?;
        Ok(counts.iter().map(|c| state(c, now)).collect())
    }
}
