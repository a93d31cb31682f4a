//! Test harness: a simulated Oracle and the real `erpgate` binary on loopback, configured
//! and provisioned through the real CLI.
#![allow(dead_code)]

pub mod admin;
pub mod http;
pub mod nodes;
pub mod oidc;
pub mod oracle;
pub mod page;
pub mod pki;
pub mod portal;
pub mod postgres;
pub mod summary;
pub mod webdriver;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use erpgate::sim::{self, SimConfig, SimHandle};

pub use http::{basic, request, Response};

/// The Oracle integration user the sim accepts Basic credentials for (its password is a random
/// canary per test run, `Gateway::upstream_password`, that must never leak).
pub const UPSTREAM_USER: &str = "FIN_INTEGRATION";

/// Whether the schedule is open during the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Open at all hours.
    Open,
    /// Closed for the whole test (one window, three days from today).
    Closed,
}

/// Harness options.
pub struct Options {
    pub schedule: Schedule,
    pub max_body: u64,
    pub extra_config: String,
    pub audit_queue: usize,
    pub preview: usize,
    /// Extra keys for the `[gateway]` section.
    pub gateway_extra: String,
    /// Extra keys for the `[tenants.acme]` section.
    pub acme_extra: String,
    /// Trusted issuers of the simulator's JWT assertion check.
    pub sim_jwt_issuers: Vec<String>,
    /// Serve the simulated Oracle over HTTPS with this configuration.
    pub sim_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// `gateway.shutdown_grace_seconds`.
    pub shutdown_grace_seconds: u64,
    /// `gateway.database` (a SQLite file in the test directory by default).
    pub database: String,
    /// Further arguments of the `erpgate migrate` that prepares the database.
    pub migrate_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schedule: Schedule::Open,
            max_body: 1024 * 1024,
            extra_config: String::new(),
            audit_queue: 4096,
            preview: 0,
            gateway_extra: String::new(),
            acme_extra: String::new(),
            sim_jwt_issuers: Vec::new(),
            sim_tls: None,
            shutdown_grace_seconds: 1,
            database: "erpgate.db".into(),
            migrate_args: Vec::new(),
        }
    }
}

/// A credential set printed by `credential issue --json`.
#[derive(Clone, Debug)]
pub struct Issued {
    pub id: String,
    pub username: String,
    pub password: String,
    pub api_key: String,
}

impl Issued {
    pub fn basic(&self) -> String {
        basic(&self.username, &self.password)
    }
}

/// A running gateway in front of a simulated Oracle.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub addr: SocketAddr,
    pub config: PathBuf,
    pub upstream_password: String,
    pub upstream_api_key: String,
    pub app_key: String,
    /// The certificates the simulated Oracle accepts assertions from.
    pub sim_trust: sim::JwtTrust,
    /// The tokens the simulated Oracle's token relay issued.
    pub sim_relay: sim::tokenrelay::RelayTokens,
    /// The simulated Fusion's Page Integration destination (`/__sim/page-integration`).
    pub sim_launcher: sim::launcher::SharedLauncher,
    /// Extra environment for the gateway process (`spawn`).
    pub serve_env: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn random_hex(n: usize) -> String {
    let bytes = erpgate::crypto::random_bytes::<16>().expect("rng");
    hex::encode(bytes)[..n].to_string()
}

fn closed_window() -> String {
    use chrono::Datelike;
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = chrono::Utc::now().weekday().num_days_from_monday() as usize;
    days[(today + 3) % 7].to_string()
}

impl Gateway {
    /// Starts a simulated Oracle and a gateway with the standard test configuration,
    /// migrated and with the test accounts created (no credentials issued yet).
    pub fn start(opts: Options) -> Gateway {
        let mut gw = Gateway::prepare(opts);
        gw.spawn();
        gw
    }

    /// Like [`Gateway::start`] but without starting `erpgate serve`.
    pub fn prepare(opts: Options) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let upstream_password = format!("canary-upw-{}", random_hex(24));
        let upstream_api_key = format!("canary-uak-{}", random_hex(24));
        let sim_trust = sim::JwtTrust::default();
        let sim_relay = sim::tokenrelay::RelayTokens::default();
        let sim_launcher = sim::launcher::SharedLauncher::default();
        let sim = sim::start_blocking(SimConfig {
            launcher: sim_launcher.clone(),
            basic_users: vec![(UPSTREAM_USER.into(), upstream_password.clone())],
            api_keys: vec![upstream_api_key.clone()],
            jwt_issuers: opts.sim_jwt_issuers.clone(),
            jwt_certs: sim_trust.clone(),
            relay_tokens: sim_relay.clone(),
            tls: opts.sim_tls.clone(),
            ..SimConfig::default()
        })
        .expect("sim starts");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let config = dir.path().join("erpgate.toml");
        let (days, start, end) = match opts.schedule {
            Schedule::Open => ("\"daily\"".to_string(), "00:00", "24:00"),
            Schedule::Closed => (format!("\"{}\"", closed_window()), "11:00", "12:00"),
        };
        let text = format!(
            include_str!("gateway.toml.in"),
            port = port,
            sim = sim.base_url(),
            days = days,
            start = start,
            end = end,
            max_body = opts.max_body,
            extra = opts
                .extra_config
                .replace("{sim}", &sim.base_url())
                .replace("{gateway}", &format!("http://127.0.0.1:{port}")),
            audit_queue = opts.audit_queue,
            preview = opts.preview,
            gateway_extra = opts.gateway_extra,
            acme_extra = opts.acme_extra,
            grace = opts.shutdown_grace_seconds,
            database = opts.database,
        );
        std::fs::write(&config, text).expect("write config");
        let app_key = erpgate::crypto::MasterKey::generate()
            .expect("key")
            .1
            .expose()
            .clone();
        let mut gw = Gateway {
            dir,
            sim,
            addr,
            config,
            upstream_password,
            upstream_api_key,
            app_key,
            sim_trust,
            sim_relay,
            sim_launcher,
            serve_env: Vec::new(),
            child: None,
            log: PathBuf::new(),
        };
        gw.log = gw.dir.path().join("gateway.log");
        let migrate: Vec<&str> = std::iter::once("migrate")
            .chain(opts.migrate_args.iter().map(String::as_str))
            .collect();
        gw.ok(&migrate);
        gw.ok(&["account", "create", "--name", "ap-sync", "--tenant", "acme"]);
        gw.ok(&[
            "account",
            "create",
            "--name",
            "hr-reader",
            "--tenant",
            "acme",
        ]);
        gw.ok(&[
            "account",
            "create",
            "--name",
            "globex-app",
            "--tenant",
            "globex",
        ]);
        let pw = gw.upstream_password.clone();
        let ak = gw.upstream_api_key.clone();
        gw.ok_stdin(
            &[
                "secret",
                "set",
                "--tenant",
                "acme",
                "--name",
                "fin-integration-password",
            ],
            &pw,
        );
        gw.ok_stdin(
            &[
                "secret",
                "set",
                "--tenant",
                "globex",
                "--name",
                "globex-api-key",
            ],
            &ak,
        );
        gw
    }

    /// Starts the gateway process (again).
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("ERPGATE_APP_KEY", &self.app_key)
            // Debug for erpgate itself, so tests that search the log for secrets see every
            // line the gateway can write (relayed requests are logged at debug); `serve_env`
            // may set another level.
            .env("ERPGATE_LOG", "info,erpgate=debug")
            // The gateway's own allocator settings, unless a test sets others.
            .env_remove("GLIBC_TUNABLES")
            .envs(self.serve_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone"))
            .stderr(log)
            .spawn()
            .expect("spawn erpgate serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("erpgate serve exited with {status}:\n{}", self.log_text());
                }
            }
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "erpgate did not listen on {} within 30 s:\n{}",
            self.addr,
            self.log_text()
        );
    }

    /// Runs the CLI against this gateway's configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_stdin(args, "")
    }

    /// Runs the CLI with `input` on stdin.
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_erpgate"))
            .args(args)
            .env("ERPGATE_CONFIG", &self.config)
            .env("ERPGATE_APP_KEY", &self.app_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn erpgate");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// Runs the CLI with extra environment.
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_erpgate"))
            .args(args)
            .env("ERPGATE_CONFIG", &self.config)
            .env("ERPGATE_APP_KEY", &self.app_key)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run erpgate")
    }

    /// Runs the CLI and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, "")
    }

    /// Runs the CLI with stdin and asserts success; returns stdout.
    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.cli_stdin(args, input);
        assert!(
            out.status.success(),
            "erpgate {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Issues a credential set for `account` through the CLI.
    pub fn issue(&self, account: &str) -> Issued {
        let out = self.ok(&["credential", "issue", "--account", account, "--json"]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("issue json");
        let s = |k: &str| v[k].as_str().expect(k).to_string();
        // The running gateway picks store changes up within one poll interval (100 ms here).
        std::thread::sleep(Duration::from_millis(350));
        Issued {
            id: s("id"),
            username: s("username"),
            password: s("password"),
            api_key: s("api_key"),
        }
    }

    /// Sends raw bytes to the gateway.
    pub fn send(&self, raw: &[u8]) -> Response {
        http::raw(self.addr, raw).expect("request")
    }

    /// GET `target` with extra headers.
    pub fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.send(&request("GET", target, headers, None))
    }

    /// GET `target` as `cred` (Basic).
    pub fn get_as(&self, cred: &Issued, target: &str) -> Response {
        let auth = cred.basic();
        self.get(target, &[("Authorization", &auth)])
    }

    /// Waits until `f` holds (for changes that propagate through the store poller).
    pub fn eventually(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} did not happen within 5 s");
    }

    /// Everything the gateway process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The database path.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("erpgate.db")
    }

    /// The SQLite store opened directly with the trail's update trigger dropped: what someone
    /// with the database file's rights can do, for tests that edit the trail behind the
    /// gateway's back.
    pub fn trail_unguarded(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.db_path()).expect("open the store");
        conn.execute_batch("DROP TRIGGER audit_batch_no_update")
            .expect("drop the update trigger");
        conn
    }

    /// Runs `erpgate audit query --json` with `args` and parses the records.
    pub fn audit(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["audit", "query", "--json", "--limit", "100000"];
        all.extend_from_slice(args);
        self.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit record json"))
            .collect()
    }

    /// The audit record of request `rid`, waiting (up to 10 s) for the writer to commit it:
    /// records are batched after a linger, and a loaded machine can take longer than any
    /// fixed sleep. Once it is there, every record of an earlier request is too (one writer,
    /// in order).
    pub fn audit_record(&self, rid: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(r) = self.audit(&["--request-id", rid]).into_iter().next() {
                return r;
            }
            if Instant::now() >= deadline {
                panic!("no audit record for request {rid} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gateway process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the gateway with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal_and_wait("-TERM", Duration::from_secs(20))
    }

    /// Sends `signal` (e.g. `-QUIT`) to the gateway process and waits for it to exit; its
    /// exit code. Panics if it is still running after `within`.
    pub fn signal_and_wait(&mut self, signal: &str, within: Duration) -> Option<i32> {
        self.signal(signal);
        self.wait_exit(signal, within)
    }

    /// Sends `signal` (e.g. `-QUIT`) to the gateway process without waiting.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }

    /// Waits for the gateway process to exit (after `signal`, named in the panic); its exit
    /// code. Panics if it is still running after `within`.
    pub fn wait_exit(&mut self, signal: &str, within: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("erpgate did not exit within {within:?} of {signal}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
