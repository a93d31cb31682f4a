//! `erpgate serve`: run the gateway.
//!
//! Start-up refuses, with a message that says what to do, when the configuration is invalid,
//! the master key is missing or malformed, or the database schema is not exactly current.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pingora::server::configuration::ServerConf;
use pingora::server::Server;

use crate::app::App;
use crate::auth::AuthSettings;
use crate::crypto::{MasterKey, PasswordHasher};
use crate::directory::poller::Poller;
use crate::directory::DirectoryView;
use crate::gateway::Gateway;
use crate::snapshot::Snapshot;

/// Runs `erpgate serve`.
pub fn run(config: &Path) -> i32 {
    let snapshot = match super::load_config(config) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let master = match super::load_master(&snapshot) {
        Ok(m) => m,
        Err(c) => return c,
    };
    serve(config, snapshot, master, PasswordHasher::default())
}

/// Builds the shared state from an already validated snapshot (used by `serve` and `demo`).
pub fn build_app(
    config: &Path,
    snapshot: Snapshot,
    master: MasterKey,
    passwords: PasswordHasher,
) -> Result<App, i32> {
    let store = super::open_store(&snapshot, config)?;
    let dir = store
        .load_directory()
        .map_err(|e| super::fail(format_args!("cannot read the database: {e}")))?;
    Ok(App::new(
        config,
        snapshot,
        master,
        DirectoryView::build(dir),
        passwords,
        &AuthSettings::default(),
    ))
}

/// Runs the gateway until a shutdown signal. Returns only on a start-up failure.
pub fn serve(
    config: &Path,
    snapshot: Snapshot,
    master: MasterKey,
    passwords: PasswordHasher,
) -> i32 {
    let listen = snapshot.gateway.listen;
    let threads = snapshot.gateway.threads;
    let db = snapshot.gateway.database.clone();
    let poll = snapshot.gateway.store_poll_interval;
    // Fail early and clearly if the port is taken (Pingora would panic later).
    if let Err(e) = std::net::TcpListener::bind(listen) {
        return super::fail(format_args!("cannot listen on {listen}: {e}"));
    }
    let app = match build_app(config, snapshot, master, passwords) {
        Ok(a) => Arc::new(a),
        Err(c) => return c,
    };
    let poller = match Poller::start(db, app.directory.clone(), poll) {
        Ok(p) => p,
        Err(e) => return super::fail(format_args!("cannot start the store poller: {e}")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let refresher_app = app.clone();
    if let Err(e) = crate::upstream::peer::spawn_refresher(
        app.resolved.clone(),
        move || {
            let c = refresher_app.compiled.load();
            (
                c.upstream_targets(),
                c.snapshot.gateway.dangerous_allow_insecure_upstream,
            )
        },
        stop,
    ) {
        return super::fail(format_args!("cannot start the upstream resolver: {e}"));
    }

    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(10),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Gateway::new(app.clone(), false),
        "erpgate relay",
    );
    proxy.add_tcp(&listen.to_string());
    server.add_service(proxy);
    {
        let c = app.compiled.load();
        tracing::info!(
            %listen,
            version = c.snapshot.version,
            hash = %c.snapshot.hash,
            tenants = c.snapshot.tenants.len(),
            endpoints = c.snapshot.catalog.len(),
            "erpgate serving"
        );
        if c.snapshot.gateway.dangerous_allow_insecure_upstream {
            tracing::warn!("gateway.dangerous_allow_insecure_upstream is ON: plain-HTTP and private upstreams are allowed. Never use this in production.");
        }
    }
    // Keep the poller alive for the life of the process.
    let _poller = poller;
    server.run_forever()
}
