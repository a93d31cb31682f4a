//! Writes to the simulated Oracle: creating, upserting and patching invoices, and the
//! refused bank-account PATCH.

use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::collections::{self, etag_of};
use super::data;
use super::query::text;
use super::routes::{bad_body, error, json_response, request_header, with_etag, Body, Req, ITEM};

/// POST to `invoices` with `Upsert-Mode: true`: when the body's `InvoiceId` names an existing
/// invoice, merges the body into it (200 with the item), else creates one as a plain POST does.
pub(super) fn upsert_invoice(
    req: &Req<'_>,
    resource: &mut data::Resource,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let key = resource.key;
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return bad_body();
    };
    let existing = body.get(key).and_then(|id| {
        let id = text(id);
        resource
            .items
            .iter()
            .position(|i| i.get(key).is_some_and(|v| text(v) == id))
    });
    let Some(pos) = existing else {
        return create_invoice(req, resource, query, coll_base);
    };
    if let Some(Value::Object(m)) = resource.items.get_mut(pos) {
        for (k, v) in body {
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
            &collections::item_view(updated, key, query, coll_base, resource.name),
        ),
        &tag,
    )
}

/// POST to `invoices`: stores the body with the next id, answers 201 with a `Location`.
pub(super) fn create_invoice(
    req: &Req<'_>,
    resource: &mut data::Resource,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    let mut item = match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => m,
        _ => return bad_body(),
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
        &collections::item_view(&item, key, query, coll_base, name),
    );
    if let Ok(v) = format!("{coll_base}/{next}").parse() {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// PATCH of a bank account: always refused, and Oracle's validation message quotes the
/// stored account in words.
pub(super) fn refuse_bank_patch(item: &Value) -> Response<Body> {
    let iban = item.get("IBAN").and_then(Value::as_str).unwrap_or("");
    error(
        StatusCode::BAD_REQUEST,
        &format!("Supplier bank account {iban} failed validation."),
        "SIM-BANK-VALIDATION",
    )
}

/// PATCH of an invoice: JSON only (415), `If-Match` checked (412), the key never changed.
pub(super) fn patch_invoice(
    req: &Req<'_>,
    resource: &mut data::Resource,
    pos: usize,
    etag: &str,
    query: &collections::Query,
    coll_base: &str,
) -> Response<Body> {
    let (name, key) = (resource.name, resource.key);
    let ctype = request_header(req, http::header::CONTENT_TYPE).unwrap_or_default();
    if !(ctype.starts_with("application/json") || ctype.starts_with(ITEM)) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "SIM-415",
        );
    }
    if request_header(req, http::header::IF_MATCH).is_some_and(|m| m != etag) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "The resource was changed by another user",
            "SIM-412",
        );
    }
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&req.body) else {
        return bad_body();
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
