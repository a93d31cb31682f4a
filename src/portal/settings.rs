//! Settings, read-only: the snapshot in force (version, hashes, its warnings), this node and
//! the others on the store, and the reload button (admins), which runs the same reload as
//! SIGHUP and `POST /reload`, audited as `portal:<user>`.

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::session::Current;
use super::{PortalRequest, PortalState, Reply};
use crate::service::admin_token::Role;

/// `GET /portal/settings`.
pub fn show(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match req.query("m") {
        Some("reloaded") => Some(Notice::Ok("The configuration was reloaded.")),
        _ => None,
    };
    render(state, &c, 200, notice)
}

fn render(state: &PortalState, c: &Current, status: u16, notice: Option<Notice<'_>>) -> Reply {
    let compiled = state.app.compiled.load();
    let s = &compiled.snapshot;
    let g = &s.gateway;
    let mut body = String::from(r#"<table id="settings">"#);
    let mut row = |k: &str, v: String| {
        let _ = write!(body, r#"<tr><th scope="row">{k}</th><td>{v}</td></tr>"#);
    };
    row("erpgate", esc(env!("CARGO_PKG_VERSION")));
    row(
        "Node",
        if g.node_id.is_empty() {
            "one gateway (no gateway.node_id)".into()
        } else {
            esc(&g.node_id)
        },
    );
    row("Snapshot version", s.version.to_string());
    row(
        "Snapshot hash",
        format!("<code id=\"snapshot-hash\">{}</code>", esc(&s.hash)),
    );
    row(
        "Shared part hash",
        format!("<code>{}</code>", esc(&s.shared_hash)),
    );
    row(
        "Configuration file",
        format!(
            "<code>{}</code>",
            esc(&state.app.config_path().display().to_string())
        ),
    );
    row("Tenants", s.tenants.len().to_string());
    row("Endpoints", s.catalog.len().to_string());
    row("Policies", s.policies.len().to_string());
    row("Schedule", esc(&s.schedule.describe()));
    row(
        "Portal sessions",
        g.portal
            .as_ref()
            .map(|p| {
                format!(
                    "at most {} h, {} min idle",
                    p.session_max.as_secs() / 3600,
                    p.idle.as_secs() / 60
                )
            })
            .unwrap_or_default(),
    );
    body.push_str("</table>");
    if !s.warnings.is_empty() {
        body.push_str("<h2>Warnings</h2><ul>");
        for w in &s.warnings {
            let _ = write!(body, "<li>{}</li>", esc(w));
        }
        body.push_str("</ul>");
    }
    let now_ms = crate::directory::cluster::unix_ms();
    let nodes = state.app.cluster.nodes();
    if !nodes.is_empty() {
        body.push_str(r#"<h2>Gateways on this store</h2><table id="nodes"><tr><th scope="col">Node</th><th scope="col">Shared hash</th><th scope="col">Version</th><th scope="col">Seen</th></tr>"#);
        for n in nodes.iter() {
            let _ = write!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} s ago</td></tr>",
                esc(&n.node),
                esc(n.snapshot.get(..16).unwrap_or(&n.snapshot)),
                esc(&n.version),
                now_ms.saturating_sub(n.seen_at_ms) / 1000
            );
        }
        body.push_str("</table>");
    }
    if Role::parse(&c.user.role).is_some_and(|r| r >= Role::Admin) {
        let _ = write!(
            body,
            r#"<h2>Reload</h2><p>Reads the configuration files again; a configuration with problems is refused and the one in force keeps serving.</p>
<form method="post" action="/portal/settings/reload">{}<button type="submit">Reload the configuration</button></form>"#,
            page::csrf_field(&c.csrf)
        );
    }
    let viewer = c.viewer();
    Answer::Page(
        status,
        page::frame("Settings", Some(&viewer), notice, &body),
    )
    .into()
}

/// `POST /portal/settings/reload`.
pub fn reload(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::posted(state, req, Role::Admin) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let actor = format!("portal:{}", c.user.name);
    match crate::service::reload::reload(&state.app, &actor) {
        Ok(_) => Answer::Redirect("/portal/settings?m=reloaded".into()).into(),
        Err(e) => {
            let msg = format!("Reload refused; the configuration in force keeps serving. {e}");
            render(state, &c, 400, Some(Notice::Error(&msg)))
        }
    }
}
