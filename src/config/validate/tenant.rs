//! Validating one tenant's upstream authentication and CORS origins.

use super::super::model::UpstreamAuthFile;
use super::identity;
use crate::snapshot::UpstreamAuth;

/// `tenants.NAME.upstream_auth` of `file`, compiled; problems go to `p`.
pub(super) fn upstream_auth(
    file: &str,
    name: &str,
    auth: &UpstreamAuthFile,
    p: &mut Vec<String>,
) -> UpstreamAuth {
    match auth {
        UpstreamAuthFile::Basic { username, secret } => {
            check_username(file, name, username, p);
            UpstreamAuth::Basic {
                username: username.clone(),
                secret: secret.clone(),
            }
        }
        UpstreamAuthFile::Token {
            username,
            secret,
            token_path,
        } => {
            check_username(file, name, username, p);
            let path = token_path.as_deref().unwrap_or("/fscmRestApi/tokenrelay");
            if !path.starts_with('/')
                || path.len() > 512
                || path.bytes().any(|b| !(0x21..0x7f).contains(&b))
            {
                p.push(format!("{file}: tenants.{name}.upstream_auth.token_path: \"{path}\" must be an absolute path of visible ASCII"));
            }
            UpstreamAuth::Token {
                username: username.clone(),
                secret: secret.clone(),
                token_path: path.to_string(),
            }
        }
        UpstreamAuthFile::Jwt {
            issuer,
            username,
            audience,
            lifetime_seconds,
        } => identity::upstream_jwt(
            file,
            name,
            issuer,
            username.as_deref(),
            audience.as_deref(),
            *lifetime_seconds,
            p,
        ),
        UpstreamAuthFile::ApiKey { header, secret } => {
            let h = header.as_deref().unwrap_or("x-api-key");
            let parsed = http::HeaderName::from_bytes(h.as_bytes()).ok();
            let forbidden = [
                "host",
                "cookie",
                "connection",
                "content-length",
                "transfer-encoding",
            ];
            let header = match parsed {
                Some(hn) if !forbidden.contains(&hn.as_str()) => hn,
                _ => {
                    p.push(format!("{file}: tenants.{name}.upstream_auth.header: \"{h}\" is not a usable header name"));
                    http::HeaderName::from_static("x-api-key")
                }
            };
            UpstreamAuth::ApiKey {
                header,
                secret: secret.clone(),
            }
        }
    }
}

/// `tenants.NAME.cors_origins` of `file`, as canonical `scheme://host[:port]`.
pub(super) fn cors_origins(
    file: &str,
    name: &str,
    origins: &[String],
    p: &mut Vec<String>,
) -> Vec<String> {
    let mut cors_origins = Vec::new();
    for o in origins {
        if o.contains('*') || o == "null" {
            p.push(format!("{file}: tenants.{name}.cors_origins: \"{o}\": wildcards and \"null\" are not allowed; list exact origins"));
            continue;
        }
        match super::super::upstream_url::parse(o, true) {
            Ok(u) => cors_origins.push(format!(
                "{}://{}",
                if u.tls { "https" } else { "http" },
                u.host_header
            )),
            Err(e) => p.push(format!("{file}: tenants.{name}.cors_origins: {e}")),
        }
    }
    cors_origins
}

/// An upstream username goes into `user:password` (Basic) or a token request: non-empty,
/// without ':' or control characters.
fn check_username(file: &str, name: &str, username: &str, p: &mut Vec<String>) {
    if username.is_empty() || username.contains(':') || username.chars().any(char::is_control) {
        p.push(format!("{file}: tenants.{name}.upstream_auth.username: must be non-empty without ':' or control characters"));
    }
}
