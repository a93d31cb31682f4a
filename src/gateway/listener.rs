//! The public relay's listener: Pingora's, with erpgate's buffer settings.

use pingora::listeners::{L4BufferSettings, ListenerConfig, DEFAULT_L4_WRITE_BUFFER_SIZE};

/// Bytes a plain-TCP relay connection buffers below the HTTP/1 parser: none.
///
/// Pingora puts a 64 KiB read buffer under every accepted connection by default, meant for a
/// TLS library's small reads. On plain TCP the head is read by `gateway::front` into a
/// buffer of its own (4 KiB at a time) and the body by Pingora up to its remaining length, so
/// a request that arrives within 4 KiB (every measured GET) makes the same system calls
/// either way (`benches/load/syscalls.sh`: 2 `recvfrom` per request); a larger head, or a
/// head and body over 4 KiB, takes one more read. What the buffer costs is memory: with 1,000
/// keep-alive clients the gateway held ≈ 150 MiB from the second burst on, ≈ 90 MiB without
/// it (`benches/load/memory.sh`, BENCHMARKS.md section 8). A TLS listener keeps Pingora's
/// default (its buffer is set before the handshake; rustls reads 4 KiB at a time).
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
