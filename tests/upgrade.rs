//! Graceful upgrade against the real binary: a new `erpgate serve --upgrade` takes the public
//! listener over from the running one (SIGQUIT), under continuous load, with no failed or
//! refused request, no audit record lost and one unbroken hash chain across both processes.

mod support;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{free_port, request, Gateway, Options};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

/// Kills the new process when the test ends, whatever happens.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_new_process_takes_over_without_dropping_a_request_or_a_record() {
    let admin_port = free_port();
    let metrics_port = free_port();
    let mut gw = Gateway::start(Options {
        gateway_extra: format!(
            "admin_listen = \"127.0.0.1:{admin_port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\""
        ),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    let old_pid = gw.pid().expect("running");

    // Continuous load: 3 clients, a new connection per request.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, served, failures) = (stop.clone(), served.clone(), failures.clone());
            let raw = request(
                "GET",
                &format!("{V}/invoices?limit=1"),
                &[("Authorization", &cred.basic())],
                None,
            );
            let addr = gw.addr;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match support::http::raw(addr, &raw) {
                        Ok(r) if r.status == 200 => {
                            let rid = r.header("x-request-id").unwrap_or("").to_string();
                            served.lock().expect("lock").push(rid);
                        }
                        Ok(r) => failures.lock().expect("lock").push(format!(
                            "status {}: {}",
                            r.status,
                            r.text()
                        )),
                        Err(e) => failures.lock().expect("lock").push(e.to_string()),
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // The new process waits for the sockets; the old one hands them over on SIGQUIT.
    let log = std::fs::File::create(gw.dir.path().join("new.log")).expect("log");
    let new = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["serve", "--upgrade", "--config"])
        .arg(&gw.config)
        .env("ERPGATE_APP_KEY", &gw.app_key)
        .env("ERPGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .spawn()
        .expect("spawn the new process");
    let mut new = Reaper(new);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        new.0.try_wait().expect("wait").is_none(),
        "the new process waits for the sockets"
    );
    let before = served.lock().expect("lock").len();
    let code = gw.signal_and_wait("-QUIT", Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "the old process exits cleanly after draining"
    );
    // Keep the load on the new process alone for a while.
    let after_old = served.lock().expect("lock").len();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let failures = failures.lock().expect("lock").clone();
    let served = served.lock().expect("lock").clone();
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(before > 10, "load ran before the hand-over ({before})");
    assert!(
        served.len() > after_old + 10,
        "the new process served after the old one left ({} → {})",
        after_old,
        served.len()
    );
    assert!(new.0.try_wait().expect("wait").is_none(), "new still runs");
    assert_ne!(new.0.id(), old_pid);

    // The side listeners moved too.
    let health = support::http::raw(
        format!("127.0.0.1:{admin_port}").parse().expect("addr"),
        &request("GET", "/health", &[], None),
    )
    .expect("admin health");
    assert_eq!(health.status, 200);
    let metrics = support::http::raw(
        format!("127.0.0.1:{metrics_port}").parse().expect("addr"),
        &request("GET", "/metrics", &[], None),
    )
    .expect("metrics");
    assert_eq!(metrics.status, 200);

    // Every answered request has its record, and the chain written by both processes holds.
    let wanted: HashSet<String> = served.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let have: HashSet<String> = gw
            .audit(&["--actor", "ap-sync"])
            .iter()
            .filter_map(|r| r["request_id"].as_str().map(str::to_string))
            .collect();
        let missing: Vec<&String> = wanted.difference(&have).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(missing, 0, "answered requests without an audit record");
    let verify = gw.cli(&["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // A normal hand-over is not an error: the new process logged none while it waited.
    let new_log = std::fs::read_to_string(gw.dir.path().join("new.log")).expect("new log");
    assert!(
        !new_log.lines().any(|l| l.contains(" ERROR ")),
        "the new process logged an error during a normal upgrade:\n{new_log}"
    );
}

/// Runs `erpgate serve` (plain, not `--upgrade`) for `gw`'s configuration; its exit code and
/// output, or `None` if it is still serving after `within` (then it is killed).
fn plain_serve(gw: &Gateway, within: Duration) -> Option<(Option<i32>, String)> {
    let log = gw.dir.path().join("second.log");
    let file = std::fs::File::create(&log).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["serve", "--config"])
        .arg(&gw.config)
        .env("ERPGATE_APP_KEY", &gw.app_key)
        .env("ERPGATE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .spawn()
        .expect("spawn the second process");
    let mut child = Reaper(child);
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.0.try_wait() {
            return Some((
                status.code(),
                std::fs::read_to_string(&log).unwrap_or_default(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_plain_serve_refuses_an_admin_or_metrics_port_another_erpgate_holds() {
    let admin_port = free_port();
    let metrics_port = free_port();
    let first = Gateway::start(Options {
        gateway_extra: format!(
            "admin_listen = \"127.0.0.1:{admin_port}\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\""
        ),
        ..Options::default()
    });
    // A second gateway with its own public port and database, sharing one side port.
    for (extra, what) in [
        (
            format!("admin_listen = \"127.0.0.1:{admin_port}\""),
            "cannot serve the admin API",
        ),
        (
            format!("metrics_listen = \"127.0.0.1:{metrics_port}\""),
            "cannot serve metrics",
        ),
    ] {
        let second = Gateway::prepare(Options {
            gateway_extra: extra,
            ..Options::default()
        });
        let outcome = plain_serve(&second, Duration::from_secs(15));
        let Some((code, log)) = outcome else {
            panic!("a second erpgate started and shares a side port of the first ({what})");
        };
        assert_eq!(code, Some(1), "{log}");
        assert!(log.contains(what) && log.contains("in use"), "{log}");
        // Its public port was never taken.
        assert!(std::net::TcpListener::bind(second.addr).is_ok());
    }
    // Every admin call still reaches the first gateway alone.
    for _ in 0..10 {
        let r = support::http::raw(
            format!("127.0.0.1:{admin_port}").parse().expect("addr"),
            &request("GET", "/health", &[], None),
        )
        .expect("admin health");
        assert_eq!(r.status, 200);
    }
    assert!(first.pid().is_some());
}
