//! A tenant's signing key and certificate for outbound JWT assertions: the private key is
//! stored sealed (AES-256-GCM under the tenant's derived key, bound to tenant and upstream
//! host), the certificate in clear.

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::crypto::MasterKey;
use crate::jwt::cert::{Certificate, SigningKey};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::upstream::inject::seal_tenant_key;

/// How the key came to be: the audit verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Generated here (`tenant.gen_key`).
    Generated,
    /// Imported from files (`tenant.import_key`).
    Imported,
}

/// Tenant `tenant` of the configuration.
fn configured<'s>(
    snapshot: &'s Snapshot,
    tenant: &str,
) -> Result<&'s crate::snapshot::Tenant, ServiceError> {
    snapshot
        .tenant(tenant)
        .map(|(_, t)| t)
        .ok_or_else(|| ServiceError::UnknownTenant {
            name: tenant.to_string(),
            known: snapshot.tenants.iter().map(|t| t.name.clone()).collect(),
        })
}

/// Refuses to replace `tenant`'s stored key unless `force` (a rotation: the new certificate
/// must be registered in Oracle first).
pub fn ensure_replaceable(store: &Store, tenant: &str, force: bool) -> Result<(), ServiceError> {
    if !force && store.get_tenant_key(tenant)?.is_some() {
        return Err(ServiceError::Invalid(format!("tenant {tenant} already has a key; pass --force to replace it (register the new certificate in Oracle first)")));
    }
    Ok(())
}

/// Checks that `key_der` signs for `cert` and stores it sealed for `tenant`, *without* an
/// audit record (the building block of [`install_key`]). Refuses to replace a key unless
/// `force`.
pub fn store_key(
    store: &Store,
    snapshot: &Snapshot,
    master: &MasterKey,
    tenant: &str,
    key_der: &[u8],
    cert: &Certificate,
    force: bool,
) -> Result<(), ServiceError> {
    let t = configured(snapshot, tenant)?;
    SigningKey::from_der(key_der, cert.clone()).map_err(ServiceError::Invalid)?;
    ensure_replaceable(store, tenant, force)?;
    let sealed = seal_tenant_key(&master.tenant_cipher(tenant), t, key_der)
        .map_err(ServiceError::Internal)?;
    store.put_tenant_key(tenant, &sealed, cert.der(), cert.x5t())?;
    Ok(())
}

/// Installs a tenant's signing key and certificate (audited `tenant.gen_key` or
/// `tenant.import_key`: the certificate's x5t and subject, whether a key was replaced).
#[allow(clippy::too_many_arguments)]
pub fn install_key(
    op: &mut Operator<'_>,
    snapshot: &Snapshot,
    tenant: &str,
    key_der: &[u8],
    cert: &Certificate,
    force: bool,
    origin: KeyOrigin,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    let verb = match origin {
        KeyOrigin::Generated => "tenant.gen_key",
        KeyOrigin::Imported => "tenant.import_key",
    };
    let master = op.trail.master();
    op.perform(
        verb,
        |s| {
            store_key(s, snapshot, master, tenant, key_der, cert, force)?;
            Ok(Change {
                object: tenant.to_string(),
                note: Some(
                    json!({"x5t": cert.x5t(), "subject": cert.subject(), "replaced": force}),
                ),
                value: (),
            })
        },
        shown,
    )
}

/// Stores a reference to a key held in a PKCS#11 token, with its certificate, *without* an
/// audit record (the building block of [`install_key_ref`]). The token must sign for the
/// certificate (a test signature is verified with it); nothing of the key is stored.
pub fn store_key_ref(
    store: &Store,
    snapshot: &Snapshot,
    tenant: &str,
    key: &crate::crypto::pkcs11::KeyRef,
    cert: &Certificate,
    force: bool,
) -> Result<(), ServiceError> {
    let t = configured(snapshot, tenant)?;
    let access = t.pkcs11.as_ref().ok_or_else(|| {
        ServiceError::Invalid(format!(
            "tenant {tenant} has no [tenants.{tenant}.pkcs11] (module and PIN) in the configuration"
        ))
    })?;
    verify_token_key(access, key, cert).map_err(ServiceError::Invalid)?;
    ensure_replaceable(store, tenant, force)?;
    store.put_tenant_key_ref(tenant, &key.to_text(), cert.der(), cert.x5t())?;
    Ok(())
}

/// Whether the token key `key` signs for `cert` (through `access`, whose module it must name):
/// a test message signed in the token and verified with the certificate.
pub fn verify_token_key(
    access: &crate::crypto::pkcs11::TokenAccess,
    key: &crate::crypto::pkcs11::KeyRef,
    cert: &Certificate,
) -> Result<(), String> {
    let pin = access.pin_for(key).map_err(|e| e.to_string())?;
    let probe = b"erpgate: does this token key belong to the certificate?";
    let sig = crate::crypto::pkcs11::sign(key, pin, probe).map_err(|e| e.to_string())?;
    if !cert.verify_rs256(probe, &sig) {
        return Err(format!(
            "{key} does not belong to the certificate {}",
            cert.x5t()
        ));
    }
    Ok(())
}

/// Installs a reference to a key held in a PKCS#11 token (audited `tenant.gen_key` or
/// `tenant.import_key`, with the reference: module, token and key labels, never the PIN).
#[allow(clippy::too_many_arguments)]
pub fn install_key_ref(
    op: &mut Operator<'_>,
    snapshot: &Snapshot,
    tenant: &str,
    key: &crate::crypto::pkcs11::KeyRef,
    cert: &Certificate,
    force: bool,
    origin: KeyOrigin,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    let verb = match origin {
        KeyOrigin::Generated => "tenant.gen_key",
        KeyOrigin::Imported => "tenant.import_key",
    };
    op.perform(
        verb,
        |s| {
            store_key_ref(s, snapshot, tenant, key, cert, force)?;
            Ok(Change {
                object: tenant.to_string(),
                note: Some(json!({
                    "x5t": cert.x5t(),
                    "subject": cert.subject(),
                    "replaced": force,
                    "pkcs11": {"module": key.module, "token": key.token, "label": key.label},
                })),
                value: (),
            })
        },
        shown,
    )
}
