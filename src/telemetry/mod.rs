//! Distributed tracing: the W3C trace context of each request ([`TraceContext`]) and the
//! optional export of a span per request over OTLP ([`otlp`]).
//!
//! A request's trace id is its parent's when a client in `gateway.traceparent_trusted_clients`
//! sent a valid `traceparent`; otherwise it is the gateway's request id (a second and 96 random
//! bits: the trace id *is* the request id without its dash, so a trace and an audit record find
//! each other). Its span id is the request id's second half, which is all random. Oracle receives
//! `traceparent: 00-<trace id>-<span id>-<flags>`, so Oracle-side spans hang under the
//! gateway's. A `traceparent` from anyone else is dropped like any header not on the
//! allowlist: an untrusted client cannot choose the trace its requests are filed under.

pub mod otlp;

/// The most bytes of `tracestate` passed on (W3C: 32 members of at most 256 bytes; a
/// longer one is dropped whole rather than cut).
const MAX_TRACESTATE: usize = 512;

/// A request's place in a distributed trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace (16 bytes, never all zero).
    pub trace_id: [u8; 16],
    /// This request's span in it (8 bytes, never all zero).
    pub span_id: [u8; 8],
    /// The caller's span, when a trusted caller sent one.
    pub parent: Option<[u8; 8]>,
    /// The trace flags passed on (bit 0: sampled).
    pub flags: u8,
    /// A trusted caller's `tracestate`, passed on unchanged.
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of a request with id `request_id` (`<16 hex>-<16 hex>`): its parent's
    /// trace when `incoming` (the `traceparent` and `tracestate` values of a trusted client)
    /// parses, else a trace of its own. `sampled` sets the flag of a trace the gateway starts.
    pub fn for_request(
        request_id: &str,
        incoming: Option<(&[u8], Option<&[u8]>)>,
        sampled: bool,
    ) -> Option<TraceContext> {
        let (first, second) = request_id.split_once('-')?;
        let span_id: [u8; 8] = hex_array(second.as_bytes())?;
        let own: [u8; 16] = {
            let mut t = [0u8; 16];
            t[..8].copy_from_slice(&hex_array::<8>(first.as_bytes())?);
            t[8..].copy_from_slice(&span_id);
            t
        };
        if span_id == [0; 8] || own == [0; 16] {
            return None;
        }
        if let Some((trace_id, parent, flags)) = incoming.and_then(|(tp, _)| parse(tp)) {
            let tracestate = incoming
                .and_then(|(_, ts)| ts)
                .filter(|ts| ts.len() <= MAX_TRACESTATE)
                .and_then(|ts| std::str::from_utf8(ts).ok())
                .filter(|ts| ts.bytes().all(|b| (0x20..0x7f).contains(&b)))
                .map(str::to_string);
            return Some(TraceContext {
                trace_id,
                span_id,
                parent: Some(parent),
                flags,
                tracestate,
            });
        }
        Some(TraceContext {
            trace_id: own,
            span_id,
            parent: None,
            flags: u8::from(sampled),
            tracestate: None,
        })
    }

    /// The `traceparent` value Oracle receives: this request's span as the parent.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }
}

/// Parses a version-00 `traceparent` (W3C Trace Context, level 1): `00-` 32 lower-case hex
/// trace id `-` 16 lower-case hex parent id `-` 2 hex flags, neither id all zeros. Anything
/// else (another version, upper case, extra bytes) is refused: the gateway starts its own trace.
pub fn parse(value: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    if value.len() != 55 || &value[..3] != b"00-" || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace: [u8; 16] = hex_array(&value[3..35])?;
    let parent: [u8; 8] = hex_array(&value[36..52])?;
    let flags: [u8; 1] = hex_array(&value[53..55])?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags[0]))
}

/// Lower-case hex of exactly `N` bytes.
fn hex_array<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RID: &str = "9f3a01c2d4e5f607-1b2c3d4e5f607182";
    const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_trusted_parent_is_continued_and_passed_on() {
        let t =
            TraceContext::for_request(RID, Some((TP, Some(b"vendor=x"))), false).expect("context");
        assert_eq!(hex::encode(t.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            t.parent.map(hex::encode).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(
            t.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-1b2c3d4e5f607182-01"
        );
        assert_eq!(t.tracestate.as_deref(), Some("vendor=x"));
    }

    #[test]
    fn without_a_valid_parent_the_trace_is_the_request_id() {
        for bad in [
            &b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            b"",
        ] {
            let t = TraceContext::for_request(RID, Some((bad, None)), true).expect("context");
            assert_eq!(
                hex::encode(t.trace_id),
                "9f3a01c2d4e5f6071b2c3d4e5f607182",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(t.parent, None);
            assert_eq!(t.flags, 1);
        }
        let unsampled = TraceContext::for_request(RID, None, false).expect("context");
        assert!(unsampled.traceparent().ends_with("-00"));
    }

    #[test]
    fn a_request_id_without_random_bits_starts_no_trace() {
        // The ids made while the OS random source fails: the second, a counter, zeros.
        assert!(
            TraceContext::for_request("6b143fd800000001-0000000000000000", None, true).is_none()
        );
        assert!(
            TraceContext::for_request("6b143fd800000001-0000000000000001", None, true).is_some()
        );
    }

    #[test]
    fn an_oversized_or_binary_tracestate_is_dropped() {
        let long = vec![b'a'; MAX_TRACESTATE + 1];
        let t = TraceContext::for_request(RID, Some((TP, Some(&long))), false).expect("ctx");
        assert_eq!(t.tracestate, None);
        let t = TraceContext::for_request(RID, Some((TP, Some(b"a=\x01"))), false).expect("c");
        assert_eq!(t.tracestate, None);
    }
}
