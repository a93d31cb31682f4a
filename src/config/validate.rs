//! Validation and compilation: file model → [`Snapshot`], collecting every problem.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::{EndpointFile, PolicyFile, UpstreamAuthFile};
use super::{ConfigError, Files};
use crate::policy::catalog::{parse_template, shape};
use crate::policy::grants::{CompiledPolicy, CompiledRule};
use crate::policy::schedule::{parse_days, parse_time};
use crate::policy::{Catalog, Endpoint, Grants, Method, MethodSet, Schedule};
use crate::snapshot::{GatewaySettings, Snapshot, Tenant, TenantId, Upstream, UpstreamAuth};

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn main_name(files: &Files) -> &str {
    files
        .files
        .first()
        .map_or("configuration", |f| f.name.as_str())
}

fn secret_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn methods(file: &str, key: &str, list: &[String], p: &mut Vec<String>) -> MethodSet {
    let mut set = MethodSet::default();
    if list.is_empty() {
        p.push(format!("{file}: {key}: must list at least one method"));
    }
    for m in list {
        match Method::from_bytes(m.as_bytes()) {
            Some(m) => set.insert(m),
            None => p.push(format!(
                "{file}: {key}: unknown method \"{m}\" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)"
            )),
        }
    }
    set
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn gateway(files: &Files, p: &mut Vec<String>) -> Option<GatewaySettings> {
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
    if !(256..=65536).contains(&max_uri) {
        p.push(format!(
            "{file}: gateway.max_uri_length: {max_uri} is out of range 256..=65536"
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
    if g.audit_retention_days == Some(0) {
        p.push(format!("{file}: gateway.audit_retention_days: must be at least 1 (omit it to keep records forever)"));
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
        match crate::gateway::client_ip::Cidr::parse(c) {
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
        audit_retention_days: g.audit_retention_days,
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
            p,
        ),
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

fn schedule(files: &Files, p: &mut Vec<String>) -> Schedule {
    let found: Vec<(&str, &super::model::ScheduleFile)> = files
        .files
        .iter()
        .filter_map(|f| f.model.schedule.as_ref().map(|s| (f.name.as_str(), s)))
        .collect();
    if found.len() > 1 {
        p.push(format!(
            "[schedule] is defined in both {} and {}",
            found[0].0, found[1].0
        ));
    }
    let Some((file, s)) = found.first() else {
        return Schedule::default_karachi();
    };
    let tz: Option<chrono_tz::Tz> = s.timezone.parse().ok();
    if tz.is_none() {
        p.push(format!("{file}: schedule.timezone: unknown timezone \"{}\" (use an IANA name like Asia/Karachi)", s.timezone));
    }
    if s.window.is_empty() {
        p.push(format!(
            "{file}: schedule: no [[schedule.window]]; the gateway would never open"
        ));
    }
    let mut windows = Vec::new();
    for (i, w) in s.window.iter().enumerate() {
        let key = format!("schedule.window[{}]", i + 1);
        let mut days = Vec::new();
        if w.days.is_empty() {
            p.push(format!("{file}: {key}.days: must list at least one day"));
        }
        for d in &w.days {
            match parse_days(d) {
                Some(v) => days.extend(v),
                None => p.push(format!(
                    "{file}: {key}.days: \"{d}\" is not mon..sun or daily"
                )),
            }
        }
        let start = parse_time(&w.start);
        let end = parse_time(&w.end);
        if start.is_none() {
            p.push(format!("{file}: {key}.start: \"{}\" is not HH:MM", w.start));
        }
        if end.is_none() {
            p.push(format!(
                "{file}: {key}.end: \"{}\" is not HH:MM (24:00 allowed)",
                w.end
            ));
        }
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                p.push(format!(
                    "{file}: {key}: end {} is not after start {} (split overnight windows in two)",
                    w.end, w.start
                ));
            }
            windows.push((days, s, e));
        }
    }
    Schedule::new(tz.unwrap_or(chrono_tz::Asia::Karachi), &windows)
}

fn tenants(files: &Files, allow_insecure: bool, p: &mut Vec<String>) -> Vec<Tenant> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for f in &files.files {
        for (name, t) in &f.model.tenants {
            let file = &f.name;
            if let Some(prev) = seen.insert(name, file) {
                p.push(format!("{file}: tenants.{name}: already defined in {prev}"));
                continue;
            }
            if !secret_name_ok(name) {
                p.push(format!(
                    "{file}: tenants.{name}: tenant names use a-z, 0-9, '.', '_', '-'"
                ));
            }
            let up = match super::upstream_url::parse(&t.upstream, allow_insecure) {
                Ok(u) => Some(u),
                Err(e) => {
                    p.push(format!("{file}: tenants.{name}.upstream: {e}"));
                    None
                }
            };
            let auth = match &t.upstream_auth {
                UpstreamAuthFile::Basic { username, secret } => {
                    if username.is_empty()
                        || username.contains(':')
                        || username.chars().any(char::is_control)
                    {
                        p.push(format!("{file}: tenants.{name}.upstream_auth.username: must be non-empty without ':' or control characters"));
                    }
                    UpstreamAuth::Basic {
                        username: username.clone(),
                        secret: secret.clone(),
                    }
                }
                UpstreamAuthFile::Token {
                    username,
                    secret,
                    token_path,
                } => {
                    if username.is_empty()
                        || username.contains(':')
                        || username.chars().any(char::is_control)
                    {
                        p.push(format!("{file}: tenants.{name}.upstream_auth.username: must be non-empty without ':' or control characters"));
                    }
                    let path = token_path.as_deref().unwrap_or("/fscmRestApi/tokenrelay");
                    if !path.starts_with('/')
                        || path.len() > 512
                        || path.bytes().any(|b| !(0x21..0x7f).contains(&b))
                    {
                        p.push(format!("{file}: tenants.{name}.upstream_auth.token_path: \"{path}\" must be an absolute path of visible ASCII"));
                    }
                    UpstreamAuth::Token {
                        username: username.clone(),
                        secret: secret.clone(),
                        token_path: path.to_string(),
                    }
                }
                UpstreamAuthFile::Jwt {
                    issuer,
                    username,
                    audience,
                    lifetime_seconds,
                } => identity::upstream_jwt(
                    file,
                    name,
                    issuer,
                    username.as_deref(),
                    audience.as_deref(),
                    *lifetime_seconds,
                    p,
                ),
                UpstreamAuthFile::ApiKey { header, secret } => {
                    let h = header.as_deref().unwrap_or("x-api-key");
                    let parsed = http::HeaderName::from_bytes(h.as_bytes()).ok();
                    let forbidden = [
                        "host",
                        "cookie",
                        "connection",
                        "content-length",
                        "transfer-encoding",
                    ];
                    let header = match parsed {
                        Some(hn) if !forbidden.contains(&hn.as_str()) => hn,
                        _ => {
                            p.push(format!("{file}: tenants.{name}.upstream_auth.header: \"{h}\" is not a usable header name"));
                            http::HeaderName::from_static("x-api-key")
                        }
                    };
                    UpstreamAuth::ApiKey {
                        header,
                        secret: secret.clone(),
                    }
                }
            };
            let secret = match &auth {
                UpstreamAuth::Basic { secret, .. }
                | UpstreamAuth::ApiKey { secret, .. }
                | UpstreamAuth::Token { secret, .. } => Some(secret),
                UpstreamAuth::Jwt { .. } => None,
            };
            if let Some(secret) = secret.filter(|s| !secret_name_ok(s)) {
                p.push(format!("{file}: tenants.{name}.upstream_auth.secret: \"{secret}\" is not a secret name ([a-z0-9][a-z0-9._-]{{0,63}})"));
            }
            let mut cors_origins = Vec::new();
            for o in &t.cors_origins {
                if o.contains('*') || o == "null" {
                    p.push(format!("{file}: tenants.{name}.cors_origins: \"{o}\": wildcards and \"null\" are not allowed; list exact origins"));
                    continue;
                }
                match super::upstream_url::parse(o, true) {
                    Ok(u) => cors_origins.push(format!(
                        "{}://{}",
                        if u.tls { "https" } else { "http" },
                        u.host_header
                    )),
                    Err(e) => p.push(format!("{file}: tenants.{name}.cors_origins: {e}")),
                }
            }
            let inbound = t.inbound_jwt.as_ref().and_then(|i| {
                if !matches!(auth, UpstreamAuth::Jwt { .. }) {
                    p.push(format!("{file}: tenants.{name}.inbound_jwt: needs upstream_auth mode = \"jwt\" (an Oracle user must reach Oracle as that user, never as the integration user)"));
                }
                identity::inbound(&files.base, file, name, i, p)
            });
            if let Some(u) = up {
                out.push(Tenant {
                    name: name.clone(),
                    upstream: Upstream {
                        sni: u.host.clone(),
                        host: u.host,
                        port: u.port,
                        tls: u.tls,
                        host_header: u.host_header,
                    },
                    auth,
                    cors_origins,
                    inbound,
                });
            }
        }
    }
    identity::issuers_unique(&out, p);
    out
}

fn catalog(files: &Files, p: &mut Vec<String>) -> Option<Catalog> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut shapes: HashMap<String, (&str, &str)> = HashMap::new();
    let mut endpoints = Vec::new();
    for f in &files.files {
        for (i, e) in f.model.endpoint.iter().enumerate() {
            let EndpointFile {
                name,
                path,
                methods: ms,
            } = e;
            let key = format!("endpoint[{}] ({name})", i + 1);
            let file = f.name.as_str();
            if !name_ok(name) {
                p.push(format!(
                    "{file}: {key}.name: use letters, digits, '.', '_', '-'"
                ));
            }
            if let Some(prev) = names.insert(name, file) {
                p.push(format!(
                    "{file}: {key}: endpoint name \"{name}\" is already defined in {prev}"
                ));
            }
            let set = methods(file, &format!("{key}.methods"), ms, p);
            match parse_template(path) {
                Ok(segs) => {
                    if let Some((other, other_file)) = shapes.insert(shape(&segs), (name, file)) {
                        p.push(format!("{file}: {key}.path: \"{path}\" overlaps endpoint \"{other}\" ({other_file}): same shape"));
                    }
                }
                Err(e) => p.push(format!("{file}: {key}.path: {e}")),
            }
            endpoints.push(Endpoint {
                name: name.clone(),
                template: path.clone(),
                methods: set,
            });
        }
    }
    if endpoints.is_empty() {
        p.push(format!("{}: no [[endpoint]] in the configuration: the catalog is empty and every request would be refused", main_name(files)));
    }
    if !p.is_empty() {
        return None;
    }
    match Catalog::build(endpoints) {
        Ok(c) => Some(c),
        Err(e) => {
            p.push(e);
            None
        }
    }
}

fn subject_ok(s: &str) -> bool {
    let valid = |v: &str| !v.is_empty() && v.len() <= 256 && !v.chars().any(char::is_control);
    if let Some(a) = s.strip_prefix("account:") {
        return secret_name_ok(a);
    }
    if let Some(u) = s.strip_prefix("user:") {
        let body = u.strip_suffix('*').unwrap_or(u);
        return valid(body) && !body.contains('*');
    }
    s.strip_prefix("role:")
        .is_some_and(|r| valid(r) && !r.contains('*'))
}

fn policies(
    files: &Files,
    cat: &Catalog,
    tenants: &[Tenant],
    p: &mut Vec<String>,
) -> Vec<CompiledPolicy> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::new();
    for f in &files.files {
        let file = f.name.as_str();
        for pol in &f.model.policy {
            let PolicyFile {
                name,
                subjects,
                tenant,
                schedule_exempt,
                rule,
                ..
            } = pol;
            let key = format!("policy \"{name}\"");
            if let Some(prev) = names.insert(name, file) {
                p.push(format!("{file}: {key}: already defined in {prev}"));
            }
            if subjects.is_empty() {
                p.push(format!(
                    "{file}: {key}.subjects: must list at least one subject"
                ));
            }
            for s in subjects {
                if !subject_ok(s) {
                    p.push(format!("{file}: {key}.subjects: \"{s}\" is not account:NAME, user:NAME, user:PREFIX* or role:NAME"));
                }
            }
            let tenant_id = tenant.as_ref().and_then(|t| {
                let found = tenants
                    .iter()
                    .position(|x| &x.name == t)
                    .map(|i| TenantId(i as u32));
                if found.is_none() {
                    p.push(format!(
                        "{file}: {key}.tenant: tenant \"{t}\" is not defined"
                    ));
                }
                found
            });
            if rule.is_empty() {
                p.push(format!(
                    "{file}: {key}: has no [[policy.rule]]; it would grant nothing"
                ));
            }
            let mut rules = Vec::new();
            for (ri, r) in rule.iter().enumerate() {
                let rname = r.name.clone().unwrap_or_else(|| format!("rule-{}", ri + 1));
                let rkey = format!("{key} rule {} ({rname})", ri + 1);
                let granted = methods(file, &format!("{rkey}.methods"), &r.methods, p);
                if r.endpoints.is_empty() {
                    p.push(format!(
                        "{file}: {rkey}.endpoints: must list at least one endpoint"
                    ));
                }
                let mut grants = Vec::new();
                for e in &r.endpoints {
                    if let Some(prefix) = e.strip_suffix('*') {
                        if !prefix.ends_with('.') {
                            p.push(format!("{file}: {rkey}: glob \"{e}\" must end in \".*\""));
                            continue;
                        }
                        let matched: Vec<_> = cat
                            .endpoints()
                            .iter()
                            .enumerate()
                            .filter(|(_, ep)| ep.name.starts_with(prefix))
                            .collect();
                        if matched.is_empty() {
                            p.push(format!(
                                "{file}: {rkey}: glob \"{e}\" matches no endpoint in the catalog"
                            ));
                        }
                        for (i, ep) in matched {
                            let m = granted.intersect(ep.methods);
                            if !m.is_empty() {
                                grants.push((crate::policy::EndpointId(i as u32), m));
                            }
                        }
                    } else {
                        match cat.by_name(e) {
                            None => p.push(format!(
                                "{file}: {rkey}: endpoint \"{e}\" is not in the catalog"
                            )),
                            Some(id) => {
                                let ep = cat.endpoint(id);
                                for m in granted.iter() {
                                    if !ep.methods.contains(m) {
                                        p.push(format!("{file}: {rkey}: method {} is not served by endpoint \"{e}\" (catalog allows {:?})", m.as_str(), ep.methods.iter().map(Method::as_str).collect::<Vec<_>>()));
                                    }
                                }
                                grants.push((id, granted.intersect(ep.methods)));
                            }
                        }
                    }
                }
                rules.push(CompiledRule {
                    name: rname,
                    grants,
                });
            }
            out.push(CompiledPolicy {
                name: name.clone(),
                subjects: subjects.clone(),
                tenant: tenant_id,
                schedule_exempt: *schedule_exempt,
                redact_slot: None,
                rate_slot: None,
                rules,
            });
        }
    }
    out
}

/// Validates every file and compiles the snapshot, or returns every problem found.
pub fn compile(files: Files, version: u64) -> Result<Snapshot, ConfigError> {
    let mut p = Vec::new();
    let gw = gateway(&files, &mut p);
    let allow = gw
        .as_ref()
        .is_some_and(|g| g.dangerous_allow_insecure_upstream);
    let schedule = schedule(&files, &mut p);
    let tenants = tenants(&files, allow, &mut p);
    if files.files.iter().all(|f| f.model.tenants.is_empty()) {
        p.push(format!(
            "{}: no [tenants.*] in the configuration",
            main_name(&files)
        ));
    }
    let mut cat_problems = Vec::new();
    let cat = catalog(&files, &mut cat_problems);
    p.extend(cat_problems);
    let mut compiled = match &cat {
        Some(c) => policies(&files, c, &tenants, &mut p),
        None => Vec::new(),
    };
    let rate_limits = ratelimit::assign(&files, &mut compiled, &mut p);
    let redaction = gw.as_ref().map(|g| {
        redaction::table(
            &files,
            &g.redaction_mask,
            g.public_base_url.as_deref(),
            &tenants,
            &mut compiled,
            &mut p,
        )
    });
    match (gw, cat, redaction) {
        (Some(gateway), Some(catalog), Some(redaction)) if p.is_empty() => {
            let grants = Grants::build(&compiled, catalog.len());
            Ok(Snapshot {
                version,
                hash: files.hash,
                gateway,
                tenants,
                catalog,
                grants,
                schedule,
                redaction,
                rate_limits,
                sources: files.sources,
            })
        }
        _ => Err(ConfigError { problems: p }),
    }
}

mod identity;
mod ratelimit;
mod redaction;
#[cfg(test)]
mod tests;
mod tls;
