//! The operations every face performs — the CLI, the admin API and the coming portal — in
//! one place: reload the configuration, create, suspend and resume an account, issue and
//! revoke a credential set, revoke or prune gateway tokens, flip the kill switch, create and
//! revoke admin tokens, store an upstream secret. A face parses its input, names its caller
//! (an [`Actor`]) and renders the result; the operation itself, and the audit record it
//! leaves, are the same whoever calls it.
//!
//! Every mutation takes the same path ([`Operator::perform`]): where a gateway runs in this
//! process ([`Trail::Live`]), the record's place in the audit queue is reserved first (none
//! free: nothing changes), the change is made, the relay's directory view is rebuilt at once
//! and the record is sent; without one (the CLI, [`Trail::Offline`]) the change is made and
//! the record appended to the chain synchronously with the master key, failing loudly.

pub mod account;
pub mod admin_token;
pub mod credential;
pub mod killswitch;
pub mod portal_user;
pub mod reload;
pub mod secret;
pub mod tenant;
pub mod token;

use std::sync::Arc;

use serde_json::Value;

use crate::app::App;
use crate::audit::{AuditRecord, Kind};
use crate::crypto::MasterKey;
use crate::store::{Store, StoreError};

/// Why an operation did not happen (or, for [`ServiceError::AuditWrite`], happened unrecorded).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No place in the audit queue: nothing was changed.
    #[error("the audit trail cannot record this change right now; nothing was changed")]
    AuditUnavailable,
    /// The change was made but its record could not be written (the text says why).
    #[error("{0}")]
    AuditWrite(String),
    /// The account named does not exist.
    #[error("account \"{0}\" does not exist")]
    NoSuchAccount(String),
    /// The tenant named is not in the configuration.
    #[error("tenant \"{name}\" is not in the configuration")]
    UnknownTenant {
        /// The name asked for.
        name: String,
        /// The tenants that are configured, for the message.
        known: Vec<String>,
    },
    /// The input is refused; the text says why (no secret in it).
    #[error("{0}")]
    Invalid(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something below failed (randomness, hashing, sealing); the text says what.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::crypto::CryptoError> for ServiceError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

/// Who performs an operation, as the audit trail names them.
#[derive(Clone, Debug)]
pub struct Actor {
    /// `cli:<login name of the real uid>` or `admin:<name>(eat_<8 hex>)`.
    pub name: String,
    /// An unverified hint recorded beside the actor (the CLI's `$SUDO_USER`), as the note's
    /// `sudo_user_hint`.
    pub hint: Option<String>,
}

impl Actor {
    /// An actor without a hint.
    pub fn named(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            hint: None,
        }
    }

    /// `note` with the hint added as `sudo_user_hint` (an object note gains the field; no note
    /// becomes one; other notes are left alone).
    pub fn annotate(&self, note: Option<Value>) -> Option<Value> {
        let Some(hint) = &self.hint else {
            return note;
        };
        match note {
            None => Some(serde_json::json!({ "sudo_user_hint": hint })),
            Some(Value::Object(mut m)) => {
                m.insert("sudo_user_hint".into(), Value::String(hint.clone()));
                Some(Value::Object(m))
            }
            Some(other) => Some(other),
        }
    }
}

/// Where an operation's record goes.
#[derive(Clone, Copy)]
pub enum Trail<'a> {
    /// A gateway runs in this process: its audit queue (a slot reserved before the change)
    /// and its directory view (rebuilt right after the change, not at the next store poll).
    Live(&'a App),
    /// No gateway here (the CLI): the record is appended synchronously under this master key
    /// right after the change; a running gateway sees the change at its next store poll.
    Offline(&'a MasterKey),
}

impl<'a> Trail<'a> {
    /// The master key: the running gateway's, or the one the CLI loaded.
    pub fn master(&self) -> &'a MasterKey {
        match *self {
            Trail::Live(app) => app.master(),
            Trail::Offline(master) => master,
        }
    }
}

/// One caller's handle for performing operations: the store, who acts, where it is recorded.
pub struct Operator<'a> {
    /// The store the operation changes.
    pub store: &'a mut Store,
    /// Who acts.
    pub actor: Actor,
    /// Where the record goes.
    pub trail: Trail<'a>,
}

/// What a change did, for its record: the object acted on, a secret-free note, the result.
pub struct Change<T> {
    /// What was acted on (an account name, a credential id…): the record's `path`.
    pub object: String,
    /// Secret-free details.
    pub note: Option<Value>,
    /// What the caller gets back.
    pub value: T,
}

impl<'a> Operator<'a> {
    /// An operator for a process without a running gateway (the CLI).
    pub fn offline(store: &'a mut Store, master: &'a MasterKey, actor: Actor) -> Operator<'a> {
        Operator {
            store,
            actor,
            trail: Trail::Offline(master),
        }
    }

    /// An operator inside a running gateway (the admin API).
    pub fn live(store: &'a mut Store, app: &'a App, actor: Actor) -> Operator<'a> {
        Operator {
            store,
            actor,
            trail: Trail::Live(app),
        }
    }

    /// Runs one audited mutation `verb`: reserve the record (live), make the change, rebuild
    /// the directory view (live), call `shown` with the result, record it. `shown` runs once
    /// the change is made and before it is recorded, so a record that cannot be written
    /// (offline) still leaves the caller what the change produced — the secrets of an issued
    /// credential set exist nowhere else.
    pub fn perform<T>(
        &mut self,
        verb: &str,
        change: impl FnOnce(&Store) -> Result<Change<T>, ServiceError>,
        shown: impl FnOnce(&T),
    ) -> Result<T, ServiceError> {
        match self.trail {
            Trail::Live(app) => {
                let slot = app
                    .audit
                    .reserve()
                    .map_err(|_| ServiceError::AuditUnavailable)?;
                let done = change(self.store)?;
                refresh_directory(app, self.store);
                shown(&done.value);
                slot.send(AuditRecord {
                    ts: crate::audit::record::now(),
                    request_id: crate::crypto::random_id("adm-", 8)
                        .unwrap_or_else(|_| "adm-api".into()),
                    kind: Some(Kind::Admin),
                    actor: self.actor.name.clone(),
                    method: verb.to_string(),
                    path: done.object,
                    decision: "ok".into(),
                    note: self.actor.annotate(done.note),
                    ..Default::default()
                });
                Ok(done.value)
            }
            Trail::Offline(master) => {
                let done = change(self.store)?;
                shown(&done.value);
                let note = self.actor.annotate(done.note);
                crate::audit::admin_action(
                    self.store,
                    master,
                    &self.actor.name,
                    verb,
                    &done.object,
                    note,
                )
                .map_err(ServiceError::AuditWrite)?;
                Ok(done.value)
            }
        }
    }
}

/// Rebuilds the relay's directory view from the store, so a change applies to the next
/// request rather than at the next store poll. A failure is logged: the poll still picks it up.
fn refresh_directory(app: &App, store: &Store) {
    match store.load_directory() {
        Ok(dir) => app
            .directory
            .store(Arc::new(crate::directory::DirectoryView::build(dir))),
        Err(e) => {
            tracing::error!(error = %e, "admin change made; the relay picks it up at the next store poll")
        }
    }
}

#[cfg(test)]
mod tests;
