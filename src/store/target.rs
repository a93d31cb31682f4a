//! Where the state lives: a SQLite file (one gateway; the default and the demo) or a
//! PostgreSQL server (several gateways sharing one state), read from `gateway.database`.
//!
//! A PostgreSQL URL never carries the password: it comes from `gateway.database_password_file`
//! or the `ERPGATE_DATABASE_PASSWORD` environment variable, read at each connection (so a
//! rotated password file is picked up on reconnect) and held in zeroized memory until it is
//! handed to the client. TLS is
//! rustls: `sslmode=require` (verified: the chain to the CA and the host name) with the CA in
//! `gateway.database_ca_file`; a server that is not on loopback must be reached over TLS.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use zeroize::Zeroizing;

use super::StoreError;

/// The environment variable a PostgreSQL password may come from.
pub const PASSWORD_ENV: &str = "ERPGATE_DATABASE_PASSWORD";

/// The database a gateway uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (resolved path).
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(PgTarget),
}

/// A PostgreSQL server and how to authenticate to it. Holds no password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// The URL as configured (no password in it: refused at load).
    url: String,
    /// Where the password is read from at each connection.
    password_file: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate must chain to.
    ca_file: Option<PathBuf>,
    /// Whether TLS is required (`sslmode=require` or `verify-full`).
    tls: bool,
    /// Another role to connect as (the schema owner, for `erpgate migrate --owner`).
    user: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(t) => match &t.user {
                Some(user) => write!(f, "{} (as {user})", t.url),
                None => f.write_str(&t.url),
            },
        }
    }
}

impl Database {
    /// Reads `gateway.database` (relative SQLite paths against `base`) with its companion
    /// settings. Errors name the setting and say what to do.
    pub fn parse(
        text: &str,
        base: &Path,
        password_file: Option<&str>,
        ca_file: Option<&str>,
    ) -> Result<Database, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("gateway.database: must not be empty".into());
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            if looks_like_key_value(text) {
                // Not echoed: such a string may carry a password.
                return Err("gateway.database: this looks like a libpq key=value connection string; write a postgres://USER@HOST:PORT/DB URL (the password goes in gateway.database_password_file)".into());
            }
            if password_file.is_some() || ca_file.is_some() {
                return Err("gateway.database_password_file and gateway.database_ca_file apply to a postgres:// database only".into());
            }
            return Ok(Database::Sqlite(base.join(text)));
        }
        let config = postgres::Config::from_str(text).map_err(|e| {
            format!("gateway.database: not a PostgreSQL URL ({e}); e.g. postgres://erpgate@db.internal:5432/erpgate?sslmode=require")
        })?;
        if config.get_password().is_some() {
            return Err("gateway.database: the URL carries a password; put it in gateway.database_password_file or the ERPGATE_DATABASE_PASSWORD environment variable, never in the configuration".into());
        }
        if config.get_user().is_none() {
            return Err("gateway.database: the URL names no user (postgres://USER@host/db)".into());
        }
        if config.get_dbname().is_none() {
            return Err(
                "gateway.database: the URL names no database (postgres://user@host/DBNAME)".into(),
            );
        }
        // `require` is verified TLS here: rustls checks the chain to the configured CA and
        // the host name (libpq's `verify-full`).
        let tls = matches!(config.get_ssl_mode(), postgres::config::SslMode::Require);
        if !tls && !loopback_only(&config) {
            return Err("gateway.database: a PostgreSQL server that is not on loopback must be reached over TLS: add ?sslmode=require and set gateway.database_ca_file".into());
        }
        if tls && ca_file.is_none() {
            return Err(
                "gateway.database_ca_file: sslmode=require needs the CA certificate (PEM) that signed the server's certificate".into(),
            );
        }
        Ok(Database::Postgres(PgTarget {
            url: text.to_string(),
            password_file: password_file.map(|f| base.join(f)),
            ca_file: ca_file.map(|f| base.join(f)),
            tls,
            user: None,
        }))
    }

    /// The same server and database, connecting as `user` with the password in
    /// `password_file` (the schema owner running `erpgate migrate --owner`).
    pub fn as_user(&self, user: &str, password_file: PathBuf) -> Result<Database, String> {
        match self {
            Database::Sqlite(_) => Err(
                "--owner: a SQLite database has no roles (its file's permissions protect it)"
                    .into(),
            ),
            Database::Postgres(t) => Ok(Database::Postgres(PgTarget {
                password_file: Some(password_file),
                user: Some(user.to_string()),
                ..t.clone()
            })),
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }
}

/// Whether the URL names at least one host and every host, and every `hostaddr` (which
/// overrides the host for the connection), is a loopback address or a Unix socket directory.
fn loopback_only(config: &postgres::Config) -> bool {
    !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|h| match h {
            postgres::config::Host::Tcp(name) => {
                name == "localhost" || IpAddr::from_str(name).is_ok_and(|ip| ip.is_loopback())
            }
            postgres::config::Host::Unix(_) => true,
        })
        && config.get_hostaddrs().iter().all(IpAddr::is_loopback)
}

/// `host=… user=…`: a libpq connection string, not a file name.
fn looks_like_key_value(text: &str) -> bool {
    text.split_whitespace().any(|w| {
        w.split_once('=').is_some_and(|(k, _)| {
            matches!(
                k,
                "host" | "hostaddr" | "port" | "user" | "dbname" | "password" | "sslmode"
            )
        })
    })
}

impl PgTarget {
    /// Connects: password from the file or the environment, TLS when required.
    pub fn connect(&self) -> Result<postgres::Client, StoreError> {
        let mut config = postgres::Config::from_str(&self.url)
            .map_err(|e| StoreError::Invalid(format!("gateway.database: {e}")))?;
        config.application_name("erpgate");
        if let Some(user) = &self.user {
            config.user(user);
        }
        // A black-holed server must not hang the writer, the admin API or the poller for
        // TCP's default hours: bounded connect, keepalives, unacknowledged-data timeout, and
        // server-side statement and lock timeouts.
        config.connect_timeout(std::time::Duration::from_secs(5));
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(10));
        config.keepalives_interval(std::time::Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(std::time::Duration::from_secs(15));
        config.options("-c statement_timeout=60000 -c lock_timeout=10000");
        if let Some(pw) = self.password()? {
            config.password(pw.as_bytes());
        }
        if self.tls {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_config()?);
            Ok(config.connect(tls)?)
        } else {
            Ok(config.connect(postgres::NoTls)?)
        }
    }

    /// The password: the file's first line, else the environment variable, else none (trust
    /// or peer authentication on a local socket).
    fn password(&self) -> Result<Option<Zeroizing<String>>, StoreError> {
        if let Some(f) = &self.password_file {
            let text = Zeroizing::new(std::fs::read_to_string(f).map_err(|e| {
                StoreError::Invalid(format!(
                    "gateway.database_password_file: cannot read {}: {e}",
                    f.display()
                ))
            })?);
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "gateway.database_password_file: {} is empty",
                    f.display()
                )));
            }
            return Ok(Some(Zeroizing::new(line.to_string())));
        }
        Ok(std::env::var(PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new))
    }

    /// rustls, trusting only the configured CA.
    fn tls_config(&self) -> Result<rustls::ClientConfig, StoreError> {
        let path = self.ca_file.as_ref().ok_or_else(|| {
            StoreError::Invalid("gateway.database_ca_file is required with TLS".into())
        })?;
        let pem = std::fs::read(path).map_err(|e| {
            StoreError::Invalid(format!(
                "gateway.database_ca_file: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
            let cert: rustls_pki_types::CertificateDer<'_> =
                cert.map_err(|e| StoreError::Invalid(format!("gateway.database_ca_file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Invalid(format!("gateway.database_ca_file: {e}")))?;
        }
        if roots.is_empty() {
            return Err(StoreError::Invalid(format!(
                "gateway.database_ca_file: {} holds no certificate",
                path.display()
            )));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Invalid(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, pw: Option<&str>, ca: Option<&str>) -> Result<Database, String> {
        Database::parse(text, Path::new("/etc/erpgate"), pw, ca)
    }

    #[test]
    fn sqlite_paths_resolve_and_postgres_urls_are_checked() {
        assert_eq!(
            parse("state/erpgate.db", None, None),
            Ok(Database::Sqlite(PathBuf::from(
                "/etc/erpgate/state/erpgate.db"
            )))
        );
        let ok = parse(
            "postgres://erpgate@127.0.0.1:5432/erpgate",
            Some("pg.pass"),
            None,
        )
        .expect("loopback without TLS");
        assert_eq!(ok.to_string(), "postgres://erpgate@127.0.0.1:5432/erpgate");
        assert!(parse(
            "postgres://erpgate@db.internal/erpgate?sslmode=require",
            None,
            Some("ca.pem")
        )
        .is_ok());
        for (text, pw, ca, says) in [
            ("", None, None, "must not be empty"),
            ("x.db", Some("p"), None, "postgres:// database only"),
            (
                "postgres://erpgate:hunter2@127.0.0.1/erpgate",
                None,
                None,
                "carries a password",
            ),
            ("postgres://127.0.0.1/erpgate", None, None, "names no user"),
            (
                "postgres://erpgate@127.0.0.1",
                None,
                None,
                "names no database",
            ),
            (
                "postgres://erpgate@db.internal/erpgate",
                None,
                None,
                "over TLS",
            ),
            (
                "postgres://erpgate@db.internal/erpgate?sslmode=prefer",
                None,
                None,
                "over TLS",
            ),
            (
                "postgres://erpgate@db.internal/erpgate?sslmode=require",
                None,
                None,
                "database_ca_file",
            ),
            (
                "postgres://erpgate@[::1/erpgate",
                None,
                None,
                "not a PostgreSQL URL",
            ),
            (
                "postgres://erpgate@localhost/erpgate?hostaddr=10.0.0.5",
                None,
                None,
                "over TLS",
            ),
            (
                "postgres://erpgate@/erpgate?hostaddr=10.0.0.5",
                None,
                None,
                "over TLS",
            ),
            (
                "host=db user=gw password=hunter2 dbname=x",
                None,
                None,
                "key=value",
            ),
        ] {
            let e = parse(text, pw, ca).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
