//! `erpgate check`: validate a configuration the way `nginx -t` does.

use std::path::Path;

/// Validates the configuration; prints a summary or every error. Exit 0 or 2.
pub fn run(config: &Path) -> super::CliResult {
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
    Ok(())
}
