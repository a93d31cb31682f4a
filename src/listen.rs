//! Binding the gateway's own side listeners (admin API, metrics).
//!
//! They are bound with `SO_REUSEPORT` so that during a graceful upgrade the new process can
//! bind them while the old one still drains (Linux only lets sockets of the same user share a
//! port this way). Only that hand-over may share them: a plain `serve` first proves the port
//! free with [`ensure_free`] (a bind *without* `SO_REUSEPORT`, which any listener on the port
//! refuses), so a second erpgate fails at start with "address in use" instead of silently
//! taking half of another gateway's admin or metrics connections. The public relay listener
//! is Pingora's and is handed over as a file descriptor instead; it is never shared.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Fails with "address in use" when anything listens on `addr` — another erpgate's
/// `SO_REUSEPORT` side listener included — by binding and listening on it without
/// `SO_REUSEPORT` (and dropping the socket again). A plain `serve` calls it right before
/// [`bind_shared`]; only `serve --upgrade` skips it, to share the old process's port.
pub fn ensure_free(addr: SocketAddr) -> std::io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // SO_REUSEADDR like the real socket, so a port in TIME_WAIT is not mistaken for taken;
    // it never lets a bind succeed over a listening socket.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1)?;
    Ok(())
}

/// A non-blocking listening socket on `addr`, shareable with the next process of an upgrade.
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A side listener's answer.
pub type Reply = hyper::Response<http_body_util::Full<bytes::Bytes>>;

/// The address a request on a [`serve_http`] listener came from (a request extension).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// Serves HTTP/1.1 on `listener` from a thread of its own (named `name`, one-threaded
/// runtime) until `stop` is set: every request goes to `handle`; request headers must arrive
/// within 10 s.
pub fn serve_http<F, Fut>(
    name: &str,
    listener: std::net::TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: F,
) -> std::io::Result<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    let label = name.to_string();
    std::thread::Builder::new()
        .name(format!("erpgate-{name}"))
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                tracing::error!(listener = %label, "cannot start a runtime");
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    tracing::error!(listener = %label, "cannot use its socket");
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
                    let Ok(Ok((stream, peer))) = accepted else {
                        continue;
                    };
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                            req.extensions_mut().insert(Peer(peer));
                            let handle = handle.clone();
                            async move { Ok::<_, std::convert::Infallible>(handle(req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(Duration::from_secs(10))
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        })?;
    Ok(())
}
