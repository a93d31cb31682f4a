//! How the simulated Oracle checks the credential the gateway injected.

use base64::Engine as _;
use http::HeaderMap;

use super::SimConfig;

/// Who the request authenticated as: the Basic user name, or `api-key`. `None` if neither
/// credential is valid (Oracle answers 401).
pub fn authenticate(config: &SimConfig, headers: &HeaderMap) -> Option<String> {
    let auths: Vec<_> = headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .collect();
    if auths.len() == 1 {
        let v = auths[0].to_str().ok()?;
        let (scheme, rest) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, pass) = text.split_once(':')?;
            return config
                .basic_users
                .iter()
                .any(|(u, p)| u == user && p == pass)
                .then(|| user.to_string());
        }
        return None;
    }
    if auths.len() > 1 {
        return None;
    }
    let keys: Vec<_> = headers
        .get_all(config.api_key_header.as_str())
        .iter()
        .collect();
    if keys.len() == 1 {
        let k = keys[0].to_str().ok()?;
        if config.api_keys.iter().any(|c| c == k) {
            return Some("api-key".into());
        }
    }
    None
}
