//! What the phases hand each other: one `RequestCtx` per request.
//!
//! `new_ctx` pins the snapshot and directory view the request uses from start to end;
//! `request_filter` fills in who the caller is, what matched, the decision and — for a relayed
//! request — the [`Admission`]; later phases read it; `logging` turns it into the request's
//! record. Nothing else carries state between phases.

use std::sync::Arc;
use std::time::Instant;

use crate::app::Compiled;
use crate::auth::Principal;
use crate::directory::DirectoryView;
use crate::gateway::deny::Deny;
use crate::policy::{EndpointId, GrantRef};
use crate::redact::MaskRules;
use crate::snapshot::TenantId;
use crate::upstream::inject::{TokenUse, UpstreamCredential};

/// The outcome so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decision {
    /// No decision yet (the request failed before one, e.g. a malformed request line).
    #[default]
    Pending,
    /// Admitted and relayed (or being relayed).
    Relayed,
    /// A CORS preflight answered by the gateway.
    Preflight,
    /// A gateway token issued by `POST /gateway/token`.
    TokenIssued,
    /// Answered by the gateway itself: a launch that started a session, the viewer page,
    /// its assets, its session's details or its end.
    Served,
    /// Refused or failed, with the reason.
    Denied(Deny),
}

/// Which steps of the chain a request got through, for the audit record and for metrics.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The authenticated caller, when authentication succeeded.
    pub principal: Option<Principal>,
    /// The tenant the caller belongs to.
    pub tenant: Option<TenantId>,
    /// The catalog endpoint the path matched.
    pub endpoint: Option<EndpointId>,
    /// The policy and rule that granted the request.
    pub grant: Option<GrantRef>,
    /// Redaction slots of every granting policy (see `GrantDecision::redact`).
    pub redact: u128,
    /// What in the request caused a refusal, when a name says more than the reason's detail:
    /// the child, header, query parameter or batch part (`expand=nationalIdentifiers`,
    /// `header Upsert-Mode`). Names only, never a value.
    pub refused: Option<String>,
    /// The query's filter values are kept out of the audit record (the refusal was for a
    /// masked attribute: the values are guesses at it).
    pub hide_query_values: bool,
}

/// What admission established for a relayed request (from [`super::chain::admit`]): the
/// phases after `request_filter` read it and look nothing up again.
pub struct Admission {
    /// The caller's tenant (its configuration and runtime data: `Compiled::tenant`).
    pub tenant: TenantId,
    /// The credential to inject; taken (and dropped, zeroising our copies) when injected. A
    /// refreshed upstream token (`token_refresh.rs`) puts the retry's credential here.
    pub credential: Option<UpstreamCredential>,
    /// The Oracle identity asserted upstream (for the audit record).
    pub identity: String,
    /// Upstream `token` mode: the cached token this request carries.
    pub upstream_token: Option<TokenUse>,
    /// The redaction rules for this request's response (None: passed through untouched).
    pub redaction: Option<Arc<MaskRules>>,
    /// The governed request headers granted (and present): they reach Oracle.
    pub governed_headers: u8,
    /// The endpoint is a batch root: the body's parts are admitted before relaying.
    pub batch: bool,
}

impl Admission {
    /// The admission of a request for `tenant`, relayed with `credential`.
    pub fn new(
        tenant: TenantId,
        credential: UpstreamCredential,
        redaction: Option<Arc<MaskRules>>,
    ) -> Admission {
        Admission {
            tenant,
            identity: credential.identity.clone(),
            upstream_token: credential.token_use.clone(),
            credential: Some(credential),
            redaction,
            governed_headers: 0,
            batch: false,
        }
    }
}

/// Per-request state shared across Pingora phases.
pub struct RequestCtx {
    /// The request id, also sent as `X-Request-Id`.
    pub request_id: String,
    /// A chunked body read whole before relaying (`body.rs`): its length, sent upstream as
    /// `Content-Length`.
    pub buffered_body: Option<u64>,
    /// When `request_filter` started.
    pub started: Option<Instant>,
    /// When the request was handed to the upstream.
    pub upstream_started: Option<Instant>,
    /// When the upstream response header arrived.
    pub upstream_answered: Option<Instant>,
    /// The configuration this request runs under, from start to end (pinned by `new_ctx`).
    pub compiled: Arc<Compiled>,
    /// The access state this request runs under (pinned by `new_ctx`).
    pub view: Arc<DirectoryView>,
    /// What the chain established (for the audit record and metrics).
    pub trace: Trace,
    /// The decision.
    pub decision: Decision,
    /// What admission established; set exactly when the request is relayed.
    pub admission: Option<Admission>,
    /// Whether the request carries a body (decides keep-alive after a denial, and whether a
    /// refused upstream token may be retried).
    pub has_body: bool,
    /// Close the connection after this answer, whatever the request carried (a refusal
    /// before the request's framing was trusted).
    pub close_connection: bool,
    /// Request body bytes seen so far.
    pub body_bytes: u64,
    /// Upstream response status, when one arrived.
    pub upstream_status: Option<u16>,
    /// Oracle's execution context id (`X-ORACLE-DMS-ECID`) of the response: stripped from
    /// what the client sees, kept in the audit record for a support ticket.
    pub oracle_ecid: Option<http::HeaderValue>,
    /// When the decision chain finished.
    pub decided: Option<Instant>,
    /// The reserved audit slot; consumed in `logging`.
    pub audit_slot: Option<crate::audit::Slot>,
    /// Request body preview for the audit record (empty unless previews are on).
    pub request_preview: crate::audit::preview::Preview,
    /// Response body preview for the audit record (empty unless previews are on).
    pub response_preview: crate::audit::preview::Preview,
    /// The response body's masker, when the response is being redacted. Boxed: the context
    /// lives as long as its request, and most requests carry no masker.
    pub body_redaction: Option<Box<crate::redact::body::BodyRedaction>>,
    /// The request's `Origin` when it is allowed (CORS headers go on the response).
    pub cors_origin: Option<String>,
    /// Whether this is a `POST /gateway/token` request (recorded as kind `token`).
    pub token_endpoint: bool,
    /// A request to a Page Integration launch path: its query (a launch token) is never
    /// recorded.
    pub launch_path: bool,
    /// The launch token's audit name (first 12 hex characters of its keyed hash).
    pub launch_token: Option<String>,
    /// The public id of the token issued, when one was.
    pub issued_token: Option<String>,
    /// Whether the request was already retried with a refreshed upstream token.
    pub token_refreshed: bool,
    /// `Strict-Transport-Security` for every response, when the listener speaks TLS.
    pub hsts: Option<std::sync::Arc<str>>,
    /// The request's W3C trace context, when spans are exported or a client may send one.
    pub trace_context: Option<crate::telemetry::TraceContext>,
}

impl RequestCtx {
    /// The context of a request that runs under `compiled` and `view` from start to end.
    pub fn new(compiled: Arc<Compiled>, view: Arc<DirectoryView>) -> RequestCtx {
        RequestCtx {
            request_id: String::new(),
            buffered_body: None,
            started: None,
            upstream_started: None,
            upstream_answered: None,
            compiled,
            view,
            trace: Trace::default(),
            decision: Decision::Pending,
            admission: None,
            has_body: false,
            close_connection: false,
            body_bytes: 0,
            upstream_status: None,
            oracle_ecid: None,
            decided: None,
            audit_slot: None,
            request_preview: Default::default(),
            response_preview: Default::default(),
            body_redaction: None,
            cors_origin: None,
            token_endpoint: false,
            launch_path: false,
            launch_token: None,
            issued_token: None,
            token_refreshed: false,
            hsts: None,
            trace_context: None,
        }
    }

    /// The redaction rules of the response, when it is relayed and rules apply.
    pub fn redaction(&self) -> Option<&Arc<MaskRules>> {
        self.admission.as_ref()?.redaction.as_ref()
    }
}

impl std::fmt::Debug for RequestCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCtx")
            .field("request_id", &self.request_id)
            .field("trace", &self.trace)
            .field("decision", &self.decision)
            .field("upstream_status", &self.upstream_status)
            .finish_non_exhaustive()
    }
}
