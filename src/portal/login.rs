//! Logging in: the password, then the second factor (a TOTP code or a recovery code), or its
//! enrolment when it is due and not set up yet. Failures of either count against the user
//! and the client address (backoff, then a lock); every login, failure, lock and enrolment is
//! audited with the address, never with a password or a code. A session id is new at every
//! step up (password, then second factor), so an id seen before the login is worth nothing.

use std::time::{Duration, Instant};

use serde_json::json;

use super::page::{self, esc, Answer, Notice};
use super::session::{self, Current};
use super::{record, PortalRequest, PortalState, Reply};
use crate::auth::lockout::{LockKey, LockoutSettings, Outcome, Refusal};
use crate::crypto::{totp, SealContext, SecretString};

/// How many recovery codes an enrolment gives.
const RECOVERY_CODES: usize = 10;

fn lock_settings() -> LockoutSettings {
    LockoutSettings {
        max_failures: 5,
        lock_for: Duration::from_secs(300),
        window: Duration::from_secs(900),
    }
}

fn keys(state: &PortalState, kind: &[u8], user: &str, req: &PortalRequest) -> [LockKey; 2] {
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

fn locked_page(secs: u32) -> Reply {
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

/// The session of a request in the second-factor step.
fn pending(state: &PortalState, req: &PortalRequest) -> Result<Current, Reply> {
    match super::session_of(state, req)? {
        Some(c) if c.full => Err(Answer::Redirect("/portal/overview".into()).into()),
        Some(c) => Ok(c),
        None => Err(Answer::Redirect("/portal/login?m=ended".into()).into()),
    }
}

fn code_page(c: &Current, status: u16, notice: Option<Notice<'_>>) -> Reply {
    let body = format!(
        r#"<p>Enter the six-digit code from your authenticator app.</p>
<form method="post" action="/portal/mfa">
{}
<label for="code">Code</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" autofocus>
<details><summary>Use a recovery code instead</summary>
<label for="recovery">Recovery code</label>
<input type="text" id="recovery" name="recovery" autocomplete="off">
</details>
<button type="submit">Continue</button>
</form>"#,
        page::csrf_field(&c.csrf)
    );
    Answer::Page(status, page::frame("Second factor", None, notice, &body)).into()
}

/// The sealing context of a secret being enrolled: bound to the user and the session, so a
/// pending secret from another session (or user) does not open.
fn enroll_context<'a>(user: &'a str, session: &'a str) -> SealContext<'a> {
    SealContext {
        tenant: user,
        name: "portal-totp-enrolment",
        upstream_host: session,
    }
}

/// The sealing context of an enrolled secret: bound to the user.
fn stored_context(user: &str) -> SealContext<'_> {
    SealContext {
        tenant: user,
        name: crate::crypto::TOTP_SEAL_NAME,
        upstream_host: "",
    }
}

fn enroll_page(state: &PortalState, c: &Current, notice: Option<Notice<'_>>) -> Reply {
    let Ok(secret) = totp::generate_secret() else {
        return super::unavailable().into();
    };
    let binding = hex::encode(c.id_hash);
    let Ok(pending) = state
        .app
        .master()
        .portal_cipher()
        .seal(&enroll_context(&c.user.name, &binding), secret.expose())
    else {
        return super::unavailable().into();
    };
    let uri = totp::otpauth_uri("erpgate", &c.user.name, secret.expose());
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    let body = format!(
        r#"<p>Scan this code with an authenticator app, or type the key into it, then enter the code it shows. Owners and admins need this second factor at every login.</p>
<div class="qr" role="img" aria-label="QR code of the authenticator key">{qr}</div>
<p>Key: <code id="totp-key">{key}</code></p>
<form method="post" action="/portal/mfa/enroll">
{csrf}
<input type="hidden" name="pending" value="{pending}">
<label for="code">Code from the app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" autofocus>
<button type="submit">Confirm</button>
</form>"#,
        key = esc(&totp::base32(secret.expose())),
        csrf = page::csrf_field(&c.csrf),
        pending = hex::encode(pending),
    );
    Answer::Page(
        200,
        page::frame("Set up your second factor", None, notice, &body),
    )
    .into()
}

/// `GET /portal/mfa`: the code form, or the enrolment when none is set up.
pub fn mfa_form(state: &PortalState, req: &PortalRequest) -> Reply {
    match pending(state, req) {
        Ok(c) if c.user.totp_sealed.is_some() => code_page(&c, 200, None),
        Ok(c) => enroll_page(state, &c, None),
        Err(r) => r,
    }
}

/// Counts a failed code (its verification begun): the page to answer with.
fn code_failed(
    state: &PortalState,
    req: &PortalRequest,
    c: &Current,
    keys: &[LockKey; 2],
    why: &str,
) -> Reply {
    match state
        .lockout
        .finish(keys, Outcome::Failed, Instant::now(), lock_settings())
    {
        Ok(delay) => {
            let _ = record(
                state,
                &c.user.name,
                "portal.mfa",
                "refused",
                req,
                json!({"reason": why}),
            );
            std::thread::sleep(delay);
            code_page(
                c,
                401,
                Some(Notice::Error(
                    "That code is not right, or was used already.",
                )),
            )
        }
        Err(secs) => {
            let _ = record(
                state,
                &c.user.name,
                "portal.lockout",
                "refused",
                req,
                json!({"reason": why, "locked_seconds": secs}),
            );
            // The half-made session ends: the password must be given again after the lock.
            if let Ok(store) = state.store() {
                let _ = store.delete_portal_session(&c.id_hash);
            }
            locked_page(secs)
        }
    }
}

/// `POST /portal/mfa`: a TOTP code (each good once) or a recovery code (used up).
pub fn mfa_submit(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match pending(state, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = super::check_post(req, &c) {
        return r;
    }
    let Some(sealed) = &c.user.totp_sealed else {
        return enroll_page(state, &c, None);
    };
    let keys = keys(state, b"portal-totp", &c.user.name, req);
    if let Err(r) = state.lockout.begin(&keys, Instant::now(), lock_settings()) {
        return locked_page(match r {
            Refusal::Locked(secs) => secs,
            Refusal::Busy => 1,
        });
    }
    // The record's place first: a code is not used up unless its use is recorded.
    let (Ok(slot), Ok(store)) = (super::reserve(state), state.store()) else {
        let _ = state
            .lockout
            .finish(&keys, Outcome::Abandoned, Instant::now(), lock_settings());
        return super::unavailable().into();
    };
    let (ok, how) = if !req.form.text("recovery").is_empty() {
        let code = normalize_recovery(req.form.text("recovery"));
        let hash = hex::encode(
            state
                .recovery
                .hash_parts(&[c.user.name.as_bytes(), code.as_bytes()]),
        );
        (
            store
                .use_portal_recovery_code(&c.user.name, &hash)
                .unwrap_or(false),
            "recovery_code",
        )
    } else {
        let secret = state
            .app
            .master()
            .portal_cipher()
            .open(&stored_context(&c.user.name), sealed);
        let step = secret
            .ok()
            .and_then(|s| totp::verify(s.expose(), req.form.text("code"), now_secs()));
        // A code is good once: the step must be later than the last one accepted.
        let fresh = step.is_some_and(|st| {
            store
                .use_portal_totp_step(&c.user.name, st)
                .unwrap_or(false)
        });
        (fresh, "totp")
    };
    drop(store);
    if !ok {
        // The reserved place goes back; the failure is recorded in its own.
        drop(slot);
        return code_failed(state, req, &c, &keys, how);
    }
    let _ = state
        .lockout
        .finish(&keys, Outcome::Succeeded, Instant::now(), lock_settings());
    super::send(
        slot,
        &c.user.name,
        "portal.mfa",
        "ok",
        req,
        json!({"method": how}),
    );
    start_session(
        state,
        req,
        &c.user.name,
        true,
        Answer::Redirect("/portal/overview".into()),
    )
}

fn now_secs() -> i64 {
    session::now_ms() / 1000
}

/// A recovery code as stored: lowercase, without spaces or dashes.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The session of a request enrolling a second factor: one in the second-factor step, or a
/// logged-in auditor setting one up of their own accord.
fn enrolling(state: &PortalState, req: &PortalRequest) -> Result<Current, Reply> {
    match super::session_of(state, req)? {
        Some(c) => Ok(c),
        None => Err(Answer::Redirect("/portal/login?m=ended".into()).into()),
    }
}

/// `GET /portal/mfa/setup`: a logged-in user without a second factor (an auditor, where it is
/// optional) sets one up.
pub fn setup_form(state: &PortalState, req: &PortalRequest) -> Reply {
    match enrolling(state, req) {
        Ok(c) if c.full && c.user.totp_sealed.is_none() => enroll_page(state, &c, None),
        Ok(c) if !c.full => Answer::Redirect("/portal/mfa".into()).into(),
        Ok(_) => Answer::Redirect("/portal/password".into()).into(),
        Err(r) => r,
    }
}

/// `POST /portal/mfa/enroll`: the first code confirms the new secret; the recovery codes are
/// shown once.
pub fn enroll_submit(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match enrolling(state, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = super::check_post(req, &c) {
        return r;
    }
    if c.user.totp_sealed.is_some() {
        return code_page(
            &c,
            409,
            Some(Notice::Error("A second factor is set up already.")),
        );
    }
    let cipher = state.app.master().portal_cipher();
    let binding = hex::encode(c.id_hash);
    let secret = hex::decode(req.form.text("pending")).ok().and_then(|p| {
        cipher
            .open(&enroll_context(&c.user.name, &binding), &p)
            .ok()
    });
    let Some(secret) = secret else {
        return enroll_page(
            state,
            &c,
            Some(Notice::Error("The enrolment expired. Scan this new code.")),
        );
    };
    let keys = keys(state, b"portal-totp", &c.user.name, req);
    let Some(step) = totp::verify(secret.expose(), req.form.text("code"), now_secs()) else {
        let _ = state.lockout.failed(&keys, Instant::now(), lock_settings());
        let _ = record(
            state,
            &c.user.name,
            "portal.mfa_enroll",
            "refused",
            req,
            json!({"reason": "wrong_code"}),
        );
        return enroll_page(
            state,
            &c,
            Some(Notice::Error(
                "That code is not right. Scan this new code and try again.",
            )),
        );
    };
    let Ok(sealed) = cipher.seal(&stored_context(&c.user.name), secret.expose()) else {
        return super::unavailable().into();
    };
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let Ok(raw) = crate::crypto::random_bytes::<5>() else {
            return super::unavailable().into();
        };
        let code = totp::base32(&raw).to_lowercase();
        hashes.push(hex::encode(
            state
                .recovery
                .hash_parts(&[c.user.name.as_bytes(), code.as_bytes()]),
        ));
        codes.push(format!("{}-{}", &code[..4], &code[4..]));
    }
    // The record's place first: an enrolment is not stored unless it is recorded.
    let (Ok(slot), Ok(store)) = (super::reserve(state), state.store()) else {
        return super::unavailable().into();
    };
    match store.enroll_portal_totp(&c.user.name, &sealed, step, &hashes) {
        Ok(true) => {}
        Ok(false) => {
            return code_page(
                &c,
                409,
                Some(Notice::Error("A second factor is set up already.")),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "portal cannot store an enrolment");
            return super::unavailable().into();
        }
    }
    drop(store);
    super::send(
        slot,
        &c.user.name,
        "portal.mfa_enroll",
        "ok",
        req,
        json!({"recovery_codes": RECOVERY_CODES}),
    );
    let list: String = codes
        .iter()
        .map(|c| format!("<li><code>{c}</code></li>"))
        .collect();
    let body = format!(
        r#"<div class="banner" role="alert">
<p><strong>Recovery codes: shown once.</strong> Each lets you in once without your authenticator. Store them somewhere safe now; this page will not show them again.</p>
<ol id="recovery-codes">{list}</ol>
<button type="button" class="plain" data-copy="recovery-codes">Copy</button>
</div>
<p><a href="/portal/overview">Continue to the portal</a></p>"#
    );
    start_session(
        state,
        req,
        &c.user.name,
        true,
        Answer::Page(200, page::frame("Second factor set up", None, None, &body)),
    )
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
    let viewer = page::Viewer {
        name: &c.user.name,
        role: &c.user.role,
        csrf: &c.csrf,
    };
    Answer::Page(
        status,
        page::frame("Change your password", Some(&viewer), notice, &body),
    )
    .into()
}

/// `GET /portal/password`.
pub fn password_form(state: &PortalState, req: &PortalRequest) -> Reply {
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
pub fn password_submit(state: &PortalState, req: &PortalRequest) -> Reply {
    let c = match super::logged_in(state, req, crate::service::admin_token::Role::Auditor) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = super::check_post(req, &c) {
        return r;
    }
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
