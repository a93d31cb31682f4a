use super::*;
use crate::audit::encode::tests::{full, TEXTS};

/// The chain's line for `r` on `node`, through the record and through its queued form.
fn lines(r: &AuditRecord, node: &str) -> (Result<String, String>, Result<String, String>) {
    let run = |f: &dyn Fn(&mut String) -> Result<(), StoreError>| {
        let mut out = "earlier bytes\n".to_string();
        f(&mut out).map(|()| out).map_err(|e| e.to_string())
    };
    let queued = Queued::encode(&r.view()).expect("encodes");
    (
        run(&|out| r.line_into(node, out)),
        run(&|out| queued.line_into(node, out)),
    )
}

#[test]
fn a_queued_record_is_the_records_line_on_every_chain() {
    let mut compared = 0;
    for text in TEXTS {
        for own in [None, Some(""), Some("gw-a"), Some(text)] {
            for chain in ["", "gw-a", text] {
                let mut r = full(text);
                r.node = own.map(str::to_string);
                let (record, queued) = lines(&r, chain);
                assert_eq!(
                    record, queued,
                    "text {text:?}, own node {own:?}, chain {chain:?}"
                );
                compared += usize::from(record.is_ok());
            }
        }
        // Every optional field absent.
        let bare = AuditRecord {
            ts: text.to_string(),
            ..Default::default()
        };
        for chain in ["", "gw-a"] {
            let (record, queued) = lines(&bare, chain);
            assert_eq!(record, queued);
            assert!(record.is_ok());
        }
    }
    // The comparisons include lines written, not only errors (a record of another node).
    assert!(compared >= TEXTS.len() * 6, "{compared}");
    let mut other = full("x");
    other.node = Some("gw-b".into());
    let (record, queued) = lines(&other, "gw-a");
    assert!(record.is_err() && queued.is_err());
}

#[test]
fn a_queued_record_files_its_batch_by_the_records_members() {
    for text in TEXTS {
        for node in [None, Some("gw-a")] {
            let mut r = full(text);
            r.node = node.map(str::to_string);
            r.kind = Some(Kind::Token);
            let q = Queued::of_record(r.clone());
            assert!(matches!(q.0, Form::Line(_)));
            assert_eq!(q.ts(), r.ts);
            assert_eq!(q.request_id(), r.request_id);
            assert_eq!(q.actor(), r.actor);
            assert_eq!(q.decision(), r.decision);
            assert_eq!(q.reason(), r.reason);
            assert_eq!(q.kind(), Some(Kind::Token));
        }
    }
}

#[test]
fn a_view_is_its_record() {
    for text in TEXTS {
        let r = full(text);
        assert_eq!(r.view().to_record(), r);
        assert_eq!(
            AuditRecord::default().view().to_record(),
            AuditRecord::default()
        );
    }
}

#[test]
fn a_record_kept_whole_appends_as_the_record() {
    // The form a record takes when the sender cannot encode it.
    let mut r = full("w");
    r.node = None;
    let whole = Queued(Form::Record(Box::new(r.clone())));
    let (mut a, mut b) = (String::new(), String::new());
    r.line_into("gw-a", &mut a).expect("line");
    whole.line_into("gw-a", &mut b).expect("line");
    assert_eq!(a, b);
    assert_eq!(
        (whole.ts(), whole.request_id(), whole.actor(), whole.kind()),
        (
            r.ts.as_str(),
            r.request_id.as_str(),
            r.actor.as_str(),
            r.kind
        )
    );
    assert_eq!(
        (whole.decision(), whole.reason()),
        (r.decision.as_str(), r.reason.as_str())
    );
}

#[test]
fn a_record_is_encoded_alike_when_the_threads_buffer_is_taken() {
    let mut r = full("scratch");
    r.node = None;
    let mut free = String::new();
    Queued::encode(&r.view())
        .expect("encodes")
        .line_into("gw-a", &mut free)
        .expect("line");
    let mut held = String::new();
    SCRATCH.with(|s| {
        let _taken = s.borrow_mut();
        Queued::encode(&r.view())
            .expect("encodes without the buffer")
            .line_into("gw-a", &mut held)
            .expect("line");
    });
    assert_eq!(held, free);
    assert!(free.starts_with("{\"node\":\"gw-a\","), "{free}");
}
