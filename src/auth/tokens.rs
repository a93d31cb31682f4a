//! Gateway tokens: `egt_<16 hex id>_<43 base64url secret>`, minted by `POST /gateway/token`
//! for a proven credential set, stored only as a keyed hash, checked on the relay path with a
//! constant-time comparison, and bound to their credential set (a revoked set or suspended
//! account takes its tokens down with it on the next request).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::crypto::{ct_eq, random_bytes, KeyedHasher, SecretString};
use crate::store::StoredToken;

/// Every gateway token starts with this.
pub const TOKEN_PREFIX: &str = "egt_";
const ID_LEN: usize = 16;

/// A freshly minted token: the secret for the client (once), the row for the store.
pub struct Minted {
    /// The token the client receives. Never logged or stored.
    pub token: SecretString,
    /// What is stored.
    pub stored: StoredToken,
}

/// A fresh bearer secret `<prefix><16 hex id>_<43 base64url>` (256 random bits) and its id.
pub fn new_secret(prefix: &str) -> Result<(String, SecretString), String> {
    use base64::Engine as _;
    let id = hex::encode(random_bytes::<8>().map_err(|e| e.to_string())?);
    let secret = zeroize::Zeroizing::new(random_bytes::<32>().map_err(|e| e.to_string())?);
    let mut token = String::with_capacity(prefix.len() + ID_LEN + 1 + 43);
    token.push_str(prefix);
    token.push_str(&id);
    token.push('_');
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(&secret[..], &mut token);
    Ok((id, SecretString::new(token)))
}

/// Mints a token for `credential_id` valid for `ttl` seconds from `now`.
pub fn mint(
    hasher: &KeyedHasher,
    credential_id: &str,
    ttl: i64,
    now: i64,
) -> Result<Minted, String> {
    let (id, token) = new_secret(TOKEN_PREFIX)?;
    let token_hash = hasher.hash(token.expose().as_bytes());
    Ok(Minted {
        token,
        stored: StoredToken {
            id,
            token_hash,
            credential_id: credential_id.to_string(),
            issued_at: crate::store::now(),
            expires_at: now + ttl,
            active: true,
        },
    })
}

/// The public id of a presented gateway token, if it has the token's shape.
pub fn parse_id(token: &str) -> Option<&str> {
    parse_prefixed(TOKEN_PREFIX, token)
}

/// The id of a `<prefix><16 hex>_<43 base64url>` secret, if `token` has that shape.
pub fn parse_prefixed<'t>(prefix: &str, token: &'t str) -> Option<&'t str> {
    let rest = token.strip_prefix(prefix)?;
    let (id, secret) = (rest.get(..ID_LEN)?, rest.get(ID_LEN..)?);
    let secret = secret.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(id)
}

/// The audit form of a token id: its first 8 characters.
pub fn audit_id(id: &str) -> String {
    format!("egt_{}", id.get(..8).unwrap_or(id))
}

/// Why a presented token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token's shape.
    Malformed,
    /// No such token (or the secret part does not match).
    Unknown,
    /// Revoked individually.
    Revoked,
    /// Past its expiry.
    Expired,
}

/// Checks `token` (already known to have id `id`) against its stored row at `now`.
pub fn check(
    hasher: &KeyedHasher,
    token: &str,
    stored: &StoredToken,
    now: i64,
) -> Result<(), TokenRefusal> {
    let mac = hasher.hash(token.as_bytes());
    if !ct_eq(&mac, &stored.token_hash) {
        return Err(TokenRefusal::Unknown);
    }
    if !stored.active {
        return Err(TokenRefusal::Revoked);
    }
    if now >= stored.expires_at {
        return Err(TokenRefusal::Expired);
    }
    Ok(())
}

/// Tokens this process issued that the directory view may not hold yet (issuance does not
/// bump the store's change counter). The view wins when it has the token: revocations reach
/// every gateway through it.
#[derive(Default)]
pub struct IssuedTokens {
    map: Mutex<HashMap<String, StoredToken>>,
}

impl IssuedTokens {
    /// Remembers a token this process issued; forgets expired ones.
    pub fn remember(&self, t: StoredToken, now: i64) {
        if let Ok(mut m) = self.map.lock() {
            m.retain(|_, v| v.expires_at > now);
            m.insert(t.id.clone(), t);
        }
    }

    /// A copy of the row for `id`, if this process issued it.
    pub fn get(&self, id: &str) -> Option<StoredToken> {
        self.map.lock().ok()?.get(id).cloned()
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> KeyedHasher {
        KeyedHasher::from_raw(&[7u8; 32])
    }

    #[test]
    fn minted_tokens_parse_and_check() {
        let m = mint(&hasher(), "cred_1", 900, 1000).expect("mint");
        let t = m.token.expose();
        assert!(t.starts_with("egt_"));
        assert_eq!(parse_id(t), Some(m.stored.id.as_str()));
        assert_eq!(check(&hasher(), t, &m.stored, 1000), Ok(()));
        assert_eq!(
            check(&hasher(), t, &m.stored, 1900),
            Err(TokenRefusal::Expired)
        );
        let mut revoked = m.stored.clone();
        revoked.active = false;
        assert_eq!(
            check(&hasher(), t, &revoked, 1000),
            Err(TokenRefusal::Revoked)
        );
        // Same id, different secret: unknown (and revocation is not revealed).
        let mut forged = t.to_string();
        forged.pop();
        forged.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            check(&hasher(), &forged, &revoked, 1000),
            Err(TokenRefusal::Unknown)
        );
        assert!(!format!("{:?}", m.stored).contains("hash"));
        assert_eq!(audit_id(&m.stored.id).len(), 12);
    }

    #[test]
    fn shapes_other_than_a_token_are_refused() {
        for bad in [
            "",
            "egt_",
            "egt_0123456789abcdef",
            "egt_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "egt_0123456789abcdef_short",
            "egt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "xyz_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        assert_eq!(
            parse_id("egt_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            Some("0123456789abcdef")
        );
    }
}
