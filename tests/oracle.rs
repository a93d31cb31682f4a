//! Oracle-aware policy: what Oracle's REST framework does with the query string, the request
//! headers and a batch body is part of the request. Each bypass is first shown to work
//! against the simulated Oracle directly, then refused through the gateway (with nothing
//! reaching Oracle); what was legitimate before still passes.

mod support;

use serde_json::Value;
use support::{basic, request, Gateway, Issued, Options, Response, UPSTREAM_USER};

const V: &str = "/fscmRestApi/resources/11.13.18.05";
const H: &str = "/hcmRestApi/resources/11.13.18.05";

fn config() -> Options {
    Options {
        extra_config: r#"
[[endpoint]]
name = "invoices.lines"
path = "/fscmRestApi/resources/{version}/invoices/{id}/child/invoiceLines"
methods = ["GET"]
[[endpoint]]
name = "suppliers.sites"
path = "/fscmRestApi/resources/{version}/suppliers/{id}/child/sites"
methods = ["GET"]
[[endpoint]]
name = "workers.item"
path = "/hcmRestApi/resources/{version}/workers/{id}"
methods = ["GET"]
[[endpoint]]
name = "workers.nationalIdentifiers"
path = "/hcmRestApi/resources/{version}/workers/{id}/child/nationalIdentifiers"
methods = ["GET"]
[[endpoint]]
name = "fscm.batch"
path = "/fscmRestApi/resources/{version}"
methods = ["POST"]
batch = true

[[policy]]
name = "vendor-masked"
subjects = ["account:vendor"]
redact = [
  { path = "items[].TaxRegistrationNumber", action = "mask" },
  { path = "TaxRegistrationNumber", action = "mask" },
]
  [[policy.rule]]
  endpoints = ["suppliers.collection", "suppliers.item", "suppliers.sites"]
  methods = ["GET"]

[[policy]]
name = "workers-only"
subjects = ["account:directory"]
  [[policy.rule]]
  endpoints = ["workers.collection", "workers.item"]
  methods = ["GET"]

[[policy]]
name = "hr-ids"
subjects = ["account:hr-ids"]
# Written for the child collection's own shape: it must still fire when the child is inlined.
redact = [ { path = "items[].NationalIdentifierNumber", action = "last4" } ]
  [[policy.rule]]
  endpoints = ["workers.collection", "workers.item", "workers.nationalIdentifiers"]
  methods = ["GET"]

[[policy]]
name = "invoice-poster"
subjects = ["account:poster", "account:upserter"]
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["POST"]

[[policy]]
name = "invoice-upsert"
subjects = ["account:upserter"]
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["POST"]
  headers = ["Upsert-Mode"]

[[policy]]
name = "batcher"
subjects = ["account:batcher"]
  [[policy.rule]]
  endpoints = ["fscm.batch", "invoices.collection"]
  methods = ["POST"]
  [[policy.rule]]
  endpoints = ["invoices.item", "invoices.collection", "invoices.lines"]
  methods = ["GET"]

[[policy]]
name = "batcher-suppliers"
subjects = ["account:batcher"]
redact = [ { path = "items[].TaxRegistrationNumber", action = "mask" } ]
  [[policy.rule]]
  endpoints = ["suppliers.collection"]
  methods = ["GET"]
"#
        .into(),
        ..Options::default()
    }
}

fn start(accounts: &[&str]) -> (Gateway, Vec<Issued>) {
    let gw = Gateway::start(config());
    let mut creds = Vec::new();
    for a in accounts {
        gw.ok(&["account", "create", "--name", a, "--tenant", "acme"]);
        creds.push(gw.issue(a));
    }
    (gw, creds)
}

/// Percent-encodes everything but unreserved characters (a query value as a client sends it).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The same request straight to the simulated Oracle, with the integration user's password.
fn direct(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let auth = basic(UPSTREAM_USER, &gw.upstream_password);
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    support::http::raw(gw.sim.addr, &request(method, target, &all, body)).expect("direct")
}

fn call(
    gw: &Gateway,
    cred: &Issued,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let auth = cred.basic();
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    gw.send(&request(method, target, &all, body))
}

/// Asserts a refusal with `status` and `code`, that Oracle saw nothing of it, and returns the
/// request's audit record.
fn refused(gw: &Gateway, r: &Response, status: u16, code: &str, before: usize) -> Value {
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (status, code),
        "{}",
        r.text()
    );
    assert_eq!(
        gw.sim.request_count(),
        before,
        "a refused request reached Oracle"
    );
    let rid = r.header("x-request-id").expect("request id").to_string();
    gw.audit_record(&rid)
}

fn detail(rec: &Value) -> String {
    rec["detail"].as_str().unwrap_or("").to_string()
}

#[test]
fn masked_fields_cannot_be_read_back_through_the_query() {
    let (gw, creds) = start(&["vendor"]);
    let vendor = &creds[0];
    let hidden = gw.sim.unmasked_values("suppliers", "TaxRegistrationNumber");
    let known = hidden.first().expect("seeded").clone();
    let wrong = "GB999999999";

    // Against Oracle itself, a filter on the field is a yes/no oracle for a guessed value.
    let guess = |v: &str| {
        format!(
            "{V}/suppliers?q={}&totalResults=true",
            enc(&format!("TaxRegistrationNumber='{v}'"))
        )
    };
    let yes = direct(&gw, "GET", &guess(&known), &[], None);
    let no = direct(&gw, "GET", &guess(wrong), &[], None);
    assert_eq!(
        (
            yes.json()["totalResults"].as_i64(),
            no.json()["totalResults"].as_i64()
        ),
        (Some(1), Some(0))
    );

    // Through the gateway every spelling of it is refused, and Oracle sees none of them.
    let masked_uses = [
        guess(&known),
        guess(wrong),
        format!(
            "{V}/suppliers?q={}",
            enc("TaxRegistrationNumber LIKE 'GB2%'")
        ),
        format!("{V}/suppliers?q={}", enc("taxregistrationnumber>'GB2'")),
        format!("{V}/suppliers?Q={}", enc("TaxRegistrationNumber='x'")),
        format!("{V}/suppliers?%71={}", enc("TaxRegistrationNumber='x'")),
        format!("{V}/suppliers?q={}", enc("\"TaxRegistrationNumber\" = 'x'")),
        format!(
            "{V}/suppliers?q={}",
            enc(&format!("TaxRegistrationNumber={known}"))
        ),
        format!(
            "{V}/suppliers?q={}",
            enc("Status='ACTIVE' OR UPPER(TaxRegistrationNumber)='X'")
        ),
        format!("{V}/suppliers?q=TaxRegistrationNumber%3D'x'"),
        format!("{V}/suppliers?orderBy=TaxRegistrationNumber:desc"),
        format!("{V}/suppliers?fields=SupplierId,TaxRegistrationNumber"),
        format!(
            "{V}/suppliers?finder={}",
            enc(&format!("SupplierByTaxRegistration;TaxRegNum={known}"))
        ),
        format!(
            "{V}/suppliers/1001/child/sites?q={}",
            enc("TaxRegistrationNumber='x'")
        ),
    ];
    for target in &masked_uses {
        let before = gw.sim.request_count();
        let r = gw.get_as(vendor, target);
        let rec = refused(&gw, &r, 403, "query.masked_field", before);
        assert!(
            detail(&rec)
                .to_ascii_lowercase()
                .contains("taxregistration"),
            "{target}: {rec}"
        );
        // The guessed value is never kept in the record.
        let q = rec["query"].as_str().unwrap_or("");
        assert!(!q.contains(&known) && !q.contains("GB2"), "{target}: {q}");
    }

    // Parameters that cannot be judged are refused rather than relayed.
    for (target, status, code) in [
        (
            format!("{V}/suppliers?finder={}", enc("SupplierByName;Name=x")),
            403,
            "query.parameter_denied",
        ),
        (
            format!("{V}/suppliers?foo=1"),
            403,
            "query.parameter_denied",
        ),
        (
            format!("{V}/suppliers?q={}", enc("Status='ACTIVE")),
            400,
            "query.malformed",
        ),
        (format!("{V}/suppliers?q=%zz"), 400, "query.malformed"),
        (format!("{V}/suppliers?q=%C0%AF"), 400, "query.malformed"),
    ] {
        let before = gw.sim.request_count();
        let r = gw.get_as(vendor, &target);
        refused(&gw, &r, status, code, before);
    }

    // What was legitimate still is: filters, sorting, paging and finders on unmasked fields.
    let r = gw.get_as(vendor, &format!("{V}/suppliers?q={}&totalResults=true&limit=3&offset=1&onlyData=true&orderBy=SupplierId:desc", enc("Status='ACTIVE'")));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["totalResults"].as_i64(), Some(hidden.len() as i64));
    assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["items"][0]["TaxRegistrationNumber"], "****");
    let r = gw.get_as(
        vendor,
        &format!("{V}/suppliers?finder={}", enc("PrimaryKey;SupplierId=1001")),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"][0]["SupplierId"].as_i64(), Some(1001));
    let body = r.text();
    assert!(hidden.iter().all(|h| !body.contains(h.as_str())), "{body}");
}

#[test]
fn ungranted_children_stay_out_of_reach() {
    let (gw, creds) = start(&["directory", "hr-ids"]);
    let (directory, hr) = (&creds[0], &creds[1]);
    let ssns = gw
        .sim
        .child_values("workers", "nationalIdentifiers", "NationalIdentifierNumber");
    let ssn = ssns.first().expect("seeded").clone();

    // Oracle inlines a child for `expand` and for `fields`.
    let inline = format!(
        "{H}/workers/90001?expand=nationalIdentifiers&fields={}",
        enc("PersonId;nationalIdentifiers:NationalIdentifierNumber")
    );
    let d = direct(&gw, "GET", &inline, &[], None);
    assert_eq!(d.status, 200, "{}", d.text());
    assert!(
        d.text().contains(&ssn),
        "the simulator inlines the child: {}",
        d.text()
    );

    // Through the gateway, a child is reached only as a direct request to it would be.
    for (target, status, code, named) in [
        (
            format!("{H}/workers/90001/child/nationalIdentifiers"),
            403,
            "policy.denied",
            "",
        ),
        (inline.clone(), 403, "policy.denied", "nationalIdentifiers"),
        (
            format!("{H}/workers/90001?expand=nationalIdentifiers"),
            403,
            "policy.denied",
            "expand=nationalIdentifiers (endpoint workers.nationalIdentifiers)",
        ),
        (
            format!("{H}/workers?expand=nationalIdentifiers"),
            403,
            "policy.denied",
            "child_not_granted",
        ),
        (
            format!(
                "{H}/workers/90001?fields={}",
                enc("PersonId;nationalIdentifiers:NationalIdentifierNumber")
            ),
            403,
            "policy.denied",
            "fields=nationalIdentifiers",
        ),
        (
            format!(
                "{H}/workers/90001?fields={}",
                enc("PersonId;nationalIdentifiers")
            ),
            403,
            "policy.denied",
            "fields=nationalIdentifiers",
        ),
        (
            format!("{H}/workers/90001?EXPAND=%6EationalIdentifiers"),
            403,
            "policy.denied",
            "nationalIdentifiers",
        ),
        (
            format!(
                "{H}/workers?q={}",
                enc("nationalIdentifiers.NationalIdentifierNumber='1'")
            ),
            403,
            "policy.denied",
            "q=nationalIdentifiers",
        ),
        (
            format!("{H}/workers/90001?expand=photos"),
            403,
            "policy.denied",
            "child_unknown",
        ),
        (
            format!("{H}/workers/90001?expand=all"),
            403,
            "query.parameter_denied",
            "expand=all",
        ),
        (
            format!("{H}/workers/90001?expand=ALL"),
            403,
            "query.parameter_denied",
            "expand=all",
        ),
    ] {
        let before = gw.sim.request_count();
        let r = gw.get_as(directory, &target);
        let rec = refused(&gw, &r, status, code, before);
        assert!(detail(&rec).contains(named), "{target}: {rec}");
    }

    // Granted children may be inlined, and the child's own masking follows it into the
    // parent's response, though its rule was written for the child's shape.
    let r = gw.get_as(hr, &format!("{H}/workers/90001?expand=nationalIdentifiers"));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(ssns.iter().all(|s| !body.contains(s.as_str())), "{body}");
    let shown = r.json()["nationalIdentifiers"][0]["NationalIdentifierNumber"]
        .as_str()
        .map(str::to_string);
    assert_eq!(shown, Some(format!("****{}", &ssn[ssn.len() - 4..])));
    let r = gw.get_as(hr, &format!("{H}/workers/90001/child/nationalIdentifiers"));
    assert_eq!(r.status, 200, "{}", r.text());

    // Plain reads of what is granted are untouched.
    let r = gw.get_as(
        directory,
        &format!("{H}/workers/90001?fields=PersonId,DisplayName&onlyData=true"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("nationalIdentifiers").is_none());
    assert_eq!(
        gw.get_as(directory, &format!("{H}/workers?limit=2&offset=2"))
            .status,
        200
    );

    // `check` says which children a parent's grant cannot reach.
    let out = gw.ok(&["check"]);
    assert!(
        out.contains("warning: endpoint \"workers.item\" is granted to account:directory but its child \"workers.nationalIdentifiers\" is not"),
        "{out}"
    );
}

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
