//! `erpgate check`: validate a configuration the way `nginx -t` does, and optionally replay
//! the audit trail against it (`--replay-audit`).

use clap::Args;

use super::ConfigArg;

/// Arguments of `erpgate check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Decide every request recorded in the audit trail since this time (RFC 3339) again under
    /// this configuration and print which decisions would change; exit 3 when a request that
    /// was relayed would be refused.
    #[arg(long, value_name = "SINCE")]
    pub replay_audit: Option<String>,
    /// With --replay-audit: requests that were relayed and would now be refused are intended
    /// (exit 0).
    #[arg(long, requires = "replay_audit")]
    pub accept_refusals: bool,
    /// With --replay-audit: requests that were admitted and cannot be decided again in full
    /// (a masked query, a batch's parts, an Oracle user's roles) have been checked (exit 0).
    #[arg(long, requires = "replay_audit")]
    pub accept_uncompared: bool,
    #[command(flatten)]
    config: ConfigArg,
}

/// Validates the configuration; prints a summary or every error. Exit 0 or 2 (3: a replay
/// would refuse requests that were relayed).
pub fn run(args: &CheckArgs) -> super::CliResult {
    let config = &args.config.config;
    let s = super::load_config(config)?;
    println!(
        "configuration {} is valid: {} tenant(s), {} endpoint(s), {} policy(ies), schedule {}; hash {}",
        config.display(),
        s.tenants.len(),
        s.catalog.len(),
        s.grants.policy_count(),
        s.schedule.describe(),
        s.hash
    );
    println!("access schedule: {}", s.schedule.status(chrono::Utc::now()));
    for w in &s.warnings {
        println!("warning: {w}");
    }
    token_keys(&s)?;
    match &args.replay_audit {
        Some(since) => super::explain::replay(
            config,
            &s,
            since,
            super::explain::Accepted {
                refusals: args.accept_refusals,
                uncompared: args.accept_uncompared,
            },
        ),
        None => Ok(()),
    }
}

/// For every tenant whose signing key a PKCS#11 token holds: the token is reachable with the
/// configured module and PIN, and its key signs for the stored certificate (a test signature,
/// verified). A failure names the tenant, the token and the key (exit 1).
fn token_keys(s: &crate::snapshot::Snapshot) -> super::CliResult {
    if s.tenants.iter().all(|t| t.pkcs11.is_none()) {
        return Ok(());
    }
    if s.gateway
        .database
        .sqlite_path()
        .is_some_and(|p| !p.exists())
    {
        println!("PKCS#11 keys: the database does not exist yet; nothing to check");
        return Ok(());
    }
    let store = crate::store::Store::connect(&s.gateway.database)?;
    let mut failed = Vec::new();
    for t in &s.tenants {
        let Some(row) = store.get_tenant_key(&t.name)? else {
            continue;
        };
        let Some(text) = row.key_ref.as_deref() else {
            continue;
        };
        let outcome = crate::crypto::pkcs11::KeyRef::from_text(text)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                let access = t.pkcs11.as_ref().ok_or_else(|| {
                    format!("its key is in a PKCS#11 token ({r}) but [tenants.{}.pkcs11] is not configured", t.name)
                })?;
                let cert = crate::jwt::Certificate::from_der(&row.cert_der)?;
                crate::service::tenant::verify_token_key(access, &r, &cert)?;
                Ok((r, cert))
            });
        match outcome {
            Ok((r, cert)) => println!(
                "tenant {}: signing key reachable in the PKCS#11 token and it matches the certificate {} ({r})",
                t.name,
                cert.x5t()
            ),
            Err(e) => failed.push(format!("tenant {}: signing key unusable: {e}", t.name)),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(super::failed(failed.join("\n")))
    }
}
