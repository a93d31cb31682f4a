//! Reading the trail: records matching a filter, newest `limit`, oldest first. Shared by
//! `erpgate audit query` and the admin API.

use rusqlite::{params, Connection};

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
    let prefix = f
        .path_prefix
        .as_ref()
        .map(|p| format!("{}%", p.replace('%', "\\%").replace('_', "\\_")));
    let mut st = conn
        .prepare(
            "SELECT record FROM (SELECT id, record FROM audit_log
               WHERE (?1 IS NULL OR ts >= ?1) AND (?2 IS NULL OR ts < ?2) AND (?3 IS NULL OR actor = ?3)
                 AND (?4 IS NULL OR request_id = ?4) AND (?5 IS NULL OR decision = ?5)
                 AND (?6 IS NULL OR reason = ?6) AND (?7 IS NULL OR path LIKE ?7 ESCAPE '\\')
               ORDER BY id DESC LIMIT ?8) ORDER BY id",
        )
        .map_err(|e| e.to_string())?;
    let rows = st
        .query_map(
            params![
                f.since,
                f.until,
                f.actor,
                f.request_id,
                f.decision,
                f.reason,
                prefix,
                limit
            ],
            |r| r.get::<_, String>(0),
        )
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
