//! Tokens: the live gateway tokens (revoked here by admins), and the admin API's tokens
//! (owners: issued with a shown-once banner, listed, revoked). Only ids and names are shown;
//! a token exists only with whoever received it.

use std::fmt::Write as _;

use super::page::{self, esc, Answer, Notice};
use super::session::Current;
use super::{PortalRequest, PortalState, Reply};
use crate::crypto::SecretString;
use crate::service::admin_token::{self as admin_tokens, Role};

fn role_of(c: &Current) -> Role {
    Role::parse(&c.user.role).unwrap_or(Role::Auditor)
}

/// `GET /portal/tokens`.
pub fn show(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let notice = match req.query("m") {
        Some("revoked") => Some(Notice::Ok("Revoked: refused from the next request on.")),
        _ => None,
    };
    render(state, &c, 200, notice, None)
}

fn render(
    state: &PortalState,
    c: &Current,
    status: u16,
    notice: Option<Notice<'_>>,
    shown: Option<(&str, &SecretString)>,
) -> Reply {
    let Ok(store) = state.store() else {
        return super::unavailable().into();
    };
    let now = chrono::Utc::now().timestamp();
    let Ok(live) = store.live_tokens(now) else {
        return super::unavailable().into();
    };
    let live: Vec<_> = live.into_iter().filter(|t| t.active).collect();
    let admin = if role_of(c) >= Role::Owner {
        store.list_admin_tokens().ok()
    } else {
        None
    };
    drop(store);
    let form = |action: &str, label: &str| {
        format!(
            r#"<form method="post" action="{action}" class="inline">{}<button type="submit" class="danger">{label}</button></form>"#,
            page::csrf_field(&c.csrf)
        )
    };
    let mut body = String::new();
    if let Some((id, token)) = shown {
        let _ = write!(
            body,
            r#"<div class="banner" role="alert"><p><strong>Shown once.</strong> Admin token <code>{}</code>:</p>
<p><code id="one-time">{}</code> <button type="button" class="plain" data-copy="one-time">Copy</button></p>
<p>It is stored only as a keyed hash; this page will not show it again.</p></div>"#,
            esc(id),
            esc(token.expose())
        );
    }
    body.push_str(r#"<h2>Gateway tokens in force</h2><table id="gateway-tokens"><tr><th scope="col">Token</th><th scope="col">Credential set</th><th scope="col">Issued</th><th scope="col">Expires</th><th scope="col"></th></tr>"#);
    for t in &live {
        let expires = chrono::DateTime::from_timestamp(t.expires_at, 0)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default();
        let revoke = if role_of(c) >= Role::Admin {
            form(
                &format!("/portal/tokens/gateway/{}/revoke", esc(&t.id)),
                "Revoke",
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><code>egt_{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
            esc(&t.id),
            esc(&t.credential_id),
            esc(&t.issued_at),
            esc(&expires)
        );
    }
    body.push_str("</table>");
    if live.is_empty() {
        body.push_str("<p>None.</p>");
    }
    if let Some(admin) = admin {
        body.push_str(r#"<h2>Admin API tokens</h2><table id="admin-tokens"><tr><th scope="col">Token</th><th scope="col">Role</th><th scope="col">For</th><th scope="col">Created</th><th scope="col">By</th><th scope="col">Status</th><th scope="col"></th></tr>"#);
        for t in &admin {
            let revoke = if t.active {
                form(
                    &format!("/portal/tokens/admin/{}/revoke", esc(&t.id)),
                    "Revoke",
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td><code>eat_{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                esc(&t.id),
                esc(&t.role),
                esc(&t.name),
                esc(&t.created_at),
                esc(&t.created_by),
                if t.active { "active" } else { "revoked" },
            );
        }
        body.push_str("</table>");
        let _ = write!(
            body,
            r#"<h3>Create an admin token</h3><form method="post" action="/portal/tokens/admin">{}
<label for="name">For (a person or a system)</label><input type="text" id="name" name="name" required maxlength="64">
<label for="role">Role</label><select id="role" name="role"><option>auditor</option><option>admin</option><option>owner</option></select>
<button type="submit">Create</button></form>"#,
            page::csrf_field(&c.csrf)
        );
    }
    let viewer = c.viewer();
    Answer::Page(status, page::frame("Tokens", Some(&viewer), notice, &body)).into()
}

/// `POST /portal/tokens/gateway/ID/revoke` (admins), `/portal/tokens/admin/ID/revoke` and
/// `POST /portal/tokens/admin` (owners).
pub fn act(state: &PortalState, req: &PortalRequest, parts: &[&str]) -> Reply {
    let need = match parts {
        ["gateway", _, "revoke"] => Role::Admin,
        _ => Role::Owner,
    };
    let c = match super::posted(state, req, need) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(mut store) = state.store() else {
        return super::unavailable().into();
    };
    let mut op = super::operator(state, &mut store, &c);
    let outcome = match parts {
        ["gateway", id, "revoke"] => match crate::service::token::bare_id(id) {
            Some(bare) => crate::service::token::revoke(&mut op, bare, |_| {}).map(|_| None),
            None => Err(crate::service::ServiceError::Invalid(
                "no such token".into(),
            )),
        },
        ["admin", id, "revoke"] => admin_tokens::revoke(&mut op, id, |_| {}).map(|_| None),
        ["admin"] => match Role::parse(req.form.text("role")) {
            // An owner may grant any role (none is above theirs).
            Some(role) => {
                let hasher = state
                    .app
                    .master()
                    .keyed_hasher(crate::crypto::HashPurpose::AdminToken);
                admin_tokens::issue(&mut op, &hasher, role, req.form.text("name"), |_| {}).map(Some)
            }
            None => Err(crate::service::ServiceError::Invalid(
                "choose a role".into(),
            )),
        },
        _ => Err(crate::service::ServiceError::Invalid(
            "no such action".into(),
        )),
    };
    drop(store);
    match outcome {
        Ok(Some((id, token))) => {
            let short = admin_tokens::short_id(&id);
            render(
                state,
                &c,
                200,
                Some(Notice::Ok("Admin token created.")),
                Some((&short, &token)),
            )
        }
        Ok(None) => Answer::Redirect("/portal/tokens?m=revoked".into()).into(),
        Err(e) => render(state, &c, 400, Some(Notice::Error(&e.to_string())), None),
    }
}
