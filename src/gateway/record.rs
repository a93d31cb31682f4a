//! Building the request's audit record from the context, in `logging` — in one place, not
//! assembled piecemeal across phases. Ids, names and codes only: never a credential.

use std::borrow::Cow;
use std::time::Instant;

use pingora::proxy::Session;

use crate::audit::{record, Kind, RecordView};
use crate::gateway::context::{Decision, RequestCtx};

/// The longest path or query kept in a record (hostile input is bounded, not trusted).
const MAX_FIELD: usize = 1024;

/// `bytes` as text, cut at `MAX_FIELD` bytes (lossy: hostile input is recorded, not trusted).
pub(crate) fn bounded(bytes: &[u8]) -> String {
    bounded_text(bytes).into_owned()
}

/// [`bounded`], borrowed when the bytes are UTF-8 (nearly always): no copy.
fn bounded_text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_FIELD)])
}

/// The request's record in the making: what it takes from the request as it is (names of
/// the configuration, ids, the path) borrowed, and what is made for it (the time as text, the
/// client's address, the previews) owned. [`Made::view`] is the record.
pub struct Made<'a> {
    ts: crate::audit::clock::TimeText,
    request_id: &'a str,
    kind: Kind,
    actor: Cow<'a, str>,
    credential_id: Option<&'a str>,
    token_id: Option<String>,
    tenant: Option<&'a str>,
    client_ip: Option<String>,
    method: Cow<'a, str>,
    path: Cow<'a, str>,
    query: Option<String>,
    decision: &'static str,
    reason: &'static str,
    detail: Option<String>,
    policy: Option<&'a str>,
    rule: Option<&'a str>,
    endpoint: Option<&'a str>,
    snapshot_version: u64,
    snapshot_hash: &'a str,
    upstream_host: Option<&'a str>,
    upstream_identity: Option<&'a str>,
    status: Option<u16>,
    upstream_status: Option<u16>,
    oracle_ecid: Option<&'a str>,
    times: Timings,
    bytes_in: u64,
    bytes_out: u64,
    request_preview: Option<String>,
    response_preview: Option<String>,
    redaction: Option<record::RedactionNote>,
    note: Option<serde_json::Value>,
}

/// The record for the request in `session` / `ctx`.
pub fn build<'a>(
    session: &'a Session,
    ctx: &'a RequestCtx,
    error: Option<&pingora::Error>,
) -> Made<'a> {
    let req = session.req_header();
    let (path, query) = split_query(req.raw_path());
    let (decision, reason, detail) = outcome(ctx, error);
    let view = &ctx.view;
    let principal = ctx.trace.principal.as_ref();
    let credential = principal.and_then(|p| view.credential(p.credential()?));
    let snapshot = &ctx.compiled.snapshot;
    let tenant = ctx
        .trace
        .tenant
        .and_then(|t| ctx.compiled.tenant(t))
        .map(|(t, _)| t);
    let grant = ctx.trace.grant;
    Made {
        ts: crate::audit::clock::now(),
        request_id: &ctx.request_id,
        kind: if ctx.token_endpoint {
            Kind::Token
        } else {
            Kind::Request
        },
        actor: actor(ctx),
        credential_id: credential.map(|c| c.id.as_str()),
        token_id: token_id(ctx),
        tenant: tenant.map(|t| t.name.as_str()),
        client_ip: client_ip(session, ctx),
        method: bounded_text(req.method.as_str().as_bytes()),
        path: bounded_text(path),
        // A launch path's query is a credential (the launch token): never recorded.
        query: query.and_then(|q| {
            let q = super::launch::recorded_query(snapshot, path, &bounded_text(q))?;
            Some(if ctx.trace.hide_query_values {
                record::mask_filter_values(&q)
            } else {
                q
            })
        }),
        decision,
        reason,
        detail,
        policy: grant.map(|g| snapshot.grants.policy_name(g)),
        rule: grant.map(|g| snapshot.grants.rule_name(g)),
        endpoint: ctx
            .trace
            .endpoint
            .map(|e| snapshot.catalog.endpoint(e).name.as_str()),
        snapshot_version: snapshot.version,
        snapshot_hash: &snapshot.hash,
        upstream_host: tenant
            .filter(|_| ctx.upstream_started.is_some())
            .map(|t| t.upstream.host_header.as_str()),
        upstream_identity: ctx.admission.as_ref().map(|a| a.identity.as_str()),
        status: session.response_written().map(|r| r.status.as_u16()),
        upstream_status: ctx.upstream_status,
        oracle_ecid: ctx.oracle_ecid.as_ref().and_then(|v| v.to_str().ok()),
        times: Timings::of(ctx, Instant::now()),
        bytes_in: ctx.body_bytes,
        bytes_out: session.body_bytes_sent() as u64,
        request_preview: request_preview(ctx),
        response_preview: ctx.response_preview.finish(),
        redaction: redaction_note(ctx),
        note: ctx
            .launch_token
            .as_ref()
            .map(|t| serde_json::json!({ "launch_token": t })),
    }
}

impl Made<'_> {
    /// The record.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            // Set by the chain the writer appends to.
            node: None,
            ts: self.ts.as_str(),
            request_id: self.request_id,
            kind: Some(self.kind),
            actor: &self.actor,
            credential_id: self.credential_id,
            token_id: self.token_id.as_deref(),
            tenant: self.tenant,
            client_ip: self.client_ip.as_deref(),
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            decision: self.decision,
            reason: self.reason,
            detail: self.detail.as_deref(),
            policy: self.policy,
            rule: self.rule,
            endpoint: self.endpoint,
            snapshot_version: Some(self.snapshot_version),
            snapshot_hash: Some(self.snapshot_hash),
            upstream_host: self.upstream_host,
            upstream_identity: self.upstream_identity,
            status: self.status,
            upstream_status: self.upstream_status,
            oracle_ecid: self.oracle_ecid,
            gateway_us: self.times.gateway_us,
            upstream_us: self.times.upstream_us,
            total_us: self.times.total_us,
            bytes_in: Some(self.bytes_in),
            bytes_out: Some(self.bytes_out),
            request_preview: self.request_preview.as_deref(),
            response_preview: self.response_preview.as_deref(),
            redaction: self.redaction.as_ref(),
            note: self.note.as_ref(),
        }
    }
}

/// The path and the query (without its `?`) of a raw request target.
fn split_query(raw: &[u8]) -> (&[u8], Option<&[u8]>) {
    match raw.iter().position(|&b| b == b'?') {
        Some(i) => (&raw[..i], Some(&raw[i + 1..])),
        None => (raw, None),
    }
}

/// The decision, reason code and detail recorded for the request.
fn outcome(
    ctx: &RequestCtx,
    error: Option<&pingora::Error>,
) -> (&'static str, &'static str, Option<String>) {
    match ctx.decision {
        Decision::Pending => ("failed", "", error.map(|e| e.etype().as_str().to_string())),
        Decision::Relayed => ("relayed", "", None),
        Decision::Preflight => ("preflight", "", None),
        Decision::TokenIssued | Decision::Served => ("ok", "", None),
        Decision::Denied(d) => {
            let detail = match (d.detail, &ctx.trace.refused) {
                (Some(d), Some(what)) => Some(format!("{d}: {}", bounded(what.as_bytes()))),
                (None, Some(what)) => Some(bounded(what.as_bytes())),
                (d, None) => d.map(str::to_string),
            };
            ("denied", d.reason.code(), detail)
        }
    }
}

/// Who made the request: the account's name, else the Oracle user, else `-`.
fn actor(ctx: &RequestCtx) -> Cow<'_, str> {
    let principal = ctx.trace.principal.as_ref();
    let account = principal.and_then(|p| ctx.view.account(p.account()?));
    let oracle_user = principal.and_then(|p| p.oracle_user());
    match (account, oracle_user) {
        (Some(a), _) => Cow::Borrowed(a.name.as_str()),
        (None, Some(u)) => Cow::Owned(format!("user:{}", u.user)),
        (None, None) => Cow::Borrowed("-"),
    }
}

/// The audit id of the token presented, else of the token issued.
fn token_id(ctx: &RequestCtx) -> Option<String> {
    ctx.trace
        .principal
        .as_ref()
        .and_then(|p| p.token.as_deref())
        .map(crate::auth::tokens::audit_id)
        .or_else(|| {
            ctx.issued_token
                .as_deref()
                .map(crate::auth::tokens::audit_id)
        })
}

/// The client's address, through `X-Forwarded-For` only from trusted proxies.
fn client_ip(session: &Session, ctx: &RequestCtx) -> Option<String> {
    let req = session.req_header();
    session.client_addr().and_then(|a| a.as_inet()).map(|a| {
        let xff: Vec<&[u8]> = req
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let trusted = &ctx.compiled.snapshot.gateway.trusted_proxies;
        super::client_ip::client_ip(a.ip(), &xff, trusted).to_string()
    })
}

/// The request body preview. It gets the request's masking rules too (withheld if not JSON).
fn request_preview(ctx: &RequestCtx) -> Option<String> {
    // A request refused for using a masked attribute carries guesses at its value (a batch
    // part's query, in the body): none of it is kept.
    if ctx.trace.hide_query_values {
        return None;
    }
    match ctx.redaction().filter(|r| !r.is_empty()) {
        Some(rules) => ctx.request_preview.finish_with(|bytes, truncated| {
            crate::redact::body::mask_preview(rules, bytes, truncated)
        }),
        None => ctx.request_preview.finish_request(),
    }
}

/// The request's durations in microseconds, measured up to one `now`.
struct Timings {
    /// From the start of the request to the gateway's decision.
    gateway_us: Option<u64>,
    /// From sending upstream to the upstream's answer (or to `now` if none came).
    upstream_us: Option<u64>,
    /// From the start of the request to `now`.
    total_us: Option<u64>,
}

impl Timings {
    /// The durations of `ctx`, as of `now`.
    fn of(ctx: &RequestCtx, now: Instant) -> Self {
        let since =
            |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t).as_micros() as u64);
        let upstream_us = match (ctx.upstream_started, ctx.upstream_answered) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_micros() as u64),
            (Some(a), None) => Some(now.saturating_duration_since(a).as_micros() as u64),
            _ => None,
        };
        let gateway_us = match (ctx.started, ctx.decided) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_micros() as u64),
            _ => None,
        };
        Timings {
            gateway_us,
            upstream_us,
            total_us: since(ctx.started),
        }
    }
}

/// What the request contributes to the metrics.
pub fn sample<'a>(ctx: &RequestCtx, rec: &RecordView<'a>) -> crate::metrics::RequestSample<'a> {
    let stats = ctx.body_redaction.as_ref().and_then(|b| b.stats());
    crate::metrics::RequestSample {
        tenant: rec.tenant,
        endpoint: rec.endpoint,
        method: rec.method,
        status: rec.status,
        upstream_status: rec.upstream_status,
        total_us: rec.total_us,
        reason: match ctx.decision {
            Decision::Denied(d) => Some(d.reason),
            _ => None,
        },
        failed: matches!(ctx.decision, Decision::Pending),
        preflight: matches!(ctx.decision, Decision::Preflight),
        token_issued: matches!(ctx.decision, Decision::TokenIssued),
        gateway_us: rec.gateway_us,
        upstream_us: rec.upstream_us,
        auth_cache_hit: ctx.trace.principal.as_ref().is_some_and(|p| p.cache_hit),
        redacted_values: stats.map_or(0, |s| s.values_masked),
        links_rewritten: stats.map_or(0, |s| s.links_rewritten),
        body_unparsed: ctx
            .body_redaction
            .as_ref()
            .is_some_and(|b| b.passed_unparsed()),
    }
}

/// The redaction part of the record: present whenever rules applied to the request.
fn redaction_note(ctx: &RequestCtx) -> Option<record::RedactionNote> {
    let rules = ctx.redaction()?;
    let mut note = record::RedactionNote {
        applied: ctx.body_redaction.is_some(),
        ..Default::default()
    };
    if let Some(stats) = ctx.body_redaction.as_ref().and_then(|b| b.stats()) {
        note.values = stats.values_masked;
        note.links = stats.links_rewritten;
        note.rules = rules
            .rules()
            .iter()
            .zip(&stats.per_rule)
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| record::RuleFired {
                path: r.source.clone(),
                action: r.action.as_str().to_string(),
                values: *n,
            })
            .collect();
        if stats.error_text_masked > 0 {
            // Not a configured rule: the free text of an error body (`redact::body::on_header`).
            note.rules.push(record::RuleFired {
                path: "(error text)".into(),
                action: "mask".into(),
                values: stats.error_text_masked,
            });
        }
    }
    Some(note)
}
