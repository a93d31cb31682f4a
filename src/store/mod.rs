//! SQLite state: accounts, issued credential sets, sealed upstream secrets, settings (the
//! kill switch) and a change counter, with versioned migrations.
//!
//! This module never sees a plaintext secret: passwords arrive as argon2 hashes, API keys as
//! HMACs, upstream secrets as AES-GCM ciphertext. The gateway reads it only through
//! [`Store::load_directory`] (off the request path) and polls [`Store::change_counter`], which
//! triggers bump on every change from any process.

mod accounts;
mod admin_tokens;
mod auth_failures;
mod browser_sessions;
mod credentials;
pub mod key_material;
pub mod migrations;
mod nodes;
mod portal;
pub mod roles;
mod secrets;
mod settings;
pub mod sql;
pub mod target;
mod tenant_keys;
mod tokens;

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use sql::{params, Conn, Tx};

pub use accounts::{Account, AccountStatus};
pub use admin_tokens::AdminToken;
pub use auth_failures::{FailureCount, FailureRules, Reservation};
pub use browser_sessions::StoredBrowserSession;
pub use credentials::{Credential, CredentialStatus, NewCredential};
pub use nodes::NodeRow;
pub use portal::{PortalSession, PortalUser};
pub use secrets::StoredSecret;
pub use target::{Database, PgTarget};
pub use tenant_keys::StoredTenantKey;
pub use tokens::StoredToken;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or could not be reached): the server's message and SQLSTATE, or
    /// the connection failure with its cause (never a bound value or the password).
    #[error("database error: {message}")]
    Postgres {
        /// What went wrong.
        message: String,
        /// The SQLSTATE, when the server answered.
        code: Option<String>,
    },
    /// No such record.
    #[error("{what} \"{key}\" does not exist")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// A unique key is taken.
    #[error("{what} \"{key}\" already exists")]
    Conflict {
        /// Kind of record.
        what: &'static str,
        /// Its key.
        key: String,
    },
    /// The schema is older than this build.
    #[error("database schema is at version {current}, this erpgate needs {latest}: run `erpgate migrate --config <file>`")]
    Unmigrated {
        /// Version found.
        current: u32,
        /// Version needed.
        latest: u32,
    },
    /// The schema is newer than this build.
    #[error(
        "database schema version {current} is newer than this erpgate ({latest}); upgrade erpgate"
    )]
    TooNew {
        /// Version found.
        current: u32,
        /// Newest version known.
        latest: u32,
    },
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
}

/// The PostgreSQL channel every access-state change is announced on (by the migrations'
/// trigger function, with the new change counter as payload).
pub const CHANGES_CHANNEL: &str = "erpgate_changes";

/// A connection to the state database.
pub struct Store {
    conn: Conn,
    /// The gateway this connection acts for (`gateway.node_id`): the audit chain its
    /// synchronous records join. `""` (the default chain) unless set.
    node: String,
}

/// A consistent copy of the access state, loaded in one read transaction.
#[derive(Clone, Default)]
pub struct Directory {
    /// The change counter at load time.
    pub counter: i64,
    /// All accounts.
    pub accounts: Vec<Account>,
    /// All credential sets.
    pub credentials: Vec<Credential>,
    /// All sealed secrets.
    pub secrets: Vec<StoredSecret>,
    /// Tenant signing keys (sealed) and certificates.
    pub tenant_keys: Vec<StoredTenantKey>,
    /// Gateway tokens not yet expired (revoked ones included).
    pub tokens: Vec<StoredToken>,
    /// Browser sessions not yet expired (ended ones included).
    pub browser_sessions: Vec<StoredBrowserSession>,
    /// The kill switch.
    pub killswitch: bool,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("counter", &self.counter)
            .field("accounts", &self.accounts.len())
            .field("credentials", &self.credentials.len())
            .field("secrets", &self.secrets.len())
            .field("killswitch", &self.killswitch)
            .finish()
    }
}

/// Now, as RFC 3339 UTC with microseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Validates a name used as a key (`[a-z0-9][a-z0-9._-]{0,63}`).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} name \"{name}\" is invalid: use 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        )))
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            return StoreError::Postgres {
                message: format!("{} (SQLSTATE {})", db.message(), db.code().code()),
                code: Some(db.code().code().to_string()),
            };
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        StoreError::Postgres {
            message,
            code: e.code().map(|c| c.code().to_string()),
        }
    }
}

impl StoreError {
    /// Whether this is a unique-key (or primary-key) violation, on either engine.
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            StoreError::Postgres { code, .. } => {
                code.as_deref() == Some(postgres::error::SqlState::UNIQUE_VIOLATION.code())
            }
            _ => false,
        }
    }

    /// Maps a unique violation to [`StoreError::Conflict`].
    pub(crate) fn conflict(self, what: &'static str, key: &str) -> StoreError {
        if self.is_unique_violation() {
            StoreError::Conflict {
                what,
                key: key.into(),
            }
        } else {
            self
        }
    }
}

impl Store {
    /// Opens (creating if missing, mode 0600) the database at `path`: WAL, 5 s busy timeout,
    /// foreign keys on.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    StoreError::Invalid(format!("cannot create {}: {e}", path.display()))
                })?;
        }
        let conn = Connection::open(path)?;
        Self::setup(conn, true)
    }

    /// Connects to the configured database: opens the SQLite file, or connects to the
    /// PostgreSQL server.
    pub fn connect(db: &Database) -> Result<Store, StoreError> {
        match db {
            Database::Sqlite(path) => Self::open(path),
            Database::Postgres(target) => Ok(Store {
                conn: Conn::Postgres(Box::new(std::cell::RefCell::new(sql::PgClient::new(
                    target.connect()?,
                )))),
                node: String::new(),
            }),
        }
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::setup(Connection::open_in_memory()?, false)
    }

    fn setup(conn: Connection, wal: bool) -> Result<Store, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        if wal {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Invalid(format!(
                    "cannot enable WAL (journal_mode {mode})"
                )));
            }
        }
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
        Ok(Store {
            conn: Conn::Sqlite(conn),
            node: String::new(),
        })
    }

    /// The engine-neutral connection every store operation runs through (the audit trail's
    /// own queries included).
    pub fn conn(&self) -> &Conn {
        &self.conn
    }

    /// This connection acting for gateway `node` (its audit chain).
    pub fn with_node(mut self, node: &str) -> Store {
        self.node = node.to_string();
        self
    }

    /// The gateway this connection acts for (`""`: the default chain).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the connection is known to be gone (a PostgreSQL server that went away: the
    /// next use would fail; reconnect instead). A SQLite file never is.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Whether a table exists (in the connection's schema).
    pub fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        let sql = match self.conn.engine() {
            sql::Engine::Sqlite => {
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1"
            }
            sql::Engine::Postgres => {
                "SELECT COUNT(*) > 0 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?1"
            }
        };
        self.conn.query_one(sql, &params![name])?.flag(0)
    }

    /// The current schema version (0 for an empty database).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        if !self.has_table("schema_migrations")? {
            return Ok(0);
        }
        let v = self
            .conn
            .query_one("SELECT MAX(version) FROM schema_migrations", &[])?
            .opt_int(0)?;
        u32::try_from(v.unwrap_or(0))
            .map_err(|_| StoreError::Invalid("schema version out of range".into()))
    }

    /// Applies pending migrations, each in its own transaction. Returns the versions applied.
    pub fn migrate(&mut self) -> Result<Vec<u32>, StoreError> {
        let list = migrations::for_engine(self.conn.engine());
        // Created only when missing: a role that may not create tables (the gateways' own, on
        // PostgreSQL) can still see that nothing is pending.
        if !self.has_table("schema_migrations")? {
            self.conn.batch(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)",
            )?;
        }
        let current = self.schema_version()?;
        let latest = migrations::latest();
        if current > latest {
            return Err(StoreError::TooNew { current, latest });
        }
        let mut applied = Vec::new();
        for m in list.iter().filter(|m| m.version > current) {
            self.conn.transaction(Tx::Write, |c| {
                c.batch(m.sql)?;
                c.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
                    &params![i64::from(m.version), m.description, now()],
                )
            })?;
            applied.push(m.version);
        }
        Ok(applied)
    }

    /// Refuses a schema that is not exactly the one this build needs.
    pub fn check_schema(&self) -> Result<(), StoreError> {
        let current = self.schema_version()?;
        let latest = migrations::latest();
        match current.cmp(&latest) {
            std::cmp::Ordering::Less => Err(StoreError::Unmigrated { current, latest }),
            std::cmp::Ordering::Greater => Err(StoreError::TooNew { current, latest }),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// The change counter (bumped by triggers on every access-state change).
    pub fn change_counter(&self) -> Result<i64, StoreError> {
        self.conn
            .query_one("SELECT value FROM change_counter WHERE id = 1", &[])?
            .int(0)
    }

    /// Loads the whole access state in one read transaction.
    pub fn load_directory(&self) -> Result<Directory, StoreError> {
        self.conn.transaction(Tx::Read, |_| {
            Ok(Directory {
                counter: self.change_counter()?,
                accounts: self.list_accounts()?,
                credentials: self.list_credentials(None)?,
                secrets: self.all_secrets()?,
                tenant_keys: self.all_tenant_keys()?,
                tokens: self.live_tokens(chrono::Utc::now().timestamp())?,
                browser_sessions: self.live_browser_sessions(chrono::Utc::now().timestamp())?,
                killswitch: self.killswitch()?,
            })
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
