//! The Oracle user's viewer, served by the gateway under the tenant's launch path: a page
//! with one script and one stylesheet (no inline code: the CSP forbids it), the session's
//! user and what they may read (`LAUNCH/session`, JSON), and `LAUNCH/end` to end the
//! session. The page fetches collections through the relay itself, with the session cookie,
//! and renders them in the tab's memory only: nothing goes to the browser's storage, and the
//! gateway keeps nothing of Oracle's answers (`Cache-Control: no-store` on every answer).
//!
//! Reason codes: those of [`super::browser`] (`auth.invalid`, `auth.expired`,
//! `session.csrf`), `method.not_allowed`, `gateway.internal`.

use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::json;

use super::launch::{refuse, send, Route};
use crate::app::App;
use crate::gateway::context::{Decision, RequestCtx};
use crate::gateway::deny::{Deny, Reason};
use crate::html::esc;
use crate::policy::{EndpointId, Method, Subject};
use crate::snapshot::{Snapshot, TenantId};

const SCRIPT: &str = include_str!("viewer.js");
const STYLE: &str = include_str!("viewer.css");

/// The API version the viewer's collection paths name (Oracle serves `latest` everywhere).
const VERSION: &str = "latest";

/// Answers the viewer's routes (every one but the launch itself). Always sends a response.
pub async fn handle(
    app: &App,
    session: &mut Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
    route: Route,
) -> pingora::Result<()> {
    let method = session.req_header().method.clone();
    let wanted = if route == Route::End {
        http::Method::POST
    } else {
        http::Method::GET
    };
    if method != wanted {
        ctx.decided = Some(std::time::Instant::now());
        return refuse(session, ctx, tenant, Deny::new(Reason::MethodNotAllowed)).await;
    }
    let launch_path = ctx
        .compiled
        .snapshot
        .tenants
        .get(tenant.0 as usize)
        .and_then(|t| t.page_integration.as_ref())
        .map(|p| p.launch_path.clone())
        .unwrap_or_default();
    match route {
        Route::Script | Route::Style | Route::Viewer => {
            ctx.decided = Some(std::time::Instant::now());
            ctx.decision = Decision::Served;
            let (ty, body, extra) = match route {
                Route::Script => ("text/javascript; charset=utf-8", SCRIPT.to_string(), vec![]),
                Route::Style => ("text/css; charset=utf-8", STYLE.to_string(), vec![]),
                // Same-origin: the page's own requests then carry a real `Origin` (with
                // `no-referrer` a browser sends `Origin: null` on a POST).
                _ => (
                    "text/html; charset=utf-8",
                    page(&launch_path),
                    vec![("referrer-policy", "same-origin".to_string())],
                ),
            };
            send(session, ctx, 200, ty, Bytes::from(body), &extra).await
        }
        Route::SessionInfo | Route::End => {
            let result = in_session(app, session, ctx, tenant, route).await;
            ctx.decided = Some(std::time::Instant::now());
            match result {
                Ok((body, extra)) => {
                    ctx.decision = Decision::Served;
                    send(
                        session,
                        ctx,
                        200,
                        "application/json",
                        Bytes::from(body),
                        &extra,
                    )
                    .await
                }
                Err(deny) => {
                    ctx.decision = Decision::Denied(deny);
                    super::respond::write(session, ctx, deny).await
                }
            }
        }
        Route::Launch => Err(pingora::Error::explain(
            pingora::ErrorType::InternalError,
            "a launch is not a viewer route",
        )),
    }
}

/// `LAUNCH/session` and `LAUNCH/end`, for the request's session on `tenant`.
async fn in_session(
    app: &App,
    session: &Session,
    ctx: &mut RequestCtx,
    tenant: TenantId,
    route: Route,
) -> Result<(String, Vec<(&'static str, String)>), Deny> {
    let compiled = ctx.compiled.clone();
    let view = ctx.view.clone();
    let req = session.req_header();
    let now = chrono::Utc::now().timestamp();
    let found = super::browser::find(app, &compiled, &view, &req.headers, now)?;
    if found.tenant_id != tenant {
        return Err(Deny::with_detail(
            Reason::AuthInvalid,
            "session_other_tenant",
        ));
    }
    super::browser::check_origin(req.method.as_str().as_bytes(), &req.headers, found.page)?;
    ctx.trace.principal = Some(found.principal());
    if route == Route::End {
        let hash = found.hash;
        app.store_write(move |s| s.end_browser_session(&hash, now))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot end a browser session");
                Deny::with_detail(Reason::Internal, "session_store_failed")
            })?;
        app.browser.ended(&found.session, now);
        return Ok((
            json!({"ended": true}).to_string(),
            vec![("set-cookie", crate::session::browser::clear_cookie())],
        ));
    }
    let subject = Subject {
        account: None,
        oracle_user: Some(&found.session.oracle_user),
        roles: &found.session.roles,
    };
    let body = json!({
        "user": found.session.oracle_user,
        "tenant": found.session.tenant,
        "expires_at": found.session.expires_at,
        "collections": collections(&compiled.snapshot, &subject, tenant),
    });
    Ok((body.to_string(), Vec::new()))
}

/// The collections `subject` may read on `tenant`: catalog endpoints granted for GET whose
/// only parameter is the API version, with that filled in.
pub fn collections(
    snapshot: &Snapshot,
    subject: &Subject<'_>,
    tenant: TenantId,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for i in 0..snapshot.catalog.len() {
        let id = EndpointId(i as u32);
        let e = snapshot.catalog.endpoint(id);
        let params: Vec<&str> = e
            .template
            .split('/')
            .filter(|s| s.starts_with('{'))
            .collect();
        let collection = params == ["{version}"]
            && !e.template.ends_with("/describe")
            && e.methods.contains(Method::Get)
            && !e.batch;
        if !collection
            || snapshot
                .grants
                .check(subject, tenant, id, Method::Get)
                .first
                .is_none()
        {
            continue;
        }
        out.push(json!({
            "name": e.name,
            "path": e.template.replace("{version}", VERSION),
        }));
    }
    out
}

/// The viewer page for the launch path `launch`.
fn page(launch: &str) -> String {
    let l = esc(launch);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>erpgate viewer</title>
<link rel="stylesheet" href="{l}/viewer.css">
<script src="{l}/viewer.js" defer></script>
</head>
<body data-launch="{l}">
<header>
<h1>Oracle data through erpgate</h1>
<p id="who" role="status">Opening your session…</p>
<button type="button" id="end" hidden>End session</button>
</header>
<main>
<nav aria-label="What you may read"><h2>What you may read</h2><ul id="collections"></ul></nav>
<section aria-live="polite">
<h2 id="title">Choose a collection</h2>
<p id="status"></p>
<div class="table-wrap"><table id="rows"></table></div>
<div class="paging">
<button type="button" id="prev" disabled>Previous</button>
<span id="range"></span>
<button type="button" id="next" disabled>Next</button>
</div>
</section>
</main>
<footer><p>Shown in this tab only: nothing is kept by your browser or by the gateway. Close the tab, or end the session, when you are done.</p></footer>
</body>
</html>
"#
    )
}

/// The page a refused launch or viewer request shows.
pub fn error_page(style: &str, reason: Reason, request_id: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Not signed in · erpgate</title>
<link rel="stylesheet" href="{style}">
</head>
<body>
<main class="refusal">
<h1>You are not signed in</h1>
<p>{message}</p>
<p class="small">Reason <code>{code}</code> · request <code>{id}</code></p>
</main>
</body>
</html>
"#,
        style = esc(style),
        message = esc(reason.message()),
        code = esc(reason.code()),
        id = esc(request_id)
    )
}
