//! `erpgate explain` (one decision against the live configuration and state, step by step)
//! and the report of `erpgate check --replay-audit` (what a new configuration would change).

use std::path::Path;

use clap::Args;

use super::{CliError, CliResult, ConfigArg};
use crate::explain::replay::Report;
use crate::explain::{self, Ask, Caller};
use crate::snapshot::Snapshot;
use crate::store::AccountStatus;

/// Arguments of `erpgate explain`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("who").required(true).args(["account", "user"]))]
pub struct ExplainArgs {
    /// The integration account calling.
    #[arg(long)]
    pub account: Option<String>,
    /// The Oracle user calling (with a token Oracle issued).
    #[arg(long, requires = "tenant")]
    pub user: Option<String>,
    /// The Oracle user's tenant.
    #[arg(long, requires = "user")]
    pub tenant: Option<String>,
    /// A role in the Oracle user's token (repeat for several).
    #[arg(long = "role", requires = "user")]
    pub roles: Vec<String>,
    /// Decide for this time instead of now (RFC 3339): the schedule.
    #[arg(long)]
    pub at: Option<String>,
    /// The method, e.g. GET.
    pub method: String,
    /// The request target as the caller would send it, e.g.
    /// /fscmRestApi/resources/11.13.18.05/invoices?limit=5
    pub target: String,
    #[command(flatten)]
    config: ConfigArg,
}

/// Runs `erpgate explain`: exit 0 when the request would be relayed, 3 when refused.
pub fn run(args: &ExplainArgs) -> CliResult {
    let (snapshot, store) = super::config_and_store(&args.config.config)?;
    let at = match &args.at {
        None => chrono::Utc::now(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| {
                CliError::Failed(format!(
                    "--at: \"{t}\" is not an RFC 3339 time ({e}), e.g. 2026-12-01T09:30:00Z"
                ))
            })?
            .with_timezone(&chrono::Utc),
    };
    let killswitch = store.killswitch()?;
    let (tenant, who, refused_before) = match (&args.account, &args.user) {
        (Some(name), _) => {
            let account = store
                .get_account(name)?
                .ok_or_else(|| CliError::Failed(format!("no account named \"{name}\"")))?;
            let suspended = account.status == AccountStatus::Suspended;
            let who = format!(
                "account {name} (tenant {}, {})",
                account.tenant,
                account.status.as_str()
            );
            (
                account.tenant,
                who,
                suspended.then_some("403 account.suspended"),
            )
        }
        (None, Some(user)) => {
            let tenant = args.tenant.clone().unwrap_or_default();
            let roles = if args.roles.is_empty() {
                "no roles".to_string()
            } else {
                format!("roles {}", args.roles.join(", "))
            };
            (
                tenant.clone(),
                format!("Oracle user {user} (tenant {tenant}, {roles})"),
                None,
            )
        }
        (None, None) => return Err(CliError::Failed("name --account or --user".into())),
    };
    let caller = Caller {
        account: args.account.as_deref(),
        user: args.user.as_deref(),
        roles: &args.roles,
        tenant: &tenant,
    };
    let ask = Ask {
        method: &args.method,
        target: &args.target,
        at,
        killswitch,
        query: true,
    };
    let ev = explain::evaluate(&snapshot, &caller, &ask);
    println!("request:     {} {}", args.method, args.target);
    println!("caller:      {who}");
    print_steps(&snapshot, &ev, at, killswitch);
    let outcome = match refused_before {
        Some(l) => l.to_string(),
        None => explain::label(&ev.outcome),
    };
    match (&ev.outcome, refused_before) {
        (Ok(()), None) => {
            println!("decision:    relayed (rate limits and the upstream credential are checked per request)");
            Ok(())
        }
        _ => {
            let detail = ev
                .outcome
                .as_ref()
                .err()
                .and_then(|d| d.detail)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            println!("decision:    refused {outcome}{detail}");
            Err(CliError::Refused)
        }
    }
}

fn print_steps(
    snapshot: &Snapshot,
    ev: &explain::Evaluation,
    at: chrono::DateTime<chrono::Utc>,
    killswitch: bool,
) {
    match &ev.canonical {
        Some(p) => println!("path:        {p}"),
        None => return,
    }
    match &ev.endpoint {
        Some(e) => println!(
            "endpoint:    {e} (serves {})",
            ev.endpoint_methods.join(", ")
        ),
        None => {
            println!("endpoint:    none in the catalog matches");
            return;
        }
    }
    match &ev.grant {
        Some((policy, rule)) => println!("grant:       policy \"{policy}\", rule \"{rule}\""),
        None => {
            println!("grant:       no policy grants this caller this method on this endpoint");
            return;
        }
    }
    let when = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let schedule = if ev.schedule_open {
        format!("open at {when}")
    } else if ev.exempt {
        format!("closed at {when}; the grant is exempt from the schedule")
    } else {
        let next = snapshot.schedule.status(at);
        format!(
            "closed at {when}; {}",
            next.strip_prefix("closed now; ").unwrap_or(&next)
        )
    };
    println!("schedule:    {schedule} ({})", snapshot.schedule.describe());
    println!("kill switch: {}", if killswitch { "ON" } else { "off" });
    if let Some(what) = &ev.refused {
        println!("refused:     {what}");
    }
}

/// Prints a replay's report; an error (exit 3) when a request that was relayed would now be
/// refused and that is not `accepted`.
pub fn print_replay(report: &Report, since: &str, accepted: Accepted) -> CliResult {
    let skipped: u64 = report.skipped.values().sum();
    println!(
        "replayed {} request record(s) since {since}: {} compared, {skipped} skipped",
        report.examined, report.compared
    );
    for (cause, n) in &report.skipped {
        println!("  skipped {n}: {cause}");
    }
    for (cause, n) in &report.uncompared_passed {
        println!("  not decided again in full, though admitted then: {n}: {cause}");
    }
    if report.changes.is_empty() {
        println!("no decision would change");
        return Ok(());
    }
    println!("decisions that would change:");
    for c in &report.changes {
        println!(
            "  {}, endpoint {}, {}: {} request(s) {} → {}",
            actor(&c.actor),
            c.endpoint,
            c.method,
            c.requests,
            c.from,
            c.to
        );
    }
    let refused = report.newly_refused();
    let unsure: u64 = report.uncompared_passed.values().sum();
    let mut fail = false;
    if refused > 0 && !accepted.refusals {
        eprintln!(
            "error: {refused} request(s) admitted before would be refused under this configuration; pass --accept-refusals if that is intended"
        );
        fail = true;
    }
    if unsure > 0 && !accepted.uncompared {
        eprintln!(
            "error: {unsure} request(s) admitted before could not be decided again in full (above); pass --accept-uncompared once you have checked them"
        );
        fail = true;
    }
    if fail {
        return Err(CliError::Refused);
    }
    Ok(())
}

/// What a replay's caller accepts ahead of time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accepted {
    /// Requests admitted then and refused now are intended.
    pub refusals: bool,
    /// Requests admitted then that cannot be decided again in full have been checked.
    pub uncompared: bool,
}

fn actor(a: &str) -> String {
    match a.strip_prefix("user:") {
        Some(u) => format!("Oracle user {u}"),
        None => format!("account {a}"),
    }
}

/// `erpgate check --replay-audit`: the trail of the database this configuration names.
pub fn replay(config: &Path, snapshot: &Snapshot, since: &str, accepted: Accepted) -> CliResult {
    let store = super::open_store(snapshot, config)?;
    let report =
        crate::explain::replay::replay(store.conn(), snapshot, since).map_err(CliError::Failed)?;
    print_replay(&report, since, accepted)
}
