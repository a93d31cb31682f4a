//! The issued x-api-key format: `egk_<16 hex public id>_<43 base64url chars of 32 random bytes>`.
//!
//! The public id is the lookup key (stored in clear); the whole key is stored only as an
//! HMAC-SHA256 under the `api-key` derived key.

use super::{random_id, random_token, CryptoError, SecretString};

/// Prefix of every issued API key.
pub const API_KEY_PREFIX: &str = "egk_";

const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;

/// The parts of a well-formed API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedApiKey<'a> {
    /// The public lookup id.
    pub id: &'a str,
}

/// A new API key: (public id, full key).
pub fn generate_api_key() -> Result<(String, SecretString), CryptoError> {
    let id = random_id("", ID_LEN / 2)?;
    let secret = random_token(32)?;
    let full = SecretString::new(format!("{API_KEY_PREFIX}{id}_{}", secret.expose()));
    Ok((id, full))
}

/// Validates the exact shape of an API key and returns its public id. No allocation.
pub fn parse_api_key(key: &str) -> Option<ParsedApiKey<'_>> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    if rest.len() != ID_LEN + 1 + SECRET_LEN {
        return None;
    }
    let (id, rest) = rest.split_at(ID_LEN);
    let secret = rest.strip_prefix('_')?;
    let id_ok = id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let secret_ok = secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some(ParsedApiKey { id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_to_their_id() {
        let (id, key) = generate_api_key().expect("gen");
        assert_eq!(key.expose().len(), 4 + 16 + 1 + 43);
        assert_eq!(parse_api_key(key.expose()), Some(ParsedApiKey { id: &id }));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let (_, key) = generate_api_key().expect("gen");
        let k = key.expose();
        assert!(parse_api_key(&k[1..]).is_none());
        assert!(parse_api_key(&format!("{k}x")).is_none());
        assert!(parse_api_key(&k.replacen('_', "-", 2)).is_none());
        assert!(parse_api_key(&k.to_uppercase()).is_none());
        assert!(parse_api_key("egk_").is_none());
        assert!(parse_api_key("").is_none());
        let mut bad = k.clone();
        bad.replace_range(k.len() - 1.., "!");
        assert!(parse_api_key(&bad).is_none());
    }
}
