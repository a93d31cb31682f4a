//! The upstream side of a tenant, as compiled from the configuration: where its Oracle is
//! ([`Upstream`]), how the gateway authenticates to it ([`UpstreamAuth`]), and the borrowed
//! view of both that credential injection works on ([`Target`]).

use http::HeaderName;

/// A tenant's upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The upstream host name (also the TLS server name).
    pub host: String,
    /// The upstream port.
    pub port: u16,
    /// TLS on.
    pub tls: bool,
    /// `Host` header value.
    pub host_header: String,
    /// TLS server name.
    pub sni: String,
}

/// How the gateway authenticates to a tenant's Oracle.
#[derive(Debug, Clone)]
pub enum UpstreamAuth {
    /// Basic with a stored password.
    Basic {
        /// Default Oracle user.
        username: String,
        /// Stored secret name.
        secret: String,
    },
    /// A JWT assertion signed with the tenant key (`Authorization: Bearer`).
    Jwt {
        /// Trusted-issuer name (`iss`).
        issuer: String,
        /// Default Oracle user for accounts without one.
        username: Option<String>,
        /// `aud`, when configured.
        audience: Option<String>,
        /// Lifetime in seconds.
        lifetime: i64,
    },
    /// A bearer token fetched from Oracle's token endpoint with a stored password.
    Token {
        /// Default Oracle user.
        username: String,
        /// Stored secret name.
        secret: String,
        /// Token endpoint path.
        token_path: String,
    },
    /// A stored API key in a header.
    ApiKey {
        /// Header name.
        header: HeaderName,
        /// Stored secret name.
        secret: String,
    },
}

/// The upstream side of one tenant: its name (part of every seal context), its upstream and
/// how the gateway authenticates there. Borrowed from the snapshot's `Tenant`.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The tenant's name.
    pub tenant: &'a str,
    /// Where its Oracle is.
    pub upstream: &'a Upstream,
    /// How the gateway authenticates there.
    pub auth: &'a UpstreamAuth,
    /// The PKCS#11 module and PIN its signing key may be held with.
    pub hsm: Option<&'a crate::crypto::pkcs11::TokenAccess>,
}
