//! The compiled, immutable configuration snapshot: data only, with no knowledge of the file
//! format. Built once per (re)load by `config` (`Snapshot::load` lives there, with the
//! validation that compiles it); the request path only reads it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::policy::{Catalog, Grants, Schedule};

pub use crate::ids::TenantId;
/// A tenant's upstream and how the gateway authenticates to it (defined with the code that
/// uses them, in [`crate::upstream::target`]).
pub use crate::upstream::target::{Upstream, UpstreamAuth};

/// The operator portal's settings (`gateway.portal*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSettings {
    /// A session's absolute lifetime.
    pub session_max: Duration,
    /// A session's idle timeout.
    pub idle: Duration,
    /// Auditors need a second factor too.
    pub mfa_for_auditors: bool,
    /// The `Host` values the portal answers (the admin listener's address, its loopback
    /// names, the host of `portal_origin`): anything else is refused (DNS rebinding).
    pub hosts: Vec<String>,
    /// OpenID Connect sign-in, when configured.
    pub oidc: Option<OidcSettings>,
}

/// How a person signed in by OpenID Connect is matched to a portal user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcMatch {
    /// The token's `sub` equals the user's SSO identity.
    Subject,
    /// The token's `email` (with `email_verified: true`) equals it.
    Email,
}

/// `gateway.portal_oidc_*`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer, exactly as tokens name it.
    pub issuer: String,
    /// The portal's client id.
    pub client_id: String,
    /// The file holding the client secret (read at each sign-in, never kept).
    pub client_secret_file: PathBuf,
    /// The registered callback URL.
    pub redirect_uri: String,
    /// How people are matched to portal users.
    pub match_by: OidcMatch,
    /// PEM roots for the issuer's TLS (None: plain HTTP, loopback tests only).
    pub ca_file: Option<PathBuf>,
    /// The button's label.
    pub label: String,
}

/// The `[gateway]` section, checked.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// Public listener.
    pub listen: SocketAddr,
    /// The state database: a SQLite file (resolved) or a PostgreSQL server.
    pub database: crate::store::Database,
    /// Master key file (resolved).
    pub app_key_file: Option<PathBuf>,
    /// Worker threads.
    pub threads: usize,
    /// Maximum request-target length.
    pub max_uri_length: usize,
    /// Maximum request body.
    pub max_request_body_bytes: u64,
    /// Maximum number of request header fields.
    pub max_header_count: usize,
    /// Maximum total size of the request header fields (names, values, separators).
    pub max_header_bytes: usize,
    /// Upstream connect timeout.
    pub upstream_connect_timeout: Duration,
    /// Upstream read/write timeout.
    pub upstream_read_timeout: Duration,
    /// Plain-HTTP and private upstreams allowed (tests and demos only).
    pub dangerous_allow_insecure_upstream: bool,
    /// Store poll interval.
    pub store_poll_interval: Duration,
    /// How long a gateway on PostgreSQL serves from a view it cannot confirm (the store is
    /// unreachable) before refusing with `store.unavailable`.
    pub store_staleness: Duration,
    /// One log line per request, relayed ones included (`gateway.access_log`).
    pub access_log: bool,
    /// The request header the request id goes to Oracle in (None: not sent).
    pub upstream_request_id_header: Option<http::HeaderName>,
    /// Where spans are exported (None: no export).
    pub otlp: Option<OtlpSettings>,
    /// Clients whose `traceparent` is continued.
    pub traceparent_trusted_clients: Vec<crate::net::Cidr>,
    /// This gateway's node id: the audit chain it appends and its row in the store's node
    /// list (`""`: a single gateway's default chain).
    pub node_id: String,
    /// Audit queue capacity.
    pub audit_queue_capacity: usize,
    /// How long the audit writer waits for more records before writing a batch.
    pub audit_linger: Duration,
    /// Audit retention in days (None: forever).
    pub audit_retention_days: Option<u32>,
    /// The floor under every prune of the audit trail, in days.
    pub audit_min_retention_days: u32,
    /// Bytes of body kept in audit previews (0 = off).
    pub audit_preview_bytes: usize,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::net::Cidr>,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
    /// The gateway's public origin, for rewriting `links[].href` (None: not rewritten).
    pub public_base_url: Option<String>,
    /// What masked values are replaced with.
    pub redaction_mask: String,
    /// Where `/metrics` is served (None: not served).
    pub metrics_listen: Option<SocketAddr>,
    /// Admin API listener.
    pub admin_listen: Option<SocketAddr>,
    /// The operator portal's settings (None: no portal).
    pub portal: Option<PortalSettings>,
    /// Longest stall of one client read or write.
    pub client_timeout: Duration,
    /// Keep-alive idle time between a client's requests (seconds, ≥ 1).
    pub client_idle_timeout_seconds: u64,
    /// Unix socket for the graceful-upgrade hand-over.
    pub upgrade_socket: PathBuf,
    /// How long `serve --upgrade` waits for the old process (seconds).
    pub upgrade_wait_seconds: u64,
    /// Upstream response headers removed although the allowlist passes them.
    pub strip_response_headers: Vec<http::HeaderName>,
    /// Upstream response headers passed besides the built-in allowlist
    /// (`redact::headers::ALLOWED_RESPONSE_HEADERS`).
    pub allow_response_headers: Vec<http::HeaderName>,
    /// Request headers that reach Oracle besides the built-in allowlist
    /// (`oracle::headers::DEFAULT_ALLOWED`).
    pub allow_request_headers: Vec<http::HeaderName>,
    /// TLS on the public listener (None: plain HTTP).
    pub tls: Option<crate::tls::DownstreamTls>,
    /// CA bundle for upstream certificates (None: the system roots).
    pub upstream_ca_file: Option<PathBuf>,
    /// Gateway token lifetime (seconds).
    pub token_ttl_seconds: i64,
    /// Token endpoint lockout.
    pub token_lockout: crate::auth::lockout::LockoutSettings,
}

/// A tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant's name as configured (`[tenants.NAME]`).
    pub name: String,
    /// Where its Oracle is and how it is reached.
    pub upstream: Upstream,
    /// Upstream authentication.
    pub auth: UpstreamAuth,
    /// Browser origins allowed (canonical `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// Oracle user tokens this tenant trusts, when configured.
    pub inbound: Option<crate::jwt::inbound::InboundTrust>,
    /// Oracle users in the browser (Page Integration), when configured.
    pub page_integration: Option<PageIntegration>,
    /// The PKCS#11 token the tenant's signing key may live in, when configured.
    pub pkcs11: Option<Pkcs11Settings>,
    /// What becomes of query parameters Oracle's framework does not name.
    pub unknown_query_parameters: crate::oracle::query::UnknownParams,
}

/// A tenant's PKCS#11 module and token PIN (read when the configuration is loaded).
pub use crate::crypto::pkcs11::TokenAccess as Pkcs11Settings;

/// A tenant's Page Integration launch, validated.
#[derive(Clone, Debug)]
pub struct PageIntegration {
    /// The launch path (`/launch/acme`): no query, no trailing `/`, no catalog path.
    pub launch_path: String,
    /// The query parameter carrying the launch token.
    pub token_parameter: String,
    /// The gateway's origin as the browser sees it (canonical `scheme://host[:port]`).
    pub origin: String,
    /// Longest session (seconds).
    pub session_max: i64,
    /// The launch tokens' own audience (else `inbound_jwt.audience`); refused on the Bearer
    /// path.
    pub audience: Option<String>,
}

/// The compiled configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// Monotonic version within this process.
    pub version: u64,
    /// SHA-256 of the files it was compiled from.
    pub hash: String,
    /// SHA-256 of the part every gateway on one store must share: all but `[gateway]`
    /// (`config::Files::shared_hash`); recorded in the store's node list.
    pub shared_hash: String,
    /// Gateway settings.
    pub gateway: GatewaySettings,
    /// Tenants, indexed by `TenantId`.
    pub tenants: Vec<Tenant>,
    /// Endpoint catalog.
    pub catalog: Catalog,
    /// The compiled grants of every policy.
    pub grants: Grants,
    /// The policies as compiled, in file order: what the portal shows (the relay checks
    /// `grants`).
    pub policies: Vec<crate::policy::grants::CompiledPolicy>,
    /// Access schedule.
    pub schedule: Schedule,
    /// Response redaction rules by tenant and granting policies.
    pub redaction: crate::redact::table::RedactionTable,
    /// Rate limits by slot (see `GrantDecision::limited`).
    pub rate_limits: Vec<crate::policy::ratelimit::RateLimit>,
    /// Files read.
    pub sources: Vec<PathBuf>,
    /// What `check` warns about (valid, but probably not what was meant).
    pub warnings: Vec<String>,
}

impl Snapshot {
    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<(TenantId, &Tenant)> {
        self.tenants
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == name)
            .map(|(i, t)| (TenantId(i as u32), t))
    }
}

impl Tenant {
    /// The upstream side of this tenant, for credential injection.
    pub fn target(&self) -> crate::upstream::target::Target<'_> {
        crate::upstream::target::Target {
            tenant: &self.name,
            upstream: &self.upstream,
            auth: &self.auth,
            hsm: self.pkcs11.as_ref(),
        }
    }
}

impl<'a> From<&'a Tenant> for crate::upstream::target::Target<'a> {
    fn from(t: &'a Tenant) -> Self {
        t.target()
    }
}

/// `gateway.otlp_*`: span export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The collector.
    pub endpoint: crate::telemetry::otlp::Endpoint,
    /// `service.name`.
    pub service_name: String,
}
