//! Verifying the trail: every node's chain, link by link.
//!
//! Each gateway appends its own chain (`node` in every record, [`super::chain`]); batches of
//! all chains interleave by id. Verification keeps one walk per chain: within a chain ids
//! increase, each `prev_hash` is the previous batch's hash, each hash is the MAC of the
//! batch's records, the columns beside them match them, and the chain starts at genesis or
//! where a retention checkpoint says it continues. A removed batch shows as the next one's
//! broken link; a removed chain head as a chain that does not start at genesis; a removed
//! tail only against an anchored last hash (README: anchor `last_hash` elsewhere). In the
//! database, what lookups rely on beside the chain is checked too: every batch within the
//! trail's span, and every record's actor and second in the actor lookup (a record hidden
//! from them breaks its chain).

use std::collections::BTreeMap;

use super::chain::{link, GENESIS};
use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;
use crate::store::sql::{Conn, Tx, Value};
use crate::store::StoreError;

/// The outcome of verifying one chain.
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

/// The verdict on every chain in the trail, by node (`""`: the default chain of a single
/// gateway), in node order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// `(node, verdict)` for each chain found.
    pub chains: Vec<(String, Verdict)>,
    /// Batches in the database without a tally (written before schema 14, by an older
    /// gateway, or nulled since): no claim, so no break, but the summary of a window holding
    /// them reads their records instead. Always 0 for an export, which carries no tallies.
    pub untallied: u64,
}

impl Report {
    /// Whether every chain is intact.
    pub fn intact(&self) -> bool {
        self.chains
            .iter()
            .all(|(_, v)| matches!(v, Verdict::Intact { .. }))
    }

    /// Records checked in the intact chains.
    pub fn records(&self) -> u64 {
        self.chains
            .iter()
            .map(|(_, v)| match v {
                Verdict::Intact { records, .. } => *records,
                Verdict::Broken { .. } => 0,
            })
            .sum()
    }

    /// The verdict on `node`'s chain.
    pub fn chain(&self, node: &str) -> Option<&Verdict> {
        self.chains.iter().find(|(n, _)| n == node).map(|(_, v)| v)
    }

    /// Marks record `id` of `node`'s chain as missing from the actor lookup (its row in
    /// `audit_actor_second` was deleted, or never written): the chain holds, but a query by
    /// actor would not show the record. Kept as the chain's verdict unless that record or an
    /// earlier one of the chain is broken already (an edited actor or time column shows as
    /// such).
    fn hidden_from_actor_queries(&mut self, id: i64, node: &str) {
        let why = "the record's actor and second are missing from the actor lookup (audit_actor_second): queries by actor would not show it (deleted, or appended by a gateway older than schema 12: `erpgate audit reindex` adds what is missing)".to_string();
        match self.chains.iter_mut().find(|(n, _)| n == node) {
            Some((_, v)) => {
                if !matches!(v, Verdict::Broken { id: first, .. } if *first <= id) {
                    *v = Verdict::Broken { id, why };
                }
            }
            None => self
                .chains
                .push((node.to_string(), Verdict::Broken { id, why })),
        }
    }

    /// `(node, id, why)` of the first broken chain.
    pub fn first_broken(&self) -> Option<(&str, i64, &str)> {
        self.chains.iter().find_map(|(n, v)| match v {
            Verdict::Broken { id, why } => Some((n.as_str(), *id, why.as_str())),
            Verdict::Intact { .. } => None,
        })
    }
}

/// How a node is named in messages.
pub fn node_label(node: &str) -> String {
    if node.is_empty() {
        "the default chain".to_string()
    } else {
        format!("node {node}")
    }
}

/// Every `audit_batch` column stored beside the hashed records (each a copy of what the
/// records imply, and every one a lookup relies on), as verification compares them.
pub const COLUMNS: [&str; 4] = ["last_id", "ts_first", "ts_last", "tally"];

/// The columns stored beside a batch's records, and the trail's bounds they must be within.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The last record's id.
    pub last_id: i64,
    /// The earliest instant the records name.
    pub ts_first: String,
    /// The latest.
    pub ts_last: String,
    /// The request records by decision and reason ([`super::tally`]); `None` in a batch
    /// written before schema 14.
    pub tally: Option<String>,
    /// The trail's bounds (`audit_bounds`).
    pub bounds: super::batch::Bounds,
}

/// One stored batch, as verification sees it (and as `audit export` writes it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The chain it belongs to (`""`: the default chain; absent from older exports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// The first record's id.
    pub id: i64,
    /// The records' JSON, one per line, exactly as hashed (an export from before schema 13
    /// has one record per row).
    pub record: String,
    /// Previous MAC.
    pub prev_hash: String,
    /// This batch's MAC.
    pub hash: String,
    /// The columns stored beside the records: each is checked against them.
    #[serde(skip)]
    pub columns: Option<Columns>,
}

/// Verifies rows in id order, each chain on its own. A checkpoint (from retention) vouches
/// for the first remaining row's `prev_hash` when older rows were pruned. With `partial` (an
/// export of a time range), each chain's first row's `prev_hash` is taken as its anchor.
pub fn verify(
    key: &KeyedHasher,
    rows: impl Iterator<Item = Result<Row, String>>,
    partial: bool,
) -> Report {
    let mut walks = Walks::default();
    for row in rows {
        match row {
            Ok(r) => {
                walks.step(key, r);
            }
            Err(why) => {
                walks.unreadable(why);
                break;
            }
        }
    }
    walks.finish(partial)
}

/// Batches read per statement by [`verify_db`].
const PAGE: i64 = 64;

/// Reads every batch of the trail in id order and verifies every chain, and that every
/// record's actor and second are in the actor lookup. Everything is read in one transaction,
/// as of one moment: batches appended meanwhile (which may widen the trail's bounds past
/// what was read first) are not seen, rather than taken for a break. On SQLite the WAL cannot
/// be checkpointed past that moment until verification ends; on PostgreSQL the snapshot is
/// held as long. Call it outside any transaction (it opens its own).
pub fn verify_db(conn: &Conn, key: &KeyedHasher) -> Result<Report, StoreError> {
    conn.transaction(Tx::Read, |tx| verify_in(tx, key))
}

/// [`verify_db`] inside its read transaction.
fn verify_in(conn: &Conn, key: &KeyedHasher) -> Result<Report, StoreError> {
    let bounds = super::batch::bounds(conn)?;
    let mut walks = Walks::default();
    let mut hidden: BTreeMap<String, i64> = BTreeMap::new();
    // Pairs found in the lookup lately: a busy second's pairs recur batch after batch.
    let mut seen: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    // Every row, whatever its id: the first page has no lower bound.
    let mut after: Option<i64> = None;
    loop {
        let rows = match after {
            None => conn.query(
                "SELECT id, last_id, node, ts_first, ts_last, records, prev_hash, hash, tally FROM audit_batch ORDER BY id LIMIT ?1",
                &[Value::Int(PAGE)],
            )?,
            Some(a) => conn.query(
                "SELECT id, last_id, node, ts_first, ts_last, records, prev_hash, hash, tally FROM audit_batch WHERE id > ?1 ORDER BY id LIMIT ?2",
                &[Value::Int(a), Value::Int(PAGE)],
            )?,
        };
        let Some(last) = rows.last() else { break };
        after = Some(last.int(0)?);
        for r in rows {
            let tally = r.opt_text(8);
            if matches!(tally, Ok(None)) {
                walks.untallied += 1;
            }
            let row = Row {
                id: r.int(0)?,
                node: r.text(2)?,
                record: r.text(5)?,
                prev_hash: r.text(6)?,
                hash: r.text(7)?,
                columns: Some(Columns {
                    last_id: r.int(1)?,
                    ts_first: r.text(3)?,
                    ts_last: r.text(4)?,
                    // A value that is not text, which no appender writes, reads as an
                    // empty tally (no appender writes one either): named as differing.
                    tally: tally.unwrap_or_else(|_| Some(String::new())),
                    bounds,
                }),
            };
            let node = row.node.clone();
            for (id, actor, second) in walks.step(key, row) {
                if hidden.contains_key(&node) {
                    break;
                }
                let pair = (actor, second);
                if seen.contains(&pair) {
                    continue;
                }
                let there = conn
                    .query_opt(
                        "SELECT 1 FROM audit_actor_second WHERE actor = ?1 AND second = ?2",
                        &[Value::from(pair.0.as_str()), Value::from(pair.1.as_str())],
                    )?
                    .is_some();
                if !there {
                    hidden.insert(node.clone(), id);
                    break;
                }
                if seen.len() >= 65_536 {
                    seen.clear();
                }
                seen.insert(pair);
            }
        }
    }
    let mut report = walks.finish(false);
    for (node, id) in hidden {
        report.hidden_from_actor_queries(id, &node);
    }
    Ok(report)
}

/// One walk per chain; a broken chain's later rows are skipped.
#[derive(Default)]
struct Walks {
    chains: BTreeMap<String, Result<Walk, Verdict>>,
    /// A row that could not be read (an export line), and the id after the last one read.
    unreadable: Option<(i64, String)>,
    last_id: i64,
    /// The last record id of every row so far, whatever its chain: ids are global, so a
    /// row's ids must all come after it.
    global_last: Option<i64>,
    /// Batches read without a tally ([`Report::untallied`]).
    untallied: u64,
}

impl Walks {
    /// Checks one batch; returns each of its records' (id, actor, second) when it holds.
    fn step(&mut self, key: &KeyedHasher, row: Row) -> Vec<(i64, String, String)> {
        self.last_id = row.id;
        let lines = row.record.split('\n').count() as i64;
        let overlaps = row.id <= 0 || self.global_last.is_some_and(|g| row.id <= g);
        self.global_last = Some(
            self.global_last
                .unwrap_or(0)
                .max(row.id.saturating_add(lines - 1)),
        );
        let entry = self
            .chains
            .entry(row.node.clone())
            .or_insert_with(|| Ok(Walk::default()));
        if overlaps && entry.is_ok() {
            *entry = Err(Verdict::Broken {
                id: row.id,
                why: "the batch's record ids are not positive, or overlap another batch's (not written by an appender)".into(),
            });
        }
        if let Ok(walk) = entry {
            match walk.step(key, row) {
                Ok(pairs) => return pairs,
                Err(broken) => *entry = Err(broken),
            }
        }
        Vec::new()
    }

    fn unreadable(&mut self, why: String) {
        self.unreadable = Some((self.last_id.saturating_add(1), why));
    }

    fn finish(self, partial: bool) -> Report {
        let mut chains: Vec<(String, Verdict)> = self
            .chains
            .into_iter()
            .map(|(node, w)| {
                let verdict = match w {
                    Ok(walk) => walk.finish(partial),
                    Err(broken) => broken,
                };
                (node, verdict)
            })
            .collect();
        // A line that cannot be read belongs to no chain we can name: it is reported first.
        if let Some((id, why)) = self.unreadable {
            chains.insert(0, ("(unreadable)".into(), Verdict::Broken { id, why }));
        }
        Report {
            chains,
            untallied: self.untallied,
        }
    }
}

/// The state of one chain's verification between rows.
#[derive(Default)]
struct Walk {
    /// Records checked so far.
    count: u64,
    /// The hash the next row's `prev_hash` must equal.
    expected_prev: Option<String>,
    /// The last record id of the previous row.
    last_id: Option<i64>,
    /// The first row's id and `prev_hash`.
    first: Option<(i64, String)>,
    /// Whether a checkpoint vouched for the first row's `prev_hash`.
    vouched: bool,
}

impl Walk {
    /// Checks one batch against the chain so far and advances past it; returns each record's
    /// (id, actor, second).
    fn step(&mut self, key: &KeyedHasher, row: Row) -> Result<Vec<(i64, String, String)>, Verdict> {
        self.check_sequence(&row)?;
        if link(key, row.id, &row.prev_hash, &row.record) != row.hash {
            return Err(Verdict::Broken {
                id: row.id,
                why: "hash does not match the records (edited, or written with another key)".into(),
            });
        }
        let mut seen = Vec::new();
        let mut times = Vec::new();
        let mut decided = Vec::new();
        let mut last = row.id;
        for (id, line) in super::batch::lines(row.id, &row.record) {
            let parsed: AuditRecord = serde_json::from_str(line).map_err(|e| Verdict::Broken {
                id,
                why: format!("record is not valid JSON: {e}"),
            })?;
            if parsed.node.as_deref().unwrap_or("") != row.node {
                return Err(Verdict::Broken {
                    id,
                    why: "the record names another node than the chain it is stored in (moved between chains)".into(),
                });
            }
            if parsed.kind == Some(Kind::Checkpoint) {
                self.note_checkpoint(&parsed);
            }
            seen.push((
                id,
                parsed.actor,
                super::chain::second_of(&parsed.ts).to_string(),
            ));
            times.push((parsed.ts, parsed.request_id));
            decided.push((parsed.kind, parsed.decision, parsed.reason));
            last = id;
        }
        if let Some(cols) = &row.columns {
            check_columns(row.id, last, cols, &times, &decided)?;
        }
        self.expected_prev = Some(row.hash);
        self.last_id = Some(last);
        self.count += seen.len() as u64;
        Ok(seen)
    }

    /// Checks that `row` follows the previous one of its chain (a larger id, `prev_hash`
    /// linked: a batch removed between them breaks the link), and remembers the first row.
    fn check_sequence(&mut self, row: &Row) -> Result<(), Verdict> {
        if self.last_id.is_some_and(|last| row.id <= last) {
            return Err(Verdict::Broken {
                id: row.id,
                why: "record ids are out of order".into(),
            });
        }
        match &self.expected_prev {
            Some(p) if *p != row.prev_hash => {
                return Err(Verdict::Broken {
                    id: row.id,
                    why: "prev_hash does not match the previous batch's hash (a batch before it is missing, or was edited)".into(),
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
            if !(partial || self.vouched || fprev == GENESIS) {
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

/// Checks the columns stored beside batch `id` (records up to `last`, with these times and
/// request ids, kinds, decisions and reasons) against its hashed records.
fn check_columns(
    id: i64,
    last: i64,
    cols: &Columns,
    times: &[(String, String)],
    decided: &[(Option<Kind>, String, String)],
) -> Result<(), Verdict> {
    let differs = |column: &str| Verdict::Broken {
        id,
        why: format!("column {column} differs from the hashed records (edited beside the chain)"),
    };
    if cols.last_id != last {
        return Err(differs("last_id"));
    }
    let reach = super::batch::Reach::of(times.iter().map(|(t, r)| (t.as_str(), r.as_str())))
        .unwrap_or_default();
    if cols.ts_first != reach.first {
        return Err(differs("ts_first"));
    }
    if cols.ts_last != reach.last {
        return Err(differs("ts_last"));
    }
    let tally = || super::tally::of(decided.iter().map(|(k, d, r)| (*k, d.as_str(), r.as_str())));
    if cols.tally.as_ref().is_some_and(|t| *t != tally()) {
        return Err(differs("tally"));
    }
    if reach.span().is_none_or(|s| s > cols.bounds.span) {
        return Err(Verdict::Broken {
            id,
            why: format!(
                "the batch reaches wider than the trail's span of {} s (audit_bounds narrowed, or a record's time is not one): lookups would not find its records",
                cols.bounds.span
            ),
        });
    }
    if reach.unanchored && id > cols.bounds.unanchored_through {
        return Err(Verdict::Broken {
            id,
            why: "a record's request id does not place it in time, and the trail's bounds do not say so (audit_bounds narrowed): a lookup by that id would not find it".into(),
        });
    }
    Ok(())
}
