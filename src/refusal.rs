//! The refusal vocabulary: why a request was refused ([`Reason`], with its stable code, HTTP
//! status and public message) and the refusal itself ([`Deny`]). A leaf: the domain modules
//! (`auth`, `policy`, `upstream`, …) produce these values and `metrics` counts them without
//! knowing how they are rendered; `gateway::deny` renders them as JSON error responses.

/// Why a request was refused (or failed). Each reason has a stable code, an HTTP status and a
/// public message. Codes are part of the API: operators and integrators key alerts on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The request target is ambiguous or malformed (see `path.rs`).
    PathRejected,
    /// No credential was presented.
    AuthMissing,
    /// A credential was presented but is not valid.
    AuthInvalid,
    /// A token was presented that has expired.
    AuthExpired,
    /// Too many failed attempts from this credential or address: locked out for a while.
    AuthLocked,
    /// The credential was valid but has been revoked.
    CredentialRevoked,
    /// The account behind the credential is suspended.
    AccountSuspended,
    /// The path matches nothing in the endpoint catalog.
    EndpointUnknown,
    /// The method is not one the catalog knows for that endpoint.
    MethodNotAllowed,
    /// No policy grants this subject this endpoint and method.
    PolicyDenied,
    /// Outside the access schedule.
    ScheduleClosed,
    /// The global kill switch is on.
    KillSwitchOn,
    /// The request's tenant has no usable upstream credential (an operator must fix it).
    UpstreamCredentialMissing,
    /// The upstream could not be reached or answered badly.
    UpstreamUnavailable,
    /// The upstream's TLS handshake failed: its certificate did not verify against the
    /// system roots or `gateway.upstream_ca_file`, or it named another host.
    UpstreamTls,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The request URI is too long.
    UriTooLong,
    /// The request body is too large.
    BodyTooLarge,
    /// The request is malformed in a way that is not about its path.
    BadRequest,
    /// Something failed inside the gateway; details are in the gateway log only.
    Internal,
    /// The audit trail cannot take the record: refused rather than relayed unaudited.
    AuditUnavailable,
    /// 503: the state database has been unreachable for longer than the staleness bound.
    StoreUnavailable,
    /// Redaction rules apply and the response could not be masked (not JSON, compressed, or
    /// invalid mid-stream): withheld rather than passed unmasked.
    RedactionFailed,
    /// A policy's rate limit is exhausted for this credential or account.
    RateLimited,
    /// Too many request header fields, or too many bytes of them.
    HeadersTooLarge,
    /// A browser request from an origin the tenant does not allow.
    CorsOriginDenied,
    /// The connection negotiated TLS 1.2 where `gateway.tls.min_version` is 1.3.
    TlsVersion,
    /// The request head (or a chunked body read before relaying) did not arrive within
    /// `client_timeout` once it had started.
    RequestTimeout,
    /// A chunked request body larger than the gateway reads whole before relaying: the client
    /// must declare a `Content-Length`.
    LengthRequired,
    /// Too many credential verifications at once (the argon2 queue is full, or this
    /// credential or address has as many in flight as failures left): retry shortly.
    AuthBusy,
    /// A method-override header (`X-HTTP-Method-Override` and its relatives): refused
    /// whatever the caller is granted, since a front end may honour it.
    MethodOverride,
    /// A header that changes what Oracle does (`Upsert-Mode`, `Effective-Of`,
    /// `Metadata-Context`) that no policy rule grants for this endpoint and method.
    HeaderDenied,
    /// The query filters, sorts, projects or finds by an attribute masked for this caller.
    QueryMaskedField,
    /// A query parameter this endpoint does not allow (`expand=all`, an undeclared finder where
    /// values are masked, a parameter Oracle's framework does not name where the tenant
    /// refuses those).
    QueryParameterDenied,
    /// The query string cannot be read unambiguously (an invalid escape, bytes that are not
    /// UTF-8, a quote left open).
    QueryMalformed,
    /// A Page Integration launch whose token did not verify (signature, issuer, audience,
    /// time, size) or that asked for something else than a launch.
    LaunchRefused,
    /// A Page Integration launch token that already started a session.
    LaunchReplayed,
    /// The tenant's signing key is held in a PKCS#11 token that could not sign (module,
    /// token, login or key unavailable): never a fallback to another key.
    UpstreamSigningUnavailable,
    /// A request in a browser session that changes something without the gateway page's own
    /// header and origin (a cross-site request forgery defence).
    SessionCsrf,
}

impl Reason {
    /// The stable reason code, e.g. `policy.denied`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::PathRejected => "path.rejected",
            Reason::AuthMissing => "auth.missing",
            Reason::AuthInvalid => "auth.invalid",
            Reason::AuthExpired => "auth.expired",
            Reason::AuthLocked => "auth.locked",
            Reason::CredentialRevoked => "credential.revoked",
            Reason::AccountSuspended => "account.suspended",
            Reason::EndpointUnknown => "endpoint.unknown",
            Reason::MethodNotAllowed => "method.not_allowed",
            Reason::PolicyDenied => "policy.denied",
            Reason::ScheduleClosed => "schedule.closed",
            Reason::KillSwitchOn => "killswitch.on",
            Reason::UpstreamCredentialMissing => "upstream.credential_missing",
            Reason::UpstreamUnavailable => "upstream.unavailable",
            Reason::UpstreamTls => "upstream.tls",
            Reason::TlsVersion => "tls.version",
            Reason::UpstreamTimeout => "upstream.timeout",
            Reason::UriTooLong => "request.uri_too_long",
            Reason::BodyTooLarge => "request.body_too_large",
            Reason::BadRequest => "request.malformed",
            Reason::Internal => "gateway.internal",
            Reason::AuditUnavailable => "audit.unavailable",
            Reason::StoreUnavailable => "store.unavailable",
            Reason::RedactionFailed => "redaction.failed",
            Reason::RateLimited => "ratelimit.exceeded",
            Reason::HeadersTooLarge => "request.headers_too_large",
            Reason::CorsOriginDenied => "cors.origin_denied",
            Reason::RequestTimeout => "request.timeout",
            Reason::LengthRequired => "request.length_required",
            Reason::AuthBusy => "auth.busy",
            Reason::MethodOverride => "request.method_override",
            Reason::HeaderDenied => "policy.header_denied",
            Reason::QueryMaskedField => "query.masked_field",
            Reason::QueryParameterDenied => "query.parameter_denied",
            Reason::QueryMalformed => "query.malformed",
            Reason::LaunchRefused => "launch.refused",
            Reason::LaunchReplayed => "launch.replayed",
            Reason::SessionCsrf => "session.csrf",
            Reason::UpstreamSigningUnavailable => "upstream.signing_unavailable",
        }
    }

    /// The HTTP status this reason is answered with.
    pub fn status(self) -> u16 {
        match self {
            Reason::PathRejected
            | Reason::BadRequest
            | Reason::MethodOverride
            | Reason::QueryMalformed => 400,
            Reason::AuthMissing
            | Reason::AuthInvalid
            | Reason::AuthExpired
            | Reason::CredentialRevoked
            | Reason::LaunchRefused
            | Reason::LaunchReplayed => 401,
            Reason::AccountSuspended
            | Reason::PolicyDenied
            | Reason::HeaderDenied
            | Reason::QueryMaskedField
            | Reason::QueryParameterDenied
            | Reason::ScheduleClosed
            | Reason::CorsOriginDenied
            | Reason::SessionCsrf => 403,
            Reason::EndpointUnknown => 404,
            Reason::MethodNotAllowed => 405,
            Reason::BodyTooLarge => 413,
            Reason::RateLimited | Reason::AuthLocked => 429,
            Reason::HeadersTooLarge => 431,
            Reason::UriTooLong => 414,
            Reason::TlsVersion => 426,
            Reason::RequestTimeout => 408,
            Reason::LengthRequired => 411,
            Reason::Internal => 500,
            Reason::UpstreamUnavailable
            | Reason::UpstreamTls
            | Reason::UpstreamCredentialMissing
            | Reason::UpstreamSigningUnavailable
            | Reason::RedactionFailed => 502,
            Reason::KillSwitchOn
            | Reason::AuditUnavailable
            | Reason::StoreUnavailable
            | Reason::AuthBusy => 503,
            Reason::UpstreamTimeout => 504,
        }
    }

    /// A short public explanation. Never mentions internals.
    pub fn message(self) -> &'static str {
        match self {
            Reason::PathRejected => "The request path is not in canonical form.",
            Reason::AuthMissing => "Authentication is required.",
            Reason::AuthInvalid => "The credentials are not valid.",
            Reason::AuthExpired => "The token has expired.",
            Reason::AuthLocked => {
                "Too many failed attempts; locked out for the time in Retry-After."
            }
            Reason::CredentialRevoked => "The credentials have been revoked.",
            Reason::AccountSuspended => "The account is suspended.",
            Reason::EndpointUnknown => "No such endpoint is served by this gateway.",
            Reason::MethodNotAllowed => "The method is not allowed on this endpoint.",
            Reason::PolicyDenied => "No policy grants this request.",
            Reason::ScheduleClosed => "Access is closed at this time by schedule.",
            Reason::KillSwitchOn => "Access is suspended by the gateway's kill switch.",
            Reason::UpstreamCredentialMissing => {
                "The gateway has no upstream credential configured for this account."
            }
            Reason::UpstreamUnavailable => "The upstream service is unavailable.",
            Reason::UpstreamTls => "The upstream service could not be reached securely.",
            Reason::TlsVersion => "This gateway accepts TLS 1.3 connections only.",
            Reason::UpstreamTimeout => "The upstream service did not answer in time.",
            Reason::UriTooLong => "The request URI is too long.",
            Reason::BodyTooLarge => "The request body is too large.",
            Reason::BadRequest => "The request is malformed.",
            Reason::Internal => "The gateway failed to process the request.",
            Reason::StoreUnavailable => {
                "The gateway cannot reach its state database and is refusing requests. Retry shortly."
            }
            Reason::AuditUnavailable => {
                "The gateway cannot record requests right now and is refusing them. Retry shortly."
            }
            Reason::RedactionFailed => {
                "The response could not be redacted as policy requires and was withheld."
            }
            Reason::RateLimited => "Too many requests; retry after the time in Retry-After.",
            Reason::HeadersTooLarge => "The request header fields are too large or too many.",
            Reason::CorsOriginDenied => "This origin may not call this gateway.",
            Reason::RequestTimeout => "The request did not arrive in time.",
            Reason::LengthRequired => {
                "A request body of this size must declare its length (Content-Length)."
            }
            Reason::AuthBusy => {
                "Too many credential checks are in progress; retry after the time in Retry-After."
            }
            Reason::MethodOverride => {
                "Method-override headers are not accepted; send the method itself."
            }
            Reason::HeaderDenied => {
                "A request header that changes what Oracle does is not granted for this request."
            }
            Reason::QueryMaskedField => {
                "The query filters, sorts, selects or finds by a field that is masked for this caller."
            }
            Reason::QueryParameterDenied => "A query parameter is not allowed for this endpoint.",
            Reason::QueryMalformed => "The query string cannot be read unambiguously.",
            Reason::LaunchRefused => {
                "The sign-in link from Oracle is not valid here. Open the page again from Oracle."
            }
            Reason::LaunchReplayed => {
                "This sign-in link from Oracle was already used. Open the page again from Oracle."
            }
            Reason::SessionCsrf => {
                "A change in a browser session must come from the gateway's own page."
            }
            Reason::UpstreamSigningUnavailable => {
                "The gateway cannot sign its upstream credential right now."
            }
        }
    }

    /// Whether this reason is a deliberate block by the operator's rules (policy, schedule,
    /// kill switch) rather than a client mistake or an outage.
    pub fn is_deliberate_block(self) -> bool {
        matches!(
            self,
            Reason::PolicyDenied | Reason::ScheduleClosed | Reason::KillSwitchOn
        )
    }

    /// Every reason, for documentation and metrics pre-registration.
    pub const ALL: [Reason; 39] = [
        Reason::PathRejected,
        Reason::AuthMissing,
        Reason::AuthInvalid,
        Reason::AuthExpired,
        Reason::AuthLocked,
        Reason::CredentialRevoked,
        Reason::AccountSuspended,
        Reason::EndpointUnknown,
        Reason::MethodNotAllowed,
        Reason::PolicyDenied,
        Reason::ScheduleClosed,
        Reason::KillSwitchOn,
        Reason::UpstreamCredentialMissing,
        Reason::UpstreamUnavailable,
        Reason::UpstreamTls,
        Reason::TlsVersion,
        Reason::UpstreamTimeout,
        Reason::UriTooLong,
        Reason::BodyTooLarge,
        Reason::BadRequest,
        Reason::Internal,
        Reason::AuditUnavailable,
        Reason::StoreUnavailable,
        Reason::RedactionFailed,
        Reason::RateLimited,
        Reason::HeadersTooLarge,
        Reason::CorsOriginDenied,
        Reason::RequestTimeout,
        Reason::LengthRequired,
        Reason::AuthBusy,
        Reason::MethodOverride,
        Reason::HeaderDenied,
        Reason::QueryMaskedField,
        Reason::QueryParameterDenied,
        Reason::QueryMalformed,
        Reason::LaunchRefused,
        Reason::LaunchReplayed,
        Reason::SessionCsrf,
        Reason::UpstreamSigningUnavailable,
    ];
}

/// A refusal: the reason, plus an optional detail that goes to the audit trail and the log
/// but never to the client (e.g. which path rule fired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deny {
    /// The reason code.
    pub reason: Reason,
    /// Internal detail for the audit record (static, never derived from secrets).
    pub detail: Option<&'static str>,
    /// Seconds for `Retry-After` (rate limits); other reasons use their fixed value.
    pub retry_after: Option<u32>,
}

impl Deny {
    /// A denial with no detail.
    pub fn new(reason: Reason) -> Self {
        Deny {
            reason,
            detail: None,
            retry_after: None,
        }
    }

    /// A denial with an internal detail.
    pub fn with_detail(reason: Reason, detail: &'static str) -> Self {
        Deny {
            reason,
            detail: Some(detail),
            retry_after: None,
        }
    }
}

impl From<Reason> for Deny {
    fn from(reason: Reason) -> Self {
        Deny::new(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert!(r.code().contains('.'));
            assert!((400..600).contains(&r.status()));
        }
    }

    #[test]
    fn deliberate_blocks_are_distinguishable_from_outages() {
        assert!(Reason::KillSwitchOn.is_deliberate_block());
        assert!(Reason::ScheduleClosed.is_deliberate_block());
        assert!(!Reason::UpstreamUnavailable.is_deliberate_block());
        assert_ne!(Reason::KillSwitchOn.status(), 502);
    }
}
