//! Network vocabulary shared by configuration and the relay: [`Cidr`] and the client's
//! address from plain header values. A leaf: it imports nothing from the crate.
//!
//! The client's address for the audit trail: the socket peer, unless the peer is a
//! configured trusted proxy, in which case `X-Forwarded-For` is walked from the right and the first
//! address that is not itself a trusted proxy is taken. Forwarded headers from anyone else are
//! ignored, and a malformed header from a trusted proxy yields the proxy's own address
//! (fail closed: never an address the client chose).

use std::net::IpAddr;

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`, or a single address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("\"{s}\" is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("\"{s}\": prefix must be 0..={max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client address given the socket peer, the `X-Forwarded-For` values and the trusted proxies.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&[u8]], trusted: &[Cidr]) -> IpAddr {
    let hops = forwarded_for.iter().flat_map(|v| v.split(|&b| b == b','));
    rightmost_untrusted(peer, hops, trusted)
}

/// [`client_ip`] over a request's `X-Forwarded-For` headers, without collecting them (the
/// request path calls this for every request that has to prove a credential).
pub fn of_request(peer: IpAddr, headers: &http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','));
    rightmost_untrusted(peer, hops, trusted)
}

/// Walks the hops from the right (the ones our trusted proxies appended) and takes the first
/// that is not a trusted proxy: the client as the nearest trusted proxy saw it. Whatever lies
/// left of it is the client's own claim and is never read, so a malformed entry there cannot
/// make the client look like the proxy. A malformed hop reached before any untrusted one (a
/// proxy we trust wrote garbage): the socket peer, never a guess.
fn rightmost_untrusted<'a>(
    peer: IpAddr,
    hops: impl DoubleEndedIterator<Item = &'a [u8]>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    for hop in hops.rev() {
        let parsed = std::str::from_utf8(hop)
            .ok()
            .and_then(|p| p.trim().parse::<IpAddr>().ok());
        match parsed {
            None => return peer,
            Some(ip) if !is_trusted(ip) => return ip,
            Some(_) => {}
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let c = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(c.contains(ip("10.1.2.3")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.9.9.9")), "v4-mapped");
        let one = Cidr::parse("192.0.2.7").expect("single");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::parse("2001:db8::/32").expect("v6");
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(Cidr::parse("0.0.0.0/0")
            .expect("all")
            .contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_headers_only_count_from_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("cidr")];
        // Direct client: its header is ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &[b"1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // Through our proxy: the rightmost untrusted hop is the client, not a spoofed leftmost.
        assert_eq!(
            client_ip(
                ip("10.0.0.5"),
                &[b"6.6.6.6, 198.51.100.20, 10.0.0.9"],
                &trusted
            ),
            ip("198.51.100.20")
        );
        // Garbage from a trusted proxy: fall back to the proxy, never guess.
        assert_eq!(
            client_ip(ip("10.0.0.5"), &[b"not-an-ip"], &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(client_ip(ip("10.0.0.5"), &[], &trusted), ip("10.0.0.5"));
        // A client's own malformed claim left of the hop our proxy appended is never read:
        // the client stays itself, not the proxy.
        assert_eq!(
            client_ip(ip("10.0.0.5"), &[b"x, 198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &[b"x", b"198.51.100.8, 10.0.0.9"], &trusted),
            ip("198.51.100.8")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), &[b"10.1.1.1"], &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn of_request_agrees_with_client_ip() {
        let trusted = [Cidr::parse("10.0.0.0/8").expect("cidr")];
        let cases: [(&str, &[&[u8]]); 9] = [
            ("203.0.113.9", &[b"1.2.3.4"]),
            ("10.0.0.5", &[b"6.6.6.6, 198.51.100.20, 10.0.0.9"]),
            ("10.0.0.5", &[b"6.6.6.6", b"198.51.100.21,10.0.0.9"]),
            ("10.0.0.5", &[b"not-an-ip"]),
            ("10.0.0.5", &[b"1.1.1.1, nope, 10.0.0.9"]),
            ("10.0.0.5", &[]),
            ("10.0.0.5", &[b"10.1.1.1"]),
            ("10.0.0.5", &[b"x, 198.51.100.7"]),
            ("10.0.0.5", &[b"x", b"198.51.100.8, 10.0.0.9"]),
        ];
        for (peer, xff) in cases {
            let mut h = http::HeaderMap::new();
            for v in xff {
                h.append(
                    "x-forwarded-for",
                    http::HeaderValue::from_bytes(v).expect("value"),
                );
            }
            assert_eq!(
                of_request(ip(peer), &h, &trusted),
                client_ip(ip(peer), xff, &trusted),
                "{peer} {xff:?}"
            );
        }
    }
}
