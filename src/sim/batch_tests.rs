//! The Oracle REST framework's write behaviours a gateway must police, shown to work
//! directly against the simulator: method-override headers, `Upsert-Mode`, batches.

use serde_json::Value;

use super::test_support::{call, get, req, sim_ssn, total, INVOICES};
use super::*;

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
    let ssn = sim_ssn();
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
