//! Reading one actor's records through the actor lookup (`audit_actor_second`): the seconds
//! that hold the actor's records, newest first, each read through the time index.
//!
//! The trail keeps no index entry per record by actor (that index cost the writer about a
//! third of its time, BENCHMARKS.md, issue 20): the appender writes a row per (actor, second)
//! instead. A lookup reads a page of the actor's seconds, then the actor's records in each run
//! of consecutive seconds (one statement per run, through the time index), and stops once it
//! has enough: a busy actor's newest records cost the few seconds of the trail that hold them,
//! a rare actor's a statement per second it was active in.

use super::chain::second_of;
use super::query::Where;
use crate::store::sql::{Conn, Row, Value};
use crate::store::StoreError;

/// The actor's seconds read per round trip (a busy actor's are one run: one statement).
const SECONDS_PER_READ: usize = 512;

/// Which of the actor's records a walk reads.
pub struct Walk<'a> {
    /// The actor.
    pub actor: &'a str,
    /// Records at or after this time (stored form) only.
    pub since: Option<String>,
    /// Records at or before this time's second only (the caller's conditions bound it
    /// exactly).
    pub through: Option<String>,
    /// The columns each row is read with.
    pub columns: String,
    /// The values of the `?` in `columns`.
    pub column_values: &'a [Value],
    /// Further conditions (`actor = ?` among them) and their values.
    pub filter: &'a Where,
}

/// Hands `each` the actor's matching rows, newest first (by time, then id), as many as `each`
/// wants: it returns how many more rows it wants (0 stops the walk), starting from `want`.
pub fn walk(
    conn: &Conn,
    w: &Walk<'_>,
    mut want: u32,
    mut each: impl FnMut(&Row) -> Result<u32, StoreError>,
) -> Result<(), StoreError> {
    let sql = run_sql(w);
    let mut below: Option<String> = None;
    while want > 0 {
        let page = seconds(conn, w, below.as_deref())?;
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
            let mut values = w.column_values.to_vec();
            values.extend([Value::from(oldest), Value::from(end)]);
            values.extend(w.filter.values.iter().cloned());
            values.push(Value::from(i64::from(want)));
            for row in conn.query(&sql, &values)? {
                want = each(&row)?;
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

/// The statement reading one run of seconds of the walk (values: the columns', the run's
/// bounds, the filter's, the limit).
fn run_sql(w: &Walk<'_>) -> String {
    let mut sql = format!(
        "SELECT {} FROM audit_log WHERE ts >= ? AND ts < ?",
        w.columns
    );
    for cond in &w.filter.conds {
        sql.push_str(" AND ");
        sql.push_str(cond);
    }
    sql.push_str(" ORDER BY ts DESC, id DESC LIMIT ?");
    sql
}

/// The next page of the actor's seconds within the walk's bounds, newest first: below
/// `below` when given.
fn seconds(conn: &Conn, w: &Walk<'_>, below: Option<&str>) -> Result<Vec<String>, StoreError> {
    let mut sql = String::from("SELECT second FROM audit_actor_second WHERE actor = ?");
    let mut values = vec![Value::from(w.actor)];
    if let Some(since) = &w.since {
        sql.push_str(" AND second >= ?");
        values.push(Value::from(second_of(since)));
    }
    if let Some(through) = &w.through {
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
    fn a_second_is_read_through_the_time_index_and_seconds_through_the_lookup() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("a.db")).expect("open");
        store.migrate().expect("migrate");
        let plan = |sql: &str, values: &[Value]| -> String {
            store
                .conn()
                .query(&format!("EXPLAIN QUERY PLAN {sql}"), values)
                .expect("plan")
                .iter()
                .map(|r| r.text(3).expect("detail"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut filter = Where::default();
        filter.add("actor = ?", Some("a".into()));
        filter.add("path LIKE ? ESCAPE '\\'", Some("/x%".into()));
        let w = Walk {
            actor: "a",
            since: None,
            through: None,
            columns: "id, ts, record".into(),
            column_values: &[],
            filter: &filter,
        };
        let values = [
            Value::from("2026-12-01T00:00:00"),
            Value::from("2026-12-01T00:00:01"),
            Value::from("a"),
            Value::from("/x%"),
            Value::from(10),
        ];
        let p = plan(&run_sql(&w), &values);
        assert!(
            p.contains("COVERING INDEX audit_ts_actor (ts>? AND ts<?)")
                || p.contains("USING INDEX audit_ts_actor (ts>? AND ts<?)"),
            "{p}"
        );
        let p = plan(
            "SELECT second FROM audit_actor_second WHERE actor = ? AND second < ? ORDER BY second DESC LIMIT 64",
            &[Value::from("a"), Value::from("2026-12-01T00:00:01")],
        );
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
