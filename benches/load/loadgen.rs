//! A small HTTP/1.1 load generator for `benches/load/run.sh`: keep-alive connections, either
//! closed-loop (as fast as each connection can go: peak throughput) or open-loop at a fixed
//! rate, where each request has an intended send time and its latency is measured from that
//! time, so a stalled server is charged for the requests it delayed (no coordinated
//! omission, as in wrk2).
//!
//! `loadgen --url http[s]://127.0.0.1:8080/path [--ca ca.pem] [--header 'K: V']...
//!          [--connections 32] [--duration 10] [--warmup 2] [--rate 0] [--expect 200]
//!          [--method POST --body-file body.json]`
//! prints one JSON object: requests, errors, rps, latency percentiles in microseconds.
//! `https://` speaks TLS (rustls) and trusts only the certificates in `--ca`; the name checked
//! is the URL's host (an IP address needs an IP SAN).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Clone)]
struct Args {
    host: String,
    /// `Some` for `https://`: the client configuration trusting `--ca`.
    tls: Option<Arc<rustls::ClientConfig>>,
    path: String,
    /// The request method (`GET` unless `--method`).
    method: hyper::Method,
    /// The request body sent with every request (`--body-file`; empty unless given).
    body: Bytes,
    headers: Vec<(String, String)>,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    rate: f64,
    expect: u16,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: String::new(),
        tls: None,
        path: String::new(),
        method: hyper::Method::GET,
        body: Bytes::new(),
        headers: Vec::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        rate: 0.0,
        expect: 200,
    };
    let mut https = false;
    let mut ca = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => {
                let url = val()?;
                let (rest, tls) = match url.strip_prefix("https://") {
                    Some(rest) => (rest, true),
                    None => (
                        url.strip_prefix("http://")
                            .ok_or("only http:// and https:// URLs are supported")?,
                        false,
                    ),
                };
                https = tls;
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                a.host = host.to_string();
                a.path = if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                };
            }
            "--header" => {
                let h = val()?;
                let (k, v) = h.split_once(':').ok_or("headers are 'Name: value'")?;
                a.headers.push((k.trim().into(), v.trim().into()));
            }
            "--ca" => ca = Some(val()?),
            "--connections" => a.connections = val()?.parse().map_err(|_| "bad --connections")?,
            "--duration" => {
                a.duration = Duration::from_secs_f64(val()?.parse().map_err(|_| "bad --duration")?)
            }
            "--warmup" => {
                a.warmup = Duration::from_secs_f64(val()?.parse().map_err(|_| "bad --warmup")?)
            }
            "--rate" => a.rate = val()?.parse().map_err(|_| "bad --rate")?,
            "--expect" => a.expect = val()?.parse().map_err(|_| "bad --expect")?,
            "--method" => {
                a.method =
                    hyper::Method::from_bytes(val()?.as_bytes()).map_err(|_| "bad --method")?
            }
            "--body-file" => {
                let f = val()?;
                a.body = std::fs::read(&f)
                    .map_err(|e| format!("--body-file {f}: {e}"))?
                    .into();
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.host.is_empty() {
        return Err("--url is required".into());
    }
    if a.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    match (https, ca) {
        (true, Some(ca)) => a.tls = Some(client_config(&ca)?),
        (true, None) => return Err("an https:// URL needs --ca".into()),
        (false, Some(_)) => return Err("--ca is for https:// URLs".into()),
        (false, None) => {}
    }
    Ok(a)
}

/// A rustls client configuration trusting only the certificates in the PEM file `ca`.
fn client_config(ca: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("--ca {ca}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("--ca {ca}: {e}"))?;
        roots.add(cert).map_err(|e| format!("--ca {ca}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Set once the first failed connection has been reported (the rest only count as errors).
static CONNECT_FAILURE_SHOWN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

async fn connect(a: &Args) -> Option<Sender> {
    match try_connect(a).await {
        Ok(s) => Some(s),
        Err(e) => {
            if !CONNECT_FAILURE_SHOWN.swap(true, std::sync::atomic::Ordering::Relaxed) {
                eprintln!("loadgen: cannot connect to {}: {e}", a.host);
            }
            None
        }
    }
}

async fn try_connect(a: &Args) -> Result<Sender, String> {
    let stream = TcpStream::connect(&a.host)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = &a.tls else {
        return handshake(stream).await;
    };
    let name = a.host.rsplit_once(':').map_or(a.host.as_str(), |(h, _)| h);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let name = rustls_pki_types::ServerName::try_from(name.to_string())
        .map_err(|e| format!("server name {name}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    handshake(stream).await
}

async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/1: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// What became of one request.
enum Outcome {
    /// A response with this status.
    Status(u16),
    /// The server had closed the keep-alive connection before we sent (e.g. nginx after
    /// `keepalive_requests`): not an error, send again on a new connection.
    Closed,
    /// A transport failure after sending: an error.
    Failed,
}

async fn one(sender: &mut Sender, a: &Args) -> Outcome {
    let mut req = hyper::Request::builder()
        .method(a.method.clone())
        .uri(a.path.as_str())
        .header(hyper::header::HOST, a.host.as_str());
    for (k, v) in &a.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let Ok(req) = req.body(Full::new(a.body.clone())) else {
        return Outcome::Failed;
    };
    if sender.ready().await.is_err() {
        return Outcome::Closed;
    }
    let Ok(resp) = sender.send_request(req).await else {
        return Outcome::Failed;
    };
    let status = resp.status().as_u16();
    match resp.into_body().collect().await {
        Ok(_) => Outcome::Status(status),
        Err(_) => Outcome::Failed,
    }
}

async fn connection(a: Args, index: usize, start: Instant) -> Tally {
    let mut t = Tally::default();
    let measure_from = start + a.warmup;
    let end = measure_from + a.duration;
    let period = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.connections as f64 / a.rate));
    let offset = period.map_or(Duration::ZERO, |p| {
        p.mul_f64(index as f64 / a.connections as f64)
    });
    let mut sender = connect(&a).await;
    let mut k: u32 = 0;
    loop {
        let intended = match period {
            Some(p) => {
                let at = start + offset + p * k;
                k += 1;
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        if intended >= end {
            break;
        }
        let mut outcome = match sender.as_mut() {
            Some(s) => one(s, &a).await,
            None => Outcome::Failed,
        };
        if matches!(outcome, Outcome::Closed) {
            sender = connect(&a).await;
            outcome = match sender.as_mut() {
                Some(s) => one(s, &a).await,
                None => Outcome::Failed,
            };
        }
        let status = match outcome {
            Outcome::Status(s) => Some(s),
            Outcome::Closed | Outcome::Failed => None,
        };
        let done = Instant::now();
        if intended >= measure_from {
            match status {
                Some(s) if s == a.expect => t.ok += 1,
                _ => t.errors += 1,
            }
            let us = done.saturating_duration_since(intended).as_micros();
            t.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
        if status.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            sender = connect(&a).await;
        }
    }
    t
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("loadgen: runtime: {e}");
            std::process::exit(1)
        });
    let total = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..a.connections)
            .map(|i| tokio::spawn(connection(a.clone(), i, start)))
            .collect();
        let mut all = Tally::default();
        for t in tasks {
            if let Ok(t) = t.await {
                all.ok += t.ok;
                all.errors += t.errors;
                all.latencies_us.extend(t.latencies_us);
            }
        }
        all
    });
    let mut lat = total.latencies_us;
    lat.sort_unstable();
    let n = total.ok + total.errors;
    println!(
        "{{\"requests\":{n},\"ok\":{},\"errors\":{},\"rps\":{:.1},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"connections\":{},\"rate\":{}}}",
        total.ok,
        total.errors,
        n as f64 / a.duration.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or(0),
        a.connections,
        a.rate
    );
}
