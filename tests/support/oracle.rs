//! The Oracle-aware policy's test setup (`tests/oracle*.rs`): a catalog with children and a
//! batch root, accounts with and without masks, governed-header grants, and helpers that ask
//! the simulated Oracle directly or through the gateway.

use serde_json::Value;

use super::{basic, request, Gateway, Issued, Options, Response, UPSTREAM_USER};

pub const V: &str = "/fscmRestApi/resources/11.13.18.05";
pub const H: &str = "/hcmRestApi/resources/11.13.18.05";

pub fn config() -> Options {
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

pub fn start(accounts: &[&str]) -> (Gateway, Vec<Issued>) {
    let gw = Gateway::start(config());
    let mut creds = Vec::new();
    for a in accounts {
        gw.ok(&["account", "create", "--name", a, "--tenant", "acme"]);
        creds.push(gw.issue(a));
    }
    (gw, creds)
}

/// Percent-encodes everything but unreserved characters (a query value as a client sends it).
pub fn enc(s: &str) -> String {
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
pub fn direct(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let auth = basic(UPSTREAM_USER, &gw.upstream_password);
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    super::http::raw(gw.sim.addr, &request(method, target, &all, body)).expect("direct")
}

pub fn call(
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
pub fn refused(gw: &Gateway, r: &Response, status: u16, code: &str, before: usize) -> Value {
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

pub fn detail(rec: &Value) -> String {
    rec["detail"].as_str().unwrap_or("").to_string()
}
