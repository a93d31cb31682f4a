//! `erpgate admin-token create|list|revoke`: tokens for the admin API. Created here with the
//! master key (the bootstrap: the first owner token comes from the CLI); shown once.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::admin::auth::{self, Role};
use crate::crypto::MasterKey;
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
pub fn run(args: &AdminTokenArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    // Listing needs no key; creating and revoking are audited, so they need the master key.
    let master = || super::load_master(&snapshot);
    match &args.action {
        AdminTokenAction::List => list(&store),
        AdminTokenAction::Create { role, name, json } => match master() {
            Ok(m) => create(&mut store, &m, role, name, *json),
            Err(c) => c,
        },
        AdminTokenAction::Revoke { id } => match master() {
            Ok(m) => revoke(&mut store, &m, id),
            Err(c) => c,
        },
    }
}

fn create(store: &mut Store, master: &MasterKey, role: &str, name: &str, json: bool) -> i32 {
    let Some(r) = Role::parse(role) else {
        return super::fail("--role must be owner, admin or auditor");
    };
    let actor = format!("cli:{}", super::killswitch::whoami());
    let hasher = master.keyed_hasher(crate::crypto::HashPurpose::AdminToken);
    let (id, token) = match auth::create(store, &hasher, r, name, &actor) {
        Ok(x) => x,
        Err(e) => return super::fail(e),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({"id": format!("eat_{id}"), "role": r.as_str(), "name": name, "token": token.expose()})
        );
    } else {
        println!("admin token eat_{id} ({}, {name}), shown once:", r.as_str());
        println!("  {}", token.expose());
    }
    let note = serde_json::json!({"role": r.as_str(), "name": name});
    match super::audit_admin(
        store,
        master,
        "admin_token.create",
        &short_id(&id),
        Some(note),
    ) {
        Ok(()) => 0,
        Err(c) => c,
    }
}

fn revoke(store: &mut Store, master: &MasterKey, id: &str) -> i32 {
    let bare = id.strip_prefix("eat_").unwrap_or(id);
    match store.revoke_admin_token(bare) {
        Ok(changed) => println!(
            "admin token eat_{bare} {}",
            if changed {
                "revoked"
            } else {
                "was already revoked"
            }
        ),
        Err(e) => return super::fail(e),
    }
    match super::audit_admin(store, master, "admin_token.revoke", &short_id(bare), None) {
        Ok(()) => 0,
        Err(c) => c,
    }
}

/// `eat_` and the first 8 hex digits of a token id: what the audit trail names.
fn short_id(id: &str) -> String {
    format!("eat_{}", id.get(..8).unwrap_or(id))
}

fn list(store: &Store) -> i32 {
    match store.list_admin_tokens() {
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
    }
}
