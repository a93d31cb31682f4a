//! The gateways on this store: each records, at start and every few seconds, the hash of the
//! configuration snapshot it serves, so any of them (`/status`, a metric) can tell when they
//! serve different configurations. Only heartbeats: no access state, no change announced.

use super::sql::params;
use super::{Store, StoreError};

/// One gateway as the store last heard of it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeRow {
    /// `gateway.node_id` (`""`: a single gateway without one).
    pub node: String,
    /// The shared hash of the configuration it serves (all but `[gateway]`).
    pub snapshot: String,
    /// Its erpgate version.
    pub version: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Its last heartbeat, Unix ms.
    pub seen_at_ms: i64,
}

impl Store {
    /// Records `row` (insert or replace this node's row).
    pub fn heartbeat(&self, row: &NodeRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO nodes (node, snapshot, version, started_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (node) DO UPDATE SET snapshot = excluded.snapshot, version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at",
            &params![
                row.node.as_str(),
                row.snapshot.as_str(),
                row.version.as_str(),
                row.started_at.as_str(),
                row.seen_at_ms
            ],
        )?;
        Ok(())
    }

    /// Every gateway heard of since `since_ms`, by node id.
    pub fn nodes(&self, since_ms: i64) -> Result<Vec<NodeRow>, StoreError> {
        self.conn
            .query(
                "SELECT node, snapshot, version, started_at, seen_at FROM nodes WHERE seen_at >= ?1 ORDER BY node",
                &params![since_ms],
            )?
            .iter()
            .map(|r| {
                Ok(NodeRow {
                    node: r.text(0)?,
                    snapshot: r.text(1)?,
                    version: r.text(2)?,
                    started_at: r.text(3)?,
                    seen_at_ms: r.int(4)?,
                })
            })
            .collect()
    }
}
