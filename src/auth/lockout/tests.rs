use super::*;

fn settings(max_failures: u32) -> LockoutSettings {
    LockoutSettings {
        max_failures,
        lock_for: Duration::from_secs(60),
        window: Duration::from_secs(600),
    }
}

fn lockout(capacity: usize) -> Lockout {
    Lockout::new(
        capacity,
        crate::crypto::KeyedHasher::from_raw(b"lockout test key"),
    )
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("ip"))
}

#[test]
fn failures_slow_down_then_lock_then_expire() {
    let s = settings(4);
    let l = lockout(100);
    let t0 = Instant::now();
    let bob = l.credential_key(b"cred", b"bob");
    let alice = l.credential_key(b"cred", b"alice");
    let a1 = l.address_key(ip("10.0.0.1"));
    let a2 = l.address_key(ip("10.0.0.2"));
    let keys = [bob, a1];
    assert!(l.none_locked(t0));
    assert_eq!(l.failed(&keys, t0, s), Ok(Duration::from_millis(250)));
    assert_eq!(l.failed(&keys, t0, s), Ok(Duration::from_millis(500)));
    assert_eq!(l.failed(&keys, t0, s), Ok(Duration::from_millis(1000)));
    assert!(l.check(&keys, t0).is_ok());
    assert_eq!(l.failed(&keys, t0, s), Err(60), "the fourth failure locks");
    assert!(!l.none_locked(t0));
    assert_eq!(l.check(&keys, t0), Err(60));
    // Another credential from the same address is locked too; another address is not.
    assert!(l.check(&[alice, a1], t0).is_err());
    assert!(l.check(&[alice, a2], t0).is_ok());
    assert_eq!(l.begin(&[alice, a1], t0, s), Err(Refusal::Locked(60)));
    // The lock ends, and leaves one failure of budget.
    let later = t0 + Duration::from_secs(61);
    assert!(l.none_locked(later));
    assert!(l.check(&keys, later).is_ok());
    assert_eq!(
        l.failed(&keys, later, s),
        Err(60),
        "one more failure locks again"
    );
    // A success clears the credential's counter only.
    let t2 = later + Duration::from_secs(61);
    assert_eq!(l.begin(&keys, t2, s), Ok(()));
    assert_eq!(
        l.finish(&keys, Outcome::Succeeded, t2, s),
        Ok(Duration::ZERO)
    );
    assert_eq!(
        l.failed(&[bob], t2, s),
        Ok(Duration::from_millis(250)),
        "bob starts over"
    );
    assert_eq!(l.failed(&[a1], t2, s), Err(60), "the address does not");
}

#[test]
fn concurrent_attempts_never_exceed_the_failures_left() {
    let s = settings(3);
    let l = lockout(100);
    let t0 = Instant::now();
    let cred = l.credential_key(b"cred", b"victim");
    // 30 guesses at once from 30 addresses: only 3 may be verified.
    let begun: Vec<_> = (0..30)
        .map(|i| {
            let keys = [cred, l.address_key(ip(&format!("198.51.100.{i}")))];
            (keys, l.begin(&keys, t0, s))
        })
        .collect();
    let admitted: Vec<_> = begun.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(admitted.len(), 3);
    assert!(begun
        .iter()
        .filter(|(_, r)| r.is_err())
        .all(|(_, r)| *r == Err(Refusal::Busy)));
    // Two fail; the third — the right guess — finishes after the lock engaged: refused.
    assert!(l.finish(&admitted[0].0, Outcome::Failed, t0, s).is_ok());
    assert!(l.finish(&admitted[1].0, Outcome::Failed, t0, s).is_ok());
    assert!(l.failed(&[cred], t0, s).is_err(), "a third failure locks");
    assert_eq!(
        l.finish(&admitted[2].0, Outcome::Succeeded, t0, s),
        Err(60),
        "a success after the lock engaged is refused"
    );
    // An abandoned attempt gives its reservation back.
    let s = settings(1);
    let l = lockout(100);
    let keys = [cred, l.address_key(ip("10.0.0.9"))];
    assert_eq!(l.begin(&keys, t0, s), Ok(()));
    assert_eq!(l.begin(&keys, t0, s), Err(Refusal::Busy));
    assert_eq!(
        l.finish(&keys, Outcome::Abandoned, t0, s),
        Ok(Duration::ZERO)
    );
    assert_eq!(l.begin(&keys, t0, s), Ok(()));
}

#[test]
fn addresses_are_keyed_by_host_not_by_port_or_interface_id() {
    let l = lockout(100);
    assert_eq!(
        l.address_key(ip("::ffff:192.0.2.1")),
        l.address_key(ip("192.0.2.1"))
    );
    assert_eq!(
        l.address_key(ip("2001:db8:1:2::1")),
        l.address_key(ip("2001:db8:1:2:ffff::9")),
        "an IPv6 /64 is one key"
    );
    assert_ne!(
        l.address_key(ip("2001:db8:1:2::1")),
        l.address_key(ip("2001:db8:1:3::1"))
    );
    assert_ne!(
        l.credential_key(b"user", b"x"),
        l.credential_key(b"key", b"x")
    );
}

#[test]
fn the_table_is_bounded() {
    let s = LockoutSettings::default();
    let l = lockout(16);
    let t0 = Instant::now();
    for i in 0..100u8 {
        let k = l.address_key(Some(IpAddr::from([10, 0, 0, i])));
        assert!(l.failed(&[k], t0, s).is_ok_and(|d| d > Duration::ZERO));
    }
    assert!(l.len() <= 16);
    // A table full of counters makes room for a new key: the fewest failures give way, and
    // a counter with more failures is kept.
    let repeat = l.address_key(ip("10.8.8.8"));
    for _ in 0..3 {
        assert!(l.failed(&[repeat], t0, s).is_ok());
    }
    for i in 100..200u8 {
        let k = l.address_key(Some(IpAddr::from([10, 0, 0, i])));
        assert!(l.failed(&[k], t0, s).is_ok());
    }
    let k = l.address_key(ip("10.9.9.9"));
    assert_eq!(l.begin(&[k], t0, s), Ok(()));
    assert_eq!(
        l.finish(&[k], Outcome::Abandoned, t0, s),
        Ok(Duration::ZERO)
    );
    assert!(l.len() <= 16);
    // The counter with three failures survived the flood: two more lock it.
    assert!(l.failed(&[repeat], t0, s).is_ok());
    assert!(l.failed(&[repeat], t0, s).is_err(), "five failures lock");
    // A table full of locks refuses new verifications rather than growing or forgetting them.
    let full = lockout(16);
    for i in 0..16u8 {
        let k = full.address_key(Some(IpAddr::from([10, 1, 0, i])));
        assert!(
            full.failed(&[k], t0, settings(1)).is_err(),
            "one failure locks"
        );
    }
    assert_eq!(full.begin(&[k], t0, settings(1)), Err(Refusal::Busy));
    assert_eq!(full.len(), 16);
}

#[test]
fn abandoned_and_clean_attempts_leave_no_counter() {
    let s = LockoutSettings::default();
    let l = lockout(64);
    let t0 = Instant::now();
    let keys = [
        l.credential_key(b"user", b"nobody"),
        l.address_key(ip("192.0.2.1")),
    ];
    assert_eq!(l.begin(&keys, t0, s), Ok(()));
    assert_eq!(
        l.finish(&keys, Outcome::Abandoned, t0, s),
        Ok(Duration::ZERO)
    );
    assert!(l.is_empty(), "an abandoned attempt leaves nothing");
    assert_eq!(l.begin(&keys, t0, s), Ok(()));
    assert_eq!(
        l.finish(&keys, Outcome::Succeeded, t0, s),
        Ok(Duration::ZERO)
    );
    assert!(l.is_empty(), "a clean success leaves nothing");
    // A failure is kept on both keys; a later success clears the credential's, not the
    // address's.
    assert!(l.failed(&keys, t0, s).is_ok());
    assert_eq!(l.begin(&keys, t0, s), Ok(()));
    assert_eq!(
        l.finish(&keys, Outcome::Succeeded, t0, s),
        Ok(Duration::ZERO)
    );
    assert_eq!(l.len(), 1, "the address keeps its failure");
}

#[test]
fn new_settings_apply_to_the_counters_already_kept() {
    // A reload that lowers `max_failures` keeps the counts: the next failure is judged by the
    // new budget. One that raises it lets a key fail again without resetting anything.
    let l = lockout(100);
    let t0 = Instant::now();
    let keys = [
        l.credential_key(b"cred", b"c"),
        l.address_key(ip("10.1.1.1")),
    ];
    assert!(l.failed(&keys, t0, settings(5)).is_ok());
    assert!(l.failed(&keys, t0, settings(5)).is_ok());
    assert_eq!(l.failed(&keys, t0, settings(3)), Err(60), "third of three");
    assert_eq!(
        l.check(&keys, t0),
        Err(60),
        "and the lock stays whatever the settings"
    );
    let other = [
        l.credential_key(b"cred", b"d"),
        l.address_key(ip("10.1.1.2")),
    ];
    assert!(l.failed(&other, t0, settings(2)).is_ok());
    assert!(
        l.failed(&other, t0, settings(4)).is_ok(),
        "a raised budget counts on from one"
    );
    assert_eq!(l.begin(&other, t0, settings(4)), Ok(()));
    assert_eq!(l.begin(&other, t0, settings(4)), Ok(()));
    assert_eq!(
        l.begin(&other, t0, settings(4)),
        Err(Refusal::Busy),
        "two failed, two in flight: none left of four"
    );
}
