//! The running gateway's shared state: the compiled configuration (swapped on reload), the
//! directory view (swapped by the store poller), the authenticator and the resolved upstream
//! addresses. Built once by `serve` (and by tests and benches), shared by every request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use http::HeaderName;

pub mod poll_hook;
pub mod shared_failures;

use crate::audit::AuditSink;
use crate::auth::{AuthSettings, Authenticator};
use crate::config::ConfigError;
use crate::crypto::{MasterKey, PasswordHasher, TenantCipher};
use crate::directory::{DirectoryHandle, DirectoryView};
use crate::ids::RequestIds;
use crate::snapshot::{Snapshot, Tenant, TenantId, UpstreamAuth};
use crate::upstream::peer::{self, Resolved};

/// What the request path needs per tenant beyond the config: its key and address-table key.
pub struct TenantRuntime {
    /// AES-256-GCM key derived for this tenant.
    pub cipher: TenantCipher,
    /// Key into the resolved-address table.
    pub addr_key: String,
    /// The tenant's upstream credential header when it is not `Authorization` (stripped from
    /// client requests so a client can never supply it).
    pub credential_header: Option<HeaderName>,
}

/// A configuration snapshot plus what was derived from it. Immutable; swapped whole.
pub struct Compiled {
    /// The validated, compiled configuration.
    pub snapshot: Snapshot,
    /// Per-tenant runtime data, indexed by `TenantId`.
    pub tenants: Vec<TenantRuntime>,
    /// (tenant index, trust) of every tenant accepting Oracle user tokens.
    pub inbound: Vec<(usize, crate::jwt::inbound::InboundTrust)>,
}

impl Compiled {
    /// Derives the per-tenant runtime data for `snapshot`.
    pub fn new(snapshot: Snapshot, master: &MasterKey) -> Compiled {
        let tenants = snapshot
            .tenants
            .iter()
            .map(|t| TenantRuntime {
                cipher: master.tenant_cipher(&t.name),
                addr_key: peer::key(&t.upstream.host, t.upstream.port),
                credential_header: match &t.auth {
                    UpstreamAuth::ApiKey { header, .. } => Some(header.clone()),
                    UpstreamAuth::Basic { .. }
                    | UpstreamAuth::Jwt { .. }
                    | UpstreamAuth::Token { .. } => None,
                },
            })
            .collect();
        let inbound = snapshot
            .tenants
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.inbound.clone().map(|trust| (i, trust)))
            .collect();
        Compiled {
            snapshot,
            tenants,
            inbound,
        }
    }

    /// Tenant `id`'s configuration and runtime data: the one lookup by [`TenantId`].
    pub fn tenant(&self, id: TenantId) -> Option<(&Tenant, &TenantRuntime)> {
        let i = id.0 as usize;
        Some((self.snapshot.tenants.get(i)?, self.tenants.get(i)?))
    }

    /// The runtime data of tenant `id`.
    pub fn tenant_runtime(&self, id: TenantId) -> Option<&TenantRuntime> {
        self.tenant(id).map(|(_, rt)| rt)
    }

    /// The `(host, port)` of every tenant's upstream, for resolution.
    pub fn upstream_targets(&self) -> Vec<(String, u16)> {
        self.snapshot
            .tenants
            .iter()
            .map(|t| (t.upstream.host.clone(), t.upstream.port))
            .collect()
    }
}

/// Most signed upstream assertions kept (one per tenant and Oracle user).
const ASSERTION_CACHE_CAPACITY: usize = 10_000;

/// The gateway's shared state.
pub struct App {
    config_path: PathBuf,
    master: MasterKey,
    /// Held by a reload from reading the current version to publishing the next snapshot.
    reloading: Mutex<()>,
    /// Current configuration: everything a reload changes (the version, rate limits, lockout
    /// settings, …) is in it, so one swap changes all of it at once.
    pub compiled: ArcSwap<Compiled>,
    /// Current access state from the store.
    pub directory: DirectoryHandle,
    /// Credential verification and its cache.
    pub auth: Authenticator,
    /// Resolved upstream addresses.
    pub resolved: Arc<Resolved>,
    /// Request id generator.
    pub ids: RequestIds,
    /// The audit queue.
    pub audit: AuditSink,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Rate-limit buckets.
    pub limiter: crate::policy::ratelimit::Limiter,
    /// Signed upstream assertions (tenants in `jwt` mode).
    pub assertions: crate::jwt::assertion::AssertionCache,
    /// Upstream bearer tokens (tenants in `token` mode).
    pub upstream_tokens: crate::upstream::token_mode::UpstreamTokens,
    /// When the directory view was last confirmed against the store (the poller's).
    pub freshness: Arc<crate::directory::freshness::Freshness>,
    /// The other gateways on the store, as the heartbeat last read them.
    pub cluster: Arc<crate::directory::cluster::Cluster>,
    /// Span export (`gateway.otlp_traces_endpoint`; None: off).
    pub spans: Option<crate::telemetry::otlp::Exporter>,
    /// Browser sessions of Oracle users (Page Integration).
    pub browser: crate::session::browser::BrowserSessions,
    /// The store connection the relay writes through (gateway tokens, browser sessions;
    /// opened on first use).
    token_store: Arc<std::sync::Mutex<Option<crate::store::Store>>>,
}

impl App {
    /// Builds the state from a loaded snapshot, the master key and the initial directory view.
    /// Fails only if the metrics cannot be registered.
    pub fn new(
        config_path: &Path,
        snapshot: Snapshot,
        master: MasterKey,
        view: DirectoryView,
        passwords: PasswordHasher,
        auth_settings: &AuthSettings,
        audit: AuditSink,
    ) -> Result<App, String> {
        let metrics =
            crate::metrics::Metrics::new().map_err(|e| format!("cannot register metrics: {e}"))?;
        let compiled = Compiled::new(snapshot, &master);
        let resolved = Arc::new(Resolved::default());
        let allow = compiled.snapshot.gateway.dangerous_allow_insecure_upstream;
        for e in resolved.refresh(&compiled.upstream_targets(), allow) {
            tracing::error!(error = %e, "upstream unusable; requests for its tenant will fail with upstream.unavailable");
        }
        let auth = Authenticator::new(
            master.keyed_hasher(crate::crypto::HashPurpose::ApiKey),
            master.keyed_hasher(crate::crypto::HashPurpose::CredentialCache),
            master.keyed_hasher(crate::crypto::HashPurpose::InboundJwt),
            master.keyed_hasher(crate::crypto::HashPurpose::GatewayToken),
            master.keyed_hasher(crate::crypto::HashPurpose::Lockout),
            passwords,
            auth_settings,
        );
        let spans = match &compiled.snapshot.gateway.otlp {
            None => None,
            Some(o) => {
                let node =
                    Some(compiled.snapshot.gateway.node_id.clone()).filter(|n| !n.is_empty());
                let exporter = crate::telemetry::otlp::Exporter::start(
                    o.endpoint.clone(),
                    o.service_name.clone(),
                    node,
                )
                .map_err(|e| format!("cannot start the trace exporter: {e}"))?;
                Some(exporter)
            }
        };
        let browser = crate::session::browser::BrowserSessions::new(
            master.keyed_hasher(crate::crypto::HashPurpose::BrowserSession),
            master.keyed_hasher(crate::crypto::HashPurpose::LaunchToken),
        );
        Ok(App {
            browser,
            spans,
            config_path: config_path.to_path_buf(),
            master,
            reloading: Mutex::new(()),
            compiled: ArcSwap::from_pointee(compiled),
            directory: crate::directory::handle(view),
            auth,
            resolved,
            ids: RequestIds::new(),
            audit,
            metrics,
            limiter: crate::policy::ratelimit::Limiter::default(),
            assertions: crate::jwt::assertion::AssertionCache::new(ASSERTION_CACHE_CAPACITY),
            token_store: Arc::default(),
            freshness: Arc::default(),
            cluster: Arc::default(),
            upstream_tokens: crate::upstream::token_mode::UpstreamTokens::default(),
        })
    }

    /// Plugs in the client that calls tenants' token endpoints (upstream auth mode `token`);
    /// without one, token fetches fail closed (`upstream.unavailable`).
    pub fn with_token_endpoint(
        mut self,
        endpoint: Arc<dyn crate::upstream::token_mode::TokenEndpoint>,
    ) -> App {
        self.upstream_tokens = crate::upstream::token_mode::UpstreamTokens::new(endpoint);
        self
    }

    /// Writes an issued gateway token's row (keyed hash, never the token) to the store, off
    /// the async workers.
    pub async fn store_token(&self, token: &crate::store::StoredToken) -> Result<(), String> {
        let token = token.clone();
        self.store_write(move |store| store.insert_token(&token))
            .await
    }

    /// Runs `write` on the relay's own store connection, off the request path's threads
    /// (opened on first use, reopened after a failure). Errors are the store's text.
    pub async fn store_write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let db = self.compiled.load().snapshot.gateway.database.clone();
        let slot = self.token_store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = slot
                .lock()
                .map_err(|_| "store connection lock poisoned".to_string())?;
            if guard.is_none() {
                *guard = Some(crate::store::Store::connect(&db).map_err(|e| e.to_string())?);
            }
            let store = guard.as_ref().ok_or("no store")?;
            let result = write(store).map_err(|e| e.to_string());
            if result.is_err() {
                // Reopen next time: the connection may be what failed.
                *guard = None;
            }
            result
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// The state `/metrics` shows besides the registry's counters, read now.
    pub fn metrics_state(&self) -> crate::metrics::State {
        let stats = self.audit.stats();
        let (nodes, snapshots) = self.cluster.summary(crate::directory::cluster::unix_ms());
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        crate::metrics::State {
            audit_queue_depth: self.audit.depth() as u64,
            audit_written: load(&stats.written),
            audit_write_errors: load(&stats.write_errors),
            audit_refused: load(&stats.refused),
            auth_verifications: self.auth.verifications(),
            auth_cache_entries: self.auth.cache_len() as u64,
            jwt_verifications: self.auth.jwt_verifications(),
            assertions_signed: self.assertions.signings(),
            assertion_cache_hits: self.assertions.hits(),
            upstream_token_fetches: self.upstream_tokens.fetches(),
            snapshot_version: self.compiled.load().snapshot.version,
            killswitch: self.directory.load().killswitch(),
            audit_batches: load(&stats.batches),
            audit_write_micros: load(&stats.write_micros),
            store_view_age_ms: u64::try_from(self.freshness.age().as_millis()).unwrap_or(u64::MAX),
            store_nodes: nodes as u64,
            store_snapshots: snapshots as u64,
            trace_spans: self.spans.as_ref().map(|s| {
                [
                    load(&s.stats.exported),
                    load(&s.stats.dropped),
                    load(&s.stats.failed),
                ]
            }),
        }
    }

    /// The `/metrics` exposition text.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&self.metrics_state())
    }

    /// The master key (for deriving keys in other components, never for the request path).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The main configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Re-reads, validates and compiles the configuration and swaps it in atomically
    /// (requests in flight finish on the snapshot they started with). On any error, including
    /// a change to a setting that needs a restart, the current configuration keeps serving.
    /// Returns the new version.
    ///
    /// Reloads are serialised (a SIGHUP and an admin `POST /reload` at the same moment run one
    /// after the other): each reads the serving version, compiles and publishes under one
    /// lock, so every published snapshot has its own version, one more than the one it
    /// replaced. Nothing outside the swapped [`Compiled`] changes: counters kept across
    /// reloads (rate-limit buckets, lockouts) read their settings from the snapshot their
    /// request runs under.
    pub fn reload(&self) -> Result<u64, ConfigError> {
        // The lock guards no data, only the sequence: a panicked reload left nothing half-done.
        let _one_at_a_time = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let serving = self.compiled.load_full();
        let version = serving.snapshot.version + 1;
        let snapshot = Snapshot::load(&self.config_path, version)?;
        let changed = restart_only_changes(&serving.snapshot.gateway, &snapshot.gateway);
        if !changed.is_empty() {
            return Err(ConfigError {
                problems: changed
                    .iter()
                    .map(|k| format!("gateway.{k}: changed, and only takes effect on restart; reload refused (restart, or put it back)"))
                    .collect(),
            });
        }
        let compiled = Compiled::new(snapshot, &self.master);
        let allow = compiled.snapshot.gateway.dangerous_allow_insecure_upstream;
        for e in self.resolved.refresh(&compiled.upstream_targets(), allow) {
            tracing::error!(error = %e, "upstream unusable after reload");
        }
        self.compiled.store(Arc::new(compiled));
        Ok(version)
    }
}

/// The `[gateway]` settings a running process cannot change (listener, threads, files, the
/// audit queue and the background loops started at boot) that differ between `old` and `new`.
pub fn restart_only_changes(
    old: &crate::snapshot::GatewaySettings,
    new: &crate::snapshot::GatewaySettings,
) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut check = |same: bool, key: &'static str| {
        if !same {
            v.push(key);
        }
    };
    check(old.listen == new.listen, "listen");
    check(old.admin_listen == new.admin_listen, "admin_listen");
    check(old.portal.is_some() == new.portal.is_some(), "portal");
    check(old.threads == new.threads, "threads");
    check(old.database == new.database, "database");
    check(old.app_key_file == new.app_key_file, "app_key_file");
    check(
        old.audit_queue_capacity == new.audit_queue_capacity,
        "audit_queue_capacity",
    );
    check(old.audit_linger == new.audit_linger, "audit_linger_ms");
    check(
        old.audit_retention_days == new.audit_retention_days,
        "audit_retention_days",
    );
    check(
        old.store_poll_interval == new.store_poll_interval,
        "store_poll_interval_ms",
    );
    check(
        old.shutdown_grace == new.shutdown_grace,
        "shutdown_grace_seconds",
    );
    check(old.metrics_listen == new.metrics_listen, "metrics_listen");
    // The export thread is started with the process.
    check(
        old.otlp == new.otlp,
        "otlp_traces_endpoint / otlp_service_name",
    );
    // A node's audit chain is its identity, and the audit writer's tolerance of a lost store
    // is set when it starts.
    check(old.node_id == new.node_id, "node_id");
    check(
        old.store_staleness == new.store_staleness,
        "store_staleness_seconds",
    );
    // Certificate files, min_version and HSTS reload; turning TLS on or off does not.
    check(old.tls.is_some() == new.tls.is_some(), "tls");
    check(
        old.upstream_ca_file == new.upstream_ca_file,
        "upstream_ca_file",
    );
    check(old.upgrade_socket == new.upgrade_socket, "upgrade_socket");
    check(
        old.upgrade_wait_seconds == new.upgrade_wait_seconds,
        "upgrade_wait_seconds",
    );
    v
}

#[cfg(test)]
pub(crate) mod tests;
