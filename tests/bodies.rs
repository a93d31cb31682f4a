//! Request bodies of unknown length: a chunked body is read whole and its framing checked
//! before Oracle sees anything of the request — a refused one never reaches Oracle, not even
//! its head (which would carry the injected credential).

mod support;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::http;
use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

fn chunked_post(auth: &str, chunks: &str) -> String {
    format!(
        "POST {INVOICES} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}"
    )
}

fn chunk(data: &[u8]) -> String {
    format!("{:x}\r\n{}\r\n", data.len(), String::from_utf8_lossy(data))
}

#[test]
fn a_chunked_body_is_relayed_whole_with_its_length() {
    let gw = Gateway::start(Options::default());
    let auth = gw.issue("ap-sync").basic();
    let body = br#"{"InvoiceNumber":"CH-1","InvoiceAmount":10,"BusinessUnit":"US1 Business Unit","Supplier":"Lee Supplies"}"#;
    let (a, b) = body.split_at(20);
    let raw = chunked_post(&auth, &format!("{}{}0\r\n\r\n", chunk(a), chunk(b)));
    let r = http::raw(gw.addr, raw.as_bytes()).expect("response");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["InvoiceNumber"], "CH-1");
    let seen = gw.sim.requests();
    let post = seen.iter().find(|r| r.method == "POST").expect("relayed");
    assert_eq!(post.body_len, body.len());
    let header = |n: &str| {
        post.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("content-length"), Some(body.len().to_string()));
    assert_eq!(header("transfer-encoding"), None);
}

#[test]
fn expect_100_continue_is_answered_before_the_chunked_body_is_read() {
    let gw = Gateway::start(Options::default());
    let auth = gw.issue("ap-sync").basic();
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST {INVOICES} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("head");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let interim = http::read_response(&mut r).expect("interim");
    assert_eq!(interim.status, 100);
    let body = br#"{"InvoiceNumber":"CH-2","InvoiceAmount":1,"BusinessUnit":"US1 Business Unit","Supplier":"Lee Supplies"}"#;
    s.write_all(format!("{}0\r\n\r\n", chunk(body)).as_bytes())
        .expect("body");
    let fin = http::read_response(&mut r).expect("final");
    assert_eq!(fin.status, 201, "{}", fin.text());
    let post = gw
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("relayed");
    assert!(
        post.headers.iter().all(|(k, _)| k != "expect"),
        "{:?}",
        post.headers
    );
}

fn assert_refused_before_oracle(gw: &Gateway, cases: &[(&str, String, u16, &str)]) {
    for (case, raw, status, code) in cases {
        let r = http::raw(gw.addr, raw.as_bytes()).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(r.status, *status, "{case}: {}", r.text());
        assert_eq!(r.error_code(), *code, "{case}");
        let rid = r.header("x-request-id").expect("request id").to_string();
        let rec = gw.audit_record(&rid);
        assert_eq!(rec["reason"], *code, "{case}: {rec}");
        assert_eq!(
            gw.sim.heads_seen(),
            0,
            "{case}: Oracle received the request head"
        );
    }
}

#[test]
fn refused_chunked_bodies_never_reach_oracle_not_even_their_head() {
    let gw = Gateway::start(Options {
        max_body: 40 * 1024,
        ..Options::default()
    });
    let auth = gw.issue("ap-sync").basic();
    let big = vec![b'x'; 16 * 1024];
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "invalid chunk-size line",
            chunked_post(&auth, "zz\r\nabc\r\n0\r\n\r\n"),
            400,
            "request.malformed",
        ),
        (
            "chunk longer than declared",
            chunked_post(&auth, "2\r\nabcdef\r\n0\r\n\r\n"),
            400,
            "request.malformed",
        ),
        (
            "over max_request_body_bytes",
            chunked_post(&auth, &format!("{}0\r\n\r\n", chunk(&big).repeat(3))),
            413,
            "request.body_too_large",
        ),
    ];
    assert_refused_before_oracle(&gw, &cases);
    // A client that stalls mid-body is cut off; Oracle still saw nothing.
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.write_all(chunked_post(&auth, "5\r\nab").as_bytes())
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gw.sim.heads_seen(),
        0,
        "a cut-short chunked body reached Oracle"
    );
}

#[test]
fn a_chunked_body_over_the_read_whole_buffer_must_declare_its_length() {
    let gw = Gateway::start(Options::default());
    let auth = gw.issue("ap-sync").basic();
    let big = vec![b'x'; 16 * 1024];
    let raw = chunked_post(&auth, &format!("{}0\r\n\r\n", chunk(&big).repeat(5)));
    assert_refused_before_oracle(
        &gw,
        &[("80 KiB chunked", raw, 411, "request.length_required")],
    );
}

/// `100 Continue` went out before the body was read: when relaying then fails (Oracle is
/// down), the client still gets the final answer, not a close after the interim one.
#[test]
fn after_100_continue_a_failure_is_still_answered() {
    let mut gw = Gateway::start(Options::default());
    let auth = gw.issue("ap-sync").basic();
    // Oracle goes away: its listener and connections close.
    let gone = std::mem::replace(
        &mut gw.sim,
        erpgate::sim::start_blocking(erpgate::sim::SimConfig::default()).expect("spare sim"),
    );
    gone.shutdown();
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = br#"{"InvoiceNumber":"C"}"#;
    let head = format!(
        "POST {INVOICES} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let interim = http::read_response(&mut r).expect("interim");
    assert_eq!(interim.status, 100);
    s.write_all(body).expect("body");
    let fin = http::read_response(&mut r).expect("a final answer, not a close");
    assert_eq!(
        (fin.status, fin.error_code().as_str()),
        (502, "upstream.unavailable"),
        "{}",
        fin.text()
    );
    let rid = fin.header("x-request-id").expect("request id");
    let rec = gw.audit_record(rid);
    assert_eq!(rec["status"], 502, "{rec}");
}

/// A refusal before the body was read (wrong password on a large upload) is answered, and
/// nothing of the upload reaches Oracle. (The gateway also drains up to 1 MiB of the rest
/// before closing, so a slow network cannot reset the answer away; on loopback the answer
/// is delivered before any reset either way, so this test guards the answer, not the drain.)
#[test]
fn a_refused_upload_is_answered_not_reset() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let wrong = http::basic(&cred.username, "not-the-password");
    let len = 600 * 1024;
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST {INVOICES} HTTP/1.1\r\nHost: gw\r\nAuthorization: {wrong}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).expect("head");
    // The whole upload, in pieces, as a client streaming a file would send it.
    let piece = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = piece.len().min(len - sent);
        if s.write_all(&piece[..n]).is_err() {
            break;
        }
        sent += n;
    }
    let mut r = BufReader::new(s);
    let fin = http::read_response(&mut r).expect("the answer, not a reset");
    assert_eq!(
        (fin.status, fin.error_code().as_str()),
        (401, "auth.invalid"),
        "{}",
        fin.text()
    );
    assert!(gw.sim.requests().is_empty());
}
