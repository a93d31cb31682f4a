//! `erpgate credential issue|revoke|list`: issued credential sets.
//!
//! A set is an API username + password (stored as argon2id) and an x-api-key (256 random bits
//! behind a public id; stored as an HMAC-SHA256 under a key derived from the master key).
//! The secrets are printed once, at issue, and can never be retrieved again. To rotate,
//! issue a new set, move the integration to it, then revoke the old one.

use clap::{Args, Subcommand};

use super::ConfigArg;
use crate::crypto::{self, MasterKey, PasswordHasher, SecretString};
use crate::store::{Credential, CredentialStatus, NewCredential, Store};

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

/// A freshly issued credential set: the only time its secrets exist outside the caller.
pub struct Issued {
    /// Public id.
    pub id: String,
    /// Account name.
    pub account: String,
    /// API username.
    pub username: String,
    /// API password.
    pub password: SecretString,
    /// x-api-key.
    pub api_key: SecretString,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Issues a credential set for `account` and stores only its hashes.
pub fn issue(
    store: &Store,
    master: &MasterKey,
    passwords: &PasswordHasher,
    account: &str,
) -> Result<Issued, String> {
    let acct = store
        .get_account(account)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("account \"{account}\" does not exist"))?;
    let e = |e: crypto::CryptoError| e.to_string();
    let id = crypto::random_id("cred_", 8).map_err(e)?;
    let suffix = crypto::random_id("", 3).map_err(e)?;
    let username = format!("{}.{}", acct.name, suffix);
    let password = crypto::random_token(24).map_err(e)?;
    let (key_id, api_key) = crypto::generate_api_key().map_err(e)?;
    let password_hash = passwords.hash(password.expose().as_bytes()).map_err(e)?;
    let api_key_hash = master
        .keyed_hasher(crate::crypto::HashPurpose::ApiKey)
        .hash(api_key.expose().as_bytes());
    store
        .insert_credential(&NewCredential {
            id: &id,
            account: &acct.name,
            username: &username,
            password_hash: &password_hash,
            api_key_id: &key_id,
            api_key_hash: &api_key_hash,
        })
        .map_err(|e| e.to_string())?;
    Ok(Issued {
        id,
        account: acct.name,
        username,
        password,
        api_key,
    })
}

/// Runs the command. Issue and revoke are recorded in the audit trail.
pub fn run(args: &CredentialArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    if let CredentialAction::List { account, json } = &args.action {
        return match store.list_credentials(account.as_deref()) {
            Ok(list) => {
                print_list(&list, *json);
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
        CredentialAction::Issue { account, json } => {
            match issue(&store, &master, &PasswordHasher::default(), account) {
                Ok(i) => {
                    print_issued(&i, *json);
                    let note = serde_json::json!({"account": i.account, "username": i.username});
                    ("credential.issue", i.id.clone(), note)
                }
                Err(e) => return super::fail(e),
            }
        }
        CredentialAction::Revoke { id } => match store.revoke_credential(id) {
            Ok(c) => {
                println!(
                    "credential {} of account {} revoked at {}",
                    c.id,
                    c.account,
                    c.revoked_at.clone().unwrap_or_default()
                );
                (
                    "credential.revoke",
                    c.id,
                    serde_json::json!({"account": c.account}),
                )
            }
            Err(e) => return super::fail(e),
        },
        CredentialAction::List { .. } => return 0,
    };
    let (verb, object, note) = done;
    match super::audit_admin(&mut store, &master, verb, &object, Some(note)) {
        Ok(()) => 0,
        Err(c) => c,
    }
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
