//! `erpgate portal-user create|list|disable|enable|reset|role|end-sessions|delete`: the people
//! who log in to the operator portal. The first owner comes from here (the bootstrap); a
//! generated password is printed once. Changes are audited as the CLI's operator.

use clap::{Args, Subcommand};

use super::{CliResult, ConfigArg};
use crate::service::admin_token::Role;
use crate::service::portal_user as pu;

/// Arguments of `erpgate portal-user`.
#[derive(Args, Debug)]
pub struct PortalUserArgs {
    #[command(subcommand)]
    action: PortalUserAction,
    #[command(flatten)]
    config: ConfigArg,
}

#[derive(Subcommand, Debug)]
enum PortalUserAction {
    /// Create a portal user; a generated password is printed once.
    Create {
        /// Login name (`[a-z0-9][a-z0-9._-]{0,63}`).
        #[arg(long)]
        name: String,
        /// owner | admin | auditor.
        #[arg(long)]
        role: String,
        /// Print `{"name","role","password"}`.
        #[arg(long)]
        json: bool,
    },
    /// List portal users (never a password or a second factor).
    List,
    /// Disable a user: their sessions end at once.
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
    },
    /// Give a user a new generated password (printed once) and make them set up their second
    /// factor again; their sessions end.
    Reset {
        /// Login name.
        name: String,
        /// Print `{"name","password"}`.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role; their sessions end.
    Role {
        /// Login name.
        name: String,
        /// owner | admin | auditor.
        role: String,
    },
    /// End every session of a user.
    EndSessions {
        /// Login name.
        name: String,
    },
    /// Delete a user; their sessions end.
    Delete {
        /// Login name.
        name: String,
    },
    /// Link a user to a single sign-on identity (the issuer's subject, or a verified email
    /// with `gateway.portal_oidc_match = "email"`), or unlink them with `--clear`.
    Sso {
        /// Login name.
        name: String,
        /// The identity.
        #[arg(required_unless_present = "clear")]
        identity: Option<String>,
        /// Remove the link.
        #[arg(long, conflicts_with = "identity")]
        clear: bool,
    },
}

fn role(s: &str) -> Result<Role, super::CliError> {
    Role::parse(s).ok_or_else(|| "the role must be owner, admin or auditor".into())
}

/// Runs the command.
pub fn run(args: &PortalUserArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    if let PortalUserAction::List = args.action {
        let rows: Vec<Vec<String>> = store
            .portal_users()?
            .into_iter()
            .map(|u| {
                vec![
                    u.name,
                    u.role,
                    if u.active { "active" } else { "disabled" }.into(),
                    if u.totp_sealed.is_some() {
                        "set up"
                    } else {
                        "not set up"
                    }
                    .into(),
                    u.sso.unwrap_or_else(|| "-".into()),
                    u.created_at,
                    u.created_by,
                ]
            })
            .collect();
        super::print_table(
            &[
                "NAME",
                "ROLE",
                "STATUS",
                "SECOND FACTOR",
                "SSO",
                "CREATED",
                "BY",
            ],
            &rows,
        );
        return Ok(());
    }
    let master = super::load_master(&snapshot)?;
    let hasher = crate::crypto::PasswordHasher::default();
    let mut op = super::operator(&mut store, &master);
    match &args.action {
        PortalUserAction::List => {}
        PortalUserAction::Create {
            name,
            role: r,
            json,
        } => {
            let r = role(r)?;
            pu::create(&mut op, &hasher, name, r, None, |password| {
                if *json {
                    println!(
                        "{}",
                        serde_json::json!({"name": name, "role": r.as_str(), "password": password.expose()})
                    );
                } else {
                    println!("portal user {name} ({}), password shown once:", r.as_str());
                    println!("  {}", password.expose());
                }
            })?;
        }
        PortalUserAction::Disable { name } => {
            pu::set_active(&mut op, name, false, |_| {
                println!("portal user {name} disabled; their sessions ended");
            })?;
        }
        PortalUserAction::Enable { name } => {
            pu::set_active(&mut op, name, true, |_| {
                println!("portal user {name} enabled")
            })?;
        }
        PortalUserAction::Reset { name, json } => {
            pu::reset(&mut op, &hasher, name, None, |password| {
                if *json {
                    println!(
                        "{}",
                        serde_json::json!({"name": name, "password": password.expose()})
                    );
                } else {
                    println!("portal user {name}: new password, shown once (the second factor is set up again at the next login):");
                    println!("  {}", password.expose());
                }
            })?;
        }
        PortalUserAction::Role { name, role: r } => {
            let r = role(r)?;
            pu::set_role(&mut op, name, r, |_| {
                println!(
                    "portal user {name} is now {}; their sessions ended",
                    r.as_str()
                );
            })?;
        }
        PortalUserAction::EndSessions { name } => {
            pu::end_sessions(&mut op, name, |n| {
                println!("ended {n} session(s) of {name}")
            })?;
        }
        PortalUserAction::Sso { name, identity, .. } => {
            pu::set_sso(&mut op, name, identity.as_deref(), |_| match identity {
                Some(i) => println!("portal user {name} signs in by single sign-on as {i}"),
                None => println!("portal user {name} no longer signs in by single sign-on"),
            })?;
        }
        PortalUserAction::Delete { name } => {
            pu::delete(&mut op, name, |_| println!("portal user {name} deleted"))?;
        }
    }
    Ok(())
}
