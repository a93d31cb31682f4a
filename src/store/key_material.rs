//! Key material kept in the store (the wrapped hash root, which also binds the database to
//! its master key), what a key is checked against before it is bound to a database that
//! predates the binding, and the one-transaction re-seal of everything sealed under the
//! master key, for `erpgate key rotate`.

use super::sql::{params, Tx};
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

/// The oldest audit record as stored: (id, record JSON, prev_hash, hash).
pub type AuditRow = (i64, String, String, String);

/// A sealed value as stored: (tenant, name it is sealed under, ciphertext).
pub type SealedValue = (String, String, Vec<u8>);

impl Store {
    /// The wrapped key material `name` and the id of the key wrapping it; `None` when there is
    /// none (or the schema predates it).
    pub fn key_material(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        if !self.has_table("key_material")? {
            return Ok(None);
        }
        self.conn
            .query_opt(
                "SELECT key_id, wrapped FROM key_material WHERE name = ?1",
                &params![name],
            )?
            .map(|r| Ok((r.text(0)?, r.blob(1)?)))
            .transpose()
    }

    /// Stores key material `name` unless some is already stored (another process may bind
    /// first: the caller re-reads and checks what is there). Returns whether this call stored
    /// it; `false` also when the schema predates the table.
    pub fn bind_key_material(
        &self,
        name: &str,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<bool, StoreError> {
        if !self.has_table("key_material")? {
            return Ok(false);
        }
        let n = self.conn.execute(
            "INSERT INTO key_material (name, key_id, wrapped, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO NOTHING",
            &params![name, key_id, wrapped, now()],
        )?;
        Ok(n == 1)
    }

    /// The oldest audit record still stored, if any (and if the schema has the trail).
    pub fn oldest_audit_row(&self) -> Result<Option<AuditRow>, StoreError> {
        // The trail in batches (schema 13) or, before, a row per record: the first row's
        // link is checked the same way.
        let sql = if self.has_table("audit_batch")? {
            "SELECT id, records, prev_hash, hash FROM audit_batch ORDER BY id LIMIT 1"
        } else if self.has_table("audit_log")? {
            "SELECT id, record, prev_hash, hash FROM audit_log ORDER BY id LIMIT 1"
        } else {
            return Ok(None);
        };
        self.conn
            .query_opt(sql, &[])?
            .map(|r| Ok((r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?)))
            .transpose()
    }

    /// Every value sealed under the master key: upstream secrets and tenant signing keys
    /// (under [`crate::crypto::TENANT_KEY_SEAL_NAME`]), whichever tables exist.
    pub fn sealed_values(&self) -> Result<Vec<SealedValue>, StoreError> {
        let mut out = Vec::new();
        if self.has_table("secrets")? {
            for r in self.conn.query(
                "SELECT tenant, name, ciphertext FROM secrets ORDER BY tenant, name",
                &[],
            )? {
                out.push((r.text(0)?, r.text(1)?, r.blob(2)?));
            }
        }
        if self.has_table("tenant_keys")? {
            for r in self.conn.query(
                "SELECT tenant, key_ciphertext FROM tenant_keys WHERE length(key_ciphertext) > 0 ORDER BY tenant",
                &[],
            )? {
                out.push((
                    r.text(0)?,
                    crate::crypto::TENANT_KEY_SEAL_NAME.to_string(),
                    r.blob(1)?,
                ));
            }
        }
        Ok(out)
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
        self.conn.transaction(Tx::Write, |c| {
            if c.engine() == super::sql::Engine::Postgres {
                // The advisory lock orders erpgate's own writer transactions only: keep every
                // other writer (a secret set through another node) out until the commit, as
                // SQLite's BEGIN IMMEDIATE does, so nothing stays sealed under the old key.
                c.batch("LOCK TABLE secrets, tenant_keys, key_material IN SHARE ROW EXCLUSIVE MODE")?;
            }
            let mut done = Resealed::default();
            let t = now();
            let rows = c.query(
                "SELECT tenant, name, ciphertext FROM secrets ORDER BY tenant, name",
                &[],
            )?;
            for r in rows {
                let (tenant, secret) = (r.text(0)?, r.text(1)?);
                let next = reseal(&tenant, &secret, &r.blob(2)?).map_err(StoreError::Invalid)?;
                c.execute(
                    "UPDATE secrets SET ciphertext = ?3, updated_at = ?4 WHERE tenant = ?1 AND name = ?2",
                    &params![tenant, secret, next, t.as_str()],
                )?;
                done.secrets += 1;
            }
            // A key held in a PKCS#11 token has nothing sealed here.
            let rows = c.query(
                "SELECT tenant, key_ciphertext FROM tenant_keys WHERE length(key_ciphertext) > 0 ORDER BY tenant",
                &[],
            )?;
            for r in rows {
                let tenant = r.text(0)?;
                let next = reseal(&tenant, crate::crypto::TENANT_KEY_SEAL_NAME, &r.blob(1)?)
                    .map_err(StoreError::Invalid)?;
                c.execute(
                    "UPDATE tenant_keys SET key_ciphertext = ?2, updated_at = ?3 WHERE tenant = ?1",
                    &params![tenant, next, t.as_str()],
                )?;
                done.tenant_keys += 1;
            }
            c.execute(
                "INSERT INTO key_material (name, key_id, wrapped, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET key_id = excluded.key_id, wrapped = excluded.wrapped,
                 updated_at = excluded.updated_at",
                &params![name, key_id, wrapped, t.as_str()],
            )?;
            Ok(done)
        })
    }
}
