//! Reading the trail: records matching a filter, newest `limit`, oldest first. Shared by
//! `erpgate audit query` and the admin API.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

/// What to select (all optional; all given must match).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// From this time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// Actor.
    pub actor: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Decision.
    pub decision: Option<String>,
    /// Reason code.
    pub reason: Option<String>,
    /// Path prefix (literal; `%` and `_` are escaped).
    pub path_prefix: Option<String>,
}

/// The stored JSON of each matching record.
pub fn select(conn: &Connection, f: &Filter, limit: u32) -> Result<Vec<String>, String> {
    let (sql, values) = select_sql(f, limit)?;
    let mut st = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let rows = st
        .query_map(params_from_iter(values), |r| r.get::<_, String>(0))
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The statement for `f`: only the conditions given, so SQLite can use the index on
/// `request_id` and on `ts` (a `?1 IS NULL OR ...` form for every optional filter would make
/// every query a scan of the whole trail).
fn select_sql(f: &Filter, limit: u32) -> Result<(String, Vec<Value>), String> {
    let mut conds: Vec<&str> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut add = |cond: &'static str, v: Option<String>| {
        if let Some(v) = v {
            conds.push(cond);
            values.push(Value::Text(v));
        }
    };
    add(
        "ts >= ?",
        f.since.as_deref().map(normalize_time).transpose()?,
    );
    add(
        "ts < ?",
        f.until.as_deref().map(normalize_time).transpose()?,
    );
    add("actor = ?", f.actor.clone());
    add("request_id = ?", f.request_id.clone());
    add("decision = ?", f.decision.clone());
    add("reason = ?", f.reason.clone());
    add(
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
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    values.push(Value::Integer(i64::from(limit)));
    Ok((
        format!(
            "SELECT record FROM (SELECT id, record FROM audit_log {filter} ORDER BY id DESC LIMIT ?) ORDER BY id"
        ),
        values,
    ))
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

    fn plan(conn: &Connection, f: &Filter) -> String {
        let (sql, values) = select_sql(f, 10).expect("sql");
        let mut st = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        let rows = st
            .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
            .expect("plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn lookups_use_the_indexes_and_filters_apply() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = crate::store::Store::open(&dir.path().join("q.db")).expect("open");
        store.migrate().expect("migrate");
        let conn = store.connection();
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
        let mut conn2 = crate::store::Store::open(&dir.path().join("q.db"))
            .expect("open")
            .into_connection();
        crate::audit::chain::append(&mut conn2, &m.audit_key(), &recs).expect("append");
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
        assert!(select(conn, &bad, 10)
            .expect_err("refused")
            .contains("RFC 3339"));
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
