//! The audit trail: filters (time, actor, decision, reason, path prefix, request id), the
//! newest matching records, a record's full decision path, the chain verified, and the
//! matching records exported as JSON lines. Reading only: the same queries as
//! `erpgate audit query` and `GET /audit`.

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::{PortalRequest, PortalState, Reply};
use crate::audit::query::{self, Filter};
use crate::service::admin_token::Role;

/// Records a page shows at most.
const PAGE: u32 = 100;
/// Records an export holds at most.
const EXPORT: u32 = 100_000;

const FIELDS: [(&str, &str); 7] = [
    ("since", "From (RFC 3339)"),
    ("until", "Until (RFC 3339)"),
    ("actor", "Actor"),
    ("decision", "Decision"),
    ("reason", "Reason code"),
    ("path_prefix", "Path prefix"),
    ("request_id", "Request id"),
];

fn filter(req: &PortalRequest) -> Filter {
    let q = |k: &str| {
        req.query(k)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Filter {
        since: q("since"),
        until: q("until"),
        actor: q("actor"),
        request_id: q("request_id"),
        decision: q("decision"),
        reason: q("reason"),
        path_prefix: q("path_prefix"),
        node: None,
        before: None,
    }
}

/// `GET /portal/audit`.
pub fn show(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let f = filter(req);
    let mut body = String::from(r#"<form method="get" action="/portal/audit" class="cards">"#);
    for (k, label) in FIELDS {
        let _ = write!(
            body,
            r#"<div><label for="{k}">{label}</label><input type="text" id="{k}" name="{k}" value="{}"></div>"#,
            esc(req.query(k).unwrap_or(""))
        );
    }
    body.push_str(r#"<div><button type="submit">Filter</button></div></form>"#);
    let qs: String = FIELDS
        .iter()
        .filter_map(|(k, _)| req.query(k).filter(|v| !v.is_empty()).map(|v| (k, v)))
        .map(|(k, v)| {
            format!(
                "&{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    let _ = write!(
        body,
        r#"<p><a href="/portal/audit/export?x=1{}">Export the matching records (JSON lines)</a> · <a href="/portal/audit/verify">Verify the chain</a></p>"#,
        esc(&qs)
    );
    let rows = match state.store() {
        Ok(store) => query::select_rows(store.conn(), &f, PAGE),
        Err(a) => return a.into(),
    };
    let mut notice = None;
    let mut err = String::new();
    match rows {
        Ok(rows) => {
            let _ = write!(
                body,
                r#"<table id="records"><caption class="muted">The newest {} matching records, newest first</caption><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Path</th><th scope="col">Decision</th><th scope="col">Reason</th><th scope="col">Request</th></tr>"#,
                rows.len()
            );
            for r in rows.iter().rev() {
                let v: serde_json::Value = serde_json::from_str(&r.record).unwrap_or_default();
                let s = |k: &str| esc(v[k].as_str().unwrap_or(""));
                let rid = v["request_id"].as_str().unwrap_or("");
                let _ = write!(
                    body,
                    r#"<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td><a href="/portal/audit/record?request_id={}">{}</a></td></tr>"#,
                    esc(&r.ts),
                    s("actor"),
                    s("method"),
                    s("path"),
                    s("decision"),
                    s("reason"),
                    esc(&percent_encoding::utf8_percent_encode(
                        rid,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                    .to_string()),
                    esc(rid),
                );
            }
            body.push_str("</table>");
        }
        Err(e) => err = e.to_string(),
    }
    if !err.is_empty() {
        notice = Some(Notice::Error(&err));
    }
    let viewer = c.viewer();
    let status = if err.is_empty() { 200 } else { 400 };
    Answer::Page(
        status,
        page::frame("Audit trail", Some(&viewer), notice, &body),
    )
    .into()
}

/// `GET /portal/audit/record?request_id=…`: every record of one request, in full.
pub fn record(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let rid = req.query("request_id").unwrap_or("").trim().to_string();
    let f = Filter {
        request_id: Some(rid.clone()),
        ..Filter::default()
    };
    let rows = match state.store() {
        Ok(store) => query::select(store.conn(), &f, 100),
        Err(a) => return a.into(),
    };
    let mut body = String::new();
    match rows {
        Ok(rows) if rows.is_empty() => body.push_str("<p>No record has this request id.</p>"),
        Ok(rows) => {
            for r in rows {
                let pretty = serde_json::from_str::<serde_json::Value>(&r)
                    .and_then(|v| serde_json::to_string_pretty(&v))
                    .unwrap_or(r);
                let _ = write!(body, "<pre class=\"card\">{}</pre>", esc(&pretty));
            }
        }
        Err(e) => {
            let _ = write!(
                body,
                r#"<p class="notice error">{}</p>"#,
                esc(&e.to_string())
            );
        }
    }
    body.push_str(r#"<p><a href="/portal/audit">Back to the trail</a></p>"#);
    let viewer = c.viewer();
    Answer::Page(
        200,
        page::frame(&format!("Request {rid}"), Some(&viewer), None, &body),
    )
    .into()
}

/// `GET /portal/audit/verify`: every chain checked against the audit key.
pub fn verify(state: &PortalState, req: &PortalRequest) -> Reply {
    use crate::audit::chain::Verdict;
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let report = match state.store() {
        Ok(store) => crate::audit::chain::verify_db(store.conn(), &state.app.master().audit_key()),
        Err(a) => return a.into(),
    };
    let mut body = String::new();
    let notice;
    let summary;
    match report {
        Ok(r) => {
            summary = if r.intact() {
                format!(
                    "Intact: {} records in {} chain(s).",
                    r.records(),
                    r.chains.len()
                )
            } else {
                "BROKEN: see the chain below. Escalate: a record was changed, removed or inserted outside erpgate.".to_string()
            };
            notice = if r.intact() {
                Notice::Ok(&summary)
            } else {
                Notice::Error(&summary)
            };
            body.push_str(r#"<table id="chains"><tr><th scope="col">Chain (node)</th><th scope="col">Verdict</th></tr>"#);
            for (node, v) in &r.chains {
                let verdict = match v {
                    Verdict::Intact { records, .. } => format!("intact, {records} records"),
                    Verdict::Broken { id, why } => format!("broken at record {id}: {why}"),
                };
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(&crate::audit::verify::node_label(node)),
                    esc(&verdict)
                );
            }
            body.push_str("</table>");
            if r.untallied > 0 {
                let _ = write!(
                    body,
                    r#"<p id="untallied">{} batch(es) carry no tally (written before schema 14, by an older gateway, or nulled since). Not a break: the overview and <code>audit summary</code> count their records instead.</p>"#,
                    r.untallied
                );
            }
        }
        Err(e) => {
            summary = format!("The chain could not be read: {e}");
            notice = Notice::Error(&summary);
        }
    }
    let viewer = c.viewer();
    Answer::Page(
        200,
        page::frame("Audit chain", Some(&viewer), Some(notice), &body),
    )
    .into()
}

/// `GET /portal/audit/export?…`: the matching records as JSON lines (a download).
pub fn export(state: &PortalState, req: &PortalRequest) -> Reply {
    if let Err(r) = super::logged_in(state, req, Role::Auditor) {
        return r;
    }
    let rows = match state.store() {
        Ok(store) => query::select(store.conn(), &filter(req), EXPORT),
        Err(a) => return a.into(),
    };
    match rows {
        Ok(rows) => {
            let mut out = rows.join("\n");
            out.push('\n');
            Answer::Download("erpgate-audit.jsonl", out.into_bytes()).into()
        }
        Err(e) => Answer::Page(
            400,
            page::frame("Export", None, Some(Notice::Error(&e.to_string())), ""),
        )
        .into(),
    }
}
