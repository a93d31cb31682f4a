//! `POST /gateway/token`: a caller proves an issued credential set (Basic or x-api-key) and
//! receives a short-lived bearer token bound to that set.
//!
//! Guessing is made expensive: every failed proof from one credential identifier or client
//! address delays the answer longer, and the `token_max_failures`-th locks both out for
//! `token_lockout_seconds` (429 `auth.locked`). Every attempt, issued or refused, becomes a
//! `token` audit record carrying the token's truncated id, never the token.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::app::{App, Compiled};
use crate::auth::presented::{self, Presented};
use crate::auth::tokens;
use crate::directory::DirectoryView;
use crate::gateway::context::{Decision, RequestCtx};
use crate::gateway::deny::{Deny, Reason};
use crate::gateway::respond;

/// The token endpoint's path.
pub const PATH: &[u8] = b"/gateway/token";

/// Whether `raw_path` (path and query as received) addresses the token endpoint.
pub fn is_token_request(raw_path: &[u8]) -> bool {
    let path = raw_path.split(|&b| b == b'?').next().unwrap_or_default();
    path == PATH
}

/// Answers a token request. Always sends a response.
pub async fn handle(
    app: &App,
    session: &mut Session,
    ctx: &mut RequestCtx,
    compiled: &Arc<Compiled>,
    view: &Arc<DirectoryView>,
) -> pingora::Result<()> {
    ctx.token_endpoint = true;
    let result = issue(app, session, ctx, compiled, view).await;
    ctx.decided = Some(Instant::now());
    match result {
        Ok((token, ttl)) => {
            ctx.decision = Decision::TokenIssued;
            let body = Bytes::from(
                serde_json::json!({
                    "access_token": token.expose(),
                    "token_type": "Bearer",
                    "expires_in": ttl,
                })
                .to_string(),
            );
            drop(token);
            let mut header = ResponseHeader::build(200, Some(6))?;
            header.insert_header(http::header::CONTENT_TYPE, "application/json")?;
            header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
            header.insert_header("X-Request-Id", ctx.request_id.as_str())?;
            crate::redact::headers::apply(&mut header, &ctx.request_id, ctx.hsts.as_deref())?;
            header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
            header.insert_header(http::header::PRAGMA, "no-cache")?;
            if ctx.has_body {
                session.set_keepalive(None);
            }
            session
                .write_response_header(Box::new(header), false)
                .await?;
            session.write_response_body(Some(body), true).await?;
            Ok(())
        }
        Err(d) => respond::deny(session, ctx, d).await,
    }
}

async fn issue(
    app: &App,
    session: &Session,
    ctx: &mut RequestCtx,
    compiled: &Compiled,
    view: &DirectoryView,
) -> Result<(crate::crypto::SecretString, i64), Deny> {
    let req = session.req_header();
    if req.method != http::Method::POST {
        return Err(Deny::with_detail(
            Reason::MethodNotAllowed,
            "token_needs_post",
        ));
    }
    if view.killswitch() {
        return Err(Deny::new(Reason::KillSwitchOn));
    }
    let authorization: Vec<&[u8]> = req
        .headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let api_key: Vec<&[u8]> = req
        .headers
        .get_all("x-api-key")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let presented = presented::parse(&authorization, &api_key)
        .map_err(|_| Deny::with_detail(Reason::AuthInvalid, "credential_malformed"))?;
    let who = match &presented {
        Presented::Nothing => return Err(Deny::new(Reason::AuthMissing)),
        Presented::Bearer(_) => {
            return Err(Deny::with_detail(Reason::AuthInvalid, "token_from_bearer"))
        }
        Presented::Basic { .. } => presented
            .basic_parts()
            .map(|(u, _)| format!("cred:user:{}", String::from_utf8_lossy(u)))
            .unwrap_or_default(),
        Presented::ApiKey(k) => format!(
            "cred:key:{}",
            crate::crypto::parse_api_key(k).map_or("malformed", |p| p.id)
        ),
    };
    let ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| format!("ip:{}", a.ip()))
        .unwrap_or_else(|| "ip:unknown".into());
    let keys = [who.as_str(), ip.as_str()];
    let now = Instant::now();
    if let Err(secs) = app.auth.lockout.check(&keys, now) {
        let mut d = Deny::with_detail(Reason::AuthLocked, "token_locked_out");
        d.retry_after = Some(secs);
        return Err(d);
    }
    let principal = match app.auth.authenticate(&presented, view).await {
        Ok(p) => p,
        Err(d) => {
            drop(presented);
            if d.reason == Reason::AuthInvalid {
                let delay = app.auth.lockout.failed(&keys, now);
                if let Err(secs) = app.auth.lockout.check(&keys, Instant::now()) {
                    tracing::warn!(request_id = %ctx.request_id, "token endpoint: lockout after repeated failures");
                    let mut locked = Deny::with_detail(Reason::AuthLocked, "token_locked_out");
                    locked.retry_after = Some(secs);
                    return Err(locked);
                }
                tokio::time::sleep(delay).await;
            }
            return Err(d);
        }
    };
    drop(presented);
    app.auth.lockout.succeeded(&who);
    ctx.trace.principal = Some(principal.clone());
    let credential = principal
        .credential()
        .and_then(|c| view.credential(c))
        .ok_or(Deny::new(Reason::Internal))?;
    if let Some(a) = principal.account().and_then(|a| view.account(a)) {
        ctx.trace.tenant = compiled.snapshot.tenant(&a.tenant).map(|(id, _)| id);
    }
    let ttl = compiled.snapshot.gateway.token_ttl_seconds;
    let unix = chrono::Utc::now().timestamp();
    let minted = tokens::mint(app.auth.token_hasher(), &credential.id, ttl, unix).map_err(|e| {
        tracing::error!(error = %e, "cannot mint a gateway token");
        Deny::new(Reason::Internal)
    })?;
    app.store_token(&minted.stored).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store a gateway token; none issued");
        Deny::with_detail(Reason::Internal, "token_store_failed")
    })?;
    app.auth.issued.remember(minted.stored.clone(), unix);
    ctx.issued_token = Some(minted.stored.id.clone());
    Ok((minted.token, ttl))
}
