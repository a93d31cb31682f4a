//! Parsing and vetting tenant upstream URLs: `https://host[:port]`, nothing else.
//!
//! Unless `gateway.dangerous_allow_insecure_upstream` is set, the scheme must be https and the
//! host must be a public DNS name or a public IP literal: `localhost`, private/loopback/
//! link-local literals and every "encoded IP" trick (`2130706433`, `0x7f.1`, `0177.0.0.1`,
//! `127.1`) are refused, because URL parsers disagree about them and each has been used to
//! reach internal services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::upstream::peer::is_public;

/// A vetted upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUpstream {
    /// Host (lowercase DNS name or IP literal without brackets).
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// Value for the `Host` header.
    pub host_header: String,
}

fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Whether a name would be read as an IPv4 address by some URL parser (WHATWG: a last label
/// that is numeric, hex `0x…`, or the whole name numeric).
fn looks_numeric(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or("");
    let numeric = |l: &str| {
        !l.is_empty()
            && (l.bytes().all(|b| b.is_ascii_digit())
                || (l.len() > 2
                    && (l.starts_with("0x") || l.starts_with("0X"))
                    && l[2..].bytes().all(|b| b.is_ascii_hexdigit())))
    };
    numeric(last) || last.eq_ignore_ascii_case("0x")
}

/// Parses and vets `url`. Errors are complete sentences for the config error list.
pub fn parse(url: &str, allow_insecure: bool) -> Result<ParsedUpstream, String> {
    let (tls, rest) = split_scheme(url, allow_insecure)?;
    let authority = checked_authority(url, rest)?;
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = split_host_port(url, authority, default_port)?;
    let host = host.to_ascii_lowercase();
    let ip: Option<IpAddr> = host
        .parse::<Ipv4Addr>()
        .ok()
        .map(IpAddr::V4)
        .or_else(|| host.parse::<Ipv6Addr>().ok().map(IpAddr::V6));
    if !allow_insecure {
        refuse_internal(url, &host, ip)?;
    }
    if ip.is_none() && !is_dns_name(&host) {
        return Err(format!("\"{url}\": \"{host}\" is not a valid host name"));
    }
    let host_header = host_header(&host, ip, port, default_port);
    Ok(ParsedUpstream {
        host,
        port,
        tls,
        host_header,
    })
}

/// The scheme of `url` (whether it is TLS) and what follows `scheme://`.
fn split_scheme(url: &str, allow_insecure: bool) -> Result<(bool, &str), String> {
    if let Some(r) = url.strip_prefix("https://") {
        Ok((true, r))
    } else if let Some(r) = url.strip_prefix("http://") {
        if !allow_insecure {
            return Err(format!("\"{url}\" must be https:// (plain http only with gateway.dangerous_allow_insecure_upstream, for tests)"));
        }
        Ok((false, r))
    } else {
        Err(format!("\"{url}\" must start with https://"))
    }
}

/// The authority (`host[:port]`) of `rest`, refused if empty or if it carries a path, query,
/// userinfo, escape or control character.
fn checked_authority<'a>(url: &str, rest: &'a str) -> Result<&'a str, String> {
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(format!("\"{url}\" has no host"));
    }
    if authority.contains(['/', '?', '#', '@', '\\', '%'])
        || authority.bytes().any(|b| b <= 0x20 || b >= 0x7f)
    {
        return Err(format!(
            "\"{url}\" must be scheme://host[:port] only: no path, query, userinfo or escapes"
        ));
    }
    Ok(authority)
}

/// The host (IPv6 literal without brackets) and port of `authority`.
fn split_host_port(url: &str, authority: &str, default_port: u16) -> Result<(String, u16), String> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("\"{url}\": unterminated IPv6 literal"))?;
        let port = match after {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("\"{url}\": invalid port"))?,
        };
        Ok((h.to_string(), port))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => Ok((
                h.to_string(),
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("\"{url}\": invalid port \"{p}\""))?,
            )),
            None => Ok((authority.to_string(), default_port)),
        }
    }
}

/// Refuses a non-public IP literal, `localhost` and names some parser would read as an IP.
fn refuse_internal(url: &str, host: &str, ip: Option<IpAddr>) -> Result<(), String> {
    match ip {
        Some(ip) if !is_public(ip) => {
            Err(format!("\"{url}\": {ip} is a loopback, private or reserved address (allowed only with gateway.dangerous_allow_insecure_upstream)"))
        }
        Some(_) => Ok(()),
        None => {
            if host == "localhost" || host.ends_with(".localhost") {
                return Err(format!(
                    "\"{url}\": localhost is not allowed as an upstream"
                ));
            }
            if looks_numeric(host) {
                return Err(format!("\"{url}\": \"{host}\" looks like an encoded IP address; write a DNS name or a plain dotted address"));
            }
            Ok(())
        }
    }
}

/// The `Host` header value: IPv6 in brackets, the port only when not the default.
fn host_header(host: &str, ip: Option<IpAddr>, port: u16, default_port: u16) -> String {
    let bracketed = match ip {
        Some(IpAddr::V6(_)) => format!("[{host}]"),
        _ => host.to_string(),
    };
    if port == default_port {
        bracketed
    } else {
        format!("{bracketed}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_oracle_hosts() {
        let p = parse("https://acme.fa.us2.oraclecloud.com", false).expect("ok");
        assert_eq!(
            (p.host.as_str(), p.port, p.tls),
            ("acme.fa.us2.oraclecloud.com", 443, true)
        );
        assert_eq!(p.host_header, "acme.fa.us2.oraclecloud.com");
        let p = parse("https://ACME.example.com:8443/", false).expect("ok");
        assert_eq!((p.host.as_str(), p.port), ("acme.example.com", 8443));
        assert_eq!(p.host_header, "acme.example.com:8443");
        assert!(parse("https://140.238.1.1", false).is_ok());
    }

    #[test]
    fn refuses_insecure_and_ambiguous_targets() {
        for bad in [
            "http://acme.example.com",
            "ftp://acme.example.com",
            "acme.example.com",
            "https://",
            "https://acme.example.com/fscmRestApi",
            "https://user:pw@acme.example.com",
            "https://acme.example.com?x",
            "https://127.0.0.1",
            "https://10.0.0.5",
            "https://169.254.169.254",
            "https://[::1]",
            "https://[::ffff:127.0.0.1]",
            "https://localhost",
            "https://api.localhost",
            "https://2130706433",
            "https://0x7f000001",
            "https://0x7f.1",
            "https://0177.0.0.1",
            "https://127.1",
            "https://acme.example.com:0",
            "https://acme.example.com:99999",
            "https://acme..example.com",
            "https://-acme.example.com",
            "https://acme%2eexample.com",
        ] {
            assert!(parse(bad, false).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn dangerous_flag_allows_loopback_http() {
        let p = parse("http://127.0.0.1:8080", true).expect("ok");
        assert_eq!((p.host.as_str(), p.port, p.tls), ("127.0.0.1", 8080, false));
        assert_eq!(p.host_header, "127.0.0.1:8080");
        assert!(parse("https://localhost:8443", true).is_ok());
        assert!(
            parse("https://acme.example.com/path", true).is_err(),
            "shape rules still apply"
        );
    }
}
