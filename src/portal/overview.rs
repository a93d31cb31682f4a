//! The overview: the kill switch (turned on or off with a confirmation and a reason, both
//! audited), the schedule now and its next change, the last hour's requests by decision and
//! the top refusal reasons (from the audit trail), and the tenants.

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::{PortalRequest, PortalState, Reply};
use crate::service::admin_token::Role;

/// `GET /portal/overview`.
pub fn show(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match req.query("m") {
        Some("on") => Some(Notice::Ok(
            "The kill switch is on: public API requests are refused.",
        )),
        Some("off") => Some(Notice::Ok(
            "The kill switch is off: public API requests are relayed again.",
        )),
        _ => None,
    };
    render(state, &c, 200, notice)
}

fn render(
    state: &PortalState,
    c: &super::session::Current,
    status: u16,
    notice: Option<Notice<'_>>,
) -> Reply {
    let on = state.app.directory.load().killswitch();
    let compiled = state.app.compiled.load();
    let snapshot = &compiled.snapshot;
    let can_change = Role::parse(&c.user.role).is_some_and(|r| r >= Role::Admin);
    let mut body = String::with_capacity(4096);
    body.push_str(r#"<div class="cards">"#);
    // The kill switch.
    let _ = write!(
        body,
        r#"<section class="card" aria-labelledby="ks"><h2 id="ks">Kill switch</h2>
<p>State: <span class="state {cls}" id="killswitch-state">{label}</span></p>
<p class="muted">{what}</p>"#,
        cls = if on { "on" } else { "off" },
        label = if on { "ON" } else { "OFF" },
        what = if on {
            "Every public API request is refused with killswitch.on. This portal and the admin API keep working."
        } else {
            "Public API requests are relayed as the policies allow."
        },
    );
    if can_change {
        let (action, button, class) = if on {
            ("off", "Turn the kill switch off", "")
        } else {
            ("on", "Turn the kill switch on", " class=\"danger\"")
        };
        let _ = write!(
            body,
            r#"<form method="post" action="/portal/killswitch">
{csrf}
<input type="hidden" name="state" value="{action}">
<label for="reason">Reason (recorded in the audit trail)</label>
<textarea id="reason" name="reason" rows="2" maxlength="500" required></textarea>
<label><input type="checkbox" name="confirm" value="yes" required> I confirm: {confirm}</label>
<button type="submit"{class}>{button}</button>
</form>"#,
            csrf = page::csrf_field(&c.csrf),
            confirm = if on {
                "public API requests will be relayed again"
            } else {
                "every public API request will be refused until it is turned off"
            },
        );
    }
    body.push_str("</section>");
    // The schedule.
    let now = chrono::Utc::now();
    let _ = write!(
        body,
        r#"<section class="card" aria-labelledby="sch"><h2 id="sch">Access schedule</h2>
<p id="schedule-status">{}</p><p class="muted">{}</p></section>"#,
        esc(&snapshot.schedule.status(now)),
        esc(&snapshot.schedule.describe()),
    );
    // The last hour.
    body.push_str(r#"<section class="card" aria-labelledby="hour"><h2 id="hour">Last hour</h2>"#);
    let since =
        (now - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let summary = state
        .store()
        .ok()
        .and_then(|s| crate::audit::query::summary(s.conn(), &since, 5).ok());
    match summary {
        Some(s) if s.decisions.is_empty() => body.push_str("<p>No requests.</p>"),
        Some(s) => {
            body.push_str(r#"<table id="decisions"><caption class="muted">Requests by decision</caption><tr><th scope="col">Decision</th><th scope="col">Requests</th></tr>"#);
            for (d, n) in &s.decisions {
                let _ = write!(body, "<tr><td>{}</td><td>{n}</td></tr>", esc(d));
            }
            body.push_str("</table>");
            if !s.reasons.is_empty() {
                body.push_str(r#"<table id="reasons"><caption class="muted">Top refusal reasons</caption><tr><th scope="col">Reason</th><th scope="col">Requests</th></tr>"#);
                for (r, n) in &s.reasons {
                    let _ = write!(
                        body,
                        "<tr><td><code>{}</code></td><td>{n}</td></tr>",
                        esc(r)
                    );
                }
                body.push_str("</table>");
            }
        }
        None => body
            .push_str(r#"<p class="notice error">The audit trail cannot be read right now.</p>"#),
    }
    body.push_str("</section></div>");
    // The tenants: where their Oracle is, how the gateway signs in to it, and when the
    // certificates it depends on expire.
    body.push_str(r#"<h2>Tenants</h2><table id="tenants"><tr><th scope="col">Tenant</th><th scope="col">Oracle</th><th scope="col">Upstream sign-in</th><th scope="col">Certificates</th></tr>"#);
    let store = state.store().ok();
    let now_s = now.timestamp();
    let expiry = |label: &str, not_after: i64| {
        let days = (not_after - now_s).div_euclid(86_400);
        let when = chrono::DateTime::from_timestamp(not_after, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let class = if days < 30 {
            " class=\"notice error\""
        } else {
            ""
        };
        format!("<div{class}>{label}: expires {when} ({days} days)</div>")
    };
    for t in &snapshot.tenants {
        let scheme = if t.upstream.tls { "https" } else { "http" };
        let mut certs = String::new();
        let auth = match &t.auth {
            crate::snapshot::UpstreamAuth::Basic { .. } => "Basic",
            crate::snapshot::UpstreamAuth::Token { .. } => "token endpoint",
            crate::snapshot::UpstreamAuth::ApiKey { .. } => "API key",
            crate::snapshot::UpstreamAuth::Jwt { .. } => {
                let key = store
                    .as_ref()
                    .and_then(|s| s.get_tenant_key(&t.name).ok().flatten());
                match key.map(|k| crate::jwt::Certificate::from_der(&k.cert_der)) {
                    Some(Ok(c)) => certs.push_str(&expiry("signing certificate", c.not_after())),
                    Some(Err(_)) => certs.push_str(
                        "<div class=\"notice error\">signing certificate unreadable</div>",
                    ),
                    None => certs.push_str(
                        "<div class=\"notice error\">no signing key (tenant gen-key)</div>",
                    ),
                }
                "JWT assertion"
            }
        };
        if let Some(inbound) = &t.inbound {
            for c in &inbound.certs {
                certs.push_str(&expiry(
                    &format!("trusted Oracle certificate {}", esc(&c.alias)),
                    c.cert.not_after(),
                ));
            }
        }
        let _ =
            write!(
            body,
            "<tr><td>{}</td><td><code>{scheme}://{}:{}</code></td><td>{auth}</td><td>{}</td></tr>",
            esc(&t.name),
            esc(&t.upstream.host),
            t.upstream.port,
            if certs.is_empty() { "—".to_string() } else { certs },
        );
    }
    body.push_str("</table>");
    let viewer = c.viewer();
    Answer::Page(
        status,
        page::frame("Overview", Some(&viewer), notice, &body),
    )
    .into()
}

/// `POST /portal/killswitch`: `state` on or off, a `reason`, and `confirm=yes`.
pub fn killswitch(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::posted(state, req, Role::Admin) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let on = match req.form.text("state") {
        "on" => true,
        "off" => false,
        _ => return render(state, &c, 400, Some(Notice::Error("Choose on or off."))),
    };
    if req.form.text("confirm") != "yes" {
        return render(
            state,
            &c,
            400,
            Some(Notice::Error(
                "Tick the confirmation to change the kill switch.",
            )),
        );
    }
    let reason = req.form.text("reason");
    if reason.is_empty() {
        return render(
            state,
            &c,
            400,
            Some(Notice::Error(
                "Give a reason: it is recorded in the audit trail.",
            )),
        );
    }
    let result = match state.store() {
        Ok(mut store) => {
            let mut op = super::operator(state, &mut store, &c);
            crate::service::killswitch::set_because(&mut op, on, Some(reason), |_| {})
        }
        Err(a) => return a.into(),
    };
    match result {
        Ok(_) => Answer::Redirect(format!(
            "/portal/overview?m={}",
            if on { "on" } else { "off" }
        ))
        .into(),
        Err(e) => render(state, &c, 400, Some(Notice::Error(&e.to_string()))),
    }
}
