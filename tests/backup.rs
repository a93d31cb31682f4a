//! `erpgate backup`: a consistent, private, checked copy of a SQLite state database taken while
//! the gateway serves and writes audit records; refused for PostgreSQL and for an existing file.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

#[test]
fn a_backup_taken_under_load_is_consistent_private_and_usable() {
    let gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.get_as(&cred, INVOICES).status, 200);
    // Requests (and their audit records) keep coming while the copy is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, addr, cred) = (stop.clone(), gw.addr, cred.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let raw = format!(
                    "GET {INVOICES} HTTP/1.1\r\nHost: gw.test\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
                    support::basic(&cred.username, &cred.password)
                );
                let r = support::http::raw(addr, raw.as_bytes()).expect("response");
                assert_eq!(r.status, 200);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let copy = gw.dir.path().join("copy.db");
    let out = gw.ok(&["backup", "--to", copy.to_str().expect("path")]);
    stop.store(true, Ordering::Relaxed);
    let served = load.join().expect("load");
    assert!(served > 0);
    assert!(out.contains("integrity ok"), "{out}");
    let mode = std::fs::metadata(&copy).expect("copy").permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the copy holds hashes and sealed secrets"
    );

    // The copy is a working state database: the same accounts, and an intact chain, read
    // through a configuration that points at it.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let restored = gw.dir.path().join("restored.toml");
    std::fs::write(
        &restored,
        text.replace("database = \"erpgate.db\"", "database = \"copy.db\""),
    )
    .expect("write");
    let restored = restored.to_str().expect("path");
    let verify = gw.ok(&["audit", "verify", "--config", restored]);
    assert!(verify.contains("intact"), "{verify}");
    let accounts = gw.ok(&["account", "list", "--config", restored]);
    assert!(
        accounts.contains("ap-sync") && accounts.contains("hr-reader"),
        "{accounts}"
    );
    // The backup itself is in the live trail.
    let backups: Vec<_> = gw
        .audit(&[])
        .into_iter()
        .filter(|r| r["method"] == "store.backup")
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0]["note"]["to"]
        .as_str()
        .is_some_and(|t| t.ends_with("copy.db")));

    // Never over an existing file; the existing file is left as it was.
    let before = std::fs::read(&copy).expect("copy");
    let again = gw.cli(&["backup", "--to", copy.to_str().expect("path")]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&copy).expect("copy"), before);
}

#[test]
fn a_postgres_database_is_pointed_to_pg_dump() {
    let gw = Gateway::prepare(Options::default());
    let text = std::fs::read_to_string(&gw.config).expect("config");
    let pg = gw.dir.path().join("pg.toml");
    std::fs::write(
        &pg,
        text.replace(
            "database = \"erpgate.db\"",
            "database = \"postgres://erpgate@127.0.0.1:9/erpgate\"",
        ),
    )
    .expect("write");
    let to = gw.dir.path().join("never.db");
    let out = gw.cli(&[
        "backup",
        "--config",
        pg.to_str().expect("path"),
        "--to",
        to.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!to.exists());
}
