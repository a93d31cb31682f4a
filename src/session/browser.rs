//! Browser sessions of Oracle users, started by a verified Page Integration launch token: the
//! cookie, the keyed hashes that stand for the session and the launch token, and finding a
//! session for a request (the directory view, or this gateway's own sessions it has not seen
//! reloaded yet).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// Sessions this gateway started or ended that its directory view may not show yet.
    recent: Mutex<Recent>,
}

/// This gateway's own starts and ends, kept until their rows may go (`keep_until`).
#[derive(Default)]
struct Recent {
    sessions: HashMap<[u8; 32], Arc<StoredBrowserSession>>,
    /// Launch hash → `keep_until`.
    launches: HashMap<String, i64>,
}

impl BrowserSessions {
    /// Sessions keyed under `session` (ids, form tokens) and `launch` (launch tokens).
    pub fn new(session: KeyedHasher, launch: KeyedHasher) -> BrowserSessions {
        BrowserSessions {
            keys: SessionKeys::new(session),
            launch,
            recent: Mutex::new(Recent::default()),
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

    /// This gateway's own starts and ends. (No code panics while holding the lock; were one
    /// to, the maps are still whole, so a poisoned lock is used as it is.)
    fn recent(&self) -> MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`BrowserSessions::recent`] for a change, pruned first of rows that may go at `now`
    /// (the scan is paid by launches and ends, never by the requests that only look).
    fn recent_for_change(&self, now: i64) -> MutexGuard<'_, Recent> {
        let mut recent = self.recent();
        recent.sessions.retain(|_, v| v.keep_until > now);
        recent.launches.retain(|_, keep| *keep > now);
        recent
    }

    /// Remembers a session this gateway just stored (the directory view learns of it on its
    /// next reload).
    pub fn remember(&self, s: StoredBrowserSession, now: i64) {
        let mut recent = self.recent_for_change(now);
        recent.launches.insert(s.launch_hash.clone(), s.keep_until);
        recent.sessions.insert(s.session_hash, Arc::new(s));
    }

    /// Whether the launch token of keyed hash `launch_hash` ([`BrowserSessions::launch_hash`])
    /// started a session kept at `now`, on any gateway of the store (the view) or on this one
    /// since.
    pub fn launched(&self, view: &DirectoryView, launch_hash: &str, now: i64) -> bool {
        view.launched(launch_hash)
            || self
                .recent()
                .launches
                .get(launch_hash)
                .is_some_and(|keep| *keep > now)
    }

    /// Whether `token` (as presented, e.g. as a Bearer credential) started a session kept at
    /// `now`: [`BrowserSessions::launched`] over its keyed hash, which is computed only when
    /// some session is kept at all (a deployment without browser sessions pays nothing).
    pub fn launched_token(&self, view: &DirectoryView, token: &[u8], now: i64) -> bool {
        if !view.any_launched() && self.recent().launches.is_empty() {
            return false;
        }
        self.launched(view, &self.launch_hash(token), now)
    }

    /// The session whose id hashes to `hash` ([`BrowserSessions::hash`]) at `now`, from the
    /// view (it knows of starts and ends on every gateway) or this gateway's own recent
    /// starts and ends; an end known to either wins, so an end made here holds at once even
    /// when a view built before it still shows the session live.
    pub fn find(
        &self,
        view: &DirectoryView,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Arc<StoredBrowserSession>, SessionRefusal> {
        let viewed = view.browser_session(hash).cloned();
        let mine = self
            .recent()
            .sessions
            .get(hash)
            .filter(|s| s.keep_until > now)
            .cloned();
        let ended = viewed
            .iter()
            .chain(mine.iter())
            .any(|s| s.ended_at.is_some());
        let found = viewed.or(mine).ok_or(SessionRefusal::Unknown)?;
        if ended {
            return Err(SessionRefusal::Ended);
        }
        if now >= found.expires_at {
            return Err(SessionRefusal::Expired);
        }
        Ok(found)
    }

    /// Marks session `s` ended here at once, whichever gateway started it and whatever the
    /// view still shows (the store's record reaches the other gateways).
    pub fn ended(&self, s: &StoredBrowserSession, now: i64) {
        let mut s = s.clone();
        s.ended_at = Some(now);
        self.recent_for_change(now)
            .sessions
            .insert(s.session_hash, Arc::new(s));
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
            keep_until: expires_at + 50,
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
        b.ended(&stored(b.hash(&id), 100), 20);
        assert_eq!(
            b.find(&view, &b.hash(&id), 21).err(),
            Some(SessionRefusal::Ended)
        );
        // An end made here wins over a view built before it that still shows it live.
        let other = "C".repeat(43);
        let live = stored(b.hash(&other), 100);
        let view = DirectoryView::build(crate::store::Directory {
            browser_sessions: vec![live.clone()],
            ..Default::default()
        });
        assert!(b.find(&view, &b.hash(&other), 10).is_ok());
        assert!(view.launched("h") && !b.launched(&DirectoryView::default(), "h2", 10));
        b.ended(&live, 30);
        assert_eq!(
            b.find(&view, &b.hash(&other), 31).err(),
            Some(SessionRefusal::Ended)
        );
        // A launch made here is known as launched until its row may go (`keep_until`), and a
        // token is hashed only when some launch is kept at all.
        let fresh = BrowserSessions::new(
            KeyedHasher::from_raw(&[1u8; 32]),
            KeyedHasher::from_raw(&[2u8; 32]),
        );
        let none = DirectoryView::default();
        assert!(!fresh.launched_token(&none, b"tok", 10));
        let mut mine = stored(fresh.hash(&"D".repeat(43)), 100);
        mine.launch_hash = fresh.launch_hash(b"tok");
        mine.keep_until = 150;
        fresh.remember(mine, 10);
        assert!(fresh.launched_token(&none, b"tok", 149));
        assert!(!fresh.launched_token(&none, b"other", 149));
        assert!(!fresh.launched_token(&none, b"tok", 150));
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
