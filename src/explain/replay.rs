//! `erpgate check --replay-audit SINCE`: every request the audit trail recorded since a time,
//! decided again under a (new) configuration, and what would change, grouped by caller,
//! endpoint, method and the two outcomes.
//!
//! What is compared is what the configuration decides ([`super::evaluate`] without the kill
//! switch): the tenant, the catalog (endpoint and method), the grants, the schedule at the
//! time the request arrived, and the query checks (on the query as recorded). A record says
//! what those steps decided then: a request that got past them (relayed, failed at Oracle,
//! or refused by a later step: a rate limit, the credential, CORS, the body, redaction)
//! passed; a refusal at them carries its reason. Records refused before them
//! (authentication, a malformed path) or at steps the trail does not record in full (governed
//! headers, a batch's parts) are skipped, by cause. A request that passed but cannot be
//! decided again in full (its query was masked or cut, a batch's parts, an Oracle user when
//! policies grant by role) is counted apart: a replay cannot vouch for it, and says so.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{Ask, Caller};
use crate::refusal::Reason;
use crate::snapshot::Snapshot;
use crate::store::sql::{Conn, Value};

/// Batches read per statement (up to 512 records each: bounds memory on a trail of millions).
const BATCHES: i64 = 16;

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
    /// What happened then: `relayed`, `admitted` (refused by a step after the replayed ones)
    /// or `403 policy.denied`.
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
    /// Requests that passed then but could not be decided again in full, by cause: a replay
    /// cannot say they would still pass.
    pub uncompared_passed: BTreeMap<&'static str, u64>,
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
    #[serde(borrow, default)]
    query: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    policy: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    total_us: Option<u64>,
}

/// What a record says the replayed steps decided then.
enum Then {
    /// Passed them (relayed, failed at Oracle, or refused by a later step).
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
        Reason::EndpointUnknown
        | Reason::MethodNotAllowed
        | Reason::ScheduleClosed
        | Reason::QueryMaskedField
        | Reason::QueryParameterDenied
        | Reason::QueryMalformed => Then::Refused(label()),
        Reason::PolicyDenied => match rec.detail.as_deref() {
            None | Some("tenant_not_configured" | "child_unknown" | "child_not_granted") => {
                Then::Refused(label())
            }
            Some(_) => Then::Skip("refused at the headers or batch checks (not recorded in full)"),
        },
        Reason::HeaderDenied => {
            Then::Skip("refused at the headers check (headers are not recorded)")
        }
        Reason::KillSwitchOn => Then::Skip("refused by the kill switch, before the query checks"),
        // Admitted, then refused by a later step (rate limit, credential, CORS, the body,
        // Oracle, redaction): every replayed step passed. The grant is recorded.
        _ if rec.policy.is_some() => Then::Passed,
        _ => Then::Skip("refused before the policy steps"),
    }
}

/// Decides every request recorded since `since` (RFC 3339) again under `snapshot`.
pub fn replay(conn: &Conn, snapshot: &Snapshot, since: &str) -> Result<Report, String> {
    let since = crate::audit::query::normalize_time(since).map_err(|e| format!("SINCE: {e}"))?;
    let store = |e: crate::store::StoreError| format!("reading the audit trail: {e}");
    // The first batch that may hold a record since `since`, then every batch after it in id
    // order (the order records were written in), their records since `since` replayed.
    let first = conn
        .query_one(
            "SELECT MIN(id) FROM audit_batch WHERE ts_last >= ?",
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
                "SELECT id, records FROM audit_batch WHERE id >= ? ORDER BY id LIMIT ?",
                &[Value::Int(next), Value::Int(BATCHES)],
            )
            .map_err(store)?;
        let Some(last) = rows.last() else { break };
        next = last.int(0).map_err(store)? + 1;
        let texts = rows
            .iter()
            .map(|r| r.text(1))
            .collect::<Result<Vec<_>, _>>()
            .map_err(store)?;
        for text in texts.iter().flat_map(|t| t.split('\n')) {
            let Some(head) = crate::audit::batch::Head::of(text) else {
                report.examined += 1;
                *report.skipped.entry("record not readable").or_default() += 1;
                continue;
            };
            if head.kind != Some(crate::audit::Kind::Request) || head.ts.as_ref() < since.as_str() {
                continue;
            }
            report.examined += 1;
            let Ok(rec) = serde_json::from_str::<Seen<'_>>(text) else {
                *report.skipped.entry("record not readable").or_default() += 1;
                continue;
            };
            match one(snapshot, &rec, by_role) {
                Err(Uncompared::Skip(cause)) => *report.skipped.entry(cause).or_default() += 1,
                Err(Uncompared::Passed(cause)) => {
                    *report.uncompared_passed.entry(cause).or_default() += 1;
                }
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
        if (rows.len() as i64) < BATCHES {
            break;
        }
    }
    report.changes = groups
        .into_iter()
        .map(|((actor, endpoint, method, from, to), requests)| Change {
            newly_refused: (from == "relayed" || from == "admitted") && to != "relayed",
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

/// Why a record was not decided again in full.
enum Uncompared {
    /// Not comparable (counted as skipped).
    Skip(&'static str),
    /// It passed then, and the replay cannot vouch that it still would.
    Passed(&'static str),
}

fn one(snapshot: &Snapshot, rec: &Seen<'_>, by_role: bool) -> Result<Decided, Uncompared> {
    let old = then(rec);
    let passed = matches!(old, Then::Passed);
    let unsure = |cause| {
        if passed {
            Uncompared::Passed(cause)
        } else {
            Uncompared::Skip(cause)
        }
    };
    let from = match old {
        // Relayed, or admitted and then refused by a later step (rate limit, Oracle, …).
        Then::Passed if matches!(&*rec.decision, "relayed" | "failed") => "relayed".to_string(),
        Then::Passed => "admitted".to_string(),
        Then::Refused(l) => l,
        Then::Skip(cause) => return Err(Uncompared::Skip(cause)),
    };
    let (account, user) = match rec.actor.strip_prefix("user:") {
        _ if rec.actor == "-" => return Err(unsure("not authenticated")),
        Some(u) => (None, Some(u)),
        None => (Some(&*rec.actor), None),
    };
    let Some(tenant) = rec.tenant.as_deref() else {
        return Err(unsure("no tenant recorded"));
    };
    let logged = chrono::DateTime::parse_from_rfc3339(&rec.ts)
        .map_err(|_| unsure("time not readable"))?
        .with_timezone(&chrono::Utc);
    // The record is written when the response ends; the schedule was asked when it arrived.
    let total = i64::try_from(rec.total_us.unwrap_or(0)).unwrap_or(0);
    let at = logged - chrono::Duration::microseconds(total);
    // The query as recorded, when it is the query as sent: not masked, not cut.
    let query = rec.query.as_deref().filter(|q| !q.is_empty());
    let whole = query.is_none_or(|q| !q.contains("****") && q.len() < 1024);
    let target = match query {
        Some(q) if whole => format!("{}?{q}", rec.path),
        _ => rec.path.to_string(),
    };
    let caller = Caller {
        account,
        user,
        roles: &[],
        tenant,
    };
    let ask = Ask {
        method: &rec.method,
        target: &target,
        at,
        killswitch: false,
        query: whole,
    };
    let ev = super::evaluate(snapshot, &caller, &ask);
    if ev.batch {
        // A batch is judged by its parts, which the trail does not keep.
        return match (passed, &ev.outcome) {
            (true, Ok(())) => Err(Uncompared::Passed("a batch: its parts are not recorded")),
            (false, _) => Err(Uncompared::Skip("a batch: its parts are not recorded")),
            (true, Err(_)) => Ok(Some((
                endpoint_name(&ev, rec),
                from,
                super::label(&ev.outcome),
            ))),
        };
    }
    let to = super::label(&ev.outcome);
    if user.is_some() && by_role && ev.outcome.is_err() {
        // Judged without the token's roles, which the trail does not keep: a role may grant it.
        return Err(unsure(
            "an Oracle user, and policies grant by role (roles are not recorded)",
        ));
    }
    let same = if passed {
        ev.outcome.is_ok()
    } else {
        to == from
    };
    if same {
        if passed && !whole {
            return Err(Uncompared::Passed("its query was not recorded in full"));
        }
        return Ok(None);
    }
    Ok(Some((endpoint_name(&ev, rec), from, to)))
}

/// The endpoint a change is grouped under: the new catalog's name, else as recorded, else the
/// path.
fn endpoint_name(ev: &super::Evaluation, rec: &Seen<'_>) -> String {
    ev.endpoint
        .clone()
        .or_else(|| rec.endpoint.as_deref().map(str::to_string))
        .unwrap_or_else(|| rec.path.chars().take(120).collect())
}
