//! The metrics listener: `GET /metrics` in Prometheus text format, on its own address and
//! thread, apart from the relay. Anything else is 404 (wrong method 405).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;

fn respond(status: u16, ctype: &str, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Binds `addr` now (so a taken port fails `serve` at start) and serves `render()`'s text
/// until `stop`.
pub fn spawn(
    addr: SocketAddr,
    render: impl Fn() -> String + Send + Sync + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let listener = crate::listen::bind_shared(addr)?;
    let render = Arc::new(render);
    crate::listen::serve_http("metrics", listener, stop, move |req| {
        let render = render.clone();
        async move {
            match (req.method(), req.uri().path()) {
                (&hyper::Method::GET, "/metrics") => {
                    respond(200, "text/plain; version=0.0.4; charset=utf-8", render())
                }
                (_, "/metrics") => respond(405, "text/plain", "method not allowed\n".into()),
                _ => respond(404, "text/plain", "not found\n".into()),
            }
        }
    })?;
    Ok(())
}
