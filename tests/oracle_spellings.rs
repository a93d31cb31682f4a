//! Spellings of the Oracle-aware policy's names (issue 15) a Java front end may read as a
//! masked attribute, a governed parameter or a child, and governed headers sent with a batch,
//! must be refused before anything reaches Oracle.

mod support;

use serde_json::Value;
use support::{request, Gateway, Issued, Options, Response};

const V: &str = "/fscmRestApi/resources/11.13.18.05";
const H: &str = "/hcmRestApi/resources/11.13.18.05";

fn config() -> Options {
    Options {
        extra_config: r#"
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
redact = [ { path = "items[].TaxRegistrationNumber", action = "mask" } ]
  [[policy.rule]]
  endpoints = ["suppliers.collection", "suppliers.item"]
  methods = ["GET"]

[[policy]]
name = "workers-only"
subjects = ["account:directory"]
  [[policy.rule]]
  endpoints = ["workers.collection", "workers.item"]
  methods = ["GET"]

[[policy]]
name = "batch-root-upsert"
subjects = ["account:batcher"]
  [[policy.rule]]
  endpoints = ["fscm.batch"]
  methods = ["POST"]
  headers = ["Upsert-Mode"]
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["POST"]
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

fn refused(gw: &Gateway, r: &Response, status: u16, code: &str, before: usize) -> Value {
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (status, code),
        "{}",
        r.text()
    );
    assert_eq!(gw.sim.request_count(), before, "reached Oracle");
    let rid = r.header("x-request-id").expect("request id").to_string();
    gw.audit_record(&rid)
}

#[test]
fn spellings_java_folds_or_quotes_are_refused() {
    let (gw, creds) = start(&["vendor", "directory"]);
    let (vendor, directory) = (&creds[0], &creds[1]);
    for (cred, target, status, code) in [
        // `ı` is `I` to Java's equalsIgnoreCase; a zero-width or ideographic space glued to the
        // name is no part of it for a lexer that skips it.
        (
            vendor,
            format!("{V}/suppliers?q=TaxReg%C4%B1strationNumber%3D'GB2'"),
            403,
            "query.masked_field",
        ),
        (
            vendor,
            format!("{V}/suppliers?q=TaxRegistrationNumber%E3%80%80%3D'GB2'"),
            403,
            "query.masked_field",
        ),
        (
            vendor,
            format!("{V}/suppliers?q=Tax%E2%80%8BRegistrationNumber%3D'GB2'"),
            403,
            "query.masked_field",
        ),
        // `dependency` sets (and validates) the attributes it names.
        (
            vendor,
            format!("{V}/suppliers/1001?dependency=TaxRegistrationNumber%3DGB2"),
            403,
            "query.masked_field",
        ),
        // Words inside double quotes are names too.
        (
            vendor,
            format!("{V}/suppliers?q=%22Status%3D'A'%20OR%20TaxRegistrationNumber%22%3D'x'"),
            403,
            "query.masked_field",
        ),
        // A quoted dotted name reaches into the child like an unquoted one.
        (
            directory,
            format!("{H}/workers?q=%22nationalIdentifiers.NationalIdentifierNumber%22%3D'1'"),
            403,
            "policy.denied",
        ),
        // A parameter name Java folds to `fields` / `expand` is read as it.
        (
            directory,
            format!("{H}/workers/90001?f%C4%B1elds=PersonId;nationalIdentifiers"),
            403,
            "policy.denied",
        ),
        (
            directory,
            format!("{H}/workers/90001?expand%E2%80%8B=nationalIdentifiers"),
            403,
            "policy.denied",
        ),
    ] {
        let before = gw.sim.request_count();
        let r = gw.get_as(cred, &target);
        refused(&gw, &r, status, code, before);
    }
    // Legitimate queries still pass.
    for (cred, target) in [
        (vendor, format!("{V}/suppliers?q=Status%3D'ACTIVE'&limit=5")),
        (
            directory,
            format!("{H}/workers?q=PersonId%3E0&onlyData=true"),
        ),
    ] {
        let r = gw.get_as(cred, &target);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
    }
}

#[test]
fn malformed_query_values_are_not_kept() {
    let (gw, creds) = start(&["vendor"]);
    let before = gw.sim.request_count();
    let r = gw.get_as(
        &creds[0],
        &format!("{V}/suppliers?q=TaxRegistrationNumber%3D'GB2000"),
    );
    let rec = refused(&gw, &r, 400, "query.malformed", before);
    let q = rec["query"].as_str().unwrap_or("");
    assert!(!q.contains("GB2000"), "the guess was kept: {q}");
}

#[test]
fn governed_headers_sent_with_a_batch_bind_every_part() {
    let (gw, creds) = start(&["batcher"]);
    let body = br#"{"parts":[{"id":"a","path":"/invoices","operation":"create","payload":{"InvoiceId":300100}}]}"#;
    let auth = creds[0].basic();
    let send = |extra: &[(&str, &str)]| {
        let mut h = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/vnd.oracle.adf.batch+json"),
        ];
        h.extend_from_slice(extra);
        gw.send(&request("POST", V, &h, Some(body)))
    };
    // Upsert-Mode is granted on the batch root, not on invoices: a create part sent with it
    // would be an upsert of an existing invoice.
    let before = gw.sim.request_count();
    let r = send(&[("Upsert-Mode", "true")]);
    let rec = refused(&gw, &r, 403, "policy.header_denied", before);
    assert!(
        rec["detail"].as_str().unwrap_or("").contains("upsert-mode"),
        "{rec}"
    );
    // Without it the batch is admitted.
    let r = send(&[]);
    assert_eq!(r.status, 200, "{}", r.text());
}
