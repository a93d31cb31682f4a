//! Key material kept in the store (the wrapped hash root) and the one-transaction re-seal of
//! everything sealed under the master key, for `erpgate key rotate`.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{now, Store, StoreError};

/// What a rotation re-sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Upstream secrets.
    pub secrets: usize,
    /// Tenant signing keys.
    pub tenant_keys: usize,
}

/// Re-seals one sealed value: (tenant, name, ciphertext) → new ciphertext.
pub type Reseal<'a> = dyn FnMut(&str, &str, &[u8]) -> Result<Vec<u8>, String> + 'a;

impl Store {
    /// The wrapped key material `name` and the id of the key wrapping it; `None` when there is
    /// none (or the schema predates it).
    pub fn key_material(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let has_table: bool = self.conn.query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'key_material'",
            [],
            |r| r.get(0),
        )?;
        if !has_table {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT key_id, wrapped FROM key_material WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// In one transaction: re-seals every upstream secret and tenant signing key with
    /// `reseal`, and stores `wrapped` as key material `name` under `key_id`. Any failure
    /// rolls everything back: the database is either wholly on the old key or the new one.
    pub fn reseal_all(
        &mut self,
        reseal: &mut Reseal<'_>,
        name: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<Resealed, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut done = Resealed::default();
        let t = now();
        {
            let mut read = tx.prepare("SELECT tenant, name, ciphertext FROM secrets")?;
            let rows: Vec<(String, String, Vec<u8>)> = read
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut write = tx.prepare(
                "UPDATE secrets SET ciphertext = ?3, updated_at = ?4 WHERE tenant = ?1 AND name = ?2",
            )?;
            for (tenant, secret, sealed) in rows {
                let next = reseal(&tenant, &secret, &sealed).map_err(StoreError::Invalid)?;
                write.execute(params![tenant, secret, next, t])?;
                done.secrets += 1;
            }
            let mut read = tx.prepare("SELECT tenant, key_ciphertext FROM tenant_keys")?;
            let rows: Vec<(String, Vec<u8>)> = read
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut write = tx.prepare(
                "UPDATE tenant_keys SET key_ciphertext = ?2, updated_at = ?3 WHERE tenant = ?1",
            )?;
            for (tenant, sealed) in rows {
                let next = reseal(
                    &tenant,
                    crate::upstream::inject::TENANT_KEY_SEAL_NAME,
                    &sealed,
                )
                .map_err(StoreError::Invalid)?;
                write.execute(params![tenant, next, t])?;
                done.tenant_keys += 1;
            }
            tx.execute(
                "INSERT INTO key_material (name, key_id, wrapped, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped,
                 updated_at = excluded.updated_at",
                params![name, key_id, wrapped, t],
            )?;
        }
        tx.commit()?;
        Ok(done)
    }
}
