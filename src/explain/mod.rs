//! What the configuration decides for one request, step by step, with the relay's own code
//! ([`crate::gateway::chain::decide`] and [`crate::gateway::chain::oracle_steps`]): behind
//! `erpgate explain` and, over the audit trail, `erpgate check --replay-audit` ([`replay`]).
//!
//! Authentication is not replayed (no credential is at hand, and none is needed to ask what a
//! caller *may* do): the caller is named, and everything after "who is calling" runs as it
//! would in the relay. Rate limits and the upstream credential are not part of a decision the
//! configuration makes ahead of time and are left out.

pub mod replay;

use chrono::{DateTime, Utc};

use crate::gateway::chain;
use crate::gateway::context::Trace;
use crate::refusal::{Deny, Reason};
use crate::snapshot::Snapshot;

/// The caller, as authentication would have established it.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// An integration account's name.
    pub account: Option<&'a str>,
    /// An Oracle user's name.
    pub user: Option<&'a str>,
    /// The Oracle user's roles.
    pub roles: &'a [String],
    /// The caller's tenant (an account's, or the one whose trust verified the user's token).
    pub tenant: &'a str,
}

/// One decision and how it was reached.
#[derive(Debug)]
pub struct Evaluation {
    /// The canonical path (absent when the target was refused as a path).
    pub canonical: Option<String>,
    /// The catalog endpoint the path matched.
    pub endpoint: Option<String>,
    /// The methods that endpoint serves.
    pub endpoint_methods: Vec<&'static str>,
    /// That endpoint is a batch root (its parts are judged from the body).
    pub batch: bool,
    /// The granting policy and rule.
    pub grant: Option<(String, String)>,
    /// The schedule was closed at the time and the grant is exempt from it.
    pub exempt: bool,
    /// Whether the schedule is open at the time asked about.
    pub schedule_open: bool,
    /// What in the request was refused, when a name says more than the reason (a child,
    /// a query parameter: names only).
    pub refused: Option<String>,
    /// Relayed (`Ok`), or the refusal the client would get.
    pub outcome: Result<(), Deny>,
}

/// What the checks look at besides the caller.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target: a path, with its query when `query` is set.
    pub target: &'a str,
    /// The time the decision is made for (the schedule).
    pub at: DateTime<Utc>,
    /// The kill switch is on.
    pub killswitch: bool,
    /// Check the query too (the governed parameters: `expand`, `fields`, `q`, …).
    pub query: bool,
}

/// Runs the relay's checks after authentication for `caller` and `ask`.
pub fn evaluate(snapshot: &Snapshot, caller: &Caller<'_>, ask: &Ask<'_>) -> Evaluation {
    let mut trace = Trace::default();
    let mut ev = Evaluation {
        canonical: None,
        endpoint: None,
        endpoint_methods: Vec::new(),
        batch: false,
        grant: None,
        exempt: false,
        schedule_open: snapshot.schedule.is_open(ask.at),
        refused: None,
        outcome: Ok(()),
    };
    ev.outcome = steps(snapshot, caller, ask, &mut trace, &mut ev);
    ev.refused = trace.refused.take();
    if let Some(e) = trace.endpoint {
        let ep = snapshot.catalog.endpoint(e);
        ev.endpoint = Some(ep.name.clone());
        ev.endpoint_methods = ep.methods.iter().map(|m| m.as_str()).collect();
        ev.batch = ep.batch;
    }
    if let Some(g) = trace.grant {
        ev.grant = Some((
            snapshot.grants.policy_name(g).to_string(),
            snapshot.grants.rule_name(g).to_string(),
        ));
        let closed = matches!(&ev.outcome, Err(d) if d.reason == Reason::ScheduleClosed);
        ev.exempt = !ev.schedule_open && !closed;
    }
    ev
}

fn steps(
    snapshot: &Snapshot,
    caller: &Caller<'_>,
    ask: &Ask<'_>,
    trace: &mut Trace,
    ev: &mut Evaluation,
) -> Result<(), Deny> {
    let target = if ask.query {
        ask.target
    } else {
        ask.target.split('?').next().unwrap_or_default()
    };
    let target = crate::path::canonicalize(target.as_bytes(), snapshot.gateway.max_uri_length)
        .map_err(chain::path_deny)?;
    ev.canonical = Some(target.path().to_string());
    let (tenant_id, tenant) = snapshot.tenant(caller.tenant).ok_or(Deny::with_detail(
        Reason::PolicyDenied,
        "tenant_not_configured",
    ))?;
    let subject = crate::policy::Subject {
        account: caller.account,
        oracle_user: caller.user,
        roles: caller.roles,
    };
    let decision = chain::decide(
        snapshot,
        &subject,
        tenant_id,
        &target,
        ask.method.as_bytes(),
        ask.at,
        trace,
    )?;
    if ask.killswitch {
        return Err(Deny::new(Reason::KillSwitchOn));
    }
    if ask.query {
        chain::oracle_steps(
            snapshot,
            &subject,
            tenant_id,
            tenant,
            &target,
            &http::HeaderMap::new(),
            &decision,
            trace,
        )?;
    }
    Ok(())
}

/// `relayed`, or the status and reason code a refused client sees (`403 policy.denied`).
pub fn label(outcome: &Result<(), Deny>) -> String {
    match outcome {
        Ok(()) => "relayed".into(),
        Err(d) => format!("{} {}", d.reason.status(), d.reason.code()),
    }
}
