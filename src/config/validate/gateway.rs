//! Validating the `[gateway]` section (main file only) into [`GatewaySettings`].

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::super::model::GatewayFile;
use super::super::Files;
use super::{redaction, resolve, tls};
use crate::audit::writer::DEFAULT_LINGER_MS as DEFAULT_AUDIT_LINGER_MS;
use crate::snapshot::GatewaySettings;

/// The default floor under every prune of the audit trail, in days.
pub const DEFAULT_AUDIT_MIN_RETENTION_DAYS: u32 = 30;

/// The `[gateway]` keys of `file` being read, and the problems found so far.
struct Keys<'a> {
    file: &'a str,
    p: &'a mut Vec<String>,
}

impl Keys<'_> {
    /// `value`, or `default` when absent; a problem "`{v} is {wording} {lo}..={hi}`" when it
    /// is not within `lo..=hi`.
    fn bounded<T: PartialOrd + Display + Copy>(
        &mut self,
        key: &str,
        value: Option<T>,
        (default, lo, hi): (T, T, T),
        wording: &str,
    ) -> T {
        let v = value.unwrap_or(default);
        if !(lo..=hi).contains(&v) {
            self.p.push(format!(
                "{}: gateway.{key}: {v} is {wording} {lo}..={hi}",
                self.file
            ));
        }
        v
    }

    /// [`Keys::bounded`], worded "out of range".
    fn range<T: PartialOrd + Display + Copy>(
        &mut self,
        key: &str,
        value: Option<T>,
        limits: (T, T, T),
    ) -> T {
        self.bounded(key, value, limits, "out of range")
    }

    /// [`Keys::bounded`], worded "outside".
    fn outside<T: PartialOrd + Display + Copy>(
        &mut self,
        key: &str,
        value: Option<T>,
        limits: (T, T, T),
    ) -> T {
        self.bounded(key, value, limits, "outside")
    }

    /// A duration in milliseconds, [`Keys::range`]-checked.
    fn ms(&mut self, key: &str, value: Option<u64>, limits: (u64, u64, u64)) -> Duration {
        Duration::from_millis(self.range(key, value, limits))
    }

    /// `value`, or `default` when absent; a problem "`{v} is over {max}`" above `max`.
    fn at_most<T: PartialOrd + Display + Copy>(
        &mut self,
        key: &str,
        value: Option<T>,
        default: T,
        max: T,
    ) -> T {
        let v = value.unwrap_or(default);
        if v > max {
            self.p
                .push(format!("{}: gateway.{key}: {v} is over {max}", self.file));
        }
        v
    }
}

pub(super) fn gateway(files: &Files, p: &mut Vec<String>) -> Option<GatewaySettings> {
    let main = files.files.first()?;
    let file = &main.name;
    let Some(g) = main.model.gateway.as_ref() else {
        p.push(format!("{file}: [gateway] section is missing"));
        return None;
    };
    let listen: Option<SocketAddr> = g.listen.parse().ok();
    if listen.is_none() {
        p.push(format!(
            "{file}: gateway.listen: \"{}\" is not a socket address like 127.0.0.1:8080",
            g.listen
        ));
    }
    let mut k = Keys { file, p };
    let limits = limits(&mut k, g);
    let database = crate::store::Database::parse(
        &g.database,
        &files.base,
        g.database_password_file.as_deref(),
        g.database_ca_file.as_deref(),
    )
    .unwrap_or_else(|e| {
        k.p.push(format!("{file}: {e}"));
        crate::store::Database::Sqlite(resolve(&files.base, &g.database))
    });
    let node_id = node_id(g.node_id.as_deref(), &database, file, k.p);
    if let Some(f) = g
        .log_format
        .as_deref()
        .filter(|f| !["text", "json"].contains(f))
    {
        k.p.push(format!(
            "{file}: gateway.log_format: \"{f}\" is not a log format: \"text\" or \"json\""
        ));
    }
    let upgrade_socket = upgrade_socket(files, g, &database, file, k.p);
    let upgrade_wait = k.range("upgrade_wait_seconds", g.upgrade_wait_seconds, (30, 1, 600));
    let audit = audit(&mut k, g);
    let grace = k.at_most("shutdown_grace_seconds", g.shutdown_grace_seconds, 10, 600);
    let preview = k.at_most("audit_preview_bytes", g.audit_preview_bytes, 0, 4096);
    let trusted = cidrs("trusted_proxies", g.trusted_proxies.as_deref(), k.file, k.p);
    let trace_trusted = cidrs(
        "traceparent_trusted_clients",
        g.traceparent_trusted_clients.as_deref(),
        k.file,
        k.p,
    );
    let otlp = otlp(g, k.file, k.p);
    let (metrics_listen, admin_listen) = side_listeners(g, listen, k.file, k.p);
    let portal = portal(&mut k, g, admin_listen, &files.base);
    let token_ttl = k.outside("token_ttl_seconds", g.token_ttl_seconds, (900, 60, 86_400));
    let max_failures = k.outside("token_max_failures", g.token_max_failures, (5, 1, 100));
    let lockout = k.outside(
        "token_lockout_seconds",
        g.token_lockout_seconds,
        (300, 1, 86_400),
    );
    let allow_response_headers =
        redaction::allow_headers(file, g.allow_response_headers.as_deref(), p);
    let allow_request_headers = super::oracle::request_headers(
        file,
        "gateway.allow_request_headers",
        g.allow_request_headers.as_deref().unwrap_or_default(),
        p,
    );
    Some(GatewaySettings {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        database,
        app_key_file: g.app_key_file.as_deref().map(|f| resolve(&files.base, f)),
        threads: limits.threads,
        max_uri_length: limits.max_uri,
        max_request_body_bytes: g.max_request_body_bytes.unwrap_or(10 * 1024 * 1024),
        max_header_count: limits.max_header_count,
        max_header_bytes: limits.max_header_bytes,
        upstream_connect_timeout: limits.connect,
        upstream_read_timeout: limits.read,
        dangerous_allow_insecure_upstream: g.dangerous_allow_insecure_upstream.unwrap_or(false),
        store_poll_interval: audit.poll,
        store_staleness: audit.staleness,
        node_id,
        otlp,
        traceparent_trusted_clients: trace_trusted,
        access_log: g.access_log.unwrap_or(false),
        upstream_request_id_header: request_id_header(
            file,
            g.upstream_request_id_header.as_deref(),
            p,
        ),
        audit_queue_capacity: audit.queue,
        audit_linger: audit.linger,
        audit_retention_days: g.audit_retention_days,
        audit_min_retention_days: audit.min_retention,
        shutdown_grace: Duration::from_secs(grace),
        trusted_proxies: trusted,
        audit_preview_bytes: preview,
        public_base_url: redaction::public_base(file, g.public_base_url.as_deref(), p),
        redaction_mask: redaction::mask_text(file, g.redaction_mask.as_deref(), p),
        metrics_listen,
        admin_listen,
        portal,
        client_timeout: limits.client_timeout,
        client_idle_timeout_seconds: limits.client_idle,
        upgrade_socket,
        upgrade_wait_seconds: upgrade_wait,
        strip_response_headers: redaction::strip_headers(
            file,
            g.strip_response_headers.as_deref(),
            &allow_response_headers,
            p,
        ),
        allow_response_headers,
        allow_request_headers,
        tls: tls::downstream(file, &files.base, g.tls.as_ref(), p),
        upstream_ca_file: tls::upstream_ca(file, &files.base, g.upstream_ca_file.as_deref(), p),
        token_ttl_seconds: token_ttl as i64,
        token_lockout: crate::auth::lockout::LockoutSettings {
            max_failures,
            lock_for: Duration::from_secs(lockout),
            window: Duration::from_secs(lockout.max(900)),
        },
    })
}

/// Threads, request-size limits and timeouts.
struct Limits {
    threads: usize,
    max_uri: usize,
    max_header_count: usize,
    max_header_bytes: usize,
    connect: Duration,
    read: Duration,
    client_timeout: Duration,
    client_idle: u64,
}

fn limits(k: &mut Keys<'_>, g: &GatewayFile) -> Limits {
    let file = k.file;
    let threads = k.range("threads", g.threads, (2, 1, 64));
    let max_uri = g.max_uri_length.unwrap_or(8192);
    // 65534: the longest target the HTTP library under Pingora can hold (`http::Uri`).
    if !(256..=crate::path::MAX_TARGET).contains(&max_uri) {
        k.p.push(format!(
            "{file}: gateway.max_uri_length: {max_uri} is out of range 256..=65534 (65534 is the longest request target the HTTP stack can carry)"
        ));
    }
    let max_header_count = k.range("max_header_count", g.max_header_count, (100, 8, 256));
    let max_header_bytes = k.range(
        "max_header_bytes",
        g.max_header_bytes,
        (32 * 1024, 1024, 1_048_575),
    );
    let connect = k.ms(
        "upstream_connect_timeout_ms",
        g.upstream_connect_timeout_ms,
        (3000, 100, 60_000),
    );
    let read = k.ms(
        "upstream_read_timeout_ms",
        g.upstream_read_timeout_ms,
        (60_000, 100, 600_000),
    );
    let client_timeout = k.ms(
        "client_timeout_ms",
        g.client_timeout_ms,
        (10_000, 100, 300_000),
    );
    let client_idle = k.range(
        "client_idle_timeout_seconds",
        g.client_idle_timeout_seconds,
        (60, 1, 3600),
    );
    Limits {
        threads,
        max_uri,
        max_header_count,
        max_header_bytes,
        connect,
        read,
        client_timeout,
        client_idle,
    }
}

/// `gateway.upgrade_socket`: resolved, by default next to the database; a problem when it is
/// too long for a Unix socket path.
fn upgrade_socket(
    files: &Files,
    g: &GatewayFile,
    database: &crate::store::Database,
    file: &str,
    p: &mut Vec<String>,
) -> PathBuf {
    let upgrade_socket = match g.upgrade_socket.as_deref() {
        Some(s) => resolve(&files.base, s),
        None => database
            .sqlite_path()
            .and_then(std::path::Path::parent)
            .map_or_else(
                || files.base.join("erpgate-upgrade.sock"),
                |d| d.join("erpgate-upgrade.sock"),
            ),
    };
    if upgrade_socket.as_os_str().len() > 100 {
        p.push(format!(
            "{file}: gateway.upgrade_socket: \"{}\" is longer than a Unix socket path may be (100 bytes); set a shorter one",
            upgrade_socket.display()
        ));
    }
    upgrade_socket
}

/// The store poll and audit settings.
/// `gateway.upstream_request_id_header`: absent → `X-Request-Id`; `""` → none; otherwise a
/// header name that may reach Oracle and is not one Oracle reads for itself.
fn request_id_header(
    file: &str,
    given: Option<&str>,
    p: &mut Vec<String>,
) -> Option<http::HeaderName> {
    let name = given.unwrap_or("X-Request-Id");
    if name.is_empty() {
        return None;
    }
    let key = "gateway.upstream_request_id_header";
    match http::HeaderName::from_bytes(name.as_bytes()) {
        Err(_) => {
            p.push(format!("{file}: {key}: \"{name}\" is not a header name"));
            None
        }
        Ok(h) => {
            if let Some(why) = crate::oracle::headers::never_allowed(h.as_str()) {
                p.push(format!(
                    "{file}: {key}: \"{name}\" may never reach Oracle: {why}"
                ));
                None
            } else if crate::oracle::headers::allowed_by_default(h.as_str())
                || crate::oracle::headers::Governed::of(h.as_str()).is_some()
            {
                p.push(format!("{file}: {key}: \"{name}\" is a header Oracle reads; pick a name of its own, e.g. X-Request-Id"));
                None
            } else {
                Some(h)
            }
        }
    }
}

/// `gateway.node_id`: 1–64 of `A-Z a-z 0-9 . _ -`. Absent: the host name on PostgreSQL
/// (several gateways share the store; each needs its own chain), none on SQLite.
fn node_id(
    given: Option<&str>,
    database: &crate::store::Database,
    file: &str,
    p: &mut Vec<String>,
) -> String {
    let valid = |s: &str| {
        (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    match given {
        Some(n) if valid(n) => n.to_string(),
        Some(_) => {
            p.push(format!(
                "{file}: gateway.node_id: must be 1 to 64 letters, digits, '.', '_' or '-'"
            ));
            String::new()
        }
        None => match database {
            crate::store::Database::Sqlite(_) => String::new(),
            crate::store::Database::Postgres(_) => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_default();
                if valid(&host) {
                    host
                } else {
                    p.push(format!("{file}: gateway.node_id: required on PostgreSQL when the host name ({host:?}) is not usable as one"));
                    String::new()
                }
            }
        },
    }
}

struct Audit {
    poll: Duration,
    staleness: Duration,
    queue: usize,
    linger: Duration,
    min_retention: u32,
}

fn audit(k: &mut Keys<'_>, g: &GatewayFile) -> Audit {
    let file = k.file;
    let poll = k.ms(
        "store_poll_interval_ms",
        g.store_poll_interval_ms,
        (250, 50, 1000),
    );
    let staleness = Duration::from_secs(k.range(
        "store_staleness_seconds",
        g.store_staleness_seconds,
        (5, 1, 300),
    ));
    if staleness <= poll {
        k.p.push(format!(
            "{file}: gateway.store_staleness_seconds: must be longer than store_poll_interval_ms"
        ));
    }
    let queue = k.range(
        "audit_queue_capacity",
        g.audit_queue_capacity,
        (8192, 16, 1_000_000),
    );
    let linger = k.range(
        "audit_linger_ms",
        g.audit_linger_ms,
        (DEFAULT_AUDIT_LINGER_MS, 0, 100),
    );
    if g.audit_retention_days == Some(0) {
        k.p.push(format!("{file}: gateway.audit_retention_days: must be at least 1 (omit it to keep records forever)"));
    }
    let min_retention = g
        .audit_min_retention_days
        .unwrap_or(DEFAULT_AUDIT_MIN_RETENTION_DAYS);
    if !(1..=36_500).contains(&min_retention) {
        k.p.push(format!(
            "{file}: gateway.audit_min_retention_days: {min_retention} is out of range 1..=36500"
        ));
    } else if let Some(days) = g
        .audit_retention_days
        .filter(|d| *d > 0 && *d < min_retention)
    {
        k.p.push(format!(
            "{file}: gateway.audit_retention_days: {days} is below gateway.audit_min_retention_days ({min_retention}); keep records longer, or lower the minimum deliberately"
        ));
    }
    Audit {
        poll,
        staleness,
        queue,
        linger: Duration::from_millis(linger),
        min_retention,
    }
}

/// A list of CIDRs under `gateway.KEY` (`trusted_proxies`, `traceparent_trusted_clients`).
fn cidrs(
    key: &str,
    list: Option<&[String]>,
    file: &str,
    p: &mut Vec<String>,
) -> Vec<crate::net::Cidr> {
    let mut out = Vec::new();
    for c in list.unwrap_or_default() {
        match crate::net::Cidr::parse(c) {
            Ok(c) => out.push(c),
            Err(e) => p.push(format!("{file}: gateway.{key}: {e}")),
        }
    }
    out
}

/// `gateway.otlp_traces_endpoint` and `gateway.otlp_service_name`.
fn otlp(g: &GatewayFile, file: &str, p: &mut Vec<String>) -> Option<crate::snapshot::OtlpSettings> {
    let service_name = g
        .otlp_service_name
        .clone()
        .unwrap_or_else(|| "erpgate".into());
    let name_ok = (1..=64).contains(&service_name.len())
        && service_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        p.push(format!(
            "{file}: gateway.otlp_service_name: \"{service_name}\" must be 1-64 of A-Z a-z 0-9 . _ -"
        ));
    }
    if g.otlp_service_name.is_some() && g.otlp_traces_endpoint.is_none() {
        p.push(format!(
            "{file}: gateway.otlp_service_name: set without gateway.otlp_traces_endpoint (nothing is exported)"
        ));
    }
    let endpoint = g.otlp_traces_endpoint.as_deref()?;
    match crate::telemetry::otlp::Endpoint::parse(endpoint) {
        Ok(endpoint) => Some(crate::snapshot::OtlpSettings {
            endpoint,
            service_name,
        }),
        Err(e) => {
            p.push(format!("{file}: gateway.otlp_traces_endpoint: {e}"));
            None
        }
    }
}

/// `gateway.portal*`: the portal needs the admin listener; its sessions last at most 24 hours.
fn portal(
    k: &mut Keys<'_>,
    g: &GatewayFile,
    admin: Option<SocketAddr>,
    base: &std::path::Path,
) -> Option<crate::snapshot::PortalSettings> {
    let hours = k.range("portal_session_hours", g.portal_session_hours, (12, 1, 24));
    let idle = k.range("portal_idle_minutes", g.portal_idle_minutes, (30, 1, 1440));
    if !g.portal.unwrap_or(false) {
        return None;
    }
    let mut hosts = Vec::new();
    match admin {
        None => k.p.push(format!(
            "{}: gateway.portal: the portal is served on the admin listener: set gateway.admin_listen",
            k.file
        )),
        Some(a) => {
            hosts.push(a.to_string());
            if a.ip().is_loopback() {
                hosts.push(format!("localhost:{}", a.port()));
            }
        }
    }
    if let Some(o) = g.portal_origin.as_deref() {
        match o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .filter(|h| !h.is_empty() && !h.contains(['/', '?', '#', '@']))
        {
            Some(h) => hosts.push(h.to_ascii_lowercase()),
            None => k.p.push(format!(
                "{}: gateway.portal_origin: \"{o}\" is not an origin like https://ops.example.com",
                k.file
            )),
        }
    }
    Some(crate::snapshot::PortalSettings {
        session_max: Duration::from_secs(hours * 3600),
        idle: Duration::from_secs(idle * 60),
        mfa_for_auditors: g.portal_mfa_for_auditors.unwrap_or(false),
        hosts,
        oidc: oidc(k, g, base),
    })
}

/// `gateway.portal_oidc_*`: all of issuer, client id, secret file and callback, or none; an
/// `http://` issuer only on loopback with `dangerous_allow_insecure_upstream` (tests).
fn oidc(
    k: &mut Keys<'_>,
    g: &GatewayFile,
    base: &std::path::Path,
) -> Option<crate::snapshot::OidcSettings> {
    use crate::snapshot::{OidcMatch, OidcSettings};
    let issuer = g.portal_oidc_issuer.as_deref()?;
    let mut missing = |key: &str, v: &Option<String>| {
        if v.as_deref().is_none_or(str::is_empty) {
            k.p.push(format!(
                "{}: gateway.{key}: required with gateway.portal_oidc_issuer",
                k.file
            ));
        }
    };
    missing("portal_oidc_client_id", &g.portal_oidc_client_id);
    missing(
        "portal_oidc_client_secret_file",
        &g.portal_oidc_client_secret_file,
    );
    missing("portal_oidc_redirect_uri", &g.portal_oidc_redirect_uri);
    let insecure_ok = g.dangerous_allow_insecure_upstream.unwrap_or(false);
    let loopback = |u: &str| {
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
            u.strip_prefix("http://")
                .and_then(|r| r.strip_prefix(h))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        })
    };
    let acceptable = issuer.starts_with("https://") || (insecure_ok && loopback(issuer));
    if !acceptable {
        k.p.push(format!(
            "{}: gateway.portal_oidc_issuer: \"{issuer}\" must be https:// (plain http only on loopback with dangerous_allow_insecure_upstream)",
            k.file
        ));
    }
    if issuer.starts_with("https://") && g.portal_oidc_ca_file.is_none() {
        k.p.push(format!(
            "{}: gateway.portal_oidc_ca_file: required for an https issuer (the PEM roots its certificate is checked against, e.g. /etc/ssl/certs/ca-certificates.crt)",
            k.file
        ));
    }
    let redirect = g.portal_oidc_redirect_uri.clone().unwrap_or_default();
    if !redirect.is_empty() && !redirect.ends_with("/portal/oidc/callback") {
        k.p.push(format!(
            "{}: gateway.portal_oidc_redirect_uri: must end with /portal/oidc/callback",
            k.file
        ));
    }
    let match_by = match g.portal_oidc_match.as_deref() {
        None | Some("subject") => OidcMatch::Subject,
        Some("email") => OidcMatch::Email,
        Some(other) => {
            k.p.push(format!(
                "{}: gateway.portal_oidc_match: \"{other}\" is not subject or email",
                k.file
            ));
            OidcMatch::Subject
        }
    };
    Some(OidcSettings {
        issuer: issuer.to_string(),
        client_id: g.portal_oidc_client_id.clone().unwrap_or_default(),
        client_secret_file: resolve(
            base,
            g.portal_oidc_client_secret_file.as_deref().unwrap_or(""),
        ),
        redirect_uri: redirect,
        match_by,
        ca_file: g.portal_oidc_ca_file.as_deref().map(|f| resolve(base, f)),
        label: g
            .portal_oidc_label
            .clone()
            .unwrap_or_else(|| "Sign in with single sign-on".into()),
    })
}

/// `gateway.metrics_listen` and `gateway.admin_listen`: addresses, each distinct from the
/// listeners before it.
fn side_listeners(
    g: &GatewayFile,
    listen: Option<SocketAddr>,
    file: &str,
    p: &mut Vec<String>,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let metrics_listen = g.metrics_listen.as_deref().and_then(|m| {
        let parsed: Option<SocketAddr> = m.parse().ok();
        match parsed {
            None => p.push(format!(
                "{file}: gateway.metrics_listen: \"{m}\" is not a socket address like 127.0.0.1:9464"
            )),
            Some(a) if Some(a) == listen => p.push(format!(
                "{file}: gateway.metrics_listen: must differ from gateway.listen"
            )),
            Some(_) => {}
        }
        parsed
    });
    let admin_listen = g.admin_listen.as_deref().and_then(|a| {
        let parsed: Option<SocketAddr> = a.parse().ok();
        match parsed {
            None => p.push(format!(
                "{file}: gateway.admin_listen: \"{a}\" is not a socket address like 127.0.0.1:9443"
            )),
            Some(x) if Some(x) == listen || Some(x) == metrics_listen => p.push(format!(
                "{file}: gateway.admin_listen: must differ from gateway.listen and gateway.metrics_listen"
            )),
            Some(x) if !x.ip().is_loopback() => tracing::warn!(
                "gateway.admin_listen {x} is not loopback: expose it only on a management network"
            ),
            Some(_) => {}
        }
        parsed
    });
    (metrics_listen, admin_listen)
}
