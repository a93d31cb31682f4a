//! OTLP/HTTP export of one span per request (JSON encoding, `POST /v1/traces`), off the
//! request path: the logging phase hands a finished span to a bounded queue ([`Exporter::submit`]
//! never blocks; a full queue drops the span and counts it) and one thread sends batches of up
//! to [`BATCH`] spans at most every [`LINGER`].
//!
//! Plain HTTP only, by design: the collector this points at is the local OpenTelemetry agent
//! (a sidecar or a daemon on the host), which forwards with TLS and credentials of its own. A
//! span carries names, codes and times: never a credential, a query string or a body.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::TraceContext;

/// Spans per export request, at most.
pub const BATCH: usize = 512;
/// How long the first span of a batch waits for more.
pub const LINGER: Duration = Duration::from_secs(1);
/// Spans queued for export, at most (beyond: dropped and counted).
pub const QUEUE: usize = 8192;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where spans go: `http://HOST:PORT/PATH` (validated by the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Request path (default `/v1/traces`).
    pub path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]`; the port defaults to 4318, the path to `/v1/traces`.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            if s.starts_with("https://") {
                format!("\"{s}\": https is not supported; point it at the local OpenTelemetry Collector (agent) over http://, which forwards with TLS")
            } else {
                format!("\"{s}\" is not an http:// URL")
            }
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/v1/traces"),
        };
        let path_ok = path.bytes().all(|b| (0x21..0x7f).contains(&b));
        if authority.contains('@') || path.contains(['?', '#']) || !path_ok {
            return Err(format!(
                "\"{s}\": no user info, query or fragment (the collector endpoint only)"
            ));
        }
        let bad = || format!("\"{s}\": \"{authority}\" is not host[:port]");
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, rest) = v6.split_once(']').ok_or_else(bad)?;
                h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
                (h, rest.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let host_ok = !host.is_empty()
            && (host.contains(':')
                || host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
        if !host_ok {
            return Err(bad());
        }
        let host = host.to_string();
        let port = match port {
            None => 4318,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(format!("\"{s}\": \"{p}\" is not a port (1-65535)")),
            },
        };
        Ok(Endpoint {
            host,
            port,
            path: if path == "/" {
                "/v1/traces".into()
            } else {
                path.into()
            },
        })
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
}

/// One request's span, finished.
#[derive(Clone, Debug)]
pub struct Span {
    /// Its trace context.
    pub context: TraceContext,
    /// `GET invoices.collection`: the method and the catalog endpoint (never a raw path).
    pub name: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end: u64,
    /// Attributes (names and codes, never a secret).
    pub attributes: Vec<(&'static str, Attr)>,
    /// Phases as events: name and time (ns since the epoch).
    pub events: Vec<(&'static str, u64)>,
    /// The request failed (5xx): span status ERROR.
    pub error: bool,
}

/// What became of spans, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Spans in export requests that failed.
    pub failed: AtomicU64,
}

/// The handle the request path submits spans to.
pub struct Exporter {
    tx: SyncSender<Span>,
    /// Counters.
    pub stats: Arc<Stats>,
}

impl Exporter {
    /// Starts the export thread.
    pub fn start(
        endpoint: Endpoint,
        service: String,
        node: Option<String>,
    ) -> std::io::Result<Exporter> {
        let (tx, rx) = sync_channel::<Span>(QUEUE);
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("erpgate-otlp".into())
            .spawn(move || {
                let resource = resource(&service, node.as_deref());
                let mut batch = Vec::with_capacity(BATCH);
                loop {
                    let first = match rx.recv() {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                    batch.push(first);
                    let deadline = Instant::now() + LINGER;
                    let mut open = true;
                    while batch.len() < BATCH {
                        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                            Ok(s) => batch.push(s),
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => {
                                open = false;
                                break;
                            }
                        }
                    }
                    send(&endpoint, &resource, &mut batch, &thread_stats);
                    if !open {
                        return;
                    }
                }
            })?;
        Ok(Exporter { tx, stats })
    }

    /// Queues a span; never blocks (a full queue drops it, counted).
    pub fn submit(&self, span: Span) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(span) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn send(endpoint: &Endpoint, resource: &serde_json::Value, batch: &mut Vec<Span>, stats: &Stats) {
    let n = batch.len() as u64;
    let body = encode(resource, batch);
    batch.clear();
    match post(endpoint, &body) {
        Ok(()) => {
            stats.exported.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failed.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(error = %e, spans = n, collector = %format!("{}:{}", endpoint.host, endpoint.port), "trace export failed; spans dropped");
        }
    }
}

fn resource(service: &str, node: Option<&str>) -> serde_json::Value {
    let mut attrs = vec![
        kv("service.name", &Attr::Str(service.to_string())),
        kv(
            "service.version",
            &Attr::Str(env!("CARGO_PKG_VERSION").to_string()),
        ),
    ];
    if let Some(n) = node {
        attrs.push(kv("service.instance.id", &Attr::Str(n.to_string())));
    }
    serde_json::json!({ "attributes": attrs })
}

fn kv(key: &str, v: &Attr) -> serde_json::Value {
    let value = match v {
        Attr::Str(s) => serde_json::json!({ "stringValue": s }),
        // OTLP/JSON: 64-bit integers are strings.
        Attr::Int(i) => serde_json::json!({ "intValue": i.to_string() }),
    };
    serde_json::json!({ "key": key, "value": value })
}

/// The OTLP/JSON `ExportTraceServiceRequest` for `spans` (ids as hex, times as decimal
/// strings, kind SERVER, status ERROR for a failed request).
pub fn encode(resource: &serde_json::Value, spans: &[Span]) -> Vec<u8> {
    let spans: Vec<_> = spans
        .iter()
        .map(|s| {
            let mut span = serde_json::json!({
                "traceId": hex::encode(s.context.trace_id),
                "spanId": hex::encode(s.context.span_id),
                "name": s.name,
                "kind": 2,
                "startTimeUnixNano": s.start.to_string(),
                "endTimeUnixNano": s.end.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>(),
                "events": s.events.iter().map(|(n, t)| serde_json::json!({"timeUnixNano": t.to_string(), "name": n})).collect::<Vec<_>>(),
                "status": { "code": if s.error { 2 } else { 1 } },
            });
            if let Some(p) = s.context.parent {
                span["parentSpanId"] = serde_json::Value::String(hex::encode(p));
            }
            if let Some(ts) = &s.context.tracestate {
                span["traceState"] = serde_json::Value::String(ts.clone());
            }
            span
        })
        .collect();
    let doc = serde_json::json!({
        "resourceSpans": [{
            "resource": resource,
            "scopeSpans": [{
                "scope": { "name": "erpgate", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// One `POST` on a fresh connection; Ok on a 2xx answer.
fn post(endpoint: &Endpoint, body: &[u8]) -> Result<(), String> {
    let addrs = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", endpoint.host))?;
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(mut s) => {
                s.set_read_timeout(Some(TIMEOUT))
                    .map_err(|e| e.to_string())?;
                s.set_write_timeout(Some(TIMEOUT))
                    .map_err(|e| e.to_string())?;
                let host = if endpoint.host.contains(':') {
                    format!("[{}]:{}", endpoint.host, endpoint.port)
                } else {
                    format!("{}:{}", endpoint.host, endpoint.port)
                };
                let head = format!(
                    "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: erpgate/{}\r\nConnection: close\r\n\r\n",
                    endpoint.path,
                    body.len(),
                    env!("CARGO_PKG_VERSION")
                );
                s.write_all(head.as_bytes())
                    .and_then(|()| s.write_all(body))
                    .map_err(|e| format!("sending: {e}"))?;
                let mut status = [0u8; 12];
                s.read_exact(&mut status)
                    .map_err(|e| format!("reading the answer: {e}"))?;
                return match &status[..9] {
                    b"HTTP/1.1 " | b"HTTP/1.0 " if status[9] == b'2' => Ok(()),
                    _ => Err(format!(
                        "collector answered {}",
                        String::from_utf8_lossy(&status).trim()
                    )),
                };
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_defaults_and_refuse_what_they_cannot_do() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:4318/v1/traces"),
            Ok(Endpoint {
                host: "127.0.0.1".into(),
                port: 4318,
                path: "/v1/traces".into()
            })
        );
        let d = Endpoint::parse("http://otel-agent").expect("default");
        assert_eq!((d.port, d.path.as_str()), (4318, "/v1/traces"));
        let v6 = Endpoint::parse("http://[::1]:4000/").expect("v6");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 4000));
        for bad in [
            "https://collector:4318",
            "collector:4318",
            "http://user:pw@collector/v1/traces",
            "http://collector/v1/traces?x=1",
            "http://:4318/",
            "http://collector:99999/",
            "http://collector/v1/traces\r\nX-Injected: 1",
            "http://collector/v1 traces",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("https://c")
            .unwrap_err()
            .contains("https is not supported"));
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let ctx = TraceContext::for_request(
            "9f3a01c2d4e5f607-1b2c3d4e5f607182",
            Some((
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            )),
            true,
        )
        .expect("ctx");
        let span = Span {
            context: ctx,
            name: "GET invoices.collection".into(),
            start: 1_700_000_000_000_000_000,
            end: 1_700_000_000_002_000_000,
            attributes: vec![("http.response.status_code", Attr::Int(200))],
            events: vec![("erpgate.admitted", 1_700_000_000_000_100_000)],
            error: false,
        };
        let body = encode(&resource("erpgate", Some("node-a")), &[span]);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "erpgate"
        );
        assert_eq!(
            rs["resource"]["attributes"][2]["value"]["stringValue"],
            "node-a"
        );
        let s = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["spanId"], "1b2c3d4e5f607182");
        assert_eq!(s["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["endTimeUnixNano"], "1700000000002000000");
        assert_eq!(s["attributes"][0]["value"]["intValue"], "200");
        assert_eq!(s["events"][0]["name"], "erpgate.admitted");
        assert_eq!(s["status"]["code"], 1);
    }
}
