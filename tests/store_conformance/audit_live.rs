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
    let (stop, verifying, appended) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU32::new(0)),
    );
    let appender = {
        let (stop, verifying, appended) = (stop.clone(), verifying.clone(), appended.clone());
        let (other, key) = (open(), m.audit_key());
        std::thread::spawn(move || {
            // Appends only while a verification runs, so the trail (and each verification)
            // stays short however long the machine takes to give this thread a turn. Each batch
            // reaches one second wider than the last: every append widens the trail's span.
            let mut n = 0u32;
            while !stop.load(Ordering::Acquire) && n < 20_000 {
                if !verifying.load(Ordering::Acquire) {
                    std::thread::yield_now();
                    continue;
                }
                n += 1;
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
    // At least ten verifications, and more until one ran while the other gateway committed a
    // batch (on a busy machine the appender may not get a turn during the first few).
    let (mut runs, mut overlapped) = (0, 0);
    while runs < 10 || (overlapped == 0 && runs < 1_000) {
        let before = appended.load(Ordering::Acquire);
        verifying.store(true, Ordering::Release);
        let report = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
        let during = appended.load(Ordering::Acquire);
        verifying.store(false, Ordering::Release);
        assert!(report.intact(), "{report:?}");
        overlapped += u32::from(during > before);
        runs += 1;
    }
    stop.store(true, Ordering::Release);
    appender.join().expect("appender");
    assert!(
        overlapped > 0,
        "no verification ran while batches were appended ({runs} runs)"
    );
    let after = chain::verify_db(s.conn(), &m.audit_key()).expect("verify");
    let total = u64::from(appended.load(Ordering::Acquire));
    assert_eq!(
        (intact(&after, "gw-a"), intact(&after, "gw-b")),
        (150, 2 * total),
        "and intact once the appends stop"
    );
}
