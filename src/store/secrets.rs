//! Sealed upstream secrets (AES-256-GCM ciphertext only).

use super::sql::{params, Row};
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

fn secret(r: &Row) -> Result<StoredSecret, StoreError> {
    Ok(StoredSecret {
        tenant: r.text(0)?,
        name: r.text(1)?,
        ciphertext: r.blob(2)?,
        updated_at: r.text(3)?,
    })
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
            &params![tenant, name, ciphertext, t],
        )?;
        Ok(())
    }

    /// One sealed secret.
    pub fn get_secret(&self, tenant: &str, name: &str) -> Result<Option<StoredSecret>, StoreError> {
        self.conn
            .query_opt(
                "SELECT tenant, name, ciphertext, updated_at FROM secrets WHERE tenant = ?1 AND name = ?2",
                &params![tenant, name],
            )?
            .as_ref()
            .map(secret)
            .transpose()
    }

    /// (tenant, name, updated_at) of every secret.
    pub fn list_secrets(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.conn
            .query(
                "SELECT tenant, name, updated_at FROM secrets ORDER BY tenant, name",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
            .collect()
    }

    pub(super) fn all_secrets(&self) -> Result<Vec<StoredSecret>, StoreError> {
        self.conn
            .query(
                "SELECT tenant, name, ciphertext, updated_at FROM secrets ORDER BY tenant, name",
                &[],
            )?
            .iter()
            .map(secret)
            .collect()
    }

    /// Deletes a secret; returns whether it existed.
    pub fn delete_secret(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM secrets WHERE tenant = ?1 AND name = ?2",
            &params![tenant, name],
        )? > 0)
    }
}
