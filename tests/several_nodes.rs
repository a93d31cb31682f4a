//! Several gateways, one state: two `erpgate serve` processes on one PostgreSQL database (a
//! private cluster), set up and operated through the CLI as an operator would. A change made
//! through one node's CLI reaches the other node within a second (LISTEN/NOTIFY, with the poll
//! as fallback), and both nodes' audit records land in one verifiable trail.

mod support;

use std::time::{Duration, Instant};

use support::nodes::{database, time_until, Node};
use support::{Gateway, Options};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

#[test]
fn a_change_through_one_node_reaches_the_other_within_a_second() {
    let (pg, _secrets, pass) = database();

    // Node A: migrated, accounts and secrets created, all through the CLI, all in PostgreSQL.
    // Polling is slowed to 1 s on both nodes, so what is measured below is the notification.
    let mut a = Gateway::prepare(Options {
        database: format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port),
        gateway_extra: format!("database_password_file = \"{}\"", pass.display()),
        ..Options::default()
    });
    let text = std::fs::read_to_string(&a.config).expect("config");
    assert!(text.contains("store_poll_interval_ms = 100\n"));
    std::fs::write(
        &a.config,
        text.replace(
            "store_poll_interval_ms = 100\n",
            "store_poll_interval_ms = 1000\n",
        ),
    )
    .expect("config");
    a.spawn();
    assert!(
        !std::path::Path::new(&a.dir.path().join("erpgate.db")).exists(),
        "no SQLite file"
    );
    let b = Node::start(&a, "gw-b");
    let cred = a.issue("ap-sync");
    let spare = a.issue("ap-sync");
    // Node B learns of the new credentials (a change announced by A's CLI) and serves them.
    time_until("B knows the credential", || b.status_as(&cred).0 == 200);
    assert_eq!(a.get_as(&cred, INVOICES).status, 200);

    let mut times = Vec::new();
    a.ok(&["credential", "revoke", &cred.id]);
    let took = time_until("B refuses the revoked credential", || {
        b.status_as(&cred) == (401, "credential.revoked".to_string())
    });
    eprintln!("revocation reached the other node in {took:?}");
    assert!(took < Duration::from_secs(1), "revocation took {took:?}");
    times.push(took);
    assert_eq!(b.status_as(&spare).0, 200, "other credentials still work");

    a.ok(&["account", "suspend", "ap-sync"]);
    let took = time_until("B refuses the suspended account", || {
        b.status_as(&spare) == (403, "account.suspended".to_string())
    });
    eprintln!("suspension reached the other node in {took:?}");
    assert!(took < Duration::from_secs(1), "suspension took {took:?}");
    times.push(took);

    a.ok(&["account", "resume", "ap-sync"]);
    time_until("B serves the resumed account", || {
        b.status_as(&spare).0 == 200
    });

    a.ok(&["killswitch", "on"]);
    let took = time_until("B honours the kill switch", || b.status_as(&spare).0 == 503);
    eprintln!("kill switch reached the other node in {took:?}");
    assert!(took < Duration::from_secs(1), "kill switch took {took:?}");
    times.push(took);
    // Polling alone (every 1 s here) would take about 500 ms on average each time: three
    // changes all well under that are the notification at work.
    let slowest = times.iter().max().copied().unwrap_or_default();
    assert!(slowest < Duration::from_millis(500), "{times:?}");
    a.ok(&["killswitch", "off"]);
    time_until("B serves again", || b.status_as(&spare).0 == 200);

    // Both nodes wrote to the one trail, and it verifies.
    let verified = a.ok(&["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
    // B relayed at least the requests it answered 200 above, A one: all in the trail.
    let relayed = a
        .audit(&["--actor", "ap-sync"])
        .iter()
        .filter(|r| r["decision"] == "relayed")
        .count();
    assert!(relayed >= 5, "{relayed} relayed records");
    let log = b.log_text();
    assert!(!log.contains("gw-node-secret"), "password in the log");
    assert!(!log.contains(&cred.password) && !log.contains(&spare.password));
}

#[test]
fn a_node_that_loses_the_database_serves_within_the_staleness_bound_then_refuses_and_recovers() {
    let (pg, _secrets, pass) = database();
    let gw = Gateway::start(Options {
        database: format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port),
        gateway_extra: format!(
            "database_password_file = \"{}\"\nstore_staleness_seconds = 2",
            pass.display()
        ),
        ..Options::default()
    });
    let cred = gw.issue("ap-sync");
    gw.eventually("the credential is served", || {
        gw.get_as(&cred, INVOICES).status == 200
    });
    // The audit writer holds a live connection when the database goes (its first record is
    // committed): losing an established connection is the case to survive.
    let first = gw.get_as(&cred, INVOICES);
    gw.audit_record(first.header("x-request-id").expect("request id"));

    pg.stop().expect("stop PostgreSQL");
    let stopped = Instant::now();
    let mut served = Vec::new();
    let first_refusal = loop {
        let r = gw.get_as(&cred, INVOICES);
        if r.status != 200 {
            break (stopped.elapsed(), r.status, r.error_code());
        }
        served.push(r.header("x-request-id").expect("request id").to_string());
        assert!(
            stopped.elapsed() < Duration::from_secs(6),
            "still relaying {:?} after the store went away",
            stopped.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (after, status, code) = first_refusal;
    assert_eq!(
        (status, code.as_str()),
        (503, "store.unavailable"),
        "after {after:?}, {} served:\n{}",
        served.len(),
        gw.log_text()
    );
    // Served from what it knew for about the bound (2 s, confirmed at most one 100 ms poll
    // before the stop), never much longer.
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_secs(4),
        "first refusal after {after:?}"
    );
    eprintln!(
        "served {} requests, first refusal {after:?} after the stop",
        served.len()
    );
    assert!(!served.is_empty(), "nothing served within the bound");
    // While the database stays away, every answer is a refusal.
    for _ in 0..5 {
        let r = gw.get_as(&cred, INVOICES);
        assert_eq!(r.status, 503);
        assert!(
            ["store.unavailable", "audit.unavailable"].contains(&r.error_code().as_str()),
            "{}",
            r.error_code()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    pg.restart().expect("start PostgreSQL again");
    let took = time_until("service recovers without a restart", || {
        gw.get_as(&cred, INVOICES).status == 200
    });
    eprintln!("recovered {took:?} after PostgreSQL came back");
    assert!(took < Duration::from_secs(5), "recovery took {took:?}");
    // Every request served during the outage was audited once the database was back, and
    // the trail verifies.
    for rid in &served {
        let rec = gw.audit_record(rid);
        assert_eq!(rec["decision"], "relayed", "{rec}");
    }
    let verified = gw.ok(&["audit", "verify"]);
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn the_gateways_role_appends_to_the_trail_and_can_never_rewrite_it() {
    let pg = support::postgres::Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql(
        "postgres",
        "create role erpgate_owner login password 'owner-secret'",
    )
    .expect("owner");
    pg.psql("postgres", "create role gw login password 'gw-node-secret'")
        .expect("runtime role");
    pg.psql("postgres", "create database erpgate owner erpgate_owner")
        .expect("database");
    let secrets = tempfile::tempdir().expect("dir");
    let pass = secrets.path().join("pg.pass");
    std::fs::write(&pass, "gw-node-secret\n").expect("password file");
    let owner_pass = secrets.path().join("owner.pass");
    std::fs::write(&owner_pass, "owner-secret\n").expect("owner password file");

    // The owner migrates and grants; the gateway and its CLI run as `gw`.
    let gw = Gateway::start(Options {
        database: format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port),
        gateway_extra: format!(
            "database_password_file = \"{}\"\nnode_id = \"gw-1\"",
            pass.display()
        ),
        migrate_args: [
            "--owner",
            "erpgate_owner",
            "--owner-password-file",
            owner_pass.to_str().expect("path"),
            "--grant-to",
            "gw",
        ]
        .map(String::from)
        .to_vec(),
        ..Options::default()
    });
    let owner_of = |table: &str| {
        pg.psql(
            "erpgate",
            &format!("select tableowner from pg_tables where tablename = '{table}'"),
        )
        .expect("owner")
    };
    assert_eq!(owner_of("audit_batch"), "erpgate_owner");
    assert_eq!(owner_of("accounts"), "erpgate_owner");
    let cred = gw.issue("ap-sync");
    gw.eventually("the credential is served", || {
        gw.get_as(&cred, INVOICES).status == 200
    });
    let r = gw.get_as(&cred, INVOICES);
    gw.audit_record(r.header("x-request-id").expect("request id"));
    gw.ok(&["killswitch", "on"]);
    gw.ok(&["killswitch", "off"]);

    // As the gateway's role, with its password: every way to rewrite the trail is refused.
    let as_gw = |sql: &str| pg.psql_as("gw", "gw-node-secret", "erpgate", sql);
    for sql in [
        "UPDATE audit_batch SET node = 'someone-else'",
        "DELETE FROM audit_batch",
        "TRUNCATE audit_batch",
        "ALTER TABLE audit_batch DISABLE TRIGGER audit_batch_no_update",
        "DROP TRIGGER audit_batch_no_update ON audit_batch",
        "UPDATE audit_bounds SET span = 0",
        "DELETE FROM audit_bounds",
        "INSERT INTO audit_bounds (id, span) VALUES (2, 0)",
        "UPDATE audit_gate SET open = 1",
        "UPDATE audit_policy SET min_retention_days = 0",
        "SELECT erpgate_audit_prune(node, MAX(id) - 1) FROM audit_batch GROUP BY node",
        "CREATE TABLE audit_policy_shadow (x int)",
        "UPDATE audit_actor_second SET actor = 'someone-else'",
        "DELETE FROM audit_actor_second",
        "TRUNCATE audit_actor_second",
    ] {
        let e = as_gw(sql).expect_err(sql);
        assert!(
            e.contains("permission denied")
                || e.contains("must be owner")
                || e.contains("retention floor")
                || e.contains("bounds only grow"),
            "{sql}: {e}"
        );
    }
    // What it may do, it does: read, append.
    let n: u64 = as_gw("SELECT SUM(last_id - id + 1) FROM audit_batch")
        .expect("read")
        .parse()
        .expect("count");
    assert!(n >= 3, "{n} records");
    // A store granted before the trail was kept in batches (schema 12, its trail emptied
    // here): the owner's migrate gives the role that writes the trail the batches too,
    // without --grant-to.
    let as_owner = |sql: &str| pg.psql_as("erpgate_owner", "owner-secret", "erpgate", sql);
    as_owner(
        "DROP TABLE audit_batch; DROP TABLE audit_bounds; DROP FUNCTION erpgate_audit_bounds_grow(); \
         CREATE TABLE audit_log (id BIGINT PRIMARY KEY, ts TEXT COLLATE \"C\" NOT NULL, request_id TEXT NOT NULL, \
             record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, node TEXT NOT NULL DEFAULT ''); \
         GRANT SELECT, INSERT ON audit_log TO gw; DELETE FROM schema_migrations WHERE version >= 13",
    )
    .expect("back to schema 12");
    let migrated = gw.ok(&[
        "migrate",
        "--owner",
        "erpgate_owner",
        "--owner-password-file",
        owner_pass.to_str().expect("path"),
    ]);
    assert!(
        migrated.contains("applied migration(s) 13, 14"),
        "{migrated}"
    );
    let r = gw.get_as(&cred, INVOICES);
    assert_eq!(r.status, 200);
    let rec = gw.audit_record(r.header("x-request-id").expect("request id"));
    let ts = rec["ts"].as_str().expect("ts");
    let lookup = as_gw(&format!(
        "SELECT COUNT(*) FROM audit_actor_second WHERE actor = 'ap-sync' AND second = '{}'",
        &ts[..19]
    ))
    .expect("read the lookup");
    assert_eq!(
        lookup, "1",
        "the new record's actor and second, written as gw"
    );
    // The lookup's retention function deletes only rows no record is behind, whatever cut the
    // role gives it, and refuses one that is not a time.
    as_gw("SELECT erpgate_audit_prune_lookup('9999-12-31T23:59:59.999999Z')")
        .expect("a cut in the future");
    let e = as_gw("SELECT erpgate_audit_prune_lookup('yesterday')").expect_err("not a time");
    assert!(e.contains("RFC 3339"), "{e}");
    // Retention runs through the owner's functions; nothing here is older than the floor.
    let pruned = gw.ok(&["audit", "prune", "--days", "30", "--yes"]);
    assert!(pruned.contains("pruned 0"), "{pruned}");
    let verified = gw.ok(&["audit", "verify"]);
    assert!(
        verified.contains("audit chain of node gw-1 intact"),
        "{verified}"
    );
    // A migrate by the runtime role cannot lower the floor.
    let text = std::fs::read_to_string(&gw.config).expect("config");
    std::fs::write(
        &gw.config,
        text.replace(
            "node_id = \"gw-1\"",
            "node_id = \"gw-1\"\naudit_min_retention_days = 1",
        ),
    )
    .expect("config");
    let out = gw.cli(&["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--owner") && err.contains("retention floor"),
        "{err}"
    );
    assert!(!err.contains("gw-node-secret") && !err.contains("owner-secret"));
}

#[test]
fn a_browser_session_started_on_one_node_holds_on_the_other_and_ends_on_both() {
    use support::page::{self, keys, FUSION, LAUNCH, USER};
    use support::{http, request};
    let (pg, _secrets, pass) = database();
    let a = page::start_on(
        Options {
            database: format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port),
            gateway_extra: format!("database_password_file = \"{}\"", pass.display()),
            ..Options::default()
        },
        "",
        "",
    );
    let b = Node::start(&a, "gw-b");
    let origin = format!("http://127.0.0.1:{}", a.addr.port());
    let launcher = page::destination(&origin, &keys().fusion, FUSION);
    let get = |addr, target: &str, headers: &[(&str, &str)]| {
        http::raw(addr, &request("GET", target, headers, None)).expect("answer")
    };
    let cookie_of = |r: &support::Response| {
        format!(
            "__Host-erpgate-oracle={}",
            page::session_cookie(r.header("set-cookie").expect("cookie"))
        )
    };

    // Launched on A, the browser's next request lands on B.
    let token = page::token(&launcher, USER);
    let r = get(a.addr, &format!("{LAUNCH}?jwt={token}"), &[]);
    assert_eq!(r.status, 303, "{}", r.text());
    let cookie = cookie_of(&r);
    let took = time_until("B serves the session A started", || {
        get(b.addr, INVOICES, &[("Cookie", &cookie)]).status == 200
    });
    eprintln!("a session started on A was served by B after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The same token on B: a replay; as a Bearer credential on B: refused.
    let r = get(b.addr, &format!("{LAUNCH}?jwt={token}"), &[]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.text().contains("launch.replayed"));
    let bearer = format!("Bearer {token}");
    let r = get(b.addr, INVOICES, &[("Authorization", &bearer)]);
    assert_eq!(r.status, 401, "{}", r.text());
    let rid = r.header("x-request-id").expect("rid").to_string();
    assert_eq!(a.audit_record(&rid)["detail"], "jwt_launch_token");

    // One fresh token sent to both nodes at once starts exactly one session.
    for round in 0..5 {
        let token = page::token(&launcher, USER);
        let target = format!("{LAUNCH}?jwt={token}");
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let racers: Vec<_> = [a.addr, b.addr]
                .into_iter()
                .map(|addr| {
                    let (target, barrier) = (&target, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        get(addr, target, &[]).status
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [303, 401], "round {round}: {statuses:?}");
    }

    // Ended on B: refused on B at once, and on A as soon as the end is announced.
    let post_end = request(
        "POST",
        &format!("{LAUNCH}/end"),
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", origin.as_str()),
            ("X-Erpgate-Csrf", "1"),
        ],
        Some(b""),
    );
    let r = http::raw(b.addr, &post_end).expect("end");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(b.addr, INVOICES, &[("Cookie", &cookie)]).status, 401);
    let took = time_until("A refuses the session B ended", || {
        get(a.addr, INVOICES, &[("Cookie", &cookie)]).status == 401
    });
    eprintln!("an end on B reached A after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let r = get(a.addr, INVOICES, &[("Cookie", &cookie)]);
    assert_eq!(r.json()["error"]["code"], "auth.expired");
}
