//! The operator portal: server-rendered pages under `/portal/` on the admin listener
//! (`gateway.portal = true`), never on the public relay listener, so the kill switch and the
//! schedule never lock the operators out. People log in with a portal user's password and,
//! for owners and admins, a TOTP second factor; what they change goes through the same
//! service operations as the CLI and the admin API, audited with `portal:<user>` as actor and
//! visible to the relay at once.
//!
//! Every state-changing request is a POST carrying the session's form token and an `Origin`
//! equal to the portal's own; pages send a CSP without inline script or style and
//! `frame-ancestors 'none'`.

mod accounts;
mod audit;
mod fetch;
mod form;
mod login;
mod mfa;
mod oidc;
mod overview;
mod page;
mod password;
mod policies;
pub mod session;
mod settings;
mod tokens;
mod users;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use crate::app::App;
use crate::auth::lockout::Lockout;
use crate::crypto::{HashPurpose, PasswordHasher};
use crate::service::admin_token::Role;
use crate::store::Store;
use form::Form;
use page::Answer;
use session::{Current, Sessions};

/// The largest form the portal reads.
const MAX_FORM: usize = 16 * 1024;

/// The portal's content security policy: nothing inline, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What every portal request can reach.
pub struct PortalState {
    app: Arc<App>,
    store: Mutex<Store>,
    sessions: Sessions,
    recovery: crate::crypto::KeyedHasher,
    /// The relay's own hasher: one argon2 work area, freed by the poller's sweep when idle.
    passwords: Arc<PasswordHasher>,
    /// Failed logins and second-factor codes, per user and per address.
    lockout: Lockout,
}

impl PortalState {
    /// The portal of the gateway `app`, with a store connection of its own.
    pub fn new(app: Arc<App>) -> Result<PortalState, crate::store::StoreError> {
        let db = app.compiled.load().snapshot.gateway.database.clone();
        let store = Store::connect(&db)?;
        let master = app.master();
        Ok(PortalState {
            sessions: Sessions::new(master.keyed_hasher(HashPurpose::PortalSession)),
            recovery: master.keyed_hasher(HashPurpose::PortalRecovery),
            lockout: Lockout::new(10_000, master.keyed_hasher(HashPurpose::Lockout)),
            passwords: app.auth.passwords().clone(),
            store: Mutex::new(store),
            app,
        })
    }

    /// The store connection, reopened when it was lost.
    fn store(&self) -> Result<std::sync::MutexGuard<'_, Store>, Answer> {
        let mut guard = self.store.lock().map_err(|_| unavailable())?;
        if guard.is_closed() {
            let db = self.app.compiled.load().snapshot.gateway.database.clone();
            *guard = Store::connect(&db).map_err(|e| {
                tracing::error!(error = %e, "portal cannot reconnect to the store");
                unavailable()
            })?;
        }
        Ok(guard)
    }

    fn settings(&self) -> crate::snapshot::PortalSettings {
        self.app
            .compiled
            .load()
            .snapshot
            .gateway
            .portal
            .clone()
            .unwrap_or(crate::snapshot::PortalSettings {
                session_max: std::time::Duration::from_secs(12 * 3600),
                idle: std::time::Duration::from_secs(1800),
                mfa_for_auditors: false,
                hosts: Vec::new(),
                oidc: None,
            })
    }
}

fn unavailable() -> Answer {
    Answer::Page(
        503,
        page::frame(
            "Unavailable",
            None,
            Some(page::Notice::Error(
                "The portal cannot reach its database right now. Try again shortly.",
            )),
            "",
        ),
    )
}

/// One portal request as the pages see it. `Debug` is not derived: the form may hold a
/// password.
pub struct PortalRequest {
    method: hyper::Method,
    path: String,
    query: Vec<(String, String)>,
    cookie: Option<String>,
    /// The sign-in state cookie of an OpenID Connect round trip.
    oidc_cookie: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    form: Form,
    peer: Option<IpAddr>,
}

impl PortalRequest {
    fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `Origin` is the portal's own (`http` or `https` with the request's `Host`).
    fn same_origin(&self) -> bool {
        match (&self.origin, &self.host) {
            (Some(o), Some(h)) => {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
                    == Some(h.as_str())
            }
            _ => false,
        }
    }
}

/// What a handler answers, with the cookie to set when the session changes.
pub struct Reply {
    answer: Answer,
    cookies: Vec<String>,
}

impl From<Answer> for Reply {
    fn from(answer: Answer) -> Reply {
        Reply {
            answer,
            cookies: Vec::new(),
        }
    }
}

/// Whether `path` is the portal's.
pub fn owns(path: &str) -> bool {
    path == "/portal" || path.starts_with("/portal/")
}

/// Serves one portal request.
pub async fn serve(
    state: Arc<PortalState>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let reply = match read(req).await {
        Ok(r) => tokio::task::spawn_blocking(move || route(&state, &r))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "portal handler failed");
                Reply::from(unavailable())
            }),
        Err(a) => Reply::from(a),
    };
    respond(reply)
}

fn bad_request(why: &str) -> Answer {
    Answer::Page(
        400,
        page::frame("Bad request", None, Some(page::Notice::Error(why)), ""),
    )
}

async fn read(req: hyper::Request<hyper::body::Incoming>) -> Result<PortalRequest, Answer> {
    let peer = req
        .extensions()
        .get::<crate::listen::Peer>()
        .map(|p| p.0.ip());
    let (parts, body) = req.into_parts();
    let header = |name: hyper::header::HeaderName| {
        let mut values = parts.headers.get_all(&name).iter();
        let first = values
            .next()
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A header given twice is not believed.
        if values.next().is_some() {
            return None;
        }
        first
    };
    let cookies: Vec<&str> = parts
        .headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let cookie = session::cookie_id(&cookies);
    let oidc_cookie = session::cookie_named(&cookies, oidc::COOKIE);
    let mut form = Form::default();
    if parts.method == hyper::Method::POST {
        let body = Limited::new(body, MAX_FORM)
            .collect()
            .await
            .map_err(|_| bad_request("The form is too large."))?
            .to_bytes();
        form = Form::parse(&body).map_err(bad_request)?;
    }
    Ok(PortalRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: crate::path::query_pairs(parts.uri.query().unwrap_or("")),
        cookie,
        oidc_cookie,
        origin: header(hyper::header::ORIGIN),
        host: header(hyper::header::HOST),
        form,
        peer,
    })
}

/// The session of a request that must be fully logged in with at least `role`: a login page
/// redirect when there is none, a refusal when the role falls short.
fn logged_in(state: &PortalState, req: &PortalRequest, role: Role) -> Result<Current, Reply> {
    let current = session_of(state, req)?;
    match current {
        Some(c) if c.full => {
            if Role::parse(&c.user.role).is_some_and(|r| r >= role) {
                Ok(c)
            } else {
                Err(Reply::from(Answer::Page(
                    403,
                    page::frame(
                        "Not allowed",
                        None,
                        Some(page::Notice::Error(&format!(
                            "This page needs the {} role.",
                            role.as_str()
                        ))),
                        r#"<p><a href="/portal/overview">Back to the overview</a></p>"#,
                    ),
                )))
            }
        }
        Some(_) => Err(Reply::from(Answer::Redirect("/portal/mfa".into()))),
        None => Err(Reply::from(Answer::Redirect("/portal/login".into()))),
    }
}

/// The session the request's cookie names, if still good.
fn session_of(state: &PortalState, req: &PortalRequest) -> Result<Option<Current>, Reply> {
    let Some(id) = &req.cookie else {
        return Ok(None);
    };
    let s = state.settings();
    let store = state.store().map_err(Reply::from)?;
    state
        .sessions
        .find(&store, id, s.session_max, s.idle)
        .map_err(|e| {
            tracing::error!(error = %e, "portal session lookup failed");
            Reply::from(unavailable())
        })
}

/// The session of a state-changing request: logged in with at least `role` ([`logged_in`]),
/// from the portal's own origin with the session's form token ([`check_post`]).
fn posted(state: &PortalState, req: &PortalRequest, role: Role) -> Result<Current, Reply> {
    let c = logged_in(state, req, role)?;
    check_post(req, &c)?;
    Ok(c)
}

/// A POST's guard: same origin and the session's form token.
fn check_post(req: &PortalRequest, current: &Current) -> Result<(), Reply> {
    let token = req.form.get("csrf").unwrap_or("");
    if !req.same_origin() || !crate::crypto::ct_eq(token.as_bytes(), current.csrf.as_bytes()) {
        return Err(Reply::from(forbidden_form()));
    }
    Ok(())
}

fn forbidden_form() -> Answer {
    Answer::Page(
        403,
        page::frame(
            "Refused",
            None,
            Some(page::Notice::Error(
                "This form did not come from this portal page (its origin or form token is wrong). Reload the page and try again.",
            )),
            r#"<p><a href="/portal/overview">Back to the portal</a></p>"#,
        ),
    )
}

fn route(state: &PortalState, req: &PortalRequest) -> Reply {
    use hyper::Method as M;
    // Only the portal's own names: a page on another name that resolves here (DNS
    // rebinding) would otherwise pass the origin check, its Origin matching its Host.
    let host = req.host.as_deref().unwrap_or("").to_ascii_lowercase();
    if !state.settings().hosts.contains(&host) {
        return bad_request("This portal does not answer to that host name.").into();
    }
    let path = req.path.trim_end_matches('/');
    let m = &req.method;
    match (m, path) {
        (&M::GET, "/portal") => Answer::Redirect("/portal/overview".into()).into(),
        (&M::GET, "/portal/static/portal.css") => Answer::Asset("text/css", page::CSS).into(),
        (&M::GET, "/portal/static/portal.js") => Answer::Asset("text/javascript", page::JS).into(),
        (&M::GET, "/portal/login") => login::form(state, req),
        (&M::POST, "/portal/login") => login::submit(state, req),
        (&M::GET, "/portal/mfa") => mfa::form(state, req),
        (&M::POST, "/portal/mfa") => mfa::submit(state, req),
        (&M::GET, "/portal/mfa/setup") => mfa::setup_form(state, req),
        (&M::POST, "/portal/mfa/enroll") => mfa::enroll_submit(state, req),
        (&M::POST, "/portal/logout") => login::logout(state, req),
        (&M::GET, "/portal/oidc/start") => oidc::start(state, req),
        (&M::GET, "/portal/oidc/callback") => oidc::callback(state, req),
        (&M::GET, "/portal/overview") => overview::show(state, req),
        (&M::POST, "/portal/killswitch") => overview::killswitch(state, req),
        (&M::GET, "/portal/accounts") => accounts::list(state, req),
        (&M::POST, "/portal/accounts") => accounts::create(state, req),
        (&M::GET, "/portal/policies") => policies::show(state, req),
        (&M::GET, "/portal/audit") => audit::show(state, req),
        (&M::GET, "/portal/audit/record") => audit::record(state, req),
        (&M::GET, "/portal/audit/verify") => audit::verify(state, req),
        (&M::GET, "/portal/audit/export") => audit::export(state, req),
        (&M::GET, "/portal/settings") => settings::show(state, req),
        (&M::POST, "/portal/settings/reload") => settings::reload(state, req),
        (&M::GET, p) if p.starts_with("/portal/accounts/") => {
            match segments(p, "/portal/accounts/")[..] {
                [name] => accounts::show(state, req, name),
                _ => not_found(),
            }
        }
        (&M::POST, p) if p.starts_with("/portal/accounts/") => {
            match segments(p, "/portal/accounts/")[..] {
                [name, action] => accounts::act(state, req, name, action),
                _ => not_found(),
            }
        }
        (&M::POST, p) if p.starts_with("/portal/credentials/") => {
            match segments(p, "/portal/credentials/")[..] {
                [id, "revoke"] => accounts::revoke(state, req, id),
                _ => not_found(),
            }
        }
        (&M::GET, "/portal/tokens") => tokens::show(state, req),
        (&M::POST, p) if p.starts_with("/portal/tokens/") => {
            tokens::act(state, req, &segments(p, "/portal/tokens/"))
        }
        (&M::GET, "/portal/password") => password::form(state, req),
        (&M::POST, "/portal/password") => password::submit(state, req),
        (&M::GET, "/portal/users") => users::list(state, req),
        (&M::POST, "/portal/users") => users::create(state, req),
        (&M::POST, p) if p.starts_with("/portal/users/") => users::act(state, req, p),
        _ => not_found(),
    }
}

/// The `/`-separated segments of `path` after `prefix`.
fn segments<'p>(path: &'p str, prefix: &str) -> Vec<&'p str> {
    path.strip_prefix(prefix).unwrap_or("").split('/').collect()
}

fn not_found() -> Reply {
    Answer::Page(
        404,
        page::frame(
            "Not found",
            None,
            None,
            r#"<p>No such portal page. <a href="/portal/overview">Go to the overview</a>.</p>"#,
        ),
    )
    .into()
}

fn respond(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let download = match &reply.answer {
        Answer::Download(name, _) => Some(format!("attachment; filename=\"{name}\"")),
        _ => None,
    };
    let (status, content_type, body, location) = match reply.answer {
        Answer::Page(status, html) => (status, "text/html; charset=utf-8", Bytes::from(html), None),
        Answer::Redirect(to) => (303, "text/plain; charset=utf-8", Bytes::new(), Some(to)),
        Answer::Asset(ct, text) => (200, ct, Bytes::from_static(text.as_bytes()), None),
        Answer::Download(_, ref data) => {
            (200, "application/x-ndjson", Bytes::from(data.clone()), None)
        }
    };
    let mut r = hyper::Response::new(Full::new(body));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    for (k, _, v) in &crate::redact::headers::SECURITY_HEADERS {
        h.insert(k.clone(), v.clone());
    }
    let set = |h: &mut hyper::HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(h, "content-type", content_type);
    set(h, "content-security-policy", CSP);
    // Not `no-referrer`: with it a browser sends `Origin: null` on the portal's own forms,
    // and the origin check could not tell them from a forged one. `same-origin` still sends
    // no referrer to any other site.
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cache-control", "no-store");
    if let Some(to) = location {
        set(h, "location", &to);
    }
    if let Some(d) = download {
        set(h, "content-disposition", &d);
    }
    for c in &reply.cookies {
        if let Ok(v) = hyper::header::HeaderValue::from_str(c) {
            h.append(hyper::header::SET_COOKIE, v);
        }
    }
    r
}

/// Records a portal event (a login, a failure, a lockout, an enrolment) in the audit trail:
/// actor `portal:<user>`, the client address in the note, never a password or a code. `Err`
/// when the trail has no room (the caller refuses what it was about to allow).
fn record(
    state: &PortalState,
    user: &str,
    verb: &str,
    decision: &str,
    req: &PortalRequest,
    note: serde_json::Value,
) -> Result<(), ()> {
    let slot = reserve(state)?;
    send(slot, user, verb, decision, req, note);
    Ok(())
}

/// A place in the audit queue, taken before a change that must not happen unrecorded (a
/// recovery code used up, an enrolment stored).
fn reserve(state: &PortalState) -> Result<crate::audit::Slot, ()> {
    state.app.audit.reserve().map_err(|_| ())
}

/// Sends a portal event's record into a reserved place (see [`record`]).
fn send(
    slot: crate::audit::Slot,
    user: &str,
    verb: &str,
    decision: &str,
    req: &PortalRequest,
    mut note: serde_json::Value,
) {
    if let (Some(ip), Some(obj)) = (req.peer, note.as_object_mut()) {
        obj.insert("address".into(), serde_json::json!(ip.to_string()));
    }
    slot.send(crate::audit::AuditRecord {
        ts: crate::audit::record::now(),
        request_id: crate::crypto::random_id("ptl-", 8).unwrap_or_else(|_| "ptl".into()),
        kind: Some(crate::audit::Kind::Admin),
        actor: format!("portal:{user}"),
        method: verb.to_string(),
        path: format!("portal:{user}"),
        decision: decision.to_string(),
        note: Some(note),
        ..Default::default()
    });
}

/// The operator handle of a logged-in portal user: changes are audited as `portal:<name>`.
fn operator<'a>(
    state: &'a PortalState,
    store: &'a mut Store,
    current: &Current,
) -> crate::service::Operator<'a> {
    crate::service::Operator::live(
        store,
        &state.app,
        crate::service::Actor::named(format!("portal:{}", current.user.name)),
    )
}
