//! The hash chain: each record's MAC covers its id, the previous record's MAC and its JSON.
//!
//! `hash_n = HMAC(audit_key, id_n ‖ hash_{n-1} ‖ record_json_n)`, hex. The key is derived from
//! the master key, so someone who can edit the database file cannot recompute the chain. Rows
//! are appended in one `BEGIN IMMEDIATE` transaction per batch, reading the current tail inside
//! it, so several processes (the gateway and the CLI) can append to one chain safely.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;

/// The `prev_hash` of the first record ever written.
pub const GENESIS: &str = "genesis";

/// MAC of one record.
pub fn link(key: &KeyedHasher, id: i64, prev: &str, record_json: &str) -> String {
    hex::encode(key.hash_parts(&[&id.to_be_bytes(), prev.as_bytes(), record_json.as_bytes()]))
}

/// Appends `records` in one transaction, continuing the chain. Returns the last id written.
pub fn append(
    conn: &mut Connection,
    key: &KeyedHasher,
    records: &[AuditRecord],
) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tail: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut id, mut prev) = tail.unwrap_or((0, GENESIS.to_string()));
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO audit_log (id, ts, request_id, kind, actor, decision, reason, path, record, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for r in records {
            id += 1;
            let json = serde_json::to_string(r)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let hash = link(key, id, &prev, &json);
            st.execute(params![
                id,
                r.ts,
                r.request_id,
                r.kind.map_or("", Kind::as_str),
                r.actor,
                r.decision,
                r.reason,
                r.path,
                json,
                prev,
                hash
            ])?;
            prev = hash;
        }
    }
    tx.commit()?;
    Ok(id)
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
pub fn verify_db(conn: &Connection, key: &KeyedHasher) -> rusqlite::Result<Verdict> {
    let mut st = conn.prepare(
        "SELECT id, record, prev_hash, hash, ts, request_id, kind, actor, decision, reason, path FROM audit_log ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Row {
            id: r.get(0)?,
            record: r.get(1)?,
            prev_hash: r.get(2)?,
            hash: r.get(3)?,
            columns: Some([
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ]),
        })
    })?;
    Ok(verify(
        key,
        rows.map(|r| r.map_err(|e| e.to_string())),
        false,
    ))
}

/// Deletes records older than `before` (RFC 3339) and appends a checkpoint record that vouches
/// for where the remaining chain starts. Returns how many records were deleted.
pub fn prune(
    conn: &mut Connection,
    key: &KeyedHasher,
    before: &str,
    actor: &str,
) -> rusqlite::Result<u64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The newest record is always kept, so the chain has a tail to continue from.
    let last_old: Option<i64> = tx.query_row(
        "SELECT MIN((SELECT MAX(id) FROM audit_log WHERE ts < ?1), (SELECT MAX(id) - 1 FROM audit_log))",
        [before],
        |r| r.get(0),
    )?;
    let Some(last_old) = last_old.filter(|id| *id > 0) else {
        return Ok(0);
    };
    let first_remaining: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, prev_hash FROM audit_log WHERE id > ?1 ORDER BY id LIMIT 1",
            [last_old],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    tx.execute("UPDATE audit_gate SET open = 1 WHERE id = 1", [])?;
    let deleted = tx.execute("DELETE FROM audit_log WHERE id <= ?1", [last_old])?;
    tx.execute("UPDATE audit_gate SET open = 0 WHERE id = 1", [])?;
    tx.commit()?;
    // The checkpoint goes through the normal append path, chained after the current tail.
    let Some((next_id, continues_from)) = first_remaining else {
        return Ok(deleted as u64);
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
    Ok(deleted as u64)
}
