//! Path canonicalisation over the wire: every ambiguous form is refused with 400
//! `path.rejected` before authentication matters, and nothing is relayed. Raw sockets,
//! because a client library would "fix" these paths before sending them.

mod support;

use support::{Gateway, Options};

#[test]
fn ambiguous_targets_are_rejected_and_never_relayed() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let cases: &[(&str, &str)] = &[
        (
            "encoded slash",
            "/fscmRestApi/resources/latest/invoices/..%2f..%2fadmin",
        ),
        (
            "encoded slash upper",
            "/fscmRestApi/resources/latest/invoices/a%2Fb",
        ),
        (
            "encoded backslash",
            "/fscmRestApi/resources/latest/invoices/a%5cb",
        ),
        ("backslash", "/fscmRestApi/resources/latest/invoices\\1"),
        (
            "dot segment",
            "/fscmRestApi/resources/latest/../latest/invoices",
        ),
        ("single dot", "/fscmRestApi/resources/./latest/invoices"),
        (
            "encoded dot",
            "/fscmRestApi/resources/latest/invoices/%2e%2e",
        ),
        (
            "double encoding",
            "/fscmRestApi/resources/latest/invoices/%252e%252e",
        ),
        (
            "encoded unreserved",
            "/fscmRestApi/resources/latest/invo%69ces",
        ),
        (
            "encoded sub-delimiter",
            "/fscmRestApi/resources/latest/invoices/INV%2C001",
        ),
        ("empty segment", "/fscmRestApi//resources/latest/invoices"),
        ("trailing slash", "/fscmRestApi/resources/latest/invoices/"),
        ("encoded NUL", "/fscmRestApi/resources/latest/invoices/1%00"),
        (
            "overlong utf-8",
            "/fscmRestApi/resources/latest/invoices/%c0%ae%c0%ae",
        ),
        (
            "invalid utf-8",
            "/fscmRestApi/resources/latest/invoices/%ff",
        ),
        (
            "matrix parameter",
            "/fscmRestApi/resources/latest/invoices;jsessionid=1",
        ),
        (
            "encoded semicolon",
            "/fscmRestApi/resources/latest/invoices%3bx=1",
        ),
        ("bad escape", "/fscmRestApi/resources/latest/invoices/%zz"),
        (
            "absolute form",
            "http://evil.example/fscmRestApi/resources/latest/invoices",
        ),
    ];
    for (what, target) in cases {
        let raw = format!(
            "GET {target} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        );
        let r = gw.send(raw.as_bytes());
        // Pingora's HTTP parser may refuse the rawest forms itself (400, possibly without our
        // JSON); everything it lets through must be ours.
        assert_eq!(
            r.status,
            400,
            "{what}: {target} -> {} {}",
            r.status,
            r.text()
        );
        if !r.body.is_empty() {
            assert_eq!(r.error_code(), "path.rejected", "{what}: {target}");
        }
    }
    // Unauthenticated ambiguous paths are also refused as paths (no oracle for attackers).
    let r = gw.send(b"GET /a/../b HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    assert_eq!((r.status, r.error_code().as_str()), (400, "path.rejected"));
    let r = gw.send(b"GET /fscmRestApi/resources/latest/invoices/%00 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 400);

    assert_eq!(gw.sim.request_count(), 0, "no rejected path reached Oracle");
}

#[test]
fn the_exact_bytes_matched_are_the_bytes_relayed() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    // A percent-encoded reserved character inside an id, and a query with Oracle's q syntax.
    let target = "/__sim/echo/INV%20001?q=InvoiceNumber%3D'A-1'&onlyData=true&fields=InvoiceId,InvoiceNumber";
    let r = gw.send(
        format!("GET {target} HTTP/1.1\r\nHost: gw\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = gw.sim.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, target);
}

#[test]
fn over_long_uris_are_refused() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let long = format!(
        "/fscmRestApi/resources/latest/invoices/{}",
        "9".repeat(9000)
    );
    let r = gw.get_as(&cred, &long);
    assert!(
        r.status == 414 || r.status == 400 || r.status == 431,
        "{}",
        r.status
    );
    if r.status == 414 {
        assert_eq!(r.error_code(), "request.uri_too_long");
    }
    assert_eq!(gw.sim.request_count(), 0);
}
