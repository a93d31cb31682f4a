//! Browser sessions of Oracle users, started by a verified Page Integration launch token: the
//! cookie, the keyed hashes that stand for the session and the launch token, and finding a
//! session for a request (the directory view, or this gateway's own sessions it has not seen
//! reloaded yet).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::crypto::KeyedHasher;
use crate::directory::DirectoryView;
use crate::store::StoredBrowserSession;

use super::SessionKeys;

/// The browser session cookie's name (`__Host-`: `Secure`, `Path=/`, no `Domain`).
pub const COOKIE: &str = "__Host-erpgate-oracle";

/// The header a state-changing request in a browser session must carry (a page on another
/// site cannot send it without a CORS preflight the gateway refuses).
pub const CSRF_HEADER: &str = "x-erpgate-csrf";

/// Why a presented session cookie does not admit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionRefusal {
    /// No session of that id (never was, forgotten, or another gateway's key).
    Unknown,
    /// The user ended it.
    Ended,
    /// Past its end.
    Expired,
}

/// Browser sessions under the master key's `browser-session` and `launch-token` purposes.
pub struct BrowserSessions {
    keys: SessionKeys,
    launch: KeyedHasher,
    /// Sessions this gateway started that its directory view may not hold yet.
    recent: Mutex<HashMap<[u8; 32], Arc<StoredBrowserSession>>>,
}

impl BrowserSessions {
    /// Sessions keyed under `session` (ids, form tokens) and `launch` (launch tokens).
    pub fn new(session: KeyedHasher, launch: KeyedHasher) -> BrowserSessions {
        BrowserSessions {
            keys: SessionKeys::new(session),
            launch,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The stored key of session id `id`.
    pub fn hash(&self, id: &str) -> [u8; 32] {
        self.keys.hash(id)
    }

    /// The launch token's keyed hash (hex): the replay key, and (its first 12 characters)
    /// what the audit trail names the token by.
    pub fn launch_hash(&self, token: &[u8]) -> String {
        hex::encode(self.launch.hash(token))
    }

    /// The replay key of launch token id `jti` of `tenant` (hex keyed hash: a `jti` is any
    /// string the issuer chose, and it is stored as text).
    pub fn jti_key(&self, tenant: &str, jti: &str) -> String {
        hex::encode(
            self.launch
                .hash_parts(&[b"jti", tenant.as_bytes(), jti.as_bytes()]),
        )
    }

    /// Remembers a session this gateway just stored (the directory view learns of it on its
    /// next reload); forgets expired ones.
    pub fn remember(&self, s: StoredBrowserSession, now: i64) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.retain(|_, v| v.expires_at > now);
            recent.insert(s.session_hash, Arc::new(s));
        }
    }

    /// The session whose id hashes to `hash` ([`BrowserSessions::hash`]) at `now`: the view's
    /// copy first (it knows of an end made on any gateway), else this gateway's own recent one.
    pub fn find(
        &self,
        view: &DirectoryView,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Arc<StoredBrowserSession>, SessionRefusal> {
        let found = match view.browser_session(hash) {
            Some(s) => s.clone(),
            None => self
                .recent
                .lock()
                .ok()
                .and_then(|r| r.get(hash).cloned())
                .ok_or(SessionRefusal::Unknown)?,
        };
        if found.ended_at.is_some() {
            return Err(SessionRefusal::Ended);
        }
        if now >= found.expires_at {
            return Err(SessionRefusal::Expired);
        }
        Ok(found)
    }

    /// Marks a session ended here at once (the store's record reaches the other gateways).
    pub fn ended(&self, hash: &[u8; 32], now: i64) {
        if let Ok(mut recent) = self.recent.lock() {
            if let Some(s) = recent.get(hash) {
                let mut s = (**s).clone();
                s.ended_at = Some(now);
                recent.insert(*hash, Arc::new(s));
            }
        }
    }
}

/// The `Set-Cookie` value for a new session: a session cookie (gone with the browser), and
/// the server ends the session at `expires_at` whatever the browser keeps.
pub fn set_cookie(id: &str) -> String {
    super::set_cookie(COOKIE, id, super::SameSite::Strict, None)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    super::clear_cookie(COOKIE, super::SameSite::Strict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(hash: [u8; 32], expires_at: i64) -> StoredBrowserSession {
        StoredBrowserSession {
            session_hash: hash,
            tenant: "acme".into(),
            oracle_user: "casey.brown".into(),
            roles: Vec::new(),
            created_at: 0,
            expires_at,
            keep_until: expires_at,
            launch_hash: "h".into(),
            jti_key: None,
            ended_at: None,
        }
    }

    #[test]
    fn a_session_is_found_until_it_ends_or_expires() {
        let b = BrowserSessions::new(
            KeyedHasher::from_raw(&[1u8; 32]),
            KeyedHasher::from_raw(&[2u8; 32]),
        );
        let view = DirectoryView::default();
        let id = "A".repeat(43);
        assert_eq!(
            b.find(&view, &b.hash(&id), 10).err(),
            Some(SessionRefusal::Unknown)
        );
        b.remember(stored(b.hash(&id), 100), 10);
        assert!(b.find(&view, &b.hash(&id), 10).is_ok());
        assert_eq!(
            b.find(&view, &b.hash(&id), 100).err(),
            Some(SessionRefusal::Expired)
        );
        assert_eq!(
            b.find(&view, &b.hash(&"B".repeat(43)), 10).err(),
            Some(SessionRefusal::Unknown)
        );
        b.ended(&b.hash(&id), 20);
        assert_eq!(
            b.find(&view, &b.hash(&id), 21).err(),
            Some(SessionRefusal::Ended)
        );
        // The launch hash is keyed: another key names the same token differently.
        let other = BrowserSessions::new(
            KeyedHasher::from_raw(&[1u8; 32]),
            KeyedHasher::from_raw(&[3u8; 32]),
        );
        assert_ne!(b.launch_hash(b"t"), other.launch_hash(b"t"));
        assert_eq!(b.launch_hash(b"t").len(), 64);
    }

    #[test]
    fn the_cookie_is_a_strict_host_session_cookie() {
        let c = set_cookie("abc");
        assert!(
            c.starts_with("__Host-erpgate-oracle=abc; Path=/; Secure; HttpOnly; SameSite=Strict")
        );
        assert!(!c.contains("Max-Age") && !c.contains("Domain"));
    }
}
