//! Oracle's collection query parameters: `limit`, `offset`, `q`, `fields`, `onlyData`,
//! `totalResults`, and the `items`/`count`/`hasMore`/`links` envelope.

use serde_json::{json, Map, Value};

/// Parsed collection query.
pub struct Query {
    /// Page size (default 25, max 500).
    pub limit: usize,
    /// Index of the first item returned (`offset`).
    pub offset: usize,
    /// `q=Field=value` filter.
    pub filter: Option<(String, String)>,
    /// `fields=A,B` projection.
    pub fields: Option<Vec<String>>,
    /// `onlyData=true`.
    pub only_data: bool,
    /// `totalResults=true`.
    pub total_results: bool,
}

/// Parses the query string. Errors are Oracle-style messages for a 400.
pub fn parse(query: Option<&str>) -> Result<Query, String> {
    let mut q = Query {
        limit: 25,
        offset: 0,
        filter: None,
        fields: None,
        only_data: false,
        total_results: false,
    };
    for (k, v) in crate::path::query_pairs(query.unwrap_or("")) {
        match k.as_str() {
            "limit" => {
                q.limit = v
                    .parse::<usize>()
                    .map_err(|_| format!("Invalid limit \"{v}\""))?
                    .min(500)
            }
            "offset" => q.offset = v.parse().map_err(|_| format!("Invalid offset \"{v}\""))?,
            "onlyData" => q.only_data = v == "true",
            "totalResults" => q.total_results = v == "true",
            "fields" => q.fields = Some(v.split(',').map(str::to_string).collect()),
            "q" => {
                let (field, value) = v.split_once('=').ok_or_else(|| {
                    format!("The query expression \"{v}\" is not supported by this service")
                })?;
                if field.is_empty() || !field.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "The query expression \"{v}\" is not supported by this service"
                    ));
                }
                let value = value.trim_matches('\'').to_string();
                q.filter = Some((field.to_string(), value));
            }
            "expand" | "orderBy" | "finder" | "links" => {}
            _ => {}
        }
    }
    Ok(q)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds the collection envelope. `base` is `http://host/path-of-collection`.
pub fn page(
    items: &[Value],
    key: &str,
    q: &Query,
    base: &str,
    name: &str,
) -> Result<Value, String> {
    let mut matching: Vec<&Value> = items.iter().collect();
    if let Some((field, value)) = &q.filter {
        if items.first().is_some_and(|i| i.get(field).is_none()) {
            return Err(format!(
                "The attribute {field} in the query expression is not valid"
            ));
        }
        matching.retain(|i| i.get(field).is_some_and(|v| text(v) == *value));
    }
    let total = matching.len();
    let slice: Vec<Value> = matching
        .into_iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|i| item_view(i, key, q, base, name))
        .collect();
    let count = slice.len();
    let mut out = Map::new();
    out.insert("items".into(), Value::Array(slice));
    if q.total_results {
        out.insert("totalResults".into(), json!(total));
    }
    out.insert("count".into(), json!(count));
    out.insert("hasMore".into(), json!(q.offset + count < total));
    out.insert("limit".into(), json!(q.limit));
    out.insert("offset".into(), json!(q.offset));
    out.insert(
        "links".into(),
        json!([{"rel": "self", "href": base, "name": name, "kind": "collection"}]),
    );
    Ok(Value::Object(out))
}

/// One item as Oracle renders it: projected fields and, unless `onlyData`, its links.
pub fn item_view(item: &Value, key: &str, q: &Query, base: &str, name: &str) -> Value {
    let mut obj = match (item, &q.fields) {
        (Value::Object(m), Some(fields)) => {
            let mut p = Map::new();
            for f in fields {
                if let Some(v) = m.get(f) {
                    p.insert(f.clone(), v.clone());
                }
            }
            p
        }
        (Value::Object(m), None) => m.clone(),
        _ => Map::new(),
    };
    if !q.only_data {
        let id = item.get(key).map(text).unwrap_or_default();
        let href = format!("{base}/{id}");
        obj.insert(
            "links".into(),
            json!([
                {"rel": "self", "href": href, "name": name, "kind": "item", "properties": {"changeIndicator": etag_of(item)}},
                {"rel": "canonical", "href": href, "name": name, "kind": "item"}
            ]),
        );
    }
    Value::Object(obj)
}

/// A stable ETag value for an item (FNV-1a of its JSON).
pub fn etag_of(item: &Value) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in item.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}
