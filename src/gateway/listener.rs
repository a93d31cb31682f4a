//! The public relay's listeners (plain TCP and TLS): Pingora's, with erpgate's buffer settings.

use async_trait::async_trait;
use pingora::listeners::{
    L4BufferSettings, ListenerConfig, PreTlsProcess, DEFAULT_L4_WRITE_BUFFER_SIZE,
};
use pingora::protocols::l4::stream::Stream as L4Stream;

use super::front::InFlight;

/// Bytes a plain-TCP relay connection buffers below the HTTP/1 parser: none.
///
/// Pingora puts a 64 KiB read buffer under every accepted connection by default, meant for a
/// TLS library's small reads. On plain TCP the head is read by `gateway::front` into a
/// buffer of its own (4 KiB at a time) and the body by Pingora up to its remaining length, so
/// a request that arrives within 4 KiB (every measured GET) makes the same system calls
/// either way (`benches/load/syscalls.sh`: 2 `recvfrom` per request); a larger head, or a
/// head and body over 4 KiB, takes one more read. What the buffer costs is memory: with 1,000
/// keep-alive clients the gateway held ≈ 150 MiB from the second burst on, ≈ 90 MiB without
/// it (`benches/load/memory.sh`, BENCHMARKS.md section 8).
pub const RELAY_TCP_READ_BUFFER: usize = 0;

/// The public relay's plain-TCP listener on `addr`: Pingora's, without the read buffer
/// ([`RELAY_TCP_READ_BUFFER`]); the write buffer stays Pingora's (one MSS, flushed per
/// response).
pub fn relay_tcp(addr: &str) -> ListenerConfig {
    ListenerConfig::tcp(addr).l4_buffer(L4BufferSettings::new(
        RELAY_TCP_READ_BUFFER,
        DEFAULT_L4_WRITE_BUFFER_SIZE,
    ))
}

/// Bytes a TLS relay connection buffers below rustls: none either.
///
/// The buffer would sit under the TLS layer (the handshake and every record are read through
/// it). Measured the same way as on plain TCP, with the clients speaking TLS 1.3
/// (`benches/load/memory.sh --tls`, `benches/load/syscalls.sh --tls`): with Pingora's 64 KiB,
/// 1,000 keep-alive TLS clients held ≈ 109 MiB in the first burst and ≈ 162 MiB from the
/// second on; without it ≈ 99–102 MiB in both (two runs). The item and the 10-supplier
/// collection make the same system calls either way (2 and 3 `recvfrom` per request); a
/// ≈ 6 KiB head takes one more read (3 instead of 2), as on plain TCP.
pub const RELAY_TLS_READ_BUFFER: usize = 0;

/// The public relay's TLS listener on `addr` with `settings` (`gateway::tls`): Pingora's,
/// without the read buffer ([`RELAY_TLS_READ_BUFFER`]).
pub fn relay_tls(addr: &str, settings: pingora::listeners::tls::TlsSettings) -> ListenerConfig {
    ListenerConfig::tcp(addr)
        .tls(settings)
        .l4_buffer(L4BufferSettings::new(
            RELAY_TLS_READ_BUFFER,
            DEFAULT_L4_WRITE_BUFFER_SIZE,
        ))
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
