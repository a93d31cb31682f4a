//! A private PostgreSQL cluster for one test run: `initdb` in a temporary directory, a free
//! loopback port, password (SCRAM) authentication over TCP, torn down when dropped.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then every server-side command
//! (`initdb`, `pg_ctl`) runs as `nobody` through `setpriv`, in a directory `nobody` owns. The
//! binaries come from the distribution packages (`postgresql`; `.ci/run` installs them);
//! `pg_config --bindir` says where they are.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running private cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_nobody: bool,
    /// Its loopback port.
    pub port: u16,
    /// The superuser's name.
    pub user: String,
    /// The superuser's password.
    pub password: String,
}

fn run(cmd: &mut Command) -> Result<Output, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The PostgreSQL server binaries' directory.
fn bindir() -> Result<PathBuf, String> {
    if let Ok(out) = run(Command::new("pg_config").arg("--bindir")) {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL is not installed (apt-get install postgresql): {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Creates and starts a cluster; waits until it accepts connections.
    pub fn start() -> Result<Postgres, String> {
        let bin = bindir()?;
        let as_nobody = is_root();
        let dir = tempfile::Builder::new()
            .prefix("erpgate-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let password = format!("pg-{:016x}", rand_u64());
        std::fs::write(dir.path().join("pw"), &password).map_err(|e| e.to_string())?;
        if as_nobody {
            run(Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(dir.path()))?;
        }
        let port = super::free_port();
        let pg = Postgres {
            dir,
            bin,
            as_nobody,
            port,
            user: "erpgate".into(),
            password,
        };
        let data = pg.data();
        pg.server(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "erpgate",
                "--pwfile",
                &pg.path("pw"),
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.dir.path().display()
        );
        pg.server(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &pg.path("log"),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("PostgreSQL did not listen on {port}: {}", pg.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(pg)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn data(&self) -> String {
        self.path("data")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(Path::new(&self.path("log"))).unwrap_or_default()
    }

    /// Runs a server-side binary (as `nobody` when we are root).
    fn server(&self, name: &str, args: &[&str]) -> Result<Output, String> {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(self.dir.path());
        run(&mut cmd)
    }

    /// `postgresql://USER:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{db}",
            self.user, self.password, self.port
        )
    }

    /// Runs SQL with `psql` over TCP as `user`/`password` on `db`; returns the unaligned
    /// tuples-only output.
    pub fn psql_as(
        &self,
        user: &str,
        password: &str,
        db: &str,
        sql: &str,
    ) -> Result<String, String> {
        let out = run(Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                db,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-tA", "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5"))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Runs SQL as the superuser on `db`.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        self.psql_as(&self.user, &self.password, db, sql)
    }

    /// Turns TLS on (a reload, no restart) with a certificate from `ca` for `names`: clients
    /// may then ask for TLS (the server still accepts plain connections).
    pub fn enable_tls(&self, ca: &super::pki::Ca, names: &[&str]) -> Result<(), String> {
        let leaf = ca.leaf("pg-server", names, 30);
        let (cert, key) = (self.path("data/server.crt"), self.path("data/server.key"));
        std::fs::copy(&leaf.cert_file, &cert).map_err(|e| e.to_string())?;
        std::fs::copy(&leaf.key_file, &key).map_err(|e| e.to_string())?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if self.as_nobody {
            run(Command::new("chown").args(["nobody:nogroup", &cert, &key]))?;
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on")?;
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        // The reload is asynchronous: wait until a new session sees it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.psql("postgres", "SHOW ssl")? != "on" {
            if Instant::now() > deadline {
                return Err(format!("TLS did not come on: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops the server now (`kill -9`-like: immediate mode, no checkpoint).
    pub fn stop(&self) -> Result<(), String> {
        self.server(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        )
        .map(|_| ())
    }

    /// Starts a stopped server again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.server(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &self.path("log"),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map(|_| ())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// 64 random bits from the OS (no dependency for a test password).
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b)
}
