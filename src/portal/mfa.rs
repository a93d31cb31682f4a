//! The second factor: a TOTP code (each step good once) or a recovery code (used up), and
//! the enrolment of a TOTP secret — when it is due at a login, or an auditor's own choice.
//! Failures count against the user and the client address like a password's; every code
//! accepted or refused and every enrolment is audited, never with a code in it.

use std::time::Instant;

use serde_json::json;

use super::login::{keys, lock_settings, locked_page, start_session};
use super::page::{self, esc, Answer, Notice};
use super::session::{self, Current};
use super::{record, PortalRequest, PortalState, Reply};
use crate::auth::lockout::{LockKey, Outcome, Refusal};
use crate::crypto::{totp, SealContext};

/// How many recovery codes an enrolment gives.
const RECOVERY_CODES: usize = 10;

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
pub fn form(state: &PortalState, req: &PortalRequest) -> Reply {
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
pub fn submit(state: &PortalState, req: &PortalRequest) -> Reply {
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
