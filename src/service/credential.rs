//! Credential sets: issue one for an account (its secrets exist once, in the answer), revoke
//! one (refused from the next request on).
//!
//! A set is an API username + password (stored as argon2id) and an x-api-key (256 random bits
//! behind a public id; stored as an HMAC-SHA256 under a key derived from the master key).

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::crypto::{self, MasterKey, PasswordHasher, SecretString};
use crate::store::{Credential, NewCredential, Store};

/// A freshly issued credential set: the only time its secrets exist outside the caller.
pub struct Issued {
    /// Public id.
    pub id: String,
    /// Account name.
    pub account: String,
    /// API username.
    pub username: String,
    /// API password.
    pub password: SecretString,
    /// x-api-key.
    pub api_key: SecretString,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Creates a credential set for `account` and stores only its hashes, *without* an audit
/// record: the building block of [`issue`], and what test and benchmark fixtures use.
pub fn mint(
    store: &Store,
    master: &MasterKey,
    passwords: &PasswordHasher,
    account: &str,
) -> Result<Issued, ServiceError> {
    let acct = store
        .get_account(account)?
        .ok_or_else(|| ServiceError::NoSuchAccount(account.to_string()))?;
    let id = crypto::random_id("cred_", 8)?;
    let suffix = crypto::random_id("", 3)?;
    let username = format!("{}.{}", acct.name, suffix);
    let password = crypto::random_token(24)?;
    let (key_id, api_key) = crypto::generate_api_key()?;
    let password_hash = passwords.hash(password.expose().as_bytes())?;
    let api_key_hash = master
        .keyed_hasher(crate::crypto::HashPurpose::ApiKey)
        .hash(api_key.expose().as_bytes());
    store.insert_credential(&NewCredential {
        id: &id,
        account: &acct.name,
        username: &username,
        password_hash: &password_hash,
        api_key_id: &key_id,
        api_key_hash: &api_key_hash,
    })?;
    Ok(Issued {
        id,
        account: acct.name,
        username,
        password,
        api_key,
    })
}

/// Issues a credential set for `account` (audited `credential.issue`; account and username in
/// the note, never a secret). Runs argon2 once, on the caller's thread: never call it from a
/// relay worker.
pub fn issue(
    op: &mut Operator<'_>,
    passwords: &PasswordHasher,
    account: &str,
    shown: impl FnOnce(&Issued),
) -> Result<Issued, ServiceError> {
    let master = op.trail.master();
    op.perform(
        "credential.issue",
        |s| {
            let issued = mint(s, master, passwords, account)?;
            Ok(Change {
                object: issued.id.clone(),
                note: Some(json!({"account": issued.account, "username": issued.username})),
                value: issued,
            })
        },
        shown,
    )
}

/// Revokes a credential set (audited `credential.revoke`, the account in the note).
pub fn revoke(
    op: &mut Operator<'_>,
    id: &str,
    shown: impl FnOnce(&Credential),
) -> Result<Credential, ServiceError> {
    op.perform(
        "credential.revoke",
        |s| {
            let c = s.revoke_credential(id)?;
            Ok(Change {
                object: c.id.clone(),
                note: Some(json!({"account": c.account})),
                value: c,
            })
        },
        shown,
    )
}
