//! Binding the gateway's own side listeners (admin API, metrics).
//!
//! They are bound with `SO_REUSEPORT` so that during a graceful upgrade the new process can
//! bind them while the old one still drains (Linux only lets sockets of the same user share a
//! port this way). The public relay listener is Pingora's and is handed over as a file
//! descriptor instead; it is never shared, so a second `serve` without `--upgrade` still
//! fails at start with "address in use".

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

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
