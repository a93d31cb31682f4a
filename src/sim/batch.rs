//! Oracle's batch requests: a POST to an API's version root (`/fscmRestApi/resources/{v}`,
//! `/hcmRestApi/resources/{v}`) with `Content-Type: application/vnd.oracle.adf.batch+json`
//! and `{"parts":[{"id","path","operation","payload"?}]}`. Each part runs through the same
//! routing as a direct call, as the batch's (already authenticated) caller; the answer is 200
//! with every part's `status` and `payload` (its JSON body, or Oracle's error body).

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::routes::{self, error, json_response, request_header, Body, Req};
use super::Shared;

/// The batch media type.
pub(super) const BATCH: &str = "application/vnd.oracle.adf.batch+json";

/// The version root `path` names (`/fscmRestApi/resources/11.13.18.05`), if it names one.
fn root_of(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        ["fscmRestApi" | "hcmRestApi", "resources", v] if routes::version_ok(v) => Some(trimmed),
        _ => None,
    }
}

/// Whether the request is routed as a POST to a version root (a batch).
pub(super) fn is_batch_root(r: &Req<'_>) -> bool {
    root_of(r.path).is_some() && routes::effective_method(r) == Method::POST
}

fn not_a_batch(detail: &str) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, detail, "SIM-BAD-BATCH")
}

/// One part of a batch, as asked.
struct Part {
    id: Value,
    path: String,
    operation: String,
    method: Method,
    payload: Option<Value>,
}

/// The parts of a batch body, or why it is not one.
fn parts_of(body: &[u8]) -> Result<Vec<Part>, &'static str> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "The batch body is not JSON")?;
    let parts = v
        .get("parts")
        .and_then(Value::as_array)
        .ok_or("The batch body has no parts array")?;
    parts
        .iter()
        .map(|p| {
            let path = p.get("path").and_then(Value::as_str).unwrap_or("");
            if !path.starts_with('/') {
                return Err("A batch part needs a path relative to the version root");
            }
            let operation = p.get("operation").and_then(Value::as_str).unwrap_or("");
            let method = match operation {
                "get" => Method::GET,
                "create" | "upsert" => Method::POST,
                "update" => Method::PATCH,
                "replace" => Method::PUT,
                "delete" => Method::DELETE,
                _ => return Err("A batch part has an unknown operation"),
            };
            Ok(Part {
                id: p.get("id").cloned().unwrap_or(Value::Null),
                path: path.to_string(),
                operation: operation.to_string(),
                method,
                payload: p.get("payload").cloned(),
            })
        })
        .collect()
}

/// Answers a batch: runs every part in order and gathers their answers.
pub(super) async fn run(shared: &Shared, r: &Req<'_>) -> Response<Body> {
    let Some(root) = root_of(r.path) else {
        return not_a_batch("Not a batch resource");
    };
    let ctype = request_header(r, http::header::CONTENT_TYPE).unwrap_or_default();
    if !ctype.to_ascii_lowercase().starts_with(BATCH) {
        return not_a_batch("The request is not a batch request");
    }
    let parts = match parts_of(&r.body) {
        Ok(p) => p,
        Err(e) => return not_a_batch(e),
    };
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let (status, payload) = run_part(shared, r, root, &part).await;
        let mut answer = json!({"id": part.id, "path": part.path, "operation": part.operation});
        if let Some(p) = payload {
            answer["payload"] = p;
        }
        answer["status"] = json!(status);
        out.push(answer);
    }
    json_response(StatusCode::OK, BATCH, &json!({ "parts": out }))
}

/// One part through the ordinary routing: its status and JSON body (None when empty).
async fn run_part(shared: &Shared, r: &Req<'_>, root: &str, part: &Part) -> (u16, Option<Value>) {
    let full = format!("{root}{}", part.path);
    let (path, query) = match full.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (full.as_str(), None),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if part.operation == "upsert" {
        headers.insert("upsert-mode", HeaderValue::from_static("true"));
    }
    let body = part
        .payload
        .as_ref()
        .map(|p| bytes::Bytes::from(p.to_string()))
        .unwrap_or_default();
    let req = Req {
        method: &part.method,
        path,
        query,
        headers: &headers,
        body,
        host: r.host.clone(),
    };
    let resp = routes::oracle(&req, shared);
    let status = resp.status().as_u16();
    let bytes = match resp.into_body().collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    (status, serde_json::from_slice(&bytes).ok())
}
