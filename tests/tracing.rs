//! Distributed tracing: a trusted client's W3C `traceparent` is continued and Oracle is told
//! which span its work belongs to; an untrusted client's is ignored; every request's span goes
//! to an OTLP/HTTP collector (a tiny one run by this test) with the phases as events and no
//! secret anywhere in it.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// A minimal OTLP/HTTP receiver: every `POST /v1/traces` body, parsed.
struct Collector {
    addr: String,
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                reader.read_line(&mut line).expect("request line");
                let target = line.split(' ').nth(1).unwrap_or_default().to_string();
                let mut len = 0usize;
                let mut content_type = String::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).expect("header");
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                    let lower = h.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().expect("length");
                    }
                    if let Some(v) = lower.strip_prefix("content-type:") {
                        content_type = v.trim().to_string();
                    }
                }
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).expect("body");
                assert_eq!(content_type, "application/json");
                let v: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                seen.lock().expect("lock").push((target, v));
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            }
        });
        Collector { addr, bodies }
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|(_, v)| {
                v["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The span of request `rid`, waiting up to 10 s for the exporter's batch.
    fn span_of(&self, rid: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self
                .spans()
                .into_iter()
                .find(|s| attr(s, "erpgate.request_id") == Some(rid.to_string()))
            {
                return s;
            }
            assert!(Instant::now() < deadline, "no span for {rid}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything received, as text.
    fn all_text(&self) -> String {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, v)| v.to_string())
            .collect()
    }
}

fn attr(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v["stringValue"]
                .as_str()
                .or_else(|| v["intValue"].as_str())
                .unwrap_or_default()
                .to_string()
        })
}

fn events(span: &Value) -> Vec<String> {
    span["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn sim_header(gw: &Gateway, name: &str) -> Vec<String> {
    let seen = gw.sim.requests();
    let last = seen.last().expect("a request reached Oracle");
    last.headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// The metrics text once it contains `want` (up to 10 s).
fn metrics_with(maddr: &str, want: &str) -> String {
    let sock: std::net::SocketAddr = maddr.parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = support::http::raw(sock, &support::request("GET", "/metrics", &[], None))
            .expect("scrape")
            .text();
        if m.contains(want) {
            return m;
        }
        assert!(Instant::now() < deadline, "no {want:?} in:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn gateway(collector: &Collector, trusted: &str) -> Gateway {
    Gateway::start(Options {
        gateway_extra: format!(
            "otlp_traces_endpoint = \"http://{}/v1/traces\"\notlp_service_name = \"erpgate-test\"\ntraceparent_trusted_clients = [\"{trusted}\"]",
            collector.addr
        ),
        ..Options::default()
    })
}

#[test]
fn a_trusted_parent_is_continued_to_oracle_and_every_request_is_a_span() {
    let collector = Collector::start();
    let gw = gateway(&collector, "127.0.0.1");
    let cred = gw.issue("ap-sync");
    let traceparent = format!("00-{TRACE}-{PARENT}-01");

    // A trusted client's trace: continued, and Oracle's work hangs under our span.
    gw.sim.clear_requests();
    let r = gw.get(
        &format!("{INVOICES}?q=InvoiceNumber=SECRET-Q-VALUE"),
        &[
            ("Authorization", &cred.basic()),
            ("traceparent", &traceparent),
            ("tracestate", "vendor=abc"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rid = r.header("x-request-id").expect("id").to_string();
    // The span id is the request id's second half: the first begins with the second it was
    // made in, the second is all random.
    let span_id = rid.split('-').nth(1).expect("second half").to_string();
    assert_eq!(
        sim_header(&gw, "traceparent"),
        vec![format!("00-{TRACE}-{span_id}-01")],
        "Oracle gets our span as its parent, never the client's header as sent"
    );
    assert_eq!(
        sim_header(&gw, "tracestate"),
        vec!["vendor=abc".to_string()]
    );
    let span = collector.span_of(&rid);
    assert_eq!(span["traceId"], TRACE);
    assert_eq!(span["parentSpanId"], PARENT);
    assert_eq!(span["spanId"], span_id.as_str());
    assert_eq!(span["name"], "GET invoices.collection");
    assert_eq!(span["kind"], 2);
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attr(&span, "erpgate.tenant").as_deref(), Some("acme"));
    assert_eq!(attr(&span, "erpgate.actor").as_deref(), Some("ap-sync"));
    assert_eq!(attr(&span, "url.path").as_deref(), Some(INVOICES));
    assert!(attr(&span, "erpgate.oracle_ecid").is_some_and(|e| e.len() == 16));
    assert_eq!(
        events(&span),
        vec![
            "erpgate.admitted",
            "upstream.connect",
            "upstream.first_byte"
        ]
    );
    let start: u64 = span["startTimeUnixNano"]
        .as_str()
        .expect("start")
        .parse()
        .expect("n");
    let end: u64 = span["endTimeUnixNano"]
        .as_str()
        .expect("end")
        .parse()
        .expect("n");
    assert!(start < end, "{start} < {end}");

    // No parent: the trace is the request id, so a trace and an audit record find each other.
    gw.sim.clear_requests();
    let r = gw.get(INVOICES, &[("Authorization", &cred.basic())]);
    assert_eq!(r.status, 200);
    let rid = r.header("x-request-id").expect("id").to_string();
    let own = rid.replace('-', "");
    let span_id = rid.split('-').nth(1).expect("second half");
    assert_eq!(
        sim_header(&gw, "traceparent"),
        vec![format!("00-{own}-{span_id}-01")]
    );
    let span = collector.span_of(&rid);
    assert_eq!(span["traceId"], own.as_str());
    assert!(span.get("parentSpanId").is_none(), "{span}");

    // A refusal is a span too: no upstream phases, the reason, status ERROR only for 5xx.
    let r = gw.get(INVOICES, &[("traceparent", &traceparent)]);
    assert_eq!(r.status, 401);
    let span = collector.span_of(r.header("x-request-id").expect("id"));
    assert_eq!(events(&span), vec!["erpgate.refused"]);
    assert_eq!(
        attr(&span, "erpgate.reason").as_deref(),
        Some("auth.missing")
    );
    assert_eq!(span["status"]["code"], 1);
    assert_eq!(
        span["traceId"], TRACE,
        "trusted client, even unauthenticated"
    );

    // The resource names the service; nothing secret went out.
    let bodies = collector.bodies.lock().expect("lock").clone();
    assert!(bodies.iter().all(|(t, _)| t == "/v1/traces"));
    let resource = &bodies[0].1["resourceSpans"][0]["resource"]["attributes"][0];
    assert_eq!(resource["value"]["stringValue"], "erpgate-test");
    let text = collector.all_text();
    for secret in [
        cred.password.as_str(),
        cred.basic().trim_start_matches("Basic "),
        gw.upstream_password.as_str(),
        "SECRET-Q-VALUE",
    ] {
        assert!(!text.contains(secret), "a secret in the exported spans");
    }
}

#[test]
fn an_untrusted_clients_traceparent_is_ignored_and_spans_are_counted() {
    let collector = Collector::start();
    let port = support::free_port();
    let maddr = format!("127.0.0.1:{port}");
    let gw = Gateway::start(Options {
        gateway_extra: format!(
            "otlp_traces_endpoint = \"http://{}\"\ntraceparent_trusted_clients = [\"10.0.0.0/8\"]\nmetrics_listen = \"{maddr}\"",
            collector.addr
        ),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    gw.sim.clear_requests();
    let r = gw.get(
        INVOICES,
        &[
            ("Authorization", &cred.basic()),
            ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
            ("tracestate", "vendor=abc"),
        ],
    );
    assert_eq!(r.status, 200);
    let rid = r.header("x-request-id").expect("id").to_string();
    let own = rid.replace('-', "");
    let tp = sim_header(&gw, "traceparent");
    assert_eq!(tp.len(), 1);
    assert!(tp[0].starts_with(&format!("00-{own}-")), "{tp:?}");
    assert!(sim_header(&gw, "tracestate").is_empty());
    let span = collector.span_of(&rid);
    assert_eq!(span["traceId"], own.as_str());
    assert!(span.get("parentSpanId").is_none());

    let m = metrics_with(&maddr, "erpgate_trace_spans_total{result=\"exported\"} 1");
    assert!(
        m.contains("erpgate_trace_spans_total{result=\"dropped\"} 0"),
        "{m}"
    );
}

#[test]
fn without_export_or_trusted_clients_no_traceparent_reaches_oracle() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    gw.sim.clear_requests();
    let r = gw.get(
        INVOICES,
        &[
            ("Authorization", &cred.basic()),
            ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(sim_header(&gw, "traceparent").is_empty());
}

#[test]
fn behind_a_trusted_proxy_the_client_decides_not_the_proxy() {
    let gw = Gateway::start(Options {
        gateway_extra: "trusted_proxies = [\"127.0.0.1\"]\ntraceparent_trusted_clients = [\"10.0.0.0/8\", \"127.0.0.1\"]".into(),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    let trace_sent = |xff: Option<&str>| {
        gw.sim.clear_requests();
        let mut headers = vec![
            ("Authorization", cred.basic()),
            ("traceparent", traceparent.clone()),
        ];
        if let Some(x) = xff {
            headers.push(("X-Forwarded-For", x.to_string()));
        }
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = gw.get(INVOICES, &refs);
        assert_eq!(r.status, 200, "{}", r.text());
        let tp = sim_header(&gw, "traceparent");
        assert_eq!(tp.len(), 1, "{tp:?}");
        tp[0].split('-').nth(1).expect("trace id").to_string()
    };
    // The proxy itself (no forwarded-for) is not a client whose trace is continued, even
    // though its address is on the list.
    assert_ne!(trace_sent(None), TRACE);
    // A trusted client behind it is; an untrusted one is not.
    assert_eq!(trace_sent(Some("10.1.2.3")), TRACE);
    assert_ne!(trace_sent(Some("192.0.2.7")), TRACE);
}

#[test]
fn bad_tracing_settings_are_refused_by_check() {
    let gw = Gateway::start(Options::default());
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let bad = text.replacen(
        "[gateway]\n",
        "[gateway]\notlp_traces_endpoint = \"https://collector.example.com/v1/traces\"\ntraceparent_trusted_clients = [\"10.0.0.0/33\"]\notlp_service_name = \"has space\"\nallow_request_headers = [\"traceparent\"]\n",
        1,
    );
    assert_ne!(bad, text);
    let path = gw.dir.path().join("bad.toml");
    std::fs::write(&path, bad).expect("write");
    let out = gw.cli(&["check", "--config", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("gateway.otlp_traces_endpoint") && e.contains("https is not supported"),
        "{e}"
    );
    assert!(e.contains("gateway.traceparent_trusted_clients"), "{e}");
    assert!(e.contains("gateway.otlp_service_name"), "{e}");
    assert!(
        e.contains("gateway.allow_request_headers") && e.contains("trace context"),
        "a client's traceparent can never be allowlisted through: {e}"
    );
}

#[test]
fn a_collector_that_is_down_costs_requests_nothing_and_is_counted() {
    let dead = support::free_port();
    let port = support::free_port();
    let maddr = format!("127.0.0.1:{port}");
    let gw = Gateway::start(Options {
        gateway_extra: format!(
            "otlp_traces_endpoint = \"http://127.0.0.1:{dead}/v1/traces\"\nmetrics_listen = \"{maddr}\""
        ),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    for _ in 0..3 {
        let r = gw.get(INVOICES, &[("Authorization", &cred.basic())]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let m = metrics_with(&maddr, "erpgate_trace_spans_total{result=\"failed\"} 3");
    assert!(
        m.contains("erpgate_trace_spans_total{result=\"exported\"} 0"),
        "{m}"
    );
    assert!(
        gw.log_text().contains("trace export failed"),
        "the failure is logged"
    );
}
