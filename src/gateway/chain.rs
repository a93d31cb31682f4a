//! The request-side chain, as one sentence:
//! *canonical path → who is calling → which endpoint → may they → is it open → is the
//! kill switch off → prepare our upstream credential*.
//!
//! Plain values in, a decision out: no Pingora `Session` here, so the chain is unit-tested
//! and benchmarked without a socket. The order is the product's: a deliberate block
//! (policy, schedule, kill switch) is only reported to an authenticated caller of a known
//! endpoint, and unauthenticated traffic never learns what the catalog contains.

use chrono::{DateTime, Utc};

use crate::app::{App, Compiled};
use crate::auth::presented::{self, PresentedError};
use crate::directory::DirectoryView;
use crate::gateway::context::Trace;
use crate::gateway::deny::{Deny, Reason};
use crate::path::{self, PathRejection};
use crate::policy::{Method, Subject};
use crate::upstream::inject::{self, UpstreamCredential};

/// The parts of a request the chain looks at.
pub struct RequestInput<'a> {
    /// The request method as received.
    pub method: &'a [u8],
    /// The raw request target (path and query) as received.
    pub target: &'a [u8],
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a [u8]],
    /// Every `x-api-key` header value.
    pub api_key: &'a [&'a [u8]],
    /// The time the decision is made for.
    pub now: DateTime<Utc>,
}

/// Runs the chain. On success returns the credential to inject upstream; `trace` records how
/// far the request got either way.
pub async fn admit(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    input: &RequestInput<'_>,
    trace: &mut Trace,
) -> Result<UpstreamCredential, Deny> {
    let snapshot = &compiled.snapshot;

    // 1. Canonical path.
    let target =
        path::canonicalize(input.target, snapshot.gateway.max_uri_length).map_err(path_deny)?;

    // 2. Who is calling.
    let presented = presented::parse(input.authorization, input.api_key).map_err(presented_deny)?;
    let principal = app.auth.authenticate(&presented, view).await?;
    drop(presented);
    trace.principal = Some(principal);
    let account = view
        .account(principal.account)
        .ok_or(Deny::new(Reason::AuthInvalid))?;
    let (tenant_id, tenant) = snapshot.tenant(&account.tenant).ok_or(Deny::with_detail(
        Reason::PolicyDenied,
        "tenant_not_configured",
    ))?;
    trace.tenant = Some(tenant_id);

    // 3. Which endpoint.
    let endpoint_id = snapshot
        .catalog
        .match_path(target.segments())
        .ok_or(Deny::new(Reason::EndpointUnknown))?;
    trace.endpoint = Some(endpoint_id);
    let method = Method::from_bytes(input.method).ok_or(Deny::new(Reason::MethodNotAllowed))?;
    if !snapshot
        .catalog
        .endpoint(endpoint_id)
        .methods
        .contains(method)
    {
        return Err(Deny::new(Reason::MethodNotAllowed));
    }

    // 4. May they.
    let subject = Subject {
        account: Some(&account.name),
        oracle_user: None,
        roles: &[],
    };
    let decision = snapshot
        .grants
        .check(&subject, tenant_id, endpoint_id, method);
    let first = decision.first.ok_or(Deny::new(Reason::PolicyDenied))?;
    trace.grant = Some(first);
    trace.redact = decision.redact;

    // 5. Is it open.
    if !snapshot.schedule.is_open(input.now) {
        match decision.exempt {
            Some(exempt) => trace.grant = Some(exempt),
            None => return Err(Deny::new(Reason::ScheduleClosed)),
        }
    }

    // 6. Kill switch.
    if view.killswitch() {
        return Err(Deny::new(Reason::KillSwitchOn));
    }

    // 7. Rate limits of every granting policy that sets one.
    if decision.limited != 0 {
        let credential_id = view
            .credential(principal.credential)
            .map_or("", |c| c.id.as_str());
        if let Err(secs) = app.limiter.check(
            snapshot.version,
            &snapshot.rate_limits,
            decision.limited,
            credential_id,
            &account.name,
            std::time::Instant::now(),
        ) {
            let mut d = Deny::new(Reason::RateLimited);
            d.retry_after = Some(secs);
            return Err(d);
        }
    }

    // 8. Our upstream credential.
    let runtime = compiled
        .tenant_runtime(tenant_id)
        .ok_or(Deny::new(Reason::Internal))?;
    inject::prepare(tenant, account, &runtime.cipher, |t, n| view.secret(t, n))
}

fn path_deny(r: PathRejection) -> Deny {
    match r {
        PathRejection::TooLong => Deny::new(Reason::UriTooLong),
        other => Deny::with_detail(Reason::PathRejected, other.as_str()),
    }
}

fn presented_deny(e: PresentedError) -> Deny {
    Deny::with_detail(
        Reason::AuthInvalid,
        match e {
            PresentedError::Ambiguous => "credential_ambiguous",
            PresentedError::UnsupportedScheme => "auth_scheme_unsupported",
            PresentedError::MalformedBasic => "basic_malformed",
            PresentedError::Malformed => "credential_malformed",
        },
    )
}
