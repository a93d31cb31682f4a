//! Routing and handlers of the simulated Oracle.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use serde_json::{json, Value};

use super::collections::{self, etag_of};
use super::{data, expand, write, Shared, State};

/// Response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// Media type of an Oracle collection.
pub(super) const COLLECTION: &str = "application/vnd.oracle.adf.resourcecollection+json";
pub(super) const ITEM: &str = "application/vnd.oracle.adf.resourceitem+json";
const DESCRIPTION: &str = "application/vnd.oracle.adf.description+json";
const ERROR: &str = "application/vnd.oracle.adf.error+json";

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// A response with `status`, an optional `Content-Type` and `body`.
pub(super) fn respond(status: StatusCode, ctype: Option<&str>, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Some(c) = ctype {
        if let Ok(v) = c.parse() {
            h.insert(http::header::CONTENT_TYPE, v);
        }
    }
    r
}

/// A response with `status`, `ctype` and `v` as its body.
pub fn json_response(status: StatusCode, ctype: &str, v: &Value) -> Response<Body> {
    respond(status, Some(ctype), full(v.to_string()))
}

/// An Oracle-style error body.
pub fn error(status: StatusCode, detail: &str, code: &str) -> Response<Body> {
    let v = json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16().to_string(),
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    });
    json_response(status, ERROR, &v)
}

/// Oracle's 401: an HTML body and a Basic challenge.
pub fn unauthorized() -> Response<Body> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        Some("text/html; charset=UTF-8"),
        full("<html><head><title>Error 401--Unauthorized</title></head><body>Unauthorized</body></html>"),
    );
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"Oracle Fusion\""),
    );
    r
}

fn method_not_allowed(allow: &str) -> Response<Body> {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this resource",
        "SIM-405",
    );
    if let Ok(v) = allow.parse() {
        r.headers_mut().insert(http::header::ALLOW, v);
    }
    r
}

/// The request as the router sees it.
pub struct Req<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub host: String,
}

pub(super) fn version_ok(v: &str) -> bool {
    v == "latest" || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Oracle's 404 for a resource it does not have.
fn not_found() -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        "The requested resource was not found",
        "SIM-404",
    )
}

/// Oracle's 400 for a body that is not a JSON object.
pub(super) fn bad_body() -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "The request body is not a valid JSON object",
        "SIM-BAD-BODY",
    )
}

/// Headers some Oracle front ends read to turn a POST into another method.
const OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The method the request is routed as: a POST's method-override header when it names GET,
/// HEAD, PATCH, PUT or DELETE (any case), else the method received.
pub fn effective_method(req: &Req<'_>) -> Method {
    if *req.method != Method::POST {
        return req.method.clone();
    }
    OVERRIDES
        .iter()
        .filter_map(|h| req.headers.get(*h)?.to_str().ok())
        .find_map(|v| match v.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(Method::GET),
            "HEAD" => Some(Method::HEAD),
            "PATCH" => Some(Method::PATCH),
            "PUT" => Some(Method::PUT),
            "DELETE" => Some(Method::DELETE),
            _ => None,
        })
        .unwrap_or(Method::POST)
}

/// Oracle REST resources (authenticated by the caller of this function), routed by the
/// [`effective_method`].
pub fn oracle(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let method = effective_method(req);
    let r = Req {
        method: &method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body.clone(),
        host: req.host.clone(),
    };
    resources(&r, shared)
}

/// Oracle REST resources, by the request's method as given.
fn resources(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (api, version, rest) = match segs.as_slice() {
        [api @ ("fscmRestApi" | "hcmRestApi"), "resources", v, rest @ ..] if version_ok(v) => {
            (*api, *v, rest)
        }
        _ => return not_found(),
    };
    let base = format!("http://{}/{api}/resources/{version}", req.host);
    let query = match collections::parse(req.query) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY"),
    };
    let mut state = match shared.state.lock() {
        Ok(s) => s,
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "state poisoned",
                "SIM-500",
            )
        }
    };
    let Some(resource) = resource_of(&mut state, api, rest.first().copied()) else {
        return not_found();
    };
    let coll_base = format!("{base}/{}", resource.name);
    if rest.len() <= 2 {
        if let Err(e) = collections::validate(&resource.items, resource.name, &query) {
            return error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY");
        }
    }
    match rest {
        [_] => collection(req, resource, &query, &coll_base),
        [_, "describe"] => describe(req, resource, &coll_base),
        [_, id] => item(req, resource, id, &query, &coll_base),
        [_, id, "child", child] => child_collection(resource, id, child, &query, &coll_base),
        _ => not_found(),
    }
}

/// The resource named by the API and the first path segment after the version.
fn resource_of<'s>(
    state: &'s mut State,
    api: &str,
    name: Option<&str>,
) -> Option<&'s mut data::Resource> {
    match (api, name) {
        ("fscmRestApi", Some("invoices")) => Some(&mut state.invoices),
        ("fscmRestApi", Some("suppliers")) => Some(&mut state.suppliers),
        ("fscmRestApi", Some("externalBankAccounts")) => Some(&mut state.bank_accounts),
        ("hcmRestApi", Some("workers")) => Some(&mut state.workers),
        ("hcmRestApi", Some("salaries")) => Some(&mut state.salaries),
        _ => None,
    }
}

/// A collection: GET/HEAD a page of it, POST a new invoice.
fn collection(
    req: &Req<'_>,
    resource: &mut data::Resource,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    match *req.method {
        Method::GET | Method::HEAD => {
            match collections::page(&resource.items, key, query, coll_base, name) {
                Ok(v) => head_aware(req, json_response(StatusCode::OK, COLLECTION, &v), &v),
                Err(e) => error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY"),
            }
        }
        Method::POST if name == "invoices" && upsert_mode(req) => {
            write::upsert_invoice(req, resource, query, coll_base)
        }
        Method::POST if name == "invoices" => {
            write::create_invoice(req, resource, query, coll_base)
        }
        _ => method_not_allowed(if name == "invoices" {
            "GET, HEAD, POST"
        } else {
            "GET, HEAD"
        }),
    }
}

/// Whether the request carries `Upsert-Mode: true`.
fn upsert_mode(req: &Req<'_>) -> bool {
    request_header(req, http::HeaderName::from_static("upsert-mode"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `{collection}/describe`: the attributes of the first item, all as updatable strings.
fn describe(req: &Req<'_>, resource: &data::Resource, coll_base: &str) -> Response<Body> {
    if *req.method != Method::GET {
        return method_not_allowed("GET");
    }
    let name = resource.name;
    let attrs: Vec<Value> = resource
        .items
        .first()
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .map(|k| json!({"name": k, "type": "string", "updatable": true}))
                .collect()
        })
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        DESCRIPTION,
        &json!({"Resources": {name: {"attributes": attrs, "links": [{"rel": "self", "href": format!("{coll_base}/describe")}]}}}),
    )
}

/// `{collection}/{id}/child/{child}`: a page of an item's child collection.
fn child_collection(
    resource: &data::Resource,
    id: &str,
    child: &str,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    let Some(parent) = find(&resource.items, key, id) else {
        return not_found();
    };
    let Some(items) = expand::child_items(name, child, parent, key) else {
        return not_found();
    };
    match collections::page(
        &items,
        expand::child_key(child),
        query,
        &format!("{coll_base}/{id}/child/{child}"),
        child,
    ) {
        Ok(v) => json_response(StatusCode::OK, COLLECTION, &v),
        Err(e) => error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY"),
    }
}

/// A HEAD answer like Oracle's: the GET's headers, `Content-Length` included, no body.
fn head_aware(req: &Req<'_>, mut r: Response<Body>, v: &Value) -> Response<Body> {
    if *req.method == Method::HEAD {
        let len = v.to_string().len();
        *r.body_mut() = full(Bytes::new());
        if let Ok(v) = len.to_string().parse() {
            r.headers_mut().insert(http::header::CONTENT_LENGTH, v);
        }
    }
    r
}

/// Whether `item`'s `key` field, as text, is `id`.
fn has_id(item: &Value, key: &str, id: &str) -> bool {
    item.get(key)
        .is_some_and(|v| v.to_string().trim_matches('"') == id)
}

fn find<'v>(items: &'v [Value], key: &str, id: &str) -> Option<&'v Value> {
    items.iter().find(|i| has_id(i, key, id))
}

/// The request header `name` as text, if present and visible ASCII.
pub(super) fn request_header(req: &Req<'_>, name: http::HeaderName) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `r` with an `ETag` of `tag`.
pub(super) fn with_etag(mut r: Response<Body>, tag: &str) -> Response<Body> {
    if let Ok(v) = tag.parse() {
        r.headers_mut().insert(http::header::ETAG, v);
    }
    r
}

/// `{collection}/{id}`: one item, by HTTP method.
fn item(
    req: &Req<'_>,
    resource: &mut data::Resource,
    id: &str,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    let Some(pos) = resource.items.iter().position(|i| has_id(i, key, id)) else {
        return not_found();
    };
    let etag = format!("\"{}\"", etag_of(&resource.items[pos]));
    match *req.method {
        Method::GET | Method::HEAD => get_item(req, resource, pos, &etag, query, coll_base),
        Method::PATCH if name == "externalBankAccounts" => {
            write::refuse_bank_patch(&resource.items[pos])
        }
        Method::PATCH if name == "invoices" => {
            write::patch_invoice(req, resource, pos, &etag, query, coll_base)
        }
        Method::DELETE if name == "invoices" => {
            resource.items.remove(pos);
            respond(StatusCode::NO_CONTENT, None, full(Bytes::new()))
        }
        _ => method_not_allowed(match name {
            "invoices" => "GET, HEAD, PATCH, DELETE",
            "externalBankAccounts" => "GET, HEAD, PATCH",
            _ => "GET, HEAD",
        }),
    }
}

/// GET/HEAD of an item: 304 when `If-None-Match` names its ETag, else the item.
fn get_item(
    req: &Req<'_>,
    resource: &data::Resource,
    pos: usize,
    etag: &str,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    if request_header(req, http::header::IF_NONE_MATCH).as_deref() == Some(etag) {
        return with_etag(
            respond(StatusCode::NOT_MODIFIED, None, full(Bytes::new())),
            etag,
        );
    }
    let item = &resource.items[pos];
    let v = collections::item_view(item, resource.key, query, coll_base, resource.name);
    with_etag(
        head_aware(req, json_response(StatusCode::OK, ITEM, &v), &v),
        etag,
    )
}
