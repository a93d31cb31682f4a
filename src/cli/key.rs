//! `erpgate key rotate`: move the database to a new master key.
//!
//! Everything sealed under the old key (upstream secrets, tenant signing keys) is opened and
//! re-sealed under the new one, and the hash root (from which stored credential hashes and
//! the audit chain are keyed) is stored wrapped under the new key, all in one transaction:
//! the database is either wholly on the old key or wholly on the new one. Credentials, tokens
//! and the audit chain stay valid. Bracketed by two audit records.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::crypto::{MasterKey, SealContext, HASH_ROOT};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Arguments of `erpgate key`.
#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    action: KeyAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum KeyAction {
    /// Re-encrypt everything under a new master key (the current one from ERPGATE_APP_KEY or
    /// gateway.app_key_file). Then run the gateway with the new key.
    Rotate {
        /// File holding the new key (base64 of 32 bytes, mode 0600), e.g. from `erpgate keygen`.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Print the fingerprint of the master key in use (refused, like every command, when the
    /// database was rotated away from it).
    Id,
}

/// Runs the command.
pub fn run(args: &KeyArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    let old = super::load_master(&snapshot)?;
    match &args.action {
        KeyAction::Id => {
            println!("master key {}: current for this database", old.key_id());
            Ok(())
        }
        KeyAction::Rotate { new_key_file } => rotate(&snapshot, &mut store, &old, new_key_file),
    }
}

fn rotate(
    snapshot: &Snapshot,
    store: &mut Store,
    old: &MasterKey,
    new_key_file: &Path,
) -> CliResult {
    let new = MasterKey::load(None, Some(new_key_file))
        .map_err(|e| super::failed(format_args!("new key: {e}")))?;
    let (from, to) = (old.key_id(), new.key_id());
    if from == to {
        return Err(super::failed(format_args!(
            "the new key is the current key ({from}); generate one with `erpgate keygen`"
        )));
    }
    let wrapped = old
        .wrap_hash_root_for(&new)
        .map_err(|e| super::failed(format_args!("cannot wrap the hash root: {e}")))?;
    let note = serde_json::json!({"from": from, "to": to});
    super::audit_admin(store, old, "key.rotate.begin", "master-key", Some(note))?;
    let mut reseal = |tenant: &str, name: &str, sealed: &[u8]| -> Result<Vec<u8>, String> {
        let (_, t) = snapshot.tenant(tenant).ok_or_else(|| {
            format!("{tenant}/{name}: tenant \"{tenant}\" is not in the configuration, so its seal cannot be checked")
        })?;
        let ctx = SealContext {
            tenant,
            name,
            upstream_host: &t.upstream.host,
        };
        let plain = old.tenant_cipher(tenant).open(&ctx, sealed).map_err(|_| {
            format!("{tenant}/{name}: does not open with the current key (tampered, or sealed for another upstream host)")
        })?;
        new.tenant_cipher(tenant)
            .seal(&ctx, plain.expose())
            .map_err(|e| format!("{tenant}/{name}: {e}"))
    };
    let done = match store.reseal_all(&mut reseal, HASH_ROOT, &to, &wrapped) {
        Ok(d) => d,
        Err(e) => {
            let _ = super::audit_admin(
                store,
                old,
                "key.rotate.failed",
                "master-key",
                Some(serde_json::json!({"from": from, "to": to, "error": e.to_string()})),
            );
            return Err(super::failed(format_args!(
                "rotation refused, nothing changed: {e}"
            )));
        }
    };
    // From here on the database is on the new key: record the outcome with it.
    let new = new.with_wrapped_hash_root(&wrapped).map_err(|e| {
        super::failed(format_args!(
            "rotated, but cannot re-read the hash root: {e}"
        ))
    })?;
    let note = serde_json::json!({"from": from, "to": to, "secrets": done.secrets, "tenant_keys": done.tenant_keys});
    super::audit_admin(store, &new, "key.rotate", "master-key", Some(note))?;
    println!(
        "rotated from key {from} to {to}: {} upstream secret(s) and {} tenant key(s) re-sealed; \
         credentials, tokens and the audit chain are unchanged.\n\
         Now run the gateway with the new key (ERPGATE_APP_KEY or gateway.app_key_file) — \
         `erpgate serve --upgrade` hands over without dropping requests — and retire the old key.",
        done.secrets, done.tenant_keys
    );
    Ok(())
}
