//! Tenant signing keys: the private key sealed (AES-256-GCM under the tenant's derived key),
//! or a reference to a PKCS#11 token holding it; the certificate in clear.

use super::sql::{params, Row};
use super::{now, Store, StoreError};

/// A stored tenant key. `Debug` shows the certificate thumbprint only.
#[derive(Clone)]
pub struct StoredTenantKey {
    /// The tenant the key belongs to.
    pub tenant: String,
    /// Sealed private key (PKCS#8 or PKCS#1 DER inside).
    pub key_ciphertext: Vec<u8>,
    /// Certificate DER.
    pub cert_der: Vec<u8>,
    /// The certificate's `x5t`.
    pub x5t: String,
    /// Where the key lives when a PKCS#11 token holds it (`key_ciphertext` is then empty).
    pub key_ref: Option<String>,
    /// Last change.
    pub updated_at: String,
}

impl std::fmt::Debug for StoredTenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTenantKey")
            .field("tenant", &self.tenant)
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

fn row(r: &Row) -> Result<StoredTenantKey, StoreError> {
    Ok(StoredTenantKey {
        tenant: r.text(0)?,
        key_ciphertext: r.blob(1)?,
        cert_der: r.blob(2)?,
        x5t: r.text(3)?,
        updated_at: r.text(4)?,
        key_ref: r.opt_text(5)?,
    })
}

impl Store {
    /// Inserts or replaces the tenant's key (rotation replaces).
    pub fn put_tenant_key(
        &self,
        tenant: &str,
        key_ciphertext: &[u8],
        cert_der: &[u8],
        x5t: &str,
    ) -> Result<(), StoreError> {
        self.put_tenant_key_row(tenant, key_ciphertext, cert_der, x5t, None)
    }

    /// Inserts or replaces the tenant's key as a reference to a PKCS#11 token's key: nothing
    /// of the key is stored.
    pub fn put_tenant_key_ref(
        &self,
        tenant: &str,
        key_ref: &str,
        cert_der: &[u8],
        x5t: &str,
    ) -> Result<(), StoreError> {
        self.put_tenant_key_row(tenant, &[], cert_der, x5t, Some(key_ref))
    }

    fn put_tenant_key_row(
        &self,
        tenant: &str,
        key_ciphertext: &[u8],
        cert_der: &[u8],
        x5t: &str,
        key_ref: Option<&str>,
    ) -> Result<(), StoreError> {
        let t = now();
        self.conn.execute(
            "INSERT INTO tenant_keys (tenant, key_ciphertext, cert_der, x5t, created_at, updated_at, key_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
             ON CONFLICT (tenant) DO UPDATE SET key_ciphertext = excluded.key_ciphertext, cert_der = excluded.cert_der, x5t = excluded.x5t, updated_at = excluded.updated_at, key_ref = excluded.key_ref",
            &params![tenant, key_ciphertext, cert_der, x5t, t, key_ref],
        )?;
        Ok(())
    }

    /// The tenant's key, if any.
    pub fn get_tenant_key(&self, tenant: &str) -> Result<Option<StoredTenantKey>, StoreError> {
        self.conn
            .query_opt(
                "SELECT tenant, key_ciphertext, cert_der, x5t, updated_at, key_ref FROM tenant_keys WHERE tenant = ?1",
                &params![tenant],
            )?
            .as_ref()
            .map(row)
            .transpose()
    }

    pub(super) fn all_tenant_keys(&self) -> Result<Vec<StoredTenantKey>, StoreError> {
        self.conn
            .query(
                "SELECT tenant, key_ciphertext, cert_der, x5t, updated_at, key_ref FROM tenant_keys ORDER BY tenant",
                &[],
            )?
            .iter()
            .map(row)
            .collect()
    }
}
