//! Validation and compilation: file model → [`Snapshot`], collecting every problem.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::model::{EndpointFile, PolicyFile};
use super::{ConfigError, Files};
use crate::policy::catalog::{parse_template, shape};
use crate::policy::grants::{CompiledPolicy, CompiledRule};
use crate::policy::schedule::{parse_days, parse_time};
use crate::policy::{Catalog, Endpoint, Grants, Method, MethodSet, Schedule};
use crate::snapshot::{Snapshot, Tenant, TenantId, Upstream, UpstreamAuth};

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
            let auth = tenant::upstream_auth(file, name, &t.upstream_auth, p);
            let secret = match &auth {
                UpstreamAuth::Basic { secret, .. }
                | UpstreamAuth::ApiKey { secret, .. }
                | UpstreamAuth::Token { secret, .. } => Some(secret),
                UpstreamAuth::Jwt { .. } => None,
            };
            if let Some(secret) = secret.filter(|s| !secret_name_ok(s)) {
                p.push(format!("{file}: tenants.{name}.upstream_auth.secret: \"{secret}\" is not a secret name ([a-z0-9][a-z0-9._-]{{0,63}})"));
            }
            let cors_origins = tenant::cors_origins(file, name, &t.cors_origins, p);
            let mut inbound = t.inbound_jwt.as_ref().and_then(|i| {
                if !matches!(auth, UpstreamAuth::Jwt { .. }) {
                    p.push(format!("{file}: tenants.{name}.inbound_jwt: needs upstream_auth mode = \"jwt\" (an Oracle user must reach Oracle as that user, never as the integration user)"));
                }
                identity::inbound(&files.base, file, name, i, p)
            });
            let page_integration = t.page_integration.as_ref().and_then(|pi| {
                if t.inbound_jwt.is_none() {
                    p.push(format!("{file}: tenants.{name}.page_integration: needs [tenants.{name}.inbound_jwt] (the launch token is an Oracle user token, verified like one)"));
                }
                page::launch(file, name, pi, allow_insecure, p)
            });
            if let (Some(trust), Some(launch)) = (inbound.as_mut(), page_integration.as_ref()) {
                page::separate_audience(file, name, trust, launch, p);
            }
            let pkcs11 = t
                .pkcs11
                .as_ref()
                .and_then(|k| identity::pkcs11(&files.base, file, name, k, p));
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
                    page_integration,
                    pkcs11,
                    unknown_query_parameters: oracle::unknown_params(
                        file,
                        name,
                        t.unknown_query_parameters.as_deref(),
                        p,
                    ),
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
                request_headers,
                finders,
                batch,
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
            oracle::batch(file, &key, path, *batch, ms, p);
            endpoints.push(Endpoint {
                request_headers: oracle::request_headers(
                    file,
                    &format!("{key}.request_headers"),
                    request_headers,
                    p,
                ),
                finders: oracle::finders(file, &key, finders, p),
                batch: *batch,
                ..Endpoint::new(name, path, set)
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
                let grants = rule_grants(file, &rkey, cat, &r.endpoints, granted, p);
                let headers = oracle::rule_headers(file, &rkey, &r.headers, p);
                rules.push(CompiledRule {
                    name: rname,
                    grants,
                    headers,
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

/// What one policy rule grants: each endpoint it names (or each a `prefix.*` glob matches)
/// with the rule's methods the endpoint serves.
fn rule_grants(
    file: &str,
    rkey: &str,
    cat: &Catalog,
    endpoints: &[String],
    granted: MethodSet,
    p: &mut Vec<String>,
) -> Vec<(crate::policy::EndpointId, MethodSet)> {
    let mut grants = Vec::new();
    for e in endpoints {
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
    grants
}

/// Validates every file and compiles the snapshot, or returns every problem found.
pub fn compile(mut files: Files, version: u64) -> Result<Snapshot, ConfigError> {
    let mut p = std::mem::take(&mut files.problems);
    let gw = gateway::gateway(&files, &mut p);
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
    if let Some(c) = &cat {
        page::no_collisions(&tenants, c, &mut p);
    }
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
            let mut warnings = oracle::child_warnings(&catalog, &compiled);
            if !files.files.iter().any(|f| f.model.schedule.is_some()) {
                warnings.push(format!(
                    "no [schedule]: the default applies, {}; requests outside it are refused (403 schedule.closed). Add a [schedule] section to change it",
                    schedule.describe()
                ));
            }
            Ok(Snapshot {
                warnings,
                version,
                hash: files.hash,
                shared_hash: files.shared_hash,
                gateway,
                tenants,
                catalog,
                grants,
                policies: compiled,
                schedule,
                redaction,
                rate_limits,
                sources: files.sources,
            })
        }
        _ => Err(ConfigError { problems: p }),
    }
}

mod gateway;
mod identity;
pub mod oracle;
mod page;
mod ratelimit;
mod redaction;
mod tenant;
#[cfg(test)]
mod tests;
mod tls;
