//! What the phases hand each other: one `RequestCtx` per request.
//!
//! `request_filter` fills it (the snapshot and directory view the request will use from start
//! to end, who the caller is, what matched, the decision); later phases read it; `logging`
//! turns it into the request's record. Nothing else carries state between phases.

use std::sync::Arc;
use std::time::Instant;

use crate::app::Compiled;
use crate::auth::Principal;
use crate::directory::DirectoryView;
use crate::gateway::deny::Deny;
use crate::policy::{EndpointId, GrantRef};
use crate::snapshot::TenantId;
use crate::upstream::inject::UpstreamCredential;

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
}

/// Per-request state shared across Pingora phases.
#[derive(Default)]
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
    /// The configuration this request runs under, from start to end.
    pub compiled: Option<Arc<Compiled>>,
    /// The access state this request runs under.
    pub view: Option<Arc<DirectoryView>>,
    /// What the chain established.
    pub trace: Trace,
    /// The decision.
    pub decision: Decision,
    /// The credential to inject; taken (and dropped, zeroising our copies) when injected.
    pub upstream_credential: Option<UpstreamCredential>,
    /// Whether the request carries a body (decides keep-alive after a denial).
    pub has_body: bool,
    /// Request body bytes seen so far.
    pub body_bytes: u64,
    /// Upstream response status, when one arrived.
    pub upstream_status: Option<u16>,
    /// When the decision chain finished.
    pub decided: Option<Instant>,
    /// The Oracle identity asserted upstream (for the audit record).
    pub upstream_identity: Option<String>,
    /// The reserved audit slot; consumed in `logging`.
    pub audit_slot: Option<crate::audit::Slot>,
    /// Request body preview for the audit record (empty unless previews are on).
    pub request_preview: crate::audit::preview::Preview,
    /// Response body preview for the audit record (empty unless previews are on).
    pub response_preview: crate::audit::preview::Preview,
    /// The redaction rules for this request's response (None: passed through untouched).
    pub redaction: Option<Arc<crate::redact::MaskRules>>,
    /// The response body's masker, when the response is being redacted.
    pub body_redaction: Option<crate::redact::body::BodyRedaction>,
    /// The request's `Origin` when it is allowed (CORS headers go on the response).
    pub cors_origin: Option<String>,
    /// Whether this is a `POST /gateway/token` request (recorded as kind `token`).
    pub token_endpoint: bool,
    /// The public id of the token issued, when one was.
    pub issued_token: Option<String>,
    /// Upstream `token` mode: the cached token this request carries.
    pub upstream_token: Option<crate::upstream::inject::TokenUse>,
    /// Whether the request was already retried with a refreshed upstream token.
    pub token_refreshed: bool,
    /// `Strict-Transport-Security` for every response, when the listener speaks TLS.
    pub hsts: Option<std::sync::Arc<str>>,
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
