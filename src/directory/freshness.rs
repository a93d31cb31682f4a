//! How current the in-memory view is: the time the poller last confirmed it against the
//! store. A gateway on a shared PostgreSQL store may serve from a view that old for at most
//! `gateway.store_staleness_seconds`; past that it refuses (503 `store.unavailable`) rather
//! than honour revocations it cannot see. Lock-free: one atomic read per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the view was last confirmed current.
#[derive(Debug)]
pub struct Freshness {
    origin: Instant,
    confirmed_ms: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness::new()
    }
}

impl Freshness {
    /// Confirmed now (a view has just been loaded).
    pub fn new() -> Freshness {
        Freshness {
            origin: Instant::now(),
            confirmed_ms: AtomicU64::new(0),
        }
    }

    /// Records that the view was confirmed current just now.
    pub fn confirm(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.confirmed_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long ago the view was last confirmed.
    pub fn age(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.confirmed_ms.load(Ordering::Relaxed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_grows_until_confirmed() {
        let f = Freshness::new();
        std::thread::sleep(Duration::from_millis(30));
        assert!(f.age() >= Duration::from_millis(30));
        f.confirm();
        assert!(f.age() < Duration::from_millis(30));
    }
}
