//! The configuration file format (serde). Kept apart from the compiled model: nothing here
//! is trusted until `validate` has checked it.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One configuration file: the main file may hold every section plus `include`; included
/// files hold everything except `[gateway]` and `include`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileModel {
    /// Further files, relative to the main file's directory.
    pub include: Option<Vec<String>>,
    /// Gateway settings (main file only).
    pub gateway: Option<GatewayFile>,
    /// Access schedule.
    pub schedule: Option<ScheduleFile>,
    /// Tenants by name.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantFile>,
    /// Endpoint catalog entries.
    #[serde(default)]
    pub endpoint: Vec<EndpointFile>,
    /// `[[policy]]` sections: which accounts may call which endpoints.
    #[serde(default)]
    pub policy: Vec<PolicyFile>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Public listener address.
    pub listen: String,
    /// The state database: a SQLite path, or a `postgres://user@host/db` URL (no password).
    pub database: String,
    /// A file whose first line is the PostgreSQL password.
    pub database_password_file: Option<String>,
    /// CA certificates (PEM) for TLS to PostgreSQL.
    pub database_ca_file: Option<String>,
    /// Master key file (ERPGATE_APP_KEY wins).
    pub app_key_file: Option<String>,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Maximum request-target length in bytes.
    pub max_uri_length: Option<usize>,
    /// Maximum request body in bytes.
    pub max_request_body_bytes: Option<u64>,
    /// Maximum number of request header fields.
    pub max_header_count: Option<usize>,
    /// Maximum total size of the request header fields in bytes.
    pub max_header_bytes: Option<usize>,
    /// Upstream connect timeout.
    pub upstream_connect_timeout_ms: Option<u64>,
    /// Upstream read/write timeout.
    pub upstream_read_timeout_ms: Option<u64>,
    /// Allow plain-HTTP and private upstreams (tests and demos only).
    pub dangerous_allow_insecure_upstream: Option<bool>,
    /// How often the store's change counter is polled.
    pub store_poll_interval_ms: Option<u64>,
    /// PostgreSQL only: seconds a node serves without reaching the store.
    pub store_staleness_seconds: Option<u64>,
    /// `text` (default) or `json`: one JSON object per log line.
    pub log_format: Option<String>,
    /// A log line for every request, relayed ones included (target `erpgate::access`); off by
    /// default: the audit trail is the system of record.
    pub access_log: Option<bool>,
    /// The request header Oracle receives the gateway's request id in (default
    /// `X-Request-Id`; `""` sends none).
    pub upstream_request_id_header: Option<String>,
    /// OTLP/HTTP collector a span per request is exported to (`http://HOST:PORT/v1/traces`,
    /// the local OpenTelemetry agent; absent: no export).
    pub otlp_traces_endpoint: Option<String>,
    /// `service.name` of the exported spans (default `erpgate`).
    pub otlp_service_name: Option<String>,
    /// Clients (CIDRs, after `trusted_proxies`) whose W3C `traceparent` is continued; from
    /// anyone else it is ignored. Default: none.
    pub traceparent_trusted_clients: Option<Vec<String>>,
    /// This gateway's name among several on one store: its audit chain and its row in the
    /// store's node list (default: the host name on PostgreSQL, none on SQLite).
    pub node_id: Option<String>,
    /// Audit queue capacity (records).
    pub audit_queue_capacity: Option<usize>,
    /// How long the audit writer waits after a batch's first record for more, in ms.
    pub audit_linger_ms: Option<u64>,
    /// Audit records older than this many days are pruned (absent: kept forever).
    pub audit_retention_days: Option<u32>,
    /// No prune (automatic or `erpgate audit prune`) may cut records younger than this many
    /// days (default 30).
    pub audit_min_retention_days: Option<u32>,
    /// Bytes of request/response body kept in audit previews (0 = off, the default).
    pub audit_preview_bytes: Option<usize>,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs). Default: none.
    pub trusted_proxies: Option<Vec<String>>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_seconds: Option<u64>,
    /// The gateway's public origin (`https://host[:port]`); Oracle's `links[].href` values
    /// are rewritten to it. Absent: links are left as Oracle wrote them.
    pub public_base_url: Option<String>,
    /// The string masked values are replaced with (default `****`).
    pub redaction_mask: Option<String>,
    /// Address for Prometheus `/metrics` (absent: no metrics listener).
    pub metrics_listen: Option<String>,
    /// Address of the admin API (absent: no admin API).
    pub admin_listen: Option<String>,
    /// Serve the operator portal under `/portal/` on the admin listener (default false).
    pub portal: Option<bool>,
    /// A portal session's absolute lifetime, hours (default 12, at most 24).
    pub portal_session_hours: Option<u64>,
    /// A portal session ends after this many idle minutes (default 30).
    pub portal_idle_minutes: Option<u64>,
    /// The portal's public origin when it is reached through a proxy (`https://ops.example.com`):
    /// its host is accepted besides the admin listener's own address.
    pub portal_origin: Option<String>,
    /// Auditors must use a second factor too (owners and admins always do; default false).
    pub portal_mfa_for_auditors: Option<bool>,
    /// OpenID Connect sign-in for the portal: the issuer (`https://…`, exactly as its tokens'
    /// `iss`).
    pub portal_oidc_issuer: Option<String>,
    /// The portal's client id at that issuer.
    pub portal_oidc_client_id: Option<String>,
    /// File holding the client secret (mode 600).
    pub portal_oidc_client_secret_file: Option<String>,
    /// The callback URL registered at the issuer (`…/portal/oidc/callback`).
    pub portal_oidc_redirect_uri: Option<String>,
    /// How a signed-in person is matched to a portal user: `subject` (default) or `email`
    /// (verified emails only).
    pub portal_oidc_match: Option<String>,
    /// PEM roots the issuer's certificate is checked against (required for `https`).
    pub portal_oidc_ca_file: Option<String>,
    /// The sign-in button's label (default "Sign in with single sign-on").
    pub portal_oidc_label: Option<String>,
    /// How long one read or write of a client's connection may stall, milliseconds.
    pub client_timeout_ms: Option<u64>,
    /// How long an idle keep-alive connection is kept for its next request, seconds.
    pub client_idle_timeout_seconds: Option<u64>,
    /// Unix socket the listening sockets are handed over on in a graceful upgrade
    /// (default: `erpgate-upgrade.sock` next to the database).
    pub upgrade_socket: Option<String>,
    /// How long `serve --upgrade` waits for the old process's sockets, seconds (default 30).
    pub upgrade_wait_seconds: Option<u64>,
    /// Upstream response headers removed although the allowlist passes them.
    pub strip_response_headers: Option<Vec<String>>,
    /// Upstream response headers passed besides the built-in allowlist.
    pub allow_response_headers: Option<Vec<String>>,
    /// Request headers that reach Oracle besides the built-in allowlist
    /// (`oracle::headers::DEFAULT_ALLOWED`), for every endpoint.
    pub allow_request_headers: Option<Vec<String>>,
    /// TLS on the public listener (absent: plain HTTP).
    pub tls: Option<TlsFile>,
    /// CA bundle (PEM) upstream certificates are verified with (absent: the system roots).
    pub upstream_ca_file: Option<String>,
    /// Lifetime of gateway tokens from `POST /gateway/token`, seconds (default 900).
    pub token_ttl_seconds: Option<u64>,
    /// Failed token requests (per credential or address) before a lockout (default 5).
    pub token_max_failures: Option<u32>,
    /// How long a lockout lasts, seconds (default 300).
    pub token_lockout_seconds: Option<u64>,
}

/// `[gateway.tls]`: TLS on the public listener.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Certificate chain (PEM, leaf first).
    pub cert_file: String,
    /// Private key (PEM).
    pub key_file: String,
    /// `"1.3"` (default) or `"1.2"`.
    pub min_version: Option<String>,
    /// Send `Strict-Transport-Security` (default true).
    pub hsts: Option<bool>,
    /// HSTS `max-age` (default one year).
    pub hsts_max_age_seconds: Option<u64>,
}

/// `[schedule]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    /// IANA timezone.
    pub timezone: String,
    /// Open windows.
    #[serde(default)]
    pub window: Vec<WindowFile>,
}

/// `[[schedule.window]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    /// `mon`..`sun` or `daily`.
    pub days: Vec<String>,
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM` (up to `24:00`).
    pub end: String,
}

/// `[tenants.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// `https://host[:port]`.
    pub upstream: String,
    /// How the gateway authenticates to Oracle.
    pub upstream_auth: UpstreamAuthFile,
    /// Redaction rules applied to every response of this tenant.
    #[serde(default)]
    pub redact: Vec<RedactFile>,
    /// Browser origins allowed to call this tenant's endpoints (CORS); exact origins only.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Oracle user tokens this tenant accepts (`Authorization: Bearer <Oracle JWT>`).
    pub inbound_jwt: Option<InboundJwtFile>,
    /// Oracle users arriving in a browser from Fusion (Page Integration).
    pub page_integration: Option<PageIntegrationFile>,
    /// The PKCS#11 token the tenant's signing key may live in.
    pub pkcs11: Option<Pkcs11File>,
    /// Query parameters Oracle's framework does not name: `"allow"` or `"refuse"` (absent:
    /// refused where the caller's responses are masked, allowed elsewhere).
    pub unknown_query_parameters: Option<String>,
}

/// `[tenants.NAME.pkcs11]`: the PKCS#11 module and the PIN of the token holding the tenant's
/// signing key (`tenant gen-key --pkcs11` / `import-key --pkcs11` put it there).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11File {
    /// The module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: String,
    /// A file holding the user PIN (one line).
    pub pin_file: Option<String>,
    /// An environment variable holding the user PIN.
    pub pin_env: Option<String>,
}

/// `[tenants.NAME.page_integration]`: the launch URL Oracle's Page Integration sends users
/// to (a Secure Destination), with the signed user token in a query parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageIntegrationFile {
    /// The path the destination URL names, e.g. `/launch/acme`.
    pub launch_path: String,
    /// The query parameter carrying the token, as named in the Secure Destination (default
    /// `jwt`).
    pub token_parameter: Option<String>,
    /// The gateway's origin as the browser sees it (`https://erpgate.example.com`).
    pub origin: String,
    /// Longest session in minutes (default 60); a session never outlives its launch token.
    pub session_max_minutes: Option<u64>,
    /// The `aud` the Secure Destination's launch tokens carry, when it differs from
    /// `inbound_jwt.audience`: launches then require it, and the Bearer path refuses tokens
    /// that carry it (a launch token is never an API credential).
    pub audience: Option<String>,
}

/// `[tenants.NAME.inbound_jwt]`: which Oracle-issued user tokens are trusted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundJwtFile {
    /// Accepted `iss` values (exact).
    pub issuers: Vec<String>,
    /// PEM certificate files (relative to the main file), each may hold several; a token's
    /// `kid` may name a file's stem.
    pub certificates: Vec<String>,
    /// Required `aud`: Fusion issues user tokens to many destinations, so one is required
    /// unless `audience_check = false` says otherwise.
    pub audience: Option<String>,
    /// `false` accepts tokens issued for any destination (no `aud` check; `check` warns).
    pub audience_check: Option<bool>,
    /// Allowed clock skew in seconds (default 60).
    pub clock_skew_seconds: Option<u64>,
    /// Longest token accepted in bytes (default 8192).
    pub max_token_bytes: Option<usize>,
    /// The claim holding role names, when tokens carry them.
    pub roles_claim: Option<String>,
}

/// `rate_limit = { per = "credential", requests_per_second = 5, burst = 10 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitFile {
    /// Whose bucket: `credential` (each credential set) or `account` (all of an account's).
    pub per: String,
    /// Sustained rate.
    pub requests_per_second: f64,
    /// Bucket size (default: one second's worth, at least 1).
    pub burst: Option<u32>,
}

/// One redaction rule: `{ path = "items[].BankAccountNumber", action = "last4" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactFile {
    /// JSON path (`a.b`, `items[].x`, `**.x`).
    pub path: String,
    /// `remove`, `mask` or `last4`.
    pub action: String,
}

/// `[tenants.NAME.upstream_auth]`.
#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpstreamAuthFile {
    /// Basic with a stored password.
    Basic {
        /// Default Oracle user.
        username: String,
        /// Stored secret name.
        secret: String,
    },
    /// A JWT assertion signed with the tenant key, naming the Oracle user.
    Jwt {
        /// The trusted-issuer name registered in Oracle's Security Console.
        issuer: String,
        /// The user asserted for accounts without `--oracle-user` (absent: such accounts are
        /// refused with `upstream.credential_missing`).
        username: Option<String>,
        /// `aud` claim, when Oracle is configured to require one.
        audience: Option<String>,
        /// Assertion lifetime in seconds (default 1800).
        lifetime_seconds: Option<u64>,
    },
    /// A bearer token from Oracle's token endpoint, obtained with a stored password.
    Token {
        /// The Oracle user the token is for.
        username: String,
        /// Stored secret name (that user's password).
        secret: String,
        /// Token endpoint path on the tenant's upstream (default `/fscmRestApi/tokenrelay`).
        token_path: Option<String>,
    },
    /// An upstream API key header.
    ApiKey {
        /// Header name (default `x-api-key`).
        header: Option<String>,
        /// Stored secret name.
        secret: String,
    },
}

/// `[[endpoint]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFile {
    /// Unique name.
    pub name: String,
    /// Path template.
    pub path: String,
    /// Methods Oracle serves there.
    pub methods: Vec<String>,
    /// Request headers that reach Oracle for this endpoint besides the allowlist.
    #[serde(default)]
    pub request_headers: Vec<String>,
    /// Oracle finders of this resource and the attributes each filters on
    /// (`finders = { SupplierByTaxRegistration = ["TaxRegistrationNumber"] }`): where values
    /// are masked, only declared finders run, and only when none of their attributes is
    /// masked.
    #[serde(default)]
    pub finders: BTreeMap<String, Vec<String>>,
    /// The endpoint is a batch root: each part of a request's body is admitted like a direct
    /// request before anything reaches Oracle.
    #[serde(default)]
    pub batch: bool,
}

/// `[[policy]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// `account:NAME`, `user:NAME`, `user:PREFIX*`, `role:NAME`.
    pub subjects: Vec<String>,
    /// Only for this tenant.
    pub tenant: Option<String>,
    /// Skip the schedule.
    #[serde(default)]
    pub schedule_exempt: bool,
    /// Redaction rules for responses this policy grants (added to the tenant's).
    #[serde(default)]
    pub redact: Vec<RedactFile>,
    /// A token-bucket limit on what this policy grants.
    pub rate_limit: Option<RateLimitFile>,
    /// The grants of this policy (`[[policy.grant]]`).
    #[serde(default)]
    pub rule: Vec<RuleFile>,
}

/// `[[policy.rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Name (default `rule-N`).
    pub name: Option<String>,
    /// Endpoint names or `prefix.*` globs.
    pub endpoints: Vec<String>,
    /// Methods granted.
    pub methods: Vec<String>,
    /// Governed request headers granted with them (`Upsert-Mode`, `Effective-Of`,
    /// `Metadata-Context`).
    #[serde(default)]
    pub headers: Vec<String>,
}
