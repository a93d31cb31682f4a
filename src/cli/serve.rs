//! `erpgate serve`: run the gateway.
//!
//! Start-up refuses, with a message that says what to do, when the configuration is invalid,
//! the master key is missing or malformed, or the database schema is not exactly current.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};

use crate::app::App;
use crate::auth::AuthSettings;
use crate::crypto::{MasterKey, PasswordHasher};
use crate::directory::poller::Poller;
use crate::directory::DirectoryView;
use crate::gateway::front::InFlight;
use crate::gateway::Gateway;
use crate::snapshot::Snapshot;

use super::{CliError, CliResult};

/// Runs `erpgate serve`.
pub fn run(config: &Path, upgrade: bool, pid_file: Option<&Path>) -> CliResult {
    let snapshot = super::load_config(config)?;
    let master = super::load_master(&snapshot)?;
    serve(
        config,
        snapshot,
        master,
        PasswordHasher::default(),
        upgrade,
        pid_file,
    )
}

/// Writes this process's id to `path` (through a temporary file and a rename, so a reader
/// never sees half a number).
fn write_pid_file(path: &Path) -> CliResult {
    let pid = std::process::id();
    let tmp = path.with_extension(format!("tmp.{pid}"));
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            super::failed(format_args!(
                "cannot write the pid file {}: {e}",
                path.display()
            ))
        })
}

/// Removes the pid file if it still names this process (after an upgrade it names the new
/// one, which keeps it).
fn remove_pid_file(path: &Path) {
    let ours =
        std::fs::read_to_string(path).is_ok_and(|s| s.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Builds the shared state from an already validated snapshot (used by `serve` and `demo`).
pub fn build_app(
    config: &Path,
    snapshot: Snapshot,
    master: MasterKey,
    passwords: PasswordHasher,
    audit: crate::audit::AuditSink,
) -> Result<App, CliError> {
    let store = super::open_store(&snapshot, config)?;
    let dir = store
        .load_directory()
        .map_err(|e| super::failed(format_args!("cannot read the database: {e}")))?;
    let token_client = Arc::new(crate::gateway::token_client::TokenClient::new(
        snapshot.gateway.upstream_ca_file.as_deref(),
    ));
    let app = App::new(
        config,
        snapshot,
        master,
        DirectoryView::build(dir),
        passwords,
        &AuthSettings::default(),
        audit,
    )?;
    Ok(app.with_token_endpoint(token_client))
}

/// Runs the gateway until a shutdown signal (SIGTERM, or SIGQUIT for a graceful upgrade),
/// then drains the audit queue. With `upgrade`, the public listener is taken over from the
/// running process instead of bound.
pub fn serve(
    config: &Path,
    snapshot: Snapshot,
    master: MasterKey,
    passwords: PasswordHasher,
    upgrade: bool,
    pid_file: Option<&Path>,
) -> CliResult {
    let gw = snapshot.gateway.clone();
    // Fail early and clearly if a port is taken (Pingora would panic later). An upgrade
    // receives the ports from the old process instead.
    if !upgrade {
        std::net::TcpListener::bind(gw.listen)
            .map_err(|e| super::failed(format_args!("cannot listen on {}: {e}", gw.listen)))?;
        // The side listeners too (checked again right before they are bound).
        side_ports_free(&gw, false)?;
    }
    // Refuse before starting anything if the schema is wrong.
    super::open_store(&snapshot, config)?;
    let (sink, writer) = crate::audit::writer::start(
        gw.database.clone(),
        &gw.node_id,
        master.audit_key(),
        gw.audit_queue_capacity,
        gw.audit_linger,
    )
    .map_err(|e| super::failed(format_args!("cannot start the audit writer: {e}")))?;
    if matches!(gw.database, crate::store::Database::Postgres(_)) {
        sink.tolerate_failures_for(gw.store_staleness);
    }
    let app = Arc::new(build_app(config, snapshot, master, passwords, sink)?);
    let shared_store = matches!(gw.database, crate::store::Database::Postgres(_));
    if shared_store {
        let shared = crate::app::shared_failures::StoreFailures::new(gw.database.clone());
        let _ = app.auth.shared.set(Arc::new(shared));
    }
    let poller = Poller::start(
        gw.database.clone(),
        app.directory.clone(),
        app.freshness.clone(),
        gw.store_poll_interval,
        Some(opener(app.clone())),
        Some(crate::app::poll_hook::hook(
            app.clone(),
            &gw.node_id,
            shared_store,
        )),
    )
    .map_err(|e| super::failed(format_args!("cannot start the store poller: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    start_background(&app, &gw, &stop, upgrade)?;
    let (server, in_flight) = pingora_server(&app, &gw, upgrade)?;
    if let Some(p) = pid_file {
        write_pid_file(p)?;
    }
    let finish = Arc::new(Mutex::new(Some(Finish {
        app: app.clone(),
        stop,
        poller,
        writer,
        pid_file: pid_file.map(Path::to_path_buf),
    })));
    if let Err(e) = spawn_early_exit(
        server.watch_execution_phase(),
        in_flight,
        gw.shutdown_grace,
        finish.clone(),
    ) {
        // Not fatal: Pingora's own shutdown still ends the process, after the whole grace.
        tracing::warn!(error = %e, "cannot watch for an early end of the shutdown grace");
    }
    server.run(RunArgs::default());

    // The grace period ran out with requests still in flight (an early end exits in the watcher
    // and never returns here; while it is finishing, this lock waits for it).
    if let Some(f) = finish.lock().ok().and_then(|mut f| f.take()) {
        f.run();
    }
    Ok(())
}

/// Refuses when the admin or metrics port is taken: a side listener is shared only with the
/// process an upgrade takes over from (`upgrade`), so a second erpgate cannot silently share it.
fn side_ports_free(gw: &crate::snapshot::GatewaySettings, upgrade: bool) -> CliResult {
    if upgrade {
        return Ok(());
    }
    let side = [
        (gw.admin_listen, "the admin API"),
        (gw.metrics_listen, "metrics"),
    ];
    for (addr, what) in side.into_iter().filter_map(|(a, w)| a.map(|a| (a, w))) {
        crate::listen::ensure_free(addr).map_err(|e| {
            super::failed(format_args!(
                "cannot serve {what} on {addr}: {e} (another process listens there; only `serve --upgrade` takes a running erpgate's ports over)"
            ))
        })?;
    }
    Ok(())
}

/// Starts what runs beside the relay until `stop`: the upstream resolver, the SIGHUP reloader,
/// the admin API and metrics listeners, audit retention.
fn start_background(
    app: &Arc<App>,
    gw: &crate::snapshot::GatewaySettings,
    stop: &Arc<AtomicBool>,
    upgrade: bool,
) -> CliResult {
    let refresher_app = app.clone();
    crate::upstream::peer::spawn_refresher(
        app.resolved.clone(),
        move || {
            let c = refresher_app.compiled.load();
            (
                c.upstream_targets(),
                c.snapshot.gateway.dangerous_allow_insecure_upstream,
            )
        },
        stop.clone(),
    )
    .map_err(|e| super::failed(format_args!("cannot start the upstream resolver: {e}")))?;
    spawn_reloader(app.clone(), stop.clone())
        .map_err(|e| super::failed(format_args!("cannot watch SIGHUP: {e}")))?;
    // Checked again right before binding: the port may have been taken since start-up.
    side_ports_free(gw, upgrade)?;
    if let Some(addr) = gw.admin_listen {
        crate::admin::spawn(addr, app.clone(), stop.clone()).map_err(|e| {
            super::failed(format_args!("cannot serve the admin API on {addr}: {e}"))
        })?;
        tracing::info!(%addr, "admin API listening");
    }
    if let Some(addr) = gw.metrics_listen {
        let scraped = app.clone();
        let render = move || scraped.render_metrics();
        crate::metrics::spawn_listener(addr, render, stop.clone())
            .map_err(|e| super::failed(format_args!("cannot serve metrics on {addr}: {e}")))?;
        tracing::info!(%addr, "metrics at /metrics");
    }
    if let Some(days) = gw.audit_retention_days {
        spawn_retention(
            gw.database.clone(),
            app.master().audit_key(),
            days,
            stop.clone(),
        );
    }
    Ok(())
}

/// The Pingora server with the public listener: the front (strict head check, erpgate's
/// refusals) handing every head that passed to Pingora's proxy running the relay.
fn pingora_server(
    app: &Arc<App>,
    gw: &crate::snapshot::GatewaySettings,
    upgrade: bool,
) -> Result<(Server, InFlight), CliError> {
    let conf = ServerConf {
        threads: gw.threads,
        ca_file: gw
            .upstream_ca_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        grace_period_seconds: Some(gw.shutdown_grace.as_secs()),
        upgrade_sock: gw.upgrade_socket.to_string_lossy().into_owned(),
        upgrade_sock_connect_accept_max_retries: Some(gw.upgrade_wait_seconds as usize),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    if upgrade {
        tracing::info!(socket = %gw.upgrade_socket.display(), wait_seconds = gw.upgrade_wait_seconds,
            "waiting for the running erpgate's sockets: send it SIGQUIT");
    }
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    server.bootstrap();
    let relay = pingora::proxy::http_proxy(&server.configuration, Gateway::new(app.clone()));
    let in_flight = InFlight::default();
    let mut proxy = pingora::services::listening::Service::new(
        "erpgate relay".to_string(),
        crate::gateway::front::Front::new(relay, app.clone(), in_flight.clone()),
    );
    match &gw.tls {
        None => proxy.add_listener(crate::gateway::listener::relay(
            &gw.listen.to_string(),
            None,
        )),
        Some(tls) => {
            let settings = crate::gateway::tls::listener_settings(app.clone())
                .map_err(|e| super::failed(format_args!("cannot set up TLS: {e}")))?;
            proxy.add_listener(crate::gateway::listener::relay(
                &gw.listen.to_string(),
                Some(settings),
            ));
            proxy.endpoints().set_pre_tls_callback(Arc::new(
                crate::gateway::listener::HandshakeStamp(in_flight.clone()),
            ));
            tracing::info!(
                cert = %tls.cert_file.display(),
                not_after = %tls.not_after,
                tls13_only = tls.tls13_only,
                hsts = tls.hsts.is_some(),
                "TLS on the public listener"
            );
        }
    }
    server.add_service(proxy);
    let c = app.compiled.load();
    tracing::info!(
        listen = %gw.listen,
        version = c.snapshot.version,
        hash = %c.snapshot.hash,
        tenants = c.snapshot.tenants.len(),
        endpoints = c.snapshot.catalog.len(),
        "erpgate serving"
    );
    tracing::info!("allocator settings: {}", crate::allocator::in_force());
    tracing::info!(
        schedule = %c.snapshot.schedule.describe(),
        "access schedule: {}",
        c.snapshot.schedule.status(chrono::Utc::now())
    );
    for w in &c.snapshot.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
    if gw.dangerous_allow_insecure_upstream {
        tracing::warn!("gateway.dangerous_allow_insecure_upstream is ON: plain-HTTP and private upstreams are allowed. Never use this in production.");
    }
    Ok((server, in_flight))
}

/// What is left to do once Pingora has stopped accepting and nothing is in flight: drain the
/// audit queue (every record of every answered request is queued by then) and stop the threads.
struct Finish {
    app: Arc<App>,
    stop: Arc<AtomicBool>,
    poller: Poller,
    writer: crate::audit::writer::AuditWriter,
    pid_file: Option<std::path::PathBuf>,
}

impl Finish {
    fn run(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = &self.pid_file {
            remove_pid_file(p);
        }
        self.poller.stop();
        let written = self.writer.shutdown(Duration::from_secs(30));
        let refused = self.app.audit.stats().refused.load(Ordering::Relaxed);
        tracing::info!(
            audit_records_written = written,
            audit_refusals = refused,
            "erpgate stopped"
        );
    }
}

/// Pingora sleeps out the whole `shutdown_grace_seconds` after a SIGTERM or a graceful upgrade,
/// even with nothing in flight (`pingora-core` `server/mod.rs`, `run`: `thread::sleep` of the
/// grace period, no hook). This watcher ends the process as soon as the grace period has begun
/// and nothing has been under way ([`InFlight::idle`]: no request, no accepted connection
/// waiting for its first one, no TLS handshake begun in the last 2 s) for three checks in a
/// row (60 ms), after the same finishing steps; when the grace runs out first, it leaves the
/// end to Pingora.
fn spawn_early_exit(
    mut phases: tokio::sync::broadcast::Receiver<pingora::server::ExecutionPhase>,
    in_flight: InFlight,
    grace: Duration,
    finish: Arc<Mutex<Option<Finish>>>,
) -> std::io::Result<()> {
    use pingora::server::ExecutionPhase;
    use tokio::sync::broadcast::error::RecvError;
    std::thread::Builder::new()
        .name("erpgate-drain".into())
        .spawn(move || {
            loop {
                match phases.blocking_recv() {
                    Ok(ExecutionPhase::ShutdownGracePeriod) => break,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
            }
            let deadline = std::time::Instant::now() + grace;
            let mut quiet = 0;
            while quiet < 3 {
                if std::time::Instant::now() >= deadline {
                    return;
                }
                quiet = if in_flight.idle() { quiet + 1 } else { 0 };
                std::thread::sleep(Duration::from_millis(20));
            }
            tracing::info!("nothing under way: ending the shutdown grace early");
            let Ok(mut slot) = finish.lock() else { return };
            if let Some(f) = slot.take() {
                f.run();
                std::process::exit(0);
            }
        })?;
    Ok(())
}

/// Whether a sealed value opens under this process's keys, with the tenant's current
/// configuration (its upstream host is part of the seal). For the store poller: a value
/// re-sealed under a key this process does not hold is not swapped in (see
/// [`crate::directory::DirectoryView::keep_openable`]).
fn opener(app: Arc<App>) -> crate::directory::poller::Opener {
    Arc::new(move |tenant: &str, name: &str, sealed: &[u8]| {
        let c = app.compiled.load();
        let Some((id, t)) = c.snapshot.tenant(tenant) else {
            return false;
        };
        let Some(rt) = c.tenant_runtime(id) else {
            return false;
        };
        let ctx = crate::crypto::SealContext {
            tenant,
            name,
            upstream_host: &t.upstream.host,
        };
        rt.cipher.open(&ctx, sealed).is_ok()
    })
}

/// Reloads the configuration on SIGHUP, logs and audits the outcome. The handler is installed
/// before this returns, so a SIGHUP can never hit the default action (termination).
fn spawn_reloader(app: Arc<App>, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("erpgate-reload".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let mut hup = match signal(SignalKind::hangup()) {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        got = hup.recv() => {
                            if got.is_none() {
                                break;
                            }
                            let _ = crate::service::reload::reload(&app, "signal:SIGHUP");
                        }
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            });
        })?;
    ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the reload thread stopped"))?
}

/// Prunes audit records older than `days`, hourly, leaving a checkpoint in the chain.
fn spawn_retention(
    db: crate::store::Database,
    key: crate::crypto::KeyedHasher,
    days: u32,
    stop: Arc<AtomicBool>,
) {
    let spawned = std::thread::Builder::new().name("erpgate-retention".into()).spawn(move || {
        let mut next = std::time::Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if std::time::Instant::now() >= next {
                next += Duration::from_secs(3600);
                let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
                let result = crate::store::Store::connect(&db)
                    .and_then(|s| crate::audit::chain::prune(s.conn(), &key, &cutoff, "retention"));
                match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, before = %cutoff, "audit retention pruned old records"),
                    Err(e) => tracing::error!(error = %e, "audit retention failed"),
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start audit retention");
    }
}
