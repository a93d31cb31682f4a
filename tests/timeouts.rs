//! Slow and idle clients against the real binary: a stalled request body and an idle
//! keep-alive connection are closed after the configured time; the gateway keeps serving.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Gateway, Options};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn start() -> Gateway {
    Gateway::start(Options {
        gateway_extra: "client_timeout_ms = 500\nclient_idle_timeout_seconds = 1".into(),
        ..Options::default()
    })
}

/// Waits for the server to close `s`; returns how long that took (panics after 10 s).
fn closed_after(s: &mut TcpStream, from: Instant) -> Duration {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the connection was not closed within 10 s: {e}"),
    }
    from.elapsed()
}

#[test]
fn a_stalled_request_body_is_cut_off_after_client_timeout() {
    let gw = start();
    let cred = gw.issue("ap-sync");
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    let head = format!(
        "POST {V}/invoices HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"InvoiceNum\":",
        cred.basic()
    );
    s.write_all(head.as_bytes()).expect("write");
    let sent = Instant::now();
    // The body never completes: the gateway must give up on its own, and say so.
    let mut r = std::io::BufReader::new(s.try_clone().expect("clone"));
    let answer = support::http::read_response(&mut r).expect("an answer");
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert_eq!(answer.error_code(), "request.timeout");
    let rid = answer.header("x-request-id").expect("rid").to_string();
    let took = closed_after(&mut s, sent);
    assert!(
        took < Duration::from_secs(5),
        "closed after {took:?}, expected about 0.5 s"
    );
    assert_eq!(gw.audit_record(&rid)["reason"], "request.timeout");
    assert!(
        gw.sim.requests().iter().all(|r| r.method != "POST"),
        "no partial POST reached the upstream as a complete request"
    );
    // Everyone else is still served.
    let r = gw.get_as(&cred, &format!("{V}/invoices?limit=1"));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn an_idle_keepalive_connection_is_closed_after_the_idle_timeout() {
    let gw = start();
    let cred = gw.issue("ap-sync");
    let get = format!(
        "GET {V}/invoices?limit=1 HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: {}\r\n\r\n",
        cred.basic()
    );
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.write_all(get.as_bytes()).expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let first = support::http::read_response(&mut r).expect("first response");
    assert_eq!(first.status, 200);
    // Reused quickly, the connection serves another request.
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(get.as_bytes()).expect("write");
    let second = support::http::read_response(&mut r).expect("second response");
    assert_eq!(second.status, 200, "keep-alive works within the idle time");
    // Left idle, it is closed after about a second.
    let idle_from = Instant::now();
    let took = closed_after(&mut s, idle_from);
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "closed after {took:?}, expected about 1 s"
    );
}

#[test]
fn bad_timeouts_are_configuration_errors() {
    let gw = Gateway::start(Options::default());
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let marker = "shutdown_grace_seconds = 1";
    assert!(text.contains(marker));
    for (line, key) in [
        ("client_timeout_ms = 5", "gateway.client_timeout_ms"),
        (
            "client_idle_timeout_seconds = 0",
            "gateway.client_idle_timeout_seconds",
        ),
        ("audit_linger_ms = 101", "gateway.audit_linger_ms"),
    ] {
        std::fs::write(
            &gw.config,
            text.replace(marker, &format!("{marker}\n{line}")),
        )
        .expect("write");
        let out = gw.cli(&["check"]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{err}");
    }
}
