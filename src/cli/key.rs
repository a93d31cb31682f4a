//! `erpgate key rotate`: move the database to a new master key.
//!
//! Everything sealed under the old key (upstream secrets, tenant signing keys) is opened and
//! re-sealed under the new one, and the hash root (from which stored credential hashes and
//! the audit chain are keyed) is stored wrapped under the new key, all in one transaction:
//! the database is either wholly on the old key or wholly on the new one. Credentials, tokens
//! and the audit chain stay valid. Bracketed by two audit records.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::crypto::{MasterKey, SealContext, HASH_ROOT};

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
pub fn run(args: &KeyArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let old = match super::load_master(&snapshot) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let new_key_file = match &args.action {
        KeyAction::Id => {
            println!("master key {}: current for this database", old.key_id());
            return 0;
        }
        KeyAction::Rotate { new_key_file } => new_key_file,
    };
    let new = match MasterKey::load(None, Some(new_key_file)) {
        Ok(k) => k,
        Err(e) => return super::fail(format_args!("new key: {e}")),
    };
    let (from, to) = (old.key_id(), new.key_id());
    if from == to {
        return super::fail(format_args!(
            "the new key is the current key ({from}); generate one with `erpgate keygen`"
        ));
    }
    let wrapped = match old.wrap_hash_root_for(&new) {
        Ok(w) => w,
        Err(e) => return super::fail(format_args!("cannot wrap the hash root: {e}")),
    };
    let note = serde_json::json!({"from": from, "to": to});
    if let Err(c) = super::audit_admin(
        &mut store,
        &old,
        "key.rotate.begin",
        "master-key",
        Some(note),
    ) {
        return c;
    }
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
                &mut store,
                &old,
                "key.rotate.failed",
                "master-key",
                Some(serde_json::json!({"from": from, "to": to, "error": e.to_string()})),
            );
            return super::fail(format_args!("rotation refused, nothing changed: {e}"));
        }
    };
    // From here on the database is on the new key: record the outcome with it.
    let new = match new.with_wrapped_hash_root(&wrapped) {
        Ok(k) => k,
        Err(e) => {
            return super::fail(format_args!(
                "rotated, but cannot re-read the hash root: {e}"
            ))
        }
    };
    let note = serde_json::json!({"from": from, "to": to, "secrets": done.secrets, "tenant_keys": done.tenant_keys});
    if let Err(c) = super::audit_admin(&mut store, &new, "key.rotate", "master-key", Some(note)) {
        return c;
    }
    println!(
        "rotated from key {from} to {to}: {} upstream secret(s) and {} tenant key(s) re-sealed; \
         credentials, tokens and the audit chain are unchanged.\n\
         Now run the gateway with the new key (ERPGATE_APP_KEY or gateway.app_key_file) — \
         `erpgate serve --upgrade` hands over without dropping requests — and retire the old key.",
        done.secrets, done.tenant_keys
    );
    0
}
