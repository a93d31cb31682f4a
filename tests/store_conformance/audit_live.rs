//! Verifying a trail that gateways are still appending to: `verify` reads one snapshot.

use erpgate::audit::chain;
use erpgate::crypto::MasterKey;

use super::audit::{intact, records};
use super::{migrated, Open};

/// `verify` reads the trail as of one moment: batches a gateway appends meanwhile, each
/// widening the trail's span past what it was when verification began, are left for the next
/// run, not taken for a break (they were, before verification read one snapshot).
pub fn verify_while_appending(open: Open<'_>) {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    let s = migrated(open);
    let (m, _) = MasterKey::generate().expect("key");
    // Several pages of `verify_db` (64 batches a page).
    for r in records(50, 1)
        .chunks(1)
        .chain(records(50, 2).chunks(1))
        .chain(records(50, 3).chunks(1))
    {
        chain::append(s.conn(), &m.audit_key(), "gw-a", r).expect("append");
    }
    let (stop, appended) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
    );
    let appender = {
        let (stop, appended) = (stop.clone(), appended.clone());
        let (other, key) = (open(), m.audit_key());
        std::thread::spawn(move || {
            // Each batch reaches one second wider than the last: every append widens the
            // trail's span. Bounded, so a slow machine's verifications stay short.
            for n in 1..=5_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut batch = records(2, 4);
                batch[1].ts = format!(
                    "2026-12-04T{:02}:{:02}:{:02}.000000Z",
                    n / 3600 % 24,
                    n / 60 % 60,
                    n % 60
                );
                for r in &mut batch {
                    r.request_id = format!("{}-{n}", r.request_id);
                }
                chain::append(other.conn(), &key, "gw-b", &batch).expect("append meanwhile");
                appended.store(n, Ordering::Release);
            }
        })
    };
    while appended.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    // Verifications during which the other gateway committed at least one batch.
    let mut overlapped = 0;
    for _ in 0..10 {
        let before = appended.load(Ordering::Acquire);
        let report = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
        assert!(report.intact(), "{report:?}");
        overlapped += u32::from(appended.load(Ordering::Acquire) > before);
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().expect("appender");
    assert!(
        overlapped > 0,
        "no verification ran while batches were appended"
    );
    let after = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
    let total = u64::from(appended.load(Ordering::Acquire));
    assert_eq!(
        (intact(&after, "gw-a"), intact(&after, "gw-b")),
        (150, 2 * total),
        "and intact once the appends stop"
    );
}
