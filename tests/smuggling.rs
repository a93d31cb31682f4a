//! Request smuggling and framing attacks over raw sockets: whatever the gateway accepts, Oracle
//! must never see a request the gateway did not check.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::{Gateway, Options};

fn send_all(gw: &Gateway, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(raw).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn smuggled_reached_oracle(gw: &Gateway) -> bool {
    gw.sim
        .requests()
        .iter()
        .any(|r| r.target.contains("externalBankAccounts"))
}

#[test]
fn conflicting_framing_never_smuggles_a_request_to_oracle() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let smuggled =
        "GET /fscmRestApi/resources/latest/externalBankAccounts HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked_body = format!("0\r\n\r\n{smuggled}");
    let cases = [
        // CL.TE
        format!("POST /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_body}", chunked_body.len()),
        // TE.CL
        format!("POST /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{chunked_body}"),
        // Obfuscated TE
        format!("POST /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nTransfer-Encoding: xchunked\r\nContent-Length: {}\r\n\r\n{chunked_body}", chunked_body.len()),
        // Duplicate, conflicting Content-Length
        format!("POST /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n{smuggled}"),
        // A denied request whose body is a second request
        format!("POST /fscmRestApi/resources/latest/externalBankAccounts HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
    ];
    for (i, raw) in cases.iter().enumerate() {
        let out = send_all(&gw, raw.as_bytes());
        assert!(!out.is_empty(), "case {i}: no response");
        assert!(
            !smuggled_reached_oracle(&gw),
            "case {i}: smuggled request reached Oracle:\n{out}"
        );
        // At most one response: the smuggled request was not answered either.
        assert!(
            out.matches("HTTP/1.1 ").count() <= 1,
            "case {i}: two responses:\n{out}"
        );
    }
}

#[test]
fn a_denied_request_with_a_body_closes_the_connection() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let body = "{\"x\":1}";
    let raw = format!(
        "POST /fscmRestApi/resources/latest/externalBankAccounts HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}GET /fscmRestApi/resources/latest/invoices HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\n\r\n",
        body.len()
    );
    let out = send_all(&gw, raw.as_bytes());
    assert!(
        out.starts_with("HTTP/1.1 403") || out.starts_with("HTTP/1.1 405"),
        "{out}"
    );
    assert_eq!(
        out.matches("HTTP/1.1 ").count(),
        1,
        "pipelined request after a denied body is not served:\n{out}"
    );
    assert_eq!(gw.sim.request_count(), 0);
}

#[test]
fn each_request_on_a_keep_alive_connection_is_checked_on_its_own() {
    use std::io::BufReader;
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let stream = TcpStream::connect(gw.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut statuses = Vec::new();
    for (target, with_auth) in [
        ("/fscmRestApi/resources/latest/invoices?limit=1", true),
        ("/fscmRestApi/resources/latest/externalBankAccounts", true),
        // Credentials are per request, never per connection.
        ("/fscmRestApi/resources/latest/invoices?limit=1", false),
        ("/fscmRestApi/resources/latest/invoices?limit=1", true),
    ] {
        let auth_line = if with_auth {
            format!("Authorization: {auth}\r\n")
        } else {
            String::new()
        };
        write!(
            writer,
            "GET {target} HTTP/1.1\r\nHost: gw\r\n{auth_line}\r\n"
        )
        .expect("write");
        let r = support::http::read_response(&mut reader).expect("response on the same connection");
        statuses.push(r.status);
    }
    assert_eq!(statuses, vec![200, 403, 401, 200]);
    assert_eq!(gw.sim.request_count(), 2);
}
