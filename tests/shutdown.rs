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
