//! `erpgate secret set|list`: upstream secrets (e.g. the Oracle integration user's password),
//! sealed with AES-256-GCM under the tenant's derived key and bound to (tenant, name, host).

use std::io::Read;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{CliResult, ConfigArg};
use crate::service::secret;

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
        /// The tenant, as named in the configuration.
        #[arg(long)]
        tenant: String,
        /// Secret name ([a-z0-9][a-z0-9._-]{0,63}), as referenced by the tenant's upstream_auth.
        #[arg(long)]
        name: String,
    },
    /// List stored secrets (names only).
    List,
}

/// Runs the command.
pub fn run(args: &SecretArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    match &args.action {
        SecretAction::Set { tenant, name } => {
            let master = super::load_master(&snapshot)?;
            let mut buf = Zeroizing::new(Vec::new());
            std::io::stdin()
                .take(64 * 1024)
                .read_to_end(&mut buf)
                .map_err(|e| {
                    super::failed(format_args!("cannot read the secret from stdin: {e}"))
                })?;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let mut op = super::operator(&mut store, &master);
            secret::set(&mut op, &snapshot, tenant, name, &buf, |()| {
                println!("secret {name} stored for tenant {tenant} (AES-256-GCM, bound to its upstream host)");
            })?;
            Ok(())
        }
        SecretAction::List => {
            let rows: Vec<Vec<String>> = store
                .list_secrets()?
                .into_iter()
                .map(|(t, n, u)| vec![t, n, u])
                .collect();
            super::print_table(&["TENANT", "NAME", "UPDATED"], &rows);
            Ok(())
        }
    }
}
