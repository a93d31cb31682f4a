//! Selecting records from the trail's batches: which batches may hold a match (their time
//! range, and text that must be in them), then each of their records' head, tested.

use super::batch::{self, Head, Range};
use super::record::Kind;
use crate::store::sql::Conn;
use crate::store::StoreError;

/// One record as stored: its id and time (a page's cursor) and its JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Record id.
    pub id: i64,
    /// Time, as stored.
    pub ts: String,
    /// The record's JSON.
    pub record: String,
}

/// What a record must be to match (every condition given). Times are in the stored form
/// ([`super::query::normalize_time`]) or a second's first 19 characters.
#[derive(Debug, Clone, Default)]
pub struct Match {
    /// At or after this time.
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// Before this record in time order (its time and id).
    pub before: Option<(String, i64)>,
    /// By this actor.
    pub actor: Option<String>,
    /// With this request id.
    pub request_id: Option<String>,
    /// With this decision.
    pub decision: Option<String>,
    /// With this reason code.
    pub reason: Option<String>,
    /// With a path starting with this (literally).
    pub path_prefix: Option<String>,
    /// Of this chain.
    pub node: Option<String>,
    /// Of this kind.
    pub kind: Option<Kind>,
}

impl Match {
    /// Whether record `id` with head `h` matches.
    pub fn matches(&self, h: &Head<'_>, id: i64) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let ts = h.ts.as_ref();
        self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u)
            && self
                .before
                .as_ref()
                .is_none_or(|(bts, bid)| ts < bts.as_str() || (ts == bts.as_str() && id < *bid))
            && eq(&self.actor, &h.actor)
            && eq(&self.request_id, &h.request_id)
            && eq(&self.decision, &h.decision)
            && eq(&self.reason, &h.reason)
            && eq(&self.node, h.node.as_deref().unwrap_or(""))
            && self.kind.is_none_or(|k| h.kind == Some(k))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| h.path.starts_with(p))
    }

    /// Text a batch must hold to hold a match: each member given, as the records write it.
    fn needles(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (field, v) in [
            ("request_id", &self.request_id),
            ("actor", &self.actor),
            ("reason", &self.reason),
            ("decision", &self.decision),
        ] {
            if let Some(v) = v {
                out.push(batch::member(field, v));
            }
        }
        if let Some(p) = &self.path_prefix {
            // A string's JSON is its characters' escapes in turn: a prefix's, less its
            // closing quote, starts every longer string's.
            let mut m = batch::member("path", p);
            m.pop();
            out.push(m);
        }
        out
    }

    /// The latest time a match can have, when bounded.
    pub(crate) fn through(&self) -> Option<&str> {
        let before = self.before.as_ref().map(|(ts, _)| ts.as_str());
        match (self.until.as_deref(), before) {
            (Some(u), Some(b)) => Some(u.min(b)),
            (u, b) => u.or(b),
        }
    }

    /// The batches that may hold a match, for [`batch::newest_first`]. A request id made by
    /// the gateway bounds them to the span past its second.
    fn range<'a>(&'a self, needles: &'a [String], made: &'a Option<String>) -> Range<'a> {
        let since = match (self.since.as_deref(), made.as_deref()) {
            (Some(s), Some(m)) => Some(s.max(m)),
            (s, m) => s.or(m),
        };
        let through = match (self.through(), made.as_deref()) {
            (Some(t), Some(m)) => Some(t.min(m)),
            (t, m) => t.or(m),
        };
        Range {
            since,
            through,
            node: self.node.as_deref(),
            needles,
            max_id: None,
        }
    }
}

/// The newest `limit` records that match `m` (by time, then id), oldest first.
pub fn newest(conn: &Conn, m: &Match, limit: u32) -> Result<Vec<Row>, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let needles = m.needles();
    let made = m
        .request_id
        .as_deref()
        .and_then(batch::id_second)
        .map(batch::second_time);
    let mut found = collect(conn, m, &m.range(&needles, &made), limit)?;
    // Request ids are unique (96 random bits within their second): one found is the one.
    if !found.is_empty() || made.is_none() {
        return Ok(found);
    }
    // An id in the gateway's format that its second does not place: a record from before
    // ids led with it, in the batches up to the last that holds such records (a scan of
    // those batches' text: only when the id's own second did not find it).
    let through = batch::bounds(conn)?.unanchored_through;
    if through == 0 {
        return Ok(found);
    }
    let range = Range {
        max_id: Some(through),
        ..m.range(&needles, &None)
    };
    found.extend(collect(conn, m, &range, limit)?);
    newest_first_order(&mut found);
    found.dedup_by_key(|r| r.id);
    found.truncate(limit);
    found.reverse();
    Ok(found)
}

/// The newest `limit` records of the batches of `range` that match `m`, oldest first.
fn collect(
    conn: &Conn,
    m: &Match,
    range: &Range<'_>,
    limit: usize,
) -> Result<Vec<Row>, StoreError> {
    let mut found: Vec<Row> = Vec::new();
    // Once `limit` are found, a batch whose latest instant is before the oldest of them
    // holds no newer one, nor does any after it.
    let mut floor: Option<String> = None;
    batch::newest_first(conn, range, |b| {
        if floor.as_deref().is_some_and(|f| b.ts_last.as_str() < f) {
            return Ok(false);
        }
        for (id, line) in batch::lines(b.id, &b.records) {
            // A record that matches holds every needle: the others are not parsed.
            if !range.needles.iter().all(|n| line.contains(n.as_str())) {
                continue;
            }
            // A line that is not a record is `audit verify`'s to name; a query skips it.
            let Some(h) = Head::of(line) else { continue };
            if m.matches(&h, id) {
                found.push(Row {
                    id,
                    ts: h.ts.into_owned(),
                    record: line.to_string(),
                });
            }
        }
        if found.len() >= limit {
            newest_first_order(&mut found);
            found.truncate(limit);
            floor = found.last().map(|r| r.ts.clone());
        }
        Ok(true)
    })?;
    newest_first_order(&mut found);
    found.truncate(limit);
    found.reverse();
    Ok(found)
}

/// Sorts rows newest first: by time, then id.
fn newest_first_order(rows: &mut [Row]) {
    rows.sort_unstable_by(|a, b| (&b.ts, b.id).cmp(&(&a.ts, a.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_written_as_records_write_them() {
        let m = Match {
            actor: Some("a\"b".into()),
            path_prefix: Some("/x\\é".into()),
            ..Default::default()
        };
        let n = m.needles();
        let rec = crate::audit::AuditRecord {
            actor: "a\"b".into(),
            path: "/x\\éz/1".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&rec).expect("json");
        assert_eq!(n.len(), 2);
        for needle in &n {
            assert!(json.contains(needle.as_str()), "{needle} in {json}");
        }
        let h = Head::of(&json).expect("head");
        assert!(m.matches(&h, 1));
        let other = Match {
            path_prefix: Some("/x\\éz/2".into()),
            ..Default::default()
        };
        assert!(!other.matches(&h, 1));
    }
}
