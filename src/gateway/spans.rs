//! Each request's place in a distributed trace ([`begin`], in `request_filter`) and its span
//! ([`finish`], in `logging`): the W3C `traceparent` of a trusted client continued, Oracle told
//! which span its work belongs to (`upstream_request_filter`), and one span per request
//! exported over OTLP with the phases as events. Names, codes and times only.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pingora::proxy::Session;

use super::client_ip;
use super::context::{Decision, RequestCtx};
use crate::app::App;
use crate::audit::RecordView;
use crate::telemetry::otlp::{Attr, Span};
use crate::telemetry::TraceContext;

/// The longest `url.path` attribute (the audit record keeps more).
const MAX_PATH_ATTR: usize = 256;

/// Sets `ctx.trace_context` when spans are exported or some client may send a
/// `traceparent`; otherwise does nothing (one branch per request).
pub fn begin(app: &App, session: &Session, ctx: &mut RequestCtx) {
    let gw = &ctx.compiled.snapshot.gateway;
    if app.spans.is_none() && gw.traceparent_trusted_clients.is_empty() {
        return;
    }
    // The client as `trusted_proxies` resolve it; a proxy itself (no usable forwarded-for) is
    // not a client whose trace is continued.
    let trusted = !gw.traceparent_trusted_clients.is_empty()
        && client_ip::of_session(session, &gw.trusted_proxies).is_some_and(|ip| {
            gw.traceparent_trusted_clients
                .iter()
                .any(|c| c.contains(ip))
                && !gw.trusted_proxies.iter().any(|c| c.contains(ip))
        });
    let headers = &session.req_header().headers;
    // Exactly one of each, or none: two `traceparent` fields are no parent at all.
    let only = |name: &str| {
        let mut all = headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => Some(v.as_bytes()),
            _ => None,
        }
    };
    let incoming = if trusted {
        only("traceparent").map(|tp| (tp, only("tracestate")))
    } else {
        None
    };
    ctx.trace_context = TraceContext::for_request(&ctx.request_id, incoming, app.spans.is_some());
}

/// Exports the request's span, when spans are exported.
pub fn finish(app: &App, ctx: &RequestCtx, rec: &RecordView<'_>) {
    let (Some(exporter), Some(context)) = (&app.spans, &ctx.trace_context) else {
        return;
    };
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let now = Instant::now();
    let at = |i: Instant| {
        wall.saturating_sub(u64::try_from(now.duration_since(i).as_nanos()).unwrap_or(0))
    };
    let mut events = Vec::with_capacity(4);
    if let Some(t) = ctx.decided {
        let name = match ctx.decision {
            Decision::Relayed => "erpgate.admitted",
            _ => "erpgate.refused",
        };
        events.push((name, at(t)));
    }
    if let Some(t) = ctx.upstream_started {
        events.push(("upstream.connect", at(t)));
    }
    if let Some(t) = ctx.upstream_answered {
        events.push(("upstream.first_byte", at(t)));
    }
    // OpenTelemetry's convention: a method outside the standard set is `_OTHER`.
    let method = match crate::policy::Method::from_bytes(rec.method.as_bytes()) {
        Some(m) => m.as_str().to_string(),
        None => "_OTHER".to_string(),
    };
    let mut attributes = vec![("http.request.method", Attr::Str(method.clone()))];
    // The path only of a request that matched the catalog: anything else is whatever a
    // client sent.
    if rec.endpoint.is_some() {
        attributes.push((
            "url.path",
            Attr::Str(rec.path.chars().take(MAX_PATH_ATTR).collect()),
        ));
    }
    attributes.extend([
        ("erpgate.request_id", Attr::Str(rec.request_id.to_string())),
        ("erpgate.decision", Attr::Str(rec.decision.to_string())),
        ("erpgate.actor", Attr::Str(rec.actor.to_string())),
    ]);
    let mut opt = |k: &'static str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            attributes.push((k, Attr::Str(v.to_string())));
        }
    };
    opt("erpgate.reason", Some(rec.reason));
    opt("erpgate.tenant", rec.tenant);
    opt("erpgate.endpoint", rec.endpoint);
    opt("server.address", rec.upstream_host);
    opt("erpgate.oracle_ecid", rec.oracle_ecid);
    if let Some(s) = rec.status {
        attributes.push(("http.response.status_code", Attr::Int(i64::from(s))));
    }
    if let Some(s) = rec.upstream_status {
        attributes.push(("erpgate.upstream_status", Attr::Int(i64::from(s))));
    }
    if let Some(r) = rec.redaction {
        let masked = i64::try_from(r.values).unwrap_or(i64::MAX);
        attributes.push(("erpgate.redacted_values", Attr::Int(masked)));
        events.push(("erpgate.redacted", wall));
    }
    let name = match rec.endpoint {
        Some(e) => format!("{method} {e}"),
        None => method,
    };
    exporter.submit(Span {
        context: context.clone(),
        name,
        start: ctx.started.map_or(wall, at),
        end: wall,
        attributes,
        events,
        error: rec.status.is_some_and(|s| s >= 500),
    });
}
