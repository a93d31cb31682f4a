//! Validating redaction settings and compiling the snapshot's [`RedactionTable`]: tenant
//! `redact` lists, policy `redact` lists, `gateway.redaction_mask` and
//! `gateway.public_base_url`.

use super::super::model::RedactFile;
use super::super::Files;
use crate::policy::grants::CompiledPolicy;
use crate::redact::headers::{never_passed, LocationRewrite, ALLOWED_RESPONSE_HEADERS};
use crate::redact::rules::LinkRewrite;
use crate::redact::table::{RedactionTable, MAX_REDACTING_POLICIES};
use crate::redact::{MaskAction, MaskRules, RuleSpec};
use crate::snapshot::Tenant;

/// `gateway.redaction_mask`: printable, at most 64 characters; default `****`.
pub(super) fn mask_text(file: &str, v: Option<&str>, p: &mut Vec<String>) -> String {
    let text = v.unwrap_or("****");
    if text.is_empty() || text.chars().count() > 64 || text.chars().any(char::is_control) {
        p.push(format!(
            "{file}: gateway.redaction_mask: must be 1 to 64 printable characters"
        ));
        return "****".to_string();
    }
    text.to_string()
}

/// Headers the gateway itself relies on, which `gateway.strip_response_headers` may not name.
const FRAMING_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "x-request-id",
    "content-encoding",
];

/// `gateway.strip_response_headers`: valid header names, none the gateway needs or sets
/// itself, none also in `allowed` (`gateway.allow_response_headers`); kept lowercase. Upstream
/// headers outside the allowlist are dropped anyway: naming one here only earns a warning.
pub(super) fn strip_headers(
    file: &str,
    v: Option<&[String]>,
    allowed: &[http::HeaderName],
    p: &mut Vec<String>,
) -> Vec<http::HeaderName> {
    let mut out = Vec::new();
    for name in v.unwrap_or_default() {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(h) if FRAMING_HEADERS.contains(&h.as_str()) => p.push(format!(
                "{file}: gateway.strip_response_headers: \"{name}\" frames or identifies the response and cannot be removed"
            )),
            Ok(h) if allowed.contains(&h) => p.push(format!(
                "{file}: gateway.strip_response_headers: \"{name}\" is also in gateway.allow_response_headers; remove it from one of them"
            )),
            Ok(h) => {
                if !ALLOWED_RESPONSE_HEADERS.contains(&h) {
                    tracing::warn!("{file}: gateway.strip_response_headers: \"{name}\" is not in the response header allowlist and never reaches callers anyway");
                }
                out.push(h)
            }
            Err(_) => p.push(format!(
                "{file}: gateway.strip_response_headers: \"{name}\" is not a header name"
            )),
        }
    }
    out
}

/// `gateway.allow_response_headers`: upstream response headers passed to callers besides
/// the built-in allowlist. Valid header names that carry no session or authentication, are
/// not hop-by-hop, not set by the gateway and not Oracle's server diagnostics.
pub(super) fn allow_headers(
    file: &str,
    v: Option<&[String]>,
    p: &mut Vec<String>,
) -> Vec<http::HeaderName> {
    let mut out = Vec::new();
    for name in v.unwrap_or_default() {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Err(_) => p.push(format!(
                "{file}: gateway.allow_response_headers: \"{name}\" is not a header name"
            )),
            Ok(h) => match never_passed(h.as_str()) {
                Some(why) => p.push(format!(
                    "{file}: gateway.allow_response_headers: \"{name}\" {why}"
                )),
                None if ALLOWED_RESPONSE_HEADERS.contains(&h) || out.contains(&h) => {}
                None => out.push(h),
            },
        }
    }
    out
}

/// `gateway.public_base_url`: an origin (`http(s)://host[:port]`), kept without a trailing
/// slash. Plain http is allowed (a gateway behind a TLS-terminating load balancer may be
/// reached that way internally), anything with a path, query or userinfo is not.
pub(super) fn public_base(file: &str, v: Option<&str>, p: &mut Vec<String>) -> Option<String> {
    let url = v?;
    match super::super::upstream_url::parse(url, true) {
        Ok(u) => Some(format!(
            "{}://{}",
            if u.tls { "https" } else { "http" },
            u.host_header
        )),
        Err(e) => {
            p.push(format!("{file}: gateway.public_base_url: {e}"));
            None
        }
    }
}

/// Checks one `redact` list; returns the rules that are valid.
fn specs(file: &str, key: &str, list: &[RedactFile], p: &mut Vec<String>) -> Vec<RuleSpec> {
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let at = format!("{file}: {key}.redact[{}]", i + 1);
        let Some(action) = MaskAction::parse(&r.action) else {
            p.push(format!(
                "{at}.action: \"{}\" is not remove, mask or last4",
                r.action
            ));
            continue;
        };
        let spec = RuleSpec {
            path: r.path.clone(),
            action,
        };
        match MaskRules::compile(std::slice::from_ref(&spec), "****") {
            Ok(_) => out.push(spec),
            Err(e) => p.push(format!("{at}.path: {}", e.why)),
        }
    }
    out
}

/// The origins Oracle may write for `t`'s upstream (with and without a default port).
fn origins(t: &Tenant) -> Vec<String> {
    let u = &t.upstream;
    let scheme = if u.tls { "https" } else { "http" };
    let mut v = vec![format!("{scheme}://{}", u.host_header)];
    if u.port == if u.tls { 443 } else { 80 } {
        v.push(format!("{scheme}://{}:{}", u.host_header, u.port));
    }
    v
}

/// Compiles the table; assigns each policy with redaction rules its slot in `policies`
/// (which are in file order, as the files list them).
pub(super) fn table(
    files: &Files,
    mask: &str,
    public_base: Option<&str>,
    tenants: &[Tenant],
    policies: &mut [CompiledPolicy],
    p: &mut Vec<String>,
) -> RedactionTable {
    let compile = |specs: &[RuleSpec]| {
        MaskRules::compile(specs, mask).unwrap_or_else(|_| MaskRules::default())
    };
    let mut tenant_rules = Vec::new();
    let mut locations = Vec::new();
    for t in tenants {
        let found = files
            .files
            .iter()
            .find_map(|f| f.model.tenants.get(&t.name).map(|tf| (f.name.as_str(), tf)));
        let list = match found {
            Some((file, tf)) => specs(file, &format!("tenants.{}", t.name), &tf.redact, p),
            None => Vec::new(),
        };
        let links = public_base.map(|to| LinkRewrite::new(origins(t), to));
        tenant_rules.push(compile(&list).with_links(links));
        locations.push(LocationRewrite::new(
            origins(t),
            public_base.map(str::to_string),
        ));
    }
    let mut slots = Vec::new();
    let mut compiled = policies.iter_mut();
    for f in &files.files {
        for pol in &f.model.policy {
            let Some(cp) = compiled.next() else { break };
            let list = specs(&f.name, &format!("policy \"{}\"", pol.name), &pol.redact, p);
            if list.is_empty() {
                continue;
            }
            if slots.len() == MAX_REDACTING_POLICIES {
                p.push(format!(
                    "{}: policy \"{}\".redact: at most {MAX_REDACTING_POLICIES} policies may carry redaction rules; move shared rules to the tenant",
                    f.name, pol.name
                ));
                continue;
            }
            cp.redact_slot = u8::try_from(slots.len()).ok();
            slots.push(compile(&list));
        }
    }
    RedactionTable::new(tenant_rules, &slots).with_locations(locations)
}
