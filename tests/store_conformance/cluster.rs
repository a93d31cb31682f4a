//! What several gateways share beside the access state: their heartbeats (node id and the
//! snapshot each serves) and the failed-attempt counters.

use erpgate::store::{FailureRules, NodeRow};

use super::{migrated, Open};

pub fn nodes(open: Open<'_>) {
    let s = migrated(open);
    let row = |node: &str, snapshot: &str, seen: i64| NodeRow {
        node: node.into(),
        snapshot: snapshot.into(),
        version: "0.1.0".into(),
        started_at: "2026-12-04T00:00:00.000000Z".into(),
        seen_at_ms: seen,
    };
    s.heartbeat(&row("gw-b", "hash-1", 1_000)).expect("b");
    open().heartbeat(&row("gw-a", "hash-1", 2_000)).expect("a");
    s.heartbeat(&row("gw-b", "hash-2", 3_000)).expect("b again");
    assert_eq!(
        open().nodes(0).expect("nodes"),
        [row("gw-a", "hash-1", 2_000), row("gw-b", "hash-2", 3_000)],
        "one row per node, the latest heartbeat, by node id"
    );
    assert_eq!(
        s.nodes(2_500).expect("recent"),
        [row("gw-b", "hash-2", 3_000)]
    );
    // A heartbeat is not an access-state change: no reload anywhere.
    let before = s.change_counter().expect("counter");
    s.heartbeat(&row("gw-a", "hash-2", 4_000)).expect("a");
    assert_eq!(s.change_counter().expect("counter"), before);
}

pub fn shared_failures(open: Open<'_>) {
    let s = migrated(open);
    let rules = FailureRules {
        max: 3,
        window_ms: 60_000,
        lock_ms: 10_000,
    };
    let cred = [1u8; 16];
    let addr = [2u8; 16];
    let t0 = 1_000_000;
    // Three gateways (three connections) each count one failure: the third locks.
    let first = s.count_failures(&[cred, addr], t0, rules).expect("a");
    assert_eq!(first.iter().map(|c| c.failures).collect::<Vec<_>>(), [1, 1]);
    assert!(first.iter().all(|c| c.locked_until_ms == 0));
    open()
        .count_failures(&[cred, addr], t0 + 10, rules)
        .expect("b");
    let third = open().count_failures(&[cred], t0 + 20, rules).expect("c");
    assert_eq!(third[0].failures, 3);
    assert_eq!(third[0].locked_until_ms, t0 + 20 + 10_000, "locked");
    let seen = s.failures(&[cred, addr, [9u8; 16]]).expect("state");
    assert_eq!(seen.len(), 2, "a key without failures is absent");
    assert_eq!((seen[1].key, seen[1].failures), (addr, 2));
    let locked = open().locked_keys(t0 + 30, 100).expect("locked");
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].key, cred);
    // A success does not clear a lock; once it ran its course, one failure of budget is left.
    s.clear_failures(&cred, t0 + 30)
        .expect("clear while locked");
    assert_eq!(s.failures(&[cred]).expect("state")[0].failures, 3);
    assert!(open()
        .locked_keys(t0 + 10_021, 100)
        .expect("locked")
        .is_empty());
    let after = s
        .count_failures(&[cred], t0 + 10_030, rules)
        .expect("again");
    assert_eq!(
        (after[0].failures, after[0].locked_until_ms),
        (3, t0 + 10_030 + 10_000),
        "the next failure after a lock locks again"
    );
    // A success after the lock clears the credential; the window forgets old failures.
    s.clear_failures(&cred, t0 + 30_000).expect("clear");
    assert!(s.failures(&[cred]).expect("state").is_empty());
    let fresh = s
        .count_failures(&[addr], t0 + 70_000, rules)
        .expect("after the window");
    assert_eq!(
        fresh[0].failures, 1,
        "failures older than the window are forgotten"
    );
    s.count_failures(&[cred], t0 + 70_000, rules).expect("cred");
    assert_eq!(
        s.forget_failures(t0 + 200_000, rules.window_ms)
            .expect("forget"),
        2,
        "counters with nothing left to count are deleted"
    );
    assert!(s.failures(&[cred, addr]).expect("state").is_empty());
}
