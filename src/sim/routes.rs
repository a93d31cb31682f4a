//! Routing and handlers of the simulated Oracle.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use serde_json::{json, Value};

use super::collections::{self, etag_of};
use super::{data, Shared};

/// Response body type.
pub type Body = BoxBody<Bytes, Infallible>;

const COLLECTION: &str = "application/vnd.oracle.adf.resourcecollection+json";
const ITEM: &str = "application/vnd.oracle.adf.resourceitem+json";
const DESCRIPTION: &str = "application/vnd.oracle.adf.description+json";
const ERROR: &str = "application/vnd.oracle.adf.error+json";

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

fn respond(status: StatusCode, ctype: Option<&str>, body: Body) -> Response<Body> {
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

/// Diagnostics under `/__sim/` (no authentication).
pub async fn diagnostics(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let rest = req.path.trim_start_matches("/__sim/");
    let param = |name: &str| {
        req.query.unwrap_or("").split('&').find_map(|p| {
            p.split_once('=')
                .filter(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
    };
    if rest == "echo" || rest.starts_with("echo/") {
        let secret_headers = [
            "authorization",
            "proxy-authorization",
            "x-api-key",
            shared.config.api_key_header.as_str(),
        ];
        let headers: Vec<Value> = req
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if secret_headers.contains(&k.as_str()) {
                    "<redacted>".to_string()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                };
                json!([k.as_str(), shown])
            })
            .collect();
        let target = match req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.to_string(),
        };
        return json_response(
            StatusCode::OK,
            "application/json",
            &json!({"method": req.method.as_str(), "target": target, "headers": headers, "body_len": req.body.len()}),
        );
    }
    if rest == "tokens/revoke" {
        shared.config.relay_tokens.revoke_all();
        return json_response(
            StatusCode::OK,
            "application/json",
            &json!({"revoked": true}),
        );
    }
    if rest == "slow" {
        tokio::time::sleep(Duration::from_millis(
            param("ms").unwrap_or(1000).min(60_000),
        ))
        .await;
        return json_response(StatusCode::OK, "application/json", &json!({"slept": true}));
    }
    if rest == "big" || rest == "broken" {
        let n = param("items").unwrap_or(1000) as usize;
        let mut body = BigBody::new(n, req.host.clone());
        body.broken = rest == "broken";
        let mut r = respond(StatusCode::OK, Some(COLLECTION), body.boxed());
        r.headers_mut().remove(http::header::CONTENT_LENGTH);
        return r;
    }
    if rest == "gzip" {
        // Claims gzip (the bytes are a real gzip member of `{}`): a body the gateway cannot
        // redact without decoding.
        let mut r = json_response(StatusCode::OK, COLLECTION, &json!({}));
        *r.body_mut() = Full::new(Bytes::from_static(&[
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3, 0xab, 0xae, 5, 0, 0x43, 0xbf, 0xa6, 0xa3, 2, 0, 0,
            0,
        ]))
        .boxed();
        r.headers_mut().insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
        r.headers_mut().remove(http::header::CONTENT_LENGTH);
        return r;
    }
    if rest == "html" {
        return respond(
            StatusCode::OK,
            Some("text/html; charset=UTF-8"),
            Full::new(Bytes::from_static(
                b"<html><body>BankAccountNumber 400000000001</body></html>",
            ))
            .boxed(),
        );
    }
    if let Some(code) = rest
        .strip_prefix("status/")
        .and_then(|c| c.parse::<u16>().ok())
    {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = error(status, "Simulated status", "SIM-STATUS");
        if status == StatusCode::UNAUTHORIZED {
            // Oracle's challenge names the user whose credential it refused.
            let user = shared
                .config
                .basic_users
                .first()
                .map_or("FIN_INTEGRATION", |(u, _)| u.as_str());
            if let Ok(v) = format!("Basic realm=\"{user}\"").parse() {
                r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
            }
        }
        return r;
    }
    error(
        StatusCode::NOT_FOUND,
        "No such diagnostics endpoint",
        "SIM-404",
    )
}

fn version_ok(v: &str) -> bool {
    v == "latest" || (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Oracle REST resources (authenticated by the caller of this function).
pub fn oracle(req: &Req<'_>, shared: &Shared) -> Response<Body> {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let (api, version, rest) = match segs.as_slice() {
        [api @ ("fscmRestApi" | "hcmRestApi"), "resources", v, rest @ ..] if version_ok(v) => {
            (*api, *v, rest)
        }
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "The requested resource was not found",
                "SIM-404",
            )
        }
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
    let resource = match (api, rest.first().copied()) {
        ("fscmRestApi", Some("invoices")) => &mut state.invoices,
        ("fscmRestApi", Some("suppliers")) => &mut state.suppliers,
        ("fscmRestApi", Some("externalBankAccounts")) => &mut state.bank_accounts,
        ("hcmRestApi", Some("workers")) => &mut state.workers,
        ("hcmRestApi", Some("salaries")) => &mut state.salaries,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "The requested resource was not found",
                "SIM-404",
            )
        }
    };
    let name = resource.name;
    let key = resource.key;
    let coll_base = format!("{base}/{name}");
    match rest {
        [_] => match *req.method {
            Method::GET | Method::HEAD => {
                match collections::page(&resource.items, key, &query, &coll_base, name) {
                    Ok(v) => head_aware(req, json_response(StatusCode::OK, COLLECTION, &v), &v),
                    Err(e) => error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY"),
                }
            }
            Method::POST if name == "invoices" => {
                let mut item = match serde_json::from_slice::<Value>(&req.body) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "The request body is not a valid JSON object",
                            "SIM-BAD-BODY",
                        )
                    }
                };
                let next = resource
                    .items
                    .iter()
                    .filter_map(|i| i.get(key).and_then(Value::as_i64))
                    .max()
                    .unwrap_or(300099)
                    + 1;
                item.insert(key.to_string(), json!(next));
                let item = Value::Object(item);
                resource.items.push(item.clone());
                let mut r = json_response(
                    StatusCode::CREATED,
                    ITEM,
                    &collections::item_view(&item, key, &query, &coll_base, name),
                );
                if let Ok(v) = format!("{coll_base}/{next}").parse() {
                    r.headers_mut().insert(http::header::LOCATION, v);
                }
                r
            }
            _ => method_not_allowed(if name == "invoices" {
                "GET, HEAD, POST"
            } else {
                "GET, HEAD"
            }),
        },
        [_, "describe"] => match *req.method {
            Method::GET => {
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
            _ => method_not_allowed("GET"),
        },
        [_, id] => item(req, resource, id, &query, &coll_base),
        [_, id, "child", child] => {
            let Some(parent) = find(&resource.items, key, id) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "The requested resource was not found",
                    "SIM-404",
                );
            };
            let pid = parent.get(key).and_then(Value::as_i64).unwrap_or(0);
            let items = match (name, *child) {
                ("invoices", "invoiceLines") => data::invoice_lines(pid),
                ("suppliers", "sites") => data::sites(pid),
                ("workers", "nationalIdentifiers") => parent
                    .get("nationalIdentifiers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                _ => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "The requested resource was not found",
                        "SIM-404",
                    )
                }
            };
            match collections::page(
                &items,
                "LineNumber",
                &query,
                &format!("{coll_base}/{id}/child/{child}"),
                child,
            ) {
                Ok(v) => json_response(StatusCode::OK, COLLECTION, &v),
                Err(e) => error(StatusCode::BAD_REQUEST, &e, "SIM-BAD-QUERY"),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "The requested resource was not found",
            "SIM-404",
        ),
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

fn find<'v>(items: &'v [Value], key: &str, id: &str) -> Option<&'v Value> {
    items.iter().find(|i| {
        i.get(key)
            .is_some_and(|v| v.to_string().trim_matches('"') == id)
    })
}

fn item(
    req: &Req<'_>,
    resource: &mut data::Resource,
    id: &str,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    let Some(pos) = resource.items.iter().position(|i| {
        i.get(key)
            .is_some_and(|v| v.to_string().trim_matches('"') == id)
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            "The requested resource was not found",
            "SIM-404",
        );
    };
    let etag = format!("\"{}\"", etag_of(&resource.items[pos]));
    let header = |n: http::HeaderName| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let with_etag = |mut r: Response<Body>, tag: &str| {
        if let Ok(v) = tag.parse() {
            r.headers_mut().insert(http::header::ETAG, v);
        }
        r
    };
    match *req.method {
        Method::GET | Method::HEAD => {
            if header(http::header::IF_NONE_MATCH).as_deref() == Some(etag.as_str()) {
                return with_etag(
                    respond(StatusCode::NOT_MODIFIED, None, full(Bytes::new())),
                    &etag,
                );
            }
            let v = collections::item_view(&resource.items[pos], key, query, coll_base, name);
            with_etag(
                head_aware(req, json_response(StatusCode::OK, ITEM, &v), &v),
                &etag,
            )
        }
        Method::PATCH if name == "externalBankAccounts" => {
            // Oracle's validation message quotes the stored account in words.
            let iban = resource.items[pos]
                .get("IBAN")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            error(
                StatusCode::BAD_REQUEST,
                &format!("Supplier bank account {iban} failed validation."),
                "SIM-BANK-VALIDATION",
            )
        }
        Method::PATCH if name == "invoices" => {
            let ctype = header(http::header::CONTENT_TYPE).unwrap_or_default();
            if !(ctype.starts_with("application/json") || ctype.starts_with(ITEM)) {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Unsupported media type",
                    "SIM-415",
                );
            }
            if header(http::header::IF_MATCH).is_some_and(|m| m != etag) {
                return error(
                    StatusCode::PRECONDITION_FAILED,
                    "The resource was changed by another user",
                    "SIM-412",
                );
            }
            let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&req.body) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "The request body is not a valid JSON object",
                    "SIM-BAD-BODY",
                );
            };
            if let Some(Value::Object(m)) = resource.items.get_mut(pos) {
                for (k, v) in patch {
                    if k != key {
                        m.insert(k, v);
                    }
                }
            }
            let updated = &resource.items[pos];
            let tag = format!("\"{}\"", etag_of(updated));
            with_etag(
                json_response(
                    StatusCode::OK,
                    ITEM,
                    &collections::item_view(updated, key, query, coll_base, name),
                ),
                &tag,
            )
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

/// A large invoices collection produced chunk by chunk, never held whole in memory.
struct BigBody {
    next: usize,
    total: usize,
    host: String,
    done: bool,
    /// After the first chunk (and a pause, so it is sent on its own), emit invalid JSON
    /// holding a value that must never be seen.
    broken: bool,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl BigBody {
    fn new(total: usize, host: String) -> Self {
        BigBody {
            next: 0,
            total,
            host,
            done: false,
            broken: false,
            pause: None,
        }
    }
}

impl http_body::Body for BigBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut chunk = String::with_capacity(64 * 1024);
        if self.broken && self.next > 0 {
            let pause = self
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(300))));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.done = true;
            chunk.push_str(r#",{"InvoiceId":1 "BankAccountNumber":"LEAKED-AFTER-BREAK"}]}"#);
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))));
        }
        if self.next == 0 {
            chunk.push_str("{\"items\":[");
        }
        let end = (self.next + 200).min(self.total);
        for i in self.next..end {
            if i > 0 {
                chunk.push(',');
            }
            let item = json!({
                "InvoiceId": 300100 + i,
                "InvoiceNumber": format!("INV-{i:07}"),
                "InvoiceAmount": 1000.0 + i as f64,
                "Supplier": "Supplier 1001",
                "BankAccountNumber": format!("{:012}", 400_000_000_000u64 + i as u64),
                "links": [{"rel": "self", "href": format!("http://{}/fscmRestApi/resources/latest/invoices/{}", self.host, 300100 + i)}],
            });
            chunk.push_str(&item.to_string());
        }
        self.next = end;
        if self.next >= self.total {
            chunk.push_str(&format!(
                "],\"count\":{},\"hasMore\":false,\"limit\":{},\"offset\":0}}",
                self.total, self.total
            ));
            self.done = true;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }
}
