//! Three gateways behind one imagined load balancer, one PostgreSQL database (a private
//! cluster): revocations made through one node's CLI reach the other two within a second;
//! guessing spread over the three locks as soon as it would on one; the nodes see each
//! other's snapshots; under continuous load a node killed with SIGKILL costs the others no
//! request and rejoins by itself; a lost database is served through for the staleness bound,
//! then refused, then recovered from; and every node's audit chain verifies.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::nodes::{database, time_until, Node};
use support::{Gateway, Issued, Options, Response};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

/// A GET of the invoices at `addr` with `authorization`, as client address `client` (the
/// gateways trust `X-Forwarded-For` from loopback, so one test can speak for many clients).
fn get(addr: SocketAddr, authorization: &str, client: &str) -> std::io::Result<Response> {
    support::http::raw(
        addr,
        &support::request(
            "GET",
            INVOICES,
            &[
                ("Authorization", authorization),
                ("X-Forwarded-For", client),
            ],
            None,
        ),
    )
}

fn outcome(r: &Response) -> (u16, String) {
    let code = if r.status == 200 {
        String::new()
    } else {
        r.error_code()
    };
    (r.status, code)
}

/// Wrong passwords for `cred` sent round-robin to `nodes`, each from a new client address,
/// until one is answered 429 `auth.locked`: how many attempts that took (the last included).
fn attempts_until_locked(nodes: &[SocketAddr], cred: &Issued, first_client: u8) -> usize {
    let wrong = support::basic(&cred.username, "not-the-password");
    for i in 0..20usize {
        let node = nodes[i % nodes.len()];
        let client = format!("198.51.{first_client}.{}", i + 1);
        let r = get(node, &wrong, &client).expect("answer");
        match outcome(&r) {
            (401, code) if code == "auth.invalid" => continue,
            (429, code) if code == "auth.locked" => return i + 1,
            other => panic!("attempt {}: unexpected {other:?}", i + 1),
        }
    }
    panic!("never locked after 20 wrong passwords");
}

fn scrape(addr: SocketAddr) -> String {
    support::http::raw(addr, &support::request("GET", "/metrics", &[], None))
        .expect("scrape")
        .text()
}

fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

struct Cluster {
    a: Gateway,
    b: Node,
    c: Node,
    a_metrics: SocketAddr,
    a_admin: SocketAddr,
    pg: support::postgres::Postgres,
    _secrets: tempfile::TempDir,
}

impl Cluster {
    /// Node A (`gw-a`, with an admin and a metrics listener) provisioned through its CLI,
    /// then B and C beside it; `extra` goes into every node's `[gateway]` section.
    fn start(extra: &str) -> (Cluster, String) {
        let (pg, secrets, pass) = database();
        let a_metrics: SocketAddr = format!("127.0.0.1:{}", support::free_port())
            .parse()
            .expect("addr");
        let a_admin: SocketAddr = format!("127.0.0.1:{}", support::free_port())
            .parse()
            .expect("addr");
        let mut a = Gateway::prepare(Options {
            database: format!("postgres://gw@127.0.0.1:{}/erpgate", pg.port),
            gateway_extra: format!(
                "database_password_file = \"{}\"\nnode_id = \"gw-a\"\ntrusted_proxies = [\"127.0.0.1\"]\nmetrics_listen = \"{a_metrics}\"\nadmin_listen = \"{a_admin}\"\n{extra}",
                pass.display()
            ),
            ..Options::default()
        });
        let out = a.ok(&[
            "admin-token",
            "create",
            "--role",
            "auditor",
            "--name",
            "ops",
            "--json",
        ]);
        let auditor = serde_json::from_str::<Value>(out.trim()).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_string();
        a.spawn();
        let b = Node::start(&a, "gw-b");
        let c = Node::start(&a, "gw-c");
        let cluster = Cluster {
            a,
            b,
            c,
            a_metrics,
            a_admin,
            pg,
            _secrets: secrets,
        };
        (cluster, auditor)
    }

    fn addrs(&self) -> [SocketAddr; 3] {
        [self.a.addr, self.b.addr, self.c.addr]
    }

    fn status(&self, token: &str) -> Value {
        let r = support::http::raw(
            self.a_admin,
            &support::request(
                "GET",
                "/status",
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            ),
        )
        .expect("status");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }
}

/// How long until both `b` and `c` answer `cred` with `want`.
fn until_both(c: &Cluster, what: &str, cred: &Issued, want: (u16, &str)) -> Duration {
    let want = (want.0, want.1.to_string());
    time_until(what, || {
        c.b.status_as(cred) == want && c.c.status_as(cred) == want
    })
}

#[test]
fn three_gateways_share_revocations_lockouts_and_what_they_serve() {
    let (cl, auditor) = Cluster::start("");
    let cred = cl.a.issue("ap-sync");
    let spare = cl.a.issue("ap-sync");
    let globex = cl.a.issue("globex-app");
    let victim = cl.a.issue("ap-sync");
    let solo = cl.a.issue("ap-sync");
    until_both(&cl, "B and C know the credentials", &cred, (200, ""));
    until_both(&cl, "B and C know globex", &globex, (200, ""));

    // Revocations through A's CLI reach B and C within a second.
    let mut times = Vec::new();
    cl.a.ok(&["credential", "revoke", &cred.id]);
    times.push(until_both(
        &cl,
        "revocation",
        &cred,
        (401, "credential.revoked"),
    ));
    cl.a.ok(&["account", "suspend", "globex-app"]);
    times.push(until_both(
        &cl,
        "suspension",
        &globex,
        (403, "account.suspended"),
    ));
    cl.a.ok(&["killswitch", "on"]);
    times.push(until_both(
        &cl,
        "kill switch",
        &spare,
        (503, "killswitch.on"),
    ));
    cl.a.ok(&["killswitch", "off"]);
    until_both(&cl, "service again", &spare, (200, ""));
    // A gateway token issued by B is honoured by C, and revoked everywhere through A.
    let issued = support::http::raw(
        cl.b.addr,
        &support::request(
            "POST",
            "/gateway/token",
            &[("Authorization", &spare.basic())],
            Some(b""),
        ),
    )
    .expect("token");
    assert_eq!(issued.status, 200, "{}", issued.text());
    let token = issued.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let bearer = format!("Bearer {token}");
    time_until("C honours B's token", || {
        get(cl.c.addr, &bearer, "192.0.2.1").is_ok_and(|r| r.status == 200)
    });
    cl.a.ok(&["token", "revoke", &token]);
    times.push(time_until("B and C refuse the revoked token", || {
        [cl.b.addr, cl.c.addr].iter().all(|n| {
            get(*n, &bearer, "192.0.2.1")
                .is_ok_and(|r| outcome(&r) == (401, "credential.revoked".into()))
        })
    }));
    eprintln!("revocation, suspension, kill switch, token revocation reached B and C in {times:?}");
    for t in &times {
        assert!(*t < Duration::from_secs(1), "{times:?}");
    }

    // Guessing spread over the three locks after as many failures as guessing at one.
    let spread = attempts_until_locked(&cl.addrs(), &victim, 100);
    let single = attempts_until_locked(&[cl.a.addr], &solo, 101);
    eprintln!("locked after {spread} guesses over three nodes, {single} at one");
    assert_eq!(spread, single);
    assert_eq!(spread, 5, "gateway.token_max_failures (default 5)");
    // Locked everywhere, the right password included, whichever node and address.
    for (i, node) in cl.addrs().iter().enumerate() {
        let r = get(*node, &victim.basic(), &format!("203.0.113.{}", i + 1)).expect("answer");
        assert_eq!(outcome(&r), (429, "auth.locked".into()), "node {i}");
    }

    // The same guesses all at once, five to each node: the verifications are reserved in
    // the shared counters, so the three run at most five argon2 verifications between them.
    let burst = cl.a.issue("ap-sync");
    // Every node must know the credential first: one that does not yet (its store poll still
    // to come) counts guesses under the username instead and runs the dummy verification,
    // which no guess can pass but which would be counted here. A success clears the counters.
    // A fresh address per try, so the tries of a node still polling lock nothing that
    // matters later.
    let mut tries = 0u32;
    time_until("every node knows the new credential", || {
        cl.addrs().iter().all(|n| {
            tries += 1;
            let client = format!("198.51.{}.{}", 103 + tries / 250, 1 + tries % 250);
            get(*n, &burst.basic(), &client).is_ok_and(|r| r.status == 200)
        })
    });
    let argon2 = || -> f64 {
        [cl.a_metrics, cl.b.metrics, cl.c.metrics]
            .iter()
            .map(|m| gauge(&scrape(*m), "erpgate_auth_cache_misses_total").unwrap_or(0) as f64)
            .sum()
    };
    let before = argon2();
    let gate = Arc::new(std::sync::Barrier::new(15));
    let answers: Vec<(u16, String)> = (0..15)
        .map(|i| {
            let (node, gate) = (cl.addrs()[i % 3], gate.clone());
            let auth = support::basic(&burst.username, &format!("guess-{i}"));
            std::thread::spawn(move || {
                gate.wait();
                outcome(&get(node, &auth, &format!("198.51.102.{}", i + 1)).expect("answer"))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("guess"))
        .collect();
    let verified = argon2() - before;
    eprintln!(
        "15 simultaneous guesses over three nodes: {verified} verifications, answers {answers:?}"
    );
    assert!(
        verified <= 5.0,
        "{verified} verifications for 15 simultaneous guesses"
    );
    for (status, code) in &answers {
        assert!(
            matches!(
                (*status, code.as_str()),
                (401, "auth.invalid") | (429, "auth.locked") | (503, "auth.busy")
            ),
            "{status} {code}"
        );
    }
    assert!(answers.iter().filter(|a| a.0 == 401).count() <= 5);
    // Every node knows the others and the snapshot each serves.
    let status = cl.status(&auditor);
    let names: Vec<&str> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["node"].as_str().expect("node"))
        .collect();
    assert_eq!(names, ["gw-a", "gw-b", "gw-c"], "{status}");
    assert_eq!(status["node"], "gw-a");
    assert_eq!(status["snapshots_differ"], false, "{status}");
    let metrics = scrape(cl.a_metrics);
    assert_eq!(gauge(&metrics, "erpgate_store_nodes"), Some(3), "{metrics}");
    assert_eq!(gauge(&metrics, "erpgate_store_snapshots"), Some(1));
    // Their `[gateway]` sections differ (listeners, node ids): that is not a difference. A
    // policy that C alone gets is: C reloads it, and A sees the nodes disagree.
    let text = std::fs::read_to_string(&cl.c.config).expect("config");
    std::fs::write(
        &cl.c.config,
        format!("{text}\n[[policy]]\nname = \"c-only\"\nsubjects = [\"account:hr-reader\"]\n  [[policy.rule]]\n  name = \"suppliers\"\n  endpoints = [\"suppliers.collection\"]\n  methods = [\"GET\"]\n"),
    )
    .expect("write");
    cl.c.signal("-HUP");
    time_until("A sees two snapshots", || {
        gauge(&scrape(cl.a_metrics), "erpgate_store_snapshots") == Some(2)
    });
    let status = cl.status(&auditor);
    assert_eq!(status["snapshots_differ"], true, "{status}");
    let hashes: Vec<&str> = status["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["shared_hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(hashes[0], hashes[1]);
    assert_ne!(hashes[0], hashes[2]);

    for log in [cl.b.log_text(), cl.c.log_text(), cl.a.log_text()] {
        for secret in [&victim.password, &solo.password, &spare.password, &token] {
            assert!(!log.contains(secret.as_str()), "a secret in a log");
        }
        assert!(!log.contains("gw-node-secret"));
    }
}

/// One answer seen by the load generator.
struct Seen {
    node: usize,
    at: Instant,
    status: Option<u16>,
    code: String,
    request_id: Option<String>,
}

/// A client per node, each sending requests one after another until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(nodes: [SocketAddr; 3], cred: &Issued) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads = nodes
            .into_iter()
            .enumerate()
            .map(|(node, addr)| {
                let (stop, seen, auth) = (stop.clone(), seen.clone(), cred.basic());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let r = get(addr, &auth, "192.0.2.10");
                        let s = Seen {
                            node,
                            at: Instant::now(),
                            status: r.as_ref().ok().map(|r| r.status),
                            code: r.as_ref().map(|r| outcome(r).1).unwrap_or_default(),
                            request_id: r
                                .as_ref()
                                .ok()
                                .and_then(|r| r.header("x-request-id").map(str::to_string)),
                        };
                        let failed = s.status.is_none();
                        seen.lock().expect("seen").push(s);
                        if failed {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            seen,
            threads,
        }
    }

    fn stop(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("client");
        }
        Arc::try_unwrap(self.seen)
            .ok()
            .expect("no other owner")
            .into_inner()
            .expect("seen")
    }
}

#[test]
fn under_load_a_crash_and_a_lost_database_cost_no_wrong_answer_and_every_chain_verifies() {
    let (mut cl, _) = Cluster::start("store_staleness_seconds = 2");
    let cred = cl.a.issue("ap-sync");
    until_both(&cl, "B and C know the credential", &cred, (200, ""));

    // Continuous load over the three; A is killed with SIGKILL, then started again.
    let load = Load::start(cl.addrs(), &cred);
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    cl.a.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    cl.a.spawn();
    std::thread::sleep(Duration::from_secs(2));

    // Then the database goes away mid-load, and comes back.
    cl.pg.stop().expect("stop PostgreSQL");
    let db_gone = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    // The database is certainly gone until its restart begins; once it begins, it may be
    // serving again before the restart call returns (a slow start on a loaded machine).
    let db_restart = Instant::now();
    cl.pg.restart().expect("start PostgreSQL");
    let db_back = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let seen = load.stop();

    let during = |s: &Seen, from: Instant, to: Instant| s.at >= from && s.at < to;
    // B and C answered every request while A was down, all of them relayed.
    let others: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.node != 0 && during(s, killed, db_gone))
        .collect();
    assert!(others.len() > 20, "{} requests to B and C", others.len());
    for s in &others {
        assert_eq!(
            (s.status, s.code.as_str()),
            (Some(200), ""),
            "node {}",
            s.node
        );
    }
    // A answered nothing while dead, and rejoined with no manual step.
    assert!(seen
        .iter()
        .filter(|s| s.node == 0 && s.at > killed + Duration::from_millis(100) && s.at < restarted)
        .all(|s| s.status.is_none()));
    assert!(
        seen.iter()
            .any(|s| s.node == 0 && s.at > restarted && s.at < db_gone && s.status == Some(200)),
        "A serves again after its restart"
    );
    // Without the database: relayed only within the bound (2 s, plus a poll and the time a
    // request takes), then refused as unavailable; never a relay well past the bound.
    for node in 0..3 {
        let mine: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.node == node && during(s, db_gone, db_restart))
            .collect();
        let last_relay = mine
            .iter()
            .filter(|s| s.status == Some(200))
            .map(|s| s.at - db_gone)
            .max();
        assert!(
            last_relay.is_none_or(|t| t < Duration::from_millis(3000)),
            "node {node} relayed {last_relay:?} after the database went"
        );
        let refusals: Vec<&&Seen> = mine.iter().filter(|s| s.status == Some(503)).collect();
        assert!(!refusals.is_empty(), "node {node} never refused");
        for s in &refusals {
            assert!(
                ["store.unavailable", "audit.unavailable"].contains(&s.code.as_str()),
                "{}",
                s.code
            );
        }
        assert!(
            refusals.iter().any(|s| s.code == "store.unavailable"),
            "node {node}"
        );
        // And recovered, without a restart, within a few seconds of its return.
        assert!(
            seen.iter().any(|s| s.node == node
                && s.at > db_back
                && s.at < db_back + Duration::from_secs(5)
                && s.status == Some(200)),
            "node {node} did not recover"
        );
    }

    // Every chain verifies, and every request B and C relayed is in the trail (A's records
    // still queued when it was killed are lost with it: README, "records in flight").
    let verified = cl.a.ok(&["audit", "verify"]);
    for node in ["gw-a", "gw-b", "gw-c"] {
        assert!(
            verified.contains(&format!("audit chain of node {node} intact")),
            "{verified}"
        );
    }
    let exported = cl.a.ok(&["audit", "export"]);
    let ids: std::collections::HashSet<String> = exported
        .lines()
        .flat_map(|l| {
            // A row per batch: its records, one JSON per line.
            let row: Value = serde_json::from_str(l).expect("row");
            let lines = row["record"].as_str().expect("records").to_string();
            lines
                .lines()
                .map(|line| {
                    let rec: Value = serde_json::from_str(line).expect("record");
                    rec["request_id"].as_str().expect("id").to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let relayed_by_b_c: Vec<&String> = seen
        .iter()
        .filter(|s| s.node != 0 && s.status == Some(200))
        .filter_map(|s| s.request_id.as_ref())
        .collect();
    let missing = relayed_by_b_c
        .iter()
        .filter(|id| !ids.contains(**id))
        .count();
    assert_eq!(missing, 0, "of {} relayed by B and C", relayed_by_b_c.len());
    eprintln!(
        "{} answers; {} relayed by B and C, all audited; chains: {}",
        seen.len(),
        relayed_by_b_c.len(),
        verified.trim()
    );
}
