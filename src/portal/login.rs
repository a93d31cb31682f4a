//! Logging in with a password (the second factor is `mfa`'s) and logging out. Failures count
//! against the user and the client address (backoff, then a lock); every login, failure and
//! lock is audited with the address, never with a password. A session id is new at every
//! step up (password, then second factor), so an id seen before the login is worth nothing.

use std::time::{Duration, Instant};

use serde_json::json;

use super::page::{self, Answer, Notice};
use super::session::{self};
use super::{record, PortalRequest, PortalState, Reply};
use crate::auth::lockout::{LockKey, LockoutSettings, Outcome, Refusal};
use crate::crypto::SecretString;

pub(super) fn lock_settings() -> LockoutSettings {
    LockoutSettings {
        max_failures: 5,
        lock_for: Duration::from_secs(300),
        window: Duration::from_secs(900),
    }
}

pub(super) fn keys(
    state: &PortalState,
    kind: &[u8],
    user: &str,
    req: &PortalRequest,
) -> [LockKey; 2] {
    [
        state.lockout.credential_key(kind, user.as_bytes()),
        state.lockout.address_key(req.peer),
    ]
}

fn login_page(status: u16, notice: Option<Notice<'_>>) -> Reply {
    login_page_with(status, notice, "")
}

fn login_page_with(status: u16, notice: Option<Notice<'_>>, extra: &str) -> Reply {
    let body = String::from(
        r#"<form method="post" action="/portal/login" class="login">
<label for="username">User name</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Log in</button>
</form>"#,
    ) + extra;
    Answer::Page(status, page::frame("Log in", None, notice, &body)).into()
}

/// `GET /portal/login`.
pub fn form(state: &PortalState, req: &PortalRequest) -> Reply {
    if let Ok(Some(c)) = super::session_of(state, req) {
        if c.full {
            return Answer::Redirect("/portal/overview".into()).into();
        }
    }
    let notice = match req.query("m") {
        Some("out") => Some(Notice::Ok("You are logged out.")),
        Some("ended") => Some(Notice::Error("Your session has ended. Log in again.")),
        _ => None,
    };
    login_page_with(200, notice, &super::oidc::button(state))
}

pub(super) fn locked_page(secs: u32) -> Reply {
    let msg = format!("Too many failed attempts. Try again in {secs} seconds.");
    login_page(429, Some(Notice::Error(&msg)))
}

/// Starts a session (ending the one the request came with) and sets its cookie.
pub(super) fn start_session(
    state: &PortalState,
    req: &PortalRequest,
    user: &str,
    full: bool,
    then: Answer,
) -> Reply {
    let Ok(store) = state.store() else {
        return super::unavailable().into();
    };
    if let Some(old) = &req.cookie {
        let _ = store.delete_portal_session(&state.sessions.hash(old));
    }
    match state.sessions.start(&store, user, full) {
        Ok(id) => Reply {
            answer: then,
            cookies: vec![session::set_cookie(
                id.expose(),
                state.settings().session_max,
            )],
        },
        Err(e) => {
            tracing::error!(error = %e, "portal cannot start a session");
            super::unavailable().into()
        }
    }
}

/// `POST /portal/login`.
pub fn submit(state: &PortalState, req: &PortalRequest) -> Reply {
    if !req.same_origin() {
        return super::forbidden_form().into();
    }
    let name = req.form.text("username").to_string();
    let password = SecretString::new(req.form.get("password").unwrap_or("").to_string());
    let keys = keys(state, b"portal", &name, req);
    let s = lock_settings();
    let now = Instant::now();
    // Who is named, for the record: a typed name that is no user is not written down (it may
    // be a password typed in the wrong box).
    let user = state
        .store()
        .ok()
        .and_then(|st| st.portal_user(&name).ok().flatten());
    let actor = user.as_ref().map_or("?", |u| u.name.as_str()).to_string();
    if let Err(r) = state.lockout.begin(&keys, now, s) {
        let secs = match r {
            Refusal::Locked(secs) => secs,
            Refusal::Busy => 1,
        };
        let _ = record(
            state,
            &actor,
            "portal.login",
            "refused",
            req,
            json!({"reason": "locked"}),
        );
        return locked_page(secs);
    }
    let phc = user
        .as_ref()
        .filter(|u| u.active)
        .map(|u| u.password_hash.clone());
    let ok = match &phc {
        Some(phc) => state.passwords.verify(password.expose().as_bytes(), phc),
        None => {
            state.passwords.verify_dummy(password.expose().as_bytes());
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        let finished = state
            .lockout
            .finish(&keys, Outcome::Failed, Instant::now(), s);
        let why = if actor == "?" {
            "unknown_user"
        } else {
            "wrong_password"
        };
        return match finished {
            Ok(delay) => {
                let _ = record(
                    state,
                    &actor,
                    "portal.login",
                    "refused",
                    req,
                    json!({"reason": why}),
                );
                std::thread::sleep(delay);
                login_page(401, Some(Notice::Error("Wrong user name or password.")))
            }
            Err(secs) => {
                let _ = record(
                    state,
                    &actor,
                    "portal.lockout",
                    "refused",
                    req,
                    json!({"reason": why, "locked_seconds": secs}),
                );
                locked_page(secs)
            }
        };
    };
    if let Err(secs) = state
        .lockout
        .finish(&keys, Outcome::Succeeded, Instant::now(), s)
    {
        return locked_page(secs);
    }
    let role = user.role.as_str();
    let due = role != "auditor" || state.settings().mfa_for_auditors || user.totp_sealed.is_some();
    let note = json!({"second_factor": if due { "due" } else { "not_required" }});
    if record(state, &user.name, "portal.login", "ok", req, note).is_err() {
        return super::unavailable().into();
    }
    let then = if due {
        "/portal/mfa"
    } else {
        "/portal/overview"
    };
    start_session(state, req, &user.name, !due, Answer::Redirect(then.into()))
}

/// `POST /portal/logout`.
pub fn logout(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::session_of(state, req) {
        Ok(Some(c)) => c,
        Ok(None) => return Answer::Redirect("/portal/login".into()).into(),
        Err(r) => return r,
    };
    if let Err(r) = super::check_post(req, &c) {
        return r;
    }
    if let Ok(store) = state.store() {
        let _ = store.delete_portal_session(&c.id_hash);
    }
    let _ = record(state, &c.user.name, "portal.logout", "ok", req, json!({}));
    Reply {
        answer: Answer::Redirect("/portal/login?m=out".into()),
        cookies: vec![session::clear_cookie()],
    }
}
