//! What a graceful shutdown waits for: requests in progress, accepted connections whose first
//! request has not begun, and TLS handshakes that began a moment ago.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a connection's first request may still begin after a shutdown has started. The
/// client connected while this process was accepting, and the listening socket's next owner
/// (the new process of a graceful upgrade) never sees this connection: closing it unanswered
/// would fail a request no client could have timed better. A kept-alive connection between
/// requests gets no such wait; it closes at once, as HTTP lets an idle connection do. Pingora
/// ends every task when `shutdown_grace_seconds` runs out, so a shorter grace cuts this short.
pub const FIRST_REQUEST_AFTER_SHUTDOWN: Duration = Duration::from_secs(2);

/// [`FIRST_REQUEST_AFTER_SHUTDOWN`] in milliseconds.
fn window_millis() -> u64 {
    u64::try_from(FIRST_REQUEST_AFTER_SHUTDOWN.as_millis()).unwrap_or(u64::MAX)
}

/// What is under way: requests being handled (from a head's first byte to the end of its
/// response), accepted connections still waiting for their first request, and when the last
/// TLS handshake began, so a graceful shutdown can end as soon as nothing is left instead of
/// waiting out its grace period.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    busy: AtomicUsize,
    base: Instant,
    /// Milliseconds after `base` at which the last TLS handshake began, plus one (0: none).
    last_handshake: AtomicU64,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            busy: AtomicUsize::new(0),
            base: Instant::now(),
            last_handshake: AtomicU64::new(0),
        }
    }
}

impl InFlight {
    /// Requests in progress and accepted connections waiting for their first request, now.
    pub fn count(&self) -> usize {
        self.0.busy.load(Ordering::SeqCst)
    }

    /// Notes that a TLS connection was accepted and its handshake begins. The front counts a
    /// connection only once Pingora hands it over after the handshake; until then this stamp
    /// stands for it.
    pub fn handshake_began(&self) {
        let now = self.millis();
        self.0.last_handshake.store(now, Ordering::SeqCst);
    }

    /// Whether nothing is under way: no request, no connection waiting for its first one, and
    /// no TLS handshake begun within [`FIRST_REQUEST_AFTER_SHUTDOWN`] (its connection may yet
    /// bring a request).
    pub fn idle(&self) -> bool {
        self.idle_at(self.millis())
    }

    /// [`Self::idle`] at `now` (the clock of [`Self::millis`]).
    fn idle_at(&self, now: u64) -> bool {
        if self.count() > 0 {
            return false;
        }
        let last = self.0.last_handshake.load(Ordering::SeqCst);
        last == 0 || now.saturating_sub(last) >= window_millis()
    }

    /// Milliseconds since `base`, plus one (so 0 never means a time).
    fn millis(&self) -> u64 {
        u64::try_from(self.0.base.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Counts one request or awaited connection in until the guard is dropped.
    pub(super) fn enter(&self) -> InFlightGuard {
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.0.clone())
    }
}

/// One request or awaited connection; dropping it (even by a panic or a dropped future)
/// counts it out.
pub(super) struct InFlightGuard(Arc<Counts>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_in_and_out_and_a_handshake_keeps_it_busy_for_the_window() {
        let f = InFlight::default();
        assert!(f.idle());
        let a = f.enter();
        let b = f.enter();
        assert_eq!(f.count(), 2);
        assert!(!f.idle());
        drop(a);
        drop(b);
        assert_eq!(f.count(), 0);
        assert!(f.idle());
        f.handshake_began();
        assert!(!f.idle(), "a handshake just began");
        let at = f.0.last_handshake.load(Ordering::SeqCst);
        assert!(at > 0);
        assert!(
            !f.idle_at(at + window_millis() - 1),
            "still within the window"
        );
        assert!(f.idle_at(at + window_millis()), "the window is over");
        // A request in progress keeps it busy whatever the handshakes.
        let c = f.enter();
        assert!(!f.idle_at(at + 10 * window_millis()));
        drop(c);
        assert!(f.idle_at(at + 10 * window_millis()));
    }
}
