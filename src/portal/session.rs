//! Portal sessions: a random 256-bit id in a `__Host-` cookie (`HttpOnly`, `Secure`,
//! `SameSite=Strict`, `Path=/`), stored only as its keyed hash. A session is good while its
//! user is active, it is younger than the absolute lifetime and was used within the idle
//! timeout; disabling a user, changing their role or resetting them deletes their sessions in
//! the same transaction, so the next request finds none. Its form token (CSRF) is a keyed hash
//! of the id, so it needs no storage and no other session's token matches.

use std::time::Duration;

use crate::crypto::{KeyedHasher, SecretString};
use crate::session::{SameSite, SessionKeys};
use crate::store::{PortalUser, Store, StoreError};

/// The session cookie's name. The `__Host-` prefix makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no sibling host can plant or read one.
pub const COOKIE: &str = "__Host-erpgate-portal";

/// A session as a request finds it.
pub struct Current {
    /// The keyed hash of the id (the store's key).
    pub id_hash: [u8; 32],
    /// Its user.
    pub user: PortalUser,
    /// The second factor is done (or not required).
    pub full: bool,
    /// The form token for this session.
    pub csrf: String,
}

impl Current {
    /// The page navigation's view of this session's user.
    pub fn viewer(&self) -> super::page::Viewer<'_> {
        super::page::Viewer {
            name: &self.user.name,
            role: &self.user.role,
            csrf: &self.csrf,
        }
    }
}

/// Session ids and form tokens under the portal's key (the shared [`crate::session`]
/// machinery).
pub struct Sessions {
    keys: SessionKeys,
}

/// Unix time now, milliseconds.
pub fn now_ms() -> i64 {
    crate::directory::cluster::unix_ms()
}

impl Sessions {
    /// Sessions under `hasher` (the master key's `portal-session` purpose).
    pub fn new(hasher: KeyedHasher) -> Sessions {
        Sessions {
            keys: SessionKeys::new(hasher),
        }
    }

    /// The stored key of session id `id`.
    pub fn hash(&self, id: &str) -> [u8; 32] {
        self.keys.hash(id)
    }

    /// The form token of session id `id`.
    pub fn csrf(&self, id: &str) -> String {
        self.keys.csrf(id)
    }

    /// Starts a session for `user`; `full` when no second factor is due. Returns the id (for
    /// the cookie only).
    pub fn start(&self, store: &Store, user: &str, full: bool) -> Result<SecretString, StoreError> {
        let id = crate::session::new_id().map_err(StoreError::Invalid)?;
        store.insert_portal_session(&self.hash(id.expose()), user, full, now_ms())?;
        Ok(id)
    }

    /// The session of cookie value `id`, if it is still good; a session found expired or
    /// belonging to a disabled user is deleted. A good one is marked used now.
    pub fn find(
        &self,
        store: &Store,
        id: &str,
        max: Duration,
        idle: Duration,
    ) -> Result<Option<Current>, StoreError> {
        let id_hash = self.hash(id);
        let Some(s) = store.portal_session(&id_hash)? else {
            return Ok(None);
        };
        let now = now_ms();
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let expired = now.saturating_sub(s.created_ms) >= ms(max)
            || now.saturating_sub(s.seen_ms) >= ms(idle);
        if expired || !s.user.active {
            store.delete_portal_session(&id_hash)?;
            return Ok(None);
        }
        store.touch_portal_session(&id_hash, now)?;
        Ok(Some(Current {
            id_hash,
            user: s.user,
            full: s.full,
            csrf: self.csrf(id),
        }))
    }
}

/// The `Set-Cookie` value for session id `id`, living at most `max`.
pub fn set_cookie(id: &str, max: Duration) -> String {
    crate::session::set_cookie(COOKIE, id, SameSite::Strict, Some(max))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    crate::session::clear_cookie(COOKIE, SameSite::Strict)
}

/// The session id from the request's `Cookie` headers (see [`crate::session::cookie_id`]).
pub fn cookie_id(cookie_headers: &[&str]) -> Option<String> {
    crate::session::cookie_id(cookie_headers, COOKIE)
}

pub use crate::session::cookie_named;

#[cfg(test)]
mod store_tests {
    use super::*;

    fn store_with_user() -> Store {
        let mut store = Store::open_in_memory().expect("store");
        store.migrate().expect("migrate");
        store
            .insert_portal_user("ops", "owner", "$argon2id$x", "test")
            .expect("user");
        store
    }

    #[test]
    fn a_session_ends_with_its_lifetime_its_idle_time_or_its_user() {
        let store = store_with_user();
        let s = Sessions::new(KeyedHasher::from_raw(&[3u8; 32]));
        let long = Duration::from_secs(3600);
        let id = s.start(&store, "ops", true).expect("start");
        let found = s.find(&store, id.expose(), long, long).expect("find");
        assert!(found.is_some_and(|c| c.full && c.user.name == "ops"));
        // Only the keyed hash is stored.
        let raw: Vec<u8> = store
            .conn()
            .query_one("SELECT id_hash FROM portal_sessions", &[])
            .and_then(|r| r.blob(0))
            .expect("row");
        assert_eq!(raw, s.hash(id.expose()).to_vec());
        assert!(!raw
            .windows(8)
            .any(|w| id.expose().as_bytes().windows(8).any(|x| x == w)));
        // Past the absolute lifetime (or the idle time): gone, and deleted.
        std::thread::sleep(Duration::from_millis(20));
        assert!(s
            .find(&store, id.expose(), Duration::from_millis(10), long)
            .expect("find")
            .is_none());
        assert!(s
            .find(&store, id.expose(), long, long)
            .expect("find")
            .is_none());
        let id = s.start(&store, "ops", true).expect("start");
        std::thread::sleep(Duration::from_millis(20));
        assert!(s
            .find(&store, id.expose(), long, Duration::from_millis(10))
            .expect("find")
            .is_none());
        // A disabled user's sessions are gone at once (deleted with the change).
        let id = s.start(&store, "ops", true).expect("start");
        store.set_portal_user_active("ops", false).expect("disable");
        assert!(s
            .find(&store, id.expose(), long, long)
            .expect("find")
            .is_none());
        store.set_portal_user_active("ops", true).expect("enable");
        assert!(s
            .find(&store, id.expose(), long, long)
            .expect("find")
            .is_none());
        // Another id, or another key, finds nothing.
        let id = s.start(&store, "ops", false).expect("start");
        let other = Sessions::new(KeyedHasher::from_raw(&[4u8; 32]));
        assert!(other
            .find(&store, id.expose(), long, long)
            .expect("find")
            .is_none());
        assert!(s
            .find(&store, id.expose(), long, long)
            .expect("find")
            .is_some_and(|c| !c.full));
        // The sweep removes what is past its time.
        std::thread::sleep(Duration::from_millis(5));
        let now = now_ms();
        assert_eq!(
            store
                .forget_portal_sessions(now, now - 100_000)
                .expect("sweep"),
            1
        );
    }
}
