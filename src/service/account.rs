//! Accounts: create one for an integration, suspend it (its credentials are refused from the
//! next request on), resume it.

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::snapshot::Snapshot;
use crate::store::{Account, AccountStatus};

/// What a new account is.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Account name (`[a-z0-9][a-z0-9._-]{0,63}`, checked by the store).
    pub name: &'a str,
    /// The configured tenant it calls.
    pub tenant: &'a str,
    /// The Oracle user presented upstream for it (default: the tenant's).
    pub oracle_user: Option<&'a str>,
    /// The stored secret authenticating that user (default: the tenant's).
    pub upstream_secret: Option<&'a str>,
}

/// Refuses a tenant that is not in `snapshot` ([`ServiceError::UnknownTenant`], naming the
/// configured ones).
pub fn known_tenant(snapshot: &Snapshot, tenant: &str) -> Result<(), ServiceError> {
    if snapshot.tenant(tenant).is_some() {
        return Ok(());
    }
    Err(ServiceError::UnknownTenant {
        name: tenant.to_string(),
        known: snapshot.tenants.iter().map(|t| t.name.clone()).collect(),
    })
}

/// Creates an account (audited `account.create`, the binding in the note). Who may bind an
/// account to an Oracle identity is the face's decision, made before this is called.
pub fn create(
    op: &mut Operator<'_>,
    snapshot: &Snapshot,
    new: &NewAccount<'_>,
    shown: impl FnOnce(&Account),
) -> Result<Account, ServiceError> {
    known_tenant(snapshot, new.tenant)?;
    op.perform(
        "account.create",
        |s| {
            let a = s.create_account(new.name, new.tenant, new.oracle_user, new.upstream_secret)?;
            let note = json!({"tenant": a.tenant, "oracle_user": a.oracle_user, "upstream_secret": a.upstream_secret});
            Ok(Change {
                object: a.name.clone(),
                note: Some(note),
                value: a,
            })
        },
        shown,
    )
}

/// Suspends (`active == false`, audited `account.suspend`) or resumes (`account.resume`) an
/// account.
pub fn set_active(
    op: &mut Operator<'_>,
    name: &str,
    active: bool,
    shown: impl FnOnce(&Account),
) -> Result<Account, ServiceError> {
    let (status, verb) = if active {
        (AccountStatus::Active, "account.resume")
    } else {
        (AccountStatus::Suspended, "account.suspend")
    };
    op.perform(
        verb,
        |s| {
            let a = s.set_account_status(name, status)?;
            Ok(Change {
                object: a.name.clone(),
                note: None,
                value: a,
            })
        },
        shown,
    )
}
