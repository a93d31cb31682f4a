//! The policy snapshot in force, read-only (the catalog, each policy's subjects, scope,
//! schedule exemption and rules), and **Explain**: an account (or an Oracle user of a tenant)
//! with a method and a target → the decision and reason code the relay would give right now,
//! computed by the relay's own steps (`explain::evaluate`, as `erpgate explain` does).

use std::fmt::Write as _;

use super::page::{self, esc, Answer};
use super::{PortalRequest, PortalState, Reply};
use crate::service::admin_token::Role;

/// `GET /portal/policies` (with `who`, `method` and `target` in the query: an explanation).
pub fn show(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let compiled = state.app.compiled.load();
    let snap = &compiled.snapshot;
    let mut body = String::with_capacity(8192);
    // Explain first: it is what people come here for.
    let who = req.query("who").unwrap_or("").trim();
    let tenant = req.query("tenant").unwrap_or("").trim();
    let method = req.query("method").unwrap_or("GET").trim();
    let target = req.query("target").unwrap_or("").trim();
    let methods: String = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
        .iter()
        .map(|m| {
            let sel = if *m == method { " selected" } else { "" };
            format!("<option{sel}>{m}</option>")
        })
        .collect();
    let _ = write!(
        body,
        r#"<section class="card" aria-labelledby="ex"><h2 id="ex">Explain a request</h2>
<form method="get" action="/portal/policies">
<label for="who">Account, or <code>user:NAME</code> for an Oracle user</label>
<input type="text" id="who" name="who" value="{who}" required>
<label for="tenant">Tenant (Oracle users only)</label>
<input type="text" id="tenant" name="tenant" value="{tenant}">
<label for="method">Method</label>
<select id="method" name="method">{methods}</select>
<label for="target">Path and query, as the caller would send them</label>
<input type="text" id="target" name="target" value="{target}" required placeholder="/fscmRestApi/resources/11.13.18.05/invoices?limit=5">
<button type="submit">Explain</button>
</form>"#,
        who = esc(who),
        tenant = esc(tenant),
        target = esc(target),
    );
    if !who.is_empty() && !target.is_empty() {
        body.push_str(&explain(state, snap, who, tenant, method, target));
    }
    body.push_str("</section>");
    // The policies.
    let _ = write!(
        body,
        r#"<h2>Policies in force</h2><p class="muted">Snapshot version {} · <code>{}</code>. Everything not granted here is refused.</p>"#,
        snap.version,
        esc(&snap.hash)
    );
    for p in &snap.policies {
        let scope = p
            .tenant
            .and_then(|t| snap.tenants.get(t.0 as usize))
            .map(|t| format!(" · tenant {}", esc(&t.name)))
            .unwrap_or_default();
        let _ = write!(
            body,
            r#"<h3>{}</h3><p>Subjects: {}{scope}{}{}</p><table><tr><th scope="col">Rule</th><th scope="col">Endpoint</th><th scope="col">Methods</th></tr>"#,
            esc(&p.name),
            p.subjects
                .iter()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(", "),
            if p.schedule_exempt {
                " · <strong>exempt from the schedule</strong>"
            } else {
                ""
            },
            if p.redact_slot.is_some() {
                " · with redaction rules"
            } else {
                ""
            },
        );
        for r in &p.rules {
            for (e, m) in &r.grants {
                let ep = snap.catalog.endpoint(*e);
                let m: Vec<&str> = m.iter().map(|m| m.as_str()).collect();
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&r.name),
                    esc(&ep.name),
                    m.join(", ")
                );
            }
        }
        body.push_str("</table>");
    }
    body.push_str(r#"<h2>Endpoint catalog</h2><table id="catalog"><tr><th scope="col">Endpoint</th><th scope="col">Path</th><th scope="col">Methods</th></tr>"#);
    for ep in snap.catalog.endpoints() {
        let m: Vec<&str> = ep.methods.iter().map(|m| m.as_str()).collect();
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&ep.name),
            esc(&ep.template),
            m.join(", ")
        );
    }
    body.push_str("</table>");
    let viewer = c.viewer();
    Answer::Page(200, page::frame("Policies", Some(&viewer), None, &body)).into()
}

/// The explanation of one request, as HTML.
fn explain(
    state: &PortalState,
    snap: &crate::snapshot::Snapshot,
    who: &str,
    tenant: &str,
    method: &str,
    target: &str,
) -> String {
    use crate::explain::{self as ex, Ask, Caller};
    let Ok(store) = state.store() else {
        return r#"<p class="notice error">The store cannot be read right now.</p>"#.into();
    };
    let killswitch = state.app.directory.load().killswitch();
    let (caller_tenant, account, user, refused_before) = match who.strip_prefix("user:") {
        Some(u) => (tenant.to_string(), None, Some(u), None),
        None => match store.get_account(who) {
            Ok(Some(a)) => {
                let suspended = a.status == crate::store::AccountStatus::Suspended;
                (
                    a.tenant,
                    Some(who),
                    None,
                    suspended.then_some("403 account.suspended"),
                )
            }
            Ok(None) => {
                return format!(
                    r#"<p class="notice error" role="alert">No account named <code>{}</code>.</p>"#,
                    esc(who)
                )
            }
            Err(_) => {
                return r#"<p class="notice error">The store cannot be read right now.</p>"#.into()
            }
        },
    };
    drop(store);
    let caller = Caller {
        account,
        user,
        roles: &[],
        tenant: &caller_tenant,
    };
    let ask = Ask {
        method,
        target,
        at: chrono::Utc::now(),
        killswitch,
        query: true,
    };
    let ev = ex::evaluate(snap, &caller, &ask);
    let decision = match (&ev.outcome, refused_before) {
        (Ok(()), None) => "relayed".to_string(),
        (_, Some(l)) => format!("refused: {l}"),
        (Err(d), None) => {
            let detail = d.detail.map(|x| format!(" ({x})")).unwrap_or_default();
            format!("refused: {}{detail}", ex::label(&ev.outcome))
        }
    };
    let mut out = format!(
        r#"<table id="explanation"><tr><th scope="row">Decision</th><td><strong id="decision">{}</strong></td></tr>"#,
        esc(&decision)
    );
    let mut row = |k: &str, v: String| {
        let _ = write!(out, r#"<tr><th scope="row">{k}</th><td>{v}</td></tr>"#);
    };
    if let Some(p) = &ev.canonical {
        row("Path", format!("<code>{}</code>", esc(p)));
    }
    row(
        "Endpoint",
        ev.endpoint
            .as_deref()
            .map(|e| {
                format!(
                    "<code>{}</code> (serves {})",
                    esc(e),
                    ev.endpoint_methods.join(", ")
                )
            })
            .unwrap_or_else(|| "none matched".into()),
    );
    row(
        "Grant",
        ev.grant
            .as_ref()
            .map(|(p, r)| {
                format!(
                    "policy <code>{}</code>, rule <code>{}</code>",
                    esc(p),
                    esc(r)
                )
            })
            .unwrap_or_else(|| "none".into()),
    );
    row(
        "Schedule",
        if ev.schedule_open {
            "open now".into()
        } else if ev.exempt {
            "closed now; the grant is exempt".into()
        } else {
            "closed now".into()
        },
    );
    row(
        "Kill switch",
        if killswitch {
            "on".into()
        } else {
            "off".into()
        },
    );
    if let Some(r) = &ev.refused {
        row("Refused part", format!("<code>{}</code>", esc(r)));
    }
    out.push_str("</table>");
    out
}
