//! Failed-attempt counters shared by every gateway on the store: a row per lockout key (a
//! keyed hash: never a name, a secret or an address), changed under a lock on that row alone
//! (`Tx::Row`: never behind the audit writer), so gateways counting at once never lose a
//! failure. The rules are the in-memory table's (`auth::lockout`): failures older than the
//! window are forgotten, the `max`-th within it locks the key for `lock_ms`, and a lock that
//! ran its course leaves one failure of budget. Every read applies them too.
//!
//! A verification is *reserved* before it runs ([`Store::reserve_attempt`]): it counts as a
//! failure at once, and is refused when the key already has `max` failures (or reservations)
//! in the window, so guesses spread over every gateway at the same instant still get at most
//! `max` verifications. A reserved attempt that failed may lock the key
//! ([`Store::complete_failure`]); one that succeeded gives the reservation back
//! ([`Store::complete_success`]) unless a lock came first. Times are Unix milliseconds of the
//! gateways' clocks (keep them in step: NTP).

use super::sql::{params, Conn, Engine, Tx, Value};
use super::{Store, StoreError};

/// A key's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureCount {
    /// The lockout key.
    pub key: [u8; 16],
    /// Failures (and reserved verifications) in the current window.
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

/// The answer to a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// Verify; the attempt already counts as a failure. The counters after.
    Granted(Vec<FailureCount>),
    /// A key is locked until this time (Unix ms).
    Locked(i64),
    /// A key has as many failures and verifications in flight as it may: retry shortly.
    Busy,
}

/// One row as stored: failures, window start, locked until.
type Row = (i64, i64, i64);

/// The rules applied to a stored row at `now`.
fn normalize((mut failures, mut since, mut until): Row, now: i64, rules: FailureRules) -> Row {
    if until > 0 && until <= now {
        until = 0;
        failures = failures.min(i64::from(rules.max.saturating_sub(1)));
    }
    if now - since >= rules.window_ms && until <= now {
        failures = 0;
        since = now;
        until = 0;
    }
    (failures, since, until)
}

fn count(key: [u8; 16], (failures, _, until): Row) -> FailureCount {
    FailureCount {
        key,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        locked_until_ms: until,
    }
}

/// `key`'s row, locked for this transaction (created empty when missing).
fn lock_row(tx: &Conn, key: &[u8; 16], now: i64) -> Result<Row, StoreError> {
    tx.execute(
        "INSERT INTO auth_failures (key, failures, window_start, locked_until) VALUES (?1, 0, ?2, 0) ON CONFLICT (key) DO NOTHING",
        &params![key.as_slice(), now],
    )?;
    let sql = match tx.engine() {
        Engine::Postgres => "SELECT failures, window_start, locked_until FROM auth_failures WHERE key = ?1 FOR UPDATE",
        Engine::Sqlite => "SELECT failures, window_start, locked_until FROM auth_failures WHERE key = ?1",
    };
    let r = tx.query_one(sql, &params![key.as_slice()])?;
    Ok((r.int(0)?, r.int(1)?, r.int(2)?))
}

fn write_row(tx: &Conn, key: &[u8; 16], (failures, since, until): Row) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE auth_failures SET failures = ?2, window_start = ?3, locked_until = ?4 WHERE key = ?1",
        &params![key.as_slice(), failures, since, until],
    )?;
    Ok(())
}

impl Store {
    /// Counts one failure that ran no reserved verification against each of `keys` at
    /// `now_ms`; the counters after.
    pub fn count_failures(
        &self,
        keys: &[[u8; 16]],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Vec<FailureCount>, StoreError> {
        self.conn.transaction(Tx::Row, |tx| {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let (failures, since, mut until) =
                    normalize(lock_row(tx, key, now_ms)?, now_ms, rules);
                let failures = failures.saturating_add(1);
                if failures >= i64::from(rules.max) && until <= now_ms {
                    until = now_ms.saturating_add(rules.lock_ms);
                }
                write_row(tx, key, (failures, since, until))?;
                out.push(count(*key, (failures, since, until)));
            }
            Ok(out)
        })
    }

    /// Reserves a verification against every key: refused while one is locked or has `max`
    /// failures and reservations in the window; granted, it counts as a failure at once.
    pub fn reserve_attempt(
        &self,
        keys: &[[u8; 16]],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Reservation, StoreError> {
        self.conn.transaction(Tx::Row, |tx| {
            let mut rows = Vec::with_capacity(keys.len());
            for key in keys {
                rows.push(normalize(lock_row(tx, key, now_ms)?, now_ms, rules));
            }
            if let Some(until) = rows.iter().map(|r| r.2).filter(|u| *u > now_ms).max() {
                return Ok(Reservation::Locked(until));
            }
            if rows.iter().any(|r| r.0 >= i64::from(rules.max)) {
                return Ok(Reservation::Busy);
            }
            let mut out = Vec::with_capacity(keys.len());
            for (key, (failures, since, until)) in keys.iter().zip(rows) {
                let row = (failures + 1, since, until);
                write_row(tx, key, row)?;
                out.push(count(*key, row));
            }
            Ok(Reservation::Granted(out))
        })
    }

    /// A reserved verification failed (its failure is counted already): locks a key that
    /// reached `max`. The counters after.
    pub fn complete_failure(
        &self,
        keys: &[[u8; 16]],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Vec<FailureCount>, StoreError> {
        self.conn.transaction(Tx::Row, |tx| {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let (failures, since, mut until) =
                    normalize(lock_row(tx, key, now_ms)?, now_ms, rules);
                if failures >= i64::from(rules.max) && until <= now_ms {
                    until = now_ms.saturating_add(rules.lock_ms);
                    write_row(tx, key, (failures, since, until))?;
                }
                out.push(count(*key, (failures, since, until)));
            }
            Ok(out)
        })
    }

    /// A reserved verification succeeded: unless a key got locked meanwhile (then `Some`
    /// with the lock's end, and nothing changes), the credential's counter is cleared and the
    /// address's reservation given back.
    pub fn complete_success(
        &self,
        credential: &[u8; 16],
        address: &[u8; 16],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Option<i64>, StoreError> {
        self.conn.transaction(Tx::Row, |tx| {
            let cred = normalize(lock_row(tx, credential, now_ms)?, now_ms, rules);
            let addr = normalize(lock_row(tx, address, now_ms)?, now_ms, rules);
            if let Some(until) = [cred.2, addr.2].into_iter().filter(|u| *u > now_ms).max() {
                return Ok(Some(until));
            }
            tx.execute(
                "DELETE FROM auth_failures WHERE key = ?1",
                &params![credential.as_slice()],
            )?;
            write_row(tx, address, ((addr.0 - 1).max(0), addr.1, addr.2))?;
            Ok(None)
        })
    }

    /// The counters of `keys` at `now_ms` under `rules` (keys without failures are absent).
    pub fn failures(
        &self,
        keys: &[[u8; 16]],
        now_ms: i64,
        rules: FailureRules,
    ) -> Result<Vec<FailureCount>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(r) = self.conn.query_opt(
                "SELECT failures, window_start, locked_until FROM auth_failures WHERE key = ?1",
                &params![key.as_slice()],
            )? {
                let row = normalize((r.int(0)?, r.int(1)?, r.int(2)?), now_ms, rules);
                if row.0 > 0 || row.2 > now_ms {
                    out.push(count(*key, row));
                }
            }
        }
        Ok(out)
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
