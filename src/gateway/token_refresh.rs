//! Upstream `token` mode, when Oracle refuses the token (401): the cached token is dropped
//! (only that one: a newer token another request fetched meanwhile is kept), and a request
//! without a body that may be repeated is retried once with a freshly fetched token. Anything
//! else gets Oracle's 401, and the next request fetches a fresh token.

use pingora::proxy::Session;
use pingora::{Error, ErrorType};

use crate::app::{App, TenantRuntime};
use crate::gateway::context::RequestCtx;
use crate::snapshot::GatewaySettings;
use crate::upstream::inject;

/// Looks at the upstream status; returns a retryable error when the request should be sent
/// again with the fresh token now in `ctx`.
pub async fn on_upstream_status(
    app: &App,
    session: &Session,
    ctx: &mut RequestCtx,
    status: u16,
) -> pingora::Result<()> {
    if status != 401 {
        return Ok(());
    }
    let Some(used) = ctx.admission.as_mut().and_then(|a| a.upstream_token.take()) else {
        return Ok(());
    };
    app.upstream_tokens.invalidate(&used.key, used.generation);
    tracing::info!(request_id = %ctx.request_id, "upstream refused the gateway's token; dropped it");
    let repeatable = session.req_header().method.is_idempotent() && !ctx.has_body;
    if ctx.token_refreshed || !repeatable {
        return Ok(());
    }
    ctx.token_refreshed = true;
    let (compiled, view) = (&ctx.compiled, &ctx.view);
    let account = ctx
        .trace
        .principal
        .as_ref()
        .and_then(|p| p.account())
        .and_then(|a| view.account(a));
    let (Some(admission), Some(account)) = (ctx.admission.as_mut(), account) else {
        return Ok(());
    };
    let Some((tenant, runtime)) = compiled.tenant(admission.tenant) else {
        return Ok(());
    };
    let fresh = inject::upstream_token(
        token_source(app, runtime, &compiled.snapshot.gateway),
        tenant,
        account,
        |t, n| view.secret(t, n),
    )
    .await;
    match fresh {
        Ok(credential) => {
            admission.upstream_token = credential.token_use.clone();
            admission.credential = Some(credential);
            let mut e = Error::explain(
                ErrorType::Custom("upstream token refused"),
                "retrying once with a fresh upstream token",
            );
            e.set_retry(true);
            Err(e)
        }
        Err(d) => {
            tracing::warn!(request_id = %ctx.request_id, reason = d.reason.code(), "no fresh upstream token; passing Oracle's 401 on");
            Ok(())
        }
    }
}

/// Where `tenant`'s upstream token comes from: the app's cache and resolver, the tenant's
/// key, and a budget of the connect plus read timeout.
pub fn token_source<'a>(
    app: &'a App,
    runtime: &'a TenantRuntime,
    gateway: &GatewaySettings,
) -> inject::TokenSource<'a, impl FnOnce() -> Option<std::net::SocketAddr> + 'a> {
    inject::TokenSource {
        tokens: &app.upstream_tokens,
        cipher: &runtime.cipher,
        pick_addr: move || app.resolved.pick(&runtime.addr_key),
        timeout: gateway.upstream_connect_timeout + gateway.upstream_read_timeout,
    }
}
