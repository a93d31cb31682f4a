//! The Pingora service: the relay path, phase by phase. Each phase only calls the module that
//! owns its step; read top to bottom, this file is the whole request's life.

pub mod admission;
pub mod batch;
pub mod body;
pub mod browser;
pub mod chain;
pub mod client_ip;
pub mod context;
pub mod cors;
pub mod deny;
pub mod framing;
pub mod front;
pub mod governed;
pub mod launch;
pub mod listener;
pub mod record;
pub mod respond;
pub mod response_head;
pub mod spans;
pub mod tls;
pub mod token_client;
pub mod token_endpoint;
pub mod token_refresh;
pub mod upstream_headers;
pub mod viewer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType};

use crate::app::{App, TenantRuntime};
use crate::snapshot::Tenant;
use admission::Guarded;
use context::{Decision, RequestCtx};
use deny::{Deny, Reason};

/// The erpgate relay service.
pub struct Gateway {
    app: Arc<App>,
}

impl Gateway {
    /// A relay over `app`.
    pub fn new(app: Arc<App>) -> Self {
        Gateway { app }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    /// A request's context, pinning the configuration snapshot and the directory view it runs
    /// under from its first phase to its audit record (a reload or a store change meanwhile
    /// applies to the next request).
    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new(
            self.app.compiled.load_full(),
            self.app.directory.load_full(),
        )
    }

    /// The downstream modules: the masked response's framing ([`framing::install`]), in place
    /// of Pingora's switched-off compression module.
    fn init_downstream_modules(&self, modules: &mut pingora::modules::http::HttpModules) {
        framing::install(modules);
    }

    /// The front saw bytes of a next request behind this one (`front::PipelinedBytes`):
    /// pipelining is off, so this answer closes the connection and says `Connection: close`.
    fn on_connection_reuse(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
        prev: Box<dyn std::any::Any + Send + Sync>,
    ) {
        if prev.downcast_ref::<front::PipelinedBytes>().is_some() {
            session.set_keepalive(None);
        }
    }

    /// Phase `request_filter`: assigns the request id, then the pre-admission guards
    /// ([`admission::guards`]: connection timeouts, an audit slot, TLS version, CORS
    /// preflight, request framing), then `POST /gateway/token` or admission
    /// ([`admission::admit`]: the chain, the tenant's CORS origins, a body read whole).
    /// Produces every denial reason of the request side: `audit.unavailable`, `tls.version`,
    /// `cors.origin_denied`, `request.malformed`, `path.rejected`, `request.uri_too_long`,
    /// `request.body_too_large`, `auth.*`, `credential.revoked`, `account.suspended`,
    /// `endpoint.unknown`, `method.not_allowed`, `policy.denied`, `schedule.closed`,
    /// `killswitch.on`, `ratelimit.exceeded`, `upstream.credential_missing`. Returns `true`
    /// (response sent) on denial.
    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        ctx.started = Some(Instant::now());
        ctx.request_id = self.app.ids.next_id();
        spans::begin(&self.app, session, ctx);
        let framing = match admission::guards(&self.app, session, ctx) {
            Guarded::Pass(framing) => framing,
            Guarded::Refuse(deny) => {
                respond::deny(session, ctx, deny).await?;
                return Ok(true);
            }
            Guarded::Preflight(origin) => {
                admission::answer_preflight(session, ctx, &origin).await?;
                return Ok(true);
            }
        };
        let launch = launch::route(&ctx.compiled.snapshot, session.req_header().raw_path());
        if let Some((tenant, route)) = launch {
            launch::handle(&self.app, session, ctx, tenant, route).await?;
            return Ok(true);
        }
        if token_endpoint::is_token_request(session.req_header().raw_path()) {
            token_endpoint::handle(&self.app, session, ctx).await?;
            return Ok(true);
        }
        match admission::admit(&self.app, session, ctx, framing).await {
            Ok(()) => Ok(false),
            Err(deny) => {
                respond::deny(session, ctx, deny).await?;
                Ok(true)
            }
        }
    }

    /// Phase `request_body_filter`: enforces the body size limit on streamed (chunked) bodies.
    /// Produces `request.body_too_large` (as a 413 error handled in `fail_to_proxy`).
    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            ctx.request_preview.feed(b);
            if ctx.body_bytes > ctx.compiled.snapshot.gateway.max_request_body_bytes {
                ctx.decision = Decision::Denied(Deny::new(Reason::BodyTooLarge));
                return Error::e_explain(ErrorType::HTTPStatus(413), "request body over limit");
            }
        }
        Ok(())
    }

    /// Phase `upstream_peer`: the tenant's Oracle host, from the resolved-address table (no DNS
    /// on the request path), TLS with certificate and hostname verification unless the tenant
    /// is plain HTTP (only allowed by the dangerous test/dev setting).
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Box<HttpPeer>> {
        let (tenant, runtime) = admitted_tenant(ctx)?;
        let Some(addr) = self.app.resolved.pick(&runtime.addr_key) else {
            return Error::e_explain(ErrorType::ConnectNoRoute, "upstream has no usable address");
        };
        let gw = &ctx.compiled.snapshot.gateway;
        let mut peer = HttpPeer::new(addr, tenant.upstream.tls, tenant.upstream.sni.clone());
        peer.options.connection_timeout = Some(gw.upstream_connect_timeout);
        peer.options.total_connection_timeout =
            Some(gw.upstream_connect_timeout + Duration::from_secs(2));
        peer.options.read_timeout = Some(gw.upstream_read_timeout);
        peer.options.write_timeout = Some(gw.upstream_read_timeout);
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        peer.options.verify_cert = true;
        peer.options.verify_hostname = true;
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    /// Phase `upstream_request_filter`: only allowlisted request headers reach Oracle
    /// (`upstream_headers::sanitize`: no client credential, hop-by-hop, forwarding or
    /// unlisted header; governed headers only as granted), sets `Host` to the tenant's host and injects the gateway's upstream
    /// credential (taken out of the context, so it exists once). When the response will be
    /// redacted, asks for an uncompressed, whole body (`Accept-Encoding: identity`, no
    /// `Range`).
    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let (tenant, runtime) = admitted_tenant(ctx)?;
        let extra: Vec<&http::HeaderName> = runtime.credential_header.iter().collect();
        let snapshot = &ctx.compiled.snapshot;
        let allowed = upstream_headers::Allowed {
            gateway: &snapshot.gateway.allow_request_headers,
            endpoint: ctx
                .trace
                .endpoint
                .map_or(&[][..], |e| &snapshot.catalog.endpoint(e).request_headers),
            governed: ctx.admission.as_ref().map_or(0, |a| a.governed_headers),
        };
        upstream_headers::sanitize(upstream_request, &allowed, &extra);
        upstream_headers::set_host(upstream_request, &tenant.upstream.host_header)?;
        // Before the credential: a header of the same name could never replace it.
        if let Some(name) = &snapshot.gateway.upstream_request_id_header {
            upstream_request.insert_header(name.clone(), ctx.request_id.as_str())?;
        }
        // A client's own never got past the allowlist (`never_allowed` keeps them off it):
        // Oracle's work hangs under the gateway's span, or under none.
        if let Some(t) = &ctx.trace_context {
            upstream_request.insert_header("traceparent", t.traceparent())?;
            if let Some(state) = &t.tracestate {
                upstream_request.insert_header("tracestate", state.as_str())?;
            }
        }
        // Cloned, not taken: Pingora runs this phase again when it retries on a fresh
        // connection (a pooled one Oracle had closed), and the retry needs the credential too.
        let Some(cred) = ctx.admission.as_ref().and_then(|a| a.credential.as_ref()) else {
            return Error::e_explain(ErrorType::InternalError, "no upstream credential");
        };
        upstream_headers::set_credential(upstream_request, &cred.name, &cred.value)?;
        if let Some(len) = ctx.buffered_body {
            // Read whole already: re-framed with its length, and nothing left to continue.
            upstream_request.insert_header(http::header::CONTENT_LENGTH, len.to_string())?;
            upstream_request.remove_header(&http::header::EXPECT);
        }
        if let Some(rules) = ctx.redaction() {
            upstream_headers::prepare_for_redaction(upstream_request)?;
            if !rules.is_empty() {
                upstream_headers::prepare_for_masking(upstream_request);
            }
        }
        Ok(())
    }

    /// Phase `response_filter`: only allowlisted upstream headers pass, `Location` and
    /// `Content-Location` rewritten (`redact::headers::filter_upstream`), then the security
    /// headers and `X-Request-Id`; records the upstream status. When redaction rules apply,
    /// decides whether the body is masked (`redact::body::on_header`) and refuses with
    /// `redaction.failed` (502) a body that cannot be: not JSON, or compressed.
    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        ctx.upstream_status = Some(upstream_response.status.as_u16());
        ctx.upstream_answered = Some(Instant::now());
        ctx.oracle_ecid = crate::redact::headers::oracle_ecid(upstream_response);
        let status = upstream_response.status.as_u16();
        token_refresh::on_upstream_status(&self.app, session, ctx, status).await?;
        let snapshot = &ctx.compiled.snapshot;
        let location = ctx
            .admission
            .as_ref()
            .and_then(|a| snapshot.redaction.location(a.tenant));
        let gw = &snapshot.gateway;
        crate::redact::headers::filter_upstream(
            upstream_response,
            &gw.allow_response_headers,
            location,
        )?;
        for name in &gw.strip_response_headers {
            upstream_response.remove_header(name);
        }
        // `filter_upstream` left no backend header: only the security headers are set.
        crate::redact::headers::set_security(
            upstream_response,
            &ctx.request_id,
            ctx.hsts.as_deref(),
        )?;
        if let Some(origin) = &ctx.cors_origin {
            cors::apply(upstream_response, origin)?;
        }
        let Some(rules) = ctx.redaction() else {
            return Ok(());
        };
        let req = session.req_header();
        let head = req.method == http::Method::HEAD;
        let http10 = req.version <= http::Version::HTTP_10;
        match crate::redact::body::on_header(upstream_response, rules, head, http10)? {
            Ok(masker) => {
                if let Some(m) = &masker {
                    let chunked = m.chunked_unless_whole();
                    if !framing::arm(session, chunked) && chunked {
                        crate::redact::body::frame_chunked(upstream_response)?;
                    }
                }
                ctx.body_redaction = masker.map(Box::new);
                Ok(())
            }
            Err(refusal) => {
                tracing::warn!(request_id = %ctx.request_id, why = refusal.as_str(), "response withheld: cannot redact");
                ctx.decision =
                    Decision::Denied(Deny::with_detail(Reason::RedactionFailed, refusal.as_str()));
                Error::e_explain(ErrorType::InternalError, "response cannot be redacted")
            }
        }
    }

    /// Phase `response_body_filter`: masks the body chunk by chunk when it is redacted (an
    /// invalid document aborts the response: what went out was masked, the rest never goes)
    /// and counts what leaves for the masked response's framing ([`framing`]), then feeds the
    /// audit preview with what the client gets. Nothing is stored.
    fn response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<Option<Duration>> {
        if let Some(masker) = ctx.body_redaction.as_mut() {
            if let Err(e) = masker.on_chunk(body, end_of_stream) {
                tracing::warn!(request_id = %ctx.request_id, error = %e, "response aborted: redaction failed mid-stream");
                ctx.decision = Decision::Denied(Deny::with_detail(
                    Reason::RedactionFailed,
                    crate::redact::body::mid_stream_detail(e),
                ));
                *body = None;
                return Error::e_explain(ErrorType::InternalError, "redaction failed mid-stream");
            }
            framing::counted(session, body, end_of_stream);
        }
        if let Some(b) = body {
            ctx.response_preview.feed(b);
        }
        Ok(None)
    }

    /// Called on any fatal error: renders `upstream.unavailable`, `upstream.timeout`,
    /// `request.body_too_large` or `request.malformed` in the standard JSON shape.
    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if ctx.request_id.is_empty() {
            ctx.request_id = self.app.ids.next_id();
        }
        let reason = respond::failure_reason(e, ctx.decision);
        let mut code = 0;
        if let Some(reason) = reason {
            // Keep a denial already decided (with its detail); otherwise record the failure.
            let deny = match ctx.decision {
                Decision::Denied(d) if d.reason == reason => d,
                _ => Deny::new(reason),
            };
            ctx.decision = Decision::Denied(deny);
            // If the response header already went out there is nothing more we can say; an
            // informational one (`100 Continue` for a body read before connecting) is not an
            // answer yet.
            if session
                .response_written()
                .is_none_or(|r| r.status.is_informational())
                && respond::write(session, ctx, deny).await.is_ok()
            {
                code = reason.status();
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// Pingora's own error lines name the request with this: method, path without the query
    /// (a query can carry `access_token=…`) and the request id, never a header.
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        let req = session.req_header();
        let raw = req.raw_path();
        let path = raw.split(|&b| b == b'?').next().unwrap_or(raw);
        format!(
            "{} {} (request {})",
            req.method,
            record::bounded(path),
            ctx.request_id
        )
    }

    /// Pingora's "Fail to proxy" line would print the error with its context, which can hold
    /// bytes of the request or of Oracle's answer; `logging` writes erpgate's own line for
    /// every failure instead (error type and source, reason code, request id).
    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        true
    }

    /// Pingora's warning for a retried upstream failure prints the error with its context
    /// (which can hold Oracle's response bytes): erpgate logs a line without them instead.
    fn suppress_proxy_warn_log(
        &self,
        _session: &Session,
        ctx: &RequestCtx,
        error: &Error,
        _context: pingora::proxy::ProxyWarnLogContext,
    ) -> bool {
        tracing::warn!(
            request_id = %ctx.request_id,
            error = %format_args!("{}/{}", error.esource().as_str(), error.etype().as_str()),
            "upstream attempt failed"
        );
        true
    }

    /// Phase `logging`: builds the request's audit record from the context (`record.rs`) and
    /// sends it into the slot reserved in `request_filter`, plus one log line. Never logs or
    /// records credentials: only ids, names and codes.
    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let slot = ctx.audit_slot.take();
        let (session, ctx) = (&*session, &*ctx);
        let made = record::build(session, ctx, e);
        let rec = made.view();
        spans::finish(&self.app, ctx, &rec);
        // The audit trail is the access log. The log line is for operators: refusals and
        // failures at info, relays at debug (at info they cost a quarter of the throughput).
        let error = e.map(|e| format!("{}/{}", e.esource().as_str(), e.etype().as_str()));
        macro_rules! request_line {
            ($level:ident) => {
                tracing::$level!(
                    request_id = %rec.request_id,
                    error = error.as_deref().unwrap_or(""),
                    method = %rec.method,
                    decision = %rec.decision,
                    reason = %rec.reason,
                    tenant = rec.tenant.unwrap_or("-"),
                    actor = %rec.actor,
                    status = rec.status.unwrap_or(0),
                    upstream_status = rec.upstream_status.unwrap_or(0),
                    micros = rec.total_us.unwrap_or(0),
                    "request"
                )
            };
        }
        if ctx.compiled.snapshot.gateway.access_log {
            tracing::info!(
                target: "erpgate::access",
                request_id = %rec.request_id,
                method = %rec.method,
                path = %rec.path,
                tenant = rec.tenant.unwrap_or("-"),
                endpoint = rec.endpoint.unwrap_or("-"),
                actor = %rec.actor,
                decision = %rec.decision,
                reason = %rec.reason,
                status = rec.status.unwrap_or(0),
                upstream_status = rec.upstream_status.unwrap_or(0),
                oracle_ecid = rec.oracle_ecid.unwrap_or(""),
                micros = rec.total_us.unwrap_or(0),
                "access"
            );
        } else if matches!(ctx.decision, Decision::Relayed) {
            request_line!(debug);
        } else {
            request_line!(info);
        }
        self.app.metrics.record(&record::sample(ctx, &rec));
        match slot {
            Some(slot) => slot.send_view(&rec),
            None => {
                tracing::warn!(request_id = %rec.request_id, reason = %rec.reason, "request not audited (audit unavailable)")
            }
        }
    }
}

/// The admitted request's tenant: its configuration and runtime data (for the phases after
/// admission; a request without an admission never reaches them).
fn admitted_tenant(ctx: &RequestCtx) -> pingora::Result<(&Tenant, &TenantRuntime)> {
    let Some(admission) = ctx.admission.as_ref() else {
        return Error::e_explain(ErrorType::InternalError, "no admission before relaying");
    };
    match ctx.compiled.tenant(admission.tenant) {
        Some(t) => Ok(t),
        None => Error::e_explain(ErrorType::InternalError, "tenant vanished from snapshot"),
    }
}
