//! Diagnostics of the simulated Oracle, under `/__sim/` (no authentication).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::routes::{error, json_response, respond, Body, Req, COLLECTION};
use super::Shared;

/// Diagnostics under `/__sim/` (no authentication).
pub async fn diagnostics(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let rest = req.path.trim_start_matches("/__sim/");
    match rest {
        r if r == "echo" || r.starts_with("echo/") => echo(req, shared),
        "tokens/revoke" => revoke_tokens(shared),
        "slow" => slow(req).await,
        "big" | "broken" => big(req, rest == "broken"),
        "gzip" => gzip(),
        "html" => html(),
        _ => match rest
            .strip_prefix("status/")
            .and_then(|c| c.parse::<u16>().ok())
        {
            Some(code) => status(code, shared),
            None => error(
                StatusCode::NOT_FOUND,
                "No such diagnostics endpoint",
                "SIM-404",
            ),
        },
    }
}

/// The numeric query parameter `name`, if present and a number.
fn param(req: &Req<'_>, name: &str) -> Option<u64> {
    req.query.unwrap_or("").split('&').find_map(|p| {
        p.split_once('=')
            .filter(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    })
}

/// `/__sim/echo[/…]`: what was received, credential values redacted.
fn echo(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let secret_headers = [
        "authorization",
        "proxy-authorization",
        "x-api-key",
        shared.config.api_key_header.as_str(),
    ];
    let headers: Vec<Value> = req
        .headers
        .iter()
        .map(|(k, v)| {
            let shown = if secret_headers.contains(&k.as_str()) {
                "<redacted>".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            json!([k.as_str(), shown])
        })
        .collect();
    let target = match req.query {
        Some(q) => format!("{}?{q}", req.path),
        None => req.path.to_string(),
    };
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({"method": req.method.as_str(), "target": target, "headers": headers, "body_len": req.body.len()}),
    )
}

/// `/__sim/tokens/revoke`: revokes every relay token issued so far.
fn revoke_tokens(shared: &Shared) -> Response<Body> {
    shared.config.relay_tokens.revoke_all();
    json_response(
        StatusCode::OK,
        "application/json",
        &json!({"revoked": true}),
    )
}

/// `/__sim/slow?ms=N`: answers after `N` milliseconds (default 1000, at most 60000).
async fn slow(req: &Req<'_>) -> Response<Body> {
    tokio::time::sleep(Duration::from_millis(
        param(req, "ms").unwrap_or(1000).min(60_000),
    ))
    .await;
    json_response(StatusCode::OK, "application/json", &json!({"slept": true}))
}

/// `/__sim/big?items=N[&gap_ms=M]` (a large streamed collection, 200 items a chunk, each chunk
/// after the first sent M milliseconds after the one before it, so that a proxy reads the body
/// in pieces) and `/__sim/broken?items=N` (the same N invoices, then, after a pause, invalid
/// JSON instead of the collection's end).
fn big(req: &Req<'_>, broken: bool) -> Response<Body> {
    let n = param(req, "items").unwrap_or(1000) as usize;
    let mut body = BigBody::new(n, req.host.clone());
    body.broken = broken;
    body.gap = param(req, "gap_ms").map(|ms| Duration::from_millis(ms.min(10_000)));
    let mut r = respond(StatusCode::OK, Some(COLLECTION), body.boxed());
    r.headers_mut().remove(http::header::CONTENT_LENGTH);
    r
}

/// `/__sim/gzip`: claims gzip (the bytes are a real gzip member of `{}`): a body the gateway
/// cannot redact without decoding.
fn gzip() -> Response<Body> {
    let mut r = json_response(StatusCode::OK, COLLECTION, &json!({}));
    *r.body_mut() = Full::new(Bytes::from_static(&[
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3, 0xab, 0xae, 5, 0, 0x43, 0xbf, 0xa6, 0xa3, 2, 0, 0, 0,
    ]))
    .boxed();
    r.headers_mut().insert(
        http::header::CONTENT_ENCODING,
        http::HeaderValue::from_static("gzip"),
    );
    r.headers_mut().remove(http::header::CONTENT_LENGTH);
    r
}

/// `/__sim/html`: an HTML page holding an account number.
fn html() -> Response<Body> {
    respond(
        StatusCode::OK,
        Some("text/html; charset=UTF-8"),
        Full::new(Bytes::from_static(
            b"<html><body>BankAccountNumber 400000000001</body></html>",
        ))
        .boxed(),
    )
}

/// `/__sim/status/{code}`: an Oracle error with that status (a 401 carries Oracle's Basic
/// challenge naming the integration user).
fn status(code: u16, shared: &Shared) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = error(status, "Simulated status", "SIM-STATUS");
    if status == StatusCode::UNAUTHORIZED {
        // Oracle's challenge names the user whose credential it refused.
        let user = shared
            .config
            .basic_users
            .first()
            .map_or("FIN_INTEGRATION", |(u, _)| u.as_str());
        if let Ok(v) = format!("Basic realm=\"{user}\"").parse() {
            r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// A large invoices collection produced chunk by chunk, never held whole in memory.
struct BigBody {
    next: usize,
    total: usize,
    host: String,
    done: bool,
    /// After the last invoice (and a pause, so it is sent on its own), emit invalid JSON
    /// holding a value that must never be seen.
    broken: bool,
    /// The pause before each chunk after the first (`gap_ms`).
    gap: Option<Duration>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl BigBody {
    fn new(total: usize, host: String) -> Self {
        BigBody {
            next: 0,
            total,
            host,
            done: false,
            broken: false,
            gap: None,
            pause: None,
        }
    }
}

impl http_body::Body for BigBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        // After the first chunk: the pause asked for, or before a broken body's break.
        let gap = match (self.broken, self.gap) {
            (true, _) if self.next >= self.total => Some(Duration::from_millis(300)),
            (_, gap) => gap,
        };
        if let Some(gap) = gap.filter(|_| self.next > 0) {
            let pause = self
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        let mut chunk = String::with_capacity(64 * 1024);
        if self.broken && self.next >= self.total {
            self.done = true;
            chunk.push_str(r#",{"InvoiceId":1 "BankAccountNumber":"LEAKED-AFTER-BREAK"}]}"#);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))));
        }
        if self.next == 0 {
            chunk.push_str("{\"items\":[");
        }
        let end = (self.next + 200).min(self.total);
        for i in self.next..end {
            if i > 0 {
                chunk.push(',');
            }
            let item = json!({
                "InvoiceId": 300100 + i,
                "InvoiceNumber": format!("INV-{i:07}"),
                "InvoiceAmount": 1000.0 + i as f64,
                "Supplier": "Supplier 1001",
                "BankAccountNumber": format!("{:012}", 400_000_000_000u64 + i as u64),
                "links": [{"rel": "self", "href": format!("http://{}/fscmRestApi/resources/latest/invoices/{}", self.host, 300100 + i)}],
            });
            chunk.push_str(&item.to_string());
        }
        self.next = end;
        if self.next >= self.total && !self.broken {
            chunk.push_str(&format!(
                "],\"count\":{},\"hasMore\":false,\"limit\":{},\"offset\":0}}",
                self.total, self.total
            ));
            self.done = true;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }
}
