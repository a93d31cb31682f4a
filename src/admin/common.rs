//! What every admin endpoint shares: JSON input helpers, error mapping, and the one way a
//! mutation runs: as a [`crate::service`] operation, audited with the admin identity.

use serde_json::Value;

use super::auth::AdminIdentity;
use super::{AdminRequest, AdminState, Reply};
use crate::service::{Actor, Operator, ServiceError};
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
    let store = match st.store() {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    f(&store).unwrap_or_else(store_error)
}

/// Runs service operations as `who` on the admin API's store, inside the running gateway
/// (audit slot reserved before the change, directory view rebuilt after it); a refusal is
/// rendered by `to_reply` (usually [`service_error`]).
pub(super) fn operate(
    st: &AdminState,
    who: &AdminIdentity,
    to_reply: impl FnOnce(ServiceError) -> Reply,
    f: impl FnOnce(&mut Operator<'_>) -> Result<Reply, ServiceError>,
) -> Reply {
    let mut store = match st.store() {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let mut op = Operator::live(&mut store, &st.app, Actor::named(who.actor()));
    f(&mut op).unwrap_or_else(to_reply)
}

/// The standard answer to a refused operation.
pub(super) fn service_error(e: ServiceError) -> Reply {
    match e {
        ServiceError::AuditUnavailable => Reply::error(
            503,
            "audit.unavailable",
            "The audit trail cannot record this change right now; nothing was changed.",
            None,
        ),
        ServiceError::Store(e) => store_error(e),
        ServiceError::NoSuchAccount(_) => {
            Reply::error(404, "admin.not_found", &e.to_string(), Some("account"))
        }
        ServiceError::UnknownTenant { .. } => Reply::bad("tenant", &e.to_string()),
        ServiceError::Invalid(m) => Reply::error(400, "admin.bad_request", &m, None),
        ServiceError::AuditWrite(m) | ServiceError::Internal(m) => internal(&m),
    }
}
