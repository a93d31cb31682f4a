//! Prometheus metrics: per-request counters and histograms recorded in `logging`, and
//! state read at scrape time (audit queue, snapshot version, kill switch, caches).
//!
//! `erpgate_requests_total` is resolved once, at start, into a table indexed by reason. The
//! labelled series (`erpgate_http_requests_total` by tenant, endpoint, method, status class
//! and reason; the duration by tenant and endpoint; Oracle's answers by tenant and status)
//! take one label lookup each per request. Their cardinality is bounded by construction:
//! tenants and endpoints are configured names (never a raw path), methods and statuses fixed
//! sets, reasons the closed list of codes. Served on `gateway.metrics_listen` (see `serve.rs`), never on the relay
//! listener, and unaffected by the kill switch.

mod serve;

pub use serve::spawn as spawn_listener;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use crate::refusal::Reason;

/// Latency buckets in seconds: 50 µs to 30 s.
const BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0, 30.0,
];

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    relayed: IntCounter,
    failed: IntCounter,
    preflight: IntCounter,
    token_issued: IntCounter,
    denied: Vec<IntCounter>,
    gateway_seconds: Histogram,
    upstream_seconds: Histogram,
    auth_cache_hits: IntCounter,
    redacted_values: IntCounter,
    links_rewritten: IntCounter,
    bodies_unparsed: IntCounter,
    reloads_ok: IntCounter,
    reloads_refused: IntCounter,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    upstream_responses: IntCounterVec,
}

/// What one request contributes (plain values, so `logging` hands them over cheaply).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSample<'a> {
    /// The configured tenant, once known.
    pub tenant: Option<&'a str>,
    /// The catalog endpoint's name, once matched.
    pub endpoint: Option<&'a str>,
    /// The request method as received.
    pub method: &'a str,
    /// Status sent to the client.
    pub status: Option<u16>,
    /// Status Oracle answered.
    pub upstream_status: Option<u16>,
    /// Time from arrival to the end of the response, in microseconds.
    pub total_us: Option<u64>,
    /// `None`: relayed; `Some(reason)`: denied or failed with that reason.
    pub reason: Option<Reason>,
    /// Whether the request ended without a decision (a malformed request line, a client gone).
    pub failed: bool,
    /// A CORS preflight the gateway answered.
    pub preflight: bool,
    /// A gateway token issued by `POST /gateway/token`.
    pub token_issued: bool,
    /// Time spent deciding, in microseconds.
    pub gateway_us: Option<u64>,
    /// Time waiting for Oracle's response header, in microseconds.
    pub upstream_us: Option<u64>,
    /// The credential was confirmed from the cache.
    pub auth_cache_hit: bool,
    /// Values masked by redaction.
    pub redacted_values: u64,
    /// Links rewritten by redaction.
    pub links_rewritten: u64,
    /// The response body was under redaction rules, named none of them and went out unparsed
    /// (`redact::needles`).
    pub body_unparsed: bool,
}

fn reason_index(r: Reason) -> usize {
    Reason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

/// The method label: the standard methods, everything else `other`.
pub fn method_label(m: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN.iter().find(|k| **k == m).copied().unwrap_or("other")
}

/// The status-class label (`2xx` …), `none` when no response was sent.
pub fn status_class(s: Option<u16>) -> &'static str {
    match s {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "none",
    }
}

/// Oracle's status as a label: the codes worth alerting on by themselves (401 and 403: an
/// integration password expired or a role revoked at Oracle; 429: Oracle's throttling; …),
/// else the class.
pub fn upstream_status_label(s: u16) -> &'static str {
    match s {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        412 => "412",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => status_class(Some(other)),
    }
}

impl Metrics {
    /// Registers every metric. Fails only on a programming error (duplicate names).
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        // CPU seconds, resident memory, open and maximum file descriptors, threads, start time
        // (`process_*`, from /proc).
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let requests = IntCounterVec::new(
            Opts::new(
                "erpgate_requests_total",
                "Requests by decision (relayed, denied, failed, preflight, token_issued) and reason code.",
            ),
            &["decision", "reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let relayed = requests.get_metric_with_label_values(&["relayed", "none"])?;
        let failed = requests.get_metric_with_label_values(&["failed", "none"])?;
        let preflight = requests.get_metric_with_label_values(&["preflight", "none"])?;
        let token_issued = requests.get_metric_with_label_values(&["token_issued", "none"])?;
        let denied = Reason::ALL
            .iter()
            .map(|r| requests.get_metric_with_label_values(&["denied", r.code()]))
            .collect::<prometheus::Result<Vec<_>>>()?;
        let histogram = |name: &str, help: &str| -> prometheus::Result<Histogram> {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()))?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let reloads = IntCounterVec::new(
            Opts::new("erpgate_reloads_total", "Configuration reloads by result."),
            &["result"],
        )?;
        registry.register(Box::new(reloads.clone()))?;
        let build = prometheus::IntGaugeVec::new(
            Opts::new(
                "erpgate_build_info",
                "Always 1; the labels say which build serves (version, git commit).",
            ),
            &["version", "commit"],
        )?;
        registry.register(Box::new(build.clone()))?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "erpgate_http_requests_total",
                "Requests by tenant and catalog endpoint (\"-\" before either is known), method, status class sent and reason code (\"none\" when relayed).",
            ),
            &["tenant", "endpoint", "method", "status_class", "reason"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "erpgate_http_request_duration_seconds",
                "Time from a request's arrival to the end of its response, by tenant and catalog endpoint.",
            )
            .buckets(BUCKETS.to_vec()),
            &["tenant", "endpoint"],
        )?;
        registry.register(Box::new(http_duration.clone()))?;
        let upstream_responses = IntCounterVec::new(
            Opts::new(
                "erpgate_upstream_responses_total",
                "Oracle's answers by tenant and status (notable codes by themselves, others by class): alert on 401/403 for an expired integration password.",
            ),
            &["tenant", "status"],
        )?;
        registry.register(Box::new(upstream_responses.clone()))?;
        build
            .get_metric_with_label_values(&[env!("CARGO_PKG_VERSION"), env!("ERPGATE_COMMIT")])?
            .set(1);
        Ok(Metrics {
            relayed,
            failed,
            preflight,
            token_issued,
            denied,
            gateway_seconds: histogram(
                "erpgate_gateway_overhead_seconds",
                "Time from request arrival to the gateway's decision.",
            )?,
            upstream_seconds: histogram(
                "erpgate_upstream_seconds",
                "Time from sending upstream to Oracle's response header.",
            )?,
            auth_cache_hits: counter(
                "erpgate_auth_cache_hits_total",
                "Callers confirmed from a cache without argon2 or RSA (Basic, Oracle user tokens, gateway tokens).",
            )?,
            redacted_values: counter(
                "erpgate_redacted_values_total",
                "Response values masked or removed by redaction rules.",
            )?,
            links_rewritten: counter(
                "erpgate_links_rewritten_total",
                "Oracle links[].href values rewritten to the public base URL.",
            )?,
            bodies_unparsed: counter(
                "erpgate_redaction_bodies_unparsed_total",
                "Response bodies under redaction rules that named no rule's field, no rewritten origin and no escape, and went out unparsed.",
            )?,
            reloads_ok: reloads.get_metric_with_label_values(&["ok"])?,
            reloads_refused: reloads.get_metric_with_label_values(&["refused"])?,
            http_requests,
            http_duration,
            upstream_responses,
            registry,
        })
    }

    /// Records one finished request.
    pub fn record(&self, s: &RequestSample<'_>) {
        let tenant = s.tenant.unwrap_or("-");
        let endpoint = s.endpoint.unwrap_or("-");
        let reason = s.reason.map_or("none", Reason::code);
        self.http_requests
            .with_label_values(&[
                tenant,
                endpoint,
                method_label(s.method),
                status_class(s.status),
                reason,
            ])
            .inc();
        if let Some(us) = s.total_us {
            self.http_duration
                .with_label_values(&[tenant, endpoint])
                .observe(us as f64 / 1e6);
        }
        if let Some(up) = s.upstream_status {
            self.upstream_responses
                .with_label_values(&[tenant, upstream_status_label(up)])
                .inc();
        }
        match (s.reason, s.failed) {
            _ if s.preflight => self.preflight.inc(),
            _ if s.token_issued => self.token_issued.inc(),
            (Some(r), _) => {
                if let Some(c) = self.denied.get(reason_index(r)) {
                    c.inc();
                }
            }
            (None, true) => self.failed.inc(),
            (None, false) => self.relayed.inc(),
        }
        if let Some(us) = s.gateway_us {
            self.gateway_seconds.observe(us as f64 / 1e6);
        }
        if let Some(us) = s.upstream_us {
            self.upstream_seconds.observe(us as f64 / 1e6);
        }
        if s.auth_cache_hit {
            self.auth_cache_hits.inc();
        }
        if s.redacted_values > 0 {
            self.redacted_values.inc_by(s.redacted_values);
        }
        if s.body_unparsed {
            self.bodies_unparsed.inc();
        }
        if s.links_rewritten > 0 {
            self.links_rewritten.inc_by(s.links_rewritten);
        }
    }

    /// Records a reload's outcome.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.inc();
        } else {
            self.reloads_refused.inc();
        }
    }

    /// The exposition text: the registry plus the state read now (`state`, gathered by the
    /// caller from the running gateway).
    pub fn render(&self, state: &State) -> String {
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        let mut out = String::from_utf8(buf).unwrap_or_default();
        let rows: [(&str, &str, &str, u64); 16] = [
            ("erpgate_audit_queue_depth", "gauge", "Audit records queued or reserved, not yet written.", state.audit_queue_depth),
            ("erpgate_audit_records_written_total", "counter", "Audit records committed.", state.audit_written),
            ("erpgate_audit_write_errors_total", "counter", "Failed audit write attempts.", state.audit_write_errors),
            ("erpgate_audit_refused_total", "counter", "Requests refused because the audit trail could not take their record.", state.audit_refused),
            ("erpgate_auth_cache_misses_total", "counter", "argon2 verifications run (verified-credential cache misses).", state.auth_verifications),
            ("erpgate_auth_cache_entries", "gauge", "Entries in the verified-credential cache.", state.auth_cache_entries),
            ("erpgate_jwt_inbound_verifications_total", "counter", "Oracle user token signatures verified (verified-token cache misses).", state.jwt_verifications),
            ("erpgate_jwt_assertions_signed_total", "counter", "Upstream JWT assertions signed (assertion cache misses).", state.assertions_signed),
            ("erpgate_jwt_assertion_cache_hits_total", "counter", "Upstream JWT assertions served from the cache.", state.assertion_cache_hits),
            ("erpgate_upstream_token_fetches_total", "counter", "Calls to a tenant's token endpoint (upstream auth mode token).", state.upstream_token_fetches),
            ("erpgate_snapshot_version", "gauge", "Version of the configuration snapshot serving (1 at start, +1 per successful reload).", state.snapshot_version),
            ("erpgate_killswitch", "gauge", "1 while the kill switch is on.", u64::from(state.killswitch)),
            ("erpgate_audit_batches_total", "counter", "Audit batches committed (one transaction each).", state.audit_batches),
            ("erpgate_store_view_age_milliseconds", "gauge", "Since the access state was last confirmed against the store (polls keep it below store_poll_interval_ms; past store_staleness_seconds a node on PostgreSQL refuses).", state.store_view_age_ms),
            ("erpgate_store_nodes", "gauge", "Gateways on this store with a recent heartbeat (this one included).", state.store_nodes),
            ("erpgate_store_snapshots", "gauge", "Distinct configuration snapshots the live gateways on this store serve (more than 1: they answer by different rules).", state.store_snapshots),
        ];
        for (name, kind, help, value) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        if let Some([exported, dropped, failed]) = state.trace_spans {
            out.push_str(&format!(
                "# HELP erpgate_trace_spans_total Request spans by fate: exported to the OTLP collector, dropped (export queue full) or failed (the collector refused or could not be reached).\n# TYPE erpgate_trace_spans_total counter\nerpgate_trace_spans_total{{result=\"exported\"}} {exported}\nerpgate_trace_spans_total{{result=\"dropped\"}} {dropped}\nerpgate_trace_spans_total{{result=\"failed\"}} {failed}\n"
            ));
        }
        let seconds = state.audit_write_micros as f64 / 1e6;
        out.push_str(&format!(
            "# HELP erpgate_audit_write_seconds_total Time spent committing audit batches (divide by erpgate_audit_batches_total for the mean write latency).\n# TYPE erpgate_audit_write_seconds_total counter\nerpgate_audit_write_seconds_total {seconds}\n"
        ));
        out
    }
}

/// The gateway's state at scrape time, rendered after the registry's counters (plain values,
/// read by `App::metrics_state`).
#[derive(Clone, Copy, Debug, Default)]
pub struct State {
    /// Audit records queued or reserved, not yet written.
    pub audit_queue_depth: u64,
    /// Audit records committed.
    pub audit_written: u64,
    /// Failed audit write attempts.
    pub audit_write_errors: u64,
    /// Requests refused because the audit trail could not take their record.
    pub audit_refused: u64,
    /// argon2 verifications run.
    pub auth_verifications: u64,
    /// Entries in the verified-credential cache.
    pub auth_cache_entries: u64,
    /// Oracle user token signatures verified.
    pub jwt_verifications: u64,
    /// Upstream JWT assertions signed.
    pub assertions_signed: u64,
    /// Upstream JWT assertions served from the cache.
    pub assertion_cache_hits: u64,
    /// Calls to a tenant's token endpoint.
    pub upstream_token_fetches: u64,
    /// Version of the configuration snapshot serving.
    pub snapshot_version: u64,
    /// Whether the kill switch is on.
    pub killswitch: bool,
    /// Audit batches committed.
    pub audit_batches: u64,
    /// Time spent committing audit batches, µs.
    pub audit_write_micros: u64,
    /// Since the directory view was last confirmed, ms.
    pub store_view_age_ms: u64,
    /// Live gateways on the store.
    pub store_nodes: u64,
    /// Distinct snapshots the live gateways serve.
    pub store_snapshots: u64,
    /// Spans exported, dropped (queue full) and failed (export error), when spans are
    /// exported.
    pub trace_spans: Option<[u64; 3]>,
}
