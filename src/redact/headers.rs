//! Response header rules: an allowlist for what Oracle answers, `Location` rewriting, and the
//! security headers on everything the public listener sends.
//!
//! Upstream headers reach the caller only when [`ALLOWED_RESPONSE_HEADERS`] (or the operator's
//! `gateway.allow_response_headers`) names them ([`filter_upstream`]): Oracle's session
//! cookies (`Set-Cookie: JSESSIONID`, OAM SSO cookies), its `WWW-Authenticate` challenge naming
//! the integration user, `X-ORACLE-DMS-*` diagnostics and anything Oracle adds tomorrow stay
//! behind the gateway. `Location` and `Content-Location` are rewritten like `links[].href`
//! ([`LocationRewrite`]). Then, on every response, relayed or generated ([`apply`]): `nosniff`,
//! frame denial, no-referrer, a restrictive permissions policy and `Cache-Control: no-store`
//! (ERP data must never sit in a shared or browser cache); HSTS when the listener speaks TLS.

use http::header::{HeaderName, HeaderValue};

use super::head::ResponseHead;

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

/// The security headers set on every response: the name, its spelling on the wire (what the
/// relay writes: Pingora keeps a response's spelling, and a static one costs it no copy), and
/// the value. The Content-Security-Policy is an API's: a relayed answer a browser renders
/// anyway (an attachment Oracle serves as HTML, opened in a browser session on the gateway's
/// origin) runs no script, loads nothing and cannot be framed; the gateway's own pages replace
/// it with theirs.
pub static SECURITY_HEADERS: [(HeaderName, &str, HeaderValue); 6] = [
    (
        HeaderName::from_static("x-content-type-options"),
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        "X-Frame-Options",
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        "Referrer-Policy",
        HeaderValue::from_static("no-referrer"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        "Permissions-Policy",
        HeaderValue::from_static(
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), payment=(), usb=()",
        ),
    ),
    (
        HeaderName::from_static("cache-control"),
        "Cache-Control",
        HeaderValue::from_static("no-store"),
    ),
    (
        HeaderName::from_static("content-security-policy"),
        "Content-Security-Policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
    ),
];

/// Upstream response headers passed to the caller; everything else is dropped. Framing
/// (`Content-Length`, `Transfer-Encoding`; Pingora writes `Connection` and `Date` itself), the
/// representation (`Content-Type`, `-Encoding`, `-Language`, `-Disposition`, `-Range`,
/// digests), validators (`ETag`, `Last-Modified`; `ETag` is dropped again when values are
/// masked), `Vary`, `Accept-Ranges`, `Allow` (405), `Retry-After` (429/503), `Location` and
/// `Content-Location` (rewritten), and `REST-Framework-Version`, which Oracle's REST clients
/// read. `Cache-Control` is replaced by the gateway's own. Not passed: `Link` (it names Oracle's
/// host; Oracle's links travel in the body), cookies, authentication challenges, CORS (the
/// gateway's own), hop-by-hop and diagnostic headers.
pub static ALLOWED_RESPONSE_HEADERS: [HeaderName; 20] = [
    HeaderName::from_static("content-type"),
    HeaderName::from_static("content-length"),
    HeaderName::from_static("transfer-encoding"),
    HeaderName::from_static("content-encoding"),
    HeaderName::from_static("content-language"),
    HeaderName::from_static("content-disposition"),
    HeaderName::from_static("content-range"),
    HeaderName::from_static("content-md5"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-digest"),
    HeaderName::from_static("repr-digest"),
    HeaderName::from_static("etag"),
    HeaderName::from_static("last-modified"),
    HeaderName::from_static("vary"),
    HeaderName::from_static("accept-ranges"),
    HeaderName::from_static("allow"),
    HeaderName::from_static("retry-after"),
    HeaderName::from_static("location"),
    HeaderName::from_static("content-location"),
    HeaderName::from_static("rest-framework-version"),
];

/// Why a header may never be passed from upstream, whatever the configuration says (the
/// reason is the configuration error's wording); `None` when an operator may allow it.
pub fn never_passed(name: &str) -> Option<&'static str> {
    const SESSION: [&str; 6] = [
        "set-cookie",
        "set-cookie2",
        "www-authenticate",
        "proxy-authenticate",
        "authentication-info",
        "proxy-authentication-info",
    ];
    const HOP: [&str; 6] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ];
    let n = name.to_ascii_lowercase();
    if SESSION.contains(&n.as_str()) {
        Some("carries Oracle's session or authentication and is never passed to callers")
    } else if HOP.contains(&n.as_str()) {
        Some("is hop-by-hop; the gateway frames its own connections")
    } else if n == "x-request-id"
        || n == "expires"
        || n == "pragma"
        || n.starts_with("access-control-")
        || SECURITY_HEADERS.iter().any(|(h, _, _)| h.as_str() == n)
        || n == "strict-transport-security"
    {
        Some("is set by the gateway itself")
    } else if n.starts_with("x-oracle-dms-") || BACKEND_HEADERS.iter().any(|h| h.as_str() == n) {
        Some("identifies Oracle's servers")
    } else {
        None
    }
}

/// Rewrites `Location`/`Content-Location` values that name the tenant's upstream origin: to
/// `gateway.public_base_url` when set, else to a path-absolute reference (`/fscmRestApi/…`),
/// which the client resolves against the gateway URL it called. The request's `Host` is never
/// used: it is the caller's to choose. A value naming any other origin (an Oracle SSO page,
/// a network-path `//host/…`) is dropped; relative references are kept.
#[derive(Clone, Debug, Default)]
pub struct LocationRewrite {
    /// Lowercase origins Oracle may write for the tenant, longest first.
    origins: Vec<String>,
    /// The public origin, without a trailing slash; `None`: path-absolute references.
    to: Option<String>,
}

impl LocationRewrite {
    /// Rewrites `origins` (e.g. `https://acme.fa.ocs.oraclecloud.com` and the same with
    /// `:443`) to `to`.
    pub fn new(origins: Vec<String>, to: Option<String>) -> LocationRewrite {
        let mut origins: Vec<String> = origins.iter().map(|o| o.to_ascii_lowercase()).collect();
        origins.sort_by_key(|o| std::cmp::Reverse(o.len()));
        origins.dedup();
        LocationRewrite { origins, to }
    }

    /// The value to send for an upstream `Location`/`Content-Location`, or `None` to drop it.
    pub fn rewrite(&self, value: &[u8]) -> Option<Vec<u8>> {
        if value.is_empty()
            || value
                .iter()
                .any(|b| *b == b'\\' || b.is_ascii_control() || *b == b' ' || !b.is_ascii())
        {
            return None;
        }
        if value.starts_with(b"//") {
            return None;
        }
        if value.starts_with(b"/") {
            return Some(value.to_vec());
        }
        let scheme_end = value
            .iter()
            .position(|b| matches!(b, b':' | b'/' | b'?' | b'#'));
        let absolute = scheme_end.is_some_and(|i| {
            value[i] == b':'
                && i > 0
                && value[0].is_ascii_alphabetic()
                && value[..i]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        });
        if !absolute {
            return Some(value.to_vec()); // a relative path: resolved under the gateway's URL
        }
        let origin = self.origins.iter().find(|o| {
            value.len() >= o.len()
                && value[..o.len()].eq_ignore_ascii_case(o.as_bytes())
                && matches!(value.get(o.len()), None | Some(b'/' | b'?' | b'#'))
        })?;
        let rest = &value[origin.len()..];
        // Without a public origin the result is a path on the gateway: a remainder that would
        // read as a network-path reference (`//other.example/x`) names another host instead.
        if self.to.is_none() && rest.starts_with(b"//") {
            return None;
        }
        let mut out = Vec::with_capacity(value.len() + 32);
        match &self.to {
            Some(base) => out.extend_from_slice(base.as_bytes()),
            None if !rest.starts_with(b"/") => out.push(b'/'),
            None => {}
        }
        out.extend_from_slice(rest);
        Some(out)
    }
}

/// Drops every upstream header that neither [`ALLOWED_RESPONSE_HEADERS`] nor `extra` (the
/// checked `gateway.allow_response_headers`) names, then rewrites `Location` and
/// `Content-Location` with `location` (without one, only path-absolute and relative references
/// are kept). Several values of one of them are ambiguous and dropped. What passes is never a
/// backend header or `Expires` (`strip_backend`), even if `extra` names one, so a relayed head
/// needs only [`set_security`] after this.
pub fn filter_upstream<H: ResponseHead>(
    resp: &mut H,
    extra: &[HeaderName],
    location: Option<&LocationRewrite>,
) -> Result<(), H::Error> {
    let passes = |n: &HeaderName| {
        ALLOWED_RESPONSE_HEADERS.contains(n) || (extra.contains(n) && !stripped(n))
    };
    let unwanted: Vec<HeaderName> = resp
        .headers()
        .keys()
        .filter(|n| !passes(n))
        .cloned()
        .collect();
    for name in &unwanted {
        resp.remove(name);
    }
    let fallback = LocationRewrite::default();
    let rewrite = location.unwrap_or(&fallback);
    for (name, spelled) in [
        (http::header::LOCATION, "Location"),
        (http::header::CONTENT_LOCATION, "Content-Location"),
    ] {
        let mut values = resp.headers().get_all(&name).iter();
        let new = match (values.next(), values.next()) {
            (Some(v), None) => rewrite.rewrite(v.as_bytes()),
            (None, _) => continue,
            (Some(_), Some(_)) => None,
        };
        resp.remove(&name);
        if let Some(v) = new {
            resp.insert_bytes(spelled, &v)?;
        }
    }
    Ok(())
}

static EXPIRES: HeaderName = HeaderName::from_static("expires");

/// Whether [`strip_backend`] removes `name`.
fn stripped(name: &HeaderName) -> bool {
    BACKEND_HEADERS.contains(name) || *name == EXPIRES
}

/// Removes backend-revealing headers and sets the security headers and `X-Request-Id`
/// (`strip_backend`, then [`set_security`]); `hsts` is the `Strict-Transport-Security`
/// value when the listener speaks TLS. For a head the gateway builds; a relayed one has been
/// through [`filter_upstream`], which leaves nothing to strip.
pub fn apply<H: ResponseHead>(
    resp: &mut H,
    request_id: &str,
    hsts: Option<&str>,
) -> Result<(), H::Error> {
    strip_backend(resp);
    set_security(resp, request_id, hsts)
}

/// Removes the headers that reveal the backend ([`BACKEND_HEADERS`]) and `Expires` (meant
/// for caches the gateway forbids anyway).
fn strip_backend<H: ResponseHead>(resp: &mut H) {
    for name in &BACKEND_HEADERS {
        resp.remove(name);
    }
    resp.remove(&EXPIRES);
}

/// Sets the security headers ([`SECURITY_HEADERS`], and `Strict-Transport-Security` to
/// `hsts` when given) and `X-Request-Id`, replacing any of those names already there.
pub fn set_security<H: ResponseHead>(
    resp: &mut H,
    request_id: &str,
    hsts: Option<&str>,
) -> Result<(), H::Error> {
    for (_, spelled, value) in &SECURITY_HEADERS {
        resp.insert(spelled, value.clone())?;
    }
    if let Some(value) = hsts {
        resp.insert_bytes("Strict-Transport-Security", value.as_bytes())?;
    }
    resp.insert_bytes("X-Request-Id", request_id.as_bytes())?;
    Ok(())
}

/// Oracle's execution context id on `head` (`X-ORACLE-DMS-ECID`), when it is a plausible
/// one: 1–128 visible ASCII characters. Anything else from upstream is not recorded.
/// The value itself is kept (a reference to the response head's bytes, not a copy): visible
/// ASCII, so [`HeaderValue::to_str`] reads it.
pub fn oracle_ecid<H: ResponseHead>(head: &H) -> Option<HeaderValue> {
    let v = head.headers().get("x-oracle-dms-ecid")?;
    let b = v.as_bytes();
    let plausible = (1..=128).contains(&b.len()) && b.iter().all(|c| (0x21..=0x7e).contains(c));
    plausible.then(|| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::head::TestHead;

    #[test]
    fn strips_backend_and_adds_security_headers() {
        let mut r = TestHead::new(200);
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

    #[test]
    fn only_a_plausible_oracle_ecid_is_kept() {
        let ecid = |v: &[u8]| {
            let mut r = TestHead::new(200);
            r.headers.insert(
                HeaderName::from_static("x-oracle-dms-ecid"),
                HeaderValue::from_bytes(v).expect("value"),
            );
            oracle_ecid(&r).map(|v| v.to_str().expect("ascii").to_string())
        };
        assert_eq!(ecid(b"005f0a^b~").as_deref(), Some("005f0a^b~"));
        assert_eq!(ecid(&[b'e'; 128]).map(|s| s.len()), Some(128));
        for bad in [&b""[..], &[b'e'; 129], b"a b", b"a\tb", "é".as_bytes()] {
            assert_eq!(ecid(bad), None, "{bad:?}");
        }
        assert_eq!(oracle_ecid(&TestHead::new(200)), None);
    }

    #[test]
    fn security_headers_are_spelled_as_named() {
        for (name, spelled, _) in &SECURITY_HEADERS {
            assert_eq!(
                HeaderName::from_bytes(spelled.as_bytes()).ok().as_ref(),
                Some(name)
            );
            let titled = spelled
                .split('-')
                .all(|w| w.starts_with(|c: char| c.is_ascii_uppercase()));
            assert!(titled, "{spelled}");
        }
    }

    fn oracle_response() -> TestHead {
        let mut r = TestHead::new(201);
        for (k, v) in [
            ("Content-Type", "application/vnd.oracle.adf.resourceitem+json"),
            ("Content-Length", "120"),
            ("ETag", "\"ACED0005\""),
            ("Set-Cookie", "JSESSIONID=abc123; Path=/; HttpOnly"),
            ("Set-Cookie", "OAMAuthnCookie_acme=xyz; Secure"),
            ("WWW-Authenticate", "Basic realm=\"FIN_INTEGRATION\""),
            ("X-ORACLE-DMS-CONTEXT", "RaJkMr0"),
            ("X-ORACLE-DMS-ECID", "005f"),
            ("Link", "<https://acme.fa.ocs.oraclecloud.com/x>; rel=next"),
            ("Access-Control-Allow-Origin", "*"),
            ("Keep-Alive", "timeout=5"),
            ("REST-Framework-Version", "4"),
            ("X-Something-New", "tomorrow"),
            (
                "Location",
                "https://acme.fa.ocs.oraclecloud.com/fscmRestApi/resources/11.13.18.05/invoices/300126",
            ),
        ] {
            r.append_header(k.to_string(), v).expect("header");
        }
        r
    }

    fn origins() -> Vec<String> {
        vec![
            "https://acme.fa.ocs.oraclecloud.com".into(),
            "https://acme.fa.ocs.oraclecloud.com:443".into(),
        ]
    }

    #[test]
    fn only_allowed_upstream_headers_pass() {
        let mut r = oracle_response();
        let public = LocationRewrite::new(origins(), Some("https://erp-gw.example.com".into()));
        filter_upstream(&mut r, &[], Some(&public)).expect("filter");
        let names: Vec<&str> = r.headers.keys().map(|n| n.as_str()).collect();
        for gone in [
            "set-cookie",
            "www-authenticate",
            "x-oracle-dms-context",
            "x-oracle-dms-ecid",
            "link",
            "access-control-allow-origin",
            "keep-alive",
            "x-something-new",
        ] {
            assert!(!names.contains(&gone), "{gone} passed: {names:?}");
        }
        for kept in [
            "content-type",
            "content-length",
            "etag",
            "rest-framework-version",
        ] {
            assert!(names.contains(&kept), "{kept} dropped: {names:?}");
        }
        assert_eq!(
            r.headers.get("location").map(|v| v.as_bytes()),
            Some(
                &b"https://erp-gw.example.com/fscmRestApi/resources/11.13.18.05/invoices/300126"[..]
            )
        );
        // An operator extension passes exactly the header it names.
        let mut r = oracle_response();
        let extra = [HeaderName::from_static("x-something-new")];
        filter_upstream(&mut r, &extra, None).expect("filter");
        assert_eq!(
            r.headers.get("x-something-new").map(|v| v.as_bytes()),
            Some(&b"tomorrow"[..])
        );
        assert!(r.headers.get("set-cookie").is_none());
        // Without a rewrite for the tenant, an absolute Location is not passed.
        assert!(r.headers.get("location").is_none());
    }

    /// The relay sets only the security headers after `filter_upstream`: what passes it must
    /// already be what `strip_backend` would leave, whatever `extra` names.
    #[test]
    fn nothing_strip_backend_removes_passes_the_filter() {
        for name in ALLOWED_RESPONSE_HEADERS.iter() {
            assert!(!stripped(name), "{name} is allowed and stripped");
        }
        let mut stripped_names: Vec<HeaderName> = BACKEND_HEADERS.to_vec();
        stripped_names.push(EXPIRES.clone());
        let mut r = oracle_response();
        for name in &stripped_names {
            r.append_header(name.as_str().to_string(), "backend")
                .expect("header");
        }
        // Even named as extras (the configuration refuses that, `never_passed`), they go.
        filter_upstream(&mut r, &stripped_names, None).expect("filter");
        for name in &stripped_names {
            assert!(r.headers.get(name).is_none(), "{name} passed");
            assert!(
                never_passed(name.as_str()).is_some(),
                "{name} may be allowed"
            );
        }
        let before = r.headers.clone();
        strip_backend(&mut r);
        assert_eq!(r.headers, before, "strip_backend found something to remove");
    }

    #[test]
    fn locations_are_rewritten_or_dropped() {
        let public = LocationRewrite::new(origins(), Some("https://gw.example.com".into()));
        let relative = LocationRewrite::new(origins(), None);
        let cases: [(&str, Option<&str>, Option<&str>); 13] = [
            (
                "https://acme.fa.ocs.oraclecloud.com/fscmRestApi/x/1",
                Some("https://gw.example.com/fscmRestApi/x/1"),
                Some("/fscmRestApi/x/1"),
            ),
            (
                "HTTPS://ACME.fa.ocs.oraclecloud.com:443/a?b=1",
                Some("https://gw.example.com/a?b=1"),
                Some("/a?b=1"),
            ),
            (
                "https://acme.fa.ocs.oraclecloud.com",
                Some("https://gw.example.com"),
                Some("/"),
            ),
            (
                "https://acme.fa.ocs.oraclecloud.com?x",
                Some("https://gw.example.com?x"),
                Some("/?x"),
            ),
            (
                "/fscmRestApi/x/1",
                Some("/fscmRestApi/x/1"),
                Some("/fscmRestApi/x/1"),
            ),
            ("300126", Some("300126"), Some("300126")),
            // Another origin, or one that only starts like the tenant's: dropped.
            (
                "https://acme.fa.ocs.oraclecloud.com.evil.example/x",
                None,
                None,
            ),
            ("https://login.oracle.com/oam/server/auth", None, None),
            ("https://user@acme.fa.ocs.oraclecloud.com/x", None, None),
            ("//evil.example/x", None, None),
            // The tenant's origin followed by a network-path reference: as a path on the
            // gateway it would name another host.
            (
                "https://acme.fa.ocs.oraclecloud.com//evil.example/x",
                Some("https://gw.example.com//evil.example/x"),
                None,
            ),
            ("/\\evil.example/x", None, None),
            ("javascript:alert(1)", None, None),
        ];
        for (input, want_public, want_relative) in cases {
            let got = |r: &LocationRewrite| {
                r.rewrite(input.as_bytes())
                    .map(|v| String::from_utf8(v).expect("ascii"))
            };
            assert_eq!(got(&public).as_deref(), want_public, "{input} (public)");
            assert_eq!(
                got(&relative).as_deref(),
                want_relative,
                "{input} (relative)"
            );
        }
    }

    #[test]
    fn session_gateway_hop_and_backend_headers_can_never_be_allowed() {
        for name in [
            "Set-Cookie",
            "WWW-Authenticate",
            "Connection",
            "X-Request-Id",
            "Cache-Control",
            "Access-Control-Allow-Origin",
            "X-ORACLE-DMS-CONTEXT",
            "Server",
        ] {
            assert!(never_passed(name).is_some(), "{name}");
        }
        assert_eq!(never_passed("X-Oracle-Trace"), None);
        assert_eq!(never_passed("Link"), None);
    }
}
