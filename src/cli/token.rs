//! `erpgate token list|revoke|prune`: gateway tokens issued by `POST /gateway/token`. Only ids
//! are ever shown; the tokens themselves exist only with the clients that received them.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::auth::tokens;

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
    let bare = arg.strip_prefix(tokens::TOKEN_PREFIX).unwrap_or(arg);
    (bare.len() == 16 && bare.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| bare.to_string())
}

/// Runs the command.
pub fn run(args: &TokenArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match &args.action {
        TokenAction::List => match store.list_tokens() {
            Ok(list) => {
                let now = chrono::Utc::now().timestamp();
                let rows: Vec<Vec<String>> = list
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
                0
            }
            Err(e) => super::fail(e),
        },
        TokenAction::Revoke { id } => {
            let Some(id) = id_of(id.trim()) else {
                return super::fail("not a token id (egt_ followed by 16 hex digits) or token");
            };
            let master = match super::load_master(&snapshot) {
                Ok(m) => m,
                Err(c) => return c,
            };
            match store.revoke_token(&id) {
                Ok(changed) => {
                    println!(
                        "token egt_{id} {}",
                        if changed {
                            "revoked"
                        } else {
                            "was already revoked"
                        }
                    );
                    match super::audit_admin(
                        &mut store,
                        &master,
                        "token.revoke",
                        &tokens::audit_id(&id),
                        None,
                    ) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(e) => super::fail(e),
            }
        }
        TokenAction::Prune { yes } => {
            let before = chrono::Utc::now().timestamp() - 86_400;
            if !*yes {
                return match store.count_prunable_tokens(before) {
                    Ok(n) => super::fail(format_args!(
                        "this would delete {n} expired token row(s); nothing deleted: add --yes to delete them"
                    )),
                    Err(e) => super::fail(e),
                };
            }
            let master = match super::load_master(&snapshot) {
                Ok(m) => m,
                Err(c) => return c,
            };
            match store.prune_tokens(before) {
                Ok(n) => {
                    println!("{n} expired token rows deleted");
                    let note = serde_json::json!({ "deleted": n, "expired_before": before });
                    match super::audit_admin(
                        &mut store,
                        &master,
                        "token.prune",
                        "gateway_tokens",
                        Some(note),
                    ) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(e) => super::fail(e),
            }
        }
    }
}
