//! Request ids: unpredictable, unique, cheap to make, safe to print.
//!
//! Format: 128 random bits as `<16 hex>-<16 hex>`, e.g. `9f3a01c2d4e5f607-1b2c3d4e5f607182`.
//! A sequential counter would tell anyone holding two ids how many requests the gateway served
//! in between (traffic volume); random ids say nothing about ordering, volume or uptime.
//!
//! Cost: the bits come from the operating system's CSPRNG (`getrandom`), but one system call
//! fills a per-thread pool of [`POOL_IDS`] ids, so a request id costs a copy and a hex
//! encoding, not a syscall. The pool is per thread, never shared, and each byte is handed out
//! once.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rand_core::{OsRng, RngCore};

/// Ids drawn from the OS per refill of a thread's pool.
pub const POOL_IDS: usize = 64;
const ID_BYTES: usize = 16;
/// Length of an id in characters.
pub const ID_LEN: usize = 33;

struct Pool {
    bytes: [u8; POOL_IDS * ID_BYTES],
    next: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; POOL_IDS * ID_BYTES],
            next: POOL_IDS * ID_BYTES,
        })
    };
}

/// Generates request ids.
#[derive(Debug, Default)]
pub struct RequestIds {
    /// Only used if the OS random source fails (it does not on Linux once booted): ids then
    /// stay unique, from a counter, and the failure is logged.
    fallback: AtomicU64,
}

impl RequestIds {
    /// A generator.
    pub fn new() -> Self {
        RequestIds::default()
    }

    /// The next id.
    pub fn next_id(&self) -> String {
        let mut raw = [0u8; ID_BYTES];
        let drawn = POOL.with(|p| {
            let Ok(mut p) = p.try_borrow_mut() else {
                return false;
            };
            if p.next + ID_BYTES > p.bytes.len() {
                if OsRng.try_fill_bytes(&mut p.bytes).is_err() {
                    return false;
                }
                p.next = 0;
            }
            let at = p.next;
            raw.copy_from_slice(&p.bytes[at..at + ID_BYTES]);
            // Handed out once: wipe it from the pool.
            p.bytes[at..at + ID_BYTES].fill(0);
            p.next += ID_BYTES;
            true
        });
        if !drawn {
            tracing::error!("the OS random source failed; request ids fall back to a counter");
            let n = self.fallback.fetch_add(1, Ordering::Relaxed);
            raw[8..].copy_from_slice(&n.to_be_bytes());
        }
        encode(&raw)
    }
}

fn encode(raw: &[u8; ID_BYTES]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(ID_LEN);
    for (i, b) in raw.iter().enumerate() {
        if i == 8 {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn well_formed(id: &str) -> bool {
        id.len() == ID_LEN
            && id.as_bytes()[16] == b'-'
            && id
                .bytes()
                .enumerate()
                .all(|(i, c)| i == 16 || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn ids_are_unique_well_formed_and_unpredictable() {
        let ids = RequestIds::new();
        // Several pool refills on this thread, plus other threads with their own pools.
        let mut all: Vec<String> = (0..POOL_IDS * 4).map(|_| ids.next_id()).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| s.spawn(|| (0..POOL_IDS * 2).map(|_| ids.next_id()).collect::<Vec<_>>()))
                .collect();
            for h in handles {
                all.extend(h.join().expect("thread"));
            }
        });
        assert!(all.iter().all(|i| well_formed(i)), "{:?}", &all[..3]);
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "no id repeats");
        // A counter (the old format) makes consecutive ids differ in a few low bits and share
        // a prefix; random ids differ in about half of their 128 bits.
        let bits =
            |id: &str| -> u128 { u128::from_str_radix(&id.replace('-', ""), 16).expect("hex") };
        let mut close = 0;
        for w in all.windows(2) {
            let d = (bits(&w[0]) ^ bits(&w[1])).count_ones();
            if d < 32 {
                close += 1;
            }
            assert_ne!(
                &w[0][..8],
                &w[1][..8],
                "no shared prefix: {} {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(close, 0, "consecutive ids look related");
    }

    #[test]
    fn encoding_is_fixed_width_hex() {
        let raw: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(encode(&raw), "0011223344556677-8899aabbccddeeff");
    }
}
