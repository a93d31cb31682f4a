//! Signing in with OpenID Connect (authorization code with PKCE, `state` and `nonce`). The
//! round trip's secrets (state, nonce, PKCE verifier) travel in a sealed, ten-minute
//! `__Host-` cookie (`SameSite=Lax`: the issuer's redirect back is a cross-site navigation).
//! The ID token is verified here, on the server: RS256 against the configured issuer's own
//! keys only (its discovery document's `jwks_uri`), then `iss`, `aud` (and `azp`), `exp`,
//! `iat` and `nonce`. The person is matched to an existing portal user by subject or by
//! verified email — nobody is created by a sign-in — and then goes on exactly as after a
//! password: the second factor when their role needs one.

use base64::Engine as _;
use serde_json::{json, Value};

use super::page::{self, esc, Answer, Notice};
use super::{record, PortalRequest, PortalState, Reply};
use crate::crypto::{SealContext, SecretString};
use crate::snapshot::{OidcMatch, OidcSettings};

/// The round trip's cookie.
pub const COOKIE: &str = "__Host-erpgate-oidc";
/// How long a round trip may take, seconds.
const ROUND_TRIP_SECS: i64 = 600;
/// Clock skew allowed on `exp` and `iat`, seconds.
const SKEW: i64 = 60;
/// The longest ID token read.
const MAX_TOKEN: usize = 16 * 1024;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn seal_context() -> SealContext<'static> {
    SealContext {
        tenant: "",
        name: "portal-oidc-state",
        upstream_host: "",
    }
}

fn refused(status: u16, why: &str) -> Reply {
    let body = r#"<p><a href="/portal/login">Back to the login page</a></p>"#;
    Reply {
        answer: Answer::Page(
            status,
            page::frame("Sign-in refused", None, Some(Notice::Error(why)), body),
        ),
        cookies: vec![clear_cookie()],
    }
}

fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn settings(state: &PortalState) -> Option<OidcSettings> {
    state.settings().oidc
}

/// The issuer's endpoints, from its discovery document (whose `issuer` must be ours).
struct Endpoints {
    authorization: String,
    token: String,
    jwks: String,
}

fn json_of(url: &str, form: Option<&str>, o: &OidcSettings) -> Result<Value, String> {
    let (status, body) = super::fetch::call(url, form, o.ca_file.as_deref())?;
    if status != 200 {
        return Err(format!("{url} answered {status}"));
    }
    serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer JSON"))
}

fn discover(o: &OidcSettings) -> Result<Endpoints, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        o.issuer.trim_end_matches('/')
    );
    let d = json_of(&url, None, o)?;
    if d["issuer"].as_str() != Some(o.issuer.as_str()) {
        return Err("the discovery document names another issuer".into());
    }
    let s = |k: &str| {
        d[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("the discovery document has no {k}"))
    };
    let e = Endpoints {
        authorization: s("authorization_endpoint")?,
        token: s("token_endpoint")?,
        jwks: s("jwks_uri")?,
    };
    // An https issuer's endpoints are https too: its keys and tokens never travel in clear.
    if o.issuer.starts_with("https://")
        && [&e.authorization, &e.token, &e.jwks]
            .iter()
            .any(|u| !u.starts_with("https://"))
    {
        return Err("the discovery document names an endpoint that is not https".into());
    }
    Ok(e)
}

/// `GET /portal/oidc/start`: off to the issuer.
pub fn start(state: &PortalState, _req: &PortalRequest) -> Reply {
    let Some(o) = settings(state) else {
        return refused(404, "Single sign-on is not configured.");
    };
    let endpoints = match discover(&o) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "portal single sign-on: discovery failed");
            return refused(502, "The sign-in service cannot be reached right now.");
        }
    };
    let (Ok(st), Ok(nonce), Ok(verifier)) = (
        crate::crypto::random_bytes::<32>(),
        crate::crypto::random_bytes::<32>(),
        crate::crypto::random_bytes::<32>(),
    ) else {
        return super::unavailable().into();
    };
    let (st, nonce, verifier) = (b64(&st), b64(&nonce), b64(&verifier));
    let challenge = b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
    let exp = super::session::now_ms() / 1000 + ROUND_TRIP_SECS;
    let trip = json!({"state": st, "nonce": nonce, "verifier": verifier, "exp": exp});
    let Ok(sealed) = state
        .app
        .master()
        .portal_cipher()
        .seal(&seal_context(), trip.to_string().as_bytes())
    else {
        return super::unavailable().into();
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let sep = if endpoints.authorization.contains('?') {
        '&'
    } else {
        '?'
    };
    let to = format!(
        "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope=openid%20email&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
        endpoints.authorization,
        enc(&o.client_id),
        enc(&o.redirect_uri),
        enc(&st),
        enc(&nonce),
        enc(&challenge),
    );
    Reply {
        answer: Answer::Redirect(to),
        cookies: vec![format!(
            "{COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={ROUND_TRIP_SECS}",
            b64(&sealed)
        )],
    }
}

/// The one value of query parameter `k` (a parameter given twice is none).
fn only(req: &PortalRequest, k: &str) -> Option<String> {
    let mut it = req.query.iter().filter(|(key, _)| key == k);
    let first = it.next().map(|(_, v)| v.clone());
    if it.next().is_some() {
        return None;
    }
    first
}

/// `GET /portal/oidc/callback?code=…&state=…`.
pub fn callback(state: &PortalState, req: &PortalRequest) -> Reply {
    let Some(o) = settings(state) else {
        return refused(404, "Single sign-on is not configured.");
    };
    let refuse = |why: &str, shown: &str| {
        let _ = record(
            state,
            "?",
            "portal.sso",
            "refused",
            req,
            json!({"reason": why}),
        );
        refused(403, shown)
    };
    if let Some(e) = only(req, "error") {
        return refuse("issuer_error", &format!("The sign-in service refused: {e}"));
    }
    // The round trip this browser started, sealed by us, still fresh, for this state.
    let trip = req
        .oidc_cookie
        .as_deref()
        .and_then(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .and_then(|b| {
            state
                .app
                .master()
                .portal_cipher()
                .open(&seal_context(), &b)
                .ok()
        })
        .and_then(|p| serde_json::from_slice::<Value>(p.expose()).ok());
    let Some(trip) = trip else {
        return refuse(
            "no_round_trip",
            "This sign-in was not started here, or took too long. Start again.",
        );
    };
    let now = super::session::now_ms() / 1000;
    let field = |k: &str| trip[k].as_str().unwrap_or("").to_string();
    let (Some(code), Some(st)) = (only(req, "code"), only(req, "state")) else {
        return refuse("malformed_callback", "The sign-in answer is malformed.");
    };
    if trip["exp"].as_i64().is_none_or(|e| e < now)
        || !crate::crypto::ct_eq(st.as_bytes(), field("state").as_bytes())
    {
        return refuse(
            "state_mismatch",
            "This sign-in was not started here, or took too long. Start again.",
        );
    }
    let claims = match redeem(&o, &code, &field("verifier"), now) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "portal single sign-on: token refused");
            return refuse("token_refused", "The sign-in could not be verified.");
        }
    };
    if !crate::crypto::ct_eq(
        claims["nonce"].as_str().unwrap_or("").as_bytes(),
        field("nonce").as_bytes(),
    ) {
        return refuse("nonce_mismatch", "The sign-in could not be verified.");
    }
    let identity = match o.match_by {
        OidcMatch::Subject => claims["sub"].as_str(),
        OidcMatch::Email if claims["email_verified"] == Value::Bool(true) => {
            claims["email"].as_str()
        }
        OidcMatch::Email => None,
    };
    let Some(identity) = identity.filter(|i| !i.is_empty() && i.len() <= 256) else {
        return refuse(
            "no_identity",
            "The sign-in did not say who you are (a verified email is needed).",
        );
    };
    let user = state
        .store()
        .ok()
        .and_then(|s| s.portal_user_by_sso(identity).ok().flatten());
    let Some(user) = user.filter(|u| u.active) else {
        return refuse(
            "no_portal_user",
            "No active portal user is linked to this sign-in. Ask an owner.",
        );
    };
    let due =
        user.role != "auditor" || state.settings().mfa_for_auditors || user.totp_sealed.is_some();
    let note = json!({"method": "sso", "second_factor": if due { "due" } else { "not_required" }});
    if record(state, &user.name, "portal.login", "ok", req, note).is_err() {
        return super::unavailable().into();
    }
    let then = if due {
        "/portal/mfa"
    } else {
        "/portal/overview"
    };
    // Not a redirect: see `page::continue_page`.
    let page = Answer::Page(200, page::continue_page("Signed in", then));
    let mut reply = super::login::start_session(state, req, &user.name, !due, page);
    reply.cookies.push(clear_cookie());
    reply
}

/// The token request (with the PKCE verifier and the client secret), then the ID token
/// verified: its claims.
fn redeem(o: &OidcSettings, code: &str, verifier: &str, now: i64) -> Result<Value, String> {
    let endpoints = discover(o)?;
    let secret = std::fs::read_to_string(&o.client_secret_file)
        .map(|s| SecretString::new(s.trim().to_string()))
        .map_err(|e| format!("cannot read the client secret file: {e}"))?;
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let form = SecretString::new(format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&client_secret={}&code_verifier={}",
        enc(code),
        enc(&o.redirect_uri),
        enc(&o.client_id),
        enc(secret.expose()),
        enc(verifier)
    ));
    let answer = json_of(&endpoints.token, Some(form.expose()), o)?;
    let token = answer["id_token"]
        .as_str()
        .ok_or("no id_token in the answer")?;
    let compact = crate::jwt::split(token.as_bytes(), MAX_TOKEN).map_err(|e| format!("{e:?}"))?;
    let kid = compact.header.get("kid").and_then(Value::as_str);
    let jwks = json_of(&endpoints.jwks, None, o)?;
    let keys = jwks["keys"].as_array().ok_or("no keys at jwks_uri")?;
    let verified = keys
        .iter()
        .filter(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid))
        .any(|k| {
            let d = |f: &str| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(k[f].as_str().unwrap_or(""))
                    .unwrap_or_default()
            };
            ring::signature::RsaPublicKeyComponents {
                n: d("n"),
                e: d("e"),
            }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                compact.signing_input,
                &compact.signature,
            )
            .is_ok()
        });
    if !verified {
        return Err("the ID token's signature is not the issuer's".into());
    }
    let claims: Value =
        serde_json::from_slice(&compact.payload).map_err(|_| "claims are not JSON")?;
    if claims["iss"].as_str() != Some(o.issuer.as_str()) {
        return Err("iss is not the configured issuer".into());
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == o.client_id,
        Value::Array(list) => {
            list.iter()
                .any(|a| a.as_str() == Some(o.client_id.as_str()))
                && (list.len() == 1 || claims["azp"].as_str() == Some(o.client_id.as_str()))
        }
        _ => false,
    };
    if !aud_ok {
        return Err("aud is not this portal".into());
    }
    let exp = claims["exp"].as_i64().ok_or("no exp")?;
    if exp + SKEW < now {
        return Err("the ID token has expired".into());
    }
    if claims["iat"].as_i64().is_some_and(|iat| iat > now + SKEW) {
        return Err("the ID token was issued in the future".into());
    }
    Ok(claims)
}

/// The sign-in button for the login page (empty without single sign-on).
pub fn button(state: &PortalState) -> String {
    match settings(state) {
        Some(o) => format!(
            r#"<p><a class="sso" href="/portal/oidc/start">{}</a></p>"#,
            esc(&o.label)
        ),
        None => String::new(),
    }
}
