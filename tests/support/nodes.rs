//! Further gateways beside a test's first one, on the same PostgreSQL database: the same
//! configuration and master key, their own ports, directories and node ids.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::postgres::Postgres;
use super::{Gateway, Issued};

const INVOICES: &str = "/fscmRestApi/resources/latest/invoices";

fn serve(config: &std::path::Path, app_key: &str, out: std::fs::File) -> Child {
    Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("ERPGATE_APP_KEY", app_key)
        .env("ERPGATE_LOG", "info,erpgate=debug")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone"))
        .stderr(out)
        .spawn()
        .expect("spawn")
}

fn wait_listening(node: &mut Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(node.addr).is_err() {
        if let Ok(Some(status)) = node.child.try_wait() {
            panic!("node exited with {status}:\n{}", node.log_text());
        }
        assert!(
            Instant::now() < deadline,
            "node did not listen:\n{}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Another gateway: the same configuration and master key, its own ports and directory.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    /// Its metrics listener (used only when the first node's configuration has one).
    pub metrics: SocketAddr,
    pub config: std::path::PathBuf,
    app_key: String,
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Node {
    /// Starts gateway `name` beside `first`: its configuration with another listener, no
    /// admin listener, a metrics listener of its own and `node_id = "{name}"` (when `first`
    /// names one).
    pub fn start(first: &Gateway, name: &str) -> Node {
        let dir = tempfile::tempdir().expect("dir");
        let port = super::free_port();
        let metrics_port = super::free_port();
        let text: String = std::fs::read_to_string(&first.config)
            .expect("config")
            .lines()
            .filter(|l| !l.starts_with("admin_listen"))
            .map(|l| {
                if l.starts_with("listen = ") {
                    format!("listen = \"127.0.0.1:{port}\"")
                } else if l.starts_with("metrics_listen = ") {
                    format!("metrics_listen = \"127.0.0.1:{metrics_port}\"")
                } else if l.starts_with("node_id = ") {
                    format!("node_id = \"{name}\"")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().expect("addr");
        let config = dir.path().join("erpgate.toml");
        std::fs::write(&config, text).expect("write");
        // Files the configuration names relative to its directory.
        for entry in std::fs::read_dir(first.dir.path()).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") && path != first.config {
                std::fs::copy(&path, dir.path().join(path.file_name().expect("name")))
                    .expect("copy");
            }
        }
        let log = dir.path().join("node.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = serve(&config, &first.app_key, out);
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut node = Node {
            child,
            addr,
            metrics,
            config,
            app_key: first.app_key.clone(),
            _dir: dir,
            log,
        };
        wait_listening(&mut node);
        node
    }

    /// Starts it again after a crash (same configuration, same node id).
    pub fn restart(&mut self) {
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("log");
        self.child = serve(&self.config, &self.app_key, out);
        wait_listening(self);
    }

    /// Kills it with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. `-HUP`).
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `(status, error code or "")` of a GET of the invoices as `cred`.
    pub fn status_as(&self, cred: &Issued) -> (u16, String) {
        let raw = format!(
            "GET {INVOICES} HTTP/1.1\r\nHost: gw.test\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            super::basic(&cred.username, &cred.password)
        );
        let r = super::http::raw(self.addr, raw.as_bytes()).expect("response");
        let code = if r.status == 200 {
            String::new()
        } else {
            r.error_code()
        };
        (r.status, code)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long until `f` holds (polled every 10 ms, at most 5 s).
pub fn time_until(what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

/// A private cluster with a gateway role and database, and the role's password file.
pub fn database() -> (Postgres, tempfile::TempDir, std::path::PathBuf) {
    let pg = Postgres::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql("postgres", "create role gw login password 'gw-node-secret'")
        .expect("role");
    pg.psql("postgres", "create database erpgate owner gw")
        .expect("database");
    let secrets = tempfile::tempdir().expect("dir");
    let pass = secrets.path().join("pg.pass");
    std::fs::write(&pass, "gw-node-secret\n").expect("password file");
    (pg, secrets, pass)
}
