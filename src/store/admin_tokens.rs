//! Admin API tokens: keyed hashes with a role; revocable. Read per admin request (admin
//! traffic is rare), so a revocation takes effect on the next call.

use super::sql::{params, Row};
use super::{now, Store, StoreError};

/// A stored admin token. `Debug` omits the hash.
#[derive(Clone)]
pub struct AdminToken {
    /// Public id.
    pub id: String,
    /// Keyed hash of the whole token.
    pub token_hash: [u8; 32],
    /// `owner`, `admin` or `auditor`.
    pub role: String,
    /// Who it is for (free text, shown in the audit trail).
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Not revoked.
    pub active: bool,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("name", &self.name)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "id, token_hash, role, name, created_at, created_by, status";

fn row(r: &Row) -> Result<AdminToken, StoreError> {
    Ok(AdminToken {
        id: r.text(0)?,
        token_hash: r.hash32(1)?,
        role: r.text(2)?,
        name: r.text(3)?,
        created_at: r.text(4)?,
        created_by: r.text(5)?,
        active: r.text(6)? == "active",
    })
}

impl Store {
    /// Records a new admin token.
    pub fn insert_admin_token(
        &self,
        id: &str,
        token_hash: &[u8; 32],
        role: &str,
        name: &str,
        created_by: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO admin_tokens (id, token_hash, role, name, created_at, created_by, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active')",
            &params![id, &token_hash[..], role, name, now(), created_by],
        )?;
        Ok(())
    }

    /// One admin token by id.
    pub fn get_admin_token(&self, id: &str) -> Result<Option<AdminToken>, StoreError> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM admin_tokens WHERE id = ?1"),
                &params![id],
            )?
            .as_ref()
            .map(row)
            .transpose()
    }

    /// Every admin token, oldest first.
    pub fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM admin_tokens ORDER BY created_at, id"),
                &[],
            )?
            .iter()
            .map(row)
            .collect()
    }

    /// Revokes an admin token; returns whether it was active.
    pub fn revoke_admin_token(&self, id: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE admin_tokens SET status = 'revoked', revoked_at = ?2 WHERE id = ?1 AND status = 'active'",
            &params![id, now()],
        )?;
        if n == 0 && self.get_admin_token(id)?.is_none() {
            return Err(StoreError::NotFound {
                what: "admin token",
                key: id.to_string(),
            });
        }
        Ok(n > 0)
    }
}
