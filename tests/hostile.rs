//! A black-box hostile corpus against the public listener: request lines, targets, header
//! fields, chunked bodies, pipelining, slow and half-closed connections, TLS to the plain
//! port. Every request that arrived gets one of exactly two answers: relayed whole (Oracle
//! saw it once and answered), or erpgate's refusal (JSON `error.code`, a matching
//! `X-Request-Id`, security headers, no `Server`, an audit record with the client address)
//! while Oracle saw nothing of it. Never a bare Pingora answer, never a silent close, never a
//! smuggled request at Oracle, never a secret in the log.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use support::http::{self, Response};
use support::{Gateway, Options};

const INV: &str = "/fscmRestApi/resources/latest/invoices";
const ECHO: &str = "/__sim/echo/hostile";
/// A header value no log may ever hold.
const CANARY: &str = "canary-hostile-5f1e0c7a";

/// What the product promises for one case.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Relayed: Oracle saw exactly one request and answered with this status.
    Relayed(u16),
    /// Relayed to the simulator's echo: 200, and Oracle received a body of this length.
    Echoed(usize),
    /// Refused by erpgate with this status and reason code; Oracle saw nothing.
    Refused(u16, &'static str),
    /// A body too large to hold (over 64 KiB, streamed) that stopped short: refused like
    /// `Refused`, but Oracle has the head and the start of the body (never a whole request).
    CutShort(u16, &'static str),
}

/// How the bytes go on the wire.
#[derive(Clone, Copy, Debug)]
enum Wire {
    /// One write, then wait for the answer.
    Whole,
    /// One write, then close our sending half.
    HalfClose,
    /// A byte at a time, 2 ms apart.
    Dribble,
}

use Want::*;
use Wire::*;

struct Case {
    name: &'static str,
    raw: Vec<u8>,
    wire: Wire,
    want: Want,
}

/// `¶` is CRLF, `{A}` the caller's Authorization value, `{I}` the invoices collection, `{E}`
/// the echo endpoint, `{C}` the canary.
fn expand(text: &str, auth: &str) -> Vec<u8> {
    text.replace('¶', "\r\n")
        .replace("{A}", auth)
        .replace("{I}", INV)
        .replace("{E}", ECHO)
        .replace("{C}", CANARY)
        .into_bytes()
}

/// A POST to the echo endpoint with `fields` (each ending in `¶`) and `rest` after the head.
fn post(fields: &str, rest: &str) -> String {
    format!("POST {{E}} HTTP/1.1¶Host: gw¶Authorization: {{A}}¶{fields}¶{rest}")
}

/// A chunked POST to the echo endpoint with `body` after the head.
fn chunked(body: &str) -> String {
    post("Transfer-Encoding: chunked¶", body)
}

fn get(line: &str, fields: &str) -> String {
    format!("{line}¶Host: gw¶Authorization: {{A}}¶{fields}¶")
}

#[rustfmt::skip]
fn corpus(auth: &str) -> Vec<Case> {
    let long = |n: usize, c: &str| c.repeat(n);
    let many = long(1000, "X-A: b¶");
    let big_value = format!("X-Big: {}¶", long(40_000, "v"));
    let long_method = long(100, "M");
    let huge_method = long(9000, "M");
    let long_query = format!("GET {{I}}?q={} HTTP/1.1", long(9000, "a"));
    let hello = chunked_hello();
    let t: Vec<(&'static str, String, Wire, Want)> = vec![
        // Request lines.
        ("plain GET", get("GET {I} HTTP/1.1", ""), Whole, Relayed(200)),
        ("HTTP/1.0 GET", get("GET {I} HTTP/1.0", ""), Whole, Relayed(200)),
        ("tabs as separators", get("GET\t{I}\tHTTP/1.1", ""), Whole, Refused(400, "request.malformed")),
        ("two spaces", get("GET  {I} HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("trailing space", get("GET {I} HTTP/1.1 ", ""), Whole, Refused(400, "request.malformed")),
        ("lowercase method", get("get {I} HTTP/1.1", ""), Whole, Refused(405, "method.not_allowed")),
        ("unknown method", get("FROB {I} HTTP/1.1", ""), Whole, Refused(405, "method.not_allowed")),
        ("long method", get(&format!("{long_method} {{I}} HTTP/1.1"), ""), Whole, Refused(405, "method.not_allowed")),
        // Bounded like a target, however the bytes were split into reads.
        ("huge method", get(&format!("{huge_method} {{I}} HTTP/1.1"), ""), Whole, Refused(414, "request.uri_too_long")),
        ("method with a slash", get("GE/T {I} HTTP/1.1", ""), Whole, Refused(400, "request.malformed")),
        // httparse reads the line end where the target's delimiter belongs.
        ("HTTP/0.9", "GET {I}¶¶".into(), Whole, Refused(400, "path.rejected")),
        ("HTTP/0.9 waiting", "GET {I}¶".into(), Whole, Refused(400, "path.rejected")),
        ("HTTP/2 preface", "PRI * HTTP/2.0¶¶SM¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("HTTP/1.10", get("GET {I} HTTP/1.10", ""), Whole, Refused(400, "request.malformed")),
        ("HTTP/2.0 line", get("GET {I} HTTP/2.0", ""), Whole, Refused(400, "request.malformed")),
        ("lowercase version", get("GET {I} http/1.1", ""), Whole, Refused(400, "request.malformed")),
        ("leading CRLFs", format!("¶¶{}", get("GET {I} HTTP/1.1", "")), Whole, Relayed(200)),
        ("bare CR ends the line", "GET {I} HTTP/1.1\rHost: gw¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("bare LF line ends", "GET {I} HTTP/1.1\nHost: gw\nAuthorization: {A}\n\n".into(), Whole, Relayed(200)),
        ("TRACE", get("TRACE {I} HTTP/1.1", ""), Whole, Refused(405, "method.not_allowed")),
        ("lowercase connect", get("connect {I} HTTP/1.1", ""), Whole, Refused(405, "method.not_allowed")),
        ("CR inside a field", get("GET {I} HTTP/1.1", "X-A: a\rb¶"), Whole, Refused(400, "request.malformed")),
        // Targets.
        ("encoded NUL", get("GET {I}%00 HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("encoded CRLF", get("GET {I}%0d%0aX-Injected:%201 HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("overlong dot-dot", get("GET /fscmRestApi/resources/latest/%c0%ae%c0%ae/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("%u002e", get("GET /fscmRestApi/resources/latest/%u002e%u002e/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("double slash prefix", get("GET //fscmRestApi/resources/latest/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("dot segment", get("GET /fscmRestApi/./resources/latest/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("backslash", get("GET /fscmRestApi\\resources/latest/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("encoded slash", get("GET /fscmRestApi%2fresources/latest/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("empty query", get("GET {I}? HTTP/1.1", ""), Whole, Relayed(200)),
        ("double question mark", get("GET {I}??limit=1 HTTP/1.1", ""), Whole, Relayed(200)),
        ("at sign in path", get("GET {I}/@evil.example HTTP/1.1", ""), Whole, Relayed(404)),
        ("colon in path", get("GET {I}/1:2 HTTP/1.1", ""), Whole, Relayed(404)),
        ("raw UTF-8 (IDN) in path", get("GET /fscmRestApi/résources/latest/invoices HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("very long query", get(&long_query, ""), Whole, Refused(414, "request.uri_too_long")),
        ("fragment in the query", get("GET {I}?a=1#frag HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("lone hash", get("GET {I}# HTTP/1.1", ""), Whole, Refused(400, "path.rejected")),
        ("authority form", "GET gw:443 HTTP/1.1¶Host: gw¶¶".into(), Whole, Refused(400, "path.rejected")),
        // Header fields.
        ("HTTP/1.1 without Host", "GET {I} HTTP/1.1¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("HTTP/1.0 without Host", "GET {I} HTTP/1.0¶Authorization: {A}¶¶".into(), Whole, Relayed(200)),
        ("empty Host", "GET {I} HTTP/1.1¶Host:¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("Host with port", "GET {I} HTTP/1.1¶Host: gw:8443¶Authorization: {A}¶¶".into(), Whole, Relayed(200)),
        ("Host with userinfo", "GET {I} HTTP/1.1¶Host: {C}@gw¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("Host with a space", "GET {I} HTTP/1.1¶Host: gw evil¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("IDN Host in UTF-8", "GET {I} HTTP/1.1¶Host: b\u{fc}cher.example¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("IDN Host in punycode", "GET {I} HTTP/1.1¶Host: xn--bcher-kva.example¶Authorization: {A}¶¶".into(), Whole, Relayed(200)),
        ("Host with a path", "GET {I} HTTP/1.1¶Host: gw/x¶Authorization: {A}¶¶".into(), Whole, Refused(400, "request.malformed")),
        ("Content-Length 5, 5", post("Content-Length: 5, 5¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("Content-Length twice, two cases", post("Content-Length: 5¶content-length: 5¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("Content-Length leading zeros", post("Content-Length: 005¶", "hello"), Whole, Echoed(5)),
        ("Content-Length huge", post("Content-Length: 99999999999999999999¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("Content-Length over the limit", post("Content-Length: 1000000000¶", "hello"), Whole, Refused(413, "request.body_too_large")),
        ("Content-Length negative", post("Content-Length: -5¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("Content-Length hex", post("Content-Length: 0x5¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("Content-Length on GET", "GET {E} HTTP/1.1¶Host: gw¶Authorization: {A}¶Content-Length: 5¶¶hello".into(), Whole, Echoed(5)),
        ("TE identity", post("Transfer-Encoding: identity¶", "hello"), Whole, Refused(400, "request.malformed")),
        ("TE chunked;ext", post("Transfer-Encoding: chunked;q=1¶", &hello), Whole, Refused(400, "request.malformed")),
        ("TE gzip, chunked", post("Transfer-Encoding: gzip, chunked¶", &hello), Whole, Refused(400, "request.malformed")),
        ("TE chunked, chunked", post("Transfer-Encoding: chunked, chunked¶", &hello), Whole, Refused(400, "request.malformed")),
        ("TE CHUNKED", post("Transfer-Encoding: CHUNKED¶", &hello), Whole, Echoed(5)),
        ("TE chunked + trailing space", post("Transfer-Encoding: chunked ¶", &hello), Whole, Echoed(5)),
        ("TE chunked + trailing tab", post("Transfer-Encoding: chunked\t¶", &hello), Whole, Echoed(5)),
        ("TE then CL", post("Transfer-Encoding: chunked¶Content-Length: 3¶", &hello), Whole, Refused(400, "request.malformed")),
        ("CL then TE", post("Content-Length: 3¶Transfer-Encoding: chunked¶", &hello), Whole, Refused(400, "request.malformed")),
        ("TE on HTTP/1.0", format!("POST {{E}} HTTP/1.0¶Host: gw¶Authorization: {{A}}¶Transfer-Encoding: chunked¶¶{hello}"), Whole, Refused(400, "request.malformed")),
        ("underscore header name", get("GET {I} HTTP/1.1", "Content_Length: 5¶"), Whole, Relayed(200)),
        ("empty header name", get("GET {I} HTTP/1.1", ": {C}¶"), Whole, Refused(400, "request.malformed")),
        ("obs-text in a value", get("GET {I} HTTP/1.1", "X-A: caf\u{e9}¶"), Whole, Relayed(200)),
        ("a chosen request id", get("GET {I} HTTP/1.1", "X-Request-Id: {C}¶"), Whole, Relayed(200)),
        ("two Authorization fields", get("GET {I} HTTP/1.1", "Authorization: Basic {C}¶"), Whole, Refused(401, "auth.invalid")),
        ("non-token header name", get("GET {I} HTTP/1.1", "X(A): {C}¶"), Whole, Refused(400, "request.malformed")),
        ("space before colon", get("GET {I} HTTP/1.1", "X-A : {C}¶"), Whole, Refused(400, "request.malformed")),
        ("field without colon", get("GET {I} HTTP/1.1", "X-A {C}¶"), Whole, Refused(400, "request.malformed")),
        ("obs-fold", get("GET {I} HTTP/1.1", "X-A: a¶ {C}¶"), Whole, Refused(400, "request.malformed")),
        ("NUL in a value", get("GET {I} HTTP/1.1", "X-A: {C}\0x¶"), Whole, Refused(400, "request.malformed")),
        ("value over the limits", get("GET {I} HTTP/1.1", &big_value), Whole, Refused(431, "request.headers_too_large")),
        ("1000 tiny fields", get("GET {I} HTTP/1.1", &many), Whole, Refused(431, "request.headers_too_large")),
        ("Connection: Transfer-Encoding", post("Transfer-Encoding: chunked¶Connection: Transfer-Encoding¶", &hello), Whole, Echoed(5)),
        // The nominated length is dropped upstream and Pingora re-frames the body: it arrives whole.
        ("Connection: Content-Length", post("Content-Length: 5¶Connection: Content-Length¶", "hello"), Whole, Echoed(5)),
        ("Connection: Host", get("GET {I} HTTP/1.1", "Connection: Host¶"), Whole, Refused(400, "request.malformed")),
        ("Connection: Authorization", get("GET {I} HTTP/1.1", "Connection: Authorization¶"), Whole, Relayed(200)),
        ("Upgrade: websocket", get("GET {I} HTTP/1.1", "Connection: Upgrade¶Upgrade: websocket¶Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==¶Sec-WebSocket-Version: 13¶"), Whole, Relayed(200)),
        ("Upgrade: h2c", get("GET {I} HTTP/1.1", "Connection: Upgrade, HTTP2-Settings¶Upgrade: h2c¶HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA¶"), Whole, Relayed(200)),
        ("Expect: 100-continue on GET", get("GET {I} HTTP/1.1", "Expect: 100-continue¶"), Whole, Relayed(200)),
        ("Expect: 100-continue with a length", post("Content-Length: 5¶Expect: 100-continue¶", "hello"), Whole, Echoed(5)),
        ("Expect: something else", get("GET {I} HTTP/1.1", "Expect: 200-ok¶"), Whole, Relayed(200)),
        // Chunked bodies.
        ("chunk extension", chunked("5;name=value¶hello¶0¶¶"), Whole, Echoed(5)),
        ("trailer with Authorization", chunked(&format!("5¶hello¶0¶Authorization: Basic {CANARY}¶¶")), Whole, Echoed(5)),
        ("oversized chunk size", chunked("fffffffffffffffffffff¶hello¶0¶¶"), Whole, Refused(400, "request.malformed")),
        ("chunk size over the body limit", chunked("ffffffff¶hello"), HalfClose, Refused(400, "request.malformed")),
        ("missing final CRLF", chunked("5¶hello¶0¶"), HalfClose, Refused(400, "request.malformed")),
        ("chunk size 0x5", chunked("0x5¶hello¶0¶¶"), Whole, Refused(400, "request.malformed")),
        ("chunk size -5", chunked("-5¶hello¶0¶¶"), Whole, Refused(400, "request.malformed")),
        ("chunk size with leading spaces", chunked("  5¶hello¶0¶¶"), Whole, Refused(400, "request.malformed")),
        ("chunk data longer than its size", chunked("3¶hello¶0¶¶"), Whole, Refused(400, "request.malformed")),
        // Strict: chunk lines end in CRLF (RFC 9112 §7.1), however lenient the head parser is.
        ("LF-only chunk lines", chunked("5\nhello\n0\n\n"), Whole, Refused(400, "request.malformed")),
        // Slow, half-closed, confused.
        ("dribbled request", get("GET {I} HTTP/1.1", "Connection: close¶"), Dribble, Relayed(200)),
        ("half-closed after a whole request", get("GET {I} HTTP/1.1", "Connection: close¶"), HalfClose, Relayed(200)),
        ("half-closed mid-head", "GET {I} HTTP/1.1¶Host: gw¶Authorization: {A}¶".into(), HalfClose, Refused(400, "request.malformed")),
        ("half-closed mid-body", post("Content-Length: 50¶", "hello"), HalfClose, Refused(400, "request.malformed")),
        ("half-closed mid-body over 64 KiB", post("Content-Length: 100000¶", "hello"), HalfClose, CutShort(400, "request.malformed")),
        ("half-closed mid-chunk", chunked("a¶hello"), HalfClose, Refused(400, "request.malformed")),
    ];
    let mut cases: Vec<Case> = t
        .into_iter()
        .map(|(name, text, wire, want)| Case { name, raw: expand(&text, auth), wire, want })
        .collect();
    // A TLS 1.2 ClientHello's first bytes, sent to the plain listener.
    cases.push(Case {
        name: "TLS ClientHello",
        raw: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\r\n\r\n".to_vec(),
        wire: Whole,
        want: Refused(400, "request.malformed"),
    });
    cases
}

fn chunked_hello() -> String {
    "5¶hello¶0¶¶".to_string()
}

/// Sends `raw` as `wire` says and reads one response (None: the connection closed first).
fn exchange(gw: &Gateway, raw: &[u8], wire: Wire) -> Result<Option<Response>, String> {
    let mut s = TcpStream::connect(gw.addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    match wire {
        Dribble => {
            for b in raw {
                s.write_all(std::slice::from_ref(b))
                    .map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Whole | HalfClose => {
            // A refusal may close before every byte is taken: that is not an error here.
            let _ = s.write_all(raw);
        }
    }
    if matches!(wire, HalfClose) {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut r = BufReader::new(s);
    loop {
        return match http::read_response(&mut r) {
            // `100 Continue` is not the answer.
            Ok(resp) if resp.status < 200 => continue,
            Ok(resp) => Ok(Some(resp)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(format!("unreadable answer: {e}")),
        };
    }
}

/// What every answer carries, relayed or refused.
fn check_common(r: &Response) -> Result<String, String> {
    if r.header("server").is_some() {
        return Err(format!("a Server header: {:?}", r.headers));
    }
    if r.header("x-content-type-options") != Some("nosniff") {
        return Err(format!("no security headers: {:?}", r.headers));
    }
    match r.header("x-request-id") {
        Some(rid) if rid.contains(CANARY) => Err("the client chose the request id".into()),
        Some(rid) => Ok(rid.to_string()),
        None => Err(format!("no request id: {:?}", r.headers)),
    }
}

/// Checks one case; `Err` describes how the promise was broken.
fn check(gw: &Gateway, case: &Case) -> Result<(), String> {
    let heads = gw.sim.heads_seen();
    let done = gw.sim.request_count();
    let r = exchange(gw, &case.raw, case.wire)?
        .ok_or("silent close: bytes of a request arrived and nothing was answered")?;
    let summary = format!("{} {:.200}", r.status, r.text());
    let rid = check_common(&r).map_err(|e| format!("{e}; {summary}"))?;
    let rec = gw.audit_record(&rid);
    if rec["client_ip"] != "127.0.0.1" {
        return Err(format!("audit record without the client address: {rec}"));
    }
    let seen = (gw.sim.heads_seen() - heads, gw.sim.request_count() - done);
    match case.want {
        Relayed(_) | Echoed(_) => {
            let status = if let Relayed(s) = case.want { s } else { 200 };
            if r.status != status || seen != (1, 1) || rec["decision"] != "relayed" {
                return Err(format!(
                    "want relayed {status}, got {summary}; Oracle saw {seen:?}; {rec}"
                ));
            }
            if let Echoed(n) = case.want {
                if r.json()["body_len"] != n {
                    return Err(format!("Oracle got the wrong body: {summary}"));
                }
            }
        }
        Refused(status, code) | CutShort(status, code) => {
            let body = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_default();
            if r.status != status || body["error"]["code"] != code {
                return Err(format!(
                    "want refused {status} {code}, got {summary}; Oracle saw {seen:?}"
                ));
            }
            if body["error"]["request_id"] != rid.as_str() {
                return Err(format!("request id differs from the header: {summary}"));
            }
            let cut = matches!(case.want, CutShort(..)) && seen.1 == 0;
            if seen != (0, 0) && !cut {
                return Err(format!(
                    "refused, but Oracle saw {seen:?} (heads, requests)"
                ));
            }
            if rec["decision"] != "denied" || rec["reason"] != code {
                return Err(format!("audit record says otherwise: {rec}"));
            }
        }
    }
    Ok(())
}

fn hostile_gateway() -> Gateway {
    Gateway::start(Options {
        gateway_extra: "client_timeout_ms = 2000\n".into(),
        ..Options::default()
    })
}

/// No log line holds a credential, the canary or the upstream secret, in any form.
fn assert_log_clean(gw: &Gateway, secrets: &[&str]) {
    let log = gw.log_text();
    for s in secrets {
        assert!(
            !log.contains(s),
            "the log holds a secret ({} bytes in)",
            log.find(s).unwrap_or(0)
        );
    }
}

#[test]
fn every_hostile_request_is_relayed_whole_or_refused_by_erpgate() {
    let gw = hostile_gateway();
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let cases = corpus(&auth);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(&gw, c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases broke a promise:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_log_clean(&gw, &[&cred.password, &auth, CANARY, &gw.upstream_password]);
}

/// Reads every response on `s` until the server closes (or 10 s pass).
fn responses(s: TcpStream) -> Vec<Response> {
    let mut bytes = Vec::new();
    let mut s = s;
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.read_to_end(&mut bytes);
    let mut r = BufReader::new(&bytes[..]);
    std::iter::from_fn(|| http::read_response(&mut r).ok()).collect()
}

#[test]
fn pipelined_and_smuggled_requests_never_reach_oracle_unanswered() {
    let gw = hostile_gateway();
    let auth = gw.issue("ap-sync").basic();
    let legit = String::from_utf8(expand(&get("GET {I} HTTP/1.1", ""), &auth)).expect("utf-8");
    let last = String::from_utf8(expand(
        &get("GET {E}/second HTTP/1.1", "Connection: close¶"),
        &auth,
    ))
    .expect("utf-8");
    // (case, bytes, whether a second request follows the first's end)
    let cases: Vec<(&str, String, bool)> = vec![
        ("two requests in one write", format!("{legit}{last}"), true),
        (
            "after a refused head",
            format!(
                "{}{last}",
                String::from_utf8_lossy(&expand(&post("Content-Length: 5, 5¶", "hello"), &auth))
            ),
            true,
        ),
        (
            "after a relay refusal",
            format!("GET {INV} HTTP/1.1\r\nHost: gw\r\n\r\n{last}"),
            true,
        ),
        (
            "inside a body with a hidden length",
            String::from_utf8_lossy(&expand(
                &post(
                    &format!("Content-Length: {}¶Connection: Content-Length¶", last.len()),
                    &last,
                ),
                &auth,
            ))
            .into_owned(),
            false,
        ),
        (
            "after the last chunk",
            String::from_utf8_lossy(&expand(&chunked(&format!("0¶¶{last}")), &auth)).into_owned(),
            true,
        ),
        (
            "after a chunk with a trailer",
            String::from_utf8_lossy(&expand(&chunked(&format!("2¶hi¶0¶X-T: a¶¶{last}")), &auth))
                .into_owned(),
            true,
        ),
        (
            "after a zero length",
            String::from_utf8_lossy(&expand(&post("Content-Length: 0¶", &last), &auth))
                .into_owned(),
            true,
        ),
        (
            "after a body",
            String::from_utf8_lossy(&expand(
                &post("Content-Length: 5¶", &format!("hello{last}")),
                &auth,
            ))
            .into_owned(),
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (name, raw, second) in &cases {
        let heads = gw.sim.heads_seen();
        let mut s = TcpStream::connect(gw.addr).expect("connect");
        s.write_all(raw.as_bytes()).expect("write");
        let answers = responses(s);
        let seen = gw.sim.heads_seen() - heads;
        let relayed = answers.iter().filter(|r| r.status == 200).count();
        let first_closes = answers
            .first()
            .is_some_and(|r| r.header("connection") == Some("close"));
        if answers.is_empty() {
            failures.push(format!("{name}: silent close"));
        } else if seen != relayed {
            failures.push(format!(
                "{name}: Oracle saw {seen} requests, the client got {relayed} relayed answers"
            ));
        } else if *second && answers.len() < 2 && !first_closes {
            failures.push(format!(
                "{name}: the second request was dropped without Connection: close"
            ));
        }
        for r in &answers {
            if let Err(e) = check_common(r) {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_client_that_sends_nothing_is_closed_without_a_record() {
    let gw = Gateway::start(Options {
        gateway_extra: "client_idle_timeout_seconds = 1\n".into(),
        ..Options::default()
    });
    let before = gw.audit(&[]).len();
    let s = TcpStream::connect(gw.addr).expect("connect");
    s.shutdown(Shutdown::Write).expect("half-close");
    assert!(responses(s).is_empty(), "an answer to nothing");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gw.audit(&[]).len(),
        before,
        "a connection without bytes is not a request"
    );
}

/// Known failure, not fixed: with pipelining off, Pingora reads a byte while the first request
/// is at Oracle and fails it ("Sent data after end of body", `pingora-core`
/// `protocols/http/v1/server.rs` `read_body_or_idle`): the client is answered 400 for a request
/// Oracle received. Turning pipelining on keeps the stashed byte in `HttpPersistentSettings`,
/// which has no getter, so the front would lose it on reuse.
#[test]
#[ignore = "known failure: Pingora fails a request when the next one arrives mid-flight"]
fn a_request_pipelined_while_the_first_is_at_oracle_does_not_break_the_first() {
    let gw = hostile_gateway();
    let auth = gw.issue("ap-sync").basic();
    let first = expand(&get("GET /__sim/slow?ms=600 HTTP/1.1", ""), &auth);
    let second = expand(&get("GET {E}/late HTTP/1.1", "Connection: close¶"), &auth);
    let heads = gw.sim.heads_seen();
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.write_all(&first).expect("first");
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&second).expect("second");
    let answers = responses(s);
    let seen = gw.sim.heads_seen() - heads;
    let first = answers.first().expect("the first request is answered");
    assert_eq!(first.status, 200, "{}", first.text());
    check_common(first).expect("erpgate's answer");
    let relayed = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(seen, relayed, "Oracle saw {seen}, the client got {relayed}");
    if answers.len() < 2 {
        assert_eq!(
            first.header("connection"),
            Some("close"),
            "{:?}",
            first.headers
        );
    }
}
