//! Each batch's request records counted by decision and reason (`audit_batch.tally`, schema
//! 14), so that a summary of a time window adds one small value per batch instead of parsing
//! every record of the window.
//!
//! The appender writes a batch's tally with its records, in the same row: a JSON array of
//! `[decision, reason, records]`, sorted, one entry per pair that occurs (`[]` for a batch
//! without request records). Like the batch's other columns it is a copy of what the hashed
//! records say, not part of the link: `audit verify` recomputes it and names a batch whose
//! tally differs. A batch written before schema 14 has none (`NULL`); its records are read.

use std::collections::BTreeMap;

use super::batch::{lines, Head, MAX_RECORDS};
use super::record::Kind;
use crate::store::sql::{Conn, Tx, Value};
use crate::store::StoreError;

/// Request records by (decision, reason).
pub type Counts = BTreeMap<(String, String), i64>;

/// Whether a record of `kind` is counted: request records only, as the summary reports them.
fn counted(kind: Option<Kind>) -> bool {
    kind == Some(Kind::Request)
}

/// The tally of records given as (kind, decision, reason): how the appender writes it and
/// `audit verify` recomputes it.
pub fn of<'a>(records: impl Iterator<Item = (Option<Kind>, &'a str, &'a str)>) -> String {
    let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (kind, decision, reason) in records {
        if counted(kind) {
            *counts.entry((decision, reason)).or_default() += 1;
        }
    }
    let entries: Vec<(&str, &str, i64)> = counts.into_iter().map(|((d, r), n)| (d, r, n)).collect();
    // Strings and integers only: serde_json cannot fail to write them.
    serde_json::to_string(&entries).unwrap_or_default()
}

/// Adds stored tally `text` to `counts`; `false` (and nothing added) when it is not one: not
/// the form, a count below one, or more records than a batch holds ([`MAX_RECORDS`]).
fn add(counts: &mut Counts, text: &str) -> bool {
    let Ok(entries) = serde_json::from_str::<Vec<(String, String, i64)>>(text) else {
        return false;
    };
    let most = i64::try_from(MAX_RECORDS).unwrap_or(i64::MAX);
    let total = entries
        .iter()
        .try_fold(0i64, |sum, e| (1..=most).contains(&e.2).then(|| sum + e.2));
    if total.is_none_or(|t| t > most) {
        return false;
    }
    for (decision, reason, n) in entries {
        let slot = counts.entry((decision, reason)).or_default();
        *slot = slot.saturating_add(n);
    }
    true
}

/// Counts the request records of batch text `records` at or after `since`.
fn add_records(counts: &mut Counts, records: &str, since: &str) {
    for (_, line) in lines(0, records) {
        // A line that is not a record is `audit verify`'s to name; a summary skips it.
        let Some(h) = Head::of(line) else { continue };
        if counted(h.kind) && h.ts.as_ref() >= since {
            let slot = counts
                .entry((h.decision.into_owned(), h.reason.into_owned()))
                .or_default();
            *slot = slot.saturating_add(1);
        }
    }
}

/// The window's batches counted by their tally: every instant at or after `?1`.
const TALLIED: &str = "SELECT id, tally FROM audit_batch \
     WHERE ts_last >= ?1 AND ts_first >= ?1 AND tally IS NOT NULL";

/// The window's batches counted by their records: those that reach back before `?1`, and
/// those without a tally.
const UNTALLIED: &str = "SELECT records FROM audit_batch \
     WHERE ts_last >= ?1 AND (ts_first < ?1 OR tally IS NULL)";

/// The request records at or after `start` (a stored time), by (decision, reason), read from
/// one snapshot of the trail. A batch whose every instant is at or after `start` (its
/// `ts_first`) counts by its tally; the others that reach `start` (at most the trail's span
/// of them, and those written before schema 14) by their records. On SQLite the index on
/// `ts_last` also holds `ts_first` and `tally`, so a tallied batch's row is not read.
pub fn since(conn: &Conn, start: &str) -> Result<Counts, StoreError> {
    conn.transaction(Tx::Read, |tx| {
        let mut counts = Counts::new();
        let mut unreadable = Vec::new();
        tx.for_each(TALLIED, &[Value::from(start)], |r| {
            // Not text (a value no appender writes) is as unreadable as text that is no tally.
            let added = r.text(1).is_ok_and(|t| add(&mut counts, &t));
            if !added {
                unreadable.push(r.int(0)?);
            }
            Ok(true)
        })?;
        tx.for_each(UNTALLIED, &[Value::from(start)], |r| {
            add_records(&mut counts, &r.text(0)?, start);
            Ok(true)
        })?;
        // A tally that is not one (edited beside the chain: `audit verify` names it): its
        // batch is counted by its records.
        for id in unreadable {
            if let Some(r) = tx.query_opt(
                "SELECT records FROM audit_batch WHERE id = ?1",
                &[Value::Int(id)],
            )? {
                add_records(&mut counts, &r.text(0)?, start);
            }
        }
        Ok(counts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite finds a window's tallies in the time index alone, and the batches it must read
    /// through the same index: never a scan of the trail.
    #[test]
    fn the_window_is_read_from_the_time_index() {
        let mut store = crate::store::Store::open_in_memory().expect("store");
        store.migrate().expect("migrate");
        let plan = |sql: &str| {
            crate::store::tests::plan(
                store.conn(),
                sql,
                &[Value::from("2026-12-01T00:00:00.000000Z")],
            )
        };
        let tallied = plan(TALLIED);
        assert!(
            tallied.len() == 1 && tallied[0].contains("USING COVERING INDEX audit_batch_ts"),
            "{tallied:?}"
        );
        let untallied = plan(UNTALLIED);
        assert!(
            untallied.len() == 1 && untallied[0].contains("USING INDEX audit_batch_ts"),
            "{untallied:?}"
        );
    }

    #[test]
    fn a_tally_counts_request_records_by_decision_and_reason() {
        let recs = [
            (Some(Kind::Request), "relayed", ""),
            (Some(Kind::Request), "denied", "policy.no_match"),
            (Some(Kind::Admin), "ok", ""),
            (Some(Kind::Request), "relayed", ""),
            (None, "relayed", ""),
            (Some(Kind::Request), "denied", "auth.\"odd\""),
            (Some(Kind::Checkpoint), "ok", ""),
        ];
        let text = of(recs.iter().copied());
        assert_eq!(
            text,
            r#"[["denied","auth.\"odd\"",1],["denied","policy.no_match",1],["relayed","",2]]"#
        );
        assert_eq!(of(recs[2..3].iter().copied()), "[]");
        let mut counts = Counts::new();
        assert!(add(&mut counts, &text));
        assert!(add(&mut counts, &text));
        assert_eq!(counts.get(&("relayed".into(), String::new())), Some(&4));
        assert_eq!(
            counts.get(&("denied".into(), "auth.\"odd\"".into())),
            Some(&2)
        );
        assert_eq!(counts.len(), 3);
        let too_many = format!("[[\"a\",\"b\",{}]]", MAX_RECORDS + 1);
        let overflowing = format!("[[\"a\",\"b\",{m}],[\"a\",\"c\",{m}]]", m = i64::MAX);
        let over_a_batch = format!("[[\"a\",\"b\",{MAX_RECORDS}],[\"a\",\"c\",1]]");
        let full = format!("[[\"a\",\"b\",{}],[\"a\",\"c\",1]]", MAX_RECORDS - 1);
        assert!(add(&mut Counts::new(), &full), "a full batch");
        for odd in [
            "",
            "{}",
            "[[\"a\",\"b\"]]",
            "[[\"a\",\"b\",0]]",
            "[[\"a\",\"b\",-1]]",
            "[[1,2,3]]",
            "[[\"a\",\"b\",1.5]]",
            too_many.as_str(),
            overflowing.as_str(),
            over_a_batch.as_str(),
        ] {
            let mut c = Counts::new();
            assert!(!add(&mut c, odd), "{odd}");
            assert!(c.is_empty(), "{odd}");
        }
    }
}
