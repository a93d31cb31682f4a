//! SIGTERM ends the gateway as soon as nothing is in flight and the audit trail is flushed —
//! not after the whole grace period — while a request in flight still finishes and is recorded.

mod support;

use std::time::{Duration, Instant};

use support::{Gateway, Options};

fn options() -> Options {
    Options {
        shutdown_grace_seconds: 10,
        ..Options::default()
    }
}

#[test]
fn an_idle_gateway_exits_at_once_on_sigterm() {
    let mut gw = Gateway::start(options());
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices");
    assert_eq!(r.status, 200);
    let rid = r.header("x-request-id").expect("rid").to_string();
    let started = Instant::now();
    let code = gw.signal_and_wait("-TERM", Duration::from_secs(15));
    let took = started.elapsed();
    assert_eq!(code, Some(0));
    // The grace is 10 s; with nothing in flight the exit must not wait for it.
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let log = gw.log_text();
    assert!(log.contains("erpgate stopped"), "{log}");
    // The trail was flushed before the exit.
    assert_eq!(gw.audit(&["--request-id", &rid]).len(), 1);
}

#[test]
fn a_request_in_flight_finishes_and_then_the_gateway_exits() {
    let mut gw = Gateway::start(options());
    let cred = gw.issue("ap-sync");
    let addr = gw.addr;
    let auth = cred.basic();
    let slow = std::thread::spawn(move || {
        support::http::raw(
            addr,
            &support::request(
                "GET",
                "/__sim/slow?ms=1500",
                &[("Authorization", &auth)],
                None,
            ),
        )
    });
    std::thread::sleep(Duration::from_millis(400));
    let started = Instant::now();
    let code = gw.signal_and_wait("-TERM", Duration::from_secs(15));
    let took = started.elapsed();
    let r = slow
        .join()
        .expect("thread")
        .expect("the request in flight was answered");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(code, Some(0));
    assert!(
        took >= Duration::from_millis(900),
        "exited before the request finished: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "waited for the grace period: {took:?}"
    );
    let rid = r.header("x-request-id").expect("rid").to_string();
    let rec = gw.audit(&["--request-id", &rid]);
    assert_eq!(rec.len(), 1, "the in-flight request's record was lost");
    assert_eq!(rec[0]["decision"], "relayed");
}

/// A client that has connected but not yet sent its request when the shutdown begins (the
/// window in which a graceful upgrade's old process stops accepting) is still answered: it was
/// accepted by this process, and no other process can answer it. A connection that sends
/// nothing does not hold the exit for long.
#[test]
fn a_connection_accepted_before_the_shutdown_is_answered_when_its_request_comes_after() {
    use std::io::{BufReader, Read, Write};
    use std::net::TcpStream;

    let mut gw = Gateway::start(options());
    let cred = gw.issue("ap-sync");
    assert_eq!(
        gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices")
            .status,
        200
    );
    let mut late = TcpStream::connect(gw.addr).expect("connect");
    let mut silent = TcpStream::connect(gw.addr).expect("connect");
    // Both are accepted by the gateway's accept loop well within this.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    gw.signal("-TERM");
    // The shutdown has begun (the accept loop stops at once on SIGTERM), and an idle gateway
    // would have ended its grace 60 ms later, before the request.
    std::thread::sleep(Duration::from_millis(500));
    let raw = support::request(
        "GET",
        "/fscmRestApi/resources/latest/invoices?limit=1",
        &[("Authorization", &cred.basic()), ("Connection", "close")],
        None,
    );
    late.write_all(&raw).expect("write the late request");
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let r = support::http::read_response(&mut BufReader::new(&mut late))
        .expect("the late request was answered");
    assert_eq!(r.status, 200, "{}", r.text());
    let code = gw.wait_exit("-TERM", Duration::from_secs(15));
    let took = started.elapsed();
    assert_eq!(code, Some(0));
    assert!(
        took < Duration::from_secs(5),
        "a silent connection held the exit for the grace period: {took:?}"
    );
    // The silent connection was closed without an answer (it never asked anything).
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    let _ = silent.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    let rid = r.header("x-request-id").expect("rid").to_string();
    assert_eq!(gw.audit(&["--request-id", &rid]).len(), 1);
}
