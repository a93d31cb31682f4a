//! Slowing down and then locking out repeated failed attempts at `POST /gateway/token`, per
//! credential identifier and per client address, so the endpoint cannot be used to guess
//! passwords: each failure within the window delays the answer longer (250 ms, 500 ms, 1 s,
//! 2 s …); the `max_failures`-th locks the key for `lock_for` (429 `auth.locked`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lockout settings.
#[derive(Clone, Copy, Debug)]
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

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// Failure counters by key (`cred:…`, `ip:…`), bounded.
pub struct Lockout {
    settings: Mutex<LockoutSettings>,
    map: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

/// The longest delay applied to a failed attempt before lockout.
const MAX_DELAY: Duration = Duration::from_secs(2);

impl Lockout {
    /// Counters for at most `capacity` keys.
    pub fn new(settings: LockoutSettings, capacity: usize) -> Lockout {
        Lockout {
            settings: Mutex::new(settings),
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
        }
    }

    /// Applies new settings (on reload); counters are kept.
    pub fn configure(&self, settings: LockoutSettings) {
        if let Ok(mut s) = self.settings.lock() {
            *s = settings;
        }
    }

    fn settings(&self) -> LockoutSettings {
        self.settings.lock().map(|s| *s).unwrap_or_default()
    }

    /// `Err(seconds)` when any of `keys` is locked at `now`.
    pub fn check(&self, keys: &[&str], now: Instant) -> Result<(), u32> {
        let Ok(map) = self.map.lock() else {
            return Ok(());
        };
        let worst = keys
            .iter()
            .filter_map(|k| map.get(*k)?.locked_until)
            .filter(|until| *until > now)
            .max();
        match worst {
            Some(until) => Err(until.duration_since(now).as_secs().max(1) as u32),
            None => Ok(()),
        }
    }

    /// Counts a failure for each of `keys`; returns how long to delay the answer (zero when
    /// this failure locked a key: the lockout answers instead).
    pub fn failed(&self, keys: &[&str], now: Instant) -> Duration {
        let s = self.settings();
        let Ok(mut map) = self.map.lock() else {
            return MAX_DELAY;
        };
        if map.len() + keys.len() > self.capacity {
            map.retain(|_, e| {
                now.duration_since(e.since) < s.window || e.locked_until.is_some_and(|u| u > now)
            });
            if map.len() + keys.len() > self.capacity {
                // Still full of live counters: stay safe by delaying everyone, unbounded growth
                // is not an option.
                tracing::warn!("lockout table full; new keys are not tracked");
                return MAX_DELAY;
            }
        }
        let mut most = 0;
        for k in keys {
            let e = map.entry((*k).to_string()).or_insert(Entry {
                failures: 0,
                since: now,
                locked_until: None,
            });
            if now.duration_since(e.since) >= s.window && e.locked_until.is_none_or(|u| u <= now) {
                *e = Entry {
                    failures: 0,
                    since: now,
                    locked_until: None,
                };
            }
            e.failures += 1;
            if e.failures >= s.max_failures {
                e.locked_until = Some(now + s.lock_for);
            }
            most = most.max(e.failures);
        }
        if most >= s.max_failures {
            return Duration::ZERO;
        }
        let exp = most.saturating_sub(1).min(8);
        (Duration::from_millis(250) * 2u32.pow(exp)).min(MAX_DELAY)
    }

    /// Clears the counter of `key` after a success.
    pub fn succeeded(&self, key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_down_then_lock_then_expire() {
        let l = Lockout::new(
            LockoutSettings {
                max_failures: 4,
                lock_for: Duration::from_secs(60),
                window: Duration::from_secs(600),
            },
            100,
        );
        let t0 = Instant::now();
        let keys = ["cred:bob", "ip:10.0.0.1"];
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(250));
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(500));
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(1000));
        assert!(l.check(&keys, t0).is_ok());
        assert_eq!(l.failed(&keys, t0), Duration::ZERO);
        assert_eq!(l.check(&keys, t0), Err(60));
        // Another credential from the same address is locked too; another address is not.
        assert!(l.check(&["cred:alice", "ip:10.0.0.1"], t0).is_err());
        assert!(l.check(&["cred:alice", "ip:10.0.0.2"], t0).is_ok());
        // The lock ends.
        assert!(l.check(&keys, t0 + Duration::from_secs(61)).is_ok());
        // A success clears the credential's counter only.
        l.succeeded("cred:bob");
        assert!(l.check(&["cred:bob"], t0).is_ok());
        assert!(l.check(&["ip:10.0.0.1"], t0).is_err());
    }

    #[test]
    fn the_table_is_bounded() {
        let l = Lockout::new(LockoutSettings::default(), 16);
        let t0 = Instant::now();
        for i in 0..100 {
            let k = format!("ip:{i}");
            let d = l.failed(&[&k], t0);
            assert!(d > Duration::ZERO);
        }
        assert!(l.map.lock().expect("lock").len() <= 16);
    }
}
