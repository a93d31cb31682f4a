//! The trail's rows: one per appended batch (`audit_batch`, schema 13).
//!
//! A row holds a batch's records, one JSON per line, their ids (`id` to `last_id`), one chain
//! link for all of them, and the reach of the batch: `ts_first` and `ts_last`, the earliest
//! and latest instants its records name (their times, and the seconds their request ids were
//! made in). Nothing is written per record but its line: a row and its index entries per
//! record were most of the writer's cost (BENCHMARKS.md, issue 20).
//!
//! Lookups go through the index on `ts_last`. A batch's reach is at most the trail's span
//! (`audit_bounds`, whole seconds, only ever widened), so a record whose time (or whose
//! request id's second) is `t` lies in a batch with `ts_last` in `[t, second(t) + span)`: a
//! lookup by time, actor or request id reads the batches of that range, skips those whose
//! text lacks what it looks for, and reads the records of the others.

use std::borrow::Cow;

use super::record::{AuditRecord, Kind};
use crate::store::sql::{Conn, Engine, Value};
use crate::store::StoreError;

/// The most records one row holds: a writer draining a backlog writes several rows.
pub const MAX_RECORDS: usize = 512;

/// The stored form of times: `2026-12-01T00:00:00.000000Z`.
const SECOND_FORM: &str = "%Y-%m-%dT%H:%M:%S";

/// The Unix second gateway request id `id` was made in (`src/ids/request.rs`); `None` for
/// any other id (an admin action's, a client's own, one from before ids led with it).
pub fn id_second(id: &str) -> Option<i64> {
    crate::ids::made_at(id).map(i64::from)
}

/// The latest time the trail can hold, and what [`second_time`] gives past it.
const LAST_TIME: &str = "9999-12-31T23:59:59.999999Z";

/// Unix second `s` as stored times are written, at its start; [`LAST_TIME`] past year 9999
/// (which chrono writes with a sign, `+10000-…`, that sorts before every time: a bound made
/// of it would match nothing) and before year 0.
pub fn second_time(s: i64) -> String {
    match chrono::DateTime::from_timestamp(s, 0) {
        Some(t) if (0..=9999).contains(&chrono::Datelike::year(&t)) => {
            format!("{}.000000Z", t.format(SECOND_FORM))
        }
        _ => LAST_TIME.to_string(),
    }
}

/// The Unix second of a stored time (its first 19 characters, `2026-12-01T00:00:00`);
/// `None` when it is not one. Read digit by digit: the writer reads one per record, where
/// chrono's format-driven parser cost a tenth of the writer's time.
pub fn unix_second(ts: &str) -> Option<i64> {
    let b = ts.as_bytes().get(..19)?;
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    // A leap second (`:60`, which RFC 3339 and chrono's parser allow) counts as the second
    // before it, as chrono's timestamps count it.
    let time = chrono::NaiveTime::from_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?.min(59))?;
    Some(date.and_time(time).and_utc().timestamp())
}

/// How far from its record's time a request id's second may be and still place the record:
/// a day. The second of an id made before ids led with it (random bits in the same format,
/// trails from before 2026-12-05) is anywhere in 136 years; such a record is *unanchored*.
pub const ANCHOR_WINDOW_S: i64 = 86_400;

/// What a record's request id says about where the record is in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// A gateway id made within [`ANCHOR_WINDOW_S`] of the record's time: its second.
    At(i64),
    /// A gateway id made further away: the record is unanchored.
    Unanchored,
    /// Not a gateway id (an admin action's, a retention checkpoint's).
    None,
}

/// Where request id `id` anchors a record of time `ts`.
pub fn anchor(ts: &str, id: &str) -> Anchor {
    let Some(made) = id_second(id) else {
        return Anchor::None;
    };
    match unix_second(ts) {
        Some(t) if (made - t).abs() <= ANCHOR_WINDOW_S => Anchor::At(made),
        _ => Anchor::Unanchored,
    }
}

/// The instants a batch's records name, as the writer computes them (and `verify` again).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The earliest: `ts_first`.
    pub first: String,
    /// The latest: `ts_last`.
    pub last: String,
    /// Whether a record's gateway request id was made too far from its time to place it
    /// ([`anchor`]): a lookup by such an id cannot use the reach.
    pub unanchored: bool,
}

impl Reach {
    /// The reach of records with these times and request ids; `None` for no records.
    pub fn of<'a>(records: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Reach> {
        let (mut lo, mut hi): (Option<&str>, Option<&str>) = (None, None);
        let (mut made_lo, mut made_hi): (Option<i64>, Option<i64>) = (None, None);
        let mut unanchored = false;
        for (ts, request_id) in records {
            lo = Some(lo.map_or(ts, |l| l.min(ts)));
            hi = Some(hi.map_or(ts, |h| h.max(ts)));
            match anchor(ts, request_id) {
                Anchor::At(s) => {
                    made_lo = Some(made_lo.map_or(s, |l| l.min(s)));
                    made_hi = Some(made_hi.map_or(s, |h| h.max(s)));
                }
                Anchor::None => {}
                Anchor::Unanchored => unanchored = true,
            }
        }
        let (lo, hi) = (lo?, hi?);
        let first = match made_lo.map(second_time) {
            Some(m) if *m < *lo => m,
            _ => lo.to_string(),
        };
        let last = match made_hi.map(second_time) {
            Some(m) if *m > *hi => m,
            _ => hi.to_string(),
        };
        Some(Reach {
            first,
            last,
            unanchored,
        })
    }

    /// Whole seconds from the first instant's second to the last's, plus one: what the
    /// trail's span must hold. `None` when a time is not one.
    pub fn span(&self) -> Option<i64> {
        Some(unix_second(&self.last)? - unix_second(&self.first)? + 1)
    }
}

/// The trail's bounds (`audit_bounds`), both only ever raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// At least every batch's [`Reach::span`] (1 when nothing was written yet).
    pub span: i64,
    /// At least the id of every batch holding an unanchored record (0: none).
    pub unanchored_through: i64,
}

/// The trail's bounds.
pub fn bounds(conn: &Conn) -> Result<Bounds, StoreError> {
    let row = conn.query_opt(
        "SELECT span, unanchored_through FROM audit_bounds WHERE id = 1",
        &[],
    )?;
    Ok(match row {
        Some(r) => Bounds {
            span: r.int(0)?.max(1),
            unanchored_through: r.int(1)?,
        },
        None => Bounds {
            span: 1,
            unanchored_through: 0,
        },
    })
}

/// The trail's span: [`Bounds::span`].
pub fn span(conn: &Conn) -> Result<i64, StoreError> {
    Ok(bounds(conn)?.span)
}

/// Raises the trail's bounds to take in a batch of `span` (and, when `unanchored`, of id
/// `id`), in the appender's transaction.
pub fn widen(tx: &Conn, span: i64, unanchored: Option<i64>) -> Result<(), StoreError> {
    let through = unanchored.unwrap_or(0);
    let changed = tx.execute(
        "UPDATE audit_bounds SET span = CASE WHEN span < ?1 THEN ?1 ELSE span END, \
         unanchored_through = CASE WHEN unanchored_through < ?2 THEN ?2 ELSE unanchored_through END \
         WHERE id = 1 AND (span < ?1 OR unanchored_through < ?2)",
        &[Value::Int(span), Value::Int(through)],
    )?;
    if changed == 0 {
        tx.execute(
            "INSERT INTO audit_bounds (id, span, unanchored_through) VALUES (1, ?1, ?2) ON CONFLICT (id) DO NOTHING",
            &[Value::Int(span), Value::Int(through)],
        )?;
    }
    Ok(())
}

/// Each record line of a batch's text with its id.
pub fn lines(first_id: i64, records: &str) -> impl Iterator<Item = (i64, &str)> {
    records
        .split('\n')
        .enumerate()
        .map(move |(k, line)| (first_id.saturating_add(k as i64), line))
}

/// What lookups read of a record: the fields they filter on, borrowed where the JSON has no
/// escape.
#[derive(Debug, serde::Deserialize)]
pub struct Head<'a> {
    /// The chain's node, when not the default chain.
    #[serde(borrow, default)]
    pub node: Option<Cow<'a, str>>,
    /// Time.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    /// Request or action id.
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    /// Kind.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// Actor.
    #[serde(borrow)]
    pub actor: Cow<'a, str>,
    /// Path.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// Decision.
    #[serde(borrow)]
    pub decision: Cow<'a, str>,
    /// Reason code.
    #[serde(borrow)]
    pub reason: Cow<'a, str>,
}

impl<'a> Head<'a> {
    /// The head of a record line; `None` when it is not a record (`audit verify` names it).
    pub fn of(line: &'a str) -> Option<Head<'a>> {
        serde_json::from_str(line).ok()
    }
}

/// `"field":<value as JSON>`: how a record's member is written, to find batches that may hold
/// it by their text (exact: JSON encoding is deterministic).
pub fn member(field: &str, value: &str) -> String {
    format!("\"{field}\":{}", serde_json::Value::from(value))
}

/// One stored batch, as a walk hands it out.
pub struct Stored {
    /// Its first record's id.
    pub id: i64,
    /// Its latest instant.
    pub ts_last: String,
    /// Its records, one JSON per line.
    pub records: String,
}

/// Which batches a walk reads: those that may hold a record with a time in `[since,
/// until]`, and whose text holds every one of `needles`.
#[derive(Debug, Default, Clone)]
pub struct Range<'a> {
    /// Records at or after this time (stored form).
    pub since: Option<&'a str>,
    /// Records at or before this time's second (stored form): the walk reads batches up to
    /// the span past it.
    pub through: Option<&'a str>,
    /// Only batches of this chain.
    pub node: Option<&'a str>,
    /// Text every batch read must hold (see [`member`]).
    pub needles: &'a [String],
    /// Only batches up to this id.
    pub max_id: Option<i64>,
}

/// Batches read per statement (at full load a batch holds ≈ 64 records of ≈ 700 bytes; the
/// writer's largest, [`MAX_RECORDS`]).
const PAGE: i64 = 16;

/// The statements that read the keys of `range`'s batches a page at a time, newest first:
/// the first page's, the next pages' (with the cursor: the last page's `(ts_last, id)`, two
/// more values), and the values of their conditions.
///
/// Every page must come straight from the `ts_last` index in its order, never from a sort:
/// a sort would collect the whole range, records and all, again for every page (lookups
/// that read many pages took quadratic time when the cursor was an `OR` of two conditions).
/// So the cursor is one row value, and on SQLite, which keeps no statistics here, the
/// node's and the id's conditions are written `+node` and `+id` so that neither the node's
/// index nor the table's own order by id is chosen over the time index's order (the unit
/// test `pages_are_read_in_index_order` checks the plans).
fn page_queries(
    conn: &Conn,
    range: &Range<'_>,
) -> Result<(String, String, Vec<Value>), StoreError> {
    let (find, node, up_to) = match conn.engine() {
        Engine::Sqlite => (
            " AND instr(records, ?) > 0",
            " AND +node = ?",
            " AND +id <= ?",
        ),
        Engine::Postgres => (
            " AND strpos(records, ?) > 0",
            " AND node = ?",
            " AND id <= ?",
        ),
    };
    let mut sql = String::from("SELECT id, ts_last FROM audit_batch WHERE true");
    let mut values = Vec::new();
    if let Some(since) = range.since {
        sql.push_str(" AND ts_last >= ?");
        values.push(Value::from(since));
    }
    // A bound that is not a time (a client's page cursor) bounds nothing here: the records'
    // own times are compared with it.
    if let Some(s) = range.through.and_then(unix_second) {
        sql.push_str(" AND ts_last < ?");
        values.push(Value::from(second_time(s.saturating_add(span(conn)?))));
    }
    if let Some(n) = range.node {
        sql.push_str(node);
        values.push(Value::from(n));
    }
    if let Some(max_id) = range.max_id {
        sql.push_str(up_to);
        values.push(Value::Int(max_id));
    }
    for needle in range.needles {
        sql.push_str(find);
        values.push(Value::from(needle.as_str()));
    }
    let order = format!("ORDER BY ts_last DESC, id DESC LIMIT {PAGE}");
    Ok((
        format!("{sql} {order}"),
        format!("{sql} AND (ts_last, id) < (?, ?) {order}"),
        values,
    ))
}

/// Hands `each` the batches of `range`, latest `ts_last` first (ties: the larger id first),
/// until it returns `false`.
pub fn newest_first(
    conn: &Conn,
    range: &Range<'_>,
    mut each: impl FnMut(&Stored) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let (first_sql, next_sql, mut values) = page_queries(conn, range)?;
    let fixed = values.len();
    let mut after: Option<(String, i64)> = None;
    loop {
        values.truncate(fixed);
        let sql = match &after {
            None => &first_sql,
            Some((ts, id)) => {
                values.extend([Value::from(ts.as_str()), Value::Int(*id)]);
                &next_sql
            }
        };
        let rows = conn.query(sql, &values)?;
        let full = rows.len() as i64 == PAGE;
        for r in rows {
            let (id, ts_last) = (r.int(0)?, r.text(1)?);
            // Each batch's records are read as it is handed on: a lookup that has found
            // what it needs stops before reading the rest of the page (≈ 360 KB a batch of
            // 512). A batch retention deleted since the page was read is gone.
            let records = conn.query_opt(
                "SELECT records FROM audit_batch WHERE id = ?1",
                &[Value::Int(id)],
            )?;
            let Some(records) = records else {
                after = Some((ts_last, id));
                continue;
            };
            let b = Stored {
                id,
                ts_last,
                records: records.text(0)?,
            };
            if !each(&b)? {
                return Ok(());
            }
            after = Some((b.ts_last, b.id));
        }
        if !full {
            return Ok(());
        }
    }
}

/// A record's JSON line as `node`'s chain holds it, appended to `out`: with `"node"` as its
/// first member (where serde puts the field) unless the record already names that node.
pub fn encode_into(r: &AuditRecord, node: &str, out: &mut String) -> Result<(), StoreError> {
    let node = line_node(r.node.as_deref(), node)?;
    super::encode::record_into(&r.view(), node, out).map_err(unencodable)
}

/// The `node` member of a record's line on `node`'s chain: the record's own when it names
/// that node (even `""`), else the chain's unless it has none; an error when the record names
/// another node. Both forms of a record ([`super::queued::Appendable`]) decide it here.
pub(super) fn line_node<'a>(
    own: Option<&'a str>,
    node: &'a str,
) -> Result<Option<&'a str>, StoreError> {
    match own {
        Some(n) if n == node => Ok(Some(n)),
        Some(n) => Err(StoreError::Invalid(format!(
            "an audit record of node {n:?} cannot join the chain of node {node:?}"
        ))),
        None if node.is_empty() => Ok(None),
        None => Ok(Some(node)),
    }
}

/// A record's encoding error, as the chain reports it.
pub(super) fn unencodable(e: serde_json::Error) -> StoreError {
    StoreError::Invalid(format!("cannot encode an audit record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_read_in_index_order() {
        let mut store = crate::store::Store::open_in_memory().expect("store");
        store.migrate().expect("migrate");
        let conn = store.conn();
        let needles = [member("actor", "a"), member("path", "/x")];
        let (since, through) = (Some("2026-12-01T00:00:00Z"), Some("2026-12-02T00:00:00Z"));
        let mut shapes = 0;
        for node in [None, Some("gw-a")] {
            for (since, through) in [(None, None), (since, None), (since, through)] {
                for needles in [&needles[..0], &needles[..]] {
                    for max_id in [None, Some(10)] {
                        let range = Range {
                            since,
                            through,
                            node,
                            needles,
                            max_id,
                        };
                        let (first, next, values) = page_queries(conn, &range).expect("sql");
                        for (sql, extra) in [(first, 0), (next, 2)] {
                            let mut values = values.clone();
                            values.extend((0..extra).map(|_| Value::from("x")));
                            let plan = crate::store::tests::plan(conn, &sql, &values);
                            assert!(
                                plan.iter().all(|p| !p.contains("TEMP B-TREE"))
                                    && plan.iter().any(|p| p.contains("audit_batch_ts")),
                                "{sql}: {plan:?}"
                            );
                            shapes += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(shapes, 48);
    }

    #[test]
    fn request_ids_give_their_second_and_others_none() {
        assert_eq!(
            id_second("6b143fd8c2d4e5f6-071b2c3d4e5f6071"),
            Some(0x6b14_3fd8)
        );
        for odd in [
            "6B143fd8c2d4e5f6-071b2c3d4e5f6071",
            "6b143fd8c2d4e5f6_071b2c3d4e5f6071",
            "6b143fd8c2d4e5f6-071b2c3d4e5f607",
            "adm-0123456789abcdef",
            "",
            "6b143fd8c2d4e5f6-071b2c3d4e5f607é",
        ] {
            assert_eq!(id_second(odd), None, "{odd}");
        }
        let s = 1_796_083_200; // 2026-12-01T00:00:00Z
        assert_eq!(second_time(s), "2026-12-01T00:00:00.000000Z");
        // Past year 9999 (a span raised by hand): the last time, never a signed year that
        // sorts before every time.
        for far in [
            253_402_300_800,
            300_000_000_000,
            i64::MAX,
            -62_167_219_201,
            i64::MIN,
        ] {
            assert_eq!(second_time(far), LAST_TIME, "{far}");
        }
        assert_eq!(second_time(253_402_300_799), "9999-12-31T23:59:59.000000Z");
        assert_eq!(
            unix_second("2016-12-31T23:59:60Z"),
            unix_second("2016-12-31T23:59:59Z")
        );
        assert_eq!(unix_second("2026-12-01T00:00:00.999999Z"), Some(s));
        assert_eq!(unix_second("2026-12-01"), None);
        assert_eq!(unix_second("2026-13-01T00:00:00.0Z"), None);
        for odd in [
            "2026-12-01 00:00:00",
            "2026-12-01T24:00:00",
            "2026-02-30T00:00:00",
            "2026-12-01T00:00:6x",
            "+026-12-01T00:00:00",
            "2026-12-01T00:00:0",
            "ééééééééééééééééééé",
        ] {
            assert_eq!(unix_second(odd), None, "{odd}");
        }
        // The same as chrono's formatting, read back, over a range of times.
        for k in 0..2000i64 {
            let s = 1_700_000_000 + k * 86_399 * 7 + k * k;
            let text = second_time(s);
            assert_eq!(unix_second(&text), Some(s), "{text}");
        }
    }

    #[test]
    fn a_reach_takes_the_ids_seconds_in() {
        let id_at = |s: i64| format!("{s:08x}c2d4e5f6-071b2c3d4e5f6071");
        let s = 1_796_083_200;
        let (a, b) = (id_at(s - 3), id_at(s + 9));
        let recs = [
            ("2026-12-01T00:00:01.500000Z", a.as_str()),
            ("2026-12-01T00:00:00.250000Z", "adm-1"),
            ("2026-12-01T00:00:02.000000Z", b.as_str()),
        ];
        let r = Reach::of(recs.iter().copied()).expect("reach");
        assert_eq!(r.first, "2026-11-30T23:59:57.000000Z");
        assert_eq!(r.last, "2026-12-01T00:00:09.000000Z");
        assert_eq!(r.span(), Some(13));
        let plain = Reach::of(recs[1..2].iter().copied()).expect("one");
        assert_eq!(plain.first, plain.last);
        assert_eq!(plain.span(), Some(1));
        assert_eq!(Reach::of(std::iter::empty()), None);
    }

    #[test]
    fn a_line_is_the_record_with_its_node_first() {
        let mut r = AuditRecord {
            ts: "2026-01-01T00:00:00.000000Z".into(),
            request_id: "r\"1".into(),
            actor: "a".into(),
            ..Default::default()
        };
        let enc = |r: &AuditRecord, node: &str| {
            let mut out = "x".to_string();
            encode_into(r, node, &mut out).map(|()| out)
        };
        let plain = enc(&r, "").expect("plain");
        let spliced = enc(&r, "gw-\"b").expect("spliced");
        r.node = Some("gw-\"b".into());
        assert_eq!(
            spliced,
            format!("x{}", serde_json::to_string(&r).expect("serde"))
        );
        assert_eq!(enc(&r, "gw-\"b").expect("named"), spliced);
        assert!(enc(&r, "other").is_err(), "a record cannot change chains");
        assert!(!plain.contains("node"));
        let head = Head::of(&spliced[1..]).expect("head");
        assert_eq!(head.node.as_deref(), Some("gw-\"b"));
        assert_eq!(head.request_id, "r\"1");
        assert_eq!(member("request_id", "r\"1"), "\"request_id\":\"r\\\"1\"");
        assert!(spliced.contains(&member("request_id", "r\"1")));
    }
}
