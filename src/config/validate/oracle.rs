//! What the configuration says about Oracle's framework: request headers allowed for every
//! endpoint or one, governed headers granted by policy rules, declared finders, batch roots,
//! the tenant's answer to unknown query parameters, and `check`'s warnings about children a
//! parent's grant cannot reach.

use std::collections::{BTreeMap, BTreeSet};

use crate::oracle::headers::{self, Governed};
use crate::oracle::query::UnknownParams;
use crate::policy::grants::CompiledPolicy;
use crate::policy::{Catalog, EndpointId, Method};

/// A list of request header names (`gateway.allow_request_headers`, an endpoint's
/// `request_headers`): each must be a header name configuration may allow.
pub(super) fn request_headers(
    file: &str,
    key: &str,
    list: &[String],
    p: &mut Vec<String>,
) -> Vec<http::HeaderName> {
    let mut out = Vec::new();
    for name in list {
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Err(_) => p.push(format!("{file}: {key}: \"{name}\" is not a header name")),
            Ok(h) => match headers::never_allowed(h.as_str()) {
                Some(why) => p.push(format!(
                    "{file}: {key}: \"{name}\" may never reach Oracle: {why}"
                )),
                None if headers::allowed_by_default(h.as_str()) || out.contains(&h) => {}
                None => out.push(h),
            },
        }
    }
    out
}

/// A rule's `headers`: governed headers only.
pub(super) fn rule_headers(file: &str, rkey: &str, list: &[String], p: &mut Vec<String>) -> u8 {
    let mut set = 0;
    for name in list {
        match Governed::of(name) {
            Some(g) => set |= g.bit(),
            None => p.push(format!(
                "{file}: {rkey}.headers: \"{name}\" is not a governed header ({}); other headers are allowed with gateway.allow_request_headers or an endpoint's request_headers",
                Governed::ALL.map(Governed::name).join(", ")
            )),
        }
    }
    set
}

fn finder_name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An endpoint's `finders`.
pub(super) fn finders(
    file: &str,
    key: &str,
    map: &BTreeMap<String, Vec<String>>,
    p: &mut Vec<String>,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (name, attrs) in map {
        if !finder_name_ok(name) {
            p.push(format!(
                "{file}: {key}.finders: \"{name}\" is not a finder name (letters, digits, '_')"
            ));
        }
        if attrs.is_empty() {
            p.push(format!("{file}: {key}.finders.{name}: list the attributes the finder filters on (its bind variables' attributes)"));
        }
        for a in attrs.iter().filter(|a| !finder_name_ok(a)) {
            p.push(format!(
                "{file}: {key}.finders.{name}: \"{a}\" is not an attribute name (letters, digits, '_')"
            ));
        }
        out.push((name.clone(), attrs.clone()));
    }
    out
}

/// Whether a template looks like a batch root: the resource root right after the version
/// (`/fscmRestApi/resources/{version}`), or a last segment that says `batch`.
pub(super) fn looks_like_batch(template: &str) -> bool {
    let segs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let last = segs.last().copied().unwrap_or("");
    let root = segs.len() >= 2
        && last.starts_with('{')
        && segs
            .get(segs.len() - 2)
            .is_some_and(|s| s.eq_ignore_ascii_case("resources"));
    root || last.to_ascii_lowercase().contains("batch")
}

/// A batch endpoint's own rules: marked, POST only.
pub(super) fn batch(
    file: &str,
    key: &str,
    template: &str,
    marked: bool,
    methods: &[String],
    p: &mut Vec<String>,
) {
    if !marked && looks_like_batch(template) {
        p.push(format!("{file}: {key}.path: \"{template}\" looks like a batch root, whose body carries operations on any path: mark it `batch = true` (each part is then admitted like a direct request) or remove it"));
    }
    if marked && !(methods.len() == 1 && methods[0].eq_ignore_ascii_case("POST")) {
        p.push(format!(
            "{file}: {key}.methods: a batch endpoint serves POST only"
        ));
    }
}

/// `tenants.NAME.unknown_query_parameters`.
pub(super) fn unknown_params(
    file: &str,
    tenant: &str,
    v: Option<&str>,
    p: &mut Vec<String>,
) -> UnknownParams {
    match v {
        None => UnknownParams::RefuseWhenMasked,
        Some("allow") => UnknownParams::Allow,
        Some("refuse") => UnknownParams::Refuse,
        Some(other) => {
            p.push(format!("{file}: tenants.{tenant}.unknown_query_parameters: \"{other}\" is not \"allow\" or \"refuse\""));
            UnknownParams::RefuseWhenMasked
        }
    }
}

/// `check`'s warnings: a subject granted GET on a parent but not on one of its children in
/// the catalog will have `expand` and `fields` of that child refused on the parent.
pub fn child_warnings(cat: &Catalog, policies: &[CompiledPolicy]) -> Vec<String> {
    let mut by_subject: BTreeMap<&str, BTreeSet<EndpointId>> = BTreeMap::new();
    for pol in policies {
        for s in &pol.subjects {
            let set = by_subject.entry(s.as_str()).or_default();
            for r in &pol.rules {
                for (e, m) in &r.grants {
                    if m.contains(Method::Get) {
                        set.insert(*e);
                    }
                }
            }
        }
    }
    // (parent, child) → subjects granted the parent but not the child.
    let mut missing: BTreeMap<(EndpointId, EndpointId), Vec<&str>> = BTreeMap::new();
    for (subject, granted) in &by_subject {
        for parent in granted {
            for child in children(cat, *parent) {
                if !granted.contains(&child) {
                    missing.entry((*parent, child)).or_default().push(subject);
                }
            }
        }
    }
    missing
        .into_iter()
        .map(|((parent, child), subjects)| {
            format!(
                "endpoint \"{}\" is granted to {} but its child \"{}\" is not: `expand` and `fields` of that child on \"{}\" are refused for them (policy.denied); grant the child to allow it",
                cat.endpoint(parent).name,
                subjects.join(", "),
                cat.endpoint(child).name,
                cat.endpoint(parent).name,
            )
        })
        .collect()
}

/// The catalog's direct children of `parent`: endpoints whose template is the parent's (with
/// an id segment when the parent is a collection) followed by `/child/NAME`.
fn children(cat: &Catalog, parent: EndpointId) -> Vec<EndpointId> {
    let p = cat.endpoint(parent);
    let item_prefix = if p.is_item() {
        format!("{}/child/", p.template)
    } else {
        format!("{}/{{", p.template)
    };
    cat.endpoints()
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            let Some(rest) = e.template.strip_prefix(&item_prefix) else {
                return false;
            };
            let rest = if p.is_item() {
                rest
            } else {
                // `{id}/child/NAME`
                match rest.split_once("}/child/") {
                    Some((id, name)) if !id.contains('/') => name,
                    _ => return false,
                }
            };
            !rest.is_empty() && !rest.contains('/')
        })
        .map(|(i, _)| EndpointId(i as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_roots_are_recognised() {
        assert!(looks_like_batch("/fscmRestApi/resources/{version}"));
        assert!(looks_like_batch(
            "/fscmRestApi/resources/11.13.18.05/fscm.batch"
        ));
        assert!(looks_like_batch("/x/Batch"));
        assert!(!looks_like_batch(
            "/fscmRestApi/resources/{version}/invoices"
        ));
        assert!(!looks_like_batch(
            "/fscmRestApi/resources/{version}/invoices/{id}"
        ));
    }
}
