use super::*;

const LIMITS: Limits = Limits {
    max_uri: 8192,
    max_header_count: 100,
    max_header_bytes: 32 * 1024,
    max_body: 1024 * 1024,
};

fn verdict(raw: &str) -> Verdict {
    check(raw.as_bytes(), &LIMITS)
}

fn refused(raw: &str) -> (Reason, &'static str) {
    match verdict(raw) {
        Verdict::Refused(r, _) => (r.reason, r.detail),
        other => panic!("not refused: {other:?} for {raw:?}"),
    }
}

#[test]
fn a_plain_head_passes_with_its_length() {
    let raw = "GET /fscmRestApi/resources/latest/invoices?limit=5 HTTP/1.1\r\nHost: gw\r\n\r\nBODY";
    assert_eq!(
        verdict(raw),
        Verdict::Pass {
            len: raw.len() - 4,
            body: Some(0)
        }
    );
    let chunked = "POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: Chunked\r\n\r\n";
    assert!(matches!(verdict(chunked), Verdict::Pass { body: None, .. }));
    let cl = "POST /a HTTP/1.0\r\nContent-Length: 12\r\n\r\n";
    assert!(matches!(verdict(cl), Verdict::Pass { body: Some(12), .. }));
}

#[test]
fn an_unfinished_head_is_partial() {
    assert_eq!(verdict("GET /a HTTP/1.1\r\nHost: g"), Verdict::Partial);
}

#[test]
fn framing_that_two_parsers_could_read_differently_is_refused() {
    let cases = [
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "transfer_encoding_unsupported",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "transfer_encoding_unsupported",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "transfer_encoding_unsupported",
        ),
        (
            "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "transfer_encoding_duplicate",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n",
            "content_length_duplicate",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "content_length_duplicate",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "content_length_invalid",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            "content_length_invalid",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n",
            "content_length_invalid",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "content_length_invalid",
        ),
        (
            "POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "content_length_with_transfer_encoding",
        ),
        (
            "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "transfer_encoding_http10",
        ),
        (
            "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "host_duplicate",
        ),
        ("GET /a HTTP/1.1\r\nHost: user@a\r\n\r\n", "host_userinfo"),
    ];
    for (raw, detail) in cases {
        assert_eq!(refused(raw), (Reason::BadRequest, detail), "{raw:?}");
    }
}

#[test]
fn obs_folded_and_malformed_fields_are_refused() {
    for raw in [
        "POST /a HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET /a HTTP/1.1\r\nBad Name: a\r\n\r\n",
        "GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET /a HTTP/1.2x\r\n\r\n",
        "GE(T /a HTTP/1.1\r\n\r\n",
    ] {
        let (reason, _) = refused(raw);
        assert_eq!(reason, Reason::BadRequest, "{raw:?}");
    }
}

#[test]
fn targets_that_are_not_canonical_origin_form_are_refused() {
    for (raw, detail) in [
        (
            "GET http://oracle.example/fscmRestApi HTTP/1.1\r\n\r\n",
            "not_origin_form",
        ),
        ("GET * HTTP/1.1\r\n\r\n", "not_origin_form"),
        (
            "GET /fscmRestApi/resources/latest/invoices#/../x HTTP/1.1\r\n\r\n",
            "fragment",
        ),
        ("GET /a?x=1#frag HTTP/1.1\r\n\r\n", "fragment"),
    ] {
        assert_eq!(refused(raw), (Reason::PathRejected, detail), "{raw:?}");
    }
    // Non-canonical origin-form targets are the chain's to refuse (`src/path/`), on the very
    // bytes Pingora hands it: the front does not run the same rules twice.
    assert!(matches!(
        verdict("GET /a/../b HTTP/1.1\r\nHost: gw\r\n\r\n"),
        Verdict::Pass { .. }
    ));
    // Bytes the request-line grammar does not allow: httparse refuses them in the target.
    let (reason, detail) = refused("GET /a\x7fb HTTP/1.1\r\n\r\n");
    assert_eq!((reason, detail), (Reason::PathRejected, "target_invalid"));
}

#[test]
fn connect_is_refused_as_a_method() {
    assert_eq!(
        refused("CONNECT oracle.example:443 HTTP/1.1\r\nHost: oracle.example:443\r\n\r\n"),
        (Reason::MethodNotAllowed, "connect")
    );
}

#[test]
fn limits_answer_414_431_and_413() {
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
    assert_eq!(refused(&long), (Reason::UriTooLong, "target_too_long"));
    // A request line too long is refused before its end arrives.
    let unfinished = format!("GET /{}", "a".repeat(70_000));
    assert_eq!(refused(&unfinished).0, Reason::UriTooLong);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let raw = format!("GET /a HTTP/1.1\r\n{many}\r\n");
    assert_eq!(refused(&raw).0, Reason::HeadersTooLarge);
    let big = format!("GET /a HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(33 * 1024));
    assert_eq!(refused(&big), (Reason::HeadersTooLarge, "header_limits"));
    let body = "POST /a HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n";
    assert_eq!(refused(body), (Reason::BodyTooLarge, "content_length"));
    let endless = format!(
        "GET /a HTTP/1.1\r\nX: {}",
        "v".repeat(LIMITS.max_head_bytes())
    );
    assert_eq!(
        refused(&endless),
        (Reason::HeadersTooLarge, "head_too_large")
    );
}

#[test]
fn the_request_line_is_kept_for_the_record_but_no_field() {
    let raw = "GET /a/b?token=s3cret HTTP/1.1\r\nAuthorization: Basic c2VjcmV0\r\nX: a\rb\r\n\r\n";
    match verdict(raw) {
        Verdict::Refused(_, line) => {
            assert_eq!(line.method.as_deref(), Some("GET"));
            assert_eq!(line.path.as_deref(), Some("/a/b"));
            assert_eq!(line.query.as_deref(), Some("token=s3cret"));
        }
        other => panic!("{other:?}"),
    }
    let partial = line(b"POST /x?y=1 HTT");
    assert_eq!(partial.method.as_deref(), Some("POST"));
}

#[test]
fn http_1_1_needs_one_valid_host() {
    let cases = [
        ("GET /a HTTP/1.1\r\n\r\n", "host_missing"),
        ("GET /a HTTP/1.1\r\nHost:\r\n\r\n", "host_invalid"),
        ("GET /a HTTP/1.1\r\nHost: gw evil\r\n\r\n", "host_invalid"),
        ("GET /a HTTP/1.1\r\nHost: gw/x\r\n\r\n", "host_invalid"),
        ("GET /a HTTP/1.1\r\nHost: gw?x\r\n\r\n", "host_invalid"),
        ("GET /a HTTP/1.0\r\nHost: gw\\x\r\n\r\n", "host_invalid"),
    ];
    for (raw, detail) in cases {
        assert_eq!(refused(raw), (Reason::BadRequest, detail), "{raw:?}");
    }
    for ok in [
        "GET /a HTTP/1.1\r\nHost: gw\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: gw.example:8443\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
        "GET /a HTTP/1.0\r\n\r\n",
    ] {
        assert!(matches!(verdict(ok), Verdict::Pass { .. }), "{ok:?}");
    }
}

#[test]
fn a_long_request_line_is_414_however_it_was_split() {
    let raw = format!("{} /a HTTP/1.1\r\nHost: gw\r\n\r\n", "M".repeat(9000));
    assert_eq!(
        refused(&raw),
        (Reason::UriTooLong, "request_line_too_long"),
        "whole"
    );
    assert_eq!(
        refused(&raw[..8500]),
        (Reason::UriTooLong, "request_line_too_long"),
        "partial"
    );
}

#[test]
fn a_whole_chunked_body_is_measured_and_a_partial_one_is_not() {
    assert_eq!(chunked_len(b"5\r\nhello\r\n0\r\n\r\nGET"), Some(15));
    assert_eq!(chunked_len(b"5;x=y\r\nhello\r\n0\r\n\r\n"), Some(19));
    assert_eq!(chunked_len(b"0\r\nX-T: a\r\n\r\nGET"), Some(13));
    assert_eq!(chunked_len(b"5\r\nhello\r\n0\r\n"), None);
    assert_eq!(chunked_len(b"5\r\nhel"), None);
    assert_eq!(chunked_len(b"3\r\nhello\r\n0\r\n\r\n"), None);
    assert_eq!(chunked_len(b"ffffffffffffffff\r\nhello"), None);
    assert_eq!(chunked_len(b"zz\r\n"), None);
}
