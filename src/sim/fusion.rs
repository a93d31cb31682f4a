//! Fusion's answer decorations (backend-revealing headers, session cookies) and the
//! `/fscmRestApi/tokenrelay` endpoint.

use super::{routes, Shared};

/// `/fscmRestApi/tokenrelay`: a relay token for a Basic-authenticated user, else 401.
pub(super) fn token_relay(
    shared: &Shared,
    who: Option<&str>,
    basic_only: bool,
) -> hyper::Response<routes::Body> {
    match (who, basic_only) {
        (Some(user), true) => {
            let ttl = shared.config.relay_token_ttl;
            let token = shared.config.relay_tokens.issue(user, ttl);
            routes::json_response(
                http::StatusCode::OK,
                "application/json",
                &serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs()}),
            )
        }
        _ => routes::unauthorized(),
    }
}

/// Oracle's backend-revealing headers and Fusion's session cookies, as on every answer.
pub(super) fn add_fusion_headers(h: &mut http::HeaderMap) {
    let ecid = format!(
        "{:016x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    );
    for (k, v) in [
        ("server", "Oracle-HTTP-Server".to_string()),
        ("x-oracle-dms-ecid", ecid.clone()),
        // A header no allowlist names (for `gateway.allow_response_headers` tests).
        ("x-sim-trace", format!("t-{ecid}")),
        ("x-oracle-dms-rid", "0".to_string()),
        ("rest-framework-version", "4".to_string()),
        ("x-powered-by", "Servlet/3.0 JSP/2.2".to_string()),
        ("content-language", "en".to_string()),
        // Fusion's diagnostic context, and the session it opens for the integration user: a
        // caller holding these cookies could talk to Oracle as that user, around the gateway.
        ("x-oracle-dms-context", format!("RaJkMr{ecid}")),
    ] {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    }
    for cookie in [
        format!("JSESSIONID={ecid}!-1472032; path=/; HttpOnly; Secure"),
        format!("OAMAuthnCookie_sim=sso-{ecid}; path=/; Secure; HttpOnly"),
    ] {
        if let Ok(v) = cookie.parse() {
            h.append(http::header::SET_COOKIE, v);
        }
    }
}
