//! The one place that speaks to a database engine: SQLite (embedded, one node) or PostgreSQL
//! (shared by several gateways). Every store operation is written once, in the SQL both
//! engines accept, with SQLite-style numbered parameters (`?1`, `?2`, …; rewritten to `$1` for
//! PostgreSQL), and runs through [`Conn`]; values cross as [`Value`]s and come back as
//! [`Row`]s of the four types the schema uses (integer, text, blob, null).
//!
//! A `Conn` serves one thread at a time (like the SQLite connection it replaces): it is `Send`,
//! not `Sync`.

mod pg;

use std::cell::RefCell;

use super::StoreError;
use pg::{pg_params, pg_row};
pub use pg::{pg_sql, PgClient};

/// A value bound to a statement or read from a row.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (`INTEGER` / `BIGINT`; booleans read back as 0 or 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (`BLOB` / `BYTEA`).
    Blob(Vec<u8>),
}

impl std::fmt::Debug for Value {
    /// Values may be key material or hashes: only their kind and size are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_param().fmt(f)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A value as it is bound, borrowed: what both engines' bindings are written for (a
/// [`Value`] binds as its [`Value::as_param`]). Statements run many times per second bind
/// values the caller already holds without copying them ([`Conn::execute_params`], the audit
/// appender's rows).
#[derive(Clone, Copy)]
pub enum Param<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// Text, borrowed.
    Text(&'a str),
    /// Bytes, borrowed.
    Blob(&'a [u8]),
}

impl std::fmt::Debug for Param<'_> {
    /// Values may be key material or hashes: only their kind and size are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Null => f.write_str("Null"),
            Param::Int(_) => f.write_str("Int"),
            Param::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Param::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

impl Value {
    /// This value as it is bound.
    pub fn as_param(&self) -> Param<'_> {
        match self {
            Value::Null => Param::Null,
            Value::Int(v) => Param::Int(*v),
            Value::Text(v) => Param::Text(v),
            Value::Blob(v) => Param::Blob(v),
        }
    }
}

/// What both engines can bind: [`Value`]s and [`Param`]s.
trait Bind: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl Bind for Value {}
impl Bind for Param<'_> {}

/// Binds values: `params![a, b]` → `[Value; 2]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { [$($crate::store::sql::Value::from($v)),*] };
}
pub(crate) use params;

/// One result row.
#[derive(Debug)]
pub struct Row(Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Invalid(format!("result has no column {i}")))
    }

    fn mismatch(i: usize, want: &str) -> StoreError {
        StoreError::Invalid(format!("column {i}: expected {want}"))
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.at(i)? {
            Value::Int(v) => Ok(*v),
            _ => Err(Self::mismatch(i, "an integer")),
        }
    }

    /// A nullable integer column.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A text column.
    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.at(i)? {
            Value::Text(v) => Ok(v.clone()),
            _ => Err(Self::mismatch(i, "text")),
        }
    }

    /// A nullable text column.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    /// A blob column.
    pub fn blob(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        match self.at(i)? {
            Value::Blob(v) => Ok(v.clone()),
            _ => Err(Self::mismatch(i, "bytes")),
        }
    }

    /// A nullable blob column.
    pub fn opt_blob(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.blob(i).map(Some),
        }
    }

    /// A 32-byte hash column (a keyed hash; anything else is a corrupt row).
    pub fn hash32(&self, i: usize) -> Result<[u8; 32], StoreError> {
        <[u8; 32]>::try_from(self.blob(i)?.as_slice())
            .map_err(|_| Self::mismatch(i, "a 32-byte hash"))
    }

    /// A boolean (an integer or a PostgreSQL boolean) column.
    pub fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.int(i).map(|v| v != 0)
    }
}

/// How a transaction starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tx {
    /// A consistent snapshot for several reads.
    Read,
    /// Writes that read before they write and must not interleave with another writer's:
    /// SQLite `BEGIN IMMEDIATE`; on PostgreSQL, a transaction-scoped advisory lock taken first
    /// (every statement after it sees what earlier writers committed).
    Write,
    /// Writes that lock only the rows they touch (`SELECT … FOR UPDATE` on PostgreSQL): they
    /// never wait for the audit writer or a prune. SQLite: `BEGIN IMMEDIATE` as for `Write`.
    Row,
}

/// Which engine a connection speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection to either engine.
pub enum Conn {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL (boxed: the client is much larger than a SQLite handle).
    Postgres(Box<RefCell<PgClient>>),
}

impl Conn {
    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        match self {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// Whether the connection is known to be closed (PostgreSQL only).
    pub fn is_closed(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c
                .try_borrow_mut()
                .is_ok_and(|mut g| g.get().map_or(true, |c| c.is_closed())),
        }
    }

    /// Runs one statement; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        self.execute_bound(sql, params)
    }

    /// [`Conn::execute`] with borrowed values: no copy of each text into a [`Value`].
    pub fn execute_params(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        self.execute_bound(sql, params)
    }

    fn execute_bound<P: Bind>(&self, sql: &str, params: &[P]) -> Result<u64, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                Ok(c.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params.iter()))? as u64)
            }
            Conn::Postgres(c) => {
                let refs = pg_params(params);
                let mut guard = c.try_borrow_mut().map_err(|_| busy())?;
                Ok(guard.get()?.execute(pg_sql(sql).as_ref(), &refs)?)
            }
        }
    }

    /// Runs a query; returns every row.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let width = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(width);
                    for i in 0..width {
                        row.push(sqlite_value(r.get_ref(i)?)?);
                    }
                    out.push(Row(row));
                }
                Ok(out)
            }
            Conn::Postgres(c) => {
                let refs = pg_params(params);
                let mut guard = c.try_borrow_mut().map_err(|_| busy())?;
                let rows = guard.get()?.query(pg_sql(sql).as_ref(), &refs)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// Runs a query and hands each row to `each` as it is read, without holding the whole
    /// result (a trail of millions of records); `each` returns `false` to stop early.
    pub fn for_each(
        &self,
        sql: &str,
        params: &[Value],
        mut each: impl FnMut(Row) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare(sql)?;
                let width = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
                while let Some(r) = rows.next()? {
                    let mut row = Vec::with_capacity(width);
                    for i in 0..width {
                        row.push(sqlite_value(r.get_ref(i)?)?);
                    }
                    if !each(Row(row))? {
                        break;
                    }
                }
                Ok(())
            }
            Conn::Postgres(c) => {
                use postgres::fallible_iterator::FallibleIterator as _;
                let mut guard = c.try_borrow_mut().map_err(|_| busy())?;
                let mut rows = guard
                    .get()?
                    .query_raw(pg_sql(sql).as_ref(), pg_params(params))?;
                while let Some(r) = rows.next()? {
                    if !each(pg_row(&r)?)? {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    /// Runs a query expected to return at most one row.
    pub fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query that returns exactly one row (an aggregate).
    pub fn query_one(&self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| StoreError::Invalid("query returned no row".into()))
    }

    /// Runs several statements without parameters (migrations).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => {
                let mut guard = c.try_borrow_mut().map_err(|_| busy())?;
                Ok(guard.get()?.batch_execute(sql)?)
            }
        }
    }

    /// Subscribes this connection to `channel` (PostgreSQL `LISTEN`; nothing on SQLite, which
    /// has no notifications: its readers poll).
    pub fn listen(&self, channel: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(_) => Ok(()),
            Conn::Postgres(_) => {
                if !channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    return Err(StoreError::Invalid(format!("bad channel name {channel}")));
                }
                self.batch(&format!("LISTEN {channel}"))
            }
        }
    }

    /// Waits up to `timeout` for a notification on a channel this connection listens to;
    /// returns whether one came (every pending one is consumed). On SQLite it sleeps out the
    /// timeout and returns `false`.
    pub fn wait_notification(&self, timeout: std::time::Duration) -> Result<bool, StoreError> {
        use postgres::fallible_iterator::FallibleIterator as _;
        match self {
            Conn::Sqlite(_) => {
                std::thread::sleep(timeout);
                Ok(false)
            }
            Conn::Postgres(c) => {
                let mut guard = c.try_borrow_mut().map_err(|_| busy())?;
                let mut notes = guard.get()?.notifications();
                let came = notes.timeout_iter(timeout).next()?.is_some();
                while notes.iter().next()?.is_some() {}
                Ok(came)
            }
        }
    }

    /// Runs `work` in one transaction: committed when it returns `Ok`, rolled back otherwise
    /// (and when it panics: the rollback runs as the guard drops).
    pub fn transaction<T>(
        &self,
        kind: Tx,
        work: impl FnOnce(&Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let begin = match (self.engine(), kind) {
            (Engine::Sqlite, Tx::Read) => "BEGIN DEFERRED",
            (Engine::Sqlite, Tx::Write | Tx::Row) => "BEGIN IMMEDIATE",
            (Engine::Postgres, Tx::Read) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            (Engine::Postgres, Tx::Write | Tx::Row) => "BEGIN ISOLATION LEVEL READ COMMITTED",
        };
        // Armed before BEGIN: whatever fails from here on (the lock below included) rolls
        // back, so a connection is never left inside an aborted transaction.
        let mut guard = Rollback {
            conn: self,
            armed: true,
        };
        self.batch(begin)?;
        if (self.engine(), kind) == (Engine::Postgres, Tx::Write) {
            self.batch("SELECT pg_advisory_xact_lock(4735402983)")?;
        }
        let out = work(self)?;
        // A failed COMMIT leaves SQLite's transaction open: the armed guard rolls it back.
        self.batch("COMMIT")?;
        guard.armed = false;
        Ok(out)
    }
}

/// Rolls an open transaction back unless disarmed by a commit.
struct Rollback<'a> {
    conn: &'a Conn,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.conn.batch("ROLLBACK") {
                tracing::warn!(error = %e, "rollback failed");
            }
        }
    }
}

fn busy() -> StoreError {
    StoreError::Invalid("the store connection is in use by another statement".into())
}

impl<'a> Param<'a> {
    /// The SQLite binding.
    fn sqlite(self) -> rusqlite::types::ValueRef<'a> {
        use rusqlite::types::ValueRef;
        match self {
            Param::Null => ValueRef::Null,
            Param::Int(v) => ValueRef::Integer(v),
            Param::Text(v) => ValueRef::Text(v.as_bytes()),
            Param::Blob(v) => ValueRef::Blob(v),
        }
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(self.sqlite()))
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            self.as_param().sqlite(),
        ))
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Result<Value, StoreError> {
    use rusqlite::types::ValueRef;
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|_| StoreError::Invalid("text column is not UTF-8".into()))?
                .to_string(),
        ),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Real(_) => return Err(StoreError::Invalid("unexpected REAL column".into())),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_never_show_their_content() {
        let shown = format!(
            "{:?}",
            params!["hunter2", b"secret".as_slice(), 42i64, None::<&str>]
        );
        assert!(!shown.contains("hunter2") && !shown.contains("secret") && !shown.contains("42"));
        let values = params!["hunter2", b"secret".as_slice(), 42i64, None::<&str>];
        let bound: Vec<_> = values.iter().map(super::Value::as_param).collect();
        let shown = format!("{bound:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("secret") && !shown.contains("42"));
        assert_eq!(shown, "[Text(7 bytes), Blob(6 bytes), Int, Null]");
    }
}
