//! A portal user's own password change: the current password (counted like a login's), the
//! new one twice and by the rules; every other session of theirs ends and this tab gets a
//! fresh one.

use std::time::Instant;

use serde_json::json;

use super::login::{keys, lock_settings, start_session};
use super::page::{self, Answer, Notice};
use super::session::Current;
use super::{record, PortalRequest, PortalState, Reply};
use crate::auth::lockout::{Outcome, Refusal};
use crate::crypto::SecretString;

fn password_page(c: &Current, status: u16, notice: Option<Notice<'_>>) -> Reply {
    let body = format!(
        r#"<form method="post" action="/portal/password">
{}
<label for="current">Current password</label>
<input type="password" id="current" name="current" autocomplete="current-password" required>
<label for="new">New password (at least {} characters, not containing your name)</label>
<input type="password" id="new" name="new" autocomplete="new-password" required minlength="{}">
<label for="repeat">New password again</label>
<input type="password" id="repeat" name="repeat" autocomplete="new-password" required>
<button type="submit">Change the password</button>
</form>
<p class="muted">Every other session of yours ends.</p>{}"#,
        page::csrf_field(&c.csrf),
        crate::service::portal_user::PASSWORD_MIN,
        crate::service::portal_user::PASSWORD_MIN,
        if c.user.totp_sealed.is_none() {
            r#"<h2>Second factor</h2><p>None is set up. <a href="/portal/mfa/setup">Set up an authenticator app</a>.</p>"#
        } else {
            "<h2>Second factor</h2><p>An authenticator app is set up. An owner can reset it.</p>"
        },
    );
    let viewer = c.viewer();
    Answer::Page(
        status,
        page::frame("Change your password", Some(&viewer), notice, &body),
    )
    .into()
}

/// `GET /portal/password`.
pub fn form(state: &PortalState, req: &PortalRequest) -> Reply {
    match super::logged_in(state, req, crate::service::admin_token::Role::Auditor) {
        Ok(c) => {
            let notice = (req.query("m") == Some("changed")).then_some(Notice::Ok(
                "Your password was changed; your other sessions ended.",
            ));
            password_page(&c, 200, notice)
        }
        Err(r) => r,
    }
}

/// `POST /portal/password`: the current password (counted like a login's), the new one twice.
pub fn submit(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::posted(state, req, crate::service::admin_token::Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let keys = keys(state, b"portal", &c.user.name, req);
    let s = lock_settings();
    if let Err(r) = state.lockout.begin(&keys, Instant::now(), s) {
        let secs = match r {
            Refusal::Locked(secs) => secs,
            Refusal::Busy => 1,
        };
        let msg = format!("Too many failed attempts. Try again in {secs} seconds.");
        return password_page(&c, 429, Some(Notice::Error(&msg)));
    }
    let current = SecretString::new(req.form.get("current").unwrap_or("").to_string());
    if !state
        .passwords
        .verify(current.expose().as_bytes(), &c.user.password_hash)
    {
        let _ = record(
            state,
            &c.user.name,
            "portal.password",
            "refused",
            req,
            json!({"reason": "wrong_password"}),
        );
        return match state
            .lockout
            .finish(&keys, Outcome::Failed, Instant::now(), s)
        {
            Ok(delay) => {
                std::thread::sleep(delay);
                password_page(
                    &c,
                    401,
                    Some(Notice::Error("The current password is not right.")),
                )
            }
            Err(secs) => {
                let msg = format!("Too many failed attempts. Try again in {secs} seconds.");
                password_page(&c, 429, Some(Notice::Error(&msg)))
            }
        };
    }
    let _ = state
        .lockout
        .finish(&keys, Outcome::Succeeded, Instant::now(), s);
    let new = SecretString::new(req.form.get("new").unwrap_or("").to_string());
    if req.form.get("repeat").unwrap_or("") != new.expose() {
        return password_page(
            &c,
            400,
            Some(Notice::Error("The two new passwords differ.")),
        );
    }
    let outcome = match state.store() {
        Ok(mut store) => {
            let mut op = super::operator(state, &mut store, &c);
            crate::service::portal_user::change_password(
                &mut op,
                &state.passwords,
                &c.user.name,
                &new,
                |_| {},
            )
        }
        Err(a) => return a.into(),
    };
    match outcome {
        // Every session ended with the change: this tab gets a fresh one.
        Ok(()) => start_session(
            state,
            req,
            &c.user.name,
            true,
            Answer::Redirect("/portal/password?m=changed".into()),
        ),
        Err(e) => password_page(&c, 400, Some(Notice::Error(&e.to_string()))),
    }
}
