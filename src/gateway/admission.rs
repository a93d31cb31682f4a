//! `request_filter`'s two halves: the pre-admission guards (what every request passes before
//! anything it presented is looked at) and admission (the chain, then what only a relayed
//! request needs: its tenant's CORS origins and a body read whole before relaying).

use pingora::http::RequestHeader;
use pingora::proxy::Session;

use super::chain::{self, RequestInput};
use super::context::{Decision, RequestCtx};
use super::deny::{Deny, Reason};
use super::{body, client_ip, cors};
use crate::app::App;

/// How the request frames its body, once the guards have checked it.
#[derive(Clone, Copy, Debug)]
pub struct Framing {
    /// `Transfer-Encoding` is present (a chunked body of unknown length).
    pub chunked: bool,
    /// The declared `Content-Length`.
    pub content_length: Option<u64>,
}

/// What the guards decided.
pub enum Guarded {
    /// Go on to the token endpoint or admission.
    Pass(Framing),
    /// Refuse with this (`ctx.close_connection` says whether the connection survives).
    Refuse(Deny),
    /// A CORS preflight from this allowed origin: answered by the gateway.
    Preflight(String),
}

/// The pre-admission guards, in order: the connection's timeouts (and `Strict-Transport-
/// Security` for its answers), an audit slot (`audit.unavailable`), the TLS version
/// (`tls.version`), the request's `Origin` and CORS preflights (`cors.origin_denied`), and
/// the body's framing (`request.malformed`). Sets `ctx.has_body`.
pub fn guards(app: &App, session: &mut Session, ctx: &mut RequestCtx) -> Guarded {
    let gw = &ctx.compiled.snapshot.gateway;
    // Slow clients: every read and write of this connection may stall at most
    // `client_timeout`; between requests it may idle `client_idle_timeout_seconds`
    // (Pingora's default keeps an idle HTTP/1.1 connection forever).
    session.set_read_timeout(Some(gw.client_timeout));
    session.set_write_timeout(Some(gw.client_timeout));
    if session.get_keepalive().is_some() {
        session.set_keepalive(Some(gw.client_idle_timeout_seconds));
    }
    let tls = gw.tls.as_ref();
    ctx.hsts = tls.and_then(|t| t.hsts.clone());
    let tls_version_refused =
        tls.is_some_and(|t| t.tls13_only && !super::tls::negotiated_tls13(session));
    // On a shared PostgreSQL store, a view that could not be confirmed for longer than the
    // staleness bound may be missing revocations: refuse rather than serve from it. That
    // refusal names the cause even when the audit queue has stopped taking records too (the
    // same outage), and is queued for the trail when a slot is still free.
    let stale = matches!(gw.database, crate::store::Database::Postgres(_))
        && app.freshness.age() > gw.store_staleness;
    // No record slot, no relay: refuse rather than serve traffic we cannot audit.
    match app.audit.reserve() {
        Ok(slot) => ctx.audit_slot = Some(slot),
        Err(why) if !stale => {
            tracing::warn!(request_id = %ctx.request_id, ?why, "audit unavailable: request refused");
            return Guarded::Refuse(Deny::new(Reason::AuditUnavailable));
        }
        Err(_) => {}
    }
    if stale {
        tracing::warn!(request_id = %ctx.request_id, "state database unreachable beyond the staleness bound: request refused");
        return Guarded::Refuse(Deny::new(Reason::StoreUnavailable));
    }
    if tls_version_refused {
        // Pingora's listener always offers TLS 1.2; a client that negotiated it is refused
        // before anything it sent is looked at, and the connection is closed.
        ctx.close_connection = true;
        return Guarded::Refuse(Deny::new(Reason::TlsVersion));
    }
    let preview = gw.audit_preview_bytes;
    ctx.request_preview = crate::audit::preview::Preview::new(preview);
    ctx.response_preview = crate::audit::preview::Preview::new(preview);

    let req = session.req_header();
    ctx.cors_origin = req
        .headers
        .get(http::header::ORIGIN)
        .and_then(|o| cors::allowed_anywhere(&ctx.compiled.snapshot, o.as_bytes()));
    if cors::is_preflight(req) {
        return match ctx.cors_origin.clone() {
            Some(origin) => Guarded::Preflight(origin),
            None => {
                ctx.close_connection = true;
                Guarded::Refuse(Deny::new(Reason::CorsOriginDenied))
            }
        };
    }
    // A request with a browser session cookie comes from the gateway's own page (same
    // origin) or is refused: no CORS answer either way, not even on its refusal (it would
    // tell a same-site page whether the browser holds a session, and in what state).
    if super::browser::presents_session(&req.headers) {
        ctx.cors_origin = None;
    }
    let content_length = match content_length(req) {
        Ok(n) => n,
        Err(d) => {
            ctx.close_connection = true;
            return Guarded::Refuse(d);
        }
    };
    // Header limits and a declared body over the limit were refused by the front.
    let chunked = req.headers.contains_key(http::header::TRANSFER_ENCODING);
    ctx.has_body = chunked || content_length.is_some_and(|n| n > 0);
    Guarded::Pass(Framing {
        chunked,
        content_length,
    })
}

/// Answers a CORS preflight from an allowed `origin` (204, never relayed).
pub async fn answer_preflight(
    session: &mut Session,
    ctx: &mut RequestCtx,
    origin: &str,
) -> pingora::Result<()> {
    ctx.decision = Decision::Preflight;
    ctx.decided = Some(std::time::Instant::now());
    let header = cors::preflight(origin, &ctx.request_id, ctx.hsts.as_deref())?;
    let req = session.req_header();
    let framed = req.headers.contains_key(http::header::CONTENT_LENGTH)
        || req.headers.contains_key(http::header::TRANSFER_ENCODING);
    if framed {
        // A preflight has no body; one that declares one never keeps the connection.
        session.set_keepalive(None);
    }
    session.write_response_header(Box::new(header), true).await
}

/// Admission: the chain ([`chain::admit`]), then the caller's tenant must allow a browser's
/// `Origin` (`cors.origin_denied`), and a body of unknown length, or one that fits the replay
/// buffer, is read whole (`request.body_too_large`, `request.malformed`, …). On success the
/// request is relayed with `ctx.admission`.
pub async fn admit(
    app: &App,
    session: &mut Session,
    ctx: &mut RequestCtx,
    framing: Framing,
) -> Result<(), Deny> {
    let req = session.req_header();
    let (authorization, api_key) = credential_fields(&req.headers);
    let input = RequestInput {
        method: req.method.as_str().as_bytes(),
        target: req.raw_path(),
        authorization: &authorization,
        api_key: &api_key,
        headers: &req.headers,
        client_ip: client_ip::of_session(session, &ctx.compiled.snapshot.gateway.trusted_proxies),
        now: chrono::Utc::now(),
    };
    let input_now = input.now;
    let result = chain::admit(app, &ctx.compiled, &ctx.view, &input, &mut ctx.trace).await;
    ctx.decided = Some(std::time::Instant::now());
    let mut admission = result?;
    // A browser request must come from an origin the caller's tenant allows. A browser
    // session's requests come from the gateway's own page (its `Origin`, when named, was
    // checked against the page's): same-origin, they get no CORS answer at all.
    let browser = session
        .req_header()
        .headers
        .contains_key(http::header::ORIGIN);
    let in_session = ctx
        .trace
        .principal
        .as_ref()
        .is_some_and(|p| p.kind == crate::auth::AuthKind::BrowserSession);
    let origin_ok = in_session
        || match (&ctx.cors_origin, ctx.compiled.tenant(admission.tenant)) {
            (Some(o), Some((t, _))) => cors::allowed_for(t, o),
            _ => !browser,
        };
    if !origin_ok {
        ctx.cors_origin = None;
        return Err(Deny::new(Reason::CorsOriginDenied));
    }
    if admission.batch {
        batch_readable(session.req_header(), framing)?;
    }
    // A body of unknown length, or one that fits the replay buffer, is read whole before the
    // upstream sees anything; so is a batch, whose parts are admitted from it.
    if admission.batch || body::read_first(framing.chunked, framing.content_length) {
        let max_body = ctx.compiled.snapshot.gateway.max_request_body_bytes;
        ctx.buffered_body = Some(body::read_whole(session, max_body).await?);
    }
    if admission.batch {
        let bytes = session
            .as_downstream()
            .get_retry_buffer()
            .unwrap_or_default();
        let raw = session.req_header().raw_path();
        let root = raw.split(|&b| b == b'?').next().unwrap_or(raw);
        let root = std::str::from_utf8(root).map_err(|_| Deny::new(Reason::PathRejected))?;
        admission.redaction = super::batch::admit_parts(
            app,
            &ctx.compiled,
            &ctx.view,
            &mut ctx.trace,
            root,
            &bytes,
            (admission.governed_headers, input_now),
        )?;
    }
    ctx.admission = Some(admission);
    ctx.decision = Decision::Relayed;
    Ok(())
}

/// A batch is judged by its body, so the gateway must be able to read all of it as Oracle
/// will: within the replay buffer, and not compressed.
fn batch_readable(req: &RequestHeader, framing: Framing) -> Result<(), Deny> {
    if framing
        .content_length
        .is_some_and(|n| n > body::BUFFER_LIMIT)
    {
        return Err(Deny::with_detail(Reason::BodyTooLarge, "batch_over_buffer"));
    }
    let encoded = req
        .headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(Deny::with_detail(Reason::BadRequest, "batch_encoded"));
    }
    Ok(())
}

/// Parses `Content-Length`: absent → None; several different values or garbage →
/// `request.malformed` (Pingora's parser refuses most of these already; this is defence in
/// depth against smuggling).
fn content_length(req: &RequestHeader) -> Result<Option<u64>, Deny> {
    let mut found: Option<u64> = None;
    for v in req.headers.get_all(http::header::CONTENT_LENGTH) {
        let n: u64 = std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(Deny::with_detail(
                Reason::BadRequest,
                "content_length_invalid",
            ))?;
        if found.is_some_and(|f| f != n) {
            return Err(Deny::with_detail(
                Reason::BadRequest,
                "content_length_conflict",
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

/// Every `Authorization` and `x-api-key` field value of a request, in order: what the relay
/// and the token endpoint both hand to `auth::presented::parse` (which refuses more than one).
pub(super) fn credential_fields(headers: &http::HeaderMap) -> (Vec<&[u8]>, Vec<&[u8]>) {
    let all = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Vec<_>>()
    };
    (all(http::header::AUTHORIZATION.as_str()), all("x-api-key"))
}
