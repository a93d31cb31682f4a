//! The access schedule: weekly windows in one IANA timezone (DST handled by chrono-tz).
//! Default: Monday–Friday 11:00–20:00 Asia/Karachi.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

/// A compiled schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: Tz,
    /// Per weekday (Monday = 0): open minute ranges `[start, end)`.
    days: [Vec<(u16, u16)>; 7],
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses `HH:MM` (00:00–24:00) into minutes.
pub fn parse_time(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u16 = h.parse().ok()?;
    let m: u16 = m.parse().ok()?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// Parses a day name (`mon`..`sun`) into an index, or `daily` into all.
pub fn parse_days(s: &str) -> Option<Vec<usize>> {
    let s = s.to_ascii_lowercase();
    if s == "daily" {
        return Some((0..7).collect());
    }
    DAY_NAMES.iter().position(|d| *d == s).map(|i| vec![i])
}

impl Schedule {
    /// A schedule in `tz` with `windows` of (weekday indices, start minute, end minute).
    pub fn new(tz: Tz, windows: &[(Vec<usize>, u16, u16)]) -> Schedule {
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for (ds, start, end) in windows {
            for d in ds {
                if let Some(v) = days.get_mut(*d) {
                    v.push((*start, *end));
                }
            }
        }
        Schedule { tz, days }
    }

    /// Monday–Friday 11:00–20:00 Asia/Karachi.
    pub fn default_karachi() -> Schedule {
        Schedule::new(
            chrono_tz::Asia::Karachi,
            &[((0..5).collect(), 11 * 60, 20 * 60)],
        )
    }

    /// Open at all times (UTC, every day, 00:00–24:00).
    pub fn always_open() -> Schedule {
        Schedule::new(chrono_tz::UTC, &[((0..7).collect(), 0, 24 * 60)])
    }

    /// Whether access is open at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.days
            .get(day)
            .is_some_and(|w| w.iter().any(|(s, e)| *s <= minute && minute < *e))
    }

    /// When access next opens at or after `now`: `now` itself while open, `None` for a schedule
    /// that never opens (looked for minute by minute over the next eight days, which any
    /// weekly schedule repeats within, daylight-saving changes included).
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = now.with_second(0)?.with_nanosecond(0)?;
        (0..8 * 24 * 60)
            .map(|m| start + chrono::Duration::minutes(m))
            .find(|t| *t >= now - chrono::Duration::minutes(1) && self.is_open(*t))
            .map(|t| t.max(now))
    }

    /// Whether the schedule is open at `now`, and if not when it opens, in words: `open now`,
    /// `closed now; opens Mon 11:00 Asia/Karachi (2026-12-07T06:00:00Z)` or `never opens`.
    pub fn status(&self, now: DateTime<Utc>) -> String {
        if self.is_open(now) {
            return "open now".into();
        }
        match self.next_open(now) {
            Some(t) => format!(
                "closed now; opens {} {} ({})",
                t.with_timezone(&self.tz).format("%a %H:%M"),
                self.tz.name(),
                t.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            None => "never opens".into(),
        }
    }

    /// A human description, e.g. `mon 11:00-20:00, … (Asia/Karachi)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (i, w) in self.days.iter().enumerate() {
            for (s, e) in w {
                parts.push(format!(
                    "{} {:02}:{:02}-{:02}:{:02}",
                    DAY_NAMES[i],
                    s / 60,
                    s % 60,
                    e / 60,
                    e % 60
                ));
            }
        }
        if parts.is_empty() {
            parts.push("never open".into());
        }
        format!("{} ({})", parts.join(", "), self.tz.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn karachi_default_edges() {
        let s = Schedule::default_karachi();
        // Karachi is UTC+5, no DST. 2026-11-25 is a Wednesday.
        assert!(!s.is_open(utc(2026, 11, 25, 5, 59)), "10:59 local");
        assert!(s.is_open(utc(2026, 11, 25, 6, 0)), "11:00 local");
        assert!(s.is_open(utc(2026, 11, 25, 14, 59)), "19:59 local");
        assert!(!s.is_open(utc(2026, 11, 25, 15, 0)), "20:00 local");
        assert!(!s.is_open(utc(2026, 11, 28, 8, 0)), "Saturday");
        assert!(!s.is_open(utc(2026, 11, 29, 8, 0)), "Sunday");
        // Friday 23:00 UTC is Saturday 04:00 in Karachi: closed.
        assert!(!s.is_open(utc(2026, 11, 27, 23, 0)));
    }

    #[test]
    fn dst_is_respected() {
        let s = Schedule::new(
            chrono_tz::America::New_York,
            &[((0..7).collect(), 9 * 60, 10 * 60)],
        );
        // 09:30 New York is 14:30 UTC in winter (EST) and 13:30 UTC in summer (EDT).
        assert!(s.is_open(utc(2026, 1, 15, 14, 30)));
        assert!(!s.is_open(utc(2026, 1, 15, 13, 30)));
        assert!(s.is_open(utc(2026, 7, 15, 13, 30)));
        assert!(!s.is_open(utc(2026, 7, 15, 14, 30)));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_time("11:00"), Some(660));
        assert_eq!(parse_time("24:00"), Some(1440));
        for bad in ["24:01", "7:00", "11:60", "aa:bb", "1100", ""] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(parse_days("Mon"), Some(vec![0]));
        assert_eq!(parse_days("daily").map(|v| v.len()), Some(7));
        assert_eq!(parse_days("funday"), None);
        assert!(Schedule::always_open().is_open(utc(2026, 11, 29, 3, 0)));
        assert!(Schedule::default_karachi()
            .describe()
            .contains("Asia/Karachi"));
    }

    #[test]
    fn the_next_opening_is_found_across_weekends_and_reported_in_words() {
        let s = Schedule::default_karachi();
        // Saturday 2026-12-05 12:00 UTC: closed until Monday 11:00 Karachi (06:00 UTC).
        let sat = utc(2026, 12, 5, 12, 0);
        assert_eq!(s.next_open(sat), Some(utc(2026, 12, 7, 6, 0)));
        assert_eq!(
            s.status(sat),
            "closed now; opens Mon 11:00 Asia/Karachi (2026-12-07T06:00:00Z)"
        );
        // Open now: now.
        let wed = utc(2026, 12, 2, 7, 30);
        assert_eq!(s.next_open(wed), Some(wed));
        assert_eq!(s.status(wed), "open now");
        assert_eq!(
            Schedule::new(chrono_tz::UTC, &[]).status(sat),
            "never opens"
        );
    }
}
