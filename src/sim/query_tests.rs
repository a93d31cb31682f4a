//! The Oracle REST framework behaviours a gateway must police, shown to work directly
//! against the simulator: `q` as a yes/no oracle on hidden values, `orderBy` on them,
//! children through `expand`/`fields`, finders, method overrides, `Upsert-Mode`, batches.

use serde_json::Value;

use super::test_support::{body_json, enc, get, req, AUTH};
use super::*;

const SUPPLIERS: &str = "/fscmRestApi/resources/11.13.18.05/suppliers";
const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices";
const WORKER: &str = "/hcmRestApi/resources/11.13.18.05/workers/90001";

/// Sends a request with the accepted credential: (status, head, JSON body or Null).
fn call(
    sim: &SimHandle,
    method: &str,
    target: &str,
    extra: &str,
    body: &str,
) -> (u16, String, Value) {
    let (s, h, b) = get(
        sim.addr,
        &req(method, target, &format!("{AUTH}{extra}"), body),
    );
    let v = if b.contains('{') {
        body_json(&b)
    } else {
        Value::Null
    };
    (s, h, v)
}

/// GET `{base}?q=<encoded q>&{extra}`.
fn q(sim: &SimHandle, base: &str, expr: &str, extra: &str) -> (u16, Value) {
    let (s, _, v) = call(
        sim,
        "GET",
        &format!("{base}?q={}&{extra}", enc(expr)),
        "",
        "",
    );
    (s, v)
}

fn total(v: &Value) -> Option<u64> {
    v["totalResults"].as_u64()
}

fn ids(v: &Value, key: &str) -> Vec<i64> {
    v["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i[key].as_i64()).collect())
        .unwrap_or_default()
}

#[test]
fn q_is_a_yes_no_oracle_on_hidden_values() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let tr = "totalResults=true&onlyData=true&fields=SupplierId";
    let (s, v) = q(&sim, SUPPLIERS, "TaxRegistrationNumber='GB200000000'", tr);
    assert_eq!((s, total(&v)), (200, Some(1)), "{v}");
    assert_eq!(
        v["items"][0]["TaxRegistrationNumber"],
        Value::Null,
        "projected away, still matched"
    );
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "TaxRegistrationNumber='GB200000001'", tr).1),
        Some(0)
    );
    // Advanced syntax: LIKE guesses a prefix at a time.
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "TaxRegistrationNumber LIKE 'GB2%'", tr).1),
        Some(10)
    );
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "TaxRegistrationNumber like 'GB3%'", tr).1),
        Some(0)
    );
    assert_eq!(
        total(
            &q(
                &sim,
                SUPPLIERS,
                "TaxRegistrationNumber LIKE 'GB20000000_'",
                tr
            )
            .1
        ),
        Some(1)
    );
    // AND / OR / NOT / parentheses / comparisons / numbers.
    let both = "TaxRegistrationNumber = 'GB200000000' AND SupplierId = 1001";
    assert_eq!(total(&q(&sim, SUPPLIERS, both, tr).1), Some(1));
    let neither = "TaxRegistrationNumber = 'GB200000000' and SupplierId = 1002";
    assert_eq!(total(&q(&sim, SUPPLIERS, neither, tr).1), Some(0));
    let either = "TaxRegistrationNumber = 'GB200000000' OR SupplierId >= 1009";
    assert_eq!(total(&q(&sim, SUPPLIERS, either, tr).1), Some(3));
    let not = "NOT (SupplierId < 1003 OR SupplierId <> 1005) ";
    let (_, v) = q(&sim, SUPPLIERS, not, tr);
    assert_eq!(ids(&v, "SupplierId"), [1005]);
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "SupplierId != 1001", tr).1),
        Some(9)
    );
    // Legacy (framework v1): `;` is AND, values unquoted or quoted.
    let (_, v) = q(&sim, SUPPLIERS, "Status=ACTIVE;SupplierNumber='1004'", tr);
    assert_eq!(ids(&v, "SupplierId"), [1004]);
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "Status=ACTIVE;SupplierNumber=1", tr).1),
        Some(0)
    );
    assert_eq!(
        total(&q(&sim, SUPPLIERS, "Supplier=Supplier 1003", tr).1),
        Some(1)
    );
    // Unknown (or wrongly cased) attribute, bad syntax: Oracle's 400.
    for bad in [
        "Nope='x'",
        "taxRegistrationNumber='GB200000000'",
        "Status = 'open",
        "Status ! 'x'",
    ] {
        let (s, v) = q(&sim, SUPPLIERS, bad, "");
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(
            v["o:errorDetails"][0]["o:errorCode"], "SIM-BAD-QUERY",
            "{bad}"
        );
    }
}

#[test]
fn q_quotes_child_collections_and_order_by() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let body = r#"{"InvoiceNumber":"O'Brien-1","Description":"it's"}"#;
    let ct = "Content-Type: application/json\r\n";
    assert_eq!(call(&sim, "POST", INVOICES, ct, body).0, 201);
    let (s, v) = q(
        &sim,
        INVOICES,
        "InvoiceNumber = 'O''Brien-1'",
        "totalResults=true",
    );
    assert_eq!((s, total(&v)), (200, Some(1)), "{v}");
    assert_eq!(v["items"][0]["Description"], "it's");
    assert_eq!(
        total(
            &q(
                &sim,
                INVOICES,
                "InvoiceNumber='O''Brien-1'",
                "totalResults=true"
            )
            .1
        ),
        Some(1)
    );
    // q on a child collection.
    let lines = format!("{INVOICES}/300100/child/invoiceLines");
    let (s, v) = q(&sim, &lines, "LineAmount > 150", "totalResults=true");
    assert_eq!((s, ids(&v, "LineNumber")), (200, vec![2, 3]), "{v}");
    let ssn = format!("{WORKER}/child/nationalIdentifiers");
    assert_eq!(
        total(
            &q(
                &sim,
                &ssn,
                "NationalIdentifierNumber LIKE '100-%'",
                "totalResults=true"
            )
            .1
        ),
        Some(1)
    );
    assert_eq!(
        total(
            &q(
                &sim,
                &ssn,
                "NationalIdentifierNumber LIKE '101-%'",
                "totalResults=true"
            )
            .1
        ),
        Some(0)
    );
    // orderBy the hidden value, before paging; numbers numerically.
    let page = |ob: &str| {
        call(
            &sim,
            "GET",
            &format!("{SUPPLIERS}?orderBy={ob}&limit=3"),
            "",
            "",
        )
        .2
    };
    let asc = ids(&page("TaxRegistrationNumber"), "SupplierId");
    let desc = ids(&page("TaxRegistrationNumber:desc"), "SupplierId");
    assert_eq!(
        (asc.clone(), desc),
        (vec![1001, 1002, 1003], vec![1010, 1009, 1008])
    );
    assert_eq!(ids(&page("TaxRegistrationNumber:asc"), "SupplierId"), asc);
    assert_eq!(
        ids(&page("Status,SupplierId:desc"), "SupplierId"),
        [1010, 1009, 1008]
    );
    let (s, _, v) = call(
        &sim,
        "GET",
        &format!("{SUPPLIERS}?orderBy=Nope:desc"),
        "",
        "",
    );
    assert_eq!(
        (s, &v["o:errorDetails"][0]["o:errorCode"]),
        (400, &Value::from("SIM-BAD-QUERY"))
    );
    assert_eq!(
        call(
            &sim,
            "GET",
            &format!("{SUPPLIERS}?orderBy=SupplierId:up"),
            "",
            ""
        )
        .0,
        400
    );
}

#[test]
fn children_only_when_expanded_or_named_in_fields() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let ssns = sim_ssn(&sim);
    let (s, _, v) = call(&sim, "GET", WORKER, "", "");
    assert_eq!(s, 200);
    assert!(v.get("nationalIdentifiers").is_none(), "{v}");
    let child = v["links"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["rel"] == "child"))
        .cloned()
        .expect("child link");
    assert_eq!(child["name"], "nationalIdentifiers");
    assert_eq!(child["kind"], "collection");
    assert_eq!(
        child["href"],
        "http://sim.test/hcmRestApi/resources/11.13.18.05/workers/90001/child/nationalIdentifiers"
    );
    let (_, _, v) = call(
        &sim,
        "GET",
        "/hcmRestApi/resources/11.13.18.05/workers",
        "",
        "",
    );
    assert!(
        !v.to_string().contains(&ssns),
        "collection without expand: {v}"
    );
    assert!(
        call(&sim, "GET", &format!("{WORKER}?onlyData=true"), "", "")
            .2
            .get("links")
            .is_none()
    );
    // expand inlines the child, SSNs included, in items and in collections.
    let (s, _, v) = call(
        &sim,
        "GET",
        &format!("{WORKER}?expand=nationalIdentifiers"),
        "",
        "",
    );
    assert_eq!(s, 200);
    assert_eq!(
        v["nationalIdentifiers"][0]["NationalIdentifierNumber"],
        ssns.as_str(),
        "{v}"
    );
    assert!(v["nationalIdentifiers"][0]["links"].is_array());
    let (_, _, v) = call(
        &sim,
        "GET",
        "/hcmRestApi/resources/11.13.18.05/workers?expand=all&onlyData=true",
        "",
        "",
    );
    assert_eq!(
        v["items"][0]["nationalIdentifiers"][0]["NationalIdentifierNumber"],
        ssns.as_str()
    );
    assert!(v["items"][0]["nationalIdentifiers"][0]
        .get("links")
        .is_none());
    // fields with a child scope inlines only those attributes, even without expand.
    let (s, _, v) = call(
        &sim,
        "GET",
        &format!(
            "{WORKER}?fields=PersonId;nationalIdentifiers:NationalIdentifierNumber&onlyData=true"
        ),
        "",
        "",
    );
    assert_eq!(s, 200);
    assert_eq!(
        v,
        serde_json::json!({"PersonId": 90001, "nationalIdentifiers": [{"NationalIdentifierNumber": ssns}]})
    );
    let (_, _, v) = call(
        &sim,
        "GET",
        &format!("{WORKER}?fields=;nationalIdentifiers:NationalIdentifierNumber&onlyData=true"),
        "",
        "",
    );
    assert_eq!(
        v,
        serde_json::json!({"nationalIdentifiers": [{"NationalIdentifierNumber": ssns}]})
    );
    // expand=all on every resource with children; several names; unknown child 400.
    let (_, _, v) = call(
        &sim,
        "GET",
        &format!("{INVOICES}/300100?expand=all&onlyData=true"),
        "",
        "",
    );
    assert_eq!(v["invoiceLines"].as_array().map(Vec::len), Some(3), "{v}");
    let (_, _, v) = call(
        &sim,
        "GET",
        &format!("{SUPPLIERS}?expand=sites&onlyData=true&limit=1"),
        "",
        "",
    );
    assert_eq!(v["items"][0]["sites"][0]["SupplierSiteId"], 10011, "{v}");
    for bad in [
        "expand=names",
        "expand=sites",
        "fields=PersonId;sites:SupplierSite",
        "expand=nationalIdentifiers,bogus",
    ] {
        let (s, _, v) = call(&sim, "GET", &format!("{WORKER}?{bad}"), "", "");
        assert_eq!(s, 400, "{bad}: {v}");
    }
    assert_eq!(
        call(
            &sim,
            "GET",
            &format!("{WORKER}/child/nationalIdentifiers"),
            "",
            ""
        )
        .2["items"][0]["NationalIdentifierNumber"],
        ssns.as_str()
    );
}

/// The first worker's SSN, as the simulator holds it.
fn sim_ssn(_sim: &SimHandle) -> String {
    let v = data::national_identifiers(90001);
    v[0]["NationalIdentifierNumber"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn finders() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let get_v = |t: &str| call(&sim, "GET", &format!("{SUPPLIERS}?{t}"), "", "");
    let (s, _, v) =
        get_v("finder=SupplierByTaxRegistration;TaxRegNum=GB200000000&totalResults=true");
    assert_eq!(
        (s, ids(&v, "SupplierId"), total(&v)),
        (200, vec![1001], Some(1)),
        "{v}"
    );
    let (_, _, v) =
        get_v("finder=SupplierByTaxRegistration;TaxRegNum=GB200000001&totalResults=true");
    assert_eq!(total(&v), Some(0));
    let (_, _, v) = get_v("finder=PrimaryKey;SupplierId=1002");
    assert_eq!(ids(&v, "SupplierId"), [1002]);
    // Combined with q (AND), paging and totalResults.
    let (_, _, v) = get_v(&format!(
        "finder=PrimaryKey;SupplierId=1002&q={}&totalResults=true",
        enc("Status='X'")
    ));
    assert_eq!(total(&v), Some(0));
    let (_, _, v) = call(
        &sim,
        "GET",
        &format!("{INVOICES}/300100/child/invoiceLines?finder=PrimaryKey;LineNumber=2"),
        "",
        "",
    );
    assert_eq!(ids(&v, "LineNumber"), [2]);
    for bad in [
        "finder=Nope;X=1",
        "finder=PrimaryKey;InvoiceId=1",
        "finder=SupplierByTaxRegistration;TaxRegistrationNumber=GB200000000",
        "finder=PrimaryKey",
    ] {
        let (s, _, v) = get_v(bad);
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (s, _, _) = call(
        &sim,
        "GET",
        &format!("{INVOICES}?finder=SupplierByTaxRegistration;TaxRegNum=GB200000000"),
        "",
        "",
    );
    assert_eq!(s, 400, "that finder is the suppliers'");
}

#[test]
fn method_override_headers_and_upsert() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let item = format!("{INVOICES}/300100");
    let ct = "Content-Type: application/json\r\n";
    let (s, _, v) = call(
        &sim,
        "POST",
        &item,
        &format!("X-HTTP-Method: patch\r\n{ct}"),
        r#"{"Description":"patched"}"#,
    );
    assert_eq!(
        (s, &v["Description"]),
        (200, &Value::from("patched")),
        "{v}"
    );
    let (s, _, _) = call(
        &sim,
        "POST",
        &item,
        "X-HTTP-Method-Override: DELETE\r\n",
        "",
    );
    assert_eq!(s, 204);
    assert_eq!(call(&sim, "GET", &item, "", "").0, 404);
    let (s, _, v) = call(
        &sim,
        "POST",
        &format!("{INVOICES}/300101"),
        "X-Method-Override: GET\r\n",
        "",
    );
    assert_eq!((s, &v["InvoiceId"]), (200, &Value::from(300101)));
    assert_eq!(
        call(
            &sim,
            "POST",
            &format!("{INVOICES}/300101"),
            "X-HTTP-Method-Override: PUT\r\n",
            ""
        )
        .0,
        405
    );
    // Without an override, POST on an item is not allowed; the log keeps the method received.
    assert_eq!(
        call(&sim, "POST", &format!("{INVOICES}/300101"), "", "").0,
        405
    );
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.method == "POST" || r.method == "GET"));
    assert_eq!(sim.requests()[1].method, "POST");
    // Upsert-Mode: an existing InvoiceId is updated (200), the count unchanged.
    let count = |sim: &SimHandle| {
        total(&call(sim, "GET", &format!("{INVOICES}?totalResults=true"), "", "").2)
    };
    let before = count(&sim);
    let (s, _, v) = call(
        &sim,
        "POST",
        INVOICES,
        &format!("Upsert-Mode: true\r\n{ct}"),
        r#"{"InvoiceId":300102,"Description":"upserted"}"#,
    );
    assert_eq!(
        (s, &v["InvoiceId"], &v["Description"]),
        (200, &Value::from(300102), &Value::from("upserted")),
        "{v}"
    );
    assert_eq!(v["InvoiceNumber"], "INV-0003", "merged, not replaced");
    assert_eq!(count(&sim), before);
    let (s, _, v) = call(
        &sim,
        "POST",
        INVOICES,
        ct,
        r#"{"InvoiceId":300102,"Description":"plain"}"#,
    );
    assert_eq!(s, 201, "without Upsert-Mode a POST creates: {v}");
    assert_ne!(v["InvoiceId"], 300102);
    let (s, _, _) = call(
        &sim,
        "POST",
        INVOICES,
        &format!("Upsert-Mode: TRUE\r\n{ct}"),
        r#"{"InvoiceId":999999}"#,
    );
    assert_eq!(s, 201, "upsert of an unknown id creates");
    assert_eq!(count(&sim), before.map(|c| c + 2));
}

const BATCH_CT: &str = "Content-Type: application/vnd.oracle.adf.batch+json\r\n";

#[test]
fn batch_runs_parts_through_the_same_routing() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let body = r#"{"parts":[
        {"id":"part1","path":"/invoices/300100","operation":"get"},
        {"id":"part2","path":"/invoices","operation":"create","payload":{"InvoiceNumber":"B-1"}},
        {"id":"part3","path":"/invoices/300101","operation":"update","payload":{"Description":"via batch"}},
        {"id":"part4","path":"/invoices/300102","operation":"delete"},
        {"id":"part5","path":"/invoices/300103","operation":"replace","payload":{}},
        {"id":"part6","path":"/invoices","operation":"upsert","payload":{"InvoiceId":300104,"Description":"up"}},
        {"id":"part7","path":"/invoices/1","operation":"get"}
    ]}"#;
    let (s, h, v) = call(
        &sim,
        "POST",
        "/fscmRestApi/resources/11.13.18.05",
        BATCH_CT,
        body,
    );
    assert_eq!(s, 200, "{v}");
    assert!(h.contains("content-type: application/vnd.oracle.adf.batch+json"));
    let p = &v["parts"];
    assert_eq!(
        (&p[0]["id"], &p[0]["status"], &p[0]["payload"]["InvoiceId"]),
        (
            &Value::from("part1"),
            &Value::from(200),
            &Value::from(300100)
        )
    );
    assert_eq!(
        (&p[1]["status"], &p[1]["payload"]["InvoiceNumber"]),
        (&Value::from(201), &Value::from("B-1"))
    );
    assert_eq!(
        (&p[2]["status"], &p[2]["payload"]["Description"]),
        (&Value::from(200), &Value::from("via batch"))
    );
    assert_eq!(
        (&p[3]["status"], p[3].get("payload")),
        (&Value::from(204), None)
    );
    assert_eq!(p[4]["status"], 405);
    assert_eq!(
        (&p[5]["status"], &p[5]["payload"]["Description"]),
        (&Value::from(200), &Value::from("up"))
    );
    assert_eq!(
        (
            &p[6]["status"],
            &p[6]["payload"]["o:errorDetails"][0]["o:errorCode"]
        ),
        (&Value::from(404), &Value::from("SIM-404"))
    );
    assert_eq!(p[6]["path"], "/invoices/1");
    assert_eq!(p[6]["operation"], "get");
    // The parts really happened, and the batch is one request in the log.
    assert_eq!(
        call(&sim, "GET", &format!("{INVOICES}/300102"), "", "").0,
        404
    );
    assert_eq!(
        call(&sim, "GET", &format!("{INVOICES}/300101"), "", "").2["Description"],
        "via batch"
    );
    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (log[0].method.as_str(), log[0].target.as_str()),
        ("POST", "/fscmRestApi/resources/11.13.18.05")
    );
}

#[test]
fn batch_reaches_paths_never_named_and_refuses_non_batches() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let ssn = sim_ssn(&sim);
    let root = "/hcmRestApi/resources/11.13.18.05";
    let body = r#"{"parts":[
        {"id":"a","path":"/workers/90001/child/nationalIdentifiers","operation":"get"},
        {"id":"b","path":"/workers/90001?expand=nationalIdentifiers&onlyData=true","operation":"get"},
        {"id":"c","path":"/workers/90001?expand=bogus","operation":"get"}
    ]}"#;
    let (s, _, v) = call(&sim, "POST", root, BATCH_CT, body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["parts"][0]["payload"]["items"][0]["NationalIdentifierNumber"],
        ssn.as_str()
    );
    assert_eq!(
        v["parts"][1]["payload"]["nationalIdentifiers"][0]["NationalIdentifierNumber"],
        ssn.as_str()
    );
    assert_eq!(v["parts"][2]["status"], 400);
    // Not batches: wrong media type, not JSON, no parts, a bad part; unauthenticated 401.
    let json_ct = "Content-Type: application/json\r\n";
    for (extra, b) in [
        (json_ct, body),
        (BATCH_CT, "nope"),
        (BATCH_CT, r#"{"x":1}"#),
        (
            BATCH_CT,
            r#"{"parts":[{"id":"a","path":"workers","operation":"get"}]}"#,
        ),
        (
            BATCH_CT,
            r#"{"parts":[{"id":"a","path":"/workers","operation":"frob"}]}"#,
        ),
    ] {
        let (s, _, v) = call(&sim, "POST", root, extra, b);
        assert_eq!(
            (s, &v["o:errorDetails"][0]["o:errorCode"]),
            (400, &Value::from("SIM-BAD-BATCH")),
            "{b}"
        );
    }
    let (s, _, _) = get(sim.addr, &req("POST", root, BATCH_CT, body));
    assert_eq!(s, 401);
    assert_eq!(call(&sim, "GET", root, "", "").0, 404);
    // A batch may contain a path to the root: it is no nested batch.
    let nested = r#"{"parts":[{"id":"n","path":"/","operation":"create","payload":{"parts":[]}}]}"#;
    assert_eq!(
        call(&sim, "POST", root, BATCH_CT, nested).2["parts"][0]["status"],
        404
    );
}
