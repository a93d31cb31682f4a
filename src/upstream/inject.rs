//! The upstream credential: decrypted from the store, turned into one header, zeroised.
//!
//! Prepared in `request_filter` (so a missing or undecryptable secret is a clean
//! `upstream.credential_missing` denial before anything is sent) and inserted in
//! `upstream_request_filter`. The sealed secret is opened with the tenant's key and the
//! context (tenant, secret name, upstream host) it was sealed for, so a secret copied to
//! another tenant, name or host does not open. Our plaintext buffers (the opened secret, the
//! `user:password` before encoding) are zeroised when dropped; the header value itself is an
//! immutable `http::HeaderValue` that cannot be wiped, so it lives only for the request and is
//! marked sensitive (never logged or HPACK-indexed by the http crate).

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use zeroize::Zeroizing;

use std::net::SocketAddr;
use std::time::Duration;

use crate::crypto::{SealContext, TenantCipher, TENANT_KEY_SEAL_NAME};
use crate::directory::TenantKey;
use crate::jwt::assertion::{AssertionCache, AssertionSpec};
use crate::jwt::SigningKey;
use crate::refusal::{Deny, Reason};
use crate::store::Account;

use super::target::{Target, UpstreamAuth};
use super::token_mode::{FetchSpec, UpstreamTokens};

/// A ready-to-send upstream credential header.
pub struct UpstreamCredential {
    /// Header name (`Authorization` or the tenant's API key header).
    pub name: HeaderName,
    /// Header value, marked sensitive.
    pub value: HeaderValue,
    /// The Oracle identity it asserts (for the audit trail).
    pub identity: String,
    /// For `token` mode: which cached upstream token this is.
    pub token_use: Option<TokenUse>,
}

impl std::fmt::Debug for UpstreamCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredential")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .field("identity", &self.identity)
            .finish()
    }
}

/// Builds the upstream credential for `account` on `tenant` from the sealed secrets.
/// `sealed` looks up a sealed secret by (tenant, name).
pub fn prepare<'t, 'v>(
    tenant: impl Into<Target<'t>>,
    account: &Account,
    cipher: &TenantCipher,
    sealed: impl Fn(&str, &str) -> Option<&'v [u8]>,
) -> Result<UpstreamCredential, Deny> {
    let tenant = tenant.into();
    let open = |name: &str| {
        let ct = sealed(tenant.tenant, name).ok_or(Deny::with_detail(
            Reason::UpstreamCredentialMissing,
            "secret_not_stored",
        ))?;
        let ctx = SealContext {
            tenant: tenant.tenant,
            name,
            upstream_host: &tenant.upstream.host,
        };
        cipher.open(&ctx, ct).map_err(|_| {
            tracing::error!(tenant = %tenant.tenant, secret = name, "stored upstream secret does not open (tampered, or sealed for another tenant/host/key)");
            Deny::with_detail(Reason::UpstreamCredentialMissing, "secret_unopenable")
        })
    };
    match tenant.auth {
        UpstreamAuth::Jwt { .. } | UpstreamAuth::Token { .. } => {
            Err(Deny::with_detail(Reason::Internal, "mode_is_async"))
        }
        UpstreamAuth::Basic { username, secret } => {
            let user = account.oracle_user.as_deref().unwrap_or(username);
            let name = account.upstream_secret.as_deref().unwrap_or(secret);
            let password = open(name)?;
            let hv = basic_value(user, password.expose())?;
            Ok(UpstreamCredential {
                name: http::header::AUTHORIZATION,
                value: hv,
                identity: user.to_owned(),
                token_use: None,
            })
        }
        UpstreamAuth::ApiKey { header, secret } => {
            let name = account.upstream_secret.as_deref().unwrap_or(secret);
            let key = open(name)?;
            let mut hv = HeaderValue::from_bytes(key.expose()).map_err(|_| {
                Deny::with_detail(Reason::UpstreamCredentialMissing, "secret_not_header_safe")
            })?;
            hv.set_sensitive(true);
            Ok(UpstreamCredential {
                name: header.clone(),
                value: hv,
                identity: format!("api-key:{name}"),
                token_use: None,
            })
        }
    }
}

/// Seals a tenant's private key (DER) for storage.
pub fn seal_tenant_key<'t>(
    cipher: &TenantCipher,
    tenant: impl Into<Target<'t>>,
    der: &[u8],
) -> Result<Vec<u8>, String> {
    let tenant = tenant.into();
    let ctx = SealContext {
        tenant: tenant.tenant,
        name: TENANT_KEY_SEAL_NAME,
        upstream_host: &tenant.upstream.host,
    };
    cipher.seal(&ctx, der).map_err(|e| e.to_string())
}

/// Opens a stored tenant key into a ring signing key (the plaintext DER is zeroised).
pub fn open_tenant_key(
    cipher: &TenantCipher,
    tenant: Target<'_>,
    key: &TenantKey,
) -> Result<SigningKey, String> {
    let ctx = SealContext {
        tenant: tenant.tenant,
        name: TENANT_KEY_SEAL_NAME,
        upstream_host: &tenant.upstream.host,
    };
    let der = cipher.open(&ctx, &key.sealed).map_err(|_| {
        "the stored tenant key does not open (tampered, or sealed for another tenant/host/key)"
            .to_string()
    })?;
    SigningKey::from_der(der.expose(), key.cert.clone())
}

/// The upstream credential for tenants in `jwt` mode: a tenant-signed assertion for `user`,
/// from the cache (one signing per user per lifetime, never per request).
pub async fn assertion<'t>(
    cache: &AssertionCache,
    tenant: impl Into<Target<'t>>,
    cipher: &TenantCipher,
    key: Option<&TenantKey>,
    user: &str,
    now: i64,
) -> Result<UpstreamCredential, Deny> {
    let tenant = tenant.into();
    let UpstreamAuth::Jwt {
        issuer,
        audience,
        lifetime,
        ..
    } = tenant.auth
    else {
        return Err(Deny::with_detail(Reason::Internal, "not_jwt_mode"));
    };
    let key = key.ok_or(Deny::with_detail(
        Reason::UpstreamCredentialMissing,
        "tenant_key_not_stored",
    ))?;
    let spec = AssertionSpec {
        tenant: tenant.tenant,
        x5t: key.cert.x5t(),
        issuer,
        audience: audience.as_deref(),
        user,
        lifetime: *lifetime,
    };
    let value = match &key.hsm {
        // Held in a token: signed there, or not at all (never a key from the database).
        Some(r) => cache
            .get(&spec, now, || {
                let access = tenant.hsm.ok_or_else(|| {
                    format!("the tenant's key is in a PKCS#11 token ({r}) but [tenants.{}.pkcs11] is not configured", tenant.tenant)
                })?;
                let pin = access.pin_for(r).map_err(|e| e.to_string())?;
                Ok(SigningKey::in_token(r.clone(), pin.clone(), key.cert.clone()))
            })
            .await
            .map_err(|e| {
                tracing::error!(tenant = %tenant.tenant, error = %e, "the HSM cannot sign the upstream assertion");
                Deny::with_detail(Reason::UpstreamSigningUnavailable, "hsm_unavailable")
            })?,
        None => cache
            .get(&spec, now, || open_tenant_key(cipher, tenant, key))
            .await
            .map_err(|e| {
                tracing::error!(tenant = %tenant.tenant, error = %e, "cannot sign the upstream assertion");
                Deny::with_detail(Reason::UpstreamCredentialMissing, "tenant_key_unusable")
            })?,
    };
    Ok(UpstreamCredential {
        name: http::header::AUTHORIZATION,
        value,
        identity: user.to_owned(),
        token_use: None,
    })
}

/// `Basic base64(user:password)`, marked sensitive; the intermediate buffers are zeroised.
fn basic_value(user: &str, password: &[u8]) -> Result<HeaderValue, Deny> {
    let mut raw = Zeroizing::new(Vec::with_capacity(user.len() + 1 + password.len()));
    raw.extend_from_slice(user.as_bytes());
    raw.push(b':');
    raw.extend_from_slice(password);
    let mut value = Zeroizing::new(String::from("Basic "));
    base64::engine::general_purpose::STANDARD.encode_string(&*raw, &mut value);
    let mut hv = HeaderValue::from_str(&value).map_err(|_| {
        Deny::with_detail(Reason::UpstreamCredentialMissing, "secret_not_header_safe")
    })?;
    hv.set_sensitive(true);
    Ok(hv)
}

/// Which cached upstream token a request carries (to invalidate it if Oracle refuses it).
#[derive(Clone, Debug)]
pub struct TokenUse {
    /// Cache key (tenant, user, secret name).
    pub key: String,
    /// The token's generation.
    pub generation: u64,
}

/// Where a `token` mode tenant's token comes from: the cache (with its endpoint client), the
/// tenant's key for opening the stored password, its upstream address (picked only when a
/// fetch is due) and the fetch budget (connect plus read timeout).
pub struct TokenSource<'a, P: FnOnce() -> Option<SocketAddr>> {
    /// The upstream token cache.
    pub tokens: &'a UpstreamTokens,
    /// The tenant's AES key.
    pub cipher: &'a TenantCipher,
    /// Picks the upstream address.
    pub pick_addr: P,
    /// Connect plus answer budget.
    pub timeout: Duration,
}

/// The upstream credential for tenants in `token` mode: a bearer token from Oracle's token
/// endpoint, fetched with the stored password (once per lifetime, single flight).
pub async fn upstream_token<'t, 'v>(
    source: TokenSource<'_, impl FnOnce() -> Option<SocketAddr>>,
    tenant: impl Into<Target<'t>>,
    account: &Account,
    sealed: impl Fn(&str, &str) -> Option<&'v [u8]>,
) -> Result<UpstreamCredential, Deny> {
    let tenant = tenant.into();
    let UpstreamAuth::Token {
        username,
        secret,
        token_path,
    } = tenant.auth
    else {
        return Err(Deny::with_detail(Reason::Internal, "not_token_mode"));
    };
    let user = account.oracle_user.as_deref().unwrap_or(username);
    let name = account.upstream_secret.as_deref().unwrap_or(secret);
    let key = format!("{}\0{user}\0{name}", tenant.tenant);
    let TokenSource {
        tokens,
        cipher,
        pick_addr,
        timeout,
    } = source;
    let spec = || {
        let ct = sealed(tenant.tenant, name).ok_or(FetchRefused::SecretNotStored)?;
        let ctx = SealContext {
            tenant: tenant.tenant,
            name,
            upstream_host: &tenant.upstream.host,
        };
        let password = cipher
            .open(&ctx, ct)
            .map_err(|_| FetchRefused::SecretUnopenable)?;
        let basic =
            basic_value(user, password.expose()).map_err(|_| FetchRefused::NotHeaderSafe)?;
        let addr = pick_addr().ok_or(FetchRefused::NoAddress)?;
        Ok(FetchSpec {
            addr,
            tls: tenant.upstream.tls,
            sni: &tenant.upstream.sni,
            host_header: &tenant.upstream.host_header,
            path: token_path,
            basic,
            timeout,
        })
    };
    let mut refused = None;
    let got = tokens
        .get(&key, || {
            spec().map_err(|e: FetchRefused| {
                refused = Some(e);
                e.as_str().to_string()
            })
        })
        .await;
    let held = got.map_err(|e| {
        tracing::error!(tenant = %tenant.tenant, error = %e, "cannot obtain an upstream token");
        match refused {
            Some(FetchRefused::SecretNotStored) => {
                Deny::with_detail(Reason::UpstreamCredentialMissing, "secret_not_stored")
            }
            Some(FetchRefused::SecretUnopenable) => {
                Deny::with_detail(Reason::UpstreamCredentialMissing, "secret_unopenable")
            }
            Some(FetchRefused::NotHeaderSafe | FetchRefused::NoAddress) | None => {
                Deny::with_detail(Reason::UpstreamUnavailable, "token_endpoint_failed")
            }
        }
    })?;
    Ok(UpstreamCredential {
        name: http::header::AUTHORIZATION,
        value: held.header,
        identity: user.to_owned(),
        token_use: Some(TokenUse {
            key,
            generation: held.generation,
        }),
    })
}

/// Why a token fetch was not even attempted (typed, where the text used to be matched).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FetchRefused {
    /// No sealed secret under the name.
    SecretNotStored,
    /// The sealed secret does not open for this tenant, name and host.
    SecretUnopenable,
    /// The opened secret cannot be sent in a header.
    NotHeaderSafe,
    /// The upstream has no usable address.
    NoAddress,
}

impl FetchRefused {
    fn as_str(self) -> &'static str {
        match self {
            FetchRefused::SecretNotStored => "secret_not_stored",
            FetchRefused::SecretUnopenable => "secret_unopenable",
            FetchRefused::NotHeaderSafe => "secret_not_header_safe",
            FetchRefused::NoAddress => "upstream has no usable address",
        }
    }
}
