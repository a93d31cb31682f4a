//! The request-side chain, as one sentence:
//! *canonical path → who is calling → which endpoint → may they → is it open → is the
//! kill switch off → prepare our upstream credential*.
//!
//! Plain values in, a decision out: no Pingora `Session` here (the shared state — the
//! authenticator, the rate limiter, the upstream caches — comes in as `&App`), so the chain is
//! unit-tested and benchmarked without a socket. The order is the product's: a deliberate block
//! (policy, schedule, kill switch) is only reported to an authenticated caller of a known
//! endpoint, and unauthenticated traffic never learns what the catalog contains.

use chrono::{DateTime, Utc};

use crate::app::{App, Compiled, TenantRuntime};
use crate::auth::presented::{self, Presented, PresentedError};
use crate::auth::tokens::TOKEN_PREFIX;
use crate::auth::{Caller, Principal};
use crate::directory::DirectoryView;
use crate::gateway::context::{Admission, Trace};
use crate::gateway::deny::{Deny, Reason};
use crate::gateway::governed;
use crate::jwt::inbound::OracleIdentity;
use crate::path::{self, CanonicalTarget, PathRejection};
use crate::policy::{GrantDecision, Method, Subject};
use crate::snapshot::{Snapshot, Tenant, TenantId, UpstreamAuth};
use crate::store::Account;
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
    /// Every header (the governed and method-override families are looked for here).
    pub headers: &'a http::HeaderMap,
    /// The client's address (`gateway.trusted_proxies` applied): the per-address key of the
    /// lockout of failed credential proofs.
    pub client_ip: Option<std::net::IpAddr>,
    /// The time the decision is made for.
    pub now: DateTime<Utc>,
}

/// Runs the chain. On success returns what the later phases need to relay the request (the
/// [`Admission`]: tenant, upstream credential, redaction rules); `trace` records how far the
/// request got either way.
pub async fn admit(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    input: &RequestInput<'_>,
    trace: &mut Trace,
) -> Result<Admission, Deny> {
    let snapshot = &compiled.snapshot;

    // 1. Canonical path, and no method override.
    let target =
        path::canonicalize(input.target, snapshot.gateway.max_uri_length).map_err(path_deny)?;
    governed::method_override(input.headers, trace)?;

    // 2. Who is calling: an integration account (Basic, x-api-key) or an Oracle user (a
    // token Oracle issued, verified against the tenant's trusted certificates), and their
    // tenant.
    let principal = authenticate(app, compiled, view, input).await?;
    trace.principal = Some(principal.clone());
    let who = Who::of(&principal, view)?;
    let tenant_id = match (who.account, who.oracle_user) {
        (Some(a), _) => snapshot.tenant(&a.tenant).map(|(id, _)| id),
        (None, Some(u)) => u32::try_from(u.tenant).ok().map(TenantId),
        (None, None) => None,
    };
    let (tenant_id, tenant, runtime) = tenant_id
        .and_then(|id| compiled.tenant(id).map(|(t, rt)| (id, t, rt)))
        .ok_or(Deny::with_detail(
            Reason::PolicyDenied,
            "tenant_not_configured",
        ))?;
    trace.tenant = Some(tenant_id);

    // 3.–6. Which endpoint, may they (its headers too), is it open, is the kill switch off.
    let decision = authorize(snapshot, view, &who, tenant_id, &target, input, trace)?;
    let (queried, governed_headers, batch) = oracle_steps(
        snapshot,
        &who.subject(),
        tenant_id,
        tenant,
        &target,
        input.headers,
        &decision,
        trace,
    )?;

    // 7. Rate limits of every granting policy that sets one.
    if decision.limited != 0 {
        rate_limit(app, snapshot, view, &principal, &who, decision.limited)?;
    }

    // 8. Our upstream credential.
    let credential = upstream_credential(app, snapshot, view, tenant, runtime, &who, input).await?;
    let mut admission = Admission::new(tenant_id, credential, queried.redaction);
    admission.governed_headers = governed_headers;
    admission.batch = batch;
    Ok(admission)
}

/// Steps 4b and 6b, what Oracle's framework does beyond the path and method: the governed
/// headers, the batch media type, and the query (`governed.rs`). Synchronous, so none of its
/// working state is carried in the chain's future. Returns the query's decision, the governed
/// headers present (all granted) and whether the endpoint is a batch root.
#[allow(clippy::too_many_arguments)]
pub fn oracle_steps(
    snapshot: &Snapshot,
    subject: &Subject<'_>,
    tenant_id: TenantId,
    tenant: &Tenant,
    target: &CanonicalTarget<'_>,
    headers: &http::HeaderMap,
    decision: &GrantDecision,
    trace: &mut Trace,
) -> Result<(governed::QueryDecision, u8, bool), Deny> {
    let governed_headers = governed::governed_headers(headers, decision.headers, trace)?;
    let endpoint_id = trace.endpoint.ok_or(Deny::new(Reason::Internal))?;
    let batch = snapshot.catalog.endpoint(endpoint_id).batch;
    if !batch && is_batch_body(headers) {
        trace.refused = Some("batch media type".into());
        return Err(Deny::with_detail(
            Reason::PolicyDenied,
            "not_a_batch_endpoint",
        ));
    }
    // Children are looked up from the path's segments (at most `MAX_SEGMENTS`: the path
    // matched the catalog), kept on the stack.
    let mut buf = [""; crate::policy::catalog::MAX_SEGMENTS];
    let mut n = 0;
    if target.query().is_some_and(|q| !q.is_empty()) {
        for (slot, seg) in buf.iter_mut().zip(target.segments()) {
            *slot = seg;
            n += 1;
        }
    }
    let scope = governed::QueryScope {
        snapshot,
        subject,
        tenant_id,
        tenant,
        endpoint: endpoint_id,
        segments: buf.get(..n).unwrap_or(&[]),
        slots: decision.redact,
    };
    let own = snapshot.redaction.for_request(tenant_id, decision.redact);
    let queried = governed::query(&scope, target.query(), own, trace)?;
    trace.redact = queried.slots;
    Ok((queried, governed_headers, batch))
}

/// Whether the request says its body is an Oracle batch.
fn is_batch_body(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .any(|v| crate::oracle::batch::is_batch_media_type(v.as_bytes()))
}

/// Who is calling, as the steps after authentication see it.
pub(super) struct Who<'a> {
    /// The integration account (Basic, x-api-key, gateway token).
    pub(super) account: Option<&'a Account>,
    /// The verified Oracle user (an Oracle token).
    pub(super) oracle_user: Option<&'a OracleIdentity>,
}

impl<'a> Who<'a> {
    /// The grants' view of the caller.
    pub(super) fn subject(&self) -> Subject<'a> {
        Subject {
            account: self.account.map(|a| a.name.as_str()),
            oracle_user: self.oracle_user.map(|u| u.user.as_str()),
            roles: self.oracle_user.map_or(&[][..], |u| &u.roles[..]),
        }
    }

    pub(super) fn of(principal: &'a Principal, view: &'a DirectoryView) -> Result<Who<'a>, Deny> {
        Ok(match &principal.caller {
            Caller::Account { account, .. } => Who {
                account: Some(
                    view.account(*account)
                        .ok_or(Deny::new(Reason::AuthInvalid))?,
                ),
                oracle_user: None,
            },
            Caller::OracleUser(id) => Who {
                account: None,
                oracle_user: Some(&**id),
            },
        })
    }
}

/// Step 2: the presented credential, verified.
async fn authenticate(
    app: &App,
    compiled: &Compiled,
    view: &DirectoryView,
    input: &RequestInput<'_>,
) -> Result<Principal, Deny> {
    let snapshot = &compiled.snapshot;
    if super::browser::presents_session(input.headers) {
        return super::browser::authenticate(
            app,
            compiled,
            view,
            input.method,
            input.headers,
            !input.authorization.is_empty() || !input.api_key.is_empty(),
            input.now.timestamp(),
        );
    }
    let presented = presented::parse(input.authorization, input.api_key).map_err(presented_deny)?;
    let principal = match &presented {
        Presented::Bearer(token) if token.starts_with(TOKEN_PREFIX) => {
            app.auth.gateway_token(token, view, input.now.timestamp())?
        }
        Presented::Bearer(token) => {
            let p = app.auth.oracle_token(
                token,
                &compiled.inbound,
                snapshot.version,
                input.now.timestamp(),
            )?;
            super::browser::not_launched(app, view, token, input.now.timestamp())?;
            p
        }
        _ => {
            app.auth
                .authenticate(
                    &presented,
                    view,
                    input.client_ip,
                    snapshot.gateway.token_lockout,
                )
                .await?
        }
    };
    drop(presented);
    Ok(principal)
}

/// Steps 3–6: [`decide`], then the kill switch. Returns the grant decision (its rate-limit
/// slots are step 7's).
fn authorize(
    snapshot: &Snapshot,
    view: &DirectoryView,
    who: &Who<'_>,
    tenant_id: TenantId,
    target: &CanonicalTarget<'_>,
    input: &RequestInput<'_>,
    trace: &mut Trace,
) -> Result<GrantDecision, Deny> {
    let decision = decide(
        snapshot,
        &who.subject(),
        tenant_id,
        target,
        input.method,
        input.now,
        trace,
    )?;

    // 6. Kill switch.
    if view.killswitch() {
        return Err(Deny::new(Reason::KillSwitchOn));
    }
    Ok(decision)
}

/// Steps 3–5, what the configuration alone decides for an authenticated caller: which
/// endpoint, whether its method is served, whether a policy grants it to `subject`, and
/// whether the schedule is open at `now` (or the grant is exempt). The relay, `erpgate
/// explain` and `erpgate check --replay-audit` all decide with this one function.
pub fn decide(
    snapshot: &Snapshot,
    subject: &Subject<'_>,
    tenant_id: TenantId,
    target: &CanonicalTarget<'_>,
    method: &[u8],
    now: DateTime<Utc>,
    trace: &mut Trace,
) -> Result<GrantDecision, Deny> {
    // 3. Which endpoint.
    let endpoint_id = snapshot
        .catalog
        .match_path(target.segments())
        .ok_or(Deny::new(Reason::EndpointUnknown))?;
    trace.endpoint = Some(endpoint_id);
    let method = Method::from_bytes(method).ok_or(Deny::new(Reason::MethodNotAllowed))?;
    if !snapshot
        .catalog
        .endpoint(endpoint_id)
        .methods
        .contains(method)
    {
        return Err(Deny::new(Reason::MethodNotAllowed));
    }

    // 4. May they.
    let decision = snapshot
        .grants
        .check(subject, tenant_id, endpoint_id, method);
    let first = decision.first.ok_or(Deny::new(Reason::PolicyDenied))?;
    trace.grant = Some(first);
    trace.redact = decision.redact;

    // 5. Is it open.
    if !snapshot.schedule.is_open(now) {
        match decision.exempt {
            Some(exempt) => trace.grant = Some(exempt),
            None => return Err(Deny::new(Reason::ScheduleClosed)),
        }
    }
    Ok(decision)
}

/// Step 7: takes a token from the bucket of every granting policy in `slots` that sets a
/// rate limit.
pub(super) fn rate_limit(
    app: &App,
    snapshot: &Snapshot,
    view: &DirectoryView,
    principal: &Principal,
    who: &Who<'_>,
    slots: u128,
) -> Result<(), Deny> {
    // An Oracle user has no credential set or account: the user is both buckets' key.
    let user_key = who.oracle_user.map(|u| format!("user:{}", u.user));
    let credential_id = match (principal.credential(), &user_key) {
        (Some(c), _) => view.credential(c).map_or("", |c| c.id.as_str()),
        (None, Some(k)) => k.as_str(),
        (None, None) => "",
    };
    let account_key = who
        .account
        .map_or(user_key.as_deref().unwrap_or(""), |a| a.name.as_str());
    app.limiter
        .check(
            snapshot.version,
            &snapshot.rate_limits,
            slots,
            credential_id,
            account_key,
            std::time::Instant::now(),
        )
        .map_err(|secs| {
            let mut d = Deny::new(Reason::RateLimited);
            d.retry_after = Some(secs);
            d
        })
}

/// Step 8: the credential the gateway presents upstream for this caller.
async fn upstream_credential(
    app: &App,
    snapshot: &Snapshot,
    view: &DirectoryView,
    tenant: &Tenant,
    runtime: &TenantRuntime,
    who: &Who<'_>,
    input: &RequestInput<'_>,
) -> Result<UpstreamCredential, Deny> {
    match (&tenant.auth, who.account) {
        (UpstreamAuth::Jwt { username, .. }, _) => {
            // The user Oracle will see: the verified Oracle user, or the account's Oracle
            // user, or the tenant's default. Never anyone else.
            let user =
                match (who.oracle_user, who.account) {
                    (Some(u), _) => u.user.as_str(),
                    (None, Some(a)) => a.oracle_user.as_deref().or(username.as_deref()).ok_or(
                        Deny::with_detail(Reason::UpstreamCredentialMissing, "no_oracle_user"),
                    )?,
                    (None, None) => return Err(Deny::new(Reason::Internal)),
                };
            // Boxed, like the token fetch below: their states are kilobytes, and every
            // request's future (copied into place per request) would carry them otherwise.
            Box::pin(inject::assertion(
                &app.assertions,
                tenant,
                &runtime.cipher,
                view.tenant_key(&tenant.name),
                user,
                input.now.timestamp(),
            ))
            .await
        }
        (UpstreamAuth::Token { .. }, Some(account)) => {
            Box::pin(inject::upstream_token(
                super::token_refresh::token_source(app, runtime, &snapshot.gateway),
                tenant,
                account,
                |t, n| view.secret(t, n),
            ))
            .await
        }
        (_, Some(account)) => {
            inject::prepare(tenant, account, &runtime.cipher, |t, n| view.secret(t, n))
        }
        // Configuration validation ties Oracle user tokens to `jwt` mode.
        (_, None) => Err(Deny::with_detail(
            Reason::UpstreamCredentialMissing,
            "oracle_user_needs_jwt_mode",
        )),
    }
}

pub(crate) fn path_deny(r: PathRejection) -> Deny {
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
