//! The Oracle REST framework's read behaviours a gateway must police, shown to work directly
//! against the simulator: `q` as a yes/no oracle on hidden values, `orderBy` on them,
//! children through `expand`/`fields`, finders.

use serde_json::Value;

use super::test_support::{call, enc, ids, q, sim_ssn, total, INVOICES, SUPPLIERS, WORKER};
use super::*;

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
    let ssns = sim_ssn();
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
