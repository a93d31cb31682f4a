//! `erpgate secret set|list`: upstream secrets (e.g. the Oracle integration user's password),
//! sealed with AES-256-GCM under the tenant's derived key and bound to (tenant, name, host).

use std::io::Read;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::ConfigArg;
use crate::crypto::{MasterKey, SealContext};
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Arguments of `erpgate secret`.
#[derive(Args, Debug)]
pub struct SecretArgs {
    #[command(subcommand)]
    action: SecretAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum SecretAction {
    /// Store a secret read from standard input (one line; the trailing newline is dropped).
    Set {
        /// Tenant.
        #[arg(long)]
        tenant: String,
        /// Secret name ([a-z0-9][a-z0-9._-]{0,63}), as referenced by the tenant's upstream_auth.
        #[arg(long)]
        name: String,
    },
    /// List stored secrets (names only).
    List,
}

/// Seals `plaintext` for `tenant`/`name` and stores it.
pub fn set(
    store: &Store,
    snapshot: &Snapshot,
    master: &MasterKey,
    tenant: &str,
    name: &str,
    plaintext: &[u8],
) -> Result<(), String> {
    let (_, t) = snapshot
        .tenant(tenant)
        .ok_or_else(|| format!("tenant \"{tenant}\" is not in the configuration"))?;
    if plaintext.is_empty() {
        return Err("the secret is empty".into());
    }
    let ctx = SealContext {
        tenant,
        name,
        upstream_host: &t.upstream.host,
    };
    let sealed = master
        .tenant_cipher(tenant)
        .seal(&ctx, plaintext)
        .map_err(|e| e.to_string())?;
    store
        .put_secret(tenant, name, &sealed)
        .map_err(|e| e.to_string())
}

/// Runs the command.
pub fn run(args: &SecretArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match &args.action {
        SecretAction::Set { tenant, name } => {
            let master = match super::load_master(&snapshot) {
                Ok(m) => m,
                Err(c) => return c,
            };
            let mut buf = Zeroizing::new(Vec::new());
            if let Err(e) = std::io::stdin().take(64 * 1024).read_to_end(&mut buf) {
                return super::fail(format_args!("cannot read the secret from stdin: {e}"));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            match set(&store, &snapshot, &master, tenant, name, &buf) {
                Ok(()) => {
                    println!("secret {name} stored for tenant {tenant} (AES-256-GCM, bound to its upstream host)");
                    let note = serde_json::json!({"tenant": tenant});
                    match super::audit_admin(&mut store, &master, "secret.set", name, Some(note)) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(e) => super::fail(e),
            }
        }
        SecretAction::List => match store.list_secrets() {
            Ok(list) => {
                let rows: Vec<Vec<String>> =
                    list.into_iter().map(|(t, n, u)| vec![t, n, u]).collect();
                super::print_table(&["TENANT", "NAME", "UPDATED"], &rows);
                0
            }
            Err(e) => super::fail(e),
        },
    }
}
