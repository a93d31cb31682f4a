//! Portal sessions: a random 256-bit id in a `__Host-` cookie (`HttpOnly`, `Secure`,
//! `SameSite=Strict`, `Path=/`), stored only as its keyed hash. A session is good while its
//! user is active, it is younger than the absolute lifetime and was used within the idle
//! timeout; disabling a user, changing their role or resetting them deletes their sessions in
//! the same transaction, so the next request finds none. Its form token (CSRF) is a keyed hash
//! of the id, so it needs no storage and no other session's token matches.

use std::time::Duration;

use crate::crypto::{KeyedHasher, SecretString};
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

/// Session ids and form tokens under the portal's key.
pub struct Sessions {
    hasher: KeyedHasher,
}

/// Unix time now, milliseconds.
pub fn now_ms() -> i64 {
    crate::directory::cluster::unix_ms()
}

impl Sessions {
    /// Sessions under `hasher` (the master key's `portal-session` purpose).
    pub fn new(hasher: KeyedHasher) -> Sessions {
        Sessions { hasher }
    }

    /// The stored key of session id `id`.
    pub fn hash(&self, id: &str) -> [u8; 32] {
        self.hasher.hash_parts(&[b"id", id.as_bytes()])
    }

    /// The form token of session id `id`.
    pub fn csrf(&self, id: &str) -> String {
        hex::encode(&self.hasher.hash_parts(&[b"csrf", id.as_bytes()])[..20])
    }

    /// Starts a session for `user`; `full` when no second factor is due. Returns the id (for
    /// the cookie only).
    pub fn start(&self, store: &Store, user: &str, full: bool) -> Result<SecretString, StoreError> {
        let id = crate::crypto::random_token(32)
            .map_err(|e| StoreError::Invalid(format!("no randomness for a session id: {e}")))?;
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
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        max.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id from the request's `Cookie` headers: exactly one cookie of that name, of
/// the id's own alphabet and length (anything else, two of them included, is no session).
pub fn cookie_id(cookie_headers: &[&str]) -> Option<String> {
    cookie_named(cookie_headers, COOKIE).filter(|v| {
        (40..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The value of the cookie `name` when the request has exactly one of that name.
pub fn cookie_named(cookie_headers: &[&str], wanted: &str) -> Option<String> {
    let mut found = None;
    for header in cookie_headers {
        for pair in header.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if name.trim() != wanted {
                continue;
            }
            if found.is_some() {
                return None;
            }
            found = Some(value.trim().to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_well_formed_cookie_or_none() {
        let id = "A".repeat(43);
        let one = format!("other=1; {COOKIE}={id}; x=y");
        assert_eq!(cookie_id(&[&one]), Some(id.clone()));
        let twice = format!("{COOKIE}={id}; {COOKIE}={id}");
        assert_eq!(cookie_id(&[&twice]), None);
        let split = format!("{COOKIE}={id}");
        assert_eq!(cookie_id(&[&split, &split]), None);
        assert_eq!(cookie_id(&[&format!("{COOKIE}=short")]), None);
        assert_eq!(cookie_id(&[&format!("{COOKIE}={}<", "A".repeat(43))]), None);
        assert_eq!(cookie_id(&["erpgate-portal=x"]), None);
    }

    #[test]
    fn cookie_flags() {
        let c = set_cookie("abc", Duration::from_secs(3600));
        for flag in [
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=3600",
        ] {
            assert!(c.contains(flag), "{c}");
        }
        assert!(c.starts_with("__Host-") && !c.contains("Domain"));
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn tokens_are_keyed_and_distinct() {
        let a = Sessions::new(KeyedHasher::from_raw(&[1u8; 32]));
        let b = Sessions::new(KeyedHasher::from_raw(&[2u8; 32]));
        assert_ne!(a.hash("x"), b.hash("x"));
        assert_ne!(a.csrf("x"), a.csrf("y"));
        assert_ne!(
            &a.hash("x")[..20],
            hex::decode(a.csrf("x")).unwrap_or_default().as_slice()
        );
    }
}

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
