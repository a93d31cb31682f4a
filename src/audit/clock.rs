//! A record's time as text, the way [`super::record::now`] writes it, without formatting the
//! date on every request.
//!
//! `chrono`'s RFC 3339 formatting took ≈ 1,000 instructions and an allocation per relayed
//! request (issue 20). The date and time of day change once a second: each thread keeps the
//! text of the last second it formatted and appends the microseconds to it.

use std::cell::Cell;

use chrono::{DateTime, SecondsFormat, Utc};

/// The longest text kept: `YYYY-MM-DDTHH:MM:SS.ffffffZ` is 27 bytes; a year past 9999 takes
/// more, and is formatted by `chrono` each time.
const CAPACITY: usize = 32;

/// A time as RFC 3339 UTC text with microseconds, on the stack.
#[derive(Clone, Copy)]
pub struct TimeText {
    bytes: [u8; CAPACITY],
    len: usize,
}

impl TimeText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // ASCII digits and separators only (written below); never empty.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Debug for TimeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

thread_local! {
    /// The last second this thread formatted, and its text up to the seconds' dot.
    static SECOND: Cell<(i64, [u8; 20])> = const { Cell::new((i64::MIN, [0; 20])) };
}

/// Now, as [`super::record::now`] writes it.
pub fn now() -> TimeText {
    at(Utc::now())
}

/// `t` as [`super::record::now`] writes it: `chrono`'s RFC 3339 with microseconds and `Z`.
pub fn at(t: DateTime<Utc>) -> TimeText {
    let mut out = TimeText {
        bytes: [0; CAPACITY],
        len: 0,
    };
    let secs = t.timestamp();
    let micros = t.timestamp_subsec_micros();
    // A leap second (`chrono` carries it as 1,000,000 µs or more) or a year of other than
    // four digits (before 1970 or past 9999: not a clock's time): formatted whole.
    if micros >= 1_000_000 || !(0..=253_402_300_799).contains(&secs) {
        return whole(t);
    }
    let (cached, mut prefix) = SECOND.with(Cell::get);
    if cached != secs {
        let text = t.to_rfc3339_opts(SecondsFormat::Secs, true);
        // `YYYY-MM-DDTHH:MM:SSZ`: the prefix is all but the `Z`, then the dot.
        let Some(head) = text.as_bytes().get(..19) else {
            return whole(t);
        };
        prefix[..19].copy_from_slice(head);
        prefix[19] = b'.';
        SECOND.with(|s| s.set((secs, prefix)));
    }
    out.bytes[..20].copy_from_slice(&prefix);
    let mut digits = micros;
    for i in (20..26).rev() {
        out.bytes[i] = b'0' + (digits % 10) as u8;
        digits /= 10;
    }
    out.bytes[26] = b'Z';
    out.len = 27;
    out
}

/// `t` formatted by `chrono`, cut to the capacity (a year past 9999 still fits in it).
fn whole(t: DateTime<Utc>) -> TimeText {
    let text = t.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut out = TimeText {
        bytes: [0; CAPACITY],
        len: text.len().min(CAPACITY),
    };
    out.bytes[..out.len].copy_from_slice(&text.as_bytes()[..out.len]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_text(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    #[test]
    fn the_text_is_chronos() {
        let mut instants: Vec<DateTime<Utc>> = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.timestamp_opt(0, 999_999_999).unwrap(),
            Utc.timestamp_opt(1_796_000_000, 1_000).unwrap(),
            Utc.timestamp_opt(1_796_000_000, 999).unwrap(),
            Utc.timestamp_opt(253_402_300_799, 999_999_000).unwrap(),
            Utc.timestamp_opt(253_402_300_800, 0).unwrap(),
            Utc.timestamp_opt(-1, 500_000).unwrap(),
            // A leap second (`:59` and more than a second of nanoseconds).
            Utc.timestamp_opt(1_796_000_039, 1_000_000_500).unwrap(),
            Utc::now(),
        ];
        // Seconds in turn, repeated and going back, so the cache is used and replaced.
        for s in [5, 5, 6, 4, 4, 86_399, 86_400] {
            for n in [0, 1_000, 123_456_789, 999_999_999] {
                instants.push(Utc.timestamp_opt(1_796_000_000 + s, n).unwrap());
            }
        }
        for t in instants {
            assert_eq!(at(t).as_str(), chrono_text(t), "{t:?}");
        }
        assert_eq!(now().as_str().len(), 27);
    }
}
