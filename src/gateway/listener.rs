//! The public relay's listeners (plain TCP and TLS): Pingora's, with erpgate's buffer settings.

use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{
    L4BufferSettings, ListenerConfig, PreTlsProcess, DEFAULT_L4_WRITE_BUFFER_SIZE,
};
use pingora::protocols::l4::stream::Stream as L4Stream;

use super::front::InFlight;

/// Bytes a relay connection buffers below the HTTP/1 parser (plain TCP) or below rustls
/// (TLS): none.
///
/// Pingora puts a 64 KiB read buffer under every accepted connection by default, meant for a
/// TLS library's small reads. What it costs is memory: with 1,000 keep-alive clients the
/// gateway held ≈ 150 MiB from the second burst on over plain TCP (≈ 90 MiB without it), and
/// ≈ 162 MiB over TLS 1.3 (≈ 99–102 MiB without it; `benches/load/memory.sh [--tls]`,
/// BENCHMARKS.md section 8). What it saves is reads:
/// - plain TCP: the head is read by `gateway::front` into a buffer of its own (4 KiB at a
///   time) and the body by Pingora up to its remaining length;
/// - TLS: rustls reads 4 KiB at a time.
///
/// So a request that arrives within 4 KiB (every measured GET) makes the same system calls
/// either way (`benches/load/syscalls.sh [--tls]`: 2 `recvfrom` per item request); a ≈ 6 KiB
/// head takes one more read (3 instead of 2), and a large body over TLS about four reads per
/// 16 KiB record instead of one (estimated from rustls, not measured).
pub const RELAY_READ_BUFFER: usize = 0;

/// The public relay's listener on `addr`, with TLS when `tls` is given (`gateway::tls`):
/// Pingora's, without the read buffer ([`RELAY_READ_BUFFER`]); the write buffer stays
/// Pingora's (one MSS, flushed per response).
pub fn relay(addr: &str, tls: Option<TlsSettings>) -> ListenerConfig {
    let listener = ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings::new(
        RELAY_READ_BUFFER,
        DEFAULT_L4_WRITE_BUFFER_SIZE,
    ));
    match tls {
        Some(settings) => listener.tls(settings),
        None => listener,
    }
}

/// Stamps every accepted TLS connection before its handshake ([`InFlight::handshake_began`]),
/// so a graceful shutdown that starts during a handshake still waits for the connection's
/// first request. Pingora hands the connection to the front only after the handshake, and
/// has no hook after it but this one before.
pub struct HandshakeStamp(pub InFlight);

#[async_trait]
impl PreTlsProcess for HandshakeStamp {
    async fn process(&self, _stream: &mut L4Stream) -> pingora::Result<()> {
        self.0.handshake_began();
        Ok(())
    }
}
