//! Requests Pingora would have answered on its own (a bare `400` with no request id, no
//! security headers, no audit record): every one must be erpgate's refusal — JSON with a
//! reason code, `X-Request-Id`, security headers, an audit record with the client address —
//! and none may reach Oracle.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::http::{self, Response};
use support::{Gateway, Options};

/// Asserts `r` is erpgate's refusal with `code` and returns its request id.
fn assert_refusal(r: &Response, status: u16, code: &str, case: &str) -> String {
    assert_eq!(r.status, status, "{case}: {}", r.text());
    assert_eq!(r.error_code(), code, "{case}");
    assert!(r.header("server").is_none(), "{case}: {:?}", r.headers);
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{case}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{case}");
    assert_eq!(r.header("connection"), Some("close"), "{case}");
    let rid = r
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{case}: no request id"));
    assert_eq!(r.json()["error"]["request_id"], rid, "{case}");
    rid.to_string()
}

fn assert_recorded(gw: &Gateway, rid: &str, code: &str, case: &str) -> serde_json::Value {
    let rec = gw.audit_record(rid);
    assert_eq!(rec["decision"], "denied", "{case}: {rec}");
    assert_eq!(rec["reason"], code, "{case}: {rec}");
    assert_eq!(rec["client_ip"], "127.0.0.1", "{case}: {rec}");
    assert!(
        rec["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{case}: {rec}"
    );
    rec
}

#[test]
fn heads_pingora_would_refuse_are_refused_by_erpgate_and_audited() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let inv = "/fscmRestApi/resources/latest/invoices";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("garbage request line", "HELLO\r\n\r\n".into(), 400, "request.malformed"),
        ("bad version", format!("GET {inv} HTTP/9.9\r\n\r\n"), 400, "request.malformed"),
        ("space in header name", format!("GET {inv} HTTP/1.1\r\nHost : gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "request.malformed"),
        ("absolute form", format!("GET http://oracle.example{inv} HTTP/1.1\r\nHost: oracle.example\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("asterisk form", "OPTIONS * HTTP/1.1\r\nHost: gw\r\n\r\n".into(), 400, "path.rejected"),
        ("fragment", format!("GET {inv}#/../x HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("DEL in target", format!("GET {inv}\x7f HTTP/1.1\r\nHost: gw\r\n\r\n"), 400, "path.rejected"),
        ("xchunked", format!("POST {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), 400, "request.malformed"),
        ("two transfer-encodings", format!("POST {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400, "request.malformed"),
        ("obs-folded transfer-encoding", format!("POST {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"), 400, "request.malformed"),
        ("two content-lengths", format!("POST {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}"), 400, "request.malformed"),
        ("signed content-length", format!("POST {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Length: +2\r\n\r\n{{}}"), 400, "request.malformed"),
        ("two hosts", format!("GET {inv} HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: {auth}\r\n\r\n"), 400, "request.malformed"),
        ("CONNECT", "CONNECT oracle.example:443 HTTP/1.1\r\nHost: oracle.example:443\r\n\r\n".into(), 405, "method.not_allowed"),
        ("target of 65,535 bytes", format!("GET /{} HTTP/1.1\r\nHost: gw\r\n\r\n", "a".repeat(65_534)), 414, "request.uri_too_long"),
        ("unencoded > in the query", format!("GET {inv}?q=InvoiceAmount>1000 HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("unencoded quote in the query", format!("GET {inv}?q=Supplier=\"Lee\" HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("backtick in the path", format!("GET {inv}/a`b HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("non-ASCII target", format!("GET {inv}/caf\u{e9} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n"), 400, "path.rejected"),
        ("a run of empty lines", format!("{}GET {inv} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n", "\r\n".repeat(40)), 400, "request.malformed"),
        ("300 header fields", format!("GET {inv} HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(300)), 431, "request.headers_too_large"),
    ];
    for (case, raw, status, code) in &cases {
        let r = http::raw(gw.addr, raw.as_bytes()).unwrap_or_else(|e| panic!("{case}: {e}"));
        let rid = assert_refusal(&r, *status, code, case);
        assert_recorded(&gw, &rid, code, case);
    }
    assert!(
        gw.sim.requests().is_empty(),
        "something reached Oracle: {:?}",
        gw.sim.requests()
    );
    // The refusals are in the log too, as lines without the request's bytes.
    let log = gw.log_text();
    assert!(log.contains("request refused before parsing"), "{log}");
    assert!(!log.contains(&cred.password), "the log holds a password");
}

#[test]
fn the_largest_allowed_target_is_reachable_and_one_more_byte_is_414() {
    let gw = Gateway::start(Options {
        gateway_extra: "max_uri_length = 65534\n".into(),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let base = "/fscmRestApi/resources/latest/invoices?pad=";
    let fill = |len: usize| format!("{base}{}", "a".repeat(len - base.len()));
    let ok = gw.get(&fill(65_534), &[("Authorization", &cred.basic())]);
    assert_eq!(ok.status, 200, "{:.300}", ok.text());
    let long = gw.get(&fill(65_535), &[("Authorization", &cred.basic())]);
    let rid = assert_refusal(&long, 414, "request.uri_too_long", "65,535 bytes");
    assert_recorded(&gw, &rid, "request.uri_too_long", "65,535 bytes");
}

#[test]
fn a_stalled_head_is_answered_408_and_recorded() {
    let gw = Gateway::start(Options {
        gateway_extra: "client_timeout_ms = 600\n".into(),
        ..Options::default()
    });
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let start = Instant::now();
    s.write_all(b"GET /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\n")
        .expect("write");
    // Dribble a byte at a time: each read is quick, the head never ends.
    for _ in 0..20 {
        if s.write_all(b"X").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let elapsed = start.elapsed();
    let r = http::read_response(&mut std::io::BufReader::new(&out[..])).expect("a response");
    let rid = assert_refusal(&r, 408, "request.timeout", "dribbled head");
    assert_recorded(&gw, &rid, "request.timeout", "dribbled head");
    // Bounded by the whole-head deadline, not by each read.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn an_idle_connection_is_closed_without_an_answer_or_a_record() {
    let gw = Gateway::start(Options {
        gateway_extra: "client_idle_timeout_seconds = 1\n".into(),
        ..Options::default()
    });
    let before = gw.audit(&[]).len();
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gw.audit(&[]).len(),
        before,
        "an idle connection is not a request"
    );
}
