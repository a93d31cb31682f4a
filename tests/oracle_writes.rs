//! Oracle-aware policy, headers and batches: a method override is refused whatever is
//! granted, governed headers need a rule that grants them, every other header outside the
//! allowlist is dropped, and each part of a batch is admitted like a direct request. Each
//! bypass is first shown against the simulated Oracle directly.

mod support;

use support::oracle::{call, detail, direct, refused, start, V};
use support::Issued;

#[test]
fn headers_oracle_acts_on_are_governed() {
    let (gw, creds) = start(&["poster", "upserter"]);
    let (poster, upserter) = (&creds[0], &creds[1]);
    let json = [("Content-Type", "application/json")];

    // Oracle honours a method override and an upsert.
    let d = direct(
        &gw,
        "POST",
        &format!("{V}/invoices/300110"),
        &[("X-HTTP-Method-Override", "DELETE")],
        Some(b""),
    );
    assert!(d.status < 300, "{} {}", d.status, d.text());
    assert_eq!(
        direct(&gw, "GET", &format!("{V}/invoices/300110"), &[], None).status,
        404
    );
    let upsert = br#"{"InvoiceId":300111,"Description":"changed by upsert"}"#;
    let mut with_upsert = json.to_vec();
    with_upsert.push(("Upsert-Mode", "true"));
    let d = direct(
        &gw,
        "POST",
        &format!("{V}/invoices"),
        &with_upsert,
        Some(upsert),
    );
    assert_eq!(d.status, 200, "an upsert updates: {}", d.text());

    // Through the gateway a method override is refused whatever is granted.
    for h in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "x-http-method-override",
    ] {
        let before = gw.sim.request_count();
        let mut hs = json.to_vec();
        hs.push((h, "PATCH"));
        let r = call(
            &gw,
            poster,
            "POST",
            &format!("{V}/invoices"),
            &hs,
            Some(b"{}"),
        );
        let rec = refused(&gw, &r, 400, "request.method_override", before);
        assert!(
            detail(&rec)
                .to_ascii_lowercase()
                .contains(&h.to_ascii_lowercase()),
            "{rec}"
        );
    }
    // Governed headers need a rule that grants them.
    for (cred, h, v) in [
        (poster, "Upsert-Mode", "true"),
        (upserter, "Effective-Of", "RangeStartDate=2020-01-01"),
        (upserter, "Metadata-Context", "sandbox=\"x\""),
    ] {
        let before = gw.sim.request_count();
        let mut hs = json.to_vec();
        hs.push((h, v));
        let r = call(
            &gw,
            cred,
            "POST",
            &format!("{V}/invoices"),
            &hs,
            Some(upsert),
        );
        let rec = refused(&gw, &r, 403, "policy.header_denied", before);
        assert!(detail(&rec).contains(&h.to_ascii_lowercase()), "{rec}");
    }
    gw.sim.clear_requests();
    let r = call(
        &gw,
        upserter,
        "POST",
        &format!("{V}/invoices"),
        &with_upsert,
        Some(upsert),
    );
    assert_eq!(r.status, 200, "granted upsert: {}", r.text());
    let seen = gw.sim.requests();
    assert_eq!(seen.len(), 1);
    assert!(seen[0]
        .headers
        .iter()
        .any(|(k, v)| k == "upsert-mode" && v == "true"));

    // Everything outside the allowlist is dropped on the way.
    gw.sim.clear_requests();
    let mut hs = json.to_vec();
    hs.extend_from_slice(&[
        (
            "X-Original-URL",
            "/fscmRestApi/resources/11.13.18.05/externalBankAccounts",
        ),
        (
            "X-Rewrite-URL",
            "/fscmRestApi/resources/11.13.18.05/externalBankAccounts",
        ),
        ("True-Client-IP", "10.9.9.9"),
        ("X-Client-IP", "10.9.9.9"),
        ("X-Anything", "1"),
        ("REST-Framework-Version", "4"),
        ("Accept-Language", "en"),
    ]);
    let r = call(
        &gw,
        poster,
        "POST",
        &format!("{V}/invoices"),
        &hs,
        Some(br#"{"Description":"plain"}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let seen = gw.sim.requests();
    let names: Vec<&str> = seen[0].headers.iter().map(|(k, _)| k.as_str()).collect();
    for gone in [
        "x-original-url",
        "x-rewrite-url",
        "true-client-ip",
        "x-client-ip",
        "x-anything",
    ] {
        assert!(!names.contains(&gone), "{gone} reached Oracle: {names:?}");
    }
    for kept in ["rest-framework-version", "accept-language", "content-type"] {
        assert!(names.contains(&kept), "{kept} was dropped: {names:?}");
    }
}

#[test]
fn batch_parts_are_admitted_like_direct_requests() {
    let (gw, creds) = start(&["batcher", "vendor"]);
    let (batcher, vendor) = (&creds[0], &creds[1]);
    let batch = [("Content-Type", "application/vnd.oracle.adf.batch+json")];
    let banks = gw.sim.unmasked_values("externalBankAccounts", "IBAN");
    let tax = gw.sim.unmasked_values("suppliers", "TaxRegistrationNumber");
    let post =
        |cred: &Issued, body: &str| call(&gw, cred, "POST", V, &batch, Some(body.as_bytes()));

    // Oracle runs any part on any path of its batch.
    let reach = r#"{"parts":[{"id":"p1","path":"/externalBankAccounts","operation":"get"}]}"#;
    let d = direct(&gw, "POST", V, &batch, Some(reach.as_bytes()));
    assert_eq!(d.status, 200, "{}", d.text());
    assert!(d.text().contains(banks[0].as_str()), "{}", d.text());

    // Through the gateway a part nobody granted refuses the whole batch.
    for (body, status, code, named) in [
        (
            reach,
            403,
            "policy.denied",
            "batch part 1 (GET /externalBankAccounts)",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/invoices/300100","operation":"get"},{"id":"b","path":"/invoices/300100","operation":"replace","payload":{}}]}"#,
            405,
            "method.not_allowed",
            "batch part 2",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/invoices/300100","operation":"update","payload":{}}]}"#,
            403,
            "policy.denied",
            "batch part 1 (PATCH /invoices/300100)",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/invoices","operation":"upsert","payload":{"InvoiceId":300100}}]}"#,
            403,
            "policy.header_denied",
            "upsert",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/nosuch","operation":"get"}]}"#,
            404,
            "endpoint.unknown",
            "batch part 1",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/invoices/../externalBankAccounts","operation":"get"}]}"#,
            400,
            "path.rejected",
            "batch part 1",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/suppliers?q=TaxRegistrationNumber%3D'GB2'","operation":"get"}]}"#,
            403,
            "query.masked_field",
            "TaxRegistrationNumber",
        ),
        (
            r#"{"parts":[{"id":"a","path":"/invoices/300100?expand=invoiceLines,payments","operation":"get"}]}"#,
            403,
            "policy.denied",
            "expand=payments",
        ),
        (r#"{"parts":[]}"#, 400, "request.malformed", "batch_empty"),
        (
            r#"{"parts":[{"id":"a","path":"/invoices","operation":"get","headers":{"Upsert-Mode":"true"}}]}"#,
            400,
            "request.malformed",
            "batch_shape",
        ),
        ("not json", 400, "request.malformed", "batch_shape"),
    ] {
        let before = gw.sim.request_count();
        let r = post(batcher, body);
        let rec = refused(&gw, &r, status, code, before);
        assert!(detail(&rec).contains(named), "{body}: {rec}");
    }
    // The batch endpoint needs its own grant, and the batch media type goes nowhere else.
    let before = gw.sim.request_count();
    refused(
        &gw,
        &post(
            vendor,
            r#"{"parts":[{"id":"a","path":"/suppliers","operation":"get"}]}"#,
        ),
        403,
        "policy.denied",
        before,
    );
    let r = call(
        &gw,
        batcher,
        "POST",
        &format!("{V}/invoices"),
        &batch,
        Some(reach.as_bytes()),
    );
    refused(&gw, &r, 403, "policy.denied", before);

    // Granted parts run, and every part's masking applies to the batch's answer.
    let ok = r#"{"parts":[
        {"id":"a","path":"/invoices/300100?expand=invoiceLines","operation":"get"},
        {"id":"b","path":"/invoices","operation":"create","payload":{"Description":"from a batch"}},
        {"id":"c","path":"/suppliers?limit=5","operation":"get"}]}"#;
    let r = post(batcher, ok);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let parts = v["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 3, "{v}");
    assert_eq!(
        parts[0]["payload"]["InvoiceId"].as_i64(),
        Some(300100),
        "{v}"
    );
    assert!(parts[0]["payload"]["invoiceLines"].is_array(), "{v}");
    assert!(parts[1]["payload"]["InvoiceId"].as_i64().is_some(), "{v}");
    let body = r.text();
    assert!(tax.iter().all(|t| !body.contains(t.as_str())), "{body}");
    assert!(body.contains("****"), "{body}");
}
