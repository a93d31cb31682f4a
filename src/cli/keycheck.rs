//! Binding the master key to its database, so a wrong key is refused before anything is
//! written.
//!
//! The database records the key it is on as the wrapped *hash root* (`key_material`): from
//! the first command that has the key — normally `erpgate migrate` — the hash root is the
//! master key itself, wrapped under it; a rotation re-wraps it under the new key. Every
//! command that loads the key (and `serve`, at start) unwraps that row with the key it was
//! given: AES-GCM either opens it or the key is refused, naming both fingerprints.
//!
//! A database migrated before this binding existed has no row. Its first use with a key
//! binds that key, but only after the key has proved itself against what the database
//! already holds: the oldest audit record's MAC must verify under it, and every sealed value
//! (upstream secrets, tenant signing keys) of a configured tenant must open with it. A key
//! that fails any check is refused and nothing is written; a database with sealed values
//! but nothing this configuration can check, and no audit record, is refused too (the key
//! cannot be told right from wrong). A database with nothing keyed in it yet binds the first
//! key it sees.

use crate::audit::chain;
use crate::crypto::{MasterKey, SealContext, HASH_ROOT};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// The key `master` (with `previous`, the key being rotated away from) checked against and
/// bound to the configured database, with the database's hash root adopted. `Err` carries
/// the message to print (refused: nothing was written).
pub fn adopt(
    master: MasterKey,
    previous: Option<MasterKey>,
    snapshot: &Snapshot,
) -> Result<MasterKey, String> {
    if let Some(p) = &previous {
        if p.key_id() == master.key_id() {
            return Err("ERPGATE_APP_KEY_PREVIOUS is the same key as ERPGATE_APP_KEY".into());
        }
    }
    let database = &snapshot.gateway.database;
    if database.sqlite_path().is_some_and(|p| !p.exists()) {
        return Ok(attach(master, previous));
    }
    let store =
        Store::connect(database).map_err(|e| format!("cannot open database {database}: {e}"))?;
    let read = |store: &Store| {
        store
            .key_material(HASH_ROOT)
            .map_err(|e| format!("cannot read the key material: {e}"))
    };
    let row = match read(&store)? {
        Some(row) => Some(row),
        None => {
            // Not bound yet: the database is on `previous` during a rotation, else on `master`.
            let current = previous.as_ref().unwrap_or(&master);
            verify_unbound(&store, current, snapshot)?;
            let wrapped = current
                .wrap_hash_root_for(current)
                .map_err(|e| format!("cannot wrap the hash root: {e}"))?;
            store
                .bind_key_material(HASH_ROOT, &current.key_id(), &wrapped)
                .map_err(|e| format!("cannot bind the master key to the database: {e}"))?;
            // Re-read: another process may have bound a key first, and that one decides.
            read(&store)?
        }
    };
    let Some((kid, wrapped)) = row else {
        // A schema older than the binding (before `migrate`): nothing to adopt yet.
        return Ok(attach(master, previous));
    };
    let given = master.key_id();
    let damaged = |key_id: &str| {
        format!("the stored hash root does not open with key {key_id}: the key material is damaged")
    };
    if kid == given {
        let master = master
            .with_wrapped_hash_root(&wrapped)
            .map_err(|_| damaged(&given))?;
        return Ok(attach(master, previous));
    }
    match previous {
        Some(p) if kid == p.key_id() => {
            let p = p
                .with_wrapped_hash_root(&wrapped)
                .map_err(|_| damaged(&kid))?;
            Ok(master.with_previous(&p))
        }
        _ => Err(format!(
            "the master key {given} is not this database's key {kid}: a wrong key, or one the database was rotated away from (`erpgate key rotate`; then use the key it was rotated to); nothing was written"
        )),
    }
}

fn attach(master: MasterKey, previous: Option<MasterKey>) -> MasterKey {
    match previous {
        Some(p) => master.with_previous(&p),
        None => master,
    }
}

/// Checks `key` against what an unbound database already holds (see the module docs).
fn verify_unbound(store: &Store, key: &MasterKey, snapshot: &Snapshot) -> Result<(), String> {
    let kid = key.key_id();
    let refuse = |what: String| {
        format!(
            "the master key {kid} is not this database's key: {what}. Nothing was written; use the key this database was created with"
        )
    };
    let oldest = store
        .oldest_audit_row()
        .map_err(|e| format!("cannot read the audit trail: {e}"))?;
    if let Some((id, record, prev, hash)) = &oldest {
        if chain::link(&key.audit_key(), *id, prev, record) != *hash {
            return Err(refuse(format!(
                "audit record {id}, the oldest stored, does not verify under it"
            )));
        }
    }
    let sealed = store
        .sealed_values()
        .map_err(|e| format!("cannot read the sealed values: {e}"))?;
    let mut checked = 0usize;
    for (tenant, name, ct) in &sealed {
        let Some((_, t)) = snapshot.tenant(tenant) else {
            continue;
        };
        let ctx = SealContext {
            tenant,
            name,
            upstream_host: &t.upstream.host,
        };
        if key.tenant_cipher(tenant).open(&ctx, ct).is_err() {
            return Err(refuse(format!(
                "the sealed value {tenant}/{name} does not open with it"
            )));
        }
        checked += 1;
    }
    if oldest.is_none() && checked == 0 && !sealed.is_empty() {
        return Err(format!(
            "cannot check the master key {kid} against this database: it holds {} sealed value(s), all of tenants this configuration does not name, and no audit record. Nothing was written; configure those tenants so the key can be checked",
            sealed.len()
        ));
    }
    Ok(())
}
