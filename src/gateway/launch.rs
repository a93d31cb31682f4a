//! Oracle users in the browser, the way in: Oracle's Page Integration sends the user to a
//! tenant's launch path with a signed user token in a query parameter (the Secure
//! Destination's token name). The token is a credential in a URL, so:
//!
//! - the query must be exactly that one parameter, once, of the token's own alphabet, and no
//!   longer than the tenant's `inbound_jwt.max_token_bytes` (a second parameter, a second
//!   token, a fragment or an encoded token is refused and starts nothing);
//! - it is verified with the tenant's own `inbound_jwt` trust, exactly as a Bearer token is
//!   (pinned RS256, trusted certificates, issuer, audience, skew): another tenant's token is
//!   refused here. With `page_integration.audience`, launch tokens must carry that audience
//!   instead, and the Bearer path refuses any token that does;
//! - once it has started a session it is refused on the Bearer path too, until it expires;
//! - it starts at most one session, on every gateway of the store (its keyed hash and its
//!   `jti` are unique in the store): a replay is refused;
//! - the answer is a `303` to the same path without the token, with `Referrer-Policy:
//!   no-referrer`, so it leaves the address bar, history, bookmarks and `Referer`;
//! - the audit record names the token by the first 12 hex characters of its keyed hash, the
//!   user and the outcome, and never holds the query (nor does any log line or metric).
//!
//! Refusals are an HTML page saying what to do (open the page again from Oracle), with the
//! reason code and request id; nothing else about the token is told.
//!
//! Reason codes: `launch.refused` (the token did not verify; `launch_query`, `fragment`,
//! `too_large` and the JWT checks' own details), `launch.replayed`, `killswitch.on`,
//! `method.not_allowed`, `gateway.internal` (the session could not be stored).

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::app::App;
use crate::gateway::context::{Decision, RequestCtx};
use crate::gateway::deny::{Deny, Reason};
use crate::jwt::JwtError;
use crate::snapshot::{PageIntegration, Snapshot, TenantId};
use crate::store::StoredBrowserSession;

/// What a request to a launch path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The launch path with a query: a launch.
    Launch,
    /// The launch path without a query: the viewer page.
    Viewer,
    /// `LAUNCH/session`: the session's user and what they may call (JSON).
    SessionInfo,
    /// `LAUNCH/end`: ends the session (POST).
    End,
    /// `LAUNCH/viewer.js`.
    Script,
    /// `LAUNCH/viewer.css`.
    Style,
}

/// The tenant and route of a request to one of the launch paths, compared byte for byte
/// with the raw path (no decoding: another spelling is not a launch path, and goes on to the
/// relay's canonical-path check).
pub fn route(snapshot: &Snapshot, raw: &[u8]) -> Option<(TenantId, Route)> {
    let cut = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let (path, rest) = raw.split_at(cut);
    for (i, t) in snapshot.tenants.iter().enumerate() {
        let Some(pi) = &t.page_integration else {
            continue;
        };
        let Some(sub) = path.strip_prefix(pi.launch_path.as_bytes()) else {
            continue;
        };
        let route = match sub {
            b"" if rest.is_empty() => Route::Viewer,
            b"" => Route::Launch,
            b"/session" => Route::SessionInfo,
            b"/end" => Route::End,
            b"/viewer.js" => Route::Script,
            b"/viewer.css" => Route::Style,
            _ => continue,
        };
        return Some((TenantId(i as u32), route));
    }
    None
}

/// The token of a launch query: exactly one parameter, named `param`, once, whose value is a
/// compact JWT's alphabet (`A-Z a-z 0-9 - _ .`) and at most `max` bytes.
pub fn launch_token<'q>(rest: &'q [u8], param: &str, max: usize) -> Result<&'q [u8], Deny> {
    if rest.contains(&b'#') {
        return Err(Deny::with_detail(Reason::LaunchRefused, "fragment"));
    }
    let query = rest.strip_prefix(b"?").unwrap_or(rest);
    let mut pairs = query.split(|&b| b == b'&');
    let (Some(only), None) = (pairs.next(), pairs.next()) else {
        return Err(Deny::with_detail(Reason::LaunchRefused, "launch_query"));
    };
    let mut kv = only.splitn(2, |&b| b == b'=');
    let (Some(name), Some(value)) = (kv.next(), kv.next()) else {
        return Err(Deny::with_detail(Reason::LaunchRefused, "launch_query"));
    };
    if name != param.as_bytes() || value.is_empty() {
        return Err(Deny::with_detail(Reason::LaunchRefused, "launch_query"));
    }
    if value.len() > max {
        return Err(Deny::with_detail(Reason::LaunchRefused, "too_large"));
    }
    if !value
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Deny::with_detail(Reason::LaunchRefused, "launch_query"));
    }
    Ok(value)
}

/// What the trail keeps of a request's query `q` (path `path`): nothing on a launch path
/// (its query is a launch token, or a mistake carrying one); elsewhere `q` with sensitive
/// values masked, every tenant's launch token parameter among them.
pub fn recorded_query(snapshot: &Snapshot, path: &[u8], q: &str) -> Option<String> {
    let mut params: Vec<&str> = Vec::new();
    for pi in snapshot
        .tenants
        .iter()
        .filter_map(|t| t.page_integration.as_ref())
    {
        if path.starts_with(pi.launch_path.as_bytes()) {
            return None;
        }
        params.push(&pi.token_parameter);
    }
    Some(crate::audit::record::mask_query_with(q, &params))
}

/// The `jti` of a verified token's payload, when it has a usable one.
fn jti(token: &[u8]) -> Option<String> {
    let payload = token.split(|&b| b == b'.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&crate::jwt::b64::decode(payload)?).ok()?;
    claims
        .get("jti")?
        .as_str()
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .map(str::to_string)
}

/// Answers a request to tenant `tenant`'s launch path. Always sends a response. No launch
/// path reads a request body: a request that carries one loses keep-alive (its unread bytes
/// are never parsed as a next request), and what is left of it is drained after the answer.
pub async fn handle(
    app: &App,
    session: &mut Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
    route: Route,
) -> pingora::Result<()> {
    ctx.launch_path = true;
    ctx.trace.tenant = Some(tenant);
    if ctx.has_body {
        session.set_keepalive(None);
    }
    let sent = match route {
        Route::Launch => launch(app, session, ctx, tenant).await,
        other => super::viewer::handle(app, session, ctx, tenant, other).await,
    };
    if ctx.has_body && sent.is_ok() {
        super::respond::drain(session).await;
    }
    sent
}

async fn launch(
    app: &App,
    session: &mut Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
) -> pingora::Result<()> {
    let result = start(app, session, ctx, tenant).await;
    ctx.decided = Some(std::time::Instant::now());
    match result {
        Ok((id, path)) => {
            ctx.decision = Decision::Served;
            let mut h = ResponseHeader::build(303, Some(8))?;
            h.insert_header(http::header::LOCATION, path)?;
            h.insert_header(
                http::header::SET_COOKIE,
                crate::session::browser::set_cookie(id.expose()),
            )?;
            h.insert_header(http::header::CONTENT_LENGTH, "0")?;
            crate::redact::headers::apply(&mut h, &ctx.request_id, ctx.hsts.as_deref())?;
            // `apply` already says `no-referrer` and `no-store`; said again, on purpose.
            h.insert_header("referrer-policy", "no-referrer")?;
            h.insert_header(http::header::CACHE_CONTROL, "no-store")?;
            drop(id);
            session.write_response_header(Box::new(h), true).await
        }
        Err(deny) => refuse(session, ctx, tenant, deny).await,
    }
}

/// Verifies the launch and stores its session; the new session id (for the cookie only) and
/// the path to send the browser to.
async fn start(
    app: &App,
    session: &Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
) -> Result<(crate::crypto::SecretString, String), Deny> {
    let compiled = ctx.compiled.clone();
    let req = session.req_header();
    if req.method != http::Method::GET {
        return Err(Deny::with_detail(
            Reason::MethodNotAllowed,
            "launch_needs_get",
        ));
    }
    let (t, page, trust) = launch_settings(&compiled, tenant)?;
    let skew = trust.skew;
    let raw = req.raw_path();
    let rest = raw.get(page.launch_path.len()..).unwrap_or_default();
    let token = launch_token(rest, &page.token_parameter, trust.max_token_bytes)?;
    let launch_hash = app.browser.launch_hash(token);
    ctx.launch_token = launch_hash.get(..12).map(str::to_string);
    if ctx.view.killswitch() {
        return Err(Deny::new(Reason::KillSwitchOn));
    }
    let now = chrono::Utc::now().timestamp();
    // The launch tokens' own audience when configured (the Bearer path refuses it), else
    // the Bearer path's.
    let mut trust = trust.clone();
    if let Some(a) = &page.audience {
        trust.audience = Some(a.clone());
    }
    trust.refused_audience = None;
    let trusted = [(tenant.0 as usize, trust)];
    let identity = crate::jwt::inbound::verify(token, &trusted, now).map_err(|e| {
        Deny::with_detail(
            Reason::LaunchRefused,
            match e {
                JwtError::Issuer => "jwt_issuer_not_this_tenant",
                other => other.as_str(),
            },
        )
    })?;
    let identity = std::sync::Arc::new(identity);
    ctx.trace.principal = Some(crate::auth::Principal {
        kind: crate::auth::AuthKind::BrowserSession,
        caller: crate::auth::Caller::OracleUser(identity.clone()),
        cache_hit: false,
        token: None,
    });
    let expires_at = identity.exp.min(now.saturating_add(page.session_max));
    if expires_at <= now {
        return Err(Deny::with_detail(Reason::LaunchRefused, "expired"));
    }
    let id = crate::session::new_id().map_err(|e| {
        tracing::error!(error = %e, "cannot make a browser session id");
        Deny::new(Reason::Internal)
    })?;
    let stored = StoredBrowserSession {
        session_hash: app.browser.hash(id.expose()),
        tenant: t.to_string(),
        oracle_user: identity.user.clone(),
        roles: identity.roles.clone(),
        created_at: now,
        expires_at,
        keep_until: identity
            .exp
            .saturating_add(skew)
            .saturating_add(KEEP_MARGIN)
            .max(expires_at),
        launch_hash,
        jti_key: jti(token).map(|j| app.browser.jti_key(t, &j)),
        ended_at: None,
    };
    let row = stored.clone();
    let fresh = app
        .store_write(move |s| s.insert_browser_session(&row))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot store a browser session; none started");
            Deny::with_detail(Reason::Internal, "session_store_failed")
        })?;
    if !fresh {
        return Err(Deny::new(Reason::LaunchReplayed));
    }
    app.browser.remember(stored, now);
    Ok((id, page.launch_path.clone()))
}

/// How much longer than its token can verify (`exp` plus the trust's skew) a session's row is
/// kept: every gateway sweeps by its own clock, and a gateway whose clock runs ahead must not
/// forget a launch another gateway would still accept as new (the replay check), nor the
/// token the Bearer path refuses.
const KEEP_MARGIN: i64 = 300;

/// Tenant `tenant`'s name, launch settings and inbound trust.
fn launch_settings(
    compiled: &crate::app::Compiled,
    tenant: TenantId,
) -> Result<(&str, &PageIntegration, &crate::jwt::inbound::InboundTrust), Deny> {
    let t = compiled
        .snapshot
        .tenants
        .get(tenant.0 as usize)
        .ok_or(Deny::new(Reason::Internal))?;
    match (&t.page_integration, &t.inbound) {
        (Some(p), Some(i)) => Ok((&t.name, p, i)),
        _ => Err(Deny::new(Reason::Internal)),
    }
}

/// Answers a refused launch (or viewer request) with the error page, and records why.
pub(super) async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
    deny: Deny,
) -> pingora::Result<()> {
    ctx.decision = Decision::Denied(deny);
    let style = ctx
        .compiled
        .snapshot
        .tenants
        .get(tenant.0 as usize)
        .and_then(|t| t.page_integration.as_ref())
        .map(|p| format!("{}/viewer.css", p.launch_path))
        .unwrap_or_default();
    let body = super::viewer::error_page(&style, deny.reason, &ctx.request_id);
    send(
        session,
        ctx,
        deny.reason.status(),
        "text/html; charset=utf-8",
        Bytes::from(body),
        &[],
    )
    .await
}

/// The viewer's and the error page's Content-Security-Policy: the gateway's own script and
/// style, requests to the gateway only, never framed.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Sends a gateway-made answer: the security headers, then `extra`, then the body.
pub(super) async fn send(
    session: &mut Session,
    ctx: &RequestCtx,
    status: u16,
    content_type: &str,
    body: Bytes,
    extra: &[(&str, String)],
) -> pingora::Result<()> {
    let mut h = ResponseHeader::build(status, Some(8))?;
    h.insert_header(http::header::CONTENT_TYPE, content_type)?;
    h.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    crate::redact::headers::apply(&mut h, &ctx.request_id, ctx.hsts.as_deref())?;
    if content_type.starts_with("text/html") {
        h.insert_header("content-security-policy", PAGE_CSP)?;
    }
    for (name, value) in extra {
        h.insert_header(name.to_string(), value.as_str())?;
    }
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_query_is_one_token_parameter_and_nothing_else() {
        let ok = launch_token(b"?jwt=aB-_.9", "jwt", 100).expect("ok");
        assert_eq!(ok, b"aB-_.9");
        for (bad, detail) in [
            (&b"?jwt=a&jwt=b"[..], "launch_query"),
            (b"?jwt=a&x=b", "launch_query"),
            (b"?x=a&jwt=b", "launch_query"),
            (b"?x=a", "launch_query"),
            (b"?jwt=", "launch_query"),
            (b"?jwt", "launch_query"),
            (b"?jwt=a%2Eb", "launch_query"),
            (b"?jwt=a+b", "launch_query"),
            (b"?JWT=a", "launch_query"),
            (b"?jwt=a#b", "fragment"),
            (b"?", "launch_query"),
        ] {
            assert_eq!(
                launch_token(bad, "jwt", 100).err().and_then(|d| d.detail),
                Some(detail),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            launch_token(b"?jwt=aaaa", "jwt", 3)
                .err()
                .and_then(|d| d.detail),
            Some("too_large")
        );
    }
}
