//! Gateway tokens (`POST /gateway/token`): stored as keyed hashes only, bound to a credential
//! set; revocable one by one.

use super::sql::{params, Row};
use super::{now, Store, StoreError};

/// A stored gateway token. `Debug` omits the hash.
#[derive(Clone)]
pub struct StoredToken {
    /// Public id (the part of the token between `egt_` and the secret).
    pub id: String,
    /// Keyed hash of the whole token.
    pub token_hash: [u8; 32],
    /// The credential set it was issued to.
    pub credential_id: String,
    /// Issue time (RFC 3339).
    pub issued_at: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// Still usable (not revoked).
    pub active: bool,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("id", &self.id)
            .field("credential_id", &self.credential_id)
            .field("expires_at", &self.expires_at)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

fn row(r: &Row) -> Result<StoredToken, StoreError> {
    Ok(StoredToken {
        id: r.text(0)?,
        token_hash: r.hash32(1)?,
        credential_id: r.text(2)?,
        issued_at: r.text(3)?,
        expires_at: r.int(4)?,
        active: r.text(5)? == "active",
    })
}

const COLUMNS: &str = "id, token_hash, credential_id, issued_at, expires_at, status";

impl Store {
    /// Records an issued token.
    pub fn insert_token(&self, t: &StoredToken) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO gateway_tokens (id, token_hash, credential_id, issued_at, expires_at, status) VALUES (?1, ?2, ?3, ?4, ?5, 'active')",
            &params![&t.id, &t.token_hash[..], &t.credential_id, &t.issued_at, t.expires_at],
        )?;
        Ok(())
    }

    /// Tokens not yet expired at `now` (Unix seconds), revoked ones included (the gateway
    /// must know they are revoked).
    pub fn live_tokens(&self, now: i64) -> Result<Vec<StoredToken>, StoreError> {
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM gateway_tokens WHERE expires_at > ?1 ORDER BY id"),
                &params![now],
            )?
            .iter()
            .map(row)
            .collect()
    }

    /// Revokes one token by id; returns whether it existed and was active.
    pub fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE gateway_tokens SET status = 'revoked', revoked_at = ?2 WHERE id = ?1 AND status = 'active'",
            &params![id, now()],
        )?;
        if n == 0 {
            let exists = self
                .conn
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM gateway_tokens WHERE id = ?1)",
                    &params![id],
                )?
                .flag(0)?;
            if !exists {
                return Err(StoreError::NotFound {
                    what: "token",
                    key: id.to_string(),
                });
            }
        }
        Ok(n > 0)
    }

    /// Deletes tokens that expired before `before` (Unix seconds); returns how many.
    pub fn prune_tokens(&self, before: i64) -> Result<usize, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM gateway_tokens WHERE expires_at < ?1",
            &params![before],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// How many tokens expired before `before` (what [`Store::prune_tokens`] would delete).
    pub fn count_prunable_tokens(&self, before: i64) -> Result<i64, StoreError> {
        self.conn
            .query_one(
                "SELECT COUNT(*) FROM gateway_tokens WHERE expires_at < ?1",
                &params![before],
            )?
            .int(0)
    }

    /// (id, credential id, issued, expires, status) of every token, newest first.
    pub fn list_tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM gateway_tokens ORDER BY issued_at DESC, id"),
                &[],
            )?
            .iter()
            .map(row)
            .collect()
    }
}
