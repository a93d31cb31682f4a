//! `erpgate serve` starts itself once more with its allocator settings (`erpgate::allocator`)
//! when the environment names none, in the same process (the id the caller holds still
//! answers signals, with the arguments it was given), keeps an operator's own
//! `GLIBC_TUNABLES` as it is, and the settings are ones glibc takes.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Gateway, Options};

/// `/proc/<pid>/<file>` as its NUL-separated entries.
fn proc_entries(pid: u32, file: &str) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/{file}")).expect("/proc entry");
    raw.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

/// Starts a gateway with `GLIBC_TUNABLES` set to `tunables` (`None`: unset), relays one
/// request through it, and returns its log and its environment as the kernel holds it for
/// the program it runs; then stops it with SIGTERM through the id it was started as.
fn serve_with(tunables: Option<&str>) -> (String, Vec<String>) {
    let mut gw = Gateway::prepare(Options::default());
    if let Some(t) = tunables {
        gw.serve_env.push(("GLIBC_TUNABLES".into(), t.into()));
    }
    gw.spawn();
    let cred = gw.issue("ap-sync");
    let r = gw.get_as(&cred, "/fscmRestApi/resources/latest/invoices");
    assert_eq!(r.status, 200, "{}", gw.log_text());
    let pid = gw.pid().expect("started");
    let config = gw.config.to_string_lossy().into_owned();
    assert_eq!(
        proc_entries(pid, "cmdline"),
        [
            env!("CARGO_BIN_EXE_erpgate"),
            "serve",
            "--config",
            config.as_str()
        ],
        "the process runs the gateway with the arguments it was started with"
    );
    let environ = proc_entries(pid, "environ");
    assert_eq!(
        gw.signal_and_wait("-TERM", Duration::from_secs(15)),
        Some(0),
        "{}",
        gw.log_text()
    );
    let log = gw.log_text();
    assert!(log.contains("erpgate stopped"), "{log}");
    (log, environ)
}

#[test]
fn the_gateway_runs_with_its_allocator_settings_in_the_process_it_was_started_as() {
    let (log, environ) = serve_with(None);
    let line = format!(
        "allocator settings: the gateway's ({})",
        erpgate::allocator::TUNABLES
    );
    assert!(log.contains(&line), "{log}");
    assert!(!log.contains("allocator settings not applied"), "{log}");
    // The environment the running program was started with (`/proc/PID/environ`) is the
    // second start's: the mark is set only for it, never by the gateway in its own
    // environment. glibc ends the variable's text in place at the first setting it reads,
    // so only that one shows there.
    let mark = format!("{}=1", erpgate::allocator::MARK);
    assert!(environ.contains(&mark), "{environ:?}");
    let first = erpgate::allocator::TUNABLES
        .split(':')
        .next()
        .expect("a setting");
    assert!(
        environ
            .iter()
            .any(|e| e.starts_with(&format!("GLIBC_TUNABLES={first}"))),
        "{environ:?}"
    );
}

#[test]
fn an_operators_glibc_tunables_are_kept_and_an_empty_value_means_glibcs_defaults() {
    for (tunables, said) in [
        (
            "glibc.malloc.tcache_count=16",
            "allocator settings: the operator's (GLIBC_TUNABLES=\"glibc.malloc.tcache_count=16\")",
        ),
        (
            "",
            "allocator settings: glibc's defaults (GLIBC_TUNABLES is empty)",
        ),
    ] {
        let (log, environ) = serve_with(Some(tunables));
        assert!(log.contains(said), "{log}");
        // Started once only: the mark is set for a second start alone.
        assert!(
            !environ
                .iter()
                .any(|e| e.starts_with(erpgate::allocator::MARK)),
            "{environ:?}"
        );
    }
}

/// glibc ignores a setting it does not know, silently: its dynamic loader lists what it took.
#[test]
fn glibc_takes_every_setting_with_its_value() {
    let loader = [
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/ld-linux-aarch64.so.1",
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("glibc's dynamic loader");
    let out = Command::new(loader)
        .arg("--list-tunables")
        .env("GLIBC_TUNABLES", erpgate::allocator::TUNABLES)
        .output()
        .expect("ld.so --list-tunables");
    assert!(out.status.success(), "{out:?}");
    let listed = String::from_utf8_lossy(&out.stdout);
    for setting in erpgate::allocator::TUNABLES.split(':') {
        let (name, value) = setting.split_once('=').expect("name=value");
        let value: u64 = value.parse().expect("a number");
        let line = format!("{name}: {value:#x} ");
        assert!(listed.contains(&line), "{line:?} not in:\n{listed}");
    }
}
