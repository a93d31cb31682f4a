//! The hash chain: each record's MAC covers its id, the previous record's MAC and its JSON.
//!
//! `hash_n = HMAC(audit_key, id_n ‖ hash_{n-1} ‖ record_json_n)`, hex. The key is derived from
//! the master key, so someone who can edit the database file cannot recompute the chain. Rows
//! are appended in one writer transaction per batch (SQLite `BEGIN IMMEDIATE`, a PostgreSQL
//! advisory lock), reading the current tail inside it, so several processes (the gateway and
//! the CLI) can append to one chain safely.

use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;
use crate::store::sql::{params, Conn, Tx};
use crate::store::StoreError;

/// The `prev_hash` of the first record ever written.
pub const GENESIS: &str = "genesis";

/// MAC of one record.
pub fn link(key: &KeyedHasher, id: i64, prev: &str, record_json: &str) -> String {
    hex::encode(key.hash_parts(&[&id.to_be_bytes(), prev.as_bytes(), record_json.as_bytes()]))
}

/// Appends `records` in one transaction, continuing the chain. Returns the last id written.
pub fn append(conn: &Conn, key: &KeyedHasher, records: &[AuditRecord]) -> Result<i64, StoreError> {
    conn.transaction(Tx::Write, |tx| {
        let tail = tx
            .query_opt(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                &[],
            )?
            .map(|r| Ok::<_, StoreError>((r.int(0)?, r.text(1)?)))
            .transpose()?;
        let (mut id, mut prev) = tail.unwrap_or((0, GENESIS.to_string()));
        // Many rows per statement: one round trip for up to ROWS_PER_INSERT records (on
        // PostgreSQL a statement per record made the writer the bottleneck under load).
        // SQLite has no round trip to save, and its cached one-row statement measured no
        // slower: one row per statement there.
        let per_insert = match tx.engine() {
            crate::store::sql::Engine::Postgres => ROWS_PER_INSERT,
            crate::store::sql::Engine::Sqlite => 1,
        };
        for chunk in records.chunks(per_insert) {
            let mut values = Vec::with_capacity(chunk.len() * 11);
            for r in chunk {
                id += 1;
                let json = serde_json::to_string(r).map_err(|e| {
                    StoreError::Invalid(format!("cannot encode an audit record: {e}"))
                })?;
                let hash = link(key, id, &prev, &json);
                values.extend(params![
                    id,
                    r.ts.as_str(),
                    r.request_id.as_str(),
                    r.kind.map_or("", Kind::as_str),
                    r.actor.as_str(),
                    r.decision.as_str(),
                    r.reason.as_str(),
                    r.path.as_str(),
                    json,
                    prev.as_str(),
                    hash.as_str()
                ]);
                prev = hash;
            }
            tx.execute(&insert_sql(chunk.len()), &values)?;
        }
        Ok(id)
    })
}

/// Records per `INSERT` statement on PostgreSQL (11 values each, well within its limits).
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO audit_log (…) VALUES (?1, …, ?11), (?12, …)` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_log (id, ts, request_id, kind, actor, decision, reason, path, record, prev_hash, hash) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..11 {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('?');
            sql.push_str(&(row * 11 + col + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every link holds.
    Intact {
        /// Records checked.
        records: u64,
        /// The last hash (anchor it elsewhere to detect truncation).
        last_hash: String,
    },
    /// The first broken link.
    Broken {
        /// Record id where the chain breaks.
        id: i64,
        /// What is wrong.
        why: String,
    },
}

/// Every `audit_log` column stored beside the hashed record (each a copy of a record field,
/// and every one a query may filter on), in the order verification compares them.
pub const COLUMNS: [&str; 7] = [
    "ts",
    "request_id",
    "kind",
    "actor",
    "decision",
    "reason",
    "path",
];

/// One stored row, as verification sees it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Record id.
    pub id: i64,
    /// The record JSON, exactly as hashed.
    pub record: String,
    /// Previous MAC.
    pub prev_hash: String,
    /// This record's MAC.
    pub hash: String,
    /// The columns stored beside the hashed record (and filtered on by queries), in
    /// [`COLUMNS`] order: each is checked against the JSON.
    #[serde(skip)]
    pub columns: Option<[String; 7]>,
}

/// Verifies rows in id order. A checkpoint (from retention) vouches for the first remaining
/// row's `prev_hash` when older rows were pruned. With `partial` (an export of a time range),
/// the first row's `prev_hash` is taken as the anchor instead.
pub fn verify(
    key: &KeyedHasher,
    rows: impl Iterator<Item = Result<Row, String>>,
    partial: bool,
) -> Verdict {
    let mut walk = Walk::default();
    for row in rows {
        let row = match row {
            Ok(r) => r,
            Err(why) => {
                return Verdict::Broken {
                    id: walk.expected_id.unwrap_or(0),
                    why,
                }
            }
        };
        if let Err(broken) = walk.step(key, row) {
            return broken;
        }
    }
    walk.finish(partial)
}

/// The state of a verification between rows.
#[derive(Default)]
struct Walk {
    /// Rows checked so far.
    count: u64,
    /// The hash the next row's `prev_hash` must equal.
    expected_prev: Option<String>,
    /// The id the next row must have.
    expected_id: Option<i64>,
    /// The first row's id and `prev_hash`.
    first: Option<(i64, String)>,
    /// Whether a checkpoint vouched for the first row's `prev_hash`.
    vouched: bool,
}

impl Walk {
    /// Checks one row against the chain so far and advances past it.
    fn step(&mut self, key: &KeyedHasher, row: Row) -> Result<(), Verdict> {
        self.check_sequence(&row)?;
        if link(key, row.id, &row.prev_hash, &row.record) != row.hash {
            return Err(Verdict::Broken {
                id: row.id,
                why: "hash does not match the record (edited, or written with another key)".into(),
            });
        }
        let parsed: AuditRecord =
            serde_json::from_str(&row.record).map_err(|e| Verdict::Broken {
                id: row.id,
                why: format!("record is not valid JSON: {e}"),
            })?;
        if let Some(cols) = &row.columns {
            check_columns(row.id, cols, &parsed)?;
        }
        if parsed.kind == Some(Kind::Checkpoint) {
            self.note_checkpoint(&parsed);
        }
        self.expected_prev = Some(row.hash.clone());
        self.expected_id = Some(row.id + 1);
        self.count += 1;
        Ok(())
    }

    /// Checks that `row` follows the previous one (no id missing, `prev_hash` linked), and
    /// remembers the first row.
    fn check_sequence(&mut self, row: &Row) -> Result<(), Verdict> {
        if let Some(want) = self.expected_id {
            if row.id != want {
                return Err(Verdict::Broken {
                    id: want,
                    why: format!("record {want} is missing (next id is {})", row.id),
                });
            }
        }
        match &self.expected_prev {
            Some(p) if *p != row.prev_hash => {
                return Err(Verdict::Broken {
                    id: row.id,
                    why: "prev_hash does not match the previous record's hash".into(),
                });
            }
            None => self.first = Some((row.id, row.prev_hash.clone())),
            _ => {}
        }
        Ok(())
    }

    /// Whether checkpoint `parsed` vouches for the first row's id and `prev_hash`.
    fn note_checkpoint(&mut self, parsed: &AuditRecord) {
        if let (Some((fid, fprev)), Some(note)) = (&self.first, &parsed.note) {
            let next = note.get("first_remaining_id").and_then(|v| v.as_i64());
            let prev = note.get("continues_from").and_then(|v| v.as_str());
            if next == Some(*fid) && prev == Some(fprev.as_str()) {
                self.vouched = true;
            }
        }
    }

    /// The verdict once every row held: the chain must start at genesis, be vouched for by a
    /// checkpoint, or be a `partial` export.
    fn finish(self, partial: bool) -> Verdict {
        if let Some((fid, fprev)) = &self.first {
            let starts_at_genesis = fprev == GENESIS && *fid == 1;
            if !(partial || self.vouched || starts_at_genesis) {
                return Verdict::Broken {
                    id: *fid,
                    why: "the chain does not start at genesis and no checkpoint vouches for its start (records were removed)".into(),
                };
            }
        }
        Verdict::Intact {
            records: self.count,
            last_hash: self.expected_prev.unwrap_or_else(|| GENESIS.to_string()),
        }
    }
}

/// Checks the columns stored beside record `id` against its hashed JSON.
fn check_columns(id: i64, cols: &[String; 7], parsed: &AuditRecord) -> Result<(), Verdict> {
    let want = [
        parsed.ts.clone(),
        parsed.request_id.clone(),
        parsed.kind.map_or("", Kind::as_str).to_string(),
        parsed.actor.clone(),
        parsed.decision.clone(),
        parsed.reason.clone(),
        parsed.path.clone(),
    ];
    if let Some(i) = (0..COLUMNS.len()).find(|&i| cols[i] != want[i]) {
        return Err(Verdict::Broken {
            id,
            why: format!(
                "column {} differs from the hashed record (edited beside the chain)",
                COLUMNS[i]
            ),
        });
    }
    Ok(())
}

/// Reads every row of the database in id order and verifies it.
pub fn verify_db(conn: &Conn, key: &KeyedHasher) -> Result<Verdict, StoreError> {
    let mut walk = Walk::default();
    let mut broken = None;
    conn.for_each(
        "SELECT id, record, prev_hash, hash, ts, request_id, kind, actor, decision, reason, path FROM audit_log ORDER BY id",
        &[],
        |r| {
            let row = Row {
                id: r.int(0)?,
                record: r.text(1)?,
                prev_hash: r.text(2)?,
                hash: r.text(3)?,
                columns: Some([
                    r.text(4)?,
                    r.text(5)?,
                    r.text(6)?,
                    r.text(7)?,
                    r.text(8)?,
                    r.text(9)?,
                    r.text(10)?,
                ]),
            };
            match walk.step(key, row) {
                Ok(()) => Ok(true),
                Err(b) => {
                    broken = Some(b);
                    Ok(false)
                }
            }
        },
    )?;
    Ok(broken.unwrap_or_else(|| walk.finish(false)))
}

/// Deletes records older than `before` (RFC 3339) and appends a checkpoint record that vouches
/// for where the remaining chain starts. Returns how many records were deleted.
pub fn prune(conn: &Conn, key: &KeyedHasher, before: &str, actor: &str) -> Result<u64, StoreError> {
    let pruned = conn.transaction(Tx::Write, |tx| {
        // The newest record is always kept, so the chain has a tail to continue from.
        let last_old = tx
            .query_one(
                "SELECT (SELECT MAX(id) FROM audit_log WHERE ts < ?1), (SELECT MAX(id) - 1 FROM audit_log)",
                &params![before],
            )
            .and_then(|r| Ok(r.opt_int(0)?.zip(r.opt_int(1)?).map(|(a, b)| a.min(b))))?;
        let Some(last_old) = last_old.filter(|id| *id > 0) else {
            return Ok(None);
        };
        let first_remaining = tx
            .query_opt(
                "SELECT id, prev_hash FROM audit_log WHERE id > ?1 ORDER BY id LIMIT 1",
                &params![last_old],
            )?
            .map(|r| Ok::<_, StoreError>((r.int(0)?, r.text(1)?)))
            .transpose()?;
        tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", &[])?;
        let deleted = tx.execute("DELETE FROM audit_log WHERE id <= ?1", &params![last_old])?;
        tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", &[])?;
        Ok(Some((last_old, deleted, first_remaining)))
    })?;
    let Some((last_old, deleted, first_remaining)) = pruned else {
        return Ok(0);
    };
    // The checkpoint goes through the normal append path, chained after the current tail.
    let Some((next_id, continues_from)) = first_remaining else {
        return Ok(deleted);
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
    append(conn, key, &[rec])?;
    Ok(deleted)
}
