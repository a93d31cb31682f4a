//! `erpgate serve` starts itself once more with its allocator settings (`erpgate::allocator`)
//! when the environment names none, in the same process (the id the caller holds still
//! answers signals), and keeps an operator's own `GLIBC_TUNABLES` as it is.

mod support;

use std::time::Duration;

use support::{Gateway, Options};

/// Starts a gateway with `GLIBC_TUNABLES` set to `tunables` (`None`: unset), relays one
/// request through it, stops it with SIGTERM through the id it was started with, and returns
/// its log.
fn serve_with(tunables: Option<&str>) -> String {
    let mut gw = Gateway::prepare(Options::default());
    if let Some(t) = tunables {
        gw.serve_env.push(("GLIBC_TUNABLES".into(), t.into()));
    }
    gw.spawn();
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices");
    assert_eq!(r.status, 200, "{}", gw.log_text());
    let pid = gw.pid().expect("started");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert!(
        cmdline.split(|b| *b == 0).any(|a| a == b"serve"),
        "the process started is the gateway"
    );
    assert_eq!(
        gw.signal_and_wait("-TERM", Duration::from_secs(15)),
        Some(0),
        "{}",
        gw.log_text()
    );
    gw.log_text()
}

#[test]
fn the_gateway_runs_with_its_allocator_settings_in_the_process_it_was_started_as() {
    let log = serve_with(None);
    let line = format!(
        "allocator settings: the gateway's ({})",
        erpgate::allocator::TUNABLES
    );
    assert!(log.contains(&line), "{log}");
    assert!(log.contains("erpgate stopped"), "{log}");
    assert!(
        !log.contains("cannot start with the allocator settings"),
        "{log}"
    );
}

#[test]
fn an_operators_glibc_tunables_are_kept_and_an_empty_value_means_glibcs_defaults() {
    let log = serve_with(Some("glibc.malloc.tcache_count=16"));
    assert!(
        log.contains(
            "allocator settings: the operator's (GLIBC_TUNABLES=glibc.malloc.tcache_count=16)"
        ),
        "{log}"
    );
    let log = serve_with(Some(""));
    assert!(
        log.contains("allocator settings: glibc's defaults (GLIBC_TUNABLES is empty)"),
        "{log}"
    );
}
