//! Upstream peer selection and the host lock.
//!
//! Tenant upstream hosts are resolved off the request path (at start, at reload and every
//! `REFRESH` by a background thread) and every resolved address is checked: loopback,
//! private, link-local, CGNAT, unspecified, multicast and documentation ranges are refused
//! unless `gateway.dangerous_allow_insecure_upstream` is set. Checking the *resolved*
//! addresses (not just the configured name) closes DNS-rebinding tricks that point a public
//! name at an internal address. The request path only reads the resolved table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

/// How often resolved addresses are refreshed.
pub const REFRESH: Duration = Duration::from_secs(30);

/// Why an upstream host could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// DNS gave no answer.
    #[error("upstream {0}: cannot resolve: {1}")]
    Lookup(String, String),
    /// DNS answered with no usable address.
    #[error("upstream {0}: resolves only to refused addresses ({1}); loopback, private and link-local targets need gateway.dangerous_allow_insecure_upstream")]
    Refused(String, String),
}

/// Whether `ip` is a public, routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b))
        }
    }
}

/// Resolves `host:port` (blocking) and keeps only addresses we may connect to.
pub fn resolve(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ResolveError::Lookup(format!("{host}:{port}"), e.to_string()))?
        .collect();
    let ok: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| allow_private || is_public(a.ip()))
        .collect();
    if ok.is_empty() {
        let seen: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
        return Err(ResolveError::Refused(
            format!("{host}:{port}"),
            seen.join(", "),
        ));
    }
    Ok(ok)
}

/// The key under which an upstream's addresses are kept.
pub fn key(host: &str, port: u16) -> String {
    format!("{host}:{port}")
}

/// The resolved-address table shared with the request path.
#[derive(Default)]
pub struct Resolved {
    table: ArcSwap<HashMap<String, Arc<[SocketAddr]>>>,
    rr: AtomicUsize,
}

impl Resolved {
    /// Resolves every `(host, port)` and replaces the table. Targets that fail keep their
    /// previous addresses if they had any; the errors are returned for the caller to report.
    pub fn refresh(&self, targets: &[(String, u16)], allow_private: bool) -> Vec<ResolveError> {
        let old = self.table.load();
        let mut next = HashMap::with_capacity(targets.len());
        let mut errors = Vec::new();
        for (host, port) in targets {
            let k = key(host, *port);
            match resolve(host, *port, allow_private) {
                Ok(addrs) => {
                    next.insert(k, Arc::from(addrs));
                }
                Err(e) => {
                    if let Some(prev) = old.get(&k) {
                        next.insert(k, prev.clone());
                    }
                    errors.push(e);
                }
            }
        }
        self.table.store(Arc::new(next));
        errors
    }

    /// One address for `key`, rotating over the resolved set.
    pub fn pick(&self, key: &str) -> Option<SocketAddr> {
        let table = self.table.load();
        let addrs = table.get(key)?;
        if addrs.is_empty() {
            return None;
        }
        let i = self.rr.fetch_add(1, Ordering::Relaxed) % addrs.len();
        addrs.get(i).copied()
    }
}

/// Runs `refresh` every [`REFRESH`] on a background thread until `stop` is set.
pub fn spawn_refresher(
    resolved: Arc<Resolved>,
    targets: impl Fn() -> (Vec<(String, u16)>, bool) + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("erpgate-resolver".into())
        .spawn(move || {
            let step = Duration::from_millis(200);
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                waited += step;
                if waited < REFRESH {
                    continue;
                }
                waited = Duration::ZERO;
                let (t, allow) = targets();
                for e in resolved.refresh(&t, allow) {
                    tracing::warn!(error = %e, "upstream address refresh failed; keeping previous addresses");
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "198.18.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(!is_public(ip), "{ip} must not be public");
        }
        for ip in ["140.238.1.1", "8.8.8.8", "2606:4700::1111"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[test]
    fn loopback_needs_the_dangerous_flag() {
        assert!(matches!(
            resolve("127.0.0.1", 443, false),
            Err(ResolveError::Refused(..))
        ));
        let ok = resolve("127.0.0.1", 443, true).expect("allowed");
        assert_eq!(ok[0].port(), 443);
    }

    #[test]
    fn refresh_keeps_previous_on_failure_and_picks_round_robin() {
        let r = Resolved::default();
        let t = vec![("127.0.0.1".to_string(), 8080u16)];
        assert!(r.refresh(&t, true).is_empty());
        assert_eq!(r.pick("127.0.0.1:8080").map(|a| a.port()), Some(8080));
        // Now refused: the previous addresses stay.
        assert_eq!(r.refresh(&t, false).len(), 1);
        assert!(r.pick("127.0.0.1:8080").is_some());
        assert!(r.pick("nope:1").is_none());
    }
}
