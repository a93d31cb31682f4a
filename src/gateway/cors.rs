//! CORS for browser callers (Oracle pages embedding calls to the gateway): an explicit origin
//! allowlist per tenant (`tenants.T.cors_origins`), no wildcards.
//!
//! Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) carry no
//! credential, so they are answered by the gateway itself for an origin that *some* tenant
//! allows, with a fixed method and header list (never the catalog: an unauthenticated caller
//! learns nothing about it), and never relayed. Actual requests from a browser must come from
//! an origin the caller's own tenant allows, or are refused with 403 `cors.origin_denied`.
//! Responses to allowed origins name that origin (never `*`), allow credentials, vary on
//! `Origin` and expose the headers a client needs.

use pingora::http::{RequestHeader, ResponseHeader};

use crate::snapshot::{Snapshot, Tenant};

/// Methods a preflight may be told about.
pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
/// Request headers a browser may send.
pub const ALLOW_HEADERS: &str =
    "authorization, content-type, x-api-key, accept, if-match, if-none-match, rest-framework-version";
/// Response headers a browser script may read.
pub const EXPOSE_HEADERS: &str = "x-request-id, etag, location, retry-after";
/// How long a browser may cache a preflight answer (seconds).
pub const MAX_AGE: &str = "600";

/// The request's `Origin` (lowercased), when some tenant allows it.
pub fn allowed_anywhere(snapshot: &Snapshot, origin: &[u8]) -> Option<String> {
    let o = std::str::from_utf8(origin)
        .ok()?
        .trim()
        .to_ascii_lowercase();
    snapshot
        .tenants
        .iter()
        .any(|t| allowed_for(t, &o))
        .then_some(o)
}

/// Whether `tenant` allows `origin` (as returned by [`allowed_anywhere`]): one of its CORS
/// origins. (A browser session's own page is the gateway's origin: same-origin, no CORS.)
pub fn allowed_for(tenant: &Tenant, origin: &str) -> bool {
    tenant.cors_origins.iter().any(|a| a == origin)
}

/// Whether `req` is a CORS preflight.
pub fn is_preflight(req: &RequestHeader) -> bool {
    req.method == http::Method::OPTIONS
        && req.headers.contains_key(http::header::ORIGIN)
        && req
            .headers
            .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The 204 answer to a preflight from `origin`.
pub fn preflight(
    origin: &str,
    request_id: &str,
    hsts: Option<&str>,
) -> pingora::Result<ResponseHeader> {
    let mut h = ResponseHeader::build(204, Some(8))?;
    h.insert_header(http::header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS)?;
    h.insert_header(http::header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)?;
    h.insert_header(http::header::ACCESS_CONTROL_MAX_AGE, MAX_AGE)?;
    h.insert_header(http::header::CONTENT_LENGTH, "0")?;
    apply(&mut h, origin)?;
    crate::redact::headers::apply(&mut h, request_id, hsts)?;
    Ok(h)
}

/// Adds the CORS response headers for an allowed `origin`.
pub fn apply(resp: &mut ResponseHeader, origin: &str) -> pingora::Result<()> {
    resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)?;
    resp.insert_header(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true")?;
    resp.insert_header(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS)?;
    resp.insert_header(http::header::VARY, "Origin")?;
    Ok(())
}
