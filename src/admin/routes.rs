//! The admin API's routes, declared once: path, method, the role it needs and its handler in
//! one row. Dispatch finds the path, then the method (405 with `Allow` otherwise), then checks
//! the caller's role, then parses the body and calls the handler.

use serde_json::Value;

use super::auth::{AdminIdentity, Role};
use super::common::{internal, parse_body};
use super::handlers as h;
use super::paging::PAGE;
use super::{AdminRequest, AdminState, Reply};

/// What a handler gets: the request, the authenticated caller, the path's `*` segments (in
/// order) and the body (a JSON object, or `Null` when empty).
pub(super) struct Call<'r> {
    /// The request.
    pub req: &'r AdminRequest,
    /// The caller, verified against the store for this request.
    pub who: &'r AdminIdentity,
    /// The path segments that matched `*`.
    pub params: Vec<&'r str>,
    /// The parsed body.
    pub body: Value,
}

impl Call<'_> {
    /// The `i`-th `*` segment of the path (empty if the route has fewer).
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).copied().unwrap_or("")
    }
}

/// A handler: open to anyone (health checks) or for an authenticated caller.
#[derive(Clone, Copy)]
enum Handler {
    /// No token needed.
    Open(fn(&AdminState) -> Reply),
    /// Needs a token of the row's role.
    Authed(fn(&AdminState, &Call<'_>) -> Reply),
}

/// One endpoint.
struct Route {
    method: &'static str,
    /// Segments separated by `/`; `*` matches any one segment.
    path: &'static str,
    handler: Handler,
    /// The least role that may call it (`None` for open handlers).
    role: Option<Role>,
    /// The query parameters it takes; any other (or one given twice) is a 400.
    query: &'static [&'static str],
}

/// `route` taking the query parameters `query`.
const fn taking(query: &'static [&'static str], route: Route) -> Route {
    Route { query, ..route }
}

/// The query parameters of `GET /audit`.
const AUDIT_QUERY: &[&str] = &[
    "since",
    "until",
    "actor",
    "request_id",
    "decision",
    "reason",
    "path_prefix",
    "node",
    "limit",
    "cursor",
];

const fn open(method: &'static str, path: &'static str, f: fn(&AdminState) -> Reply) -> Route {
    Route {
        method,
        path,
        handler: Handler::Open(f),
        role: None,
        query: &[],
    }
}

const fn authed(
    method: &'static str,
    path: &'static str,
    role: Role,
    f: fn(&AdminState, &Call<'_>) -> Reply,
) -> Route {
    Route {
        method,
        path,
        handler: Handler::Authed(f),
        role: Some(role),
        query: &[],
    }
}

/// Every admin endpoint. Methods of one path are listed in the order `Allow` names them.
const ROUTES: &[Route] = &[
    open("GET", "health", h::health),
    open("GET", "ready", h::ready),
    open("GET", "openapi.json", h::openapi),
    authed("GET", "status", Role::Auditor, h::status),
    taking(
        AUDIT_QUERY,
        authed("GET", "audit", Role::Auditor, h::audit_query),
    ),
    authed("GET", "audit/verify", Role::Auditor, h::audit_verify),
    authed("POST", "reload", Role::Admin, h::reload),
    authed("GET", "killswitch", Role::Auditor, h::killswitch_get),
    authed("PUT", "killswitch", Role::Admin, h::killswitch_put),
    taking(
        PAGE,
        authed("GET", "accounts", Role::Auditor, h::list_accounts),
    ),
    authed("POST", "accounts", Role::Admin, h::create_account),
    authed("GET", "accounts/*", Role::Auditor, h::get_account),
    authed(
        "POST",
        "accounts/*/suspend",
        Role::Admin,
        h::suspend_account,
    ),
    authed("POST", "accounts/*/resume", Role::Admin, h::resume_account),
    taking(
        &["account", "limit", "cursor"],
        authed("GET", "credentials", Role::Auditor, h::list_credentials),
    ),
    authed("POST", "credentials", Role::Admin, h::issue_credential),
    authed(
        "POST",
        "credentials/*/revoke",
        Role::Admin,
        h::revoke_credential,
    ),
    taking(PAGE, authed("GET", "tokens", Role::Auditor, h::list_tokens)),
    authed("POST", "tokens/*/revoke", Role::Admin, h::revoke_token),
    taking(
        PAGE,
        authed("GET", "admin-tokens", Role::Owner, h::list_admin_tokens),
    ),
    authed("POST", "admin-tokens", Role::Owner, h::create_admin_token),
    authed(
        "POST",
        "admin-tokens/*/revoke",
        Role::Owner,
        h::revoke_admin_token,
    ),
];

/// One route as the OpenAPI document describes it.
pub(super) struct RouteInfo {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The path pattern (`accounts/*/suspend`).
    pub path: &'static str,
    /// The least role (None: open).
    pub role: Option<Role>,
    /// The query parameters it takes.
    pub query: &'static [&'static str],
}

/// Every route, in table order.
pub(super) fn table() -> impl Iterator<Item = RouteInfo> {
    ROUTES.iter().map(|r| RouteInfo {
        method: r.method,
        path: r.path,
        role: r.role,
        query: r.query,
    })
}

/// The `*` segments of `segs` when it matches `pattern`.
fn matches<'s>(pattern: &str, segs: &[&'s str]) -> Option<Vec<&'s str>> {
    let parts: Vec<&str> = pattern.split('/').collect();
    if parts.len() != segs.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in parts.iter().zip(segs) {
        match *p {
            "*" => params.push(*s),
            lit if lit == *s => {}
            _ => return None,
        }
    }
    Some(params)
}

/// Dispatches a request: the route, then the method, then the caller's role.
pub fn route(st: &AdminState, req: &AdminRequest) -> Reply {
    let mut segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    // Every endpoint also answers under `/admin/` (`POST /admin/reload`), for operators who
    // route the admin listener behind a path prefix.
    if segs.len() > 1 && segs[0] == "admin" {
        segs.remove(0);
    }
    let for_path: Vec<(&Route, Vec<&str>)> = ROUTES
        .iter()
        .filter_map(|r| matches(r.path, &segs).map(|p| (r, p)))
        .collect();
    if for_path.is_empty() {
        return Reply::error(404, "admin.not_found", "No such admin endpoint.", None);
    }
    let method = req.method.as_str();
    let Some((route, params)) = for_path.iter().find(|(r, _)| r.method == method) else {
        let allow: Vec<&str> = for_path.iter().map(|(r, _)| r.method).collect();
        return Reply::method_not_allowed(allow.join(", "));
    };
    let who = match route.role {
        None => None,
        Some(role) => match authenticate(st, req, role) {
            Ok(w) => Some(w),
            Err(reply) => return reply,
        },
    };
    if let Err(reply) = known_query(route, req) {
        return reply;
    }
    let body = match parse_body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match (route.handler, &who) {
        (Handler::Open(f), _) => f(st),
        (Handler::Authed(f), Some(who)) => f(
            st,
            &Call {
                req,
                who,
                params: params.clone(),
                body,
            },
        ),
        (Handler::Authed(_), None) => internal("an authenticated route without a role"),
    }
}

/// Refuses a query parameter the route does not take, or one given twice: a misspelt filter
/// would otherwise be ignored and answer as if it matched everything (or nothing).
fn known_query(route: &Route, req: &AdminRequest) -> Result<(), Reply> {
    for (i, (k, _)) in req.query.iter().enumerate() {
        if !route.query.contains(&k.as_str()) {
            let takes = if route.query.is_empty() {
                "this endpoint takes none".to_string()
            } else {
                format!("this endpoint takes {}", route.query.join(", "))
            };
            return Err(Reply::bad(
                k,
                &format!("Unknown query parameter `{k}`: {takes}."),
            ));
        }
        if req.query[..i].iter().any(|(seen, _)| seen == k) {
            return Err(Reply::bad(
                k,
                &format!("Query parameter `{k}` is given twice."),
            ));
        }
    }
    Ok(())
}

/// The caller behind `Authorization`, if their token is valid and of at least `role`:
/// 401 without a valid token, 403 for a lower role.
fn authenticate(st: &AdminState, req: &AdminRequest, role: Role) -> Result<AdminIdentity, Reply> {
    let store = st.store()?;
    let found = req
        .authorization
        .as_ref()
        .and_then(|a| super::auth::verify(&store, &st.hasher, a.expose()));
    drop(store);
    match found {
        None => Err(Reply::error(
            401,
            "admin.unauthorized",
            "A valid admin token is required (Authorization: Bearer eat_…).",
            None,
        )),
        Some(w) if w.role < role => Err(Reply::error(
            403,
            "admin.forbidden",
            &format!("This needs the {} role.", role.as_str()),
            None,
        )),
        Some(w) => Ok(w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_declared_once_per_method_and_patterns_match_whole_paths() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in ROUTES.iter().skip(i + 1) {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} declared twice",
                    a.method,
                    a.path
                );
            }
            assert_eq!(matches!(a.handler, Handler::Open(_)), a.role.is_none());
        }
        assert_eq!(
            matches("accounts/*/suspend", &["accounts", "ops", "suspend"]),
            Some(vec!["ops"])
        );
        assert_eq!(matches("accounts/*/suspend", &["accounts", "ops"]), None);
        assert_eq!(matches("accounts", &["accounts", "x"]), None);
        assert_eq!(matches("audit/verify", &["audit", "verify"]), Some(vec![]));
        assert_eq!(matches("audit/verify", &["audit", "other"]), None);
    }
}
