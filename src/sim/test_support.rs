//! Raw-socket helpers shared by the simulator's tests.

use std::io::{Read, Write};
use std::net::SocketAddr;

use serde_json::Value;

use super::{data, SimHandle};

/// Sends `raw` on a new connection; answers (status, lower-cased head, body).
pub fn get(addr: SocketAddr, raw: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A raw HTTP/1.1 request closing its connection.
pub fn req(method: &str, path: &str, extra: &str, body: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: sim.test\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Basic credentials the simulator accepts by default.
pub const AUTH: &str = "Authorization: Basic RklOX0lOVEVHUkFUSU9OOnNpbS1wYXNzd29yZA==\r\n"; // FIN_INTEGRATION:sim-password

/// The JSON object in a (possibly chunked) body.
pub fn body_json(b: &str) -> serde_json::Value {
    // Responses may be chunked; the JSON object sits between the first '{' and the last '}'.
    let start = b.find('{').unwrap_or(0);
    let end = b.rfind('}').map_or(b.len(), |e| e + 1);
    serde_json::from_str(&b[start..end]).unwrap_or_else(|e| panic!("{e}: {b}"))
}

/// `s` percent-encoded for a query value (all but unreserved characters).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The suppliers collection.
pub const SUPPLIERS: &str = "/fscmRestApi/resources/11.13.18.05/suppliers";
/// The invoices collection.
pub const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";
/// The first worker.
pub const WORKER: &str = "/hcmRestApi/resources/11.13.18.05/workers/90001";

/// Sends a request with the accepted credential: (status, head, JSON body or Null).
pub fn call(
    sim: &SimHandle,
    method: &str,
    target: &str,
    extra: &str,
    body: &str,
) -> (u16, String, Value) {
    let (s, h, b) = get(
        sim.addr,
        &req(method, target, &format!("{AUTH}{extra}"), body),
    );
    let v = if b.contains('{') {
        body_json(&b)
    } else {
        Value::Null
    };
    (s, h, v)
}

/// GET `{base}?q=<encoded q>&{extra}`.
pub fn q(sim: &SimHandle, base: &str, expr: &str, extra: &str) -> (u16, Value) {
    let (s, _, v) = call(
        sim,
        "GET",
        &format!("{base}?q={}&{extra}", enc(expr)),
        "",
        "",
    );
    (s, v)
}

/// `totalResults` of a collection answer.
pub fn total(v: &Value) -> Option<u64> {
    v["totalResults"].as_u64()
}

/// The `key` values of a collection answer's items.
pub fn ids(v: &Value, key: &str) -> Vec<i64> {
    v["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i[key].as_i64()).collect())
        .unwrap_or_default()
}

/// The first worker's SSN, as the simulator holds it.
pub fn sim_ssn() -> String {
    let v = data::national_identifiers(90001);
    v[0]["NationalIdentifierNumber"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
