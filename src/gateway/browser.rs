//! Step 2 for a browser in an Oracle user's session (Page Integration): the session cookie
//! names a session started by a verified launch token; a request that changes something must
//! also carry the gateway page's own header and `Origin` (a page on another site can send
//! neither: the cookie is `SameSite=Strict`, the header needs a preflight the gateway refuses
//! to other origins). The caller is then that Oracle user, admitted like one: catalog, policy
//! (`user:NAME`, `role:NAME`), schedule, kill switch, redaction, and an assertion for that
//! user upstream.
//!
//! Reason codes: `auth.invalid` (`session_malformed`, `session_unknown`,
//! `credential_ambiguous`, `session_tenant_gone`; on the Bearer path `jwt_launch_token`),
//! `auth.expired` (`session_expired`, `session_ended`), `session.csrf`.

use std::sync::Arc;

use crate::app::{App, Compiled};
use crate::auth::{AuthKind, Caller, Principal};
use crate::directory::DirectoryView;
use crate::gateway::deny::{Deny, Reason};
use crate::jwt::inbound::OracleIdentity;
use crate::session::browser::{SessionRefusal, COOKIE, CSRF_HEADER};
use crate::snapshot::{PageIntegration, Tenant, TenantId};
use crate::store::StoredBrowserSession;

/// Whether the request carries a browser session cookie (any value): such a request is
/// judged by its session, never by anything else it presents.
pub fn presents_session(headers: &http::HeaderMap) -> bool {
    headers.get_all(http::header::COOKIE).iter().any(|v| {
        v.as_bytes()
            .windows(COOKIE.len())
            .any(|w| w == COOKIE.as_bytes())
    })
}

/// A browser session found for a request, with its tenant.
pub struct Found<'c> {
    /// The stored session.
    pub session: Arc<StoredBrowserSession>,
    /// Its tenant's id.
    pub tenant_id: TenantId,
    /// Its tenant.
    pub tenant: &'c Tenant,
    /// The tenant's Page Integration settings.
    pub page: &'c PageIntegration,
    /// The keyed hash of the session id.
    pub hash: [u8; 32],
}

/// The session named by the request's cookie, still good at `now` and on a tenant that still
/// has Page Integration.
pub fn find<'c>(
    app: &App,
    compiled: &'c Compiled,
    view: &DirectoryView,
    headers: &http::HeaderMap,
    now: i64,
) -> Result<Found<'c>, Deny> {
    let cookies = crate::session::cookie_headers(headers);
    let id = crate::session::cookie_id(&cookies, COOKIE)
        .ok_or(Deny::with_detail(Reason::AuthInvalid, "session_malformed"))?;
    let hash = app.browser.hash(&id);
    let session = app.browser.find(view, &hash, now).map_err(|r| match r {
        SessionRefusal::Unknown => Deny::with_detail(Reason::AuthInvalid, "session_unknown"),
        SessionRefusal::Ended => Deny::with_detail(Reason::AuthExpired, "session_ended"),
        SessionRefusal::Expired => Deny::with_detail(Reason::AuthExpired, "session_expired"),
    })?;
    let (tenant_id, tenant) =
        compiled
            .snapshot
            .tenant(&session.tenant)
            .ok_or(Deny::with_detail(
                Reason::AuthInvalid,
                "session_tenant_gone",
            ))?;
    let page = tenant.page_integration.as_ref().ok_or(Deny::with_detail(
        Reason::AuthInvalid,
        "session_tenant_gone",
    ))?;
    Ok(Found {
        hash,
        session,
        tenant_id,
        tenant,
        page,
    })
}

impl Found<'_> {
    /// The session's Oracle user as the chain's caller.
    pub fn principal(&self) -> Principal {
        Principal {
            kind: AuthKind::BrowserSession,
            caller: Caller::OracleUser(Arc::new(OracleIdentity {
                tenant: self.tenant_id.0 as usize,
                user: self.session.oracle_user.clone(),
                roles: self.session.roles.clone(),
                exp: self.session.expires_at,
            })),
            cache_hit: false,
            token: None,
        }
    }
}

/// The cross-site request forgery defence: a method other than GET, HEAD or OPTIONS needs
/// the `X-Erpgate-Csrf` header and an `Origin` that is the gateway's own (the tenant's
/// `page_integration.origin`); any request that names an `Origin` must name that one. The
/// tenant's CORS origins do not count: a page on another origin of the same site gets the
/// `SameSite=Strict` cookie, and must not get to act in the session.
pub fn check_origin(
    method: &[u8],
    headers: &http::HeaderMap,
    page: &PageIntegration,
) -> Result<(), Deny> {
    let origin = headers.get(http::header::ORIGIN).map(|o| o.as_bytes());
    let allowed = |o: &[u8]| o.eq_ignore_ascii_case(page.origin.as_bytes());
    if origin.is_some_and(|o| !allowed(o)) {
        return Err(Deny::with_detail(Reason::SessionCsrf, "origin_not_allowed"));
    }
    let safe = matches!(method, b"GET" | b"HEAD" | b"OPTIONS");
    if !safe {
        if origin.is_none() {
            return Err(Deny::with_detail(Reason::SessionCsrf, "origin_missing"));
        }
        let marked = headers
            .get(CSRF_HEADER)
            .is_some_and(|v| v.as_bytes() == b"1");
        if !marked {
            return Err(Deny::with_detail(
                Reason::SessionCsrf,
                "csrf_header_missing",
            ));
        }
    }
    Ok(())
}

/// A verified Oracle user token presented as `Bearer` that started a browser session (on any
/// gateway of the store, once its view shows it; at once on this one) is refused: it
/// travelled in a URL, and once launched it is the session's, never an API credential. Every
/// tenant's tokens are checked, also after a reload removed the tenant's Page Integration.
pub fn not_launched(app: &App, view: &DirectoryView, token: &str, now: i64) -> Result<(), Deny> {
    if app.browser.launched_token(view, token.as_bytes(), now) {
        return Err(Deny::with_detail(Reason::AuthInvalid, "jwt_launch_token"));
    }
    Ok(())
}

/// Step 2 for a request with a session cookie: the Oracle user of its session. Refused
/// when it also presents another credential (`credential_ambiguous`).
pub fn authenticate(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    method: &[u8],
    headers: &http::HeaderMap,
    other_credential: bool,
    now: i64,
) -> Result<Principal, Deny> {
    if other_credential {
        return Err(Deny::with_detail(
            Reason::AuthInvalid,
            "credential_ambiguous",
        ));
    }
    let found = find(app, compiled, view, headers, now)?;
    check_origin(method, headers, found.page)?;
    Ok(found.principal())
}
