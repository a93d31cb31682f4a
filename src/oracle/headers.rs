//! Request headers Oracle acts on, and the allowlist of those that reach it.
//!
//! Only headers named here, in `gateway.allow_request_headers` or in the endpoint's
//! `request_headers` reach Oracle; every other header is dropped. Three families are more
//! than dropped:
//! - the method-override headers make a front end treat a POST as another method: a request
//!   carrying one is refused (`request.method_override`), whatever it is granted;
//! - the governed headers change what Oracle does with a granted method (`Upsert-Mode`
//!   turns a create into an update of an existing record, `Effective-Of` picks the
//!   date-effective rows a write touches, `Metadata-Context` the sandbox or flex context): a
//!   request carrying one needs a policy rule that grants it (`headers = [...]`) for that
//!   endpoint and method, or it is refused (`policy.header_denied`);
//! - headers that carry credentials, hop-by-hop state or a client-chosen address or URL can
//!   never be allowed by configuration ([`never_allowed`]).

/// Headers that ask for another method than the request line's.
pub const METHOD_OVERRIDE: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Headers that reach Oracle without being configured: content negotiation, framing of the
/// body, conditional requests and the framework version.
pub const DEFAULT_ALLOWED: [&str; 15] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "content-encoding",
    "content-language",
    "content-length",
    "content-type",
    "expect",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "range",
];

/// `REST-Framework-Version`: allowed by default as well (it selects the `q` syntax and the
/// response shape, both of which the gateway reads in every version).
pub const FRAMEWORK_VERSION: &str = "rest-framework-version";

/// A header that changes what Oracle does with a granted method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Governed {
    /// `Upsert-Mode`: a POST updates the record it names if one exists.
    UpsertMode,
    /// `Effective-Of`: which date-effective rows a request reads or writes.
    EffectiveOf,
    /// `Metadata-Context`: which sandbox or flexfield context applies.
    MetadataContext,
}

impl Governed {
    /// Every governed header.
    pub const ALL: [Governed; 3] = [
        Governed::UpsertMode,
        Governed::EffectiveOf,
        Governed::MetadataContext,
    ];

    /// Its name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            Governed::UpsertMode => "upsert-mode",
            Governed::EffectiveOf => "effective-of",
            Governed::MetadataContext => "metadata-context",
        }
    }

    /// Its bit in a [`GovernedSet`].
    pub fn bit(self) -> u8 {
        match self {
            Governed::UpsertMode => 1,
            Governed::EffectiveOf => 2,
            Governed::MetadataContext => 4,
        }
    }

    /// The governed header named `name` (any case).
    pub fn of(name: &str) -> Option<Governed> {
        Governed::ALL
            .into_iter()
            .find(|g| g.name().eq_ignore_ascii_case(name))
    }
}

/// A set of governed headers, one bit each.
pub type GovernedSet = u8;

/// The method-override header among `names`, if any.
pub fn method_override<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names.find(|n| METHOD_OVERRIDE.iter().any(|m| m.eq_ignore_ascii_case(n)))
}

/// The governed headers among `names`.
pub fn governed<'a>(names: impl Iterator<Item = &'a str>) -> GovernedSet {
    names
        .filter_map(Governed::of)
        .fold(0, |set, g| set | g.bit())
}

/// Whether `name` (lower case) reaches Oracle without configuration.
pub fn allowed_by_default(name: &str) -> bool {
    name == FRAMEWORK_VERSION || DEFAULT_ALLOWED.contains(&name)
}

/// Why configuration may never allow `name` (lower case), if it may not. `_` counts as
/// `-`: some front ends (CGI-style header maps) read `Upsert_Mode` as `Upsert-Mode`.
pub fn never_allowed(name: &str) -> Option<&'static str> {
    let dashed = name.replace('_', "-");
    let name = dashed.as_str();
    const CREDENTIALS: [&str; 5] = [
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "cookie2",
    ];
    const HOP_BY_HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "http2-settings",
    ];
    const ADDRESSES: [&str; 12] = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-original-host",
        "origin",
    ];
    if CREDENTIALS.contains(&name) {
        Some("it carries a client credential")
    } else if HOP_BY_HOP.contains(&name) {
        Some("it is hop-by-hop")
    } else if ADDRESSES.contains(&name) {
        Some("it carries a client-chosen address, host or URL")
    } else if METHOD_OVERRIDE.contains(&name) {
        Some("it overrides the request method")
    } else if ["traceparent", "tracestate"].contains(&name) {
        Some("it is the trace context: the gateway sets it (gateway.traceparent_trusted_clients)")
    } else if Governed::of(name).is_some() {
        Some("it is governed: grant it in a policy rule (`headers = [...]`)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(
            method_override(["accept", "X-HTTP-Method-Override"].into_iter()),
            Some("X-HTTP-Method-Override")
        );
        assert_eq!(
            method_override(["accept", "x-http-methods"].into_iter()),
            None
        );
        assert_eq!(
            governed(["Upsert-Mode", "accept", "METADATA-CONTEXT"].into_iter()),
            Governed::UpsertMode.bit() | Governed::MetadataContext.bit()
        );
        assert!(allowed_by_default("rest-framework-version"));
        assert!(allowed_by_default("if-match"));
        assert!(!allowed_by_default("x-original-url"));
        assert!(!allowed_by_default("upsert-mode"));
        for n in [
            "cookie",
            "te",
            "x-original-url",
            "x-http-method",
            "effective-of",
            "upsert_mode",
            "x_http_method_override",
            "x_forwarded_for",
        ] {
            assert!(never_allowed(n).is_some(), "{n}");
        }
        assert!(never_allowed("x-correlation-id").is_none());
    }
}
