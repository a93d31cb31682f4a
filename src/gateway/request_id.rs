//! Request ids: unique per process run, cheap to make, safe to print.
//!
//! Format: `<8 hex: random per process>-<16 hex: counter>`, e.g. `9f3a01c2-000000000000002a`.
//! The random prefix keeps ids unique across restarts and across gateways sharing an audit
//! trail; the counter makes them unique within a run without a syscall per request. Ids are
//! not secrets and carry no information beyond ordering within one process.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Generates request ids.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    /// A generator with a fresh random prefix.
    pub fn new() -> Self {
        let prefix = crate::crypto::random_bytes::<4>()
            .map(u32::from_be_bytes)
            // The OS RNG failing is not worth refusing traffic over for an id; fall back to time.
            .unwrap_or_else(|_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
                    .unwrap_or(0)
            });
        RequestIds {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut s = String::with_capacity(25);
        // Writing to a String cannot fail.
        let _ = write!(s, "{:08x}-{:016x}", self.prefix, n);
        s
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids = RequestIds::new();
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 25);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'));
        assert_eq!(&a[..8], &b[..8]);
    }
}
