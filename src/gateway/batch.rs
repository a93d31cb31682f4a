//! A batch request's parts, each admitted like a direct request before anything reaches
//! Oracle: the part's path is canonical and in the catalog, its method served there and
//! granted to the caller (an `upsert` needs `Upsert-Mode` granted), the schedule open for it
//! (or its grant exempt), its query governed (`governed::query`), and its policies' rate
//! limits taken. One refused part refuses the whole batch, with that part's reason; the audit
//! record names the part. A nested batch is refused.
//!
//! The response carries every part's data under `parts[].payload`, in another shape than
//! each resource's own: every redaction rule of every part's granting policies applies to it,
//! at any depth (`MaskRules::anywhere`).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::chain::{self, Who};
use super::context::Trace;
use super::deny::{Deny, Reason};
use super::governed;
use crate::app::{App, Compiled};
use crate::directory::DirectoryView;
use crate::oracle::batch::{self, Part};
use crate::oracle::headers::Governed;
use crate::path;
use crate::policy::Method;
use crate::redact::MaskRules;
use crate::snapshot::TenantId;

/// Admits every part of the batch `body` posted to `root` (the batch endpoint's path) by the
/// caller in `trace`; returns the rules for the batch's response. `governed` is the governed
/// headers the batch request itself carries (granted for the batch root): Oracle may apply
/// them to every part, so every part must be granted them too.
pub fn admit_parts(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    trace: &mut Trace,
    root: &str,
    body: &[u8],
    (governed, now): (u8, DateTime<Utc>),
) -> Result<Option<Arc<MaskRules>>, Deny> {
    let parts =
        batch::parse(body).map_err(|e| Deny::with_detail(Reason::BadRequest, e.as_str()))?;
    let principal = trace.principal.clone().ok_or(Deny::new(Reason::Internal))?;
    let tenant_id = trace.tenant.ok_or(Deny::new(Reason::Internal))?;
    let who = Who::of(&principal, view)?;
    let mut slots = trace.redact;
    for (i, part) in parts.iter().enumerate() {
        let mut inner = Trace::default();
        let at = (governed, now);
        match admit_part(
            app, compiled, view, &who, &principal, tenant_id, root, part, at, &mut inner,
        ) {
            Ok(s) => slots |= s,
            Err(deny) => {
                let path_only = part.path.split('?').next().unwrap_or("");
                let mut what = format!("batch part {} ({} {})", i + 1, part.method, path_only);
                if let Some(r) = inner.refused {
                    what = format!("{what}: {r}");
                }
                trace.refused = Some(what);
                trace.hide_query_values |= inner.hide_query_values;
                return Err(deny);
            }
        }
    }
    trace.redact = slots;
    Ok(compiled
        .snapshot
        .redaction
        .for_request(tenant_id, slots)
        .map(|r| Arc::new(r.anywhere())))
}

/// One part; returns the redaction slots in force for it.
#[allow(clippy::too_many_arguments)]
fn admit_part(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    who: &Who<'_>,
    principal: &crate::auth::Principal,
    tenant_id: TenantId,
    root: &str,
    part: &Part,
    (governed, now): (u8, DateTime<Utc>),
    trace: &mut Trace,
) -> Result<u128, Deny> {
    let snapshot = &compiled.snapshot;
    let full = format!("{root}{}", part.path);
    let target = path::canonicalize(full.as_bytes(), snapshot.gateway.max_uri_length)
        .map_err(|r| Deny::with_detail(Reason::PathRejected, r.as_str()))?;
    let endpoint_id = snapshot
        .catalog
        .match_path(target.segments())
        .ok_or(Deny::new(Reason::EndpointUnknown))?;
    let endpoint = snapshot.catalog.endpoint(endpoint_id);
    if endpoint.batch {
        trace.refused = Some("nested batch".into());
        return Err(Deny::with_detail(Reason::PolicyDenied, "batch_nested"));
    }
    let method = Method::from_bytes(part.method.as_bytes())
        .filter(|m| endpoint.methods.contains(*m))
        .ok_or(Deny::new(Reason::MethodNotAllowed))?;
    let subject = who.subject();
    let decision = snapshot
        .grants
        .check(&subject, tenant_id, endpoint_id, method);
    if decision.first.is_none() {
        trace.refused = Some(format!("endpoint {}", endpoint.name));
        return Err(Deny::new(Reason::PolicyDenied));
    }
    if !snapshot.schedule.is_open(now) && decision.exempt.is_none() {
        return Err(Deny::new(Reason::ScheduleClosed));
    }
    if part.upsert && decision.headers & Governed::UpsertMode.bit() == 0 {
        trace.refused = Some(format!("upsert ({})", Governed::UpsertMode.name()));
        return Err(Deny::new(Reason::HeaderDenied));
    }
    if let Some(g) = Governed::ALL
        .into_iter()
        .find(|g| governed & g.bit() != 0 && decision.headers & g.bit() == 0)
    {
        trace.refused = Some(format!("header {} (sent with the batch)", g.name()));
        return Err(Deny::new(Reason::HeaderDenied));
    }
    let tenant = snapshot
        .tenants
        .get(tenant_id.0 as usize)
        .ok_or(Deny::new(Reason::Internal))?;
    let segments: Vec<&str> = target.segments().collect();
    let scope = governed::QueryScope {
        snapshot,
        subject: &subject,
        tenant_id,
        tenant,
        endpoint: endpoint_id,
        segments: &segments,
        slots: decision.redact,
    };
    let own = snapshot.redaction.for_request(tenant_id, decision.redact);
    let queried = governed::query(&scope, target.query(), own, trace)?;
    if decision.limited != 0 {
        chain::rate_limit(app, snapshot, view, principal, who, decision.limited)?;
    }
    Ok(queried.slots)
}
