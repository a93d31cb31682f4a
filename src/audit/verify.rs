//! Verifying the trail: every node's chain, link by link.
//!
//! Each gateway appends its own chain (`node` in every record, [`super::chain`]); rows of all
//! chains interleave by id. Verification keeps one walk per chain: within a chain ids
//! increase, each `prev_hash` is the previous record's hash, each hash is the MAC of the
//! record, the columns beside the record match it, and the chain starts at genesis or where a
//! retention checkpoint says it continues. A removed record shows as the next one's broken
//! link; a removed chain head as a chain that does not start at genesis; a removed tail only
//! against an anchored last hash (README: anchor `last_hash` elsewhere). In the database,
//! every record's actor and second must also be in the actor lookup that queries by actor
//! read (outside the chain, so checked here): a record hidden from them breaks its chain.

use std::collections::BTreeMap;

use super::chain::{link, GENESIS};
use super::record::{AuditRecord, Kind};
use crate::crypto::KeyedHasher;
use crate::store::sql::Conn;
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

/// One stored row, as verification sees it (and as `audit export` writes it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// The chain it belongs to (`""`: the default chain; absent from older exports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
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
            Ok(r) => walks.step(key, r),
            Err(why) => {
                walks.unreadable(why);
                break;
            }
        }
    }
    walks.finish(partial)
}

/// Reads every row of the trail in id order and verifies every chain.
pub fn verify_db(conn: &Conn, key: &KeyedHasher) -> Result<Report, StoreError> {
    let mut walks = Walks::default();
    conn.for_each(
        "SELECT id, record, prev_hash, hash, ts, request_id, kind, actor, decision, reason, path, node FROM audit_log ORDER BY id",
        &[],
        |r| {
            walks.step(
                key,
                Row {
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
                    node: r.text(11)?,
                },
            );
            Ok(true)
        },
    )?;
    let mut report = walks.finish(false);
    for row in conn.query(
        "SELECT MIN(l.id), l.node FROM audit_log l WHERE NOT EXISTS (SELECT 1 FROM audit_actor_second s WHERE s.actor = l.actor AND s.second = substr(l.ts, 1, 19)) GROUP BY l.node",
        &[],
    )? {
        report.hidden_from_actor_queries(row.int(0)?, &row.text(1)?);
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
}

impl Walks {
    fn step(&mut self, key: &KeyedHasher, row: Row) {
        self.last_id = row.id;
        let entry = self
            .chains
            .entry(row.node.clone())
            .or_insert_with(|| Ok(Walk::default()));
        if let Ok(walk) = entry {
            if let Err(broken) = walk.step(key, row) {
                *entry = Err(broken);
            }
        }
    }

    fn unreadable(&mut self, why: String) {
        self.unreadable = Some((self.last_id + 1, why));
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
        Report { chains }
    }
}

/// The state of one chain's verification between rows.
#[derive(Default)]
struct Walk {
    /// Rows checked so far.
    count: u64,
    /// The hash the next row's `prev_hash` must equal.
    expected_prev: Option<String>,
    /// The id the previous row had.
    last_id: Option<i64>,
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
        if parsed.node.as_deref().unwrap_or("") != row.node {
            return Err(Verdict::Broken {
                id: row.id,
                why: "the record names another node than the chain it is stored in (moved between chains)".into(),
            });
        }
        if let Some(cols) = &row.columns {
            check_columns(row.id, cols, &parsed)?;
        }
        if parsed.kind == Some(Kind::Checkpoint) {
            self.note_checkpoint(&parsed);
        }
        self.expected_prev = Some(row.hash);
        self.last_id = Some(row.id);
        self.count += 1;
        Ok(())
    }

    /// Checks that `row` follows the previous one of its chain (a larger id, `prev_hash`
    /// linked: a record removed between them breaks the link), and remembers the first row.
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
                    why: "prev_hash does not match the previous record's hash (a record before it is missing, or was edited)".into(),
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

/// Checks the columns stored beside record `id` against its hashed JSON.
fn check_columns(id: i64, cols: &[String; 7], parsed: &AuditRecord) -> Result<(), Verdict> {
    let want = [
        parsed.ts.as_str(),
        parsed.request_id.as_str(),
        parsed.kind.map_or("", Kind::as_str),
        parsed.actor.as_str(),
        parsed.decision.as_str(),
        parsed.reason.as_str(),
        parsed.path.as_str(),
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
