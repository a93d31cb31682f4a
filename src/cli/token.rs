//! `erpgate token list|revoke|prune`: gateway tokens issued by `POST /gateway/token`. Only ids
//! are ever shown; the tokens themselves exist only with the clients that received them.

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::auth::tokens;
use crate::service;

/// Arguments of `erpgate token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// List tokens (ids, credential sets, expiry, status).
    List,
    /// Revoke one token, by its id (`egt_<id>`, as in the audit trail and `token list`) or by
    /// the whole token. Running gateways refuse it within one store poll.
    Revoke {
        /// The token id or the token.
        id: String,
    },
    /// Delete rows of tokens that expired more than a day ago (audited). Without `--yes` it
    /// only says how many rows it would delete.
    Prune {
        /// Really delete.
        #[arg(long)]
        yes: bool,
    },
}

/// The token id in `arg`: a bare 16-hex id, `egt_<id>`, or a whole token.
fn id_of(arg: &str) -> Option<String> {
    if let Some(id) = tokens::parse_id(arg) {
        return Some(id.to_string());
    }
    service::token::bare_id(arg).map(str::to_string)
}

/// Runs the command.
pub fn run(args: &TokenArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    match &args.action {
        TokenAction::List => list(&store),
        TokenAction::Revoke { id } => {
            let Some(id) = id_of(id.trim()) else {
                return Err("not a token id (egt_ followed by 16 hex digits) or token".into());
            };
            let master = super::load_master(&snapshot)?;
            let mut op = super::operator(&mut store, &master);
            service::token::revoke(&mut op, &id, |&changed| {
                println!(
                    "token egt_{id} {}",
                    if changed {
                        "revoked"
                    } else {
                        "was already revoked"
                    }
                );
            })?;
            Ok(())
        }
        TokenAction::Prune { yes } => {
            let before = chrono::Utc::now().timestamp() - 86_400;
            if !*yes {
                let n = store.count_prunable_tokens(before)?;
                return Err(super::failed(format_args!(
                    "this would delete {n} expired token row(s); nothing deleted: add --yes to delete them"
                )));
            }
            let master = super::load_master(&snapshot)?;
            let mut op = super::operator(&mut store, &master);
            service::token::prune(&mut op, before, |n| {
                println!("{n} expired token rows deleted");
            })?;
            Ok(())
        }
    }
}

fn list(store: &crate::store::Store) -> CliResult {
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Vec<String>> = store
        .list_tokens()?
        .into_iter()
        .map(|t| {
            let status = match (t.active, t.expires_at > now) {
                (false, _) => "revoked",
                (true, false) => "expired",
                (true, true) => "active",
            };
            vec![
                format!("egt_{}", t.id),
                t.credential_id,
                t.issued_at,
                chrono::DateTime::from_timestamp(t.expires_at, 0)
                    .map_or_else(|| t.expires_at.to_string(), |d| d.to_rfc3339()),
                status.to_string(),
            ]
        })
        .collect();
    super::print_table(&["ID", "CREDENTIAL", "ISSUED", "EXPIRES", "STATUS"], &rows);
    Ok(())
}
