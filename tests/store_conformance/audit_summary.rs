//! The summary of a time window (the portal's overview): each batch counted by its tally,
//! the batches that reach back before the window and those without a tally by their
//! records, and a tally edited beside the chain named by `audit verify`.

use erpgate::audit::chain::{self, Verdict};
use erpgate::audit::query::summary;
use erpgate::audit::{AuditRecord, Kind};
use erpgate::crypto::MasterKey;
use erpgate::store::sql::Value;

use super::audit::disable_protection;
use super::support::summary::{counted, Counts};
use super::{migrated, Open};

/// A record at second `s` of 2026-12-20's first minutes.
fn rec(s: u32, kind: Kind, decision: &str, reason: &str) -> AuditRecord {
    AuditRecord {
        ts: format!("2026-12-20T00:{:02}:{:02}.250000Z", s / 60, s % 60),
        request_id: format!("r-{s}-{decision}-{reason}"),
        kind: Some(kind),
        actor: "ap-sync".into(),
        method: "GET".into(),
        path: "/fscmRestApi/resources/11.13.18.05/invoices".into(),
        decision: decision.into(),
        reason: reason.into(),
        ..Default::default()
    }
}

/// What the summary must say: the request records at or after `since`, counted one by one.
fn expected(batches: &[Vec<AuditRecord>], since: &str) -> (Counts, Counts) {
    let records: Vec<serde_json::Value> = batches
        .iter()
        .flatten()
        .map(|r| serde_json::to_value(r).expect("json"))
        .collect();
    counted(&records, since)
}

pub fn summary_from_tallies(open: Open<'_>) {
    use Kind::{Admin, Request};
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    let key = m.audit_key();
    let since = "2026-12-20T00:01:00.000000Z";
    let batches: Vec<Vec<AuditRecord>> = vec![
        // Before the window.
        vec![
            rec(1, Request, "relayed", ""),
            rec(9, Request, "denied", "policy.no_match"),
        ],
        // Across its start: only the records from it on count.
        vec![
            rec(55, Request, "denied", "auth.bad_credentials"),
            rec(59, Request, "relayed", ""),
            rec(60, Request, "relayed", ""),
            rec(65, Request, "denied", "auth.bad_credentials"),
        ],
        // Inside; an administrative action is not a request.
        vec![
            rec(70, Request, "denied", "schedule.closed"),
            rec(71, Admin, "ok", ""),
            rec(72, Request, "failed", "upstream.timeout"),
            rec(73, Request, "relayed", ""),
            rec(74, Request, "preflight", ""),
            rec(75, Request, "denied", "auth.\"quoted\""),
        ],
        // Another chain's.
        vec![
            rec(80, Request, "relayed", ""),
            rec(81, Request, "denied", "schedule.closed"),
        ],
        // Its tally removed below (a batch written before schema 14).
        vec![
            rec(90, Request, "denied", "auth.bad_credentials"),
            rec(91, Request, "relayed", ""),
        ],
        // Inside by their times, but a request began before the window (its id was made at
        // 00:00:58): the batch reaches back before the start and is counted by its records.
        vec![
            AuditRecord {
                request_id: format!("{:08x}00000000-{:016x}", 1_797_724_858u32, 1),
                ..rec(100, Request, "denied", "auth.bad_credentials")
            },
            rec(101, Request, "relayed", ""),
        ],
        // At the window's very start.
        vec![AuditRecord {
            ts: since.to_string(),
            ..rec(60, Request, "relayed", "")
        }],
    ];
    let reach = |id: i64| {
        let r = s
            .conn()
            .query_one(
                "SELECT ts_first FROM audit_batch WHERE id = ?1",
                &[Value::Int(id)],
            )
            .expect("row");
        r.text(0).expect("ts_first")
    };
    let mut firsts = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let node = if i == 3 { "gw-b" } else { "gw-a" };
        let last = chain::append(s.conn(), &key, node, b).expect("append");
        firsts.push(last - b.len() as i64 + 1);
    }
    let tally = |id: i64| {
        s.conn()
            .query_one(
                "SELECT tally FROM audit_batch WHERE id = ?1",
                &[Value::Int(id)],
            )
            .expect("row")
            .opt_text(0)
            .expect("tally")
    };
    assert_eq!(
        tally(firsts[2]).as_deref(),
        Some(
            r#"[["denied","auth.\"quoted\"",1],["denied","schedule.closed",1],["failed","upstream.timeout",1],["preflight","",1],["relayed","",1]]"#
        ),
        "the appender's tally: request records only, sorted"
    );
    assert_eq!(
        reach(firsts[5]),
        "2026-12-20T00:00:58.000000Z",
        "the id's second"
    );
    assert_eq!(reach(firsts[6]), since);
    let (decisions, reasons) = expected(&batches, since);
    assert_eq!(
        decisions,
        [
            ("denied".to_string(), 6),
            ("failed".to_string(), 1),
            ("preflight".to_string(), 1),
            ("relayed".to_string(), 6)
        ]
    );
    let check = |what: &str| {
        let got = summary(s.conn(), since, 10).expect("summary");
        assert_eq!(got.decisions, decisions, "{what}");
        assert_eq!(got.reasons, reasons, "{what}");
        let top = summary(s.conn(), since, 2).expect("summary");
        assert_eq!(top.reasons, reasons[..2], "{what}: the top two");
    };
    check("tallies and the batch across the start");
    let everything = summary(s.conn(), "2026-12-20T00:00:00.000000Z", 10).expect("all");
    assert_eq!(
        everything.decisions,
        expected(&batches, "2026-12-20T00:00:00.000000Z").0
    );
    let verdicts = |s: &erpgate::store::Store| chain::verify_db(s.conn(), &key).expect("verify");

    assert_eq!(
        verdicts(&s).untallied,
        0,
        "every appended batch has its tally"
    );
    disable_protection(&s);
    let set_tally = |id: i64, v: Option<&str>| {
        s.conn()
            .execute(
                "UPDATE audit_batch SET tally = ?1 WHERE id = ?2",
                &[v.map_or(Value::Null, Value::from), Value::Int(id)],
            )
            .expect("edit the tally");
    };
    set_tally(firsts[4], None);
    check("a batch without a tally, by its records");
    let report = verdicts(&s);
    assert!(
        report
            .chains
            .iter()
            .all(|(_, v)| matches!(v, Verdict::Intact { .. })),
        "no tally is no claim: {report:?}"
    );
    assert_eq!(report.untallied, 1, "but it is counted: {report:?}");
    // Not a tally: counted by its records, and named by `verify`.
    set_tally(firsts[2], Some("not a tally"));
    check("an unreadable tally, by its records");
    let named = |report: &chain::Report| {
        matches!(report.chain("gw-a"), Some(Verdict::Broken { id, why })
            if *id == firsts[2] && why.contains("tally"))
    };
    assert!(named(&verdicts(&s)), "{:?}", verdicts(&s));
    // Not text either (an integer: PostgreSQL stores its text, SQLite the integer).
    s.conn()
        .execute(
            "UPDATE audit_batch SET tally = 5 WHERE id = ?1",
            &[Value::Int(firsts[2])],
        )
        .expect("an integer tally");
    check("a tally that is not text, by its records");
    assert!(named(&verdicts(&s)), "{:?}", verdicts(&s));
    // A tally that lies is believed by the summary, which is why `verify` recomputes it.
    set_tally(firsts[2], Some(r#"[["relayed","",1000]]"#));
    assert!(named(&verdicts(&s)), "{:?}", verdicts(&s));
}
