//! Reading the trail: records matching a filter, newest `limit`, oldest first, every node's
//! chain merged by time. Shared by
//! `erpgate audit query` and the admin API.

use crate::store::sql::{Conn, Value};

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
    /// Path prefix (literal; `%` and `_` are escaped).
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

/// The [`Summary`] of request records since `since`.
pub fn summary(conn: &Conn, since: &str, top: u32) -> Result<Summary, crate::store::StoreError> {
    use crate::store::sql::Value;
    let pairs = |rows: Vec<crate::store::sql::Row>| -> Result<Vec<(String, i64)>, crate::store::StoreError> {
        rows.iter().map(|r| Ok((r.text(0)?, r.int(1)?))).collect()
    };
    let since = Value::from(since);
    let decisions = pairs(conn.query(
        "SELECT decision, COUNT(*) FROM audit_log WHERE ts >= ?1 AND kind = 'request' GROUP BY decision ORDER BY decision",
        std::slice::from_ref(&since),
    )?)?;
    let reasons = pairs(conn.query(
        &format!("SELECT reason, COUNT(*) AS n FROM audit_log WHERE ts >= ?1 AND kind = 'request' AND decision IN ('denied', 'failed') AND reason <> '' GROUP BY reason ORDER BY n DESC, reason LIMIT {top}"),
        &[since],
    )?)?;
    Ok(Summary { decisions, reasons })
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
    // Each credential's member, found as it is written (exactly, unlike `LIKE`).
    let find = match conn.engine() {
        crate::store::sql::Engine::Sqlite => ", instr(record, ?) > 0",
        crate::store::sql::Engine::Postgres => ", strpos(record, ?) > 0",
    };
    let needles: Vec<Value> = credentials
        .iter()
        .map(|c| Value::from(format!("\"credential_id\":{}", serde_json::Value::from(*c))))
        .collect();
    let mut filter = Where::default();
    filter.add("actor = ?", Some(account.to_string()));
    filter.conds.push("kind = 'request'");
    let walk = super::by_actor::Walk {
        actor: account,
        since: None,
        through: None,
        columns: format!("ts{}", find.repeat(credentials.len())),
        column_values: &needles,
        filter: &filter,
    };
    let (mut seen, mut missing) = (0u32, credentials.len());
    super::by_actor::walk(conn, &walk, LAST_USE_WINDOW, |r| {
        seen += 1;
        for (i, slot) in found.iter_mut().enumerate() {
            if slot.is_none() && r.flag(i + 1)? {
                *slot = Some(r.text(0)?);
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

/// One record as stored: its id and time (a page's cursor) and its JSON.
pub struct Row {
    /// Row id.
    pub id: i64,
    /// Time, as stored.
    pub ts: String,
    /// The record's JSON.
    pub record: String,
}

/// Each matching record with its id and time, oldest first.
pub fn select_rows(conn: &Conn, f: &Filter, limit: u32) -> Result<Vec<Row>, QueryError> {
    check_known(f)?;
    let store = |e: crate::store::StoreError| QueryError::Store(e.to_string());
    if let (Some(actor), None) = (f.actor.as_deref(), &f.request_id) {
        let filter = filter_where(f)?;
        return by_actor(conn, f, &filter, actor, limit).map_err(store);
    }
    let (sql, values) = select_sql(f, limit)?;
    conn.query(&sql, &values)
        .map_err(store)?
        .iter()
        .map(|r| {
            Ok(Row {
                id: r.int(0).map_err(store)?,
                ts: r.text(1).map_err(store)?,
                record: r.text(2).map_err(store)?,
            })
        })
        .collect()
}

/// [`select_rows`] by actor (and no request id): through the actor's seconds
/// ([`super::by_actor`]), newest first, until `limit` records are found.
fn by_actor(
    conn: &Conn,
    f: &Filter,
    filter: &Where,
    actor: &str,
    limit: u32,
) -> Result<Vec<Row>, crate::store::StoreError> {
    // Checked by `filter_where` already: these normalise.
    let norm = |t: &Option<String>| t.as_deref().and_then(|t| normalize_time(t).ok());
    let through = match (norm(&f.until), f.before.as_ref().map(|(ts, _)| ts.clone())) {
        (Some(u), Some(b)) => Some(u.min(b)),
        (u, b) => u.or(b),
    };
    let walk = super::by_actor::Walk {
        actor,
        since: norm(&f.since),
        through,
        columns: "id, ts, record".into(),
        column_values: &[],
        filter,
    };
    let mut rows = Vec::new();
    super::by_actor::walk(conn, &walk, limit, |r| {
        rows.push(Row {
            id: r.int(0)?,
            ts: r.text(1)?,
            record: r.text(2)?,
        });
        Ok(limit.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX)))
    })?;
    rows.reverse();
    Ok(rows)
}

/// The statement `select` runs for `f`, and its values.
fn select_sql(f: &Filter, limit: u32) -> Result<(String, Vec<Value>), QueryError> {
    let w = filter_where(f)?;
    // Several gateways' chains interleave: merged by time (ties by id, the order written).
    let sql = format!(
        "SELECT id, ts, record FROM (SELECT id, ts, record FROM audit_log{} ORDER BY ts DESC, id DESC LIMIT {limit}) AS recent ORDER BY ts, id",
        w.clause()
    );
    Ok((sql, w.values))
}

/// The conditions of `f`.
fn filter_where(f: &Filter) -> Result<Where, QueryError> {
    let mut w = Where::default();
    w.time(f.since.as_deref(), f.until.as_deref())?;
    w.add("actor = ?", f.actor.clone());
    w.add("request_id = ?", f.request_id.clone());
    w.add("decision = ?", f.decision.clone());
    w.add("reason = ?", f.reason.clone());
    w.add("node = ?", f.node.clone());
    w.add(
        "path LIKE ? ESCAPE '\\'",
        f.path_prefix.as_ref().map(|p| {
            format!(
                "{}%",
                p.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        }),
    );
    if let Some((ts, id)) = &f.before {
        w.conds.push("(ts < ? OR (ts = ? AND id < ?))");
        w.values.extend([
            Value::Text(ts.clone()),
            Value::Text(ts.clone()),
            Value::Int(*id),
        ]);
    }
    Ok(w)
}

/// A `WHERE` clause of only the conditions given, so SQLite can use the indexes on
/// `request_id` and `ts` (a `?1 IS NULL OR ...` form for every optional filter makes every
/// query a scan of the whole trail). Shared by `select` and `audit export`.
#[derive(Default)]
pub struct Where {
    pub(super) conds: Vec<&'static str>,
    /// The bound values, in the order of the conditions.
    pub values: Vec<Value>,
}

impl Where {
    /// Adds `cond` (one `?`) when `v` is given.
    pub fn add(&mut self, cond: &'static str, v: Option<String>) {
        if let Some(v) = v {
            self.conds.push(cond);
            self.values.push(Value::Text(v));
        }
    }

    /// Adds the time bounds given, normalised to the stored form.
    pub fn time(&mut self, since: Option<&str>, until: Option<&str>) -> Result<(), QueryError> {
        for (field, cond, bound) in [("since", "ts >= ?", since), ("until", "ts < ?", until)] {
            let bound = bound
                .map(normalize_time)
                .transpose()
                .map_err(|message| QueryError::Bound { field, message })?;
            self.add(cond, bound);
        }
        Ok(())
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn clause(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }
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

    /// The query plan of `select` for `f`.
    fn plan(conn: &Conn, f: &Filter) -> String {
        let (sql, values) = select_sql(f, 10).expect("sql");
        conn.query(&format!("EXPLAIN QUERY PLAN {sql}"), &values)
            .expect("plan")
            .iter()
            .map(|r| r.text(3).expect("detail"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn lookups_use_the_indexes_and_filters_apply() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("q.db")).expect("open");
        store.migrate().expect("migrate");
        let conn = store.conn();
        let by_id = Filter {
            request_id: Some("r-1".into()),
            ..Default::default()
        };
        assert!(
            plan(conn, &by_id).contains("audit_request"),
            "{}",
            plan(conn, &by_id)
        );
        let by_time = Filter {
            since: Some("2026-12-01T00:00:00Z".into()),
            until: Some("2026-12-02T00:00:00Z".into()),
            ..Default::default()
        };
        assert!(
            plan(conn, &by_time).contains("audit_ts"),
            "{}",
            plan(conn, &by_time)
        );

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
