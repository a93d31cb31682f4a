//! `erpgate admin-token create|list|revoke`: tokens for the admin API. Created here with the
//! master key (the bootstrap: the first owner token comes from the CLI); shown once.

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::crypto::MasterKey;
use crate::service::admin_token::{self as auth, Role};
use crate::service::Operator;
use crate::store::Store;

/// Arguments of `erpgate admin-token`.
#[derive(Args, Debug)]
pub struct AdminTokenArgs {
    #[command(subcommand)]
    action: AdminTokenAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum AdminTokenAction {
    /// Create a token (printed once).
    Create {
        /// owner | admin | auditor.
        #[arg(long)]
        role: String,
        /// Who or what it is for (shown in the audit trail).
        #[arg(long)]
        name: String,
        /// Print `{"id","role","name","token"}`.
        #[arg(long)]
        json: bool,
    },
    /// List tokens (ids, roles, names; never the tokens).
    List,
    /// Revoke a token by id (`eat_…`).
    Revoke {
        /// Token id.
        id: String,
    },
}

/// Runs the command.
pub fn run(args: &AdminTokenArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    // Listing needs no key; creating and revoking are audited, so they need the master key.
    match &args.action {
        AdminTokenAction::List => list(&store),
        AdminTokenAction::Create { role, name, json } => {
            let master = super::load_master(&snapshot)?;
            create(
                &mut super::operator(&mut store, &master),
                &master,
                role,
                name,
                *json,
            )
        }
        AdminTokenAction::Revoke { id } => {
            let master = super::load_master(&snapshot)?;
            let bare = id.strip_prefix("eat_").unwrap_or(id);
            auth::revoke(
                &mut super::operator(&mut store, &master),
                bare,
                |&changed| {
                    println!(
                        "admin token eat_{bare} {}",
                        if changed {
                            "revoked"
                        } else {
                            "was already revoked"
                        }
                    );
                },
            )?;
            Ok(())
        }
    }
}

fn create(
    op: &mut Operator<'_>,
    master: &MasterKey,
    role: &str,
    name: &str,
    json: bool,
) -> CliResult {
    let Some(r) = Role::parse(role) else {
        return Err("--role must be owner, admin or auditor".into());
    };
    let hasher = master.keyed_hasher(crate::crypto::HashPurpose::AdminToken);
    auth::issue(op, &hasher, r, name, |(id, token)| {
        if json {
            println!(
                "{}",
                serde_json::json!({"id": format!("eat_{id}"), "role": r.as_str(), "name": name, "token": token.expose()})
            );
        } else {
            println!("admin token eat_{id} ({}, {name}), shown once:", r.as_str());
            println!("  {}", token.expose());
        }
    })?;
    Ok(())
}

fn list(store: &Store) -> CliResult {
    let rows: Vec<Vec<String>> = store
        .list_admin_tokens()?
        .into_iter()
        .map(|t| {
            vec![
                format!("eat_{}", t.id),
                t.role,
                t.name,
                t.created_at,
                t.created_by,
                if t.active { "active" } else { "revoked" }.into(),
            ]
        })
        .collect();
    super::print_table(&["ID", "ROLE", "NAME", "CREATED", "BY", "STATUS"], &rows);
    Ok(())
}
