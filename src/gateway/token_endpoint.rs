//! `POST /gateway/token`: a caller proves an issued credential set (Basic or x-api-key) and
//! receives a short-lived bearer token bound to that set.
//!
//! Guessing is made expensive exactly as on the relay (`auth::proof`, one shared set of
//! counters): every failed proof from one credential or client address delays the answer
//! longer, the `token_max_failures`-th locks both out for `token_lockout_seconds` (429
//! `auth.locked`), and the lock is checked again after verification, before a token is
//! minted. Every attempt, issued or refused, becomes a `token` audit record carrying the
//! token's truncated id, never the token.

use std::time::Instant;

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use crate::app::{App, Compiled};
use crate::auth::presented::{self, Presented};
use crate::auth::tokens;
use crate::directory::DirectoryView;
use crate::gateway::client_ip;
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
pub async fn handle(app: &App, session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<()> {
    ctx.token_endpoint = true;
    let (compiled, view) = (ctx.compiled.clone(), ctx.view.clone());
    let result = issue(app, session, ctx, &compiled, &view).await;
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
    let (authorization, api_key) = super::admission::credential_fields(&req.headers);
    let presented = presented::parse(&authorization, &api_key)
        .map_err(|_| Deny::with_detail(Reason::AuthInvalid, "credential_malformed"))?;
    if let Presented::Bearer(_) = presented {
        return Err(Deny::with_detail(Reason::AuthInvalid, "token_from_bearer"));
    }
    // The lockout's per-address key is the client as the rest of the gateway sees it
    // (`gateway.trusted_proxies`), never a load balancer's address shared by everyone.
    let client = client_ip::of_session(session, &compiled.snapshot.gateway.trusted_proxies);
    let lockout = compiled.snapshot.gateway.token_lockout;
    let principal = app
        .auth
        .authenticate(&presented, view, client, lockout)
        .await;
    drop(presented);
    let principal = principal?;
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
