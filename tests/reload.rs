//! SIGHUP reload under load: the snapshot is swapped atomically, a broken configuration (or
//! a restart-only change) is refused while the old one keeps serving, no request fails or is
//! reset, every decision matches one of the two configurations, a removed grant denies on the
//! very next request, and every reload is audited. A SIGHUP and admin `POST /reload`s at the
//! same moment, under load, publish one version each: never two snapshots with one version.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/11.13.18.05/invoices?limit=1";

/// (status, error code) of each response, or the transport error.
type Outcomes = Arc<Mutex<Vec<Result<(u16, String), String>>>>;

fn hup(gw: &Gateway) {
    let pid = gw.pid().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -HUP failed");
}

fn count(gw: &Gateway, what: &str) -> usize {
    gw.log_text().matches(what).count()
}

/// Writes `text` as the configuration, sends SIGHUP and waits until the gateway has answered
/// it (one more "reloaded" or "refused" line).
fn reload_with(gw: &Gateway, text: &str, expect_ok: bool) {
    let ok_before = count(gw, "configuration reloaded");
    let refused_before = count(gw, "configuration reload refused");
    std::fs::write(&gw.config, text).expect("write config");
    hup(gw);
    gw.eventually("the reload is answered", || {
        count(gw, "configuration reloaded") + count(gw, "configuration reload refused")
            > ok_before + refused_before
    });
    assert_eq!(
        count(gw, "configuration reloaded") > ok_before,
        expect_ok,
        "reload outcome:\n{}",
        gw.log_text()
    );
}

#[test]
fn reloads_under_load_never_fail_a_request_and_refuse_broken_configs() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let granting = std::fs::read_to_string(&gw.config).expect("config");
    let revoking = granting.replacen(
        "endpoints = [\"invoices.*\", \"suppliers.*\"]",
        "endpoints = [\"suppliers.*\"]",
        1,
    );
    assert_ne!(revoking, granting);
    let broken = granting.replacen("[gateway]\n", "[gateway]\nno_such_setting = 1\n", 1);
    let port = gw.addr.port();
    let restart_only = granting.replacen(
        &format!("listen = \"127.0.0.1:{port}\""),
        &format!("listen = \"127.0.0.1:{}\"", support::free_port()),
        1,
    );
    assert_ne!(restart_only, granting);

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Outcomes = Arc::default();
    let clients = spawn_load(4, gw.addr, &cred.basic(), &stop, &outcomes);

    for round in 0..6 {
        reload_with(&gw, &revoking, true);
        reload_with(&gw, &broken, false);
        reload_with(&gw, &granting, true);
        if round % 2 == 0 {
            reload_with(&gw, &restart_only, false);
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let outcomes = outcomes.lock().expect("outcomes").clone();
    assert!(outcomes.len() > 50, "load ran: {}", outcomes.len());
    let failures: Vec<_> = outcomes.iter().filter(|o| o.is_err()).collect();
    assert!(
        failures.is_empty(),
        "failed or reset requests: {failures:?}"
    );
    let mut granted = 0;
    let mut denied = 0;
    for (status, code) in outcomes.iter().flatten() {
        match (status, code.as_str()) {
            (200, _) => granted += 1,
            (403, "policy.denied") => denied += 1,
            other => panic!("a decision neither configuration makes: {other:?}"),
        }
    }
    assert!(
        granted > 0 && denied > 0,
        "both snapshots served: {granted} / {denied}"
    );
    assert!(
        gw.log_text().contains("gateway.listen: changed"),
        "a restart-only change is named"
    );

    // A grant removed by a reload denies on the very next request.
    reload_with(&gw, &revoking, true);
    let r = gw.get_as(&cred, INVOICES);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code(), "policy.denied");
    reload_with(&gw, &granting, true);
    assert_eq!(gw.get_as(&cred, INVOICES).status, 200);

    // Every reload is in the audit trail, with its outcome.
    gw.eventually("reloads are audited", || {
        let recs = gw.audit(&["--actor", "signal:SIGHUP"]);
        let ok = recs.iter().filter(|r| r["decision"] == "ok").count();
        let refused = recs.iter().filter(|r| r["decision"] == "refused").count();
        ok == 6 * 2 + 2 && refused == 6 + 3
    });
    let v = gw.ok(&["audit", "verify"]);
    assert!(v.starts_with("audit chain intact"), "{v}");
}

/// A configuration that takes a while to compile (many endpoints), so that two reloads
/// started together overlap.
fn bulky_endpoints(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[endpoint]]\nname = \"bulk{i}.collection\"\npath = \"/fscmRestApi/resources/{{version}}/bulk{i}\"\nmethods = [\"GET\", \"POST\"]\n"
            )
        })
        .collect()
}

fn admin_post_reload(admin: std::net::SocketAddr, token: &str) -> support::Response {
    let auth = format!("Bearer {token}");
    support::http::raw(
        admin,
        &support::request("POST", "/reload", &[("Authorization", &auth)], None),
    )
    .expect("the admin API answers")
}

#[test]
fn concurrent_sighup_and_admin_reloads_never_publish_one_version_twice() {
    const ROUNDS: usize = 20;
    let support::admin::Admin {
        gw,
        addr: admin,
        owner,
    } = support::admin::start_with(Options {
        extra_config: bulky_endpoints(400),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");

    // Load: relayed requests all along; none may fail (every snapshot grants them).
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes: Outcomes = Arc::default();
    let clients = spawn_load(2, gw.addr, &cred.basic(), &stop, &outcomes);

    // Each round: a SIGHUP and admin reloads at the same moment.
    let sighup_done = |gw: &Gateway| {
        gw.log_text()
            .lines()
            .filter(|l| l.contains("SIGHUP") && l.contains("configuration reload"))
            .count()
    };
    let mut admin_versions = Vec::new();
    for round in 0..ROUNDS {
        let go = Arc::new(std::sync::Barrier::new(2));
        let poster = {
            let (go, owner) = (go.clone(), owner.clone());
            std::thread::spawn(move || {
                go.wait();
                (0..3)
                    .map(|_| admin_post_reload(admin, &owner))
                    .collect::<Vec<_>>()
            })
        };
        go.wait();
        hup(&gw);
        for r in poster.join().expect("poster") {
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
            admin_versions.push(r.json()["snapshot_version"].as_u64().expect("version"));
        }
        gw.eventually("the SIGHUP is answered", || sighup_done(&gw) > round);
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }

    // Every reload succeeded, and each published its own version: together they are exactly
    // 2, 3, … up to the version serving now.
    let status = {
        let auth = format!("Bearer {owner}");
        let r = support::http::raw(
            admin,
            &support::request("GET", "/status", &[("Authorization", &auth)], None),
        )
        .expect("status");
        r.json()
    };
    let serving = status["snapshot_version"].as_u64().expect("version");
    let mut sighup_versions = Vec::new();
    gw.eventually("the SIGHUP reloads are audited", || {
        let recs = gw.audit(&["--actor", "signal:SIGHUP"]);
        sighup_versions = recs
            .iter()
            .filter(|r| r["decision"] == "ok")
            .filter_map(|r| r["note"]["version"].as_u64())
            .collect();
        recs.len() == ROUNDS
    });
    assert_eq!(sighup_versions.len(), ROUNDS, "every SIGHUP reloaded");
    let mut all: Vec<u64> = admin_versions
        .iter()
        .chain(&sighup_versions)
        .copied()
        .collect();
    all.sort_unstable();
    let expected: Vec<u64> = (2..=1 + all.len() as u64).collect();
    assert_eq!(
        all, expected,
        "one version per reload (admin: {admin_versions:?}, SIGHUP: {sighup_versions:?})"
    );
    assert_eq!(
        serving,
        1 + all.len() as u64,
        "the newest snapshot is serving"
    );

    let outcomes = outcomes.lock().expect("outcomes").clone();
    assert!(outcomes.len() > 20, "load ran: {}", outcomes.len());
    let bad: Vec<_> = outcomes
        .iter()
        .filter(|o| !matches!(o, Ok((200, _))))
        .collect();
    assert!(bad.is_empty(), "requests failed under reloads: {bad:?}");
}

/// `n` clients relaying `GET` invoices with `auth` until `stop`, each answer's (status, code)
/// (or the I/O error) pushed to `outcomes`.
fn spawn_load(
    n: usize,
    addr: std::net::SocketAddr,
    auth: &str,
    stop: &Arc<AtomicBool>,
    outcomes: &Outcomes,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (stop, outcomes, auth) = (stop.clone(), outcomes.clone(), auth.to_string());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let raw = support::request("GET", INVOICES, &[("Authorization", &auth)], None);
                    let o = support::http::raw(addr, &raw)
                        .map(|r| {
                            let code = if r.status == 200 {
                                String::new()
                            } else {
                                r.error_code()
                            };
                            (r.status, code)
                        })
                        .map_err(|e| e.to_string());
                    if let Ok(mut v) = outcomes.lock() {
                        v.push(o);
                    }
                }
            })
        })
        .collect()
}
