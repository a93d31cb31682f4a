//! `erpgate account create|suspend|resume|list`.

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::service::{account, ServiceError};
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
pub fn run(args: &AccountArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    if let AccountAction::List { json } = &args.action {
        print(&store.list_accounts()?, *json);
        return Ok(());
    }
    let master = super::load_master(&snapshot)?;
    let mut op = super::operator(&mut store, &master);
    match &args.action {
        AccountAction::Create {
            name,
            tenant,
            oracle_user,
            upstream_secret,
        } => {
            let new = account::NewAccount {
                name,
                tenant,
                oracle_user: oracle_user.as_deref(),
                upstream_secret: upstream_secret.as_deref(),
            };
            account::create(&mut op, &snapshot, &new, |a| {
                println!(
                    "account {} created for tenant {} (id {})",
                    a.name, a.tenant, a.id
                );
            })
            .map_err(|e| match e {
                ServiceError::UnknownTenant { name, known } => super::failed(format_args!(
                    "tenant \"{name}\" is not in the configuration (known: {})",
                    known.join(", ")
                )),
                other => other.into(),
            })?;
        }
        AccountAction::Suspend { name } => {
            account::set_active(&mut op, name, false, |a| {
                println!("account {} suspended", a.name);
            })?;
        }
        AccountAction::Resume { name } => {
            account::set_active(&mut op, name, true, |a| {
                println!("account {} resumed", a.name);
            })?;
        }
        AccountAction::List { .. } => {}
    }
    Ok(())
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
