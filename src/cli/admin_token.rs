//! `erpgate admin-token create|list|revoke`: tokens for the admin API. Created here with the
//! master key (the bootstrap: the first owner token comes from the CLI); shown once.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::admin::auth::{self, Role};

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
pub fn run(args: &AdminTokenArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    if let AdminTokenAction::List = &args.action {
        return match store.list_admin_tokens() {
            Ok(list) => {
                let rows: Vec<Vec<String>> = list
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
                0
            }
            Err(e) => super::fail(e),
        };
    }
    let master = match super::load_master(&snapshot) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let actor = format!("cli:{}", super::killswitch::whoami());
    let hasher = master.keyed_hasher("admin-token");
    match &args.action {
        AdminTokenAction::Create { role, name, json } => {
            let Some(r) = Role::parse(role) else {
                return super::fail("--role must be owner, admin or auditor");
            };
            match auth::create(&store, &hasher, r, name, &actor) {
                Ok((id, token)) => {
                    if *json {
                        println!(
                            "{}",
                            serde_json::json!({"id": format!("eat_{id}"), "role": r.as_str(), "name": name, "token": token.expose()})
                        );
                    } else {
                        println!("admin token eat_{id} ({}, {name}), shown once:", r.as_str());
                        println!("  {}", token.expose());
                    }
                    let note = serde_json::json!({"role": r.as_str(), "name": name});
                    let object = format!("eat_{}", id.get(..8).unwrap_or(&id));
                    match super::audit_admin(
                        &mut store,
                        &master,
                        "admin_token.create",
                        &object,
                        Some(note),
                    ) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(e) => super::fail(e),
            }
        }
        AdminTokenAction::Revoke { id } => {
            let bare = id.strip_prefix("eat_").unwrap_or(id);
            match store.revoke_admin_token(bare) {
                Ok(changed) => {
                    println!(
                        "admin token eat_{bare} {}",
                        if changed {
                            "revoked"
                        } else {
                            "was already revoked"
                        }
                    );
                    let object = format!("eat_{}", bare.get(..8).unwrap_or(bare));
                    match super::audit_admin(
                        &mut store,
                        &master,
                        "admin_token.revoke",
                        &object,
                        None,
                    ) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(e) => super::fail(e),
            }
        }
        AdminTokenAction::List => 0,
    }
}
