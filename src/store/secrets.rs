//! Sealed upstream secrets (AES-256-GCM ciphertext only).

use rusqlite::{params, OptionalExtension};

use super::{check_name, now, Store, StoreError};

/// A sealed secret. `Debug` shows its length only.
#[derive(Clone)]
pub struct StoredSecret {
    /// The tenant the secret belongs to.
    pub tenant: String,
    /// The secret's name within the tenant.
    pub name: String,
    /// Sealed bytes.
    pub ciphertext: Vec<u8>,
    /// Last change.
    pub updated_at: String,
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl Store {
    /// Inserts or replaces a sealed secret.
    pub fn put_secret(
        &self,
        tenant: &str,
        name: &str,
        ciphertext: &[u8],
    ) -> Result<(), StoreError> {
        check_name("secret", name)?;
        let t = now();
        self.conn.execute(
            "INSERT INTO secrets (tenant, name, ciphertext, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (tenant, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            params![tenant, name, ciphertext, t],
        )?;
        Ok(())
    }

    /// One sealed secret.
    pub fn get_secret(&self, tenant: &str, name: &str) -> Result<Option<StoredSecret>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT tenant, name, ciphertext, updated_at FROM secrets WHERE tenant = ?1 AND name = ?2",
                [tenant, name],
                |r| Ok(StoredSecret { tenant: r.get(0)?, name: r.get(1)?, ciphertext: r.get(2)?, updated_at: r.get(3)? }),
            )
            .optional()?)
    }

    /// (tenant, name, updated_at) of every secret.
    pub fn list_secrets(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT tenant, name, updated_at FROM secrets ORDER BY tenant, name")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn all_secrets(&self) -> Result<Vec<StoredSecret>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT tenant, name, ciphertext, updated_at FROM secrets")?;
        let rows = st.query_map([], |r| {
            Ok(StoredSecret {
                tenant: r.get(0)?,
                name: r.get(1)?,
                ciphertext: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a secret; returns whether it existed.
    pub fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM secrets WHERE tenant = ?1 AND name = ?2",
            [tenant, name],
        )? > 0)
    }
}
