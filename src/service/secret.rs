//! Upstream secrets (e.g. the Oracle integration user's password), sealed with AES-256-GCM
//! under the tenant's derived key and bound to (tenant, name, upstream host).

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::crypto::{MasterKey, SealContext};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Seals `plaintext` for `tenant`/`name` and stores it, *without* an audit record: the
/// building block of [`set`], and what the demo's setup uses (it records itself).
pub fn seal_and_store(
    store: &Store,
    snapshot: &Snapshot,
    master: &MasterKey,
    tenant: &str,
    name: &str,
    plaintext: &[u8],
) -> Result<(), ServiceError> {
    let (_, t) = snapshot
        .tenant(tenant)
        .ok_or_else(|| ServiceError::UnknownTenant {
            name: tenant.to_string(),
            known: snapshot.tenants.iter().map(|t| t.name.clone()).collect(),
        })?;
    if plaintext.is_empty() {
        return Err(ServiceError::Invalid("the secret is empty".into()));
    }
    let ctx = SealContext {
        tenant,
        name,
        upstream_host: &t.upstream.host,
    };
    let sealed = master.tenant_cipher(tenant).seal(&ctx, plaintext)?;
    store.put_secret(tenant, name, &sealed)?;
    Ok(())
}

/// Stores an upstream secret (audited `secret.set`: its name, the tenant in the note).
pub fn set(
    op: &mut Operator<'_>,
    snapshot: &Snapshot,
    tenant: &str,
    name: &str,
    plaintext: &[u8],
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    let master = op.trail.master();
    op.perform(
        "secret.set",
        |s| {
            seal_and_store(s, snapshot, master, tenant, name, plaintext)?;
            Ok(Change {
                object: name.to_string(),
                note: Some(json!({ "tenant": tenant })),
                value: (),
            })
        },
        shown,
    )
}
