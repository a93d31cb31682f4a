//! The admin API's contract: the OpenAPI document generated from the route table is the one
//! committed in `docs/admin-openapi.json` and the one the admin listener serves; every route
//! it lists answers (open ones 200, the others 401 without a token); live answers carry the
//! fields their schemas require; every list pages with a cursor.
//!
//! After changing a route: `ERPGATE_BLESS=1 cargo test --release --test openapi` rewrites the
//! committed file (review the diff).

mod support;

use serde_json::{json, Value};
use support::admin::{start, Admin};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/admin-openapi.json");

#[test]
fn the_committed_document_is_the_one_the_code_generates() {
    let generated = erpgate::admin::openapi::render();
    if std::env::var_os("ERPGATE_BLESS").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write");
    }
    let committed = std::fs::read_to_string(COMMITTED).expect("docs/admin-openapi.json");
    assert!(
        committed == generated,
        "docs/admin-openapi.json is stale: run `ERPGATE_BLESS=1 cargo test --release --test openapi` and commit it"
    );
    assert!(erpgate::admin::openapi::undocumented().is_empty());
}

/// Checks `v` has every field `schema` requires, following `$ref`s and array items.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    if let Some(required) = schema["required"].as_array() {
        for f in required {
            let f = f.as_str().expect("name");
            assert!(
                v.get(f).is_some(),
                "{at}: `{f}` is required by the schema: {v}"
            );
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), v.as_object()) {
        for (k, sub) in props {
            if let Some(val) = obj.get(k) {
                conforms(doc, sub, val, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"));
        }
    }
}

fn get(a: &Admin, path: &str) -> (u16, Value) {
    let r = a.call("GET", path, Some(&a.owner), None);
    (r.status, r.json())
}

#[test]
fn the_served_document_matches_every_route_and_every_answer_its_schema() {
    let a = start();
    let (status, served) = get(&a, "/openapi.json");
    assert_eq!(status, 200);
    let doc = erpgate::admin::openapi::document();
    assert_eq!(served, doc);

    // Every operation exists where the document says, and is as open or closed as it says.
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{}", paths.len());
    for (path, ops) in paths {
        let concrete = path.replace("{name}", "nobody").replace("{id}", "x");
        for (method, op) in ops.as_object().expect("ops") {
            let r = a.call(
                &method.to_ascii_uppercase(),
                &concrete,
                None,
                Some(&json!({})),
            );
            let open = op["security"].as_array().is_some_and(Vec::is_empty);
            if open {
                assert_eq!(r.status, 200, "{method} {path} is open: {}", r.text());
            } else {
                assert_eq!(r.status, 401, "{method} {path} needs a token: {}", r.text());
                conforms(
                    &doc,
                    &json!({"$ref": "#/components/schemas/Error"}),
                    &r.json(),
                    path,
                );
            }
        }
    }

    // Live answers carry what their schemas require.
    a.gw.issue("ap-sync");
    let ok_schema = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    for (path, url) in [
        ("/status", "/status"),
        ("/accounts", "/accounts"),
        ("/accounts/{name}", "/accounts/ap-sync"),
        ("/credentials", "/credentials"),
        ("/tokens", "/tokens"),
        ("/admin-tokens", "/admin-tokens"),
        ("/audit", "/audit?limit=5"),
        ("/audit/verify", "/audit/verify"),
        ("/killswitch", "/killswitch"),
        ("/ready", "/ready"),
        ("/health", "/health"),
    ] {
        let (status, v) = get(&a, url);
        assert_eq!(status, 200, "{url}: {v}");
        conforms(&doc, &ok_schema(path, "get"), &v, url);
    }
    let (status, v) = get(&a, "/accounts/nobody");
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "admin.not_found");
}

#[test]
fn every_list_pages_with_a_cursor() {
    let a = start();
    for n in 0..5 {
        a.gw.ok(&[
            "account",
            "create",
            "--name",
            &format!("paged-{n}"),
            "--tenant",
            "acme",
        ]);
    }
    let (_, all) = get(&a, "/accounts?limit=1000");
    let everyone: Vec<String> = all["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|x| x["name"].as_str().expect("name").to_string())
        .collect();
    assert!(everyone.len() >= 6, "{everyone:?}");
    assert_eq!(all["next_cursor"], Value::Null);
    let mut sorted = everyone.clone();
    sorted.sort();
    assert_eq!(everyone, sorted, "in key order");

    // Two at a time, every account once.
    let mut walked = Vec::new();
    let mut url = "/accounts?limit=2".to_string();
    loop {
        let (status, page) = get(&a, &url);
        assert_eq!(status, 200, "{page}");
        let items = page["accounts"].as_array().expect("items");
        assert!(items.len() <= 2);
        walked.extend(
            items
                .iter()
                .map(|x| x["name"].as_str().expect("n").to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/accounts?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, everyone);

    // The audit trail pages backwards in time, without overlap.
    let (_, first) = get(&a, "/audit?limit=3");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more records than one page");
    let (_, second) = get(&a, &format!("/audit?limit=3&cursor={cursor}"));
    let ids = |p: &Value| -> Vec<(String, String)> {
        p["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                (
                    r["ts"].as_str().expect("ts").into(),
                    r["request_id"].as_str().expect("id").into(),
                )
            })
            .collect()
    };
    let (one, two) = (ids(&first), ids(&second));
    assert_eq!(one.len(), 3);
    assert!(!two.is_empty());
    assert!(two.iter().all(|r| !one.contains(r)), "no overlap");
    assert!(
        two.last().expect("last").0 <= one[0].0,
        "older records come next"
    );

    // Bad paging input is a 400 naming the parameter.
    let wrong = first["next_cursor"].as_str().expect("cursor");
    for (url, field) in [
        ("/accounts?limit=0".to_string(), "limit"),
        ("/accounts?limit=1001".to_string(), "limit"),
        ("/accounts?cursor=%25%25".to_string(), "cursor"),
        (format!("/accounts?cursor={wrong}"), "cursor"),
        ("/tokens?page=2".to_string(), "page"),
    ] {
        let (status, v) = get(&a, &url);
        assert_eq!(status, 400, "{url}: {v}");
        assert_eq!(v["error"]["field"], field, "{url}: {v}");
    }
}
