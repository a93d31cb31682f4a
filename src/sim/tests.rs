use super::test_support::{body_json, get, req, AUTH};
use super::*;

#[test]
fn authentication_like_oracle() {
    let sim = start_blocking(SimConfig {
        api_keys: vec!["k-1".into()],
        ..SimConfig::default()
    })
    .expect("sim");
    let (s, h, _) = get(
        sim.addr,
        &req("GET", "/fscmRestApi/resources/latest/invoices", "", ""),
    );
    assert_eq!(s, 401);
    assert!(h.contains("www-authenticate: basic realm=\"oracle fusion\""));
    let bad = "Authorization: Basic RklOX0lOVEVHUkFUSU9OOndyb25n\r\n";
    assert_eq!(
        get(
            sim.addr,
            &req("GET", "/fscmRestApi/resources/latest/invoices", bad, "")
        )
        .0,
        401
    );
    assert_eq!(
        get(
            sim.addr,
            &req("GET", "/fscmRestApi/resources/latest/invoices", AUTH, "")
        )
        .0,
        200
    );
    assert_eq!(
        get(
            sim.addr,
            &req(
                "GET",
                "/fscmRestApi/resources/latest/invoices",
                "x-api-key: k-1\r\n",
                ""
            )
        )
        .0,
        200
    );
    assert_eq!(
        get(
            sim.addr,
            &req(
                "GET",
                "/fscmRestApi/resources/latest/invoices",
                "x-api-key: k-2\r\n",
                ""
            )
        )
        .0,
        401
    );
    let log = sim.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[2].authenticated_as.as_deref(), Some("FIN_INTEGRATION"));
    assert_eq!(log[3].authenticated_as.as_deref(), Some("api-key"));
    assert_eq!(log[4].authenticated_as, None);
}

#[test]
fn collections_pagination_filters_and_projection() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let (s, h, b) = get(
        sim.addr,
        &req(
            "GET",
            "/fscmRestApi/resources/11.13.18.05/invoices?limit=10&offset=20&totalResults=true",
            AUTH,
            "",
        ),
    );
    assert_eq!(s, 200);
    assert!(h.contains("application/vnd.oracle.adf.resourcecollection+json"));
    assert!(h.contains("x-oracle-dms-ecid") && h.contains("server: oracle-http-server"));
    let v = body_json(&b);
    assert_eq!(
        (
            v["count"].as_u64(),
            v["hasMore"].as_bool(),
            v["totalResults"].as_u64()
        ),
        (Some(5), Some(false), Some(25))
    );
    assert!(v["items"][0]["links"][0]["href"]
        .as_str()
        .expect("href")
        .starts_with("http://sim.test/fscmRestApi/"));
    let (_, _, b) = get(sim.addr, &req("GET", "/fscmRestApi/resources/latest/invoices?q=InvoiceNumber='INV-0003'&onlyData=true&fields=InvoiceId,InvoiceNumber", AUTH, ""));
    let v = body_json(&b);
    assert_eq!(v["count"], 1);
    assert_eq!(
        v["items"][0],
        serde_json::json!({"InvoiceId": 300102, "InvoiceNumber": "INV-0003"})
    );
    let (s, h, b) = get(
        sim.addr,
        &req(
            "GET",
            "/fscmRestApi/resources/latest/invoices?q=Nope=1",
            AUTH,
            "",
        ),
    );
    assert_eq!(s, 400);
    assert!(h.contains("application/vnd.oracle.adf.error+json"));
    assert!(body_json(&b)["o:errorDetails"][0]["detail"]
        .as_str()
        .is_some());
}

#[test]
fn items_etags_and_mutations() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let (s, h, _) = get(
        sim.addr,
        &req(
            "GET",
            "/fscmRestApi/resources/latest/invoices/300101",
            AUTH,
            "",
        ),
    );
    assert_eq!(s, 200);
    let etag = h
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .to_string();
    let inm = format!("If-None-Match: {etag}\r\n{AUTH}");
    assert_eq!(
        get(
            sim.addr,
            &req(
                "GET",
                "/fscmRestApi/resources/latest/invoices/300101",
                &inm,
                ""
            )
        )
        .0,
        304
    );
    let ct = format!("Content-Type: application/json\r\nIf-Match: \"stale\"\r\n{AUTH}");
    assert_eq!(
        get(
            sim.addr,
            &req(
                "PATCH",
                "/fscmRestApi/resources/latest/invoices/300101",
                &ct,
                "{\"Description\":\"x\"}"
            )
        )
        .0,
        412
    );
    let xml = format!("Content-Type: text/xml\r\n{AUTH}");
    assert_eq!(
        get(
            sim.addr,
            &req(
                "PATCH",
                "/fscmRestApi/resources/latest/invoices/300101",
                &xml,
                "<x/>"
            )
        )
        .0,
        415
    );
    let ok = format!("Content-Type: application/json\r\nIf-Match: {etag}\r\n{AUTH}");
    let (s, _, b) = get(
        sim.addr,
        &req(
            "PATCH",
            "/fscmRestApi/resources/latest/invoices/300101",
            &ok,
            "{\"Description\":\"changed\"}",
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(body_json(&b)["Description"], "changed");
    let json = format!("Content-Type: application/json\r\n{AUTH}");
    let (s, h, b) = get(
        sim.addr,
        &req(
            "POST",
            "/fscmRestApi/resources/latest/invoices",
            &json,
            "{\"InvoiceNumber\":\"NEW-1\"}",
        ),
    );
    assert_eq!(s, 201);
    assert!(h.contains("location: http://sim.test/fscmrestapi/resources/latest/invoices/300125"));
    assert_eq!(body_json(&b)["InvoiceId"], 300125);
    assert_eq!(
        get(
            sim.addr,
            &req(
                "POST",
                "/fscmRestApi/resources/latest/invoices",
                &json,
                "not json"
            )
        )
        .0,
        400
    );
    assert_eq!(
        get(
            sim.addr,
            &req(
                "DELETE",
                "/fscmRestApi/resources/latest/invoices/300125",
                AUTH,
                ""
            )
        )
        .0,
        204
    );
    assert_eq!(
        get(
            sim.addr,
            &req(
                "GET",
                "/fscmRestApi/resources/latest/invoices/300125",
                AUTH,
                ""
            )
        )
        .0,
        404
    );
    assert_eq!(
        get(
            sim.addr,
            &req(
                "DELETE",
                "/fscmRestApi/resources/latest/suppliers/1001",
                AUTH,
                ""
            )
        )
        .0,
        405
    );
    assert_eq!(
        get(
            sim.addr,
            &req("GET", "/fscmRestApi/resources/latest/nothing", AUTH, "")
        )
        .0,
        404
    );
    assert_eq!(
        get(
            sim.addr,
            &req("GET", "/fscmRestApi/resources/v1/invoices", AUTH, "")
        )
        .0,
        404
    );
    let (s, _, b) = get(
        sim.addr,
        &req(
            "GET",
            "/hcmRestApi/resources/latest/workers/90001/child/nationalIdentifiers",
            AUTH,
            "",
        ),
    );
    assert_eq!(s, 200);
    assert!(body_json(&b)["items"][0]["NationalIdentifierNumber"].is_string());
}

#[test]
fn diagnostics_echo_redacts_and_big_streams() {
    let sim = start_blocking(SimConfig::default()).expect("sim");
    let (s, _, b) = get(
        sim.addr,
        &req(
            "GET",
            "/__sim/echo/a%2Cb?x=1",
            &format!("{AUTH}X-Test: yes\r\n"),
            "",
        ),
    );
    assert_eq!(s, 200);
    let v = body_json(&b);
    assert_eq!(v["target"], "/__sim/echo/a%2Cb?x=1");
    assert!(
        !b.contains("RklOX0lOVEVHUkFUSU9O"),
        "echo never returns credentials"
    );
    assert!(b.contains("<redacted>") && b.contains("x-test"));
    assert_eq!(sim.requests()[0].target, "/__sim/echo/a%2Cb?x=1");
    assert!(sim.requests()[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v.starts_with("Basic ")));
    let (s, h, b) = get(sim.addr, &req("GET", "/__sim/big?items=1000", "", ""));
    assert_eq!(s, 200);
    assert!(h.contains("transfer-encoding: chunked"));
    let joined: String = b
        .split("\r\n")
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, c)| c)
        .collect();
    let v: serde_json::Value = serde_json::from_str(&joined).expect("big json");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1000));
    assert_eq!(
        get(sim.addr, &req("GET", "/__sim/status/503", "", "")).0,
        503
    );
}
