//! Reading the trail: records matching a filter, newest `limit`, oldest first, every node's
//! chain merged by time. Shared by
//! `erpgate audit query` and the admin API.

use super::select::Match;
pub use super::select::Row;
use crate::store::sql::Conn;

/// What to select (all optional; all given must match).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// From this time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Only records with this decision (`allowed`, `denied`, `ok`, …).
    pub decision: Option<String>,
    /// Reason code.
    pub reason: Option<String>,
    /// Path prefix (literal).
    pub path_prefix: Option<String>,
    /// Only records of this gateway's chain (`gateway.node_id`).
    pub node: Option<String>,
    /// Only records before this one in time order (its time and id): the next page of a
    /// query whose newest records were served already.
    pub before: Option<(String, i64)>,
}

/// Why a query could not run.
#[derive(Debug)]
pub enum QueryError {
    /// A time bound is not an RFC 3339 time (the caller's input: a 400, not a 500).
    Bound {
        /// `since` or `until`.
        field: &'static str,
        /// What is wrong, with an example.
        message: String,
    },
    /// A filter value no record can have (a misspelt decision or reason code): a 400.
    Unknown {
        /// `decision` or `reason`.
        field: &'static str,
        /// What is wrong, with the values that exist.
        message: String,
    },
    /// The store failed.
    Store(String),
}

/// Phrased for the CLI (`--since: …`); the admin API answers `Bound` itself, naming the
/// query parameter.
impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Bound { field, message } | QueryError::Unknown { field, message } => {
                write!(f, "--{field}: {message}")
            }
            QueryError::Store(e) => f.write_str(e),
        }
    }
}

impl From<QueryError> for String {
    fn from(e: QueryError) -> String {
        e.to_string()
    }
}

/// Every decision a record can carry.
pub const DECISIONS: [&str; 5] = ["relayed", "denied", "failed", "ok", "preflight"];

/// Reason codes records carry besides the relay's ([`crate::refusal::Reason`]).
const OTHER_REASONS: [&str; 1] = ["admin.forbidden"];

/// Refuses a filter value no record can have: a misspelt decision or reason code would
/// otherwise match nothing and look like "no such records".
fn check_known(f: &Filter) -> Result<(), QueryError> {
    if let Some(d) = f.decision.as_deref() {
        if !DECISIONS.contains(&d) {
            return Err(QueryError::Unknown {
                field: "decision",
                message: format!(
                    "no record has decision {d:?}; one of: {}",
                    DECISIONS.join(", ")
                ),
            });
        }
    }
    if let Some(r) = f.reason.as_deref() {
        let known =
            crate::refusal::Reason::ALL.iter().any(|x| x.code() == r) || OTHER_REASONS.contains(&r);
        if !known {
            let near = crate::refusal::Reason::ALL
                .iter()
                .map(|x| x.code())
                .filter(|c| c.split('.').next() == r.split('.').next())
                .collect::<Vec<_>>();
            let hint = if near.is_empty() {
                "see the README's reason codes".to_string()
            } else {
                format!("did you mean one of: {}", near.join(", "))
            };
            return Err(QueryError::Unknown {
                field: "reason",
                message: format!("{r:?} is not a reason code; {hint}"),
            });
        }
    }
    Ok(())
}

/// The stored JSON of each matching record.
pub fn select(conn: &Conn, f: &Filter, limit: u32) -> Result<Vec<String>, QueryError> {
    Ok(select_rows(conn, f, limit)?
        .into_iter()
        .map(|r| r.record)
        .collect())
}

/// Counts of the records since `since` (an RFC 3339 UTC time as stored): per decision, and
/// the `top` most frequent reasons of refusals, most frequent first. The time index bounds it.
pub struct Summary {
    /// (decision, records).
    pub decisions: Vec<(String, i64)>,
    /// (reason, records) of refused requests.
    pub reasons: Vec<(String, i64)>,
}

/// The [`Summary`] of request records since `since`: each batch's tally, and the records of
/// the batches that reach back before `since` ([`super::tally::since`]).
pub fn summary(conn: &Conn, since: &str, top: u32) -> Result<Summary, crate::store::StoreError> {
    use std::collections::BTreeMap;
    let mut decisions: BTreeMap<String, i64> = BTreeMap::new();
    let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
    for ((decision, reason), n) in super::tally::since(conn, since)? {
        let refused = matches!(decision.as_str(), "denied" | "failed");
        let d = decisions.entry(decision).or_default();
        *d = d.saturating_add(n);
        if refused && !reason.is_empty() {
            let r = reasons.entry(reason).or_default();
            *r = r.saturating_add(n);
        }
    }
    let mut reasons: Vec<(String, i64)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    reasons.truncate(usize::try_from(top).unwrap_or(usize::MAX));
    Ok(Summary {
        decisions: decisions.into_iter().collect(),
        reasons,
    })
}

/// How far back [`last_use`] looks: an account's newest this many request records.
pub const LAST_USE_WINDOW: u32 = 10_000;

/// When credential set `credential` of `account` was last used: the time of the newest
/// request record naming it among the account's newest [`LAST_USE_WINDOW`] (read through the
/// account's seconds, newest first); `None` when it is not among them.
pub fn last_use(
    conn: &Conn,
    account: &str,
    credential: &str,
) -> Result<Option<String>, crate::store::StoreError> {
    Ok(last_uses(conn, account, &[credential])?.pop().flatten())
}

/// [`last_use`] of each of `credentials` (of one account), in one walk through the account's
/// records: it stops when every one is found or the window is read.
pub fn last_uses(
    conn: &Conn,
    account: &str,
    credentials: &[&str],
) -> Result<Vec<Option<String>>, crate::store::StoreError> {
    let mut found: Vec<Option<String>> = vec![None; credentials.len()];
    if credentials.is_empty() {
        return Ok(found);
    }
    // Each credential's member, found as it is written (exactly).
    let needles: Vec<String> = credentials
        .iter()
        .map(|c| super::batch::member("credential_id", c))
        .collect();
    let m = Match {
        actor: Some(account.to_string()),
        kind: Some(super::Kind::Request),
        ..Default::default()
    };
    let (mut seen, mut missing) = (0u32, credentials.len());
    super::by_actor::walk(conn, account, &m, LAST_USE_WINDOW, |r| {
        seen += 1;
        for (slot, needle) in found.iter_mut().zip(&needles) {
            if slot.is_none() && r.record.contains(needle.as_str()) {
                *slot = Some(r.ts.clone());
                missing -= 1;
            }
        }
        if missing == 0 {
            return Ok(0);
        }
        Ok(LAST_USE_WINDOW.saturating_sub(seen))
    })?;
    Ok(found)
}

/// Each matching record with its id and time, oldest first.
pub fn select_rows(conn: &Conn, f: &Filter, limit: u32) -> Result<Vec<Row>, QueryError> {
    check_known(f)?;
    let store = |e: crate::store::StoreError| QueryError::Store(e.to_string());
    let m = matching(f)?;
    if let (Some(actor), None) = (f.actor.as_deref(), &f.request_id) {
        return by_actor(conn, &m, actor, limit).map_err(store);
    }
    super::select::newest(conn, &m, limit).map_err(store)
}

/// [`select_rows`] by actor (and no request id): through the actor's seconds
/// ([`super::by_actor`]), newest first, until `limit` records are found.
fn by_actor(
    conn: &Conn,
    m: &Match,
    actor: &str,
    limit: u32,
) -> Result<Vec<Row>, crate::store::StoreError> {
    let mut rows = Vec::new();
    super::by_actor::walk(conn, actor, m, limit, |r| {
        rows.push(r.clone());
        Ok(limit.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX)))
    })?;
    rows.reverse();
    Ok(rows)
}

/// What a record must be to match `f`, its time bounds normalised.
fn matching(f: &Filter) -> Result<Match, QueryError> {
    let time = |field: &'static str, t: &Option<String>| {
        t.as_deref()
            .map(normalize_time)
            .transpose()
            .map_err(|message| QueryError::Bound { field, message })
    };
    Ok(Match {
        since: time("since", &f.since)?,
        until: time("until", &f.until)?,
        before: f.before.clone(),
        actor: f.actor.clone(),
        request_id: f.request_id.clone(),
        decision: f.decision.clone(),
        reason: f.reason.clone(),
        path_prefix: f.path_prefix.clone(),
        node: f.node.clone(),
        kind: None,
    })
}

/// A time bound as stored timestamps are written (UTC, microseconds, `Z`), so the text
/// comparison SQLite makes is a time comparison: `2026-12-01T00:00:01Z` or
/// `2026-12-01T05:00:01+05:00` select the same records as `2026-12-01T00:00:01.000000Z`.
pub fn normalize_time(s: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
        .map_err(|e| format!("\"{s}\" is not an RFC 3339 time ({e}), e.g. 2026-12-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_apply() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("q.db")).expect("open");
        store.migrate().expect("migrate");
        let conn = store.conn();
        let (m, _) = crate::crypto::MasterKey::generate().expect("key");
        let recs: Vec<_> = [("a", "/x/1"), ("b", "/x_2"), ("a", "/y")]
            .iter()
            .enumerate()
            .map(|(i, (actor, path))| crate::audit::AuditRecord {
                ts: format!("2026-12-01T00:00:0{i}.000000Z"),
                request_id: format!("r-{i}"),
                actor: (*actor).into(),
                method: "GET".into(),
                path: (*path).into(),
                decision: "relayed".into(),
                ..Default::default()
            })
            .collect();
        let other = crate::store::Store::open(&dir.path().join("q.db")).expect("open");
        crate::audit::chain::append(other.conn(), &m.audit_key(), "", &recs).expect("append");
        let ids = |f: &Filter| -> Vec<String> {
            select(conn, f, 10)
                .expect("select")
                .iter()
                .map(|j| {
                    serde_json::from_str::<crate::audit::AuditRecord>(j)
                        .expect("json")
                        .request_id
                })
                .collect()
        };
        assert_eq!(ids(&Filter::default()), ["r-0", "r-1", "r-2"]);
        let actor_a = Filter {
            actor: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(ids(&actor_a), ["r-0", "r-2"]);
        // `_` in a prefix is literal, not a wildcard.
        let prefix = Filter {
            path_prefix: Some("/x_".into()),
            ..Default::default()
        };
        assert_eq!(ids(&prefix), ["r-1"]);
        let window = Filter {
            since: Some("2026-12-01T00:00:01Z".into()),
            until: Some("2026-12-01T00:00:02Z".into()),
            ..Default::default()
        };
        assert_eq!(ids(&window), ["r-1"]);
        // Another offset names the same instant; a bound that is not a time is refused.
        let offset = Filter {
            since: Some("2026-12-01T05:00:01+05:00".into()),
            until: Some("2026-12-01T05:00:02+05:00".into()),
            ..Default::default()
        };
        assert_eq!(ids(&offset), ["r-1"]);
        let bad = Filter {
            since: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(matches!(
            select(conn, &bad, 10),
            Err(QueryError::Bound { field: "since", ref message }) if message.contains("RFC 3339")
        ));
        assert_eq!(
            select(conn, &Filter::default(), 1).expect("limit"),
            select(
                conn,
                &Filter {
                    request_id: Some("r-2".into()),
                    ..Default::default()
                },
                10
            )
            .expect("r-2")
        );
    }
}
