//! Oracle's Page Integration, simulated: `GET /__sim/page-integration?user=NAME` signs a user
//! token as Fusion does for a Secure Destination (RS256 with the Fusion key, `iss`, `prn`,
//! `sub`, `aud`, `iat`, `exp`, `jti`, the user's roles) and sends the browser to the
//! destination with the token in the configured query parameter.

use std::sync::{Arc, RwLock};

use http::{Response, StatusCode};

use serde_json::json;

use super::routes::{error, respond, Body, Req};
use crate::jwt::{b64, SigningKey};

/// A Secure Destination as Fusion holds it.
#[derive(Clone)]
pub struct PageLauncher {
    /// Fusion's signing key (its certificate is what the gateway trusts).
    pub key: Arc<SigningKey>,
    /// `iss` of the tokens.
    pub issuer: String,
    /// `aud` of the tokens (the destination's audience).
    pub audience: String,
    /// The destination URL (the gateway's launch path).
    pub destination: String,
    /// The token's query parameter name.
    pub parameter: String,
    /// Token lifetime in seconds.
    pub lifetime: i64,
    /// Roles put in the tokens' `roles` claim.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for PageLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageLauncher")
            .field("issuer", &self.issuer)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

/// The simulator's Secure Destination, settable after it started (the gateway's port is
/// known later).
pub type SharedLauncher = Arc<RwLock<Option<PageLauncher>>>;

/// A user token for `user` as `l` signs it, valid from now for its lifetime.
pub fn user_token(l: &PageLauncher, user: &str) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let jti = crate::crypto::random_id("fusion", 12).map_err(|e| e.to_string())?;
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": l.key.certificate().x5t()});
    let claims = json!({
        "iss": l.issuer, "prn": user, "sub": user, "aud": l.audience,
        "iat": now, "exp": now + l.lifetime, "jti": jti, "roles": l.roles,
    });
    let mut token = format!(
        "{}.{}",
        b64::encode(header.to_string().as_bytes()),
        b64::encode(claims.to_string().as_bytes())
    );
    let sig = l.key.sign_rs256(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&sig));
    Ok(token)
}

/// `GET /__sim/page-integration?user=NAME`: 302 to the destination with a fresh user token.
pub fn launch(req: &Req<'_>, launcher: &SharedLauncher) -> Response<Body> {
    let Some(l) = launcher.read().ok().and_then(|l| l.clone()) else {
        return error(
            StatusCode::NOT_FOUND,
            "No Secure Destination is set up",
            "SIM-404",
        );
    };
    let user = req
        .query
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("user="))
        .filter(|u| {
            !u.is_empty()
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    let Some(user) = user else {
        return error(StatusCode::BAD_REQUEST, "user=NAME is required", "SIM-400");
    };
    match user_token(&l, user) {
        Ok(token) => {
            let location = format!("{}?{}={token}", l.destination, l.parameter);
            let mut r = respond(
                StatusCode::FOUND,
                None,
                http_body_util::BodyExt::boxed(http_body_util::Empty::new()),
            );
            if let Ok(v) = location.parse() {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e, "SIM-500"),
    }
}
