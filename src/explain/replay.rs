//! `erpgate check --replay-audit SINCE`: every request the audit trail recorded since a time,
//! decided again under a (new) configuration, and what would change, grouped by caller,
//! endpoint, method and the two outcomes.
//!
//! What is compared is what the configuration decides ([`super::evaluate`] without the query
//! and the kill switch): the tenant, the catalog (endpoint and method), the grants and the
//! schedule at the time of the request. A record says what happened then: relayed requests
//! (and those Oracle failed) passed those steps; refusals at those steps carry their reason.
//! Records that were refused before them (authentication, a malformed path, …) or after them
//! (a query parameter, a header, a rate limit, the kill switch, the upstream) have no outcome
//! of those steps to compare and are counted as skipped, by cause.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Ask, Caller};
use crate::refusal::Reason;
use crate::snapshot::Snapshot;
use crate::store::sql::{Conn, Value};

/// Records read per statement (bounds memory on a trail of millions).
const PAGE: i64 = 5_000;

/// Requests whose outcome would change, grouped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The account, or `user:NAME`.
    pub actor: String,
    /// The endpoint (catalog name under the new configuration, else as recorded, else the
    /// path).
    pub endpoint: String,
    /// The method.
    pub method: String,
    /// What happened then: `relayed` or `403 policy.denied`.
    pub from: String,
    /// What the configuration would decide now.
    pub to: String,
    /// How many requests.
    pub requests: u64,
    /// A request that was relayed would now be refused.
    pub newly_refused: bool,
}

/// The outcome of a replay.
#[derive(Debug, Default)]
pub struct Report {
    /// Request records read.
    pub examined: u64,
    /// Records decided again and compared.
    pub compared: u64,
    /// Records not compared, by cause.
    pub skipped: BTreeMap<&'static str, u64>,
    /// What would change, most requests first.
    pub changes: Vec<Change>,
}

impl Report {
    /// Requests relayed then that would be refused now.
    pub fn newly_refused(&self) -> u64 {
        self.changes
            .iter()
            .filter(|c| c.newly_refused)
            .map(|c| c.requests)
            .sum()
    }
}

/// The fields of a stored record a replay reads (the rest is skipped unparsed).
#[derive(Deserialize)]
struct Seen<'a> {
    #[serde(borrow)]
    ts: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    actor: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    tenant: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    method: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    path: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    decision: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    reason: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    detail: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    endpoint: Option<std::borrow::Cow<'a, str>>,
}

/// What a record says the policy steps decided then.
enum Then {
    /// Passed them (relayed, or failed at Oracle).
    Passed,
    /// Refused at them, with this label.
    Refused(String),
    /// Not comparable, for this cause.
    Skip(&'static str),
}

fn then(rec: &Seen<'_>) -> Then {
    match &*rec.decision {
        "relayed" | "failed" => return Then::Passed,
        "denied" => {}
        _ => return Then::Skip("not a relay decision"),
    }
    let Some(reason) = Reason::ALL.iter().find(|r| r.code() == rec.reason) else {
        return Then::Skip("unknown reason code");
    };
    let label = || format!("{} {}", reason.status(), reason.code());
    match reason {
        Reason::EndpointUnknown | Reason::MethodNotAllowed | Reason::ScheduleClosed => {
            Then::Refused(label())
        }
        Reason::PolicyDenied => match rec.detail.as_deref() {
            None | Some("tenant_not_configured") => Then::Refused(label()),
            Some(_) => Then::Skip("refused after the policy steps"),
        },
        Reason::KillSwitchOn
        | Reason::RateLimited
        | Reason::HeaderDenied
        | Reason::QueryMaskedField
        | Reason::QueryParameterDenied
        | Reason::QueryMalformed
        | Reason::UpstreamCredentialMissing
        | Reason::UpstreamUnavailable
        | Reason::UpstreamTls
        | Reason::UpstreamTimeout
        | Reason::RedactionFailed => Then::Skip("refused after the policy steps"),
        _ => Then::Skip("refused before the policy steps"),
    }
}

/// Decides every request recorded since `since` (RFC 3339) again under `snapshot`.
pub fn replay(conn: &Conn, snapshot: &Snapshot, since: &str) -> Result<Report, String> {
    let since = crate::audit::query::normalize_time(since).map_err(|e| format!("SINCE: {e}"))?;
    let store = |e: crate::store::StoreError| format!("reading the audit trail: {e}");
    let first = conn
        .query_one(
            "SELECT MIN(id) FROM audit_log WHERE ts >= ?",
            &[Value::Text(since.clone())],
        )
        .map_err(store)?
        .opt_int(0)
        .map_err(store)?;
    let mut report = Report::default();
    let Some(mut next) = first else {
        return Ok(report);
    };
    let by_role = snapshot.grants.grants_by_role();
    let mut groups: HashMap<(String, String, String, String, String), u64> = HashMap::new();
    loop {
        let rows = conn
            .query(
                "SELECT id, record FROM audit_log WHERE id >= ? AND kind = 'request' AND ts >= ? ORDER BY id LIMIT ?",
                &[Value::Int(next), Value::Text(since.clone()), Value::Int(PAGE)],
            )
            .map_err(store)?;
        let Some(last) = rows.last() else { break };
        next = last.int(0).map_err(store)? + 1;
        for row in &rows {
            let text = row.text(1).map_err(store)?;
            report.examined += 1;
            let Ok(rec) = serde_json::from_str::<Seen<'_>>(&text) else {
                *report.skipped.entry("record not readable").or_default() += 1;
                continue;
            };
            match one(snapshot, &rec, by_role) {
                Err(cause) => *report.skipped.entry(cause).or_default() += 1,
                Ok(None) => report.compared += 1,
                Ok(Some((endpoint, from, to))) => {
                    report.compared += 1;
                    let key = (
                        rec.actor.into_owned(),
                        endpoint,
                        rec.method.into_owned(),
                        from,
                        to,
                    );
                    *groups.entry(key).or_default() += 1;
                }
            }
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    report.changes = groups
        .into_iter()
        .map(|((actor, endpoint, method, from, to), requests)| Change {
            newly_refused: from == "relayed" && to != "relayed",
            actor,
            endpoint,
            method,
            from,
            to,
            requests,
        })
        .collect();
    report.changes.sort_by(|a, b| {
        (
            b.newly_refused,
            b.requests,
            &a.actor,
            &a.endpoint,
            &a.method,
        )
            .cmp(&(
                a.newly_refused,
                a.requests,
                &b.actor,
                &b.endpoint,
                &b.method,
            ))
    });
    Ok(report)
}

/// One record decided again: `None` when nothing changes, else (endpoint, then, now).
type Decided = Option<(String, String, String)>;

fn one(snapshot: &Snapshot, rec: &Seen<'_>, by_role: bool) -> Result<Decided, &'static str> {
    let from = match then(rec) {
        Then::Passed => "relayed".to_string(),
        Then::Refused(l) => l,
        Then::Skip(cause) => return Err(cause),
    };
    let (account, user) = match rec.actor.strip_prefix("user:") {
        _ if rec.actor == "-" => return Err("not authenticated"),
        Some(_) if by_role => {
            return Err("an Oracle user, and policies grant by role (roles are not recorded)");
        }
        Some(u) => (None, Some(u)),
        None => (Some(&*rec.actor), None),
    };
    let Some(tenant) = rec.tenant.as_deref() else {
        return Err("no tenant recorded");
    };
    let at = chrono::DateTime::parse_from_rfc3339(&rec.ts)
        .map_err(|_| "time not readable")?
        .with_timezone(&chrono::Utc);
    let caller = Caller {
        account,
        user,
        roles: &[],
        tenant,
    };
    let ask = Ask {
        method: &rec.method,
        target: &rec.path,
        at,
        killswitch: false,
        query: false,
    };
    let ev = super::evaluate(snapshot, &caller, &ask);
    let to = super::label(&ev.outcome);
    if to == from {
        return Ok(None);
    }
    let endpoint = ev
        .endpoint
        .or_else(|| rec.endpoint.as_deref().map(str::to_string))
        .unwrap_or_else(|| rec.path.chars().take(120).collect());
    Ok(Some((endpoint, from, to)))
}
