//! What several gateways share beside the access state: their heartbeats (node id and the
//! snapshot each serves) and the failed-attempt counters.

use erpgate::store::{FailureRules, NodeRow, Reservation};

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
    // Failures counted by three gateways (three connections): the third locks.
    let first = s.count_failures(&[cred, addr], t0, rules).expect("a");
    assert_eq!(first.iter().map(|c| c.failures).collect::<Vec<_>>(), [1, 1]);
    assert!(first.iter().all(|c| c.locked_until_ms == 0));
    open()
        .count_failures(&[cred, addr], t0 + 10, rules)
        .expect("b");
    let third = open().count_failures(&[cred], t0 + 20, rules).expect("c");
    assert_eq!(third[0].failures, 3);
    assert_eq!(third[0].locked_until_ms, t0 + 20 + 10_000, "locked");
    let seen = s
        .failures(&[cred, addr, [9u8; 16]], t0 + 30, rules)
        .expect("state");
    assert_eq!(seen.len(), 2, "a key without failures is absent");
    assert_eq!((seen[1].key, seen[1].failures), (addr, 2));
    let locked = open().locked_keys(t0 + 30, 100).expect("locked");
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].key, cred);
    assert_eq!(
        s.reserve_attempt(&[cred, addr], t0 + 40, rules)
            .expect("reserve"),
        Reservation::Locked(t0 + 20 + 10_000),
        "no verification while locked"
    );
    // Once the lock ran its course, reads apply the rules as writes do: one failure of
    // budget is left (not the stored three, which would keep refusing the right password).
    let after = s.failures(&[cred], t0 + 10_021, rules).expect("state");
    assert_eq!((after[0].failures, after[0].locked_until_ms), (2, 0));
    assert!(open()
        .locked_keys(t0 + 10_021, 100)
        .expect("locked")
        .is_empty());

    // Reservations: a verification counts as a failure before it runs, so gateways reserving
    // at the same instant get at most `max` verifications between them.
    let k = [3u8; 16];
    let a = [4u8; 16];
    let granted = |r: Reservation| matches!(r, Reservation::Granted(_));
    assert!(granted(s.reserve_attempt(&[k, a], t0, rules).expect("1")));
    assert!(granted(
        open().reserve_attempt(&[k, a], t0, rules).expect("2")
    ));
    assert!(granted(
        open().reserve_attempt(&[k, a], t0, rules).expect("3")
    ));
    assert_eq!(
        s.reserve_attempt(&[k, a], t0, rules).expect("4"),
        Reservation::Busy,
        "a fourth verification in flight is refused"
    );
    // One succeeds: the credential is cleared, the address gets its reservation back.
    assert_eq!(s.complete_success(&k, &a, t0 + 5, rules).expect("ok"), None);
    assert!(s.failures(&[k], t0 + 5, rules).expect("state").is_empty());
    assert_eq!(
        s.failures(&[a], t0 + 5, rules).expect("state")[0].failures,
        2
    );
    // Two failed: the address reaches max only with a third failure, which then locks it.
    assert_eq!(
        s.complete_failure(&[k, a], t0 + 6, rules).expect("fail")[1].locked_until_ms,
        0
    );
    assert!(granted(
        s.reserve_attempt(&[k, a], t0 + 7, rules).expect("5")
    ));
    let failed = s.complete_failure(&[k, a], t0 + 8, rules).expect("fail");
    assert_eq!(
        failed[1].locked_until_ms,
        t0 + 8 + 10_000,
        "the address locks"
    );
    // A success that finishes after the lock is refused, and changes nothing.
    assert_eq!(
        s.complete_success(&k, &a, t0 + 9, rules)
            .expect("late success"),
        Some(t0 + 8 + 10_000)
    );
    assert_eq!(
        s.failures(&[a], t0 + 9, rules).expect("state")[0].failures,
        3
    );

    // The window forgets old failures; the sweep deletes what has nothing left to count.
    let fresh = s
        .count_failures(&[addr], t0 + 70_000, rules)
        .expect("after the window");
    assert_eq!(
        fresh[0].failures, 1,
        "failures older than the window are forgotten"
    );
    assert!(
        s.forget_failures(t0 + 200_000, rules.window_ms)
            .expect("forget")
            >= 3
    );
    assert!(s
        .failures(&[cred, addr, k, a], t0 + 200_000, rules)
        .expect("state")
        .is_empty());
}
