//! What every admin endpoint shares: JSON input helpers, store error mapping, and the one
//! path every mutation takes (audit slot first, change, directory rebuild, audit record).

use std::sync::Arc;

use serde_json::Value;

use super::auth::AdminIdentity;
use super::{AdminRequest, AdminState, Reply};
use crate::store::{Store, StoreError};

pub(super) fn internal(why: &str) -> Reply {
    tracing::error!(why, "admin API failure");
    Reply::error(
        500,
        "admin.internal",
        "The admin API failed; see the gateway log.",
        None,
    )
}

pub(super) fn parse_body(req: &AdminRequest) -> Result<Value, Reply> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Reply::bad("body", "The body must be a JSON object.")),
    }
}

pub(super) fn query(req: &AdminRequest, name: &str) -> Option<String> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A string field: `Ok(None)` when absent and optional, 400 naming it otherwise.
pub(super) fn field<'b>(
    body: &'b Value,
    name: &str,
    required: bool,
) -> Result<Option<&'b str>, Reply> {
    match body.get(name) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(Reply::bad(name, &format!("`{name}` is required."))),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Ok(Some(s)),
        Some(_) => Err(Reply::bad(
            name,
            &format!("`{name}` must be a non-empty string of at most 256 characters."),
        )),
    }
}

pub(super) fn store_error(e: StoreError) -> Reply {
    match e {
        StoreError::NotFound { what, key } => Reply::error(
            404,
            "admin.not_found",
            &format!("{what} \"{key}\" does not exist"),
            None,
        ),
        StoreError::Conflict { what, key } => Reply::error(
            409,
            "admin.conflict",
            &format!("{what} \"{key}\" already exists"),
            None,
        ),
        StoreError::Invalid(m) => Reply::error(400, "admin.bad_request", &m, None),
        other => internal(&other.to_string()),
    }
}

pub(super) fn with_store(
    st: &AdminState,
    f: impl FnOnce(&Store) -> Result<Reply, StoreError>,
) -> Reply {
    let Ok(store) = st.store.lock() else {
        return internal("store lock poisoned");
    };
    f(&store).unwrap_or_else(store_error)
}

/// A mutation: reserve its audit record first (no record, no change: 503), run it, rebuild
/// the relay's directory view at once, then send the record with the admin identity.
pub(super) fn mutate(
    st: &AdminState,
    who: &AdminIdentity,
    verb: &str,
    f: impl FnOnce(&Store) -> Result<(String, Option<Value>, Reply), Reply>,
) -> Reply {
    let slot = match st.app.audit.reserve() {
        Ok(s) => s,
        Err(_) => {
            return Reply::error(
                503,
                "audit.unavailable",
                "The audit trail cannot record this change right now; nothing was changed.",
                None,
            )
        }
    };
    let Ok(store) = st.store.lock() else {
        return internal("store lock poisoned");
    };
    let (object, note, reply) = match f(&store) {
        Ok(done) => done,
        Err(reply) => return reply,
    };
    match store.load_directory() {
        Ok(dir) => st
            .app
            .directory
            .store(Arc::new(crate::directory::DirectoryView::build(dir))),
        Err(e) => {
            tracing::error!(error = %e, "admin change made; the relay picks it up at the next store poll")
        }
    }
    drop(store);
    slot.send(crate::audit::AuditRecord {
        ts: crate::audit::record::now(),
        request_id: crate::crypto::random_id("adm-", 8).unwrap_or_else(|_| "adm-api".into()),
        kind: Some(crate::audit::Kind::Admin),
        actor: who.actor(),
        method: verb.to_string(),
        path: object,
        decision: "ok".into(),
        note,
        ..Default::default()
    });
    reply
}
