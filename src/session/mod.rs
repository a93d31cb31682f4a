//! Browser sessions, one implementation for every face that has them (the operator portal,
//! Oracle users arriving through Page Integration): a random 256-bit id carried in a
//! `__Host-` cookie (`Secure`, `HttpOnly`, `Path=/`, no `Domain`), stored and looked up only
//! as its keyed hash, so a copy of the database opens no session; and a form token derived
//! from the id (a keyed hash too), so it needs no storage and no other session's matches.

pub mod browser;

use std::time::Duration;

use crate::crypto::{KeyedHasher, SecretString};

/// How strictly the browser withholds the cookie from cross-site requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Never sent on a cross-site request, navigations included.
    Strict,
    /// Sent on a cross-site top-level navigation (a sign-in's way back), never on a
    /// cross-site subrequest or form post.
    Lax,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        }
    }
}

/// Session ids and form tokens under one key.
pub struct SessionKeys {
    hasher: KeyedHasher,
}

impl SessionKeys {
    /// Ids and tokens keyed under `hasher` (a purpose of its own per kind of session).
    pub fn new(hasher: KeyedHasher) -> SessionKeys {
        SessionKeys { hasher }
    }

    /// The stored key of session id `id`.
    pub fn hash(&self, id: &str) -> [u8; 32] {
        self.hasher.hash_parts(&[b"id", id.as_bytes()])
    }

    /// The form token of session id `id`.
    pub fn csrf(&self, id: &str) -> String {
        hex::encode(&self.hasher.hash_parts(&[b"csrf", id.as_bytes()])[..20])
    }
}

/// A new session id: 256 random bits, base64url (43 characters). A secret: it goes into the
/// cookie and nowhere else.
pub fn new_id() -> Result<SecretString, String> {
    crate::crypto::random_token(32).map_err(|e| format!("no randomness for a session id: {e}"))
}

/// The `Set-Cookie` value for session id `id` in cookie `name` (which must carry the
/// `__Host-` prefix). With `max`, the cookie lives that long; without, it is a session
/// cookie, gone when the browser ends.
pub fn set_cookie(name: &str, id: &str, same_site: SameSite, max: Option<Duration>) -> String {
    let mut c = format!(
        "{name}={id}; Path=/; Secure; HttpOnly; SameSite={}",
        same_site.as_str()
    );
    if let Some(max) = max {
        c.push_str(&format!("; Max-Age={}", max.as_secs()));
    }
    c
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(name: &str, same_site: SameSite) -> String {
    format!(
        "{name}=; Path=/; Secure; HttpOnly; SameSite={}; Max-Age=0",
        same_site.as_str()
    )
}

/// The session id in cookie `name` of the request's `Cookie` headers: exactly one cookie of
/// that name, of the id's own alphabet and length (anything else, two of them included, is
/// no session).
pub fn cookie_id(cookie_headers: &[&str], name: &str) -> Option<String> {
    cookie_named(cookie_headers, name).filter(|v| {
        (40..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The value of the cookie `wanted` when the request has exactly one of that name.
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

/// The request's `Cookie` header values that are text (others are ignored).
pub fn cookie_headers(headers: &http::HeaderMap) -> Vec<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "__Host-test";

    #[test]
    fn one_well_formed_cookie_or_none() {
        let id = "A".repeat(43);
        let one = format!("other=1; {C}={id}; x=y");
        assert_eq!(cookie_id(&[&one], C), Some(id.clone()));
        let twice = format!("{C}={id}; {C}={id}");
        assert_eq!(cookie_id(&[&twice], C), None);
        let split = format!("{C}={id}");
        assert_eq!(cookie_id(&[&split, &split], C), None);
        assert_eq!(cookie_id(&[&format!("{C}=short")], C), None);
        assert_eq!(cookie_id(&[&format!("{C}={}<", "A".repeat(43))], C), None);
        assert_eq!(cookie_id(&["test=x"], C), None);
    }

    #[test]
    fn cookie_flags() {
        let c = set_cookie(C, "abc", SameSite::Strict, Some(Duration::from_secs(3600)));
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
        let session = set_cookie(C, "abc", SameSite::Lax, None);
        assert!(session.contains("SameSite=Lax") && !session.contains("Max-Age"));
        assert!(clear_cookie(C, SameSite::Strict).contains("Max-Age=0"));
    }

    #[test]
    fn ids_are_long_and_tokens_keyed() {
        let id = new_id().expect("id");
        assert_eq!(id.expose().len(), 43);
        let a = SessionKeys::new(KeyedHasher::from_raw(&[1u8; 32]));
        let b = SessionKeys::new(KeyedHasher::from_raw(&[2u8; 32]));
        assert_ne!(a.hash("x"), b.hash("x"));
        assert_ne!(a.csrf("x"), a.csrf("y"));
        assert_ne!(
            &a.hash("x")[..20],
            hex::decode(a.csrf("x")).unwrap_or_default().as_slice()
        );
    }
}
