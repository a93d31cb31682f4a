//! Admin tokens and roles. Tokens are `eat_<16 hex id>_<256 random bits>`, shown once, stored
//! as HMAC-SHA256 under a key derived from the master key, compared in constant time, and read
//! from the store on every admin request (a revocation applies to the next call).
//!
//! Roles are ordered: `auditor` reads; `admin` also manages accounts, credentials, gateway
//! tokens, the kill switch and reloads; only `owner` manages admin tokens, and nobody can
//! create a token of a role above their own (the admin API checks that before it calls
//! [`issue`]; the CLI, the bootstrap, may create any).

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::crypto::{ct_eq, KeyedHasher, SecretString};
use crate::store::Store;

/// Every admin token starts with this.
pub const ADMIN_TOKEN_PREFIX: &str = "eat_";

/// An admin role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads status, accounts, credentials and the audit trail.
    Auditor,
    /// Also changes accounts, credentials, tokens, the kill switch; reloads.
    Admin,
    /// Also manages admin tokens.
    Owner,
}

impl Role {
    /// Parses `owner`, `admin`, `auditor`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

/// A verified admin caller.
#[derive(Clone, Debug)]
pub struct AdminIdentity {
    /// Token id.
    pub id: String,
    /// What the token may do (owner, admin, auditor).
    pub role: Role,
    /// Who the token is for.
    pub name: String,
}

impl AdminIdentity {
    /// The audit actor: `admin:<name>(eat_<8 of id>)`.
    pub fn actor(&self) -> String {
        format!(
            "admin:{}(eat_{})",
            self.name,
            self.id.get(..8).unwrap_or(&self.id)
        )
    }
}

/// Creates and stores an admin token, *without* an audit record (the building block of
/// [`issue`]; the demo's setup records itself); returns (id, token). The token is the only copy.
pub fn create(
    store: &Store,
    hasher: &KeyedHasher,
    role: Role,
    name: &str,
    created_by: &str,
) -> Result<(String, SecretString), ServiceError> {
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(
            "name must be 1-64 characters without control characters".into(),
        ));
    }
    let (id, token) =
        crate::auth::tokens::new_secret(ADMIN_TOKEN_PREFIX).map_err(ServiceError::Internal)?;
    let hash = hasher.hash(token.expose().as_bytes());
    store.insert_admin_token(&id, &hash, role.as_str(), name, created_by)?;
    Ok((id, token))
}

/// `eat_` and the first 8 hex digits of a token id: what the audit trail names.
pub fn short_id(id: &str) -> String {
    format!("eat_{}", id.get(..8).unwrap_or(id))
}

/// Creates an admin token of `role` for `name`, created by the operator (audited
/// `admin_token.create`: the short id, role and name; never the token). Returns (id, token).
pub fn issue(
    op: &mut Operator<'_>,
    hasher: &KeyedHasher,
    role: Role,
    name: &str,
    shown: impl FnOnce(&(String, SecretString)),
) -> Result<(String, SecretString), ServiceError> {
    let actor = op.actor.name.clone();
    op.perform(
        "admin_token.create",
        |s| {
            let (id, token) = create(s, hasher, role, name, &actor)?;
            Ok(Change {
                object: short_id(&id),
                note: Some(json!({"role": role.as_str(), "name": name})),
                value: (id, token),
            })
        },
        shown,
    )
}

/// Revokes the admin token with bare id `id` (audited `admin_token.revoke`). Returns whether
/// it was active until now.
pub fn revoke(
    op: &mut Operator<'_>,
    id: &str,
    shown: impl FnOnce(&bool),
) -> Result<bool, ServiceError> {
    op.perform(
        "admin_token.revoke",
        |s| {
            let changed = s.revoke_admin_token(id)?;
            Ok(Change {
                object: short_id(id),
                note: None,
                value: changed,
            })
        },
        shown,
    )
}

/// Verifies an `Authorization` header value (`Bearer eat_…`) against the store.
pub fn verify(store: &Store, hasher: &KeyedHasher, authorization: &str) -> Option<AdminIdentity> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    let id = crate::auth::tokens::parse_prefixed(ADMIN_TOKEN_PREFIX, token)?;
    let mac = hasher.hash(token.as_bytes());
    let stored = store.get_admin_token(id).ok()??;
    if !ct_eq(&mac, &stored.token_hash) || !stored.active {
        return None;
    }
    Some(AdminIdentity {
        id: stored.id,
        role: Role::parse(&stored.role)?,
        name: stored.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_revoked_and_roles_order() {
        let store = Store::open_in_memory().expect("store");
        let mut store = store;
        store.migrate().expect("migrate");
        let hasher = KeyedHasher::from_raw(&[9u8; 32]);
        let (id, token) = create(&store, &hasher, Role::Admin, "ops", "cli:test").expect("create");
        let header = format!("Bearer {}", token.expose());
        let who = verify(&store, &hasher, &header).expect("verifies");
        assert_eq!((who.role, who.name.as_str()), (Role::Admin, "ops"));
        assert!(who.actor().starts_with("admin:ops(eat_"));
        // Another key, a changed secret, another scheme: no.
        assert!(verify(&store, &KeyedHasher::from_raw(&[1u8; 32]), &header).is_none());
        let mut forged = header.clone();
        forged.pop();
        forged.push('x');
        assert!(verify(&store, &hasher, &forged).is_none());
        assert!(verify(&store, &hasher, &header.replace("Bearer", "Basic")).is_none());
        store.revoke_admin_token(&id).expect("revoke");
        assert!(verify(&store, &hasher, &header).is_none());
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Auditor);
        assert!(create(&store, &hasher, Role::Auditor, "", "x").is_err());
    }
}
