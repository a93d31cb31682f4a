//! The PostgreSQL side of the SQL layer: binding [`Value`]s, reading rows back, rewriting
//! parameters, and the client wrapper that may be dropped anywhere.

use std::borrow::Cow;

use super::{Param, Row, Value};
use crate::store::StoreError;

/// A PostgreSQL client that can be dropped anywhere. The synchronous client drives its own
/// runtime, and dropping it inside another (an async task ending, a listener shutting down)
/// would panic ("Cannot start a runtime from within a runtime"): there, it is dropped on a
/// thread of its own.
pub struct PgClient(Option<postgres::Client>);

impl PgClient {
    /// Wraps a connected client.
    pub fn new(client: postgres::Client) -> PgClient {
        PgClient(Some(client))
    }

    /// The client (always there until drop).
    pub(super) fn get(&mut self) -> Result<&mut postgres::Client, StoreError> {
        self.0
            .as_mut()
            .ok_or_else(|| StoreError::Invalid("the store connection is closed".into()))
    }
}

impl Drop for PgClient {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let spawned = std::thread::Builder::new()
                    .name("erpgate-pg-close".into())
                    .spawn(move || drop(client));
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot close a PostgreSQL connection cleanly");
                }
            }
        }
    }
}

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match *self {
            Param::Null => Ok(IsNull::Yes),
            Param::Int(v) if *ty == Type::INT4 => i32::try_from(v)?.to_sql_checked(ty, out),
            Param::Int(v) if *ty == Type::INT2 => i16::try_from(v)?.to_sql_checked(ty, out),
            Param::Int(v) if *ty == Type::BOOL => (v != 0).to_sql_checked(ty, out),
            Param::Int(v) => v.to_sql_checked(ty, out),
            Param::Text(v) => v.to_sql_checked(ty, out),
            Param::Blob(v) => v.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        // Each value is checked against the column in `to_sql` (the inner types'
        // `to_sql_checked`), so a text bound to an integer column is an error, not a cast.
        true
    }

    postgres::types::to_sql_checked!();
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.as_param().to_sql(ty, out)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

pub(super) fn pg_params<P: postgres::types::ToSql + Sync>(
    params: &[P],
) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

pub(super) fn pg_row(r: &postgres::Row) -> Result<Row, StoreError> {
    use postgres::types::Type;
    let mut row = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Invalid(format!(
                "column {} has unsupported type {ty}",
                col.name()
            )));
        };
        row.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(row))
}

/// SQLite-style parameters (`?1`, or a bare `?` numbered in order) rewritten as PostgreSQL's
/// `$1`; text inside quotes (`'…'`, `"…"`) is left alone.
pub fn pg_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    let mut next = 1u32;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    out.push_str(&next.to_string());
                    next += 1;
                }
            }
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_rewritten_outside_quotes_only() {
        assert_eq!(pg_sql("SELECT 1"), "SELECT 1");
        assert_eq!(
            pg_sql("UPDATE t SET a = ?1, b = ?12 WHERE c = '?1' AND \"d?\" = ?2"),
            "UPDATE t SET a = $1, b = $12 WHERE c = '?1' AND \"d?\" = $2"
        );
        assert_eq!(pg_sql("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(pg_sql("x = 'it''s ?' OR y = ?3"), "x = 'it''s ?' OR y = $3");
    }
}
