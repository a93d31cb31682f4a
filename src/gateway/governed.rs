//! The chain's steps for what Oracle's framework does beyond the path and method: the
//! method-override and governed request headers, and the query (`expand`, `fields`, `q`,
//! `orderBy`, `finder`, unknown parameters). Plain values in, a decision out, like the rest
//! of the chain (`chain.rs` calls these in order; `batch.rs` calls them for each part).
//!
//! The query step, for a request already granted its endpoint and method:
//! 1. the query is read (`oracle::query`); one that cannot be read unambiguously is
//!    `query.malformed`;
//! 2. `expand=all` is `query.parameter_denied` (the catalog cannot know every child Oracle
//!    would inline): name the children instead;
//! 3. every child the query inlines or reaches into must be a catalog endpoint granted to the
//!    caller for GET, like a direct request to it, or the request is `policy.denied` with the
//!    child named in the audit record;
//! 4. the redaction rules in force are the request's plus every child's; when children are
//!    inlined they apply at any depth in the response (`MaskRules::anywhere`);
//! 5. with rules in force, an attribute that `q`, `orderBy`, `fields` or a finder names and a
//!    rule masks is `query.masked_field` (filtering or sorting on a masked value reads it
//!    back); a finder the catalog does not declare for the endpoint, or one declared with a
//!    masked attribute, is refused the same way (`query.parameter_denied`,
//!    `query.masked_field`);
//! 6. parameters the framework does not name are refused per the tenant's
//!    `unknown_query_parameters` (by default where rules are in force).

use std::sync::Arc;

use crate::gateway::context::Trace;
use crate::gateway::deny::{Deny, Reason};
use crate::oracle::headers::{self, Governed};
use crate::oracle::query::{self, QueryUse, UnknownParams};
use crate::policy::{EndpointId, Method, Subject};
use crate::redact::MaskRules;
use crate::snapshot::{Snapshot, Tenant, TenantId};

/// Step 1b: a method-override header is refused, whatever the caller is granted.
pub fn method_override(headers: &http::HeaderMap, trace: &mut Trace) -> Result<(), Deny> {
    match headers::method_override(headers.keys().map(http::HeaderName::as_str)) {
        None => Ok(()),
        Some(name) => {
            trace.refused = Some(format!("header {name}"));
            Err(Deny::new(Reason::MethodOverride))
        }
    }
}

/// Step 4b: every governed header present must be granted (`granted`: the decision's bits).
/// Returns the governed headers present (all granted).
pub fn governed_headers(
    headers: &http::HeaderMap,
    granted: u8,
    trace: &mut Trace,
) -> Result<u8, Deny> {
    let present = headers::governed(headers.keys().map(http::HeaderName::as_str));
    match Governed::ALL
        .into_iter()
        .find(|g| present & g.bit() != 0 && granted & g.bit() == 0)
    {
        None => Ok(present),
        Some(g) => {
            trace.refused = Some(format!("header {}", g.name()));
            Err(Deny::new(Reason::HeaderDenied))
        }
    }
}

/// Who asks for what, for the query step.
pub struct QueryScope<'a> {
    /// The configuration.
    pub snapshot: &'a Snapshot,
    /// The caller.
    pub subject: &'a Subject<'a>,
    /// The caller's tenant.
    pub tenant_id: TenantId,
    /// Its configuration.
    pub tenant: &'a Tenant,
    /// The endpoint the path matched.
    pub endpoint: EndpointId,
    /// The request path's segments.
    pub segments: &'a [&'a str],
    /// Redaction slots of the policies granting the request itself.
    pub slots: u128,
}

/// What the query step decided for an admitted request.
pub struct QueryDecision {
    /// The rules for the response (the request's, widened by inlined children's).
    pub redaction: Option<Arc<MaskRules>>,
    /// Redaction slots in force (the request's and every child's).
    pub slots: u128,
}

fn refuse(trace: &mut Trace, reason: Reason, detail: &'static str, what: String) -> Deny {
    trace.refused = Some(what);
    Deny::with_detail(reason, detail)
}

/// Step 6b: the query (see the module documentation). `redaction` is the request's own
/// rules.
pub fn query(
    scope: &QueryScope<'_>,
    raw: Option<&str>,
    redaction: Option<Arc<MaskRules>>,
    trace: &mut Trace,
) -> Result<QueryDecision, Deny> {
    let plain = QueryDecision {
        redaction: redaction.clone(),
        slots: scope.slots,
    };
    let Some(raw) = raw.filter(|q| !q.is_empty()) else {
        return Ok(plain);
    };
    let used = query::analyse(raw).map_err(|e| {
        // An unreadable filter may still hold a guess at a masked value: not kept either.
        trace.hide_query_values = true;
        Deny::with_detail(Reason::QueryMalformed, e.as_str())
    })?;
    if used == QueryUse::default() {
        return Ok(plain);
    }
    if used.expand_all {
        return Err(refuse(
            trace,
            Reason::QueryParameterDenied,
            "expand_all",
            "expand=all".into(),
        ));
    }
    let (slots, in_force, named_child) = children(scope, &used, trace)?;
    let check = in_force.as_ref().filter(|r| !r.is_empty());
    if let Some(rules) = check {
        masked(scope, &used, rules, trace)?;
    }
    if let Some(name) = used.unknown.first() {
        let refuse_unknown = match scope.tenant.unknown_query_parameters {
            UnknownParams::Allow => false,
            UnknownParams::Refuse => true,
            UnknownParams::RefuseWhenMasked => check.is_some(),
        };
        if refuse_unknown {
            return Err(refuse(
                trace,
                Reason::QueryParameterDenied,
                "unknown_parameter",
                format!(
                    "parameter {}",
                    crate::gateway::record::bounded(name.as_bytes())
                ),
            ));
        }
    }
    let redaction = if used.inlines_children() || named_child {
        in_force.map(|r| Arc::new(r.anywhere()))
    } else {
        redaction
    };
    Ok(QueryDecision { redaction, slots })
}

/// Step 6b.3–4: every child granted; the slots and rules in force with them, and whether
/// `fields` named a child as if it were an attribute.
fn children(
    scope: &QueryScope<'_>,
    used: &QueryUse,
    trace: &mut Trace,
) -> Result<(u128, Option<Arc<MaskRules>>, bool), Deny> {
    let s = scope.snapshot;
    let is_item = s.catalog.endpoint(scope.endpoint).is_item();
    let mut slots = scope.slots;
    for child in &used.children {
        let what = || format!("{}={}", child.param.name(), child.dotted());
        let Some(id) = s.catalog.child(scope.segments, is_item, &child.path) else {
            return Err(refuse(trace, Reason::PolicyDenied, "child_unknown", what()));
        };
        let d = s
            .grants
            .check(scope.subject, scope.tenant_id, id, Method::Get);
        if d.first.is_none() {
            let named = format!("{} (endpoint {})", what(), s.catalog.endpoint(id).name);
            return Err(refuse(
                trace,
                Reason::PolicyDenied,
                "child_not_granted",
                named,
            ));
        }
        slots |= d.redact;
    }
    // A name in `fields` that is a child in the catalog is a child, whatever scope names it
    // (`fields=PersonId,nationalIdentifiers`).
    let mut named_child = false;
    for a in used
        .attributes
        .iter()
        .filter(|a| a.param == query::Param::Fields)
    {
        let mut path = a.children.clone();
        path.push(a.name.clone());
        if let Some(id) = s.catalog.child(scope.segments, is_item, &path) {
            let d = s
                .grants
                .check(scope.subject, scope.tenant_id, id, Method::Get);
            if d.first.is_none() {
                let named = format!(
                    "fields={} (endpoint {})",
                    path.join("."),
                    s.catalog.endpoint(id).name
                );
                return Err(refuse(
                    trace,
                    Reason::PolicyDenied,
                    "child_not_granted",
                    named,
                ));
            }
            slots |= d.redact;
            named_child = true;
        }
    }
    Ok((
        slots,
        s.redaction.for_request(scope.tenant_id, slots),
        named_child,
    ))
}

/// Step 6b.5: no masked attribute filtered, sorted, projected or found by.
fn masked(
    scope: &QueryScope<'_>,
    used: &QueryUse,
    rules: &MaskRules,
    trace: &mut Trace,
) -> Result<(), Deny> {
    let hit = |detail: &'static str, what: String, trace: &mut Trace| {
        trace.hide_query_values = true;
        refuse(trace, Reason::QueryMaskedField, detail, what)
    };
    for a in &used.attributes {
        if rules.masks_name(&a.name) {
            let detail = match a.param {
                query::Param::Q => "q_masked",
                query::Param::OrderBy => "orderby_masked",
                query::Param::Fields => "fields_masked",
                query::Param::Dependency => "dependency_masked",
                _ => "finder_masked",
            };
            let what = format!("{} names {}", a.param.name(), bounded(&a.name));
            return Err(hit(detail, what, trace));
        }
    }
    if let Some(n) = used.other_names.iter().find(|n| rules.masks_name(n)) {
        return Err(hit("q_masked", format!("q names {}", bounded(n)), trace));
    }
    let endpoint = scope.snapshot.catalog.endpoint(scope.endpoint);
    for f in &used.finders {
        match endpoint.finder(&f.name) {
            None => {
                return Err(refuse(
                    trace,
                    Reason::QueryParameterDenied,
                    "finder_undeclared",
                    format!("finder {}", bounded(&f.name)),
                ))
            }
            Some(attrs) => {
                if let Some(a) = attrs.iter().find(|a| rules.masks_name(a)) {
                    let what = format!("finder {} filters on {a}", f.name);
                    return Err(hit("finder_masked", what, trace));
                }
            }
        }
    }
    Ok(())
}

fn bounded(s: &str) -> String {
    crate::gateway::record::bounded(s.as_bytes())
}
