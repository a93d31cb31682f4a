//! `[tenants.T.page_integration]`: the launch path Oracle's Page Integration sends users to,
//! the parameter the token arrives in, the gateway's origin as the browser sees it, and the
//! longest session.

use crate::config::model::PageIntegrationFile;
use crate::policy::catalog::Catalog;
use crate::snapshot::{PageIntegration, Tenant};

/// Default session bound (minutes) and the most one may configure.
const DEFAULT_MINUTES: u64 = 60;
const MAX_MINUTES: u64 = 720;

/// Paths the gateway answers itself: a launch path may not be under them.
const RESERVED: [&str; 3] = ["/gateway", "/portal", "/__sim"];

/// The validated launch settings of tenant `name`, or `None` with problems pushed.
pub(super) fn launch(
    file: &str,
    name: &str,
    pi: &PageIntegrationFile,
    allow_insecure: bool,
    p: &mut Vec<String>,
) -> Option<PageIntegration> {
    let key = format!("{file}: tenants.{name}.page_integration");
    let before = p.len();
    let path = pi.launch_path.as_str();
    let segments_ok = path.len() <= 128
        && path.starts_with('/')
        && path[1..].split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        });
    if !segments_ok {
        p.push(format!("{key}.launch_path: \"{path}\" must be an absolute path of segments a-z, A-Z, 0-9, '-', '_', '.' (no empty, '.' or '..' segment, no query, no trailing '/'; at most 128 bytes)"));
    }
    if let Some(r) = RESERVED
        .iter()
        .find(|r| path == **r || path.starts_with(&format!("{r}/")))
    {
        p.push(format!(
            "{key}.launch_path: \"{path}\" is under {r}, which the gateway answers itself"
        ));
    }
    let parameter = pi.token_parameter.clone().unwrap_or_else(|| "jwt".into());
    if parameter.is_empty()
        || parameter.len() > 64
        || !parameter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        p.push(format!("{key}.token_parameter: \"{parameter}\" must be 1-64 characters of a-z, A-Z, 0-9, '-', '_', '.' (the Secure Destination's token name)"));
    }
    let minutes = pi.session_max_minutes.unwrap_or(DEFAULT_MINUTES);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        p.push(format!(
            "{key}.session_max_minutes: {minutes} is outside 1..={MAX_MINUTES}"
        ));
    }
    if let Some(a) = pi
        .audience
        .as_deref()
        .filter(|a| a.is_empty() || a.len() > 256 || a.chars().any(char::is_control))
    {
        p.push(format!(
            "{key}.audience: \"{a}\" must be 1-256 characters without control characters"
        ));
    }
    let origin = origin(&key, &pi.origin, allow_insecure, p);
    (p.len() == before).then(|| PageIntegration {
        launch_path: path.to_string(),
        token_parameter: parameter,
        origin: origin.unwrap_or_default(),
        session_max: i64::try_from(minutes * 60).unwrap_or(i64::MAX),
        audience: pi.audience.clone(),
    })
}

/// A launch audience of its own: it must differ from the Bearer path's, which from then on
/// refuses tokens carrying it.
pub(super) fn separate_audience(
    file: &str,
    name: &str,
    trust: &mut crate::jwt::inbound::InboundTrust,
    launch: &PageIntegration,
    p: &mut Vec<String>,
) {
    let Some(a) = &launch.audience else {
        tracing::warn!(
            tenant = name,
            "tenants.{name}.page_integration has no audience: a launch token is also a Bearer credential until it starts a session (and on other gateways until they see that); give the Secure Destination's tokens their own aud and set page_integration.audience"
        );
        return;
    };
    if trust.audience.as_ref() == Some(a) {
        p.push(format!("{file}: tenants.{name}.page_integration.audience: \"{a}\" is also inbound_jwt.audience; give launch tokens their own (or leave it out to launch with inbound_jwt's)"));
        return;
    }
    trust.refused_audience = Some(a.clone());
}

/// The gateway's origin as `scheme://host[:port]`: `https`, or `http` on a loopback host
/// only (a browser holds `Secure` cookies there) or with `dangerous_allow_insecure_upstream`.
fn origin(key: &str, o: &str, allow_insecure: bool, p: &mut Vec<String>) -> Option<String> {
    let parsed = match crate::config::upstream_url::parse(o, true) {
        Ok(u) => u,
        Err(e) => {
            p.push(format!("{key}.origin: {e}"));
            return None;
        }
    };
    let canonical = format!(
        "{}://{}",
        if parsed.tls { "https" } else { "http" },
        parsed.host_header
    );
    if canonical != o.trim_end_matches('/').to_ascii_lowercase() {
        p.push(format!(
            "{key}.origin: \"{o}\" must be an origin only (scheme, host and port: \"{canonical}\")"
        ));
        return None;
    }
    let loopback = matches!(
        parsed.host.as_str(),
        "127.0.0.1" | "localhost" | "::1" | "[::1]"
    );
    if !parsed.tls && !loopback && !allow_insecure {
        p.push(format!(
            "{key}.origin: \"{o}\": browser sessions need https (the session cookie is Secure)"
        ));
        return None;
    }
    Some(canonical)
}

/// The paths a launch path answers: itself and its sub-routes.
const ROUTES: [&str; 5] = ["", "/session", "/end", "/viewer.js", "/viewer.css"];

/// Launch paths are unique, none is another tenant's sub-route (`/l` answers `/l/end`, so
/// another tenant's `/l/end` would never be reached), and none is a catalog path (a request
/// to one is a launch, never relayed).
pub(super) fn no_collisions(tenants: &[Tenant], catalog: &Catalog, p: &mut Vec<String>) {
    let mut seen: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for t in tenants {
        let Some(pi) = &t.page_integration else {
            continue;
        };
        for sub in ROUTES {
            let full = format!("{}{sub}", pi.launch_path);
            match seen.insert(full.clone(), t.name.as_str()) {
                Some(other) if other != t.name => p.push(format!(
                    "tenants.{}.page_integration.launch_path: \"{full}\" is also tenant {other}'s",
                    t.name
                )),
                _ => {}
            }
            if catalog
                .match_path(full.trim_start_matches('/').split('/'))
                .is_some()
            {
                p.push(format!(
                    "tenants.{}.page_integration.launch_path: \"{full}\" is a catalog endpoint's path",
                    t.name
                ));
            }
        }
    }
}
