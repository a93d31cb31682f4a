//! Reading one actor's records through the actor lookup (`audit_actor_second`): the seconds
//! that hold the actor's records, newest first, each read through the batches' time index.
//!
//! The trail keeps nothing per record by actor (an index entry per record cost the writer
//! about a third of its time, BENCHMARKS.md, issue 20): the appender writes a row per (actor,
//! second) instead. A lookup reads a page of the actor's seconds, then the actor's records in
//! each run of consecutive seconds (the batches that may hold them, [`super::select`]), and
//! stops once it has enough: a busy actor's newest records cost the few seconds of the trail
//! that hold them, a rare actor's a read per second it was active in.

use super::chain::second_of;
use super::select::{Match, Row};
use crate::store::sql::{Conn, Value};
use crate::store::StoreError;

/// The actor's seconds read per round trip (a busy actor's are one run: one statement).
const SECONDS_PER_READ: usize = 512;

/// Hands `each` `actor`'s records that match `m` (whose `actor` is `actor`), newest first
/// (by time, then id), as many as `each` wants: it returns how many more it wants (0 stops
/// the walk), starting from `want`.
pub fn walk(
    conn: &Conn,
    actor: &str,
    m: &Match,
    mut want: u32,
    mut each: impl FnMut(&Row) -> Result<u32, StoreError>,
) -> Result<(), StoreError> {
    let through = m.through();
    let mut below: Option<String> = None;
    while want > 0 {
        let page = seconds(conn, actor, m.since.as_deref(), through, below.as_deref())?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        below = Some(last.clone());
        // A row the gateway did not write (not a second: someone with the database's rights)
        // names no record; read as a range it could repeat or reorder real ones.
        let page: Vec<(String, String)> = page
            .into_iter()
            .filter_map(|s| next_second(&s).map(|next| (s, next)))
            .collect();
        for (oldest, end) in runs(&page) {
            let mut run = m.clone();
            run.since = Some(match m.since.as_deref() {
                Some(s) if s > oldest => s.to_string(),
                _ => oldest.to_string(),
            });
            run.until = Some(match m.until.as_deref() {
                Some(u) if u < end => u.to_string(),
                _ => end.to_string(),
            });
            for row in super::select::newest(conn, &run, want)?.iter().rev() {
                want = each(row)?;
                if want == 0 {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// `seconds` (newest first, each with the second after it) as runs of consecutive seconds,
/// each the time range `(oldest, end)` it covers: a busy actor's seconds are read in one
/// statement per page rather than one per second.
fn runs(seconds: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut runs: Vec<(&str, &str)> = Vec::new();
    for (s, next) in seconds {
        match runs.last_mut() {
            Some((oldest, _)) if next == oldest => *oldest = s,
            _ => runs.push((s, next)),
        }
    }
    runs
}

/// The next page of `actor`'s seconds from `since`'s through `through`'s, newest first:
/// below `below` when given.
fn seconds(
    conn: &Conn,
    actor: &str,
    since: Option<&str>,
    through: Option<&str>,
    below: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut sql = String::from("SELECT second FROM audit_actor_second WHERE actor = ?");
    let mut values = vec![Value::from(actor)];
    if let Some(since) = since {
        sql.push_str(" AND second >= ?");
        values.push(Value::from(second_of(since)));
    }
    if let Some(through) = through {
        sql.push_str(" AND second <= ?");
        values.push(Value::from(second_of(through)));
    }
    if let Some(below) = below {
        sql.push_str(" AND second < ?");
        values.push(Value::from(below));
    }
    sql.push_str(&format!(" ORDER BY second DESC LIMIT {SECONDS_PER_READ}"));
    let mut out = Vec::new();
    for r in conn.query(&sql, &values)? {
        out.push(r.text(0)?);
    }
    Ok(out)
}

/// The second after `second` (`2026-12-01T00:00:01` after `…:00`): the exclusive upper bound
/// of its records' times, compared as text like every time bound of the trail. `None` when
/// `second` is not a second exactly as the lookup holds them (no row the gateway writes).
fn next_second(second: &str) -> Option<String> {
    const FORM: &str = "%Y-%m-%dT%H:%M:%S";
    let t = chrono::NaiveDateTime::parse_from_str(second, FORM).ok()?;
    if t.format(FORM).to_string() != second {
        return None;
    }
    t.checked_add_signed(chrono::Duration::seconds(1))
        .map(|t| t.format(FORM).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_read_through_the_lookup_key() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("a.db")).expect("open");
        store.migrate().expect("migrate");
        let p = crate::store::tests::plan(
            store.conn(),
            "SELECT second FROM audit_actor_second WHERE actor = ? AND second < ? ORDER BY second DESC LIMIT 64",
            &[Value::from("a"), Value::from("2026-12-01T00:00:01")],
        )
        .join("; ");
        assert!(p.contains("PRIMARY KEY (actor=? AND second<?)"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");
    }

    #[test]
    fn a_second_is_bounded_by_the_next() {
        let next = |s: &str| next_second(s).expect(s);
        assert_eq!(next("2026-12-31T23:59:59"), "2027-01-01T00:00:00");
        assert_eq!(next("2026-12-01T00:00:09"), "2026-12-01T00:00:10");
        for odd in [
            "odd",
            "2026-12-01T00:00:0",
            "2026-12-01T00:00:099",
            "2026-13-01T00:00:09",
            "2026-1-01T00:00:09",
            "",
        ] {
            assert_eq!(next_second(odd), None, "{odd}");
        }
        for ts in ["2026-12-01T00:00:09.999999Z", "2026-12-01T00:00:09Z"] {
            let s = second_of(ts);
            assert!(ts >= s && *ts < *next(s), "{ts}");
        }
        assert_eq!(second_of("2026-12-01T00:00:09.5Z"), "2026-12-01T00:00:09");
        assert_eq!(second_of("short"), "short");
        assert_eq!(second_of("ééééééééééééééééééééé"), "ééééééééééééééééééé");
    }

    #[test]
    fn consecutive_seconds_are_read_as_one_run() {
        let s = |v: &[&str]| {
            v.iter()
                .map(|x| (x.to_string(), next_second(x).expect(x)))
                .collect::<Vec<_>>()
        };
        let seconds = s(&[
            "2026-12-01T00:01:00",
            "2026-12-01T00:00:59",
            "2026-12-01T00:00:58",
            "2026-12-01T00:00:40",
            "2026-11-30T23:59:59",
        ]);
        assert_eq!(
            runs(&seconds),
            [
                ("2026-12-01T00:00:58", "2026-12-01T00:01:01"),
                ("2026-12-01T00:00:40", "2026-12-01T00:00:41"),
                ("2026-11-30T23:59:59", "2026-12-01T00:00:00"),
            ]
        );
        assert!(runs(&[]).is_empty());
    }
}
