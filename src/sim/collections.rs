//! Oracle's collection query parameters: `limit`, `offset`, `q`, `orderBy`, `finder`,
//! `fields`, `expand`, `onlyData`, `totalResults`, and the `items`/`count`/`hasMore`/`links`
//! envelope.

use serde_json::{json, Map, Value};

use super::expand::{self, Expand, Fields};
use super::query::{self, text, Expr};

/// Parsed collection query.
#[derive(Default)]
pub struct Query {
    /// Page size (default 25, max 500).
    pub limit: usize,
    /// Index of the first item returned (`offset`).
    pub offset: usize,
    /// `q` filter.
    pub filter: Option<Expr>,
    /// `orderBy=A:desc,B`: attribute and whether descending.
    pub order_by: Vec<(String, bool)>,
    /// `finder=Name;Var=value,…`.
    pub finder: Option<(String, Vec<(String, String)>)>,
    /// `fields=A,B;child:C` projection.
    pub fields: Fields,
    /// `expand=all` or `expand=a,b`.
    pub expand: Expand,
    /// `onlyData=true`.
    pub only_data: bool,
    /// `totalResults=true`.
    pub total_results: bool,
}

/// Parses the query string. Errors are Oracle-style messages for a 400.
pub fn parse(query: Option<&str>) -> Result<Query, String> {
    let mut q = Query {
        limit: 25,
        ..Query::default()
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
            "fields" => q.fields = expand::parse_fields(&v),
            "expand" => q.expand = expand::parse_expand(&v),
            "q" => q.filter = Some(query::parse(&v)?),
            "orderBy" => q.order_by = query::parse_order_by(&v)?,
            "finder" => q.finder = Some(parse_finder(&v)?),
            _ => {}
        }
    }
    Ok(q)
}

/// `finder=Name;Var1=value1,Var2=value2` (values optionally single-quoted).
fn parse_finder(v: &str) -> Result<(String, Vec<(String, String)>), String> {
    let (name, vars) = v.split_once(';').unwrap_or((v, ""));
    let vars = vars
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, val) = p
                .split_once('=')
                .ok_or_else(|| format!("Invalid finder variable \"{p}\""))?;
            let val = val.trim();
            let val = val
                .strip_prefix('\'')
                .and_then(|x| x.strip_suffix('\''))
                .unwrap_or(val);
            Ok((k.trim().to_string(), val.to_string()))
        })
        .collect::<Result<_, String>>()?;
    Ok((name.trim().to_string(), vars))
}

/// The attribute and value a finder selects on, for collection `name` keyed by `key`.
fn finder_filter(
    name: &str,
    key: &str,
    finder: &(String, Vec<(String, String)>),
) -> Result<(String, String), String> {
    let (fname, vars) = finder;
    let (var, attr) = match (fname.as_str(), name) {
        ("PrimaryKey", _) => (key, key),
        ("SupplierByTaxRegistration", "suppliers") => ("TaxRegNum", "TaxRegistrationNumber"),
        _ => return Err(format!("The finder {fname} is not valid for {name}")),
    };
    match vars.as_slice() {
        [(k, v)] if k == var => Ok((attr.to_string(), v.clone())),
        [(k, _)] => Err(format!("The finder variable {k} is not valid for {fname}")),
        _ => Err(format!(
            "The finder {fname} takes exactly the variable {var}"
        )),
    }
}

/// Checks what can only be checked against the collection `name`: the children named in
/// `expand`/`fields`, and the attributes `q` and `orderBy` read (they must be attributes the
/// items have; case-sensitive).
pub fn validate(items: &[Value], name: &str, q: &Query) -> Result<(), String> {
    expand::inlined(name, &q.expand, &q.fields)?;
    let known = |a: &str| items.is_empty() || items.iter().any(|i| i.get(a).is_some());
    if let Some(f) = &q.filter {
        if let Some(a) = f.attributes().into_iter().find(|a| !known(a)) {
            return Err(format!(
                "The attribute {a} in the query expression is not valid"
            ));
        }
    }
    if let Some((a, _)) = q.order_by.iter().find(|(a, _)| !known(a)) {
        return Err(format!("The attribute {a} in orderBy is not valid"));
    }
    Ok(())
}

/// Builds the collection envelope. `base` is `http://host/path-of-collection`.
pub fn page(
    items: &[Value],
    key: &str,
    q: &Query,
    base: &str,
    name: &str,
) -> Result<Value, String> {
    validate(items, name, q)?;
    let mut matching: Vec<&Value> = items.iter().collect();
    if let Some(finder) = &q.finder {
        let (attr, value) = finder_filter(name, key, finder)?;
        matching.retain(|i| i.get(&attr).is_some_and(|v| text(v) == value));
    }
    if let Some(f) = &q.filter {
        matching.retain(|i| f.matches(i));
    }
    matching.sort_by(|a, b| {
        q.order_by
            .iter()
            .fold(std::cmp::Ordering::Equal, |o, (attr, desc)| {
                o.then_with(|| {
                    let c = query::order(a, b, attr);
                    if *desc {
                        c.reverse()
                    } else {
                        c
                    }
                })
            })
    });
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

/// One item as Oracle renders it: projected fields, the children `expand`/`fields` inline
/// and, unless `onlyData`, its links (a `child` link per child collection). The children
/// must have been checked with [`validate`] (unknown ones are left out here).
pub fn item_view(item: &Value, key: &str, q: &Query, base: &str, name: &str) -> Value {
    let mut obj = project(item, q.fields.item.as_deref());
    let id = item.get(key).map(text).unwrap_or_default();
    let href = format!("{base}/{id}");
    for (child, proj) in expand::inlined(name, &q.expand, &q.fields).unwrap_or_default() {
        let child_base = format!("{href}/child/{child}");
        let ckey = expand::child_key(child);
        let rows: Vec<Value> = expand::child_items(name, child, item, key)
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let mut o = project(c, proj.as_deref());
                if !q.only_data {
                    o.insert("links".into(), links(c, ckey, &child_base, child, &[]));
                }
                Value::Object(o)
            })
            .collect();
        obj.insert(child.to_string(), Value::Array(rows));
    }
    if !q.only_data {
        obj.insert(
            "links".into(),
            links(item, key, base, name, expand::child_names(name)),
        );
    }
    Value::Object(obj)
}

/// `item`'s attributes, only those in `fields` when given.
fn project(item: &Value, fields: Option<&[String]>) -> Map<String, Value> {
    match (item, fields) {
        (Value::Object(m), Some(fields)) => fields
            .iter()
            .filter_map(|f| Some((f.clone(), m.get(f)?.clone())))
            .collect(),
        (Value::Object(m), None) => m.clone(),
        _ => Map::new(),
    }
}

/// An item's `self`, `canonical` and `child` links.
fn links(item: &Value, key: &str, base: &str, name: &str, children: &[&str]) -> Value {
    let id = item.get(key).map(text).unwrap_or_default();
    let href = format!("{base}/{id}");
    let mut l = vec![
        json!({"rel": "self", "href": href, "name": name, "kind": "item", "properties": {"changeIndicator": etag_of(item)}}),
        json!({"rel": "canonical", "href": href, "name": name, "kind": "item"}),
    ];
    l.extend(children.iter().map(|c| {
        json!({"rel": "child", "href": format!("{href}/child/{c}"), "name": c, "kind": "collection"})
    }));
    Value::Array(l)
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
