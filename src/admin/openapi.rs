//! The admin API's OpenAPI 3.0 document, generated from the route table
//! ([`super::routes`]): every path, method, required role and query parameter comes from the
//! table the dispatcher uses, so the document cannot list a route that does not exist or miss
//! one that does. What the table does not know (a summary, the body and answer shapes) is
//! written here, per route; a route without a description here fails the document's test.
//! Served at `GET /openapi.json`; committed as `docs/admin-openapi.json` (`tests/openapi.rs`
//! checks the two are the same).

use serde_json::{json, Map, Value};

use super::routes::{table, RouteInfo};

/// What the route table does not say about a route.
struct Doc {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    /// The names of the path's `*` segments, in order.
    params: &'static [&'static str],
    /// The request body's schema (a `components.schemas` name).
    body: Option<&'static str>,
    /// The success status and its schema.
    ok: (u16, &'static str),
}

const fn doc(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    ok: (u16, &'static str),
) -> Doc {
    Doc {
        method,
        path,
        summary,
        params: &[],
        body: None,
        ok,
    }
}

const DOCS: &[Doc] = &[
    doc("GET", "health", "Liveness: the listener answers.", (200, "Health")),
    doc("GET", "ready", "Readiness: the audit trail can take records (503 otherwise).", (200, "Ready")),
    doc("GET", "openapi.json", "This document.", (200, "OpenApi")),
    doc("GET", "status", "Version, configuration snapshot, kill switch, audit queue and the nodes on the store.", (200, "Status")),
    doc("GET", "audit", "Audit records matching the filters, newest `limit` in time order; `next_cursor` pages to older ones.", (200, "AuditPage")),
    doc("GET", "audit/verify", "Walk every node's hash chain and name the first broken record.", (200, "AuditVerify")),
    doc("POST", "reload", "Re-read and swap the configuration, or answer 400 `admin.config_invalid` with every problem.", (200, "Reloaded")),
    doc("GET", "killswitch", "The kill switch.", (200, "Killswitch")),
    Doc { body: Some("KillswitchChange"), ..doc("PUT", "killswitch", "Turn the kill switch on or off (audited).", (200, "KillswitchChanged")) },
    doc("GET", "accounts", "Accounts by name, a page at a time.", (200, "AccountPage")),
    Doc { body: Some("NewAccount"), ..doc("POST", "accounts", "Create an account; binding `oracle_user` or `upstream_secret` needs the owner role.", (201, "Account")) },
    Doc { params: &["name"], ..doc("GET", "accounts/*", "One account.", (200, "Account")) },
    Doc { params: &["name"], ..doc("POST", "accounts/*/suspend", "Suspend an account: its credentials are refused on the next request.", (200, "Account")) },
    Doc { params: &["name"], ..doc("POST", "accounts/*/resume", "Resume a suspended account.", (200, "Account")) },
    doc("GET", "credentials", "Credential sets by id (never a secret), a page at a time; `account` filters.", (200, "CredentialPage")),
    Doc { body: Some("NewCredential"), ..doc("POST", "credentials", "Issue a credential set for an account: username, password and x-api-key, shown once.", (201, "IssuedCredential")) },
    Doc { params: &["id"], ..doc("POST", "credentials/*/revoke", "Revoke a credential set.", (200, "Revoked")) },
    doc("GET", "tokens", "Gateway tokens by id (never the tokens), a page at a time.", (200, "TokenPage")),
    Doc { params: &["id"], ..doc("POST", "tokens/*/revoke", "Revoke a gateway token (`egt_<id>`).", (200, "TokenRevoked")) },
    doc("GET", "admin-tokens", "Admin tokens by id (never the tokens), a page at a time.", (200, "AdminTokenPage")),
    Doc { body: Some("NewAdminToken"), ..doc("POST", "admin-tokens", "Create an admin token of a role no higher than the caller's, shown once.", (201, "IssuedAdminToken")) },
    Doc { params: &["id"], ..doc("POST", "admin-tokens/*/revoke", "Revoke an admin token (`eat_<id>`).", (200, "TokenRevoked")) },
];

/// The query parameters the routes take, described once.
fn query_param(name: &str) -> Value {
    let (description, schema) = match name {
        "limit" => (
            "Items per page (1-1000, default 100; the audit trail: 1-10000).",
            json!({"type": "integer", "minimum": 1}),
        ),
        "cursor" => (
            "The `next_cursor` of the page before (opaque).",
            json!({"type": "string"}),
        ),
        "account" => (
            "Only this account's credential sets.",
            json!({"type": "string"}),
        ),
        "since" => (
            "From this time (RFC 3339, inclusive).",
            json!({"type": "string", "format": "date-time"}),
        ),
        "until" => (
            "Until this time (RFC 3339, exclusive).",
            json!({"type": "string", "format": "date-time"}),
        ),
        "actor" => ("Only records by this actor.", json!({"type": "string"})),
        "request_id" => ("One request's records.", json!({"type": "string"})),
        "decision" => (
            "relayed, denied, failed, ok or preflight (anything else is a 400).",
            json!({"type": "string", "enum": crate::audit::query::DECISIONS}),
        ),
        "reason" => (
            "A reason code (an unknown one is a 400).",
            json!({"type": "string"}),
        ),
        "path_prefix" => (
            "Records whose path starts with this.",
            json!({"type": "string"}),
        ),
        "node" => (
            "Only this gateway's chain (`gateway.node_id`).",
            json!({"type": "string"}),
        ),
        _ => ("", json!({"type": "string"})),
    };
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn answer(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": reference(schema)}}})
}

fn operation(r: &RouteInfo, d: &Doc) -> Value {
    let mut params: Vec<Value> = d
        .params
        .iter()
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    params.extend(r.query.iter().map(|q| query_param(q)));
    let mut responses = Map::new();
    responses.insert(d.ok.0.to_string(), answer("Success.", d.ok.1));
    let mut op = json!({
        "operationId": format!("{} {}", r.method.to_ascii_lowercase(), r.path.replace('*', "{}")),
        "summary": d.summary,
    });
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(body) = d.body {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": reference(body)}}});
    }
    match r.role {
        Some(role) => {
            op["security"] = json!([{"adminToken": []}]);
            op["x-erpgate-role"] = json!(role.as_str());
            op["description"] = json!(format!(
                "Needs an admin token of role `{}` or above (auditor < admin < owner).",
                role.as_str()
            ));
            responses.insert("401".into(), answer("No valid admin token.", "Error"));
            responses.insert(
                "403".into(),
                answer("The token's role is too low.", "Error"),
            );
        }
        None => op["security"] = json!([]),
    }
    responses.insert(
        "default".into(),
        answer("Any other refusal, in the one error shape.", "Error"),
    );
    op["responses"] = Value::Object(responses);
    op
}

/// The OpenAPI path of a route pattern: `accounts/*/suspend` with `["name"]` →
/// `/accounts/{name}/suspend`.
fn path_of(pattern: &str, names: &[&str]) -> String {
    let mut names = names.iter();
    let segs: Vec<String> = pattern
        .split('/')
        .map(|s| match s {
            "*" => format!("{{{}}}", names.next().copied().unwrap_or("param")),
            lit => lit.to_string(),
        })
        .collect();
    format!("/{}", segs.join("/"))
}

/// Routes of the table that have no description here (the document's test asserts none).
pub fn undocumented() -> Vec<String> {
    table()
        .filter(|r| {
            !DOCS
                .iter()
                .any(|d| d.method == r.method && d.path == r.path)
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in table() {
        let Some(d) = DOCS
            .iter()
            .find(|d| d.method == r.method && d.path == r.path)
        else {
            continue;
        };
        let entry = paths
            .entry(path_of(r.path, d.params))
            .or_insert_with(|| json!({}));
        entry[r.method.to_ascii_lowercase()] = operation(&r, d);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "erpgate admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operator's API of erpgate, on the admin listener (`gateway.admin_listen`). Every route also answers under `/admin/`. Every change is audited with the admin identity. Errors have one shape: `{\"error\": {\"code\", \"message\", \"field\"?}}`. Lists page with `limit` and `cursor`; an unknown query parameter, or one given twice, is a 400."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "An admin token (`eat_…`) from `erpgate admin-token create` or `POST /admin-tokens`."}
            },
            "schemas": super::openapi_schemas::schemas(),
        },
    })
}

/// The document as committed: pretty JSON and a final newline.
pub fn render() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_and_every_description_is_a_route() {
        assert_eq!(undocumented(), Vec::<String>::new());
        for d in DOCS {
            assert!(
                table().any(|r| r.method == d.method && r.path == d.path),
                "{} {} is described but not routed",
                d.method,
                d.path
            );
            assert_eq!(
                d.params.len(),
                d.path.matches('*').count(),
                "{} {}: one name per `*`",
                d.method,
                d.path
            );
        }
    }

    #[test]
    fn every_schema_referenced_exists() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
        assert_eq!(
            path_of("accounts/*/suspend", &["name"]),
            "/accounts/{name}/suspend"
        );
    }
}
