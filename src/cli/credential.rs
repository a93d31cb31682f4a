//! `erpgate credential issue|revoke|list`: issued credential sets.
//!
//! A set is an API username + password (stored as argon2id) and an x-api-key (256 random bits
//! behind a public id; stored as an HMAC-SHA256 under a key derived from the master key).
//! The secrets are printed once, at issue, and can never be retrieved again. To rotate,
//! issue a new set, move the integration to it, then revoke the old one.

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::crypto::PasswordHasher;
use crate::service::credential;
use crate::store::{Credential, CredentialStatus};

/// Arguments of `erpgate credential`.
#[derive(Args, Debug)]
pub struct CredentialArgs {
    #[command(subcommand)]
    action: CredentialAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum CredentialAction {
    /// Issue a new credential set for an account and print it once.
    Issue {
        /// Account name.
        #[arg(long)]
        account: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential set (refused from the next request on).
    Revoke {
        /// Credential id (cred_…).
        id: String,
    },
    /// List credential sets (never shows secrets).
    List {
        /// Only this account's.
        #[arg(long)]
        account: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The credential set type and the unaudited issue step, where tests and benchmarks have
/// always found them (they live in [`crate::service::credential`]).
pub use crate::service::credential::{mint as issue, Issued};

/// Runs the command. Issue and revoke are recorded in the audit trail.
pub fn run(args: &CredentialArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    if let CredentialAction::List { account, json } = &args.action {
        print_list(&store.list_credentials(account.as_deref())?, *json);
        return Ok(());
    }
    let master = super::load_master(&snapshot)?;
    let mut op = super::operator(&mut store, &master);
    match &args.action {
        CredentialAction::Issue { account, json } => {
            credential::issue(&mut op, &PasswordHasher::default(), account, |i| {
                print_issued(i, *json);
            })?;
        }
        CredentialAction::Revoke { id } => {
            credential::revoke(&mut op, id, |c| {
                println!(
                    "credential {} of account {} revoked at {}",
                    c.id,
                    c.account,
                    c.revoked_at.clone().unwrap_or_default()
                );
            })?;
        }
        CredentialAction::List { .. } => {}
    }
    Ok(())
}

fn print_issued(i: &Issued, json: bool) {
    if json {
        let v = serde_json::json!({
            "id": i.id,
            "account": i.account,
            "username": i.username,
            "password": i.password.expose(),
            "api_key": i.api_key.expose(),
        });
        println!("{v}");
    } else {
        println!("credential set {} issued for account {}", i.id, i.account);
        println!("  username: {}", i.username);
        println!("  password: {}", i.password.expose());
        println!("  x-api-key: {}", i.api_key.expose());
        println!("These secrets are shown once and cannot be retrieved again. Store them now.");
    }
}

fn print_list(list: &[Credential], json: bool) {
    let status = |s: CredentialStatus| match s {
        CredentialStatus::Active => "active",
        CredentialStatus::Revoked => "revoked",
    };
    if json {
        for c in list {
            let v = serde_json::json!({
                "id": c.id, "account": c.account, "username": c.username,
                "api_key_id": c.api_key_id, "status": status(c.status),
                "created_at": c.created_at, "revoked_at": c.revoked_at,
            });
            println!("{v}");
        }
        return;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.account.clone(),
                c.username.clone(),
                format!("egk_{}_…", c.api_key_id),
                status(c.status).into(),
                c.created_at.clone(),
            ]
        })
        .collect();
    super::print_table(
        &["ID", "ACCOUNT", "USERNAME", "API KEY", "STATUS", "CREATED"],
        &rows,
    );
}
