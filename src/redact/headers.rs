//! Response header rules: remove what reveals the backend, add the security headers.
//!
//! Applied to every response the public listener sends, relayed or generated: Oracle's
//! diagnostic and server-identifying headers go, and `nosniff`, frame denial, no-referrer, a
//! restrictive permissions policy and `Cache-Control: no-store` (ERP data must never sit in a
//! shared or browser cache) are set. HSTS is added when the listener speaks TLS.

use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

/// Upstream headers that identify the backend or leak its internals. Static names: removing
/// them parses nothing and allocates nothing per response.
pub static BACKEND_HEADERS: [HeaderName; 9] = [
    HeaderName::from_static("server"),
    HeaderName::from_static("x-powered-by"),
    HeaderName::from_static("x-oracle-dms-ecid"),
    HeaderName::from_static("x-oracle-dms-rid"),
    HeaderName::from_static("x-aspnet-version"),
    HeaderName::from_static("x-aspnetmvc-version"),
    HeaderName::from_static("via"),
    HeaderName::from_static("x-envoy-upstream-service-time"),
    HeaderName::from_static("x-backend-server"),
];

/// The security headers set on every response.
pub static SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), payment=(), usb=()",
        ),
    ),
    (
        HeaderName::from_static("cache-control"),
        HeaderValue::from_static("no-store"),
    ),
];

static EXPIRES: HeaderName = HeaderName::from_static("expires");
static HSTS: HeaderName = HeaderName::from_static("strict-transport-security");
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Removes backend-revealing headers and sets the security headers and `X-Request-Id`;
/// `hsts` is the `Strict-Transport-Security` value when the listener speaks TLS.
pub fn apply(
    resp: &mut ResponseHeader,
    request_id: &str,
    hsts: Option<&str>,
) -> pingora::Result<()> {
    for name in &BACKEND_HEADERS {
        resp.remove_header(name);
    }
    for (name, value) in &SECURITY_HEADERS {
        resp.insert_header(name.clone(), value.clone())?;
    }
    // Oracle answers may carry `Pragma`/`Expires` meant for caches we forbid anyway.
    resp.remove_header(&EXPIRES);
    if let Some(value) = hsts {
        resp.insert_header(HSTS.clone(), value)?;
    }
    resp.insert_header(REQUEST_ID.clone(), request_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_backend_and_adds_security_headers() {
        let mut r = ResponseHeader::build(200, None).expect("build");
        r.insert_header("Server", "Oracle-HTTP-Server").expect("h");
        r.insert_header("X-Powered-By", "Servlet/3.0").expect("h");
        r.insert_header("X-ORACLE-DMS-ECID", "abc").expect("h");
        r.insert_header("Cache-Control", "max-age=3600").expect("h");
        r.insert_header("ETag", "\"1\"").expect("h");
        apply(&mut r, "rid-1", None).expect("apply");
        assert!(r.headers.get("server").is_none());
        assert!(r.headers.get("x-powered-by").is_none());
        assert!(r.headers.get("x-oracle-dms-ecid").is_none());
        assert_eq!(
            r.headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..])
        );
        assert_eq!(r.headers.get_all("cache-control").iter().count(), 1);
        assert_eq!(
            r.headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"rid-1"[..])
        );
        assert!(r.headers.get("etag").is_some(), "unrelated headers stay");
        assert!(r.headers.get("strict-transport-security").is_none());
        apply(&mut r, "rid-1", Some("max-age=300; includeSubDomains")).expect("apply");
        assert_eq!(
            r.headers
                .get("strict-transport-security")
                .map(|v| v.as_bytes()),
            Some(&b"max-age=300; includeSubDomains"[..])
        );
    }
}
