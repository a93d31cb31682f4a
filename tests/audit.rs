//! The audit trail end to end: one record per request with the decision path, nothing lost on
//! graceful shutdown, tamper evidence, refusal instead of unaudited relay, and no secrets.

mod support;

use std::time::Duration;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

#[test]
fn every_request_is_recorded_with_its_decision_path_and_nothing_is_lost_on_sigterm() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let mut ids = Vec::new();
    // A mix of outcomes, each with its own reason code.
    let auth = cred.basic();
    let r = gw.get(
        &format!("{INVOICES}?limit=1&access_token=leaky"),
        &[("Authorization", &auth), ("X-Forwarded-For", "6.6.6.6")],
    );
    assert_eq!(r.status, 200);
    ids.push((
        "relayed",
        "",
        r.header("x-request-id").expect("rid").to_string(),
    ));
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/externalBankAccounts");
    ids.push((
        "denied",
        "policy.denied",
        r.header("x-request-id").expect("rid").to_string(),
    ));
    let r = gw.get(INVOICES, &[]);
    ids.push((
        "denied",
        "auth.missing",
        r.header("x-request-id").expect("rid").to_string(),
    ));
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices/..%2fx");
    ids.push((
        "denied",
        "path.rejected",
        r.header("x-request-id").expect("rid").to_string(),
    ));
    // Then a burst, and an immediate SIGTERM: every record must be there afterwards.
    let burst = 200;
    for _ in 0..burst {
        assert_eq!(gw.get_as(&cred, INVOICES).status, 200);
    }
    assert_eq!(gw.stop(), Some(0));
    let records = gw.audit(&["--actor", "ap-sync"]);
    let requests: Vec<_> = records.iter().filter(|r| r["kind"] == "request").collect();
    // The relayed and the policy-denied request, plus the burst. The path-rejected request is
    // refused before authentication, so it is anonymous, like the one without a credential.
    assert_eq!(
        requests.len(),
        2 + burst,
        "exactly one record per authenticated request"
    );
    let anonymous = gw.audit(&["--actor", "-"]);
    assert_eq!(
        anonymous.len(),
        2,
        "refusals before authentication are recorded too"
    );

    for (decision, reason, rid) in &ids {
        let found = gw.audit(&["--request-id", rid]);
        assert_eq!(found.len(), 1, "request {rid}");
        let rec = &found[0];
        assert_eq!(rec["decision"], *decision, "{rec}");
        assert_eq!(rec["reason"], *reason, "{rec}");
        assert!(
            rec["snapshot_hash"].as_str().is_some_and(|h| h.len() == 64)
                || *reason == "path.rejected"
                || *reason == "auth.missing"
        );
    }
    let relayed = &gw.audit(&["--request-id", &ids[0].2])[0];
    assert_eq!(relayed["policy"], "ap-automation");
    assert_eq!(relayed["rule"], "read invoices and suppliers");
    assert_eq!(relayed["endpoint"], "invoices.collection");
    assert_eq!(relayed["tenant"], "acme");
    assert_eq!(relayed["status"], 200);
    assert_eq!(relayed["upstream_status"], 200);
    assert_eq!(relayed["upstream_identity"], support::UPSTREAM_USER);
    assert_eq!(
        relayed["client_ip"], "127.0.0.1",
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    assert_eq!(relayed["credential_id"], cred.id.as_str());
    assert_eq!(
        relayed["query"], "limit=1&access_token=****",
        "sensitive query values masked"
    );
    assert!(
        relayed.get("response_preview").is_none(),
        "previews are off by default"
    );
    assert!(relayed["gateway_us"].as_u64().is_some() && relayed["upstream_us"].as_u64().is_some());
    let denied = &gw.audit(&["--request-id", &ids[1].2])[0];
    assert_eq!(denied["endpoint"], "externalBankAccounts.collection");
    assert!(denied.get("upstream_status").is_none(), "never relayed");

    // The CLI's own actions are in the trail as admin records.
    let admin = gw.audit(&["--decision", "ok"]);
    let verbs: Vec<&str> = admin.iter().filter_map(|r| r["method"].as_str()).collect();
    for v in [
        "store.migrate",
        "account.create",
        "secret.set",
        "credential.issue",
    ] {
        assert!(verbs.contains(&v), "{v} missing from {verbs:?}");
    }

    let verify = gw.ok(&["audit", "verify"]);
    assert!(verify.contains("audit chain intact"), "{verify}");
    assert!(!verify.contains("no tally"), "{verify}");
}

#[test]
fn tampering_is_found_and_exports_verify_independently() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    for _ in 0..5 {
        gw.get_as(&cred, INVOICES);
    }
    gw.stop();
    let export = gw.dir.path().join("export.jsonl");
    gw.ok(&["audit", "export", "--out", export.to_str().expect("path")]);
    let verify = gw.ok(&["audit", "verify", "--file", export.to_str().expect("path")]);
    assert!(verify.contains("intact"), "{verify}");

    // Edit one exported line: the file no longer verifies.
    let text = std::fs::read_to_string(&export).expect("read");
    let edited = text.replacen("\\\"status\\\":200", "\\\"status\\\":403", 1);
    assert_ne!(text, edited);
    std::fs::write(&export, edited).expect("write");
    let out = gw.cli(&["audit", "verify", "--file", export.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));

    // Edit the database with the trigger dropped: verify names the batch the record is in.
    let conn = gw.trail_unguarded();
    let id: i64 = conn
        .query_row(
            "SELECT id FROM audit_batch WHERE instr(records, 'ap-sync') > 0 ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("id");
    conn.execute(
        "UPDATE audit_batch SET records = replace(records, 'ap-sync', 'someone') WHERE id = ?1",
        [id],
    )
    .expect("edit");
    let out = gw.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("BROKEN at record {id}")), "{text}");
}

#[test]
fn a_full_audit_queue_refuses_traffic_instead_of_relaying_it_unaudited() {
    let gw = Gateway::start(Options {
        audit_queue: 16,
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    // 16 slow requests hold every slot for their whole duration.
    let holders: Vec<_> = (0..16)
        .map(|_| {
            let addr = gw.addr;
            let raw = support::request(
                "GET",
                "/__sim/slow?ms=1500",
                &[("Authorization", &auth)],
                None,
            );
            std::thread::spawn(move || support::http::raw(addr, &raw).map(|r| r.status))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    let r = gw.get_as(&cred, INVOICES);
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (503, "audit.unavailable")
    );
    assert!(r.header("retry-after").is_some());
    for h in holders {
        assert_eq!(h.join().expect("join").expect("response"), 200);
    }
    // Slots are free again: traffic flows.
    assert_eq!(gw.get_as(&cred, INVOICES).status, 200);
}

#[test]
fn a_crash_under_load_loses_at_most_the_queued_records() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ids, addr, auth) = (stop.clone(), ids.clone(), gw.addr, auth.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let raw = support::request("GET", INVOICES, &[("Authorization", &auth)], None);
                    if let Ok(r) = support::http::raw(addr, &raw) {
                        if let Some(id) = r.header("x-request-id") {
                            ids.lock().expect("lock").push(id.to_string());
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    gw.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let answered = ids.lock().expect("lock").clone();
    let recorded: std::collections::HashSet<String> = gw
        .audit(&["--actor", "ap-sync"])
        .iter()
        .filter_map(|r| r["request_id"].as_str().map(str::to_string))
        .collect();
    let lost = answered.iter().filter(|id| !recorded.contains(*id)).count();
    println!(
        "kill -9 under load: {lost} of {} answered requests had no audit record",
        answered.len()
    );
    assert!(
        answered.len() > 100,
        "load was generated ({})",
        answered.len()
    );
    // The bound is the queue: records are committed as soon as the writer takes them, so only
    // records still queued (or in the batch being committed) at the moment of the crash are lost.
    assert!(lost <= 4096, "lost {lost}, more than the queue can hold");
    assert!(
        gw.ok(&["audit", "verify"]).contains("intact"),
        "a crash never breaks the chain"
    );
}

#[test]
fn previews_when_enabled_are_capped_and_scrubbed() {
    let gw = Gateway::start(Options {
        preview: 64,
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let auth = cred.basic();
    let body = br#"{"InvoiceNumber":"P-1","password":"canary-pw-77","Description":"x"}"#;
    let r = gw.send(&support::request(
        "POST",
        INVOICES,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    let rid = r.header("x-request-id").expect("rid").to_string();
    let rec = &gw.audit_record(&rid);
    let req = rec["request_preview"].as_str().expect("request preview");
    assert!(req.contains("\"InvoiceNumber\":\"P-1\""), "{req}");
    assert!(!req.contains("canary-pw-77"), "credential scrubbed: {req}");
    let resp = rec["response_preview"].as_str().expect("response preview");
    assert!(resp.chars().count() <= 65, "capped: {resp}");
    assert!(resp.ends_with('…'));
}

#[test]
fn an_edit_to_any_column_beside_the_hashed_record_is_named_by_verify() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    for _ in 0..3 {
        assert_eq!(gw.get_as(&cred, INVOICES).status, 200);
    }
    gw.get_as(&cred, "/fscmRestApi/resources/latest/externalBankAccounts");
    assert_eq!(gw.stop(), Some(0));
    assert!(gw.ok(&["audit", "verify"]).contains("intact"));
    summary_counts_the_trail(&gw);
    let conn = gw.trail_unguarded();
    // Every column of the table except the chain's own (id, records, prev_hash, hash): taken
    // from the schema, so a column added later is covered (or this test fails).
    let columns: Vec<String> = {
        let mut st = conn
            .prepare("SELECT name FROM pragma_table_info('audit_batch')")
            .expect("pragma");
        st.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    };
    let columns: Vec<&String> = columns
        .iter()
        .filter(|c| !["id", "records", "prev_hash", "hash"].contains(&c.as_str()))
        .collect();
    assert!(columns.len() >= 4, "{columns:?}");
    let id: i64 = conn
        .query_row(
            "SELECT id FROM audit_batch WHERE instr(records, '\"kind\":\"request\"') > 0 ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("id");
    for col in columns {
        let original: rusqlite::types::Value = conn
            .query_row(
                &format!("SELECT {col} FROM audit_batch WHERE id = ?1"),
                [id],
                |r| r.get(0),
            )
            .expect("original");
        // Text gets a suffix, a number one more.
        conn.execute(
            &format!("UPDATE audit_batch SET {col} = CASE WHEN typeof({col}) = 'integer' THEN {col} + 1 ELSE {col} || '-edited' END WHERE id = ?1"),
            [id],
        )
        .expect("edit");
        let out = gw.cli(&["audit", "verify"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{col}: {text}");
        assert!(
            text.contains(&format!("BROKEN at record {id}")) && text.contains(col.as_str()),
            "an edit to {col} is named: {text}"
        );
        conn.execute(
            &format!("UPDATE audit_batch SET {col} = ?1 WHERE id = ?2"),
            rusqlite::params![original, id],
        )
        .expect("restore");
        assert!(gw.ok(&["audit", "verify"]).contains("intact"), "{col}");
    }
    // A tally removed is no claim and no break, but the operator is told of it.
    conn.execute("UPDATE audit_batch SET tally = NULL WHERE id = ?1", [id])
        .expect("null the tally");
    let untallied = gw.ok(&["audit", "verify"]);
    assert!(
        untallied.contains("intact") && untallied.contains("note: 1 batch(es) carry no tally"),
        "{untallied}"
    );
    // The actor lookup beside the chain: a row deleted hides its records from queries by
    // actor; verify names the first, and `audit reindex` adds back what the records imply.
    conn.execute_batch(
        "DROP TRIGGER audit_actor_second_no_delete; \
         DELETE FROM audit_actor_second WHERE actor = 'ap-sync'",
    )
    .expect("delete the lookup's rows");
    let out = gw.cli(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("actor lookup") && text.contains("erpgate audit reindex"),
        "{text}"
    );
    let added = gw.ok(&["audit", "reindex"]);
    assert!(added.contains("row(s) added"), "{added}");
    assert!(!added.contains(" 0 row(s)"), "{added}");
    assert!(gw.ok(&["audit", "verify"]).contains("intact"));
    assert!(gw.ok(&["audit", "reindex"]).contains(" 0 row(s) added"));
}

/// `audit summary` counts the trail's request records as they are: by decision, and the
/// refusals by reason; in JSON and as tables; bounded by `--since`.
fn summary_counts_the_trail(gw: &Gateway) {
    let (counts, reasons) = support::summary::counted(&gw.audit(&[]), "");
    let decisions: serde_json::Map<String, serde_json::Value> = counts
        .iter()
        .map(|(d, n)| (d.clone(), (*n).into()))
        .collect();
    assert_eq!(decisions.get("relayed").and_then(|v| v.as_i64()), Some(3));
    assert!(!reasons.is_empty(), "the refused request has a reason");
    let out: serde_json::Value =
        serde_json::from_str(gw.ok(&["audit", "summary", "--json"]).trim()).expect("json");
    assert_eq!(
        out["decisions"],
        serde_json::Value::Object(decisions.clone())
    );
    assert_eq!(out["reasons"], serde_json::json!(reasons));
    let text = gw.ok(&["audit", "summary", "--top", "1"]);
    let total: i64 = decisions.values().filter_map(|v| v.as_i64()).sum();
    assert!(
        text.starts_with(&format!("{total} request record(s) since "))
            && text.contains("DECISION")
            && text.contains("relayed")
            && text.contains(reasons[0].0.as_str()),
        "{text}"
    );
    assert_eq!(
        text.matches("REFUSAL REASON").count(),
        1,
        "one table of reasons: {text}"
    );
    let later = gw.ok(&["audit", "summary", "--since", "2999-01-01T00:00:00Z"]);
    assert!(
        later.starts_with("0 request record(s) since 2999-01-01T00:00:00.000000Z"),
        "{later}"
    );
    let bad = gw.cli(&["audit", "summary", "--since", "an hour ago"]);
    assert_ne!(bad.status.code(), Some(0));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("RFC 3339"), "{err}");
}
