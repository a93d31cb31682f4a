//! Request ids: unpredictable, unique, cheap to make, safe to print, cheap to index.
//!
//! Format: `<16 hex>-<16 hex>`, e.g. `6b143fd8c2d4e5f6-071b2c3d4e5f6071`: the first 32 bits
//! are the Unix second the id was made (big-endian), the other 96 are random.
//!
//! - **What an id discloses**: the second it was made, which the response's own `Date`
//!   header says too. A sequential counter would tell anyone holding two ids how many
//!   requests the gateway served in between (traffic volume); 96 random bits say nothing
//!   about volume, order within a second, or uptime, and cannot be guessed.
//! - **Why the second leads**: the audit trail finds a record by its request id through that
//!   second ([`made_at`]): the record is in a batch whose reach takes the second in
//!   (`src/audit/batch.rs`), so no index entry per request id is written. (Before the trail
//!   was stored in batches, every id was indexed, and wholly random ids put each entry on a
//!   random page of that index: BENCHMARKS.md, issue 20.)
//!
//! Cost: the random bits come from the operating system's CSPRNG (`getrandom`), but one
//! system call fills a per-thread pool of [`POOL_IDS`] ids, so a request id costs a copy, a
//! clock read (vDSO, no system call) and a hex encoding. The pool is per thread, never
//! shared, and each byte is handed out once.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rand_core::{OsRng, RngCore};

/// Ids drawn from the OS per refill of a thread's pool.
pub const POOL_IDS: usize = 64;
const ID_BYTES: usize = 16;
/// The leading bytes that hold the Unix second.
const TIME_BYTES: usize = 4;
/// The random bytes of an id.
const RANDOM_BYTES: usize = ID_BYTES - TIME_BYTES;
/// Length of an id in characters.
pub const ID_LEN: usize = 33;

struct Pool {
    bytes: [u8; POOL_IDS * RANDOM_BYTES],
    next: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            bytes: [0; POOL_IDS * RANDOM_BYTES],
            next: POOL_IDS * RANDOM_BYTES,
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
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.id_at(u32::try_from(second).unwrap_or(u32::MAX))
    }

    /// The next id, made at Unix second `second`.
    fn id_at(&self, second: u32) -> String {
        let mut raw = [0u8; ID_BYTES];
        raw[..TIME_BYTES].copy_from_slice(&second.to_be_bytes());
        let drawn = POOL.with(|p| {
            let Ok(mut p) = p.try_borrow_mut() else {
                return false;
            };
            if p.next + RANDOM_BYTES > p.bytes.len() {
                if OsRng.try_fill_bytes(&mut p.bytes).is_err() {
                    return false;
                }
                p.next = 0;
            }
            let at = p.next;
            raw[TIME_BYTES..].copy_from_slice(&p.bytes[at..at + RANDOM_BYTES]);
            // Handed out once: wipe it from the pool.
            p.bytes[at..at + RANDOM_BYTES].fill(0);
            p.next += RANDOM_BYTES;
            true
        });
        if !drawn {
            tracing::error!("the OS random source failed; request ids fall back to a counter");
            // Unique within the second (32 bits of counter after it); the all-zero second half
            // is no span id, so such a request starts no predictable trace.
            let n = self.fallback.fetch_add(1, Ordering::Relaxed);
            raw[TIME_BYTES..].fill(0);
            raw[TIME_BYTES..8].copy_from_slice(&n.to_be_bytes()[4..]);
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

/// The Unix second an id of this format was made in; `None` for any other text (an admin
/// action's id, an id from before the second led, a client's own).
pub fn made_at(id: &str) -> Option<u32> {
    let b = id.as_bytes();
    let hex = |c: &u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
    // `<16 hex>-<16 hex>`.
    let half = ID_LEN / 2;
    if b.len() != ID_LEN
        || b[half] != b'-'
        || !b[..half].iter().all(hex)
        || !b[half + 1..].iter().all(hex)
    {
        return None;
    }
    u32::from_str_radix(id.get(..TIME_BYTES * 2)?, 16).ok()
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
        // The first 8 hex digits are the second; the 96 bits after them are random. A counter
        // (an old format) makes consecutive ids differ in a few low bits; random bits differ
        // in about half of 96 (fewer than 16 by chance: about once in 10^9 runs).
        let random = |id: &str| -> u128 {
            u128::from_str_radix(&id.replace('-', "")[8..], 16).expect("hex")
        };
        let second = |id: &str| u32::from_str_radix(&id[..8], 16).expect("hex");
        let now = u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs(),
        )
        .expect("u32 seconds");
        let mut close = 0;
        for w in all.windows(2) {
            let d = (random(&w[0]) ^ random(&w[1])).count_ones();
            if d < 16 {
                close += 1;
            }
            assert_ne!(
                &w[0][8..16],
                &w[1][8..16],
                "the random part shares no prefix: {} {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(close, 0, "consecutive ids look related");
        for id in &all {
            let s = second(id);
            assert!(now.abs_diff(s) <= 5, "{id}: made at {s}, now is {now}");
        }
    }

    #[test]
    fn ids_grow_with_the_second_they_were_made_in() {
        let ids = RequestIds::new();
        let early = ids.id_at(1_780_000_000);
        let later = ids.id_at(1_780_000_001);
        assert!(early.starts_with("6a18a500"), "{early}");
        assert!(later.starts_with("6a18a501"), "{later}");
        assert_eq!(made_at(&early), Some(1_780_000_000));
        assert_eq!(made_at(&later), Some(1_780_000_001));
        for odd in [
            &early[1..],
            &early.to_uppercase(),
            &early.replace('-', "_"),
            "adm-01",
        ] {
            assert_eq!(made_at(odd), None, "{odd}");
        }
        // Ids of one second sort after every id of the second before, whatever their random
        // bits: the audit trail's index on them grows at its end.
        let mut batch: Vec<String> = (0..200).map(|_| ids.id_at(1_780_000_001)).collect();
        batch.extend((0..200).map(|_| ids.id_at(1_780_000_000)));
        batch.sort();
        assert!(batch[..200].iter().all(|i| i.starts_with("6a18a500")));
        assert!(batch[200..].iter().all(|i| i.starts_with("6a18a501")));
    }

    #[test]
    fn encoding_is_fixed_width_hex() {
        let raw: [u8; 16] = core::array::from_fn(|i| i as u8 * 17);
        assert_eq!(encode(&raw), "0011223344556677-8899aabbccddeeff");
    }
}
