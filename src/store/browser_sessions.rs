//! Browser sessions of Oracle users (Page Integration): stored by the keyed hash of their id,
//! with the keyed hash (and `jti`) of the launch token that started them, both unique: a
//! launch token starts at most one session, on every gateway of the store.

use super::sql::{params, Row};
use super::{Store, StoreError};

/// A stored browser session. `Debug` omits the hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredBrowserSession {
    /// Keyed hash of the session id (the cookie's value).
    pub session_hash: [u8; 32],
    /// The tenant whose trust verified the launch token.
    pub tenant: String,
    /// The Oracle user.
    pub oracle_user: String,
    /// The user's roles, from the launch token.
    pub roles: Vec<String>,
    /// Start (Unix seconds).
    pub created_at: i64,
    /// End (Unix seconds): the launch token's `exp`, or sooner by configuration.
    pub expires_at: i64,
    /// When the row may go (the later of `expires_at` and the token's expiry plus skew).
    pub keep_until: i64,
    /// Keyed hash of the launch token (hex).
    pub launch_hash: String,
    /// The keyed hash of `tenant` and the launch token's `jti`, when it has one.
    pub jti_key: Option<String>,
    /// Ended by the user before `expires_at` (Unix seconds).
    pub ended_at: Option<i64>,
}

impl std::fmt::Debug for StoredBrowserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredBrowserSession")
            .field("tenant", &self.tenant)
            .field("oracle_user", &self.oracle_user)
            .field("expires_at", &self.expires_at)
            .field("ended_at", &self.ended_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "session_hash, tenant, oracle_user, roles, created_at, expires_at, keep_until, launch_hash, jti_key, ended_at";

fn row(r: &Row) -> Result<StoredBrowserSession, StoreError> {
    let roles: Vec<String> = serde_json::from_str(&r.text(3)?)
        .map_err(|e| StoreError::Invalid(format!("browser session roles: {e}")))?;
    Ok(StoredBrowserSession {
        session_hash: r.hash32(0)?,
        tenant: r.text(1)?,
        oracle_user: r.text(2)?,
        roles,
        created_at: r.int(4)?,
        expires_at: r.int(5)?,
        keep_until: r.int(6)?,
        launch_hash: r.text(7)?,
        jti_key: r.opt_text(8)?,
        ended_at: r.opt_int(9)?,
    })
}

impl Store {
    /// Records a new session. `Ok(false)`: its launch token (by hash or by `jti`) already
    /// started one — a replay — and nothing was stored. A replay writes nothing at all: on
    /// PostgreSQL even an insert that conflicts is a statement on the table, announced to every
    /// gateway (each then reloads its directory), and replays cost the sender next to nothing.
    /// Two launches of one token at the same moment both pass the look-up; the unique keys
    /// then let one row in.
    pub fn insert_browser_session(&self, s: &StoredBrowserSession) -> Result<bool, StoreError> {
        let seen = match s.jti_key.as_deref() {
            Some(jti) => self.conn.query(
                "SELECT 1 FROM browser_sessions WHERE launch_hash = ?1 OR jti_key = ?2 LIMIT 1",
                &params![&s.launch_hash, jti],
            )?,
            None => self.conn.query(
                "SELECT 1 FROM browser_sessions WHERE launch_hash = ?1 LIMIT 1",
                &params![&s.launch_hash],
            )?,
        };
        if !seen.is_empty() {
            return Ok(false);
        }
        let roles = serde_json::to_string(&s.roles)
            .map_err(|e| StoreError::Invalid(format!("browser session roles: {e}")))?;
        let n = self.conn.execute(
            &format!("INSERT INTO browser_sessions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL) ON CONFLICT DO NOTHING"),
            &params![
                &s.session_hash[..],
                &s.tenant,
                &s.oracle_user,
                roles,
                s.created_at,
                s.expires_at,
                s.keep_until,
                &s.launch_hash,
                s.jti_key.as_deref()
            ],
        )?;
        Ok(n == 1)
    }

    /// Ends the session with id hash `session_hash` at `now`; whether a live one was ended.
    pub fn end_browser_session(
        &self,
        session_hash: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE browser_sessions SET ended_at = ?2 WHERE session_hash = ?1 AND ended_at IS NULL",
            &params![&session_hash[..], now],
        )?;
        Ok(n > 0)
    }

    /// Sessions kept at `now` (Unix seconds): not yet past `keep_until`, ended and expired
    /// ones included (the gateway must know they ended, and refuses their launch tokens on
    /// the Bearer path until those expire).
    pub fn live_browser_sessions(&self, now: i64) -> Result<Vec<StoredBrowserSession>, StoreError> {
        if !self.has_table("browser_sessions")? {
            return Ok(Vec::new());
        }
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM browser_sessions WHERE keep_until > ?1 ORDER BY created_at"),
                &params![now],
            )?
            .iter()
            .map(row)
            .collect()
    }

    /// Deletes rows past their `keep_until` (their launch token can no longer verify);
    /// returns how many. Deletes nothing when nothing is due: on PostgreSQL a statement on the
    /// table is announced to every gateway, which then reloads its directory, and every
    /// gateway sweeps every minute.
    pub fn forget_browser_sessions(&self, now: i64) -> Result<usize, StoreError> {
        let due = self.conn.query(
            "SELECT 1 FROM browser_sessions WHERE keep_until < ?1 LIMIT 1",
            &params![now],
        )?;
        if due.is_empty() {
            return Ok(0);
        }
        let n = self.conn.execute(
            "DELETE FROM browser_sessions WHERE keep_until < ?1",
            &params![now],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(hash: u8, launch: &str, jti: Option<&str>) -> StoredBrowserSession {
        StoredBrowserSession {
            session_hash: [hash; 32],
            tenant: "acme".into(),
            oracle_user: "casey.brown".into(),
            roles: vec!["AP_CLERK".into()],
            created_at: 1_000,
            expires_at: 2_000,
            keep_until: 2_100,
            launch_hash: launch.into(),
            jti_key: jti.map(str::to_string),
            ended_at: None,
        }
    }

    #[test]
    fn a_launch_token_starts_one_session_and_ending_is_kept() {
        let mut store = Store::open_in_memory().expect("store");
        store.migrate().expect("migrate");
        assert!(store
            .insert_browser_session(&session(1, "h1", Some("jti-1")))
            .expect("insert"));
        // The same token again (by hash), or another token with the same jti: refused.
        assert!(!store
            .insert_browser_session(&session(2, "h1", None))
            .expect("replay by hash"));
        assert!(!store
            .insert_browser_session(&session(3, "h2", Some("jti-1")))
            .expect("replay by jti"));
        // Tokens without a jti do not collide with each other.
        assert!(store
            .insert_browser_session(&session(4, "h3", None))
            .expect("a"));
        assert!(store
            .insert_browser_session(&session(5, "h4", None))
            .expect("b"));
        let live = store.live_browser_sessions(1_500).expect("live");
        assert_eq!(live.len(), 3);
        assert_eq!(live[0], session(1, "h1", Some("jti-1")));
        let counter = store.change_counter().expect("counter");
        assert!(store.end_browser_session(&[1; 32], 1_600).expect("end"));
        assert!(!store.end_browser_session(&[1; 32], 1_700).expect("once"));
        assert!(
            store.change_counter().expect("counter") > counter,
            "ending is announced"
        );
        let ended = store.live_browser_sessions(1_650).expect("live");
        assert_eq!(ended[0].ended_at, Some(1_600));
        assert_eq!(store.live_browser_sessions(2_000).expect("kept").len(), 3);
        assert!(store.live_browser_sessions(2_100).expect("gone").is_empty());
        // Kept past its end for the replay check, then forgotten.
        assert_eq!(store.forget_browser_sessions(2_050).expect("forget"), 0);
        assert!(!store
            .insert_browser_session(&session(6, "h1", None))
            .expect("still refused"));
        assert_eq!(store.forget_browser_sessions(2_101).expect("forget"), 3);
    }
}
