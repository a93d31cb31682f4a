//! The hash chains: each record's MAC covers its id, the previous record's MAC in the same
//! chain and its JSON.
//!
//! `hash_n = HMAC(audit_key, id_n ‖ hash_{n-1} ‖ record_json_n)`, hex. The key is derived from
//! the master key, so someone who can edit the database cannot recompute a chain. Each gateway
//! (`gateway.node_id`) appends its own chain, its node id in every record's JSON (and in the
//! `node` column); a single gateway's default chain has none. Ids are global and increasing,
//! so the chains interleave by id. Rows are appended in one writer transaction per batch
//! (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), reading the chain's tail inside
//! it, so several processes (gateways, the CLI) can append to one chain safely. The same
//! transaction writes the actor lookup's rows for the batch ([`super::by_actor`]) that the
//! appender has not written already ([`NotedSeconds`]).

pub use super::noted::NotedSeconds;
use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;
use crate::store::sql::{params, Conn, Param, Tx};
use crate::store::StoreError;

pub use super::verify::{verify, verify_db, Report, Row, Verdict, COLUMNS};

/// The `prev_hash` of the first record of every chain.
pub const GENESIS: &str = "genesis";

/// MAC of one record.
pub fn link(key: &KeyedHasher, id: i64, prev: &str, record_json: &str) -> String {
    hex::encode(key.hash_parts(&[&id.to_be_bytes(), prev.as_bytes(), record_json.as_bytes()]))
}

/// Appends `records` to `node`'s chain in one transaction. Returns the last id written.
pub fn append(
    conn: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[AuditRecord],
) -> Result<i64, StoreError> {
    append_noting(conn, key, node, records, &mut NotedSeconds::new())
}

/// [`append`] for an appender that writes batch after batch (the writer): the actor lookup's
/// rows in `noted` are not written again, and those of this batch are added to it once the
/// transaction has committed. `noted` is trusted only while the chain's tail is the record
/// this appender wrote last: anything else appended to the chain in between (a retention
/// checkpoint above all, which may come with lookup rows deleted) makes it start afresh.
pub fn append_noting(
    conn: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[AuditRecord],
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

/// What [`append_in`] did.
struct Appended {
    /// The last id written.
    last_id: i64,
    /// The chain's tail hash before the batch ([`GENESIS`] for a new chain).
    tail: String,
    /// The hash of the batch's last record (the new tail).
    last_hash: String,
}

/// [`append`] inside the caller's write transaction, without the actor lookup's rows.
fn append_in(
    tx: &Conn,
    key: &KeyedHasher,
    node: &str,
    records: &[AuditRecord],
) -> Result<Appended, StoreError> {
    let tail = tx
        .query_one(
            "SELECT (SELECT MAX(id) FROM audit_log), (SELECT hash FROM audit_log WHERE node = ?1 ORDER BY id DESC LIMIT 1)",
            &params![node],
        )
        .and_then(|r| Ok((r.opt_int(0)?, r.opt_text(1)?)))?;
    let mut id = tail.0.unwrap_or(0);
    let tail = tail.1.unwrap_or_else(|| GENESIS.to_string());
    let mut prev = tail.clone();
    // Many rows per statement: one round trip for up to ROWS_PER_INSERT records (on
    // PostgreSQL a statement per record made the writer the bottleneck under load). SQLite
    // has no round trip to save, and its cached one-row statement measured no slower: one
    // row per statement there.
    let per_insert = match tx.engine() {
        crate::store::sql::Engine::Postgres => ROWS_PER_INSERT,
        crate::store::sql::Engine::Sqlite => 1,
    };
    // Each record's JSON and link are made before its row is bound: the values borrow them.
    let mut jsons = Vec::with_capacity(per_insert.min(records.len()));
    let mut hashes: Vec<String> = Vec::with_capacity(per_insert.min(records.len()));
    let mut full_sql = None;
    for chunk in records.chunks(per_insert) {
        jsons.clear();
        hashes.clear();
        let first = id + 1;
        for r in chunk {
            id += 1;
            let json = encode(r, node)?;
            let hash = link(key, id, hashes.last().unwrap_or(&prev), &json);
            jsons.push(json);
            hashes.push(hash);
        }
        let mut values = Vec::with_capacity(chunk.len() * COLUMNS_WRITTEN);
        for (k, r) in chunk.iter().enumerate() {
            let before = if k == 0 { &prev } else { &hashes[k - 1] };
            values.extend([
                Param::Int(first + k as i64),
                Param::Text(&r.ts),
                Param::Text(&r.request_id),
                Param::Text(r.kind.map_or("", Kind::as_str)),
                Param::Text(&r.actor),
                Param::Text(&r.decision),
                Param::Text(&r.reason),
                Param::Text(&r.path),
                Param::Text(&jsons[k]),
                Param::Text(before),
                Param::Text(&hashes[k]),
                Param::Text(node),
            ]);
        }
        // Every chunk but the last has the same size: its statement is built once.
        let sql: &str = if chunk.len() == per_insert {
            full_sql.get_or_insert_with(|| insert_sql(per_insert))
        } else {
            &insert_sql(chunk.len())
        };
        tx.execute_params(sql, &values)?;
        if let Some(last) = hashes.last() {
            prev.clone_from(last);
        }
    }
    Ok(Appended {
        last_id: id,
        tail,
        last_hash: prev,
    })
}

/// Adds to the actor lookup every (actor, second) of the trail it lacks (records appended by
/// a gateway older than schema 12, after the migration filled the lookup). Returns the rows
/// added. Reads the whole trail once. (`WHERE true`: SQLite's parser needs it between a
/// `SELECT` and `ON CONFLICT`.)
pub fn reindex(conn: &Conn) -> Result<u64, StoreError> {
    conn.transaction(Tx::Write, |tx| {
        tx.execute(
            "INSERT INTO audit_actor_second (actor, second) SELECT DISTINCT actor, substr(ts, 1, 19) FROM audit_log WHERE true ON CONFLICT DO NOTHING",
            &[],
        )
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

/// A record's JSON as `node`'s chain holds it: with `"node"` as its first member (where
/// serde puts the field) unless the record already names that node.
pub fn encode(r: &AuditRecord, node: &str) -> Result<String, StoreError> {
    let json = serde_json::to_string(r)
        .map_err(|e| StoreError::Invalid(format!("cannot encode an audit record: {e}")))?;
    match r.node.as_deref() {
        Some(n) if n == node => Ok(json),
        Some(n) => Err(StoreError::Invalid(format!(
            "an audit record of node {n:?} cannot join the chain of node {node:?}"
        ))),
        None if node.is_empty() => Ok(json),
        None => {
            let name = serde_json::to_string(node)
                .map_err(|e| StoreError::Invalid(format!("cannot encode a node id: {e}")))?;
            let rest = json.strip_prefix('{').unwrap_or(&json);
            Ok(format!("{{\"node\":{name},{rest}"))
        }
    }
}

/// Columns each appended row writes.
const COLUMNS_WRITTEN: usize = 12;

/// Records per `INSERT` statement on PostgreSQL (12 values each, well within its limits).
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO audit_log (…) VALUES (?1, …, ?12), (?13, …)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_log (id, ts, request_id, kind, actor, decision, reason, path, record, prev_hash, hash, node) VALUES ",
    );
    push_rows(&mut sql, rows, COLUMNS_WRITTEN);
    sql
}

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

/// Deletes records older than `before` (RFC 3339) from every chain and appends to each chain
/// it cut a checkpoint record that vouches for where the chain now starts, in the same
/// transaction as that chain's deletion. The newest record of each chain is always kept, so
/// every chain has a tail to continue from. Then the actor lookup's rows that name no record
/// any more go too. Returns how many records were deleted.
pub fn prune(conn: &Conn, key: &KeyedHasher, before: &str, actor: &str) -> Result<u64, StoreError> {
    let nodes = conn.query("SELECT DISTINCT node FROM audit_log ORDER BY node", &[])?;
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
/// it falls in (each chain's newest is kept, so some may stay).
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
            tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", &[])?;
            let n = tx.execute(
                "DELETE FROM audit_actor_second WHERE second < substr(?1, 1, 19) \
                 AND (actor, second) NOT IN (SELECT actor, substr(ts, 1, 19) FROM audit_log WHERE ts < ?1)",
                &params![before],
            )?;
            tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", &[])?;
            Ok(n)
        }
    }
}

/// Prunes one chain inside the caller's transaction.
fn prune_chain(
    tx: &Conn,
    key: &KeyedHasher,
    node: &str,
    before: &str,
    actor: &str,
) -> Result<u64, StoreError> {
    // The chain's newest record stays, however old.
    let last_old = tx
        .query_one(
            "SELECT MAX(id) FROM audit_log WHERE node = ?1 AND ts < ?2 AND id < (SELECT MAX(id) FROM audit_log WHERE node = ?1)",
            &params![node, before],
        )
        .and_then(|r| r.opt_int(0))?;
    let Some(last_old) = last_old else {
        return Ok(0);
    };
    let (next_id, continues_from) = tx
        .query_one(
            "SELECT id, prev_hash FROM audit_log WHERE node = ?1 AND id > ?2 ORDER BY id LIMIT 1",
            &params![node, last_old],
        )
        .and_then(|r| Ok((r.int(0)?, r.text(1)?)))?;
    let deleted = match tx.engine() {
        // Through the owner's function: the gateway's role may not delete (README, roles).
        crate::store::sql::Engine::Postgres => {
            let n = tx
                .query_one(
                    "SELECT erpgate_audit_prune(?1, ?2)",
                    &params![node, last_old],
                )?
                .int(0)?;
            u64::try_from(n).unwrap_or(0)
        }
        crate::store::sql::Engine::Sqlite => {
            check_floor(tx, node, last_old)?;
            tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", &[])?;
            let n = tx.execute(
                "DELETE FROM audit_log WHERE node = ?1 AND id <= ?2",
                &params![node, last_old],
            )?;
            tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", &[])?;
            n
        }
    };
    let note = serde_json::json!({
        "pruned_through_id": last_old,
        "pruned_before": before,
        "first_remaining_id": next_id,
        "continues_from": continues_from,
    });
    let rec = AuditRecord {
        ts: super::record::now(),
        request_id: format!("retention-{last_old}"),
        kind: Some(Kind::Checkpoint),
        actor: actor.to_string(),
        method: "PRUNE".into(),
        path: "audit_log".into(),
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
            "SELECT id FROM audit_log WHERE node = ?1 AND id <= ?2 AND ts >= ?3 LIMIT 1",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_encoded_where_serde_puts_it() {
        let mut r = AuditRecord {
            ts: "2026-01-01T00:00:00.000000Z".into(),
            request_id: "r\"1".into(),
            actor: "a".into(),
            ..Default::default()
        };
        let plain = encode(&r, "").expect("plain");
        let spliced = encode(&r, "gw-\"b").expect("spliced");
        r.node = Some("gw-\"b".into());
        assert_eq!(spliced, serde_json::to_string(&r).expect("serde"));
        assert_eq!(encode(&r, "gw-\"b").expect("named"), spliced);
        assert!(
            encode(&r, "other").is_err(),
            "a record cannot change chains"
        );
        assert!(!plain.contains("node"));
    }
}
