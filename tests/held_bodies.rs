//! A masked answer that reaches the gateway in pieces, through the real binary: held until it
//! ends (up to 64 KiB) and, when it names none of the rules' keys, sent as Oracle sent it, in
//! one chunk and unparsed; a longer one streams through the masker piece by piece
//! (`redact::hold`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::{basic, request, Gateway, Options, UPSTREAM_USER};

/// `erpgate_redaction_bodies_unparsed_total`, scraped.
fn unparsed(metrics: SocketAddr) -> u64 {
    support::http::metric(metrics, "erpgate_redaction_bodies_unparsed_total")
}

/// One response read raw to the connection's end: its head (lower-cased) and the sizes of its
/// chunks, in order, with the bytes they carry.
fn chunks(addr: SocketAddr, raw: &[u8]) -> (String, Vec<usize>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(raw).expect("send");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    let mut rest = &all[split + 4..];
    let (mut sizes, mut body) = (Vec::new(), Vec::new());
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).expect("hex"), 16)
            .expect("a chunk size");
        rest = &rest[eol + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        sizes.push(size);
        assert_eq!(&rest[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        rest = &rest[size + 2..];
    }
    (head, sizes, body)
}

#[test]
fn an_answer_in_pieces_naming_no_rule_key_leaves_whole_and_a_long_one_streams() {
    let metrics: SocketAddr = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .expect("addr");
    let gw = Gateway::start(Options {
        gateway_extra: format!("metrics_listen = \"{metrics}\""),
        // The simulator's diagnostic routes take `items=N&gap_ms=M`.
        acme_extra: "unknown_query_parameters = \"allow\"".into(),
        extra_config: "[[tenants.acme.redact]]\npath = \"**.TaxpayerId\"\naction = \"remove\"\n"
            .into(),
        ..Options::default()
    });
    let ap = gw.issue("ap-sync");
    let auth = ap.basic();
    assert_eq!(unparsed(metrics), 0);

    // 250 invoices (≈ 50 KB), the last 50 sent 200 ms after the first 200: two pieces at
    // least. None has a `TaxpayerId`.
    let target = "/__sim/big?items=250&gap_ms=200";
    let direct = support::http::raw(
        gw.sim.addr,
        format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            gw.sim.addr,
            basic(UPSTREAM_USER, &gw.upstream_password)
        )
        .as_bytes(),
    )
    .expect("direct");
    assert_eq!(direct.status, 200);
    assert!(direct.body.len() > 40_000 && direct.body.len() < 64 * 1024);
    let (head, sizes, body) = chunks(
        gw.addr,
        &request("GET", target, &[("Authorization", &auth)], None),
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert_eq!(body, direct.body, "Oracle's bytes");
    assert_eq!(
        sizes,
        [direct.body.len()],
        "held until it ended, then sent in one chunk"
    );
    assert_eq!(unparsed(metrics), 1, "it went out unparsed");

    // 1,000 invoices (≈ 240 KB in five pieces 50 ms apart), past the 64 KiB a body is held
    // for: from the piece that takes it past them the masker reads it as it comes and sends it
    // on in pieces. It still names nothing, so the bytes are the same.
    let target = "/__sim/big?items=1000&gap_ms=50";
    let (head, sizes, body) = chunks(
        gw.addr,
        &request("GET", target, &[("Authorization", &auth)], None),
    );
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(sizes.len() >= 3, "streamed in pieces: {sizes:?}");
    // The first chunk is what was held (at most 64 KiB) and the piece that took it past (at
    // most one of the simulator's five); every later one is a piece as it came.
    assert!(
        sizes[0] <= 64 * 1024 + body.len() / 5 + 1024,
        "held past the bound: {sizes:?}"
    );
    assert!(
        sizes[1..].iter().all(|&n| n <= body.len() / 5 + 1024),
        "streamed as it came: {sizes:?}"
    );
    let value: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(value["count"], 1000);
    assert_eq!(unparsed(metrics), 1, "a body past the bound is parsed");

    // Both answers are audited as redacted with no value masked.
    let mut records = Vec::new();
    gw.eventually("both answers are audited", || {
        records = gw.audit(&["--actor", "ap-sync"]);
        records.iter().filter(|r| r["path"] == "/__sim/big").count() >= 2
    });
    for r in records.iter().filter(|r| r["path"] == "/__sim/big") {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["redaction"]["applied"], true, "{r}");
        assert_eq!(r["redaction"]["values"].as_u64(), Some(0), "{r}");
    }
}
