//! Changing configuration without fear: `erpgate check --replay-audit SINCE` decides the
//! requests the real relay recorded again under a new configuration and says what would
//! change; `erpgate explain` says what the live configuration decides for one request.

mod support;

use std::process::Output;

use support::{Gateway, Options};

const V: &str = "/fscmRestApi/resources/latest";
const WORKERS: &str = "/hcmRestApi/resources/latest/workers";

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Writes a variant of the running configuration next to it (same database) and returns
/// its path.
fn variant(gw: &Gateway, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let changed = edit(text.clone());
    assert_ne!(changed, text, "the edit must change something");
    let path = gw.dir.path().join(name);
    std::fs::write(&path, changed).expect("write");
    path.display().to_string()
}

/// The running configuration with its one schedule window moved to three days from today:
/// closed now, open at noon (Asia/Karachi) on that day.
fn closed_variant(gw: &Gateway) -> (String, chrono::DateTime<chrono::Utc>) {
    use chrono::{Datelike, TimeZone};
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let karachi: chrono_tz::Tz = "Asia/Karachi".parse().expect("tz");
    let local = (chrono::Utc::now() + chrono::Duration::days(3))
        .with_timezone(&karachi)
        .date_naive();
    let day = days[local.weekday().num_days_from_monday() as usize];
    let noon = karachi
        .from_local_datetime(&local.and_hms_opt(12, 0, 0).expect("noon"))
        .single()
        .expect("one noon")
        .with_timezone(&chrono::Utc);
    let path = variant(gw, "closed.toml", |t| {
        let start = t.find("days = [").expect("days");
        let end = start + t[start..].find(']').expect("]") + 1;
        format!("{}days = [\"{day}\"]{}", &t[..start], &t[end..])
    });
    (path, noon)
}

const LINES: &str = "[[endpoint]]\nname = \"invoices.lines\"\npath = \"/fscmRestApi/resources/{version}/invoices/{id}/child/invoiceLines\"\nmethods = [\"GET\"]\n";

#[test]
fn a_replay_names_every_decision_a_new_configuration_would_change() {
    let gw = Gateway::start(Options {
        extra_config: LINES.to_string(),
        ..Options::default()
    });
    let since = chrono::Utc::now().to_rfc3339();
    let ap = gw.issue("ap-sync");
    let hr = gw.issue("hr-reader");
    let mut last = String::new();
    let mut call = |cred: Option<&support::Issued>, path: &str, want: u16| {
        let r = match cred {
            Some(c) => gw.get_as(c, path),
            None => gw.get(path, &[]),
        };
        assert_eq!(r.status, want, "{path}: {}", r.text());
        last = r.header("x-request-id").expect("id").to_string();
    };
    for _ in 0..3 {
        call(Some(&ap), &format!("{V}/invoices"), 200);
    }
    for _ in 0..2 {
        call(Some(&ap), &format!("{V}/suppliers"), 200);
    }
    call(Some(&ap), &format!("{V}/invoices/300100"), 200);
    // Admitted, then refused by a later step: Oracle did not answer in time.
    call(Some(&ap), "/__sim/slow?ms=3000", 504);
    // A query the query checks pass today.
    call(
        Some(&ap),
        &format!("{V}/invoices/300100?expand=invoiceLines"),
        200,
    );
    call(Some(&ap), WORKERS, 403);
    call(Some(&hr), WORKERS, 200);
    call(None, &format!("{V}/invoices"), 401);
    gw.audit_record(&last);

    // The same configuration changes nothing.
    let same = gw.cli(&["check", "--replay-audit", &since]);
    let text = out(&same);
    assert_eq!(same.status.code(), Some(0), "{text}");
    assert!(
        text.contains("replayed 11 request record(s)") && text.contains("10 compared, 1 skipped"),
        "{text}"
    );
    assert!(
        text.contains("skipped 1: refused before the policy steps"),
        "{text}"
    );
    assert!(text.contains("no decision would change"), "{text}");

    // Suppliers no longer granted, workers now granted to ap-sync.
    let new = variant(&gw, "new.toml", |t| {
        t.replace(
            "endpoints = [\"invoices.*\", \"suppliers.*\"]",
            "endpoints = [\"invoices.*\"]",
        )
        .replace(
            "subjects = [\"account:hr-reader\"]",
            "subjects = [\"account:hr-reader\", \"account:ap-sync\"]",
        )
    });
    let changed = gw.cli(&["check", "--config", &new, "--replay-audit", &since]);
    let text = out(&changed);
    assert_eq!(changed.status.code(), Some(3), "{text}");
    assert!(
        text.contains("account ap-sync, endpoint suppliers.collection, GET: 2 request(s) relayed → 403 policy.denied"),
        "{text}"
    );
    assert!(
        text.contains("account ap-sync, endpoint workers.collection, GET: 1 request(s) 403 policy.denied → relayed"),
        "{text}"
    );
    assert!(
        text.contains("2 request(s) admitted before would be refused")
            && text.contains("--accept-refusals"),
        "{text}"
    );
    assert!(!text.contains("invoices.collection"), "unchanged: {text}");
    let accepted = gw.cli(&[
        "check",
        "--config",
        &new,
        "--replay-audit",
        &since,
        "--accept-refusals",
    ]);
    assert_eq!(accepted.status.code(), Some(0), "{}", out(&accepted));

    // Narrower: the slow diagnostics endpoint no longer granted, the invoice lines child gone
    // from the catalog. The request Oracle timed out on, and the query that named the child,
    // were both admitted then: both would be refused now.
    let narrow = variant(&gw, "narrow.toml", |t| {
        t.replace("endpoints = [\"sim.*\"]", "endpoints = [\"sim.echo\"]")
            .replace(LINES, "")
    });
    let out_narrow = gw.cli(&["check", "--config", &narrow, "--replay-audit", &since]);
    let text = out(&out_narrow);
    assert_eq!(out_narrow.status.code(), Some(3), "{text}");
    assert!(
        text.contains(
            "account ap-sync, endpoint sim.slow, GET: 1 request(s) admitted → 403 policy.denied"
        ),
        "{text}"
    );
    assert!(
        text.contains("account ap-sync, endpoint invoices.item, GET: 1 request(s) relayed → 403 policy.denied"),
        "{text}"
    );
    assert!(
        text.contains("2 request(s) admitted before would be refused"),
        "{text}"
    );

    // A schedule that is never open now: everything but the exempt policy would be refused,
    // each request at the time it was made.
    let closed = closed_variant(&gw);
    let shut = gw.cli(&["check", "--config", &closed.0, "--replay-audit", &since]);
    let text = out(&shut);
    assert_eq!(shut.status.code(), Some(3), "{text}");
    assert!(
        text.contains("account ap-sync, endpoint invoices.collection, GET: 3 request(s) relayed → 403 schedule.closed"),
        "{text}"
    );
    assert!(!text.contains("account hr-reader"), "exempt: {text}");

    // Bad input is an error, not an empty report.
    let bad = gw.cli(&["check", "--replay-audit", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1), "{}", out(&bad));
    assert!(
        out(&bad).contains("is not an RFC 3339 time"),
        "{}",
        out(&bad)
    );
}

#[test]
fn explain_walks_one_request_through_the_live_configuration() {
    let gw = Gateway::start(Options::default());
    let run = |args: &[&str]| {
        let o = gw.cli(args);
        (o.status.code(), out(&o))
    };
    let (code, text) = run(&[
        "explain",
        "--account",
        "ap-sync",
        "GET",
        &format!("{V}/suppliers"),
    ]);
    assert_eq!(code, Some(0), "{text}");
    for want in [
        "caller:      account ap-sync (tenant acme, active)",
        "endpoint:    suppliers.collection (serves GET)",
        "grant:       policy \"ap-automation\", rule \"read invoices and suppliers\"",
        "schedule:    open at",
        "kill switch: off",
        "decision:    relayed",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }

    let (code, text) = run(&[
        "explain",
        "--account",
        "ap-sync",
        "DELETE",
        &format!("{V}/invoices/1"),
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("grant:       no policy grants"), "{text}");
    assert!(
        text.contains("decision:    refused 403 policy.denied"),
        "{text}"
    );

    let (code, text) = run(&["explain", "--account", "ap-sync", "GET", "/nowhere"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("endpoint:    none in the catalog matches"),
        "{text}"
    );
    assert!(text.contains("refused 404 endpoint.unknown"), "{text}");

    // The query is checked as the relay checks it.
    let (code, text) = run(&[
        "explain",
        "--account",
        "ap-sync",
        "GET",
        &format!("{V}/invoices?expand=noSuchChild"),
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("refused:     expand=noSuchChild")
            && text.contains("decision:    refused 403 policy.denied (child_unknown)"),
        "{text}"
    );

    // Under a schedule closed now: refused, unless the grant is exempt; open at `--at`.
    let (closed, open_at) = closed_variant(&gw);
    let invoices = format!("{V}/invoices");
    let (code, text) = run(&[
        "explain",
        "--config",
        &closed,
        "--account",
        "ap-sync",
        "GET",
        &invoices,
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("refused 403 schedule.closed"), "{text}");
    let (code, text) = run(&[
        "explain",
        "--config",
        &closed,
        "--account",
        "hr-reader",
        "GET",
        WORKERS,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("the grant is exempt from the schedule"),
        "{text}"
    );
    let at = open_at.to_rfc3339();
    let (code, text) = run(&[
        "explain",
        "--config",
        &closed,
        "--account",
        "ap-sync",
        "--at",
        &at,
        "GET",
        &invoices,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("schedule:    open at"), "{text}");

    // Live state: the kill switch, a suspended account, an unknown account, an Oracle user.
    gw.ok(&["killswitch", "on"]);
    let (code, text) = run(&[
        "explain",
        "--account",
        "ap-sync",
        "GET",
        &format!("{V}/invoices"),
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("kill switch: ON") && text.contains("refused 503 killswitch.on"),
        "{text}"
    );
    gw.ok(&["killswitch", "off"]);
    gw.ok(&["account", "suspend", "ap-sync"]);
    let (code, text) = run(&[
        "explain",
        "--account",
        "ap-sync",
        "GET",
        &format!("{V}/invoices"),
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("suspended") && text.contains("refused 403 account.suspended"),
        "{text}"
    );
    let (code, text) = run(&[
        "explain",
        "--account",
        "nobody",
        "GET",
        &format!("{V}/invoices"),
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no account named \"nobody\""), "{text}");
    let (code, text) = run(&[
        "explain",
        "--user",
        "alice",
        "--tenant",
        "acme",
        "GET",
        &format!("{V}/invoices"),
    ]);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("Oracle user alice") && text.contains("403 policy.denied"),
        "{text}"
    );
    let (code, text) = run(&["explain", "GET", &format!("{V}/invoices")]);
    assert_eq!(
        code,
        Some(2),
        "clap refuses a request without a caller: {text}"
    );
}
