//! Response redaction through the real binary: tenant defaults plus every granting policy's
//! rules, links rewritten to the public base URL, headers adjusted, masking decisions in the
//! audit record (never values), fail-closed refusals, and flat memory on a 50 MB body.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use support::{basic, request, Gateway, Options, UPSTREAM_USER};

const V: &str = "/fscmRestApi/resources/11.13.18.05";
const PUBLIC: &str = "https://erp-gw.example.com";

/// Tenant `acme` keeps the last four of `TaxpayerId`; policy `vendor-read` (account
/// `vendor-reader`) masks bank account numbers and removes IBANs; `TaxRegistrationNumber` is
/// masked by `vendor-read` but only `last4`-ed by a second policy that also grants suppliers
/// to the same account (the strongest action wins).
fn redaction_config() -> Options {
    Options {
        gateway_extra: format!("public_base_url = \"{PUBLIC}\"\nredaction_mask = \"[REDACTED]\""),
        // The simulator's diagnostic routes take `items=N`, not an Oracle framework parameter.
        acme_extra: "unknown_query_parameters = \"allow\"".into(),
        extra_config: r#"
[[tenants.acme.redact]]
path = "**.TaxpayerId"
action = "last4"

[[policy]]
name = "vendor-read"
subjects = ["account:vendor-reader"]
redact = [
  { path = "items[].BankAccountNumber", action = "mask" },
  { path = "**.IBAN", action = "remove" },
  { path = "**.TaxRegistrationNumber", action = "mask" },
]
  [[policy.rule]]
  endpoints = ["suppliers.*", "externalBankAccounts.collection", "sim.diag"]
  methods = ["GET"]

[[policy]]
name = "vendor-read-lite"
subjects = ["account:vendor-reader"]
redact = [ { path = "**.TaxRegistrationNumber", action = "last4" } ]
  [[policy.rule]]
  endpoints = ["suppliers.collection"]
  methods = ["GET"]
"#
        .into(),
        ..Options::default()
    }
}

fn start() -> Gateway {
    let gw = Gateway::start(redaction_config());
    gw.ok(&[
        "account",
        "create",
        "--name",
        "vendor-reader",
        "--tenant",
        "acme",
    ]);
    gw
}

/// The same request straight to the simulated Oracle, as the gateway would make it.
fn direct(gw: &Gateway, target: &str) -> Value {
    let auth = basic(UPSTREAM_USER, &gw.upstream_password);
    let host = gw.sim.addr.to_string();
    let raw = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
    );
    let r = support::http::raw(gw.sim.addr, raw.as_bytes()).expect("direct");
    assert_eq!(r.status, 200, "direct: {}", r.text());
    r.json()
}

fn last4(s: &str, mask: &str) -> String {
    let n = s.chars().count();
    if n <= 4 {
        return mask.to_string();
    }
    format!("{mask}{}", s.chars().skip(n - 4).collect::<String>())
}

/// Rewrites every `links[].href` of `v` from the sim origin to the public one.
fn rewrite_links(v: &mut Value, origin: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(links)) = m.get_mut("links") {
                for l in links {
                    if let Some(Value::String(h)) = l.get_mut("href") {
                        if let Some(rest) = h.strip_prefix(origin) {
                            *h = format!("{PUBLIC}{rest}");
                        }
                    }
                }
            }
            for (_, x) in m.iter_mut() {
                rewrite_links(x, origin);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_links(x, origin)),
        _ => {}
    }
}

#[test]
fn fields_are_masked_per_tenant_and_policy_and_links_point_at_the_gateway() {
    let gw = start();
    let vendor = gw.issue("vendor-reader");
    let ap = gw.issue("ap-sync");
    let origin = gw.sim.base_url();
    let mask = "[REDACTED]";

    // Bank accounts through vendor-read: masked, removed, everything else byte-for-byte.
    let target = format!("{V}/externalBankAccounts?limit=5");
    let r = gw.get_as(&vendor, &target);
    assert_eq!(r.status, 200, "{}", r.text());
    // Oracle's answer arrives whole, so the masked body goes out with a length, not chunked
    // (`gateway::framing`; that the length is exact is the keep-alive test's work below).
    assert!(r.header("content-length").is_some(), "{:?}", r.headers);
    assert_eq!(r.header("transfer-encoding"), None);
    assert!(r.header("x-request-id").is_some());
    let got = r.json();
    let oracle = direct_raw(&gw, "GET", &target, "");
    assert_eq!(oracle.status, 200);
    assert_ne!(
        r.body.len(),
        oracle.body.len(),
        "the masked body is not Oracle's"
    );
    let mut want = direct(&gw, &target);
    let items = want["items"].as_array_mut().expect("items");
    assert_eq!(items.len(), 5);
    let originals: Vec<String> = items
        .iter()
        .map(|i| i["BankAccountNumber"].as_str().expect("number").to_string())
        .collect();
    for it in items.iter_mut() {
        let o = it.as_object_mut().expect("object");
        assert!(o.remove("IBAN").is_some(), "sim sends IBAN");
        o.insert("BankAccountNumber".into(), Value::from(mask));
    }
    rewrite_links(&mut want, &origin);
    assert_eq!(got, want, "only the masked values differ");
    let text = r.text();
    for n in &originals {
        assert!(!text.contains(n.as_str()), "account number {n} leaked");
    }
    assert!(!text.contains("IBAN") && !text.contains("NWBK"));
    assert!(
        !text.contains(&origin),
        "links name the gateway, not Oracle"
    );
    assert!(text.contains(&format!("{PUBLIC}{V}/externalBankAccounts")));

    // Suppliers: tenant default (TaxpayerId last4) plus both granting policies; for
    // TaxRegistrationNumber the stronger `mask` beats `last4`.
    let target = format!("{V}/suppliers?limit=3&onlyData=true");
    let got = gw.get_as(&vendor, &target).json();
    let plain = direct(&gw, &target);
    for (g, p) in got["items"]
        .as_array()
        .expect("items")
        .iter()
        .zip(plain["items"].as_array().expect("items"))
    {
        let tax = p["TaxpayerId"].as_str().expect("taxpayer");
        assert_eq!(g["TaxpayerId"], last4(tax, mask).as_str());
        assert_eq!(g["TaxRegistrationNumber"], mask);
        assert_eq!(g["Supplier"], p["Supplier"]);
        assert_eq!(g["SupplierId"], p["SupplierId"]);
    }
    assert_eq!(got["count"], plain["count"]);
    assert_eq!(got["hasMore"], plain["hasMore"]);

    // ap-sync's policy has no rules: only the tenant default applies.
    let got = gw.get_as(&ap, &target).json();
    for (g, p) in got["items"]
        .as_array()
        .expect("items")
        .iter()
        .zip(plain["items"].as_array().expect("items"))
    {
        assert_eq!(g["TaxRegistrationNumber"], p["TaxRegistrationNumber"]);
        assert_eq!(
            g["TaxpayerId"],
            last4(p["TaxpayerId"].as_str().expect("tax"), mask).as_str()
        );
    }

    // An item: Oracle's ETag (computed over the unmasked body) does not leave.
    let r = gw.get_as(&vendor, &format!("{V}/suppliers/1001"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("etag").is_none(), "{:?}", r.header("etag"));
    assert!(r.json()["TaxpayerId"]
        .as_str()
        .expect("tax")
        .starts_with(mask));

    // The audit record says which rules fired and how often, never a value.
    let mut bank = Value::Null;
    gw.eventually("the bank accounts request is audited", || {
        bank = gw
            .audit(&["--actor", "vendor-reader"])
            .into_iter()
            .find(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("externalBankAccounts"))
            })
            .unwrap_or(Value::Null);
        !bank.is_null()
    });
    let red = &bank["redaction"];
    assert_eq!(red["applied"], true);
    assert_eq!(red["values"], 10, "5 masked + 5 removed: {red}");
    assert!(red["links"].as_u64().is_some_and(|n| n >= 5), "{red}");
    let fired: Vec<(String, String, u64)> = red["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["action"].as_str().unwrap_or("").to_string(),
                f["values"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(fired.contains(&("items[].BankAccountNumber".into(), "mask".into(), 5)));
    assert!(fired.contains(&("**.IBAN".into(), "remove".into(), 5)));
    let export = gw.dir.path().join("audit.jsonl");
    gw.ok(&["audit", "export", "--out", export.to_str().expect("path")]);
    let all = std::fs::read_to_string(&export).expect("export");
    for n in &originals {
        assert!(!all.contains(n.as_str()), "a value reached the audit trail");
    }
}

#[test]
fn the_upstream_is_asked_for_identity_and_whole_bodies() {
    let gw = start();
    let ap = gw.issue("ap-sync");
    let auth = ap.basic();
    let r = gw.get(
        "/__sim/echo/x",
        &[
            ("Authorization", &auth),
            ("Accept-Encoding", "gzip, br"),
            ("Range", "bytes=0-10"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = r.json()["headers"].clone();
    let seen = |name: &str| -> Vec<String> {
        headers
            .as_array()
            .expect("headers")
            .iter()
            .filter(|h| h[0] == name)
            .map(|h| h[1].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(seen("accept-encoding"), ["identity"]);
    assert!(seen("range").is_empty());
}

#[test]
fn bodies_that_cannot_be_redacted_are_withheld() {
    let gw = start();
    let vendor = gw.issue("vendor-reader");

    for (what, detail) in [
        ("gzip", "content_encoding_unsupported"),
        ("html", "content_type_not_json"),
    ] {
        let r = gw.get_as(&vendor, &format!("/__sim/{what}"));
        assert_eq!(r.status, 502, "{what}: {}", r.text());
        assert_eq!(r.error_code(), "redaction.failed");
        assert!(!r.text().contains("400000000001"));
        let path = format!("/__sim/{what}");
        let mut rec = Value::Null;
        gw.eventually("the refusal is audited", || {
            rec = gw
                .audit(&["--actor", "vendor-reader"])
                .into_iter()
                .find(|x| x["path"] == path.as_str())
                .unwrap_or(Value::Null);
            !rec.is_null()
        });
        assert_eq!(rec["reason"], "redaction.failed");
        assert_eq!(rec["detail"], detail);
        assert_eq!(rec["status"], 502);
        assert_eq!(rec["upstream_status"], 200);
    }

    // Invalid JSON after the header went out: the response is cut off (no final chunk), the
    // value after the break never leaves, and the audit says why. 300 invoices (≈ 70 KB) go
    // past the 64 KiB a body is held for, so the earlier ones stream out masked first; 100
    // (≈ 24 KB) are held with the break, and nothing of the body leaves at all.
    let broken = |items: u32| {
        let mut s = TcpStream::connect(gw.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let auth = vendor.basic();
        s.write_all(&request(
            "GET",
            &format!("/__sim/broken?items={items}"),
            &[("Authorization", &auth)],
            None,
        ))
        .expect("send");
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{}",
            &text[..text.len().min(200)]
        );
        assert!(!text.contains("LEAKED-AFTER-BREAK"));
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "no clean end: the client can tell"
        );
        text
    };
    let streamed = broken(300);
    assert!(
        streamed.contains("\"BankAccountNumber\":\"[REDACTED]\""),
        "earlier items went out masked"
    );
    let held = broken(100);
    let body = held.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(
        !body.contains("InvoiceId"),
        "nothing of a held body: {body}"
    );
    gw.eventually("both broken responses are audited", || {
        gw.audit(&["--actor", "vendor-reader"])
            .iter()
            .filter(|x| x["reason"] == "redaction.failed" && x["detail"] == "invalid_json")
            .count()
            >= 2
    });
}

/// Peak resident memory (VmHWM) of `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmHWM")
}

#[test]
fn fifty_megabytes_are_redacted_with_flat_memory() {
    let gw = start();
    let vendor = gw.issue("vendor-reader");
    let pid = gw.pid().expect("running");
    // Warm up (worker threads, pools, first allocations), then measure the peak.
    let r = gw.get_as(&vendor, "/__sim/big?items=2000");
    assert_eq!(r.status, 200);
    let before = peak_kib(pid);

    // ~50 MB: each item is ~250 bytes.
    let items = 220_000;
    let mut s = TcpStream::connect(gw.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let auth = vendor.basic();
    s.write_all(&request(
        "GET",
        &format!("/__sim/big?items={items}"),
        &[("Authorization", &auth)],
        None,
    ))
    .expect("send");
    // Read in a streaming fashion: count bytes and look for unmasked numbers without
    // holding the body.
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    let mut masked = 0usize;
    let mut carry = Vec::new();
    let mut head = Vec::new();
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        if head.len() < 4096 {
            head.extend_from_slice(&buf[..n.min(4096)]);
        }
        total += n;
        carry.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&carry);
        masked += text.matches("\"BankAccountNumber\":\"[REDACTED]\"").count();
        assert!(
            !text.contains("\"BankAccountNumber\":\"4"),
            "an account number went through"
        );
        // Keep a tail long enough for a pattern cut between reads.
        let keep = carry.len().min(64);
        carry.drain(..carry.len() - keep);
    }
    let after = peak_kib(pid);
    eprintln!("peak RSS {before} KiB -> {after} KiB over {total} bytes");
    assert!(total > 50_000_000, "{total} bytes");
    // Far too long to arrive with its head: streamed, chunked, nothing held back for a length.
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let head = head.split("\r\n\r\n").next().expect("head");
    assert!(head.contains("\r\ntransfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(masked >= items - 10, "{masked} of {items} masked");
    assert!(
        after.saturating_sub(before) < 16 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB over a {total}-byte body"
    );
    let mut rec = Value::Null;
    gw.eventually("the 50 MB response is audited", || {
        rec = gw
            .audit(&["--actor", "vendor-reader"])
            .into_iter()
            .find(|x| x["query"] == format!("items={items}"))
            .unwrap_or(Value::Null);
        !rec.is_null()
    });
    assert_eq!(rec["redaction"]["values"], items as u64);
}

/// A raw request straight to the simulated Oracle with the gateway's upstream credential.
fn direct_raw(gw: &Gateway, method: &str, target: &str, extra: &str) -> support::Response {
    let auth = basic(UPSTREAM_USER, &gw.upstream_password);
    let raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n{extra}Connection: close\r\n\r\n",
        gw.sim.addr
    );
    if method == "HEAD" {
        support::http::raw_head(gw.sim.addr, raw.as_bytes()).expect("direct")
    } else {
        support::http::raw(gw.sim.addr, raw.as_bytes()).expect("direct")
    }
}

#[test]
fn masked_responses_carry_no_length_or_tag_of_the_unmasked_body() {
    let gw = start();
    let ap = gw.issue("ap-sync");
    let auth = ap.basic();
    let item = format!("{V}/suppliers/1001");
    // Oracle answers HEAD with the unmasked body's length and a strong tag over it.
    let oracle = direct_raw(&gw, "HEAD", &item, "");
    assert_eq!(oracle.status, 200);
    assert!(oracle.header("content-length").is_some_and(|n| n != "0"));
    let tag = oracle
        .header("etag")
        .expect("oracle tags items")
        .to_string();
    assert!(tag.starts_with('"'), "strong: {tag}");

    // Through the gateway (the tenant masks TaxpayerId): HEAD gets its GET's fields, chunked.
    let head = support::http::raw_head(
        gw.addr,
        &request("HEAD", &item, &[("Authorization", &auth)], None),
    )
    .expect("head");
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-length").is_none(),
        "{:?}",
        head.headers
    );
    assert!(head.header("etag").is_none(), "{:?}", head.headers);
    let get = gw.get_as(&ap, &item);
    assert_eq!(get.status, 200, "{}", get.text());
    assert!(get.header("etag").is_none());
    // The GET says its masked body's length (the body was whole before its head went out),
    // never Oracle's; HEAD fetches no body to measure and keeps the chunked head.
    let oracle_get = direct_raw(&gw, "GET", &item, "");
    let oracle_len = oracle_get.body.len().to_string();
    assert_eq!(oracle.header("content-length"), Some(oracle_len.as_str()));
    let said = get.header("content-length").expect("a length");
    assert_ne!(said, oracle_len, "Oracle's length never leaves");
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert!(get.json()["TaxpayerId"]
        .as_str()
        .is_some_and(|t| t.starts_with("[REDACTED]")));

    // Oracle's tag as a guess: Oracle would confirm it with a 304; through the gateway the
    // validator never reaches Oracle, and the answer is the masked 200.
    let confirmed = direct_raw(&gw, "GET", &item, &format!("If-None-Match: {tag}\r\n"));
    assert_eq!(confirmed.status, 304, "the guess is right");
    gw.sim.clear_requests();
    let r = gw.get(&item, &[("Authorization", &auth), ("If-None-Match", &tag)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = gw.sim.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].headers.iter().any(|(k, _)| k == "if-none-match"),
        "{:?}",
        seen[0].headers
    );
}

#[test]
fn error_free_text_and_request_previews_never_hold_a_masked_value() {
    let mut opts = redaction_config();
    opts.preview = 2048;
    opts.extra_config.push_str(
        r#"
[[endpoint]]
name = "externalBankAccounts.item"
path = "/fscmRestApi/resources/{version}/externalBankAccounts/{id}"
methods = ["GET", "PATCH"]

[[policy]]
name = "vendor-write"
subjects = ["account:vendor-reader"]
redact = [ { path = "**.IBAN", action = "mask" } ]
  [[policy.rule]]
  endpoints = ["externalBankAccounts.item"]
  methods = ["GET", "PATCH"]
"#,
    );
    let gw = Gateway::start(opts);
    gw.ok(&[
        "account",
        "create",
        "--name",
        "vendor-reader",
        "--tenant",
        "acme",
    ]);
    let vendor = gw.issue("vendor-reader");
    let auth = vendor.basic();
    let target = format!("{V}/externalBankAccounts/5001");
    let stored = direct_raw(&gw, "GET", &target, "").json();
    let iban = stored["IBAN"].as_str().expect("iban").to_string();

    // Oracle refuses the update and quotes the stored IBAN in words; the request carries it
    // too, and a password under an escaped key.
    let body = format!(r#"{{"IBAN":"{iban}","pass\u0077ord":"hunter2-canary","Note":"keep me"}}"#);
    let r = gw.send(&request(
        "PATCH",
        &target,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body.as_bytes()),
    ));
    assert_eq!(r.status, 400, "Oracle's status passes: {}", r.text());
    assert!(!r.text().contains(&iban), "{}", r.text());
    let err = r.json();
    assert_eq!(err["o:errorDetails"][0]["detail"], "[REDACTED]");
    assert_eq!(
        err["o:errorDetails"][0]["o:errorCode"],
        "SIM-BANK-VALIDATION"
    );
    assert_eq!(err["status"], "400");
    assert_eq!(err["title"], "[REDACTED]");
    let rid = r.header("x-request-id").expect("rid").to_string();
    let rec = gw.audit_record(&rid);
    let all = rec.to_string();
    assert!(!all.contains(&iban), "{all}");
    assert!(!all.contains("hunter2-canary"), "{all}");
    let req_preview = rec["request_preview"].as_str().expect("request preview");
    assert!(req_preview.contains("keep me"), "{req_preview}");
    assert!(rec["response_preview"]
        .as_str()
        .expect("response preview")
        .contains("SIM-BANK-VALIDATION"));
    let fired = rec["redaction"]["rules"].to_string();
    assert!(fired.contains("(error text)"), "{fired}");

    // A body the rules cannot read (not JSON) is not previewed at all.
    let form = format!("IBAN={iban}&Note=x");
    let r = gw.send(&request(
        "PATCH",
        &target,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(form.as_bytes()),
    ));
    let rid = r.header("x-request-id").expect("rid").to_string();
    let rec = gw.audit_record(&rid);
    assert_eq!(
        rec["request_preview"],
        "[withheld: redaction rules apply and the body is not JSON]"
    );
    assert!(!rec.to_string().contains(&iban));
}

/// Reads one response and the bytes after it up to the end of the connection.
fn response_then_rest(s: &mut std::io::BufReader<TcpStream>) -> (support::Response, Vec<u8>) {
    let r = support::http::read_response(s).expect("response");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("rest");
    (r, rest)
}

#[test]
fn masked_answers_framed_by_their_length_keep_a_kept_alive_connection_in_step() {
    let gw = start();
    let vendor = gw.issue("vendor-reader");
    let auth = vendor.basic();
    let targets = [
        format!("{V}/suppliers/1001"),
        format!("{V}/externalBankAccounts?limit=5"),
        format!("{V}/suppliers?limit=3"),
    ];
    // The same answers, each on a connection of its own, closed after it: the reference.
    let mut alone = Vec::new();
    for t in &targets {
        let mut s = std::io::BufReader::new(TcpStream::connect(gw.addr).expect("connect"));
        s.get_mut()
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s.get_mut()
            .write_all(&request("GET", t, &[("Authorization", &auth)], None))
            .expect("send");
        let (r, rest) = response_then_rest(&mut s);
        assert_eq!(r.status, 200, "{t}: {}", r.text());
        assert!(rest.is_empty(), "{t}: bytes after the answer");
        alone.push(r);
    }

    // All three on one kept-alive connection, then a last one that closes it. Were a length
    // too long, an answer would swallow the start of the next; too short, the next would
    // start inside a body; either way a head or a document below would not parse.
    let mut s = std::io::BufReader::new(TcpStream::connect(gw.addr).expect("connect"));
    s.get_mut()
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    for (t, want) in targets.iter().zip(&alone) {
        let raw =
            format!("GET {t} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: {auth}\r\n\r\n");
        s.get_mut().write_all(raw.as_bytes()).expect("send");
        let r = support::http::read_response(&mut s).expect("answer");
        assert_eq!(r.status, 200, "{t}: {}", r.text());
        let said: usize = r
            .header("content-length")
            .unwrap_or_else(|| panic!("{t}: framed by length: {:?}", r.headers))
            .parse()
            .expect("a number");
        assert_eq!(said, want.body.len(), "{t}: the same body as alone");
        assert_eq!(r.json(), want.json(), "{t}");
        assert!(!r.text().contains("NWBK"), "{t}: masked");
    }
    s.get_mut()
        .write_all(&request(
            "GET",
            &targets[0],
            &[("Authorization", &auth)],
            None,
        ))
        .expect("send");
    let (last, rest) = response_then_rest(&mut s);
    assert_eq!(last.status, 200);
    assert_eq!(last.json(), alone[0].json());
    assert!(rest.is_empty(), "bytes after the last answer: {rest:?}");
}

/// Without a public base URL nothing rewrites links, so an answer that names none of the
/// rules' keys goes out exactly as Oracle sent it, unparsed (`redact::needles`), still framed
/// by its length, without Oracle's tag and with the redaction in the audit; an answer that
/// names a key is masked as before.
#[test]
fn an_answer_that_names_no_rule_key_goes_out_as_oracle_sent_it() {
    let metrics = format!("127.0.0.1:{}", support::free_port());
    let gw = Gateway::start(Options {
        gateway_extra: format!("metrics_listen = \"{metrics}\""),
        extra_config: "[[tenants.acme.redact]]\npath = \"**.Supplier\"\naction = \"remove\"\n"
            .into(),
        ..Options::default()
    });
    // How many bodies went out unparsed: the one sign, from outside, that the masker did not
    // read them.
    let unparsed = || {
        let sock = metrics.parse().expect("addr");
        support::http::metric(sock, "erpgate_redaction_bodies_unparsed_total")
    };
    assert_eq!(unparsed(), 0);
    let ap = gw.issue("ap-sync");
    let unnamed = format!("{V}/invoices/300100?fields=InvoiceId,InvoiceNumber&onlyData=true");
    let r = gw.get_as(&ap, &unnamed);
    assert_eq!(r.status, 200, "{}", r.text());
    let oracle = direct_raw(&gw, "GET", &unnamed, "");
    assert_eq!(oracle.status, 200);
    assert!(oracle.header("etag").is_some());
    assert_eq!(r.body, oracle.body, "Oracle's bytes");
    let len = oracle.body.len().to_string();
    assert_eq!(r.header("content-length"), Some(len.as_str()));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(
        r.header("etag"),
        None,
        "no tag of a body under masking rules"
    );
    assert_eq!(
        unparsed(),
        1,
        "Pingora handed the body over whole, and it went unparsed"
    );

    let named = format!("{V}/invoices/300100?onlyData=true");
    let r = gw.get_as(&ap, &named);
    assert_eq!(r.status, 200, "{}", r.text());
    let masked = r.json();
    let oracle = direct_raw(&gw, "GET", &named, "").json();
    assert!(oracle.get("Supplier").is_some());
    assert!(masked.get("Supplier").is_none(), "{masked}");
    assert_eq!(masked["SupplierNumber"], oracle["SupplierNumber"]);
    assert_eq!(unparsed(), 1, "a body that names a key is parsed");

    let mut records = Vec::new();
    gw.eventually("both answers are audited", || {
        records = gw.audit(&["--actor", "ap-sync"]);
        records.len() >= 2
    });
    let redaction = |target: &str| {
        let path = target.split('?').next().unwrap_or_default();
        records
            .iter()
            .filter(|x| x["path"] == path)
            .map(|x| x["redaction"].clone())
            .collect::<Vec<_>>()
    };
    let notes = redaction(&unnamed);
    assert_eq!(notes.len(), 2, "{records:?}");
    assert!(notes.iter().all(|n| n["applied"] == true), "{notes:?}");
    let mut values: Vec<u64> = notes.iter().filter_map(|n| n["values"].as_u64()).collect();
    values.sort_unstable();
    assert_eq!(values, [0, 1], "{notes:?}");
}
