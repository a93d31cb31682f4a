//! Failed-attempt counters shared by every gateway on the store: a row per lockout key (a
//! keyed hash: never a name, a secret or an address), counted in one write transaction so
//! gateways counting at once never lose a failure. The rules are the in-memory table's
//! (`auth::lockout`): failures older than the window are forgotten, the `max`-th within it
//! locks the key for `lock_ms`, and a lock that ran its course leaves one failure of budget.
//! Times are Unix milliseconds of the gateways' clocks (keep them in step: NTP).

use super::sql::{params, Tx, Value};
use super::{Store, StoreError};

/// A key's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureCount {
    /// The lockout key.
    pub key: [u8; 16],
    /// Failures in the current window.
    pub failures: u32,
    /// Until when the key is locked (Unix ms; 0 or past: not locked).
    pub locked_until_ms: i64,
}

/// How failures are counted (from the configuration snapshot of the request).
#[derive(Clone, Copy, Debug)]
pub struct FailureRules {
    /// Failures within the window that lock a key.
    pub max: u32,
    /// How long failures are remembered, ms.
    pub window_ms: i64,
    /// How long a lock lasts, ms.
    pub lock_ms: i64,
}

impl Store {
    /// Counts one failure against each of `keys` at `now_ms`; the counters after.
    pub fn count_failures(
        &self,
        keys: &[[u8; 16]],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Vec<FailureCount>, StoreError> {
        self.conn.transaction(Tx::Write, |tx| {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let row = tx
                    .query_opt(
                        "SELECT failures, window_start, locked_until FROM auth_failures WHERE key = ?1",
                        &params![key.as_slice()],
                    )?
                    .map(|r| Ok::<_, StoreError>((r.int(0)?, r.int(1)?, r.int(2)?)))
                    .transpose()?;
                let (mut failures, mut since, mut until) = row.unwrap_or((0, now_ms, 0));
                // A lock that ran its course leaves one failure of budget.
                if until > 0 && until <= now_ms {
                    until = 0;
                    failures = failures.min(i64::from(rules.max.saturating_sub(1)));
                }
                if now_ms - since >= rules.window_ms && until <= now_ms {
                    failures = 0;
                    since = now_ms;
                    until = 0;
                }
                failures = failures.saturating_add(1);
                if failures >= i64::from(rules.max) && until <= now_ms {
                    until = now_ms.saturating_add(rules.lock_ms);
                }
                tx.execute(
                    "INSERT INTO auth_failures (key, failures, window_start, locked_until) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until",
                    &params![key.as_slice(), failures, since, until],
                )?;
                out.push(FailureCount {
                    key: *key,
                    failures: u32::try_from(failures).unwrap_or(u32::MAX),
                    locked_until_ms: until,
                });
            }
            Ok(out)
        })
    }

    /// The counters of `keys` (keys without failures are absent).
    pub fn failures(&self, keys: &[[u8; 16]]) -> Result<Vec<FailureCount>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(r) = self.conn.query_opt(
                "SELECT failures, locked_until FROM auth_failures WHERE key = ?1",
                &params![key.as_slice()],
            )? {
                out.push(FailureCount {
                    key: *key,
                    failures: u32::try_from(r.int(0)?).unwrap_or(u32::MAX),
                    locked_until_ms: r.int(1)?,
                });
            }
        }
        Ok(out)
    }

    /// Forgets `key`'s failures (a credential proven right), unless it is locked at `now_ms`.
    pub fn clear_failures(&self, key: &[u8; 16], now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM auth_failures WHERE key = ?1 AND locked_until <= ?2",
            &params![key.as_slice(), now_ms],
        )?;
        Ok(())
    }

    /// Every key locked at `now_ms` (at most `limit`, the longest locks first).
    pub fn locked_keys(&self, now_ms: i64, limit: u32) -> Result<Vec<FailureCount>, StoreError> {
        self.conn
            .query(
                &format!("SELECT key, failures, locked_until FROM auth_failures WHERE locked_until > ?1 ORDER BY locked_until DESC LIMIT {limit}"),
                &params![now_ms],
            )?
            .iter()
            .map(|r| {
                let key: [u8; 16] = r
                    .blob(0)?
                    .try_into()
                    .map_err(|_| StoreError::Invalid("a lockout key is not 16 bytes".into()))?;
                Ok(FailureCount {
                    key,
                    failures: u32::try_from(r.int(1)?).unwrap_or(u32::MAX),
                    locked_until_ms: r.int(2)?,
                })
            })
            .collect()
    }

    /// Deletes counters with nothing left to count: unlocked and older than `window_ms`.
    pub fn forget_failures(&self, now_ms: i64, window_ms: i64) -> Result<u64, StoreError> {
        self.conn.execute(
            "DELETE FROM auth_failures WHERE locked_until <= ?1 AND window_start <= ?2",
            &[
                Value::Int(now_ms),
                Value::Int(now_ms.saturating_sub(window_ms)),
            ],
        )
    }
}
