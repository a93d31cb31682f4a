//! Issued credential sets: hashes only.

use super::sql::{params, Row};
use super::{now, Store, StoreError};

/// Whether a credential set may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialStatus {
    /// Usable for authentication.
    Active,
    /// Refused on the next request.
    Revoked,
}

/// A credential set to insert.
pub struct NewCredential<'a> {
    /// Public id (`cred_…`).
    pub id: &'a str,
    /// Account name.
    pub account: &'a str,
    /// API username.
    pub username: &'a str,
    /// argon2id PHC string of the password.
    pub password_hash: &'a str,
    /// Public id of the x-api-key.
    pub api_key_id: &'a str,
    /// HMAC of the full x-api-key.
    pub api_key_hash: &'a [u8; 32],
}

/// A stored credential set. `Debug` hides the hashes.
#[derive(Clone)]
pub struct Credential {
    /// Public id.
    pub id: String,
    /// Account row id.
    pub account_id: i64,
    /// Account name.
    pub account: String,
    /// API username.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Public id of the x-api-key.
    pub api_key_id: String,
    /// HMAC of the x-api-key.
    pub api_key_hash: [u8; 32],
    /// Active or revoked.
    pub status: CredentialStatus,
    /// Issue time.
    pub created_at: String,
    /// Revocation time.
    pub revoked_at: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("username", &self.username)
            .field("password_hash", &"<redacted>")
            .field("api_key_id", &self.api_key_id)
            .field("api_key_hash", &"<redacted>")
            .field("status", &self.status)
            .finish()
    }
}

const SELECT: &str = "SELECT c.id, c.account_id, a.name, c.username, c.password_hash, c.api_key_id, c.api_key_hash, c.status, c.created_at, c.revoked_at FROM credentials c JOIN accounts a ON a.id = c.account_id";

fn from_row(r: &Row) -> Result<Credential, StoreError> {
    Ok(Credential {
        id: r.text(0)?,
        account_id: r.int(1)?,
        account: r.text(2)?,
        username: r.text(3)?,
        password_hash: r.text(4)?,
        api_key_id: r.text(5)?,
        api_key_hash: r.hash32(6)?,
        status: if r.text(7)? == "active" {
            CredentialStatus::Active
        } else {
            CredentialStatus::Revoked
        },
        created_at: r.text(8)?,
        revoked_at: r.opt_text(9)?,
    })
}

impl Store {
    /// Inserts a credential set for an existing account.
    pub fn insert_credential(&self, c: &NewCredential<'_>) -> Result<Credential, StoreError> {
        let account = self.get_account(c.account)?.ok_or(StoreError::NotFound {
            what: "account",
            key: c.account.into(),
        })?;
        self.conn
            .execute(
                "INSERT INTO credentials (id, account_id, username, password_hash, api_key_id, api_key_hash, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7)",
                &params![c.id, account.id, c.username, c.password_hash, c.api_key_id, &c.api_key_hash[..], now()],
            )
            .map_err(|e| e.conflict("credential", c.id))?;
        self.get_credential(c.id)
    }

    fn get_credential(&self, id: &str) -> Result<Credential, StoreError> {
        match self
            .conn
            .query_opt(&format!("{SELECT} WHERE c.id = ?1"), &params![id])?
        {
            Some(r) => from_row(&r),
            None => Err(StoreError::NotFound {
                what: "credential",
                key: id.into(),
            }),
        }
    }

    /// Revokes a credential set (idempotent; keeps the first revocation time).
    pub fn revoke_credential(&self, id: &str) -> Result<Credential, StoreError> {
        let existing = self.get_credential(id)?;
        if existing.status == CredentialStatus::Active {
            self.conn.execute(
                "UPDATE credentials SET status = 'revoked', revoked_at = ?1 WHERE id = ?2 AND status = 'active'",
                &params![now(), id],
            )?;
        }
        self.get_credential(id)
    }

    /// Credential sets, optionally of one account, oldest first.
    pub fn list_credentials(&self, account: Option<&str>) -> Result<Vec<Credential>, StoreError> {
        self.conn
            .query(
                &format!(
                    "{SELECT} WHERE (CAST(?1 AS TEXT) IS NULL OR a.name = ?1) ORDER BY c.created_at, c.id"
                ),
                &params![account],
            )?
            .iter()
            .map(from_row)
            .collect()
    }
}
