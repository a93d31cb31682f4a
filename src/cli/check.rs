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
