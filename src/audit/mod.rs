//! The audit trail: one record per relayed or refused request, token issuance attempt and
//! administrative action; append-only (enforced by triggers), hash-chained under a key derived
//! from the master key, written in batches off the request path, never holding a secret.

pub mod batch;
pub mod by_actor;
pub mod chain;
pub mod clock;
pub mod encode;
pub mod noted;
pub mod preview;
pub mod query;
pub mod queued;
pub mod record;
pub mod select;
pub mod tally;
pub mod verify;
pub mod view;
pub mod writer;

pub use queued::{Appendable, Queued};
pub use record::{AuditRecord, Kind};
pub use view::RecordView;
pub use writer::{AuditSink, AuditStats, AuditWriter, Slot, Unavailable};

use crate::crypto::MasterKey;
use crate::store::Store;

/// Appends one administrative action synchronously (CLI) to the chain of the store's node. `object` is what was acted on
/// (an account name, a credential id…), `note` secret-free details.
pub fn admin_action(
    store: &mut Store,
    master: &MasterKey,
    actor: &str,
    verb: &str,
    object: &str,
    note: Option<serde_json::Value>,
) -> Result<(), String> {
    let rec = AuditRecord {
        ts: record::now(),
        request_id: crate::crypto::random_id("adm-", 8).map_err(|e| e.to_string())?,
        kind: Some(Kind::Admin),
        actor: actor.to_string(),
        method: verb.to_string(),
        path: object.to_string(),
        decision: "ok".into(),
        note,
        ..Default::default()
    };
    chain::append(store.conn(), &master.audit_key(), store.node(), &[rec])
        .map(|_| ())
        .map_err(|e| format!("cannot write the audit record: {e}"))
}

#[cfg(test)]
mod tests;
