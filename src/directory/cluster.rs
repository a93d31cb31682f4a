//! The gateways sharing this store, as this one last heard of them: each records its node id
//! and the hash of the configuration snapshot it serves every few seconds (and at once when
//! a reload changes it), and reads everyone's. `/status` lists them and says whether the live
//! ones serve different snapshots; `/metrics` counts them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::store::{NodeRow, Store, StoreError};

/// How often a gateway records its heartbeat (and at once when its snapshot changes).
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often a gateway reads the others' rows.
const READ_EVERY: Duration = Duration::from_secs(1);

/// A node is live while its last heartbeat is younger than this.
pub const LIVE: Duration = Duration::from_secs(20);

/// Gateways forgotten from the list after this long without a heartbeat.
const FORGET: Duration = Duration::from_secs(24 * 3600);

/// The nodes this gateway knows of.
#[derive(Default)]
pub struct Cluster {
    nodes: ArcSwap<Vec<NodeRow>>,
}

impl Cluster {
    /// Every node heard of in the last day, by node id.
    pub fn nodes(&self) -> Arc<Vec<NodeRow>> {
        self.nodes.load_full()
    }

    /// Whether `row`'s heartbeat is recent at `now_ms`.
    pub fn is_live(row: &NodeRow, now_ms: i64) -> bool {
        now_ms.saturating_sub(row.seen_at_ms) < LIVE.as_millis() as i64
    }

    /// `(live nodes, distinct snapshot hashes among them)` at `now_ms`: more than one
    /// snapshot means the gateways behind one load balancer answer by different rules.
    pub fn summary(&self, now_ms: i64) -> (usize, usize) {
        let nodes = self.nodes.load();
        let mut hashes: Vec<&str> = nodes
            .iter()
            .filter(|n| Self::is_live(n, now_ms))
            .map(|n| n.snapshot.as_str())
            .collect();
        let live = hashes.len();
        hashes.sort_unstable();
        hashes.dedup();
        (live, hashes.len())
    }
}

/// This gateway's side of the heartbeat, run by the store poller.
pub struct Heartbeat {
    node: String,
    started_at: String,
    last_beat: Option<(Instant, String)>,
    last_read: Option<Instant>,
}

impl Heartbeat {
    /// The heartbeat of gateway `node`, started now.
    pub fn new(node: &str) -> Heartbeat {
        Heartbeat {
            node: node.to_string(),
            started_at: crate::store::now(),
            last_beat: None,
            last_read: None,
        }
    }

    /// Records this gateway's row when due (or when `snapshot` changed) and refreshes
    /// `cluster` when due.
    pub fn tick(
        &mut self,
        store: &Store,
        cluster: &Cluster,
        snapshot: &str,
        now: Instant,
    ) -> Result<(), StoreError> {
        let now_ms = unix_ms();
        let due = self
            .last_beat
            .as_ref()
            .is_none_or(|(at, hash)| now.duration_since(*at) >= HEARTBEAT || hash != snapshot);
        if due {
            store.heartbeat(&NodeRow {
                node: self.node.clone(),
                snapshot: snapshot.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                started_at: self.started_at.clone(),
                seen_at_ms: now_ms,
            })?;
            self.last_beat = Some((now, snapshot.to_string()));
        }
        if due
            || self
                .last_read
                .is_none_or(|at| now.duration_since(at) >= READ_EVERY)
        {
            let since = now_ms.saturating_sub(FORGET.as_millis() as i64);
            cluster.nodes.store(Arc::new(store.nodes(since)?));
            self.last_read = Some(now);
        }
        Ok(())
    }
}

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
