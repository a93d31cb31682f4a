//! `erpgate account create|suspend|resume|list`.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::store::{Account, AccountStatus};

/// Arguments of `erpgate account`.
#[derive(Args, Debug)]
pub struct AccountArgs {
    #[command(subcommand)]
    action: AccountAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum AccountAction {
    /// Create an account for an integration.
    Create {
        /// Account name ([a-z0-9][a-z0-9._-]{0,63}).
        #[arg(long)]
        name: String,
        /// The tenant (from the configuration) this account calls.
        #[arg(long)]
        tenant: String,
        /// The Oracle user the gateway presents upstream for this account (default: the tenant's).
        #[arg(long)]
        oracle_user: Option<String>,
        /// The stored secret holding that Oracle user's password or key (default: the tenant's).
        #[arg(long)]
        upstream_secret: Option<String>,
    },
    /// Suspend an account: its credentials are refused on the next request.
    Suspend {
        /// Account name.
        name: String,
    },
    /// Resume a suspended account.
    Resume {
        /// Account name.
        name: String,
    },
    /// List accounts.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command. Mutations are recorded in the audit trail (so they need the master key).
pub fn run(args: &AccountArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    if let AccountAction::List { json } = &args.action {
        return match store.list_accounts() {
            Ok(list) => {
                print(&list, *json);
                0
            }
            Err(e) => super::fail(e),
        };
    }
    let master = match super::load_master(&snapshot) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let done = match &args.action {
        AccountAction::Create {
            name,
            tenant,
            oracle_user,
            upstream_secret,
        } => {
            if snapshot.tenant(tenant).is_none() {
                let known: Vec<&str> = snapshot.tenants.iter().map(|t| t.name.as_str()).collect();
                return super::fail(format_args!(
                    "tenant \"{tenant}\" is not in the configuration (known: {})",
                    known.join(", ")
                ));
            }
            store
                .create_account(name, tenant, oracle_user.as_deref(), upstream_secret.as_deref())
                .map(|a| {
                    println!("account {} created for tenant {} (id {})", a.name, a.tenant, a.id);
                    let note = serde_json::json!({"tenant": a.tenant, "oracle_user": a.oracle_user, "upstream_secret": a.upstream_secret});
                    ("account.create", a.name, Some(note))
                })
        }
        AccountAction::Suspend { name } => store
            .set_account_status(name, AccountStatus::Suspended)
            .map(|a| {
                println!("account {} suspended", a.name);
                ("account.suspend", a.name, None)
            }),
        AccountAction::Resume { name } => store
            .set_account_status(name, AccountStatus::Active)
            .map(|a| {
                println!("account {} resumed", a.name);
                ("account.resume", a.name, None)
            }),
        AccountAction::List { .. } => return 0,
    };
    match done {
        Ok((verb, object, note)) => {
            match super::audit_admin(&mut store, &master, verb, &object, note) {
                Ok(()) => 0,
                Err(c) => c,
            }
        }
        Err(e) => super::fail(e),
    }
}

fn status(s: AccountStatus) -> &'static str {
    match s {
        AccountStatus::Active => "active",
        AccountStatus::Suspended => "suspended",
    }
}

fn print(list: &[Account], json: bool) {
    if json {
        for a in list {
            let v = serde_json::json!({
                "id": a.id, "name": a.name, "tenant": a.tenant, "oracle_user": a.oracle_user,
                "upstream_secret": a.upstream_secret, "status": status(a.status),
                "created_at": a.created_at, "updated_at": a.updated_at,
            });
            println!("{v}");
        }
        return;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.tenant.clone(),
                status(a.status).into(),
                a.oracle_user
                    .clone()
                    .unwrap_or_else(|| "(tenant default)".into()),
                a.created_at.clone(),
            ]
        })
        .collect();
    super::print_table(
        &["NAME", "TENANT", "STATUS", "ORACLE USER", "CREATED"],
        &rows,
    );
}
