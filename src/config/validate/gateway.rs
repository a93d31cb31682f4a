//! Validating the `[gateway]` section (main file only) into [`GatewaySettings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::super::Files;
use super::{redaction, resolve, tls};
use crate::audit::writer::DEFAULT_LINGER_MS as DEFAULT_AUDIT_LINGER_MS;

/// The default floor under every prune of the audit trail, in days.
pub const DEFAULT_AUDIT_MIN_RETENTION_DAYS: u32 = 30;
use crate::snapshot::GatewaySettings;

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
    let threads = g.threads.unwrap_or(2);
    if !(1..=64).contains(&threads) {
        p.push(format!(
            "{file}: gateway.threads: {threads} is out of range 1..=64"
        ));
    }
    let max_uri = g.max_uri_length.unwrap_or(8192);
    // 65534: the longest target the HTTP library under Pingora can hold (`http::Uri`).
    if !(256..=crate::path::MAX_TARGET).contains(&max_uri) {
        p.push(format!(
            "{file}: gateway.max_uri_length: {max_uri} is out of range 256..=65534 (65534 is the longest request target the HTTP stack can carry)"
        ));
    }
    let max_header_count = g.max_header_count.unwrap_or(100);
    if !(8..=256).contains(&max_header_count) {
        p.push(format!(
            "{file}: gateway.max_header_count: {max_header_count} is out of range 8..=256"
        ));
    }
    let max_header_bytes = g.max_header_bytes.unwrap_or(32 * 1024);
    if !(1024..=1_048_575).contains(&max_header_bytes) {
        p.push(format!(
            "{file}: gateway.max_header_bytes: {max_header_bytes} is out of range 1024..=1048575"
        ));
    }
    let ms = |v: Option<u64>, d: u64, key: &str, lo: u64, hi: u64, p: &mut Vec<String>| {
        let v = v.unwrap_or(d);
        if !(lo..=hi).contains(&v) {
            p.push(format!(
                "{file}: gateway.{key}: {v} is out of range {lo}..={hi}"
            ));
        }
        Duration::from_millis(v)
    };
    let connect = ms(
        g.upstream_connect_timeout_ms,
        3000,
        "upstream_connect_timeout_ms",
        100,
        60_000,
        p,
    );
    let read = ms(
        g.upstream_read_timeout_ms,
        60_000,
        "upstream_read_timeout_ms",
        100,
        600_000,
        p,
    );
    let client_timeout = ms(
        g.client_timeout_ms,
        10_000,
        "client_timeout_ms",
        100,
        300_000,
        p,
    );
    let client_idle = g.client_idle_timeout_seconds.unwrap_or(60);
    if !(1..=3600).contains(&client_idle) {
        p.push(format!(
            "{file}: gateway.client_idle_timeout_seconds: {client_idle} is out of range 1..=3600"
        ));
    }
    let database = resolve(&files.base, &g.database);
    let upgrade_socket = match g.upgrade_socket.as_deref() {
        Some(s) => resolve(&files.base, s),
        None => database.parent().map_or_else(
            || PathBuf::from("erpgate-upgrade.sock"),
            |d| d.join("erpgate-upgrade.sock"),
        ),
    };
    if upgrade_socket.as_os_str().len() > 100 {
        p.push(format!(
            "{file}: gateway.upgrade_socket: \"{}\" is longer than a Unix socket path may be (100 bytes); set a shorter one",
            upgrade_socket.display()
        ));
    }
    let upgrade_wait = g.upgrade_wait_seconds.unwrap_or(30);
    if !(1..=600).contains(&upgrade_wait) {
        p.push(format!(
            "{file}: gateway.upgrade_wait_seconds: {upgrade_wait} is out of range 1..=600"
        ));
    }
    let poll = ms(
        g.store_poll_interval_ms,
        250,
        "store_poll_interval_ms",
        50,
        1000,
        p,
    );
    let audit_queue = g.audit_queue_capacity.unwrap_or(8192);
    if !(16..=1_000_000).contains(&audit_queue) {
        p.push(format!(
            "{file}: gateway.audit_queue_capacity: {audit_queue} is out of range 16..=1000000"
        ));
    }
    let audit_linger = g.audit_linger_ms.unwrap_or(DEFAULT_AUDIT_LINGER_MS);
    if audit_linger > 100 {
        p.push(format!(
            "{file}: gateway.audit_linger_ms: {audit_linger} is out of range 0..=100"
        ));
    }
    if g.audit_retention_days == Some(0) {
        p.push(format!("{file}: gateway.audit_retention_days: must be at least 1 (omit it to keep records forever)"));
    }
    let min_retention = g
        .audit_min_retention_days
        .unwrap_or(DEFAULT_AUDIT_MIN_RETENTION_DAYS);
    if !(1..=36_500).contains(&min_retention) {
        p.push(format!(
            "{file}: gateway.audit_min_retention_days: {min_retention} is out of range 1..=36500"
        ));
    } else if let Some(days) = g
        .audit_retention_days
        .filter(|d| *d > 0 && *d < min_retention)
    {
        p.push(format!(
            "{file}: gateway.audit_retention_days: {days} is below gateway.audit_min_retention_days ({min_retention}); keep records longer, or lower the minimum deliberately"
        ));
    }
    let grace = g.shutdown_grace_seconds.unwrap_or(10);
    if grace > 600 {
        p.push(format!(
            "{file}: gateway.shutdown_grace_seconds: {grace} is over 600"
        ));
    }
    let preview = g.audit_preview_bytes.unwrap_or(0);
    if preview > 4096 {
        p.push(format!(
            "{file}: gateway.audit_preview_bytes: {preview} is over 4096"
        ));
    }
    let mut trusted = Vec::new();
    for c in g.trusted_proxies.iter().flatten() {
        match crate::net::Cidr::parse(c) {
            Ok(c) => trusted.push(c),
            Err(e) => p.push(format!("{file}: gateway.trusted_proxies: {e}")),
        }
    }
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
    let token_ttl = g.token_ttl_seconds.unwrap_or(900);
    if !(60..=86_400).contains(&token_ttl) {
        p.push(format!(
            "{file}: gateway.token_ttl_seconds: {token_ttl} is outside 60..=86400"
        ));
    }
    let max_failures = g.token_max_failures.unwrap_or(5);
    if !(1..=100).contains(&max_failures) {
        p.push(format!(
            "{file}: gateway.token_max_failures: {max_failures} is outside 1..=100"
        ));
    }
    let lockout = g.token_lockout_seconds.unwrap_or(300);
    if !(1..=86_400).contains(&lockout) {
        p.push(format!(
            "{file}: gateway.token_lockout_seconds: {lockout} is outside 1..=86400"
        ));
    }
    let allow_response_headers =
        redaction::allow_headers(file, g.allow_response_headers.as_deref(), p);
    if g.database.trim().is_empty() {
        p.push(format!("{file}: gateway.database: must not be empty"));
    }
    Some(GatewaySettings {
        listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        database,
        app_key_file: g.app_key_file.as_deref().map(|f| resolve(&files.base, f)),
        threads,
        max_uri_length: max_uri,
        max_request_body_bytes: g.max_request_body_bytes.unwrap_or(10 * 1024 * 1024),
        max_header_count,
        max_header_bytes,
        upstream_connect_timeout: connect,
        upstream_read_timeout: read,
        dangerous_allow_insecure_upstream: g.dangerous_allow_insecure_upstream.unwrap_or(false),
        store_poll_interval: poll,
        audit_queue_capacity: audit_queue,
        audit_linger: Duration::from_millis(audit_linger),
        audit_retention_days: g.audit_retention_days,
        audit_min_retention_days: min_retention,
        shutdown_grace: Duration::from_secs(grace),
        trusted_proxies: trusted,
        audit_preview_bytes: preview,
        public_base_url: redaction::public_base(file, g.public_base_url.as_deref(), p),
        redaction_mask: redaction::mask_text(file, g.redaction_mask.as_deref(), p),
        metrics_listen,
        admin_listen,
        client_timeout,
        client_idle_timeout_seconds: client_idle,
        upgrade_socket,
        upgrade_wait_seconds: upgrade_wait,
        strip_response_headers: redaction::strip_headers(
            file,
            g.strip_response_headers.as_deref(),
            &allow_response_headers,
            p,
        ),
        allow_response_headers,
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
