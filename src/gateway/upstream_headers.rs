//! The upstream request's headers: what leaves the gateway for Oracle.
//!
//! An allowlist: only the headers `oracle::headers::DEFAULT_ALLOWED` names (content
//! negotiation, body framing, conditional requests, `REST-Framework-Version`), those
//! `gateway.allow_request_headers` and the endpoint's `request_headers` add, and the governed
//! headers the request was granted reach Oracle. Everything else a client sent is dropped —
//! its credentials, hop-by-hop headers, forwarding and URL-rewrite headers, cookies — and so
//! is any header the client nominated in `Connection`. Then `Host` is set to the tenant's
//! upstream host and the gateway's own credential is added. Runs in
//! `upstream_request_filter`; pure over Pingora's `RequestHeader`, so it is unit-tested here.

use http::header::{self, HeaderName, HeaderValue};
use pingora::http::RequestHeader;

use crate::oracle::headers::{allowed_by_default, Governed};

/// What may reach Oracle besides the built-in allowlist.
pub struct Allowed<'a> {
    /// `gateway.allow_request_headers`.
    pub gateway: &'a [HeaderName],
    /// The endpoint's `request_headers`.
    pub endpoint: &'a [HeaderName],
    /// Governed headers granted to this request (`Governed` bits).
    pub governed: u8,
}

impl Allowed<'_> {
    fn allows(&self, name: &HeaderName) -> bool {
        let n = name.as_str();
        allowed_by_default(n)
            || self.gateway.contains(name)
            || self.endpoint.contains(name)
            || Governed::of(n).is_some_and(|g| self.governed & g.bit() != 0)
    }
}

/// Keeps only what `allowed` allows, minus every header named in `Connection` and the names
/// in `extra` (the upstream credential header of the tenant, so a client can never supply
/// it itself).
pub fn sanitize(req: &mut RequestHeader, allowed: &Allowed<'_>, extra: &[&HeaderName]) {
    // One pass over the handful of headers the client sent.
    let mut doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| !allowed.allows(name) || extra.contains(name))
        .cloned()
        .collect();
    // Headers the client nominated as hop-by-hop in `Connection` (RFC 9110 §7.6.1).
    for token in req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        if let Ok(name) = HeaderName::from_bytes(token.trim().as_bytes()) {
            doomed.push(name);
        }
    }
    for name in &doomed {
        req.remove_header(name);
    }
}

/// Sets `Host` to the upstream's host header value.
pub fn set_host(req: &mut RequestHeader, host: &str) -> pingora::Result<()> {
    req.insert_header(header::HOST, host)
}

/// Sets the upstream credential header. `Authorization` (every mode but an API key in a header
/// of its own) is given by its static spelling, which Pingora keeps without copying it.
pub fn set_credential(
    req: &mut RequestHeader,
    name: &HeaderName,
    value: &HeaderValue,
) -> pingora::Result<()> {
    if *name == header::AUTHORIZATION {
        req.insert_header("Authorization", value.clone())
    } else {
        req.insert_header(name.clone(), value.clone())
    }
}

/// For a response that will be redacted: asks Oracle for an uncompressed body (the gateway
/// does not decode) and for the whole representation (a byte range of JSON cannot be
/// parsed, so `Range` and `If-Range` go).
pub fn prepare_for_redaction(req: &mut RequestHeader) -> pingora::Result<()> {
    remove_present(req, &[header::RANGE, header::IF_RANGE]);
    req.insert_header(
        "Accept-Encoding",
        http::HeaderValue::from_static("identity"),
    )
}

/// When values will be masked: no validator the caller chose reaches Oracle on a safe
/// method (`If-None-Match` on any; `If-Match`, `If-Unmodified-Since`… on GET/HEAD). Oracle's
/// tags are computed over the unmasked body, so a 304 or 412 would confirm a guessed tag, and a
/// guessed tag a guessed hidden value. `If-Match` on writes stays (dropping it would turn a
/// conditional update into an unconditional one); the gateway sends callers no tag for masked
/// responses, so they hold none to send.
pub fn prepare_for_masking(req: &mut RequestHeader) {
    remove_present(req, &[header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE]);
    if matches!(req.method, http::Method::GET | http::Method::HEAD) {
        remove_present(req, &[header::IF_MATCH, header::IF_UNMODIFIED_SINCE]);
    }
}

/// Removes the headers of `names` the request has (most are absent: a removal looks the name
/// up in each of Pingora's two maps, a check in one; `ResponseHead::remove_present`).
fn remove_present(req: &mut RequestHeader, names: &[HeaderName]) {
    for name in names {
        if req.headers.contains_key(name) {
            req.remove_header(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_asks_for_identity_and_the_whole_body() {
        let mut r = req(&[
            ("accept-encoding", "gzip, br"),
            ("range", "bytes=0-99"),
            ("if-range", "\"x\""),
        ]);
        prepare_for_redaction(&mut r).expect("prepare");
        assert_eq!(
            r.headers
                .get_all("accept-encoding")
                .iter()
                .collect::<Vec<_>>(),
            ["identity"]
        );
        assert!(r.headers.get("range").is_none() && r.headers.get("if-range").is_none());
    }

    #[test]
    fn masking_drops_validators_a_guess_could_be_tested_with() {
        let conditional = [("if-none-match", "\"g\""), ("if-match", "\"g\"")];
        let mut r = req(&conditional);
        prepare_for_masking(&mut r);
        assert!(r.headers.get("if-none-match").is_none() && r.headers.get("if-match").is_none());
        let mut w = RequestHeader::build("PATCH", b"/x", None).expect("build");
        for (k, v) in conditional {
            w.append_header(k, v).expect("append");
        }
        prepare_for_masking(&mut w);
        assert!(w.headers.get("if-none-match").is_none());
        assert!(
            w.headers.get("if-match").is_some(),
            "a conditional write stays conditional"
        );
    }

    /// The wire form of `r`'s headers.
    fn wire(r: &RequestHeader) -> String {
        let mut out = Vec::new();
        r.header_to_h1_wire(&mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn the_credential_replaces_any_spelling_of_its_name() {
        let basic = HeaderValue::from_static("Basic Z3c6c2VjcmV0");
        let mut r = req(&[("authorization", "Basic client"), ("Accept", "*/*")]);
        set_credential(&mut r, &header::AUTHORIZATION, &basic).expect("set");
        assert_eq!(r.headers.get_all(header::AUTHORIZATION).iter().count(), 1);
        assert_eq!(r.headers.get(header::AUTHORIZATION), Some(&basic));
        let w = wire(&r);
        assert!(w.contains("Authorization: Basic Z3c6c2VjcmV0\r\n"), "{w}");
        assert!(!w.contains("client"), "{w}");

        let key = HeaderName::from_static("x-oracle-api-key");
        let value = HeaderValue::from_static("k-1");
        let mut r = req(&[("X-Oracle-API-Key", "guess")]);
        set_credential(&mut r, &key, &value).expect("set");
        assert_eq!(r.headers.get_all(&key).iter().count(), 1);
        assert_eq!(r.headers.get(&key), Some(&value));
        let w = wire(&r);
        assert!(w.contains("k-1") && !w.contains("guess"), "{w}");
    }

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/x", None).expect("build");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("append");
        }
        r
    }

    #[test]
    fn strips_credentials_hop_by_hop_and_nominated() {
        let mut r = req(&[
            ("Authorization", "Basic abc"),
            ("X-Api-Key", "k"),
            ("Proxy-Authorization", "p"),
            ("Cookie", "JSESSIONID=1"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-Oracle-Upstream-Key", "client-supplied"),
            ("Accept", "application/json"),
            ("REST-Framework-Version", "4"),
        ]);
        let extra = HeaderName::from_static("x-oracle-upstream-key");
        sanitize(&mut r, &NONE, &[&extra]);
        assert_eq!(left(&r), vec!["accept", "rest-framework-version"]);
    }

    const NONE: Allowed<'static> = Allowed {
        gateway: &[],
        endpoint: &[],
        governed: 0,
    };

    fn left(r: &RequestHeader) -> Vec<String> {
        let mut left: Vec<String> = r.headers.keys().map(|k| k.as_str().to_owned()).collect();
        left.sort();
        left
    }

    #[test]
    fn only_the_allowlist_reaches_oracle() {
        let sent = [
            ("X-Original-URL", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("True-Client-IP", "1.2.3.4"),
            ("X-Client-IP", "1.2.3.4"),
            ("Upsert-Mode", "true"),
            ("Effective-Of", "RangeStartDate=2020-01-01"),
            ("Metadata-Context", "sandbox=x"),
            ("X-Correlation-Id", "c-1"),
            ("X-Partner", "p"),
            ("If-Match", "\"t\""),
            ("Content-Type", "application/json"),
        ];
        let mut r = req(&sent);
        sanitize(&mut r, &NONE, &[]);
        assert_eq!(left(&r), vec!["content-type", "if-match"]);
        let gateway = [HeaderName::from_static("x-correlation-id")];
        let endpoint = [HeaderName::from_static("x-partner")];
        let mut r = req(&sent);
        sanitize(
            &mut r,
            &Allowed {
                gateway: &gateway,
                endpoint: &endpoint,
                governed: Governed::UpsertMode.bit(),
            },
            &[],
        );
        assert_eq!(
            left(&r),
            vec![
                "content-type",
                "if-match",
                "upsert-mode",
                "x-correlation-id",
                "x-partner"
            ]
        );
    }

    #[test]
    fn host_is_replaced() {
        let mut r = req(&[("Host", "evil.example")]);
        set_host(&mut r, "acme.fa.us2.oraclecloud.com").expect("set");
        assert_eq!(
            r.headers.get_all("host").iter().count(),
            1,
            "exactly one Host"
        );
        assert_eq!(
            r.headers.get("host").map(|v| v.as_bytes()),
            Some(&b"acme.fa.us2.oraclecloud.com"[..])
        );
    }
}
