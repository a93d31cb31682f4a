//! The metrics listener: `GET /metrics` in Prometheus text format, on its own address and
//! thread, apart from the relay. Anything else is 404 (wrong method 405).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::app::App;

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

/// Binds `addr` now (so a taken port fails `serve` at start) and serves until `stop`.
pub fn spawn(addr: SocketAddr, app: Arc<App>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let std_listener = crate::listen::bind_shared(addr)?;
    std::thread::Builder::new()
        .name("erpgate-metrics".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                tracing::error!("metrics listener cannot start a runtime");
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    tracing::error!("metrics listener cannot use its socket");
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
                    let Ok(Ok((stream, _))) = accepted else {
                        continue;
                    };
                    let app = app.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                            let app = app.clone();
                            async move {
                                let r = match (req.method(), req.uri().path()) {
                                    (&hyper::Method::GET, "/metrics") => respond(
                                        200,
                                        "text/plain; version=0.0.4; charset=utf-8",
                                        app.metrics.render(&app),
                                    ),
                                    (_, "/metrics") => {
                                        respond(405, "text/plain", "method not allowed\n".into())
                                    }
                                    _ => respond(404, "text/plain", "not found\n".into()),
                                };
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(())
}
