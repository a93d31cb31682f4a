//! How the simulated Oracle checks the credential the gateway injected: Basic, an API key,
//! or a JWT assertion (Oracle's "trusted issuer" flow: RS256 signed by a registered
//! certificate named by `x5t`, `iss` a trusted issuer, not expired; the user is `prn`).

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
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = rest.trim();
            return config
                .relay_tokens
                .check(token)
                .or_else(|| assertion(config, token));
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

/// Verifies a JWT assertion like Oracle does; the asserted user, or `None` (401).
fn assertion(config: &SimConfig, token: &str) -> Option<String> {
    let now = chrono::Utc::now().timestamp();
    // Assertions already verified are cached until their exp, as Oracle does: without it the
    // simulator, not the gateway, would dominate a load run with an RSA check per request.
    if let Some((user, exp)) = config.jwt_verified.lock().ok()?.get(token) {
        if now < *exp {
            return Some(user.clone());
        }
    }
    let user = verify_assertion(config, token, now)?;
    Some(user)
}

fn verify_assertion(config: &SimConfig, token: &str, now: i64) -> Option<String> {
    let certs = config.jwt_certs.read().ok()?.clone();
    // Oracle locates the certificate by its thumbprint: no x5t, no trust.
    let compact = crate::jwt::split(token.as_bytes(), 16 * 1024).ok()?;
    let x5t = compact.header.get("x5t")?.as_str()?;
    if !certs.iter().any(|c| c.x5t() == x5t) {
        return None;
    }
    let trust = crate::jwt::inbound::InboundTrust {
        issuers: config.jwt_issuers.clone(),
        certs: certs
            .iter()
            .map(|c| crate::jwt::inbound::TrustedCert {
                alias: String::new(),
                cert: c.clone(),
            })
            .collect(),
        audience: None,
        refused_audience: None,
        skew: 0,
        max_token_bytes: 16 * 1024,
        roles_claim: None,
    };
    let id = crate::jwt::inbound::verify(token.as_bytes(), &[(0, trust)], now).ok()?;
    if let Ok(mut cache) = config.jwt_verified.lock() {
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(token.to_string(), (id.user.clone(), id.exp));
    }
    Some(id.user)
}
