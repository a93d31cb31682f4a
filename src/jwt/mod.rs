//! JSON Web Tokens, RS256 only, in both directions.
//!
//! - Inbound ([`verify`]): tokens Oracle Fusion issued to a user. The algorithm is pinned to
//!   RS256 by this code, never taken from the token; `jku`, `x5u`, `jwk`, `x5c` and `crit`
//!   are refused outright (nothing is ever fetched or looked up on a token's say-so); `kid`
//!   and `x5t` only *select* among certificates the configuration already trusts.
//! - Outbound ([`sign`]): assertions the gateway signs with a tenant key so Oracle sees the
//!   real user (`prn`/`sub`), cached by [`assertion::AssertionCache`].
//!
//! The compact serialisation is written here (a few dozen lines, strictly parsed) rather
//! than taken from `jsonwebtoken`, whose RSA backends are the `rsa` crate (private-key
//! operations not constant-time, RUSTSEC-2023-0071) or a second C crypto library; all RSA
//! work is ring's. `jsonwebtoken` is used in the tests as an independent implementation to
//! check interoperability both ways.

pub mod assertion;
pub mod cert;
pub mod inbound;

use serde::Serialize;
use zeroize::Zeroizing;

pub use cert::{Certificate, SigningKey};

/// base64url without padding (RFC 7515 §2), strict on decode.
pub mod b64 {
    use base64::Engine as _;

    /// Encodes `bytes` as unpadded base64url (the JWT segment alphabet).
    pub fn encode(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes; refuses padding, the standard alphabet and non-canonical trailing bits.
    pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()
    }
}

/// Why a token was refused. The variants are the audit detail; none carries token content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than the configured maximum.
    TooLarge,
    /// Not three base64url parts, bad base64, not JSON, or a claim of the wrong type.
    Malformed,
    /// `alg` is not RS256 (`none`, HS256, anything else).
    Algorithm,
    /// A header that would make a verifier fetch or trust something (`jku`, `x5u`, `jwk`,
    /// `x5c`, `crit`).
    ForbiddenHeader,
    /// `kid`/`x5t` names no trusted certificate, or no certificate is trusted.
    UnknownKey,
    /// The signature does not verify with any candidate certificate.
    Signature,
    /// `iss` is not a trusted issuer.
    Issuer,
    /// `aud` does not include the configured audience.
    Audience,
    /// `aud` names the tenant's Page Integration launch audience: a launch token, which
    /// starts a browser session at the launch path and is never a Bearer credential.
    LaunchAudience,
    /// `exp` is in the past (beyond the allowed skew).
    Expired,
    /// `nbf` is in the future (beyond the allowed skew).
    NotYetValid,
    /// `iat` is in the future (beyond the allowed skew).
    IssuedInFuture,
    /// A required claim (`exp`, `iss`, `prn`/`sub`) is missing.
    MissingClaim,
}

impl JwtError {
    /// The audit detail string.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtError::TooLarge => "jwt_too_large",
            JwtError::Malformed => "jwt_malformed",
            JwtError::Algorithm => "jwt_algorithm",
            JwtError::ForbiddenHeader => "jwt_forbidden_header",
            JwtError::UnknownKey => "jwt_unknown_key",
            JwtError::Signature => "jwt_signature",
            JwtError::Issuer => "jwt_issuer",
            JwtError::Audience => "jwt_audience",
            JwtError::LaunchAudience => "jwt_launch_audience",
            JwtError::Expired => "jwt_expired",
            JwtError::NotYetValid => "jwt_not_yet_valid",
            JwtError::IssuedInFuture => "jwt_issued_in_future",
            JwtError::MissingClaim => "jwt_missing_claim",
        }
    }
}

/// The claims of an outbound assertion.
#[derive(Debug, Serialize)]
pub struct AssertionClaims<'a> {
    /// The trusted-issuer name registered in Oracle.
    pub iss: &'a str,
    /// The Oracle user asserted (Oracle reads `prn`).
    pub prn: &'a str,
    /// The same user (for verifiers that read `sub`).
    pub sub: &'a str,
    /// Audience, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: &'a str,
}

/// Signs `claims` as a compact RS256 JWS with `typ: JWT` and the key's certificate
/// thumbprint as `x5t`. The result is a credential: zeroised on drop.
pub fn sign(key: &SigningKey, claims: &impl Serialize) -> Result<Zeroizing<String>, String> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'static str,
        typ: &'static str,
        x5t: &'a str,
    }
    let header = serde_json::to_vec(&Header {
        alg: "RS256",
        typ: "JWT",
        x5t: key.certificate().x5t(),
    })
    .map_err(|e| e.to_string())?;
    let payload = Zeroizing::new(serde_json::to_vec(claims).map_err(|e| e.to_string())?);
    let mut token = Zeroizing::new(String::with_capacity(512));
    token.push_str(&b64::encode(&header));
    token.push('.');
    token.push_str(&b64::encode(&payload));
    let sig = key.sign_rs256(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&sig));
    Ok(token)
}

/// A compact JWS split into its parts, before anything is trusted.
pub struct Compact<'a> {
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a [u8],
    /// Decoded header JSON.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// Decoded payload bytes (JSON, not yet parsed).
    pub payload: Zeroizing<Vec<u8>>,
    /// Decoded signature.
    pub signature: Vec<u8>,
}

/// The most header bytes we decode (a real header is well under 300).
const MAX_HEADER: usize = 2048;

/// Splits and decodes a compact JWS, refusing anything but exactly three non-empty
/// base64url parts, a JSON-object header under 2 KiB, and `alg` exactly `RS256`.
pub fn split(token: &[u8], max_len: usize) -> Result<Compact<'_>, JwtError> {
    if token.len() > max_len {
        return Err(JwtError::TooLarge);
    }
    let mut parts = token.split(|&b| b == b'.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if h.is_empty() || p.is_empty() {
        return Err(JwtError::Malformed);
    }
    if s.is_empty() {
        // A stripped signature (`alg: none` style) is an algorithm refusal.
        return Err(JwtError::Algorithm);
    }
    if h.len() > MAX_HEADER * 4 / 3 + 4 {
        return Err(JwtError::TooLarge);
    }
    let header_bytes = b64::decode(h).ok_or(JwtError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtError::Malformed)?;
    match header.get("alg") {
        Some(serde_json::Value::String(a)) if a == "RS256" => {}
        _ => return Err(JwtError::Algorithm),
    }
    for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if header.contains_key(forbidden) {
            return Err(JwtError::ForbiddenHeader);
        }
    }
    let payload = Zeroizing::new(b64::decode(p).ok_or(JwtError::Malformed)?);
    let signature = b64::decode(s).ok_or(JwtError::Malformed)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Compact {
        signing_input,
        header,
        payload,
        signature,
    })
}

#[cfg(test)]
mod tests;
