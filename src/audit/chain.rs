//! The hash chains: each batch's MAC covers its first record's id, the previous batch's MAC
//! in the same chain and its records.
//!
//! `hash_n = HMAC(audit_key, first_id_n ‖ hash_{n-1} ‖ records_n)`, hex, where `records_n` is
//! the batch's records' JSON, one per line, and their ids run on from `first_id_n`. A batch
//! of one record has the link a record had before schema 13. The key is derived from the
//! master key, so someone who can edit the database cannot recompute a chain. Each gateway
//! (`gateway.node_id`) appends its own chain, its node id in every record's JSON (and in the
//! `node` column); a single gateway's default chain has none. Ids are global and increasing,
//! so the chains interleave by id. Batches are appended in one writer transaction each
//! (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), reading the chain's tail inside
//! it, so several processes (gateways, the CLI) can append to one chain safely. The same
//! transaction writes the actor lookup's rows for the batch ([`super::by_actor`]) that the
//! appender has not written already ([`NotedSeconds`]). How a batch is stored and found:
//! [`super::batch`].

use super::batch;
pub use super::noted::NotedSeconds;
use super::queued::Appendable;
use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;
use crate::store::sql::{params, Conn, Param, Tx};
use crate::store::StoreError;

pub use super::verify::{verify, verify_db, Report, Row, Verdict, COLUMNS};

/// The `prev_hash` of the first record of every chain.
pub const GENESIS: &str = "genesis";

/// MAC of one batch: its first id, the previous batch's MAC and its records' lines.
pub fn link(key: &KeyedHasher, id: i64, prev: &str, records: &str) -> String {
    hex::encode(key.hash_parts(&[&id.to_be_bytes(), prev.as_bytes(), records.as_bytes()]))
}

/// Appends `records` to `node`'s chain in one transaction. Returns the last id written.
pub fn append<R: Appendable>(
    conn: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[R],
) -> Result<i64, StoreError> {
    append_noting(conn, key, node, records, &mut NotedSeconds::new())
}

/// [`append`] for an appender that writes batch after batch (the writer): the actor lookup's
/// rows in `noted` are not written again, and those of this batch are added to it once the
/// transaction has committed. `noted` is trusted only while the chain's tail is the record
/// this appender wrote last: anything else appended to the chain in between (a retention
/// checkpoint above all, which may come with lookup rows deleted) makes it start afresh.
pub fn append_noting<R: Appendable>(
    conn: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[R],
    noted: &mut NotedSeconds,
) -> Result<i64, StoreError> {
    let (appended, pairs, afresh) = conn.transaction(Tx::Write, |tx| {
        let appended = append_in(tx, key, node, records)?;
        let afresh = !noted.follows(&appended.tail);
        let pairs = if afresh {
            NotedSeconds::new().missing(records)
        } else {
            noted.missing(records)
        };
        note_actors(tx, &pairs)?;
        Ok((appended, pairs, afresh))
    })?;
    if afresh {
        noted.clear();
    }
    noted.committed(&pairs, &appended.last_hash);
    Ok(appended.last_id)
}

thread_local! {
    /// The buffer a batch's lines are written into, kept by each thread that appends (the
    /// SQLite writer's own thread; for PostgreSQL, the blocking pool's threads, until they
    /// exit idle): allocated afresh for every batch, at the top of the heap, it was given back
    /// to the system after each and its pages faulted in again (≈ 9 % of the writer's time at
    /// full load, issue 20). A batch that fails leaves it to the next one to allocate.
    static LINES: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The largest [`LINES`] buffer kept between batches (a batch of [`batch::MAX_RECORDS`]
/// records of up to 2 KiB fits).
const LINES_KEPT: usize = 1 << 20;

/// What [`append_in`] did.
struct Appended {
    /// The last id written.
    last_id: i64,
    /// The chain's tail hash before the batch ([`GENESIS`] for a new chain).
    tail: String,
    /// The hash of the batch's last row (the new tail).
    last_hash: String,
}

/// [`append`] inside the caller's write transaction, without the actor lookup's rows: a row
/// per [`batch::MAX_RECORDS`] records, each with one link.
fn append_in<R: Appendable>(
    tx: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[R],
) -> Result<Appended, StoreError> {
    let (last_id, tail, span, unanchored_through) = tx
        .query_one(
            "SELECT (SELECT last_id FROM audit_batch ORDER BY id DESC LIMIT 1), \
                    (SELECT hash FROM audit_batch WHERE node = ?1 ORDER BY id DESC LIMIT 1), \
                    (SELECT span FROM audit_bounds WHERE id = 1), \
                    (SELECT unanchored_through FROM audit_bounds WHERE id = 1)",
            &params![node],
        )
        .and_then(|r| Ok((r.opt_int(0)?, r.opt_text(1)?, r.opt_int(2)?, r.opt_int(3)?)))?;
    let mut id = last_id.unwrap_or(0);
    let tail = tail.unwrap_or_else(|| GENESIS.to_string());
    let mut prev = tail.clone();
    let mut span = span.unwrap_or(0);
    let mut unanchored_through = unanchored_through.unwrap_or(0);
    // The kept buffer, or a new one when it is unavailable: never a panic over a buffer.
    let mut text = LINES
        .try_with(|t| t.try_borrow_mut().map(|mut t| std::mem::take(&mut *t)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    text.clear();
    text.reserve(records.len().min(batch::MAX_RECORDS) * 768);
    for chunk in records.chunks(batch::MAX_RECORDS) {
        text.clear();
        for (k, r) in chunk.iter().enumerate() {
            if k > 0 {
                text.push('\n');
            }
            r.line_into(node, &mut text)?;
        }
        let lines = text.as_str();
        let reach = batch::Reach::of(chunk.iter().map(|r| (r.ts(), r.request_id())))
            .ok_or_else(|| StoreError::Invalid("an empty batch".into()))?;
        let reach_span = reach.span().ok_or_else(|| {
            StoreError::Invalid(format!(
                "an audit record's time is not an RFC 3339 UTC time: {:?}",
                reach.first
            ))
        })?;
        let overflow = || StoreError::Invalid("the audit trail's record ids are exhausted".into());
        let first = id.checked_add(1).ok_or_else(overflow)?;
        id = id.checked_add(chunk.len() as i64).ok_or_else(overflow)?;
        let hash = link(key, first, &prev, lines);
        let tally = super::tally::of(chunk.iter().map(|r| (r.kind(), r.decision(), r.reason())));
        tx.execute_params(
            "INSERT INTO audit_batch (id, last_id, node, ts_first, ts_last, records, prev_hash, hash, tally) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                Param::Int(first),
                Param::Int(id),
                Param::Text(node),
                Param::Text(&reach.first),
                Param::Text(&reach.last),
                Param::Text(lines),
                Param::Text(&prev),
                Param::Text(&hash),
                Param::Text(&tally),
            ],
        )?;
        // The bounds lookups rely on take this batch in (rarely a change: a longer request
        // than any before, or a record its id does not place).
        let unanchored = reach.unanchored.then_some(first);
        if reach_span > span || unanchored.is_some_and(|f| f > unanchored_through) {
            batch::widen(tx, reach_span, unanchored)?;
            span = span.max(reach_span);
            unanchored_through = unanchored_through.max(unanchored.unwrap_or(0));
        }
        prev = hash;
    }
    if text.capacity() <= LINES_KEPT {
        let _ = LINES.try_with(|t| t.try_borrow_mut().map(|mut t| *t = text));
    }
    Ok(Appended {
        last_id: id,
        tail,
        last_hash: prev,
    })
}

/// Adds to the actor lookup every (actor, second) of the trail it lacks (records appended by
/// a gateway older than schema 12, after the migration filled the lookup). Returns the rows
/// added. Reads the whole trail once, a page of batches at a time.
pub fn reindex(conn: &Conn) -> Result<u64, StoreError> {
    conn.transaction(Tx::Write, |tx| {
        let mut added = 0;
        let mut after = 0i64;
        loop {
            let rows = tx.query(
                "SELECT id, records FROM audit_batch WHERE id > ?1 ORDER BY id LIMIT 64",
                &params![after],
            )?;
            let Some(last) = rows.last() else {
                return Ok(added);
            };
            after = last.int(0)?;
            let mut pairs = std::collections::BTreeSet::new();
            let texts = rows.iter().map(|r| r.text(1)).collect::<Result<Vec<_>, _>>()?;
            for text in &texts {
                for (_, line) in batch::lines(0, text) {
                    if let Some(h) = batch::Head::of(line) {
                        pairs.insert((h.actor.into_owned(), second_of(&h.ts).to_string()));
                    }
                }
            }
            for (actor, second) in &pairs {
                added += tx.execute(
                    "INSERT INTO audit_actor_second (actor, second) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    &params![actor.as_str(), second.as_str()],
                )?;
            }
        }
    })
}

/// The second a record time falls in, as the actor lookup keys it: its first 19 characters
/// (`2026-12-01T00:00:00`), the same as SQL's `substr(ts, 1, 19)`.
pub fn second_of(ts: &str) -> &str {
    ts.char_indices().nth(19).map_or(ts, |(i, _)| &ts[..i])
}

/// Records in `audit_actor_second` each (actor, second) of `pairs` not there yet, in the
/// appender's transaction: a few rows per batch where an index on (actor, ts) took an entry
/// per record.
fn note_actors(tx: &Conn, pairs: &[(&str, &str)]) -> Result<(), StoreError> {
    let per_insert = match tx.engine() {
        crate::store::sql::Engine::Postgres => ROWS_PER_INSERT,
        crate::store::sql::Engine::Sqlite => 1,
    };
    let sql = |rows: usize| {
        let mut sql = String::from("INSERT INTO audit_actor_second (actor, second) VALUES ");
        push_rows(&mut sql, rows, 2);
        sql.push_str(" ON CONFLICT DO NOTHING");
        sql
    };
    // As for the records: the statement of a full chunk is built once.
    let mut full_sql = None;
    for chunk in pairs.chunks(per_insert) {
        let sql: &str = if chunk.len() == per_insert {
            full_sql.get_or_insert_with(|| sql(per_insert))
        } else {
            &sql(chunk.len())
        };
        let values: Vec<_> = chunk
            .iter()
            .flat_map(|(actor, second)| [Param::Text(actor), Param::Text(second)])
            .collect();
        tx.execute_params(sql, &values)?;
    }
    Ok(())
}

/// Records per `INSERT` statement of actor lookup rows on PostgreSQL.
const ROWS_PER_INSERT: usize = 64;

/// Appends `(?1, …, ?cols), (?cols+1, …)` for `rows` rows of `cols` values.
fn push_rows(sql: &mut String, rows: usize, cols: usize) {
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..cols {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
            sql.push_str(&(row * cols + col + 1).to_string());
        }
        sql.push(')');
    }
}

/// Deletes the batches wholly older than `before` (RFC 3339) from every chain and appends to
/// each chain it cut a checkpoint record that vouches for where the chain now starts, in the
/// same transaction as that chain's deletion. The newest batch of each chain is always kept,
/// so every chain has a tail to continue from. Then the actor lookup's rows that name no
/// record any more go too. Returns how many records were deleted.
pub fn prune(conn: &Conn, key: &KeyedHasher, before: &str, actor: &str) -> Result<u64, StoreError> {
    let nodes = conn.query("SELECT DISTINCT node FROM audit_batch ORDER BY node", &[])?;
    let mut deleted = 0;
    let mut failed = Vec::new();
    // A chain per transaction: appenders wait for one chain's prune at a time, and a chain
    // that cannot be pruned (a record younger than the floor) does not stop the others.
    for row in nodes {
        let node = row.text(0)?;
        match conn.transaction(Tx::Write, |tx| prune_chain(tx, key, &node, before, actor)) {
            Ok(n) => deleted += n,
            Err(e) => failed.push(format!("{}: {e}", super::verify::node_label(&node))),
        }
    }
    // Then the actor lookup's rows that name no record left (whatever the chains' outcome:
    // only such rows can go), when records went.
    if deleted > 0 {
        if let Err(e) = conn.transaction(Tx::Write, |tx| prune_lookup(tx, before)) {
            failed.push(format!("the actor lookup: {e}"));
        }
    }
    if failed.is_empty() {
        Ok(deleted)
    } else {
        Err(StoreError::Invalid(format!(
            "{deleted} record(s) pruned, but not from {}",
            failed.join("; ")
        )))
    }
}

/// Deletes the actor lookup's rows of the seconds before `before` that no record left before
/// it falls in (each chain's newest is kept, so some may stay). The records left that reach
/// back before the cut are in the few batches whose `ts_first` is before it, all within the
/// trail's span of it.
fn prune_lookup(tx: &Conn, before: &str) -> Result<u64, StoreError> {
    match tx.engine() {
        // Through the owner's function, like the chains.
        crate::store::sql::Engine::Postgres => {
            let n = tx
                .query_one("SELECT erpgate_audit_prune_lookup(?1)", &params![before])?
                .int(0)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }
        crate::store::sql::Engine::Sqlite => {
            let cut = second_of(before);
            let reach = batch::unix_second(before).ok_or_else(|| {
                StoreError::Invalid("the cut must be an RFC 3339 UTC time".into())
            })?;
            let hi = batch::second_time(reach.saturating_add(batch::span(tx)?));
            let mut kept = std::collections::BTreeSet::new();
            for r in tx.query(
                "SELECT records FROM audit_batch WHERE ts_last < ?1 AND ts_first < ?2",
                &params![hi.as_str(), before],
            )? {
                let text = r.text(0)?;
                for (_, line) in batch::lines(0, &text) {
                    if let Some(h) = batch::Head::of(line) {
                        let second = second_of(&h.ts);
                        if second < cut {
                            kept.insert((h.actor.into_owned(), second.to_string()));
                        }
                    }
                }
            }
            // Below the oldest second a kept record falls in, every row goes in one statement;
            // from there to the cut (a few seconds, unless a chain's newest record is older)
            // row by row.
            let lowest = kept
                .iter()
                .map(|(_, s)| s.as_str())
                .min()
                .unwrap_or(cut)
                .to_string();
            tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", &[])?;
            let mut n = tx.execute(
                "DELETE FROM audit_actor_second WHERE second < ?1",
                &params![lowest.as_str()],
            )?;
            for r in tx.query(
                "SELECT actor, second FROM audit_actor_second WHERE second >= ?1 AND second < ?2",
                &params![lowest.as_str(), cut],
            )? {
                let pair = (r.text(0)?, r.text(1)?);
                if !kept.contains(&pair) {
                    n += tx.execute(
                        "DELETE FROM audit_actor_second WHERE actor = ?1 AND second = ?2",
                        &params![pair.0.as_str(), pair.1.as_str()],
                    )?;
                }
            }
            tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", &[])?;
            Ok(n)
        }
    }
}

/// Prunes one chain inside the caller's transaction: its batches up to the last one wholly
/// before `before`, never its newest.
fn prune_chain(
    tx: &Conn,
    key: &KeyedHasher,
    node: &str,
    before: &str,
    actor: &str,
) -> Result<u64, StoreError> {
    // The chain's newest batch stays, however old.
    let last_old = tx
        .query_one(
            "SELECT MAX(id) FROM audit_batch WHERE node = ?1 AND ts_last < ?2 AND id < (SELECT MAX(id) FROM audit_batch WHERE node = ?1)",
            &params![node, before],
        )
        .and_then(|r| r.opt_int(0))?;
    let Some(last_old) = last_old else {
        return Ok(0);
    };
    let through = tx
        .query_one(
            "SELECT last_id FROM audit_batch WHERE id = ?1",
            &params![last_old],
        )?
        .int(0)?;
    let (next_id, continues_from) = tx
        .query_one(
            "SELECT id, prev_hash FROM audit_batch WHERE node = ?1 AND id > ?2 ORDER BY id LIMIT 1",
            &params![node, last_old],
        )
        .and_then(|r| Ok((r.int(0)?, r.text(1)?)))?;
    let deleted = match tx.engine() {
        // Through the owner's function: the gateway's role may not delete (README, roles).
        crate::store::sql::Engine::Postgres => {
            let n = tx
                .query_one(
                    "SELECT erpgate_audit_prune(?1, ?2)",
                    &params![node, through],
                )?
                .int(0)?;
            u64::try_from(n).unwrap_or(0)
        }
        crate::store::sql::Engine::Sqlite => {
            check_floor(tx, node, through)?;
            let n = tx
                .query_one(
                    "SELECT coalesce(sum(last_id - id + 1), 0) FROM audit_batch WHERE node = ?1 AND last_id <= ?2",
                    &params![node, through],
                )?
                .int(0)?;
            tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", &[])?;
            tx.execute(
                "DELETE FROM audit_batch WHERE node = ?1 AND last_id <= ?2",
                &params![node, through],
            )?;
            tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", &[])?;
            u64::try_from(n).unwrap_or(0)
        }
    };
    let note = serde_json::json!({
        "pruned_through_id": through,
        "pruned_before": before,
        "first_remaining_id": next_id,
        "continues_from": continues_from,
    });
    let rec = AuditRecord {
        ts: super::record::now(),
        request_id: format!("retention-{through}"),
        kind: Some(Kind::Checkpoint),
        actor: actor.to_string(),
        method: "PRUNE".into(),
        path: "audit_batch".into(),
        decision: "ok".into(),
        note: Some(note),
        ..Default::default()
    };
    let recs = [rec];
    append_in(tx, key, node, &recs)?;
    note_actors(tx, &NotedSeconds::new().missing(&recs))?;
    Ok(deleted)
}

/// Refuses to prune records younger than the store's retention floor (`audit_policy`), as
/// the PostgreSQL function does.
fn check_floor(tx: &Conn, node: &str, through: i64) -> Result<(), StoreError> {
    let days = tx
        .query_one(
            "SELECT min_retention_days FROM audit_policy WHERE id = 1",
            &[],
        )?
        .int(0)?;
    let floor = (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let young = tx
        .query_opt(
            "SELECT id FROM audit_batch WHERE node = ?1 AND last_id <= ?2 AND ts_last >= ?3 LIMIT 1",
            &params![node, through, floor],
        )?
        .is_some();
    if young {
        return Err(StoreError::Invalid(
            "audit records younger than the retention floor cannot be pruned".into(),
        ));
    }
    Ok(())
}
