//! `erpgate sim`: the simulated Oracle on its own, for load measurements and for trying
//! clients against a local "Oracle". It checks the credential it is given like Oracle would.

use std::net::SocketAddr;

use crate::sim::{self, SimConfig};

/// `erpgate sim` arguments.
#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// The Basic user the simulator accepts; its password is read from ERPGATE_SIM_PASSWORD
    /// (never from the command line, where `ps` would show it).
    #[arg(long, default_value = "FIN_INTEGRATION")]
    pub user: String,
    /// Seeded invoices.
    #[arg(long, default_value_t = 25)]
    pub invoices: usize,
    /// A trusted issuer for JWT assertions (as registered in Oracle's Security Console).
    #[arg(long)]
    pub jwt_issuer: Vec<String>,
    /// A PEM certificate whose JWT assertions are accepted (a tenant's `tenant show-key`).
    #[arg(long)]
    pub jwt_cert: Vec<std::path::PathBuf>,
}

/// Runs the simulator until SIGINT or SIGTERM.
pub fn run(args: &SimArgs) -> super::CliResult {
    let Ok(password) = std::env::var("ERPGATE_SIM_PASSWORD") else {
        return Err("set ERPGATE_SIM_PASSWORD to the password the simulator accepts".into());
    };
    let api_keys = std::env::var("ERPGATE_SIM_API_KEY")
        .ok()
        .into_iter()
        .collect();
    let mut certs = Vec::new();
    for path in &args.jwt_cert {
        let list = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::jwt::Certificate::from_pem_all(&b))
            .map_err(|e| super::failed(format_args!("{}: {e}", path.display())))?;
        certs.extend(list);
    }
    if certs.is_empty() != args.jwt_issuer.is_empty() {
        return Err("--jwt-issuer and --jwt-cert go together".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("erpgate-sim")
        .enable_all()
        .build()
        .map_err(|e| super::failed(format_args!("cannot start a runtime: {e}")))?;
    rt.block_on(async {
        let config = SimConfig {
            basic_users: vec![(args.user.clone(), password)],
            api_keys,
            invoices: args.invoices,
            record_requests: false,
            listen: Some(args.listen),
            jwt_issuers: args.jwt_issuer.clone(),
            jwt_certs: std::sync::Arc::new(std::sync::RwLock::new(certs)),
            ..SimConfig::default()
        };
        let handle = sim::start(config)
            .await
            .map_err(|e| super::failed(format_args!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!("simulated Oracle on {}", handle.base_url());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| super::failed(format_args!("cannot watch SIGTERM: {e}")))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        drop(handle);
        Ok(())
    })
}
