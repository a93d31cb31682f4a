//! Command-line interface: one file per subcommand. Each returns `Result<(), CliError>`;
//! [`run`] alone turns that into the process exit code (0 success, 1 operational failure,
//! 2 bad configuration) and prints the error. Changes go through [`crate::service`], audited
//! as the operator ([`operator`]).

pub mod account;
pub mod admin_token;
pub mod audit;
pub mod backup;
pub mod check;
pub mod credential;
pub mod demo;
pub mod docs;
pub mod explain;
pub mod health;
pub mod key;
pub mod keycheck;
pub mod killswitch;
pub mod migrate;
pub mod operator;
pub mod portal_user;
pub mod secret;
pub mod serve;
pub mod sim;
pub mod tenant;
pub mod token;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::crypto::MasterKey;
use crate::service::{Actor, Operator, ServiceError};
use crate::snapshot::Snapshot;
use crate::store::{Store, StoreError};

/// Why a command failed. [`run`] prints it (`error: …` on stderr) and maps it to the exit
/// code, in this one place.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration is invalid (exit 2); the text lists every problem.
    #[error("{0}")]
    Config(String),
    /// An operational failure (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The command has already told the operator what went wrong (exit 1, nothing more
    /// printed): a broken audit chain, for one.
    #[error("failed")]
    Reported,
    /// The answer to the question asked is "refused" (exit 3, already printed): `explain`
    /// of a request that would be refused, a replay that would refuse relayed requests.
    #[error("refused")]
    Refused,
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Config(_) => 2,
            CliError::Failed(_) | CliError::Reported => 1,
            CliError::Refused => 3,
        }
    }
}

/// An operational failure with this message.
pub fn failed(msg: impl std::fmt::Display) -> CliError {
    CliError::Failed(msg.to_string())
}

impl From<String> for CliError {
    fn from(msg: String) -> Self {
        CliError::Failed(msg)
    }
}

impl From<&str> for CliError {
    fn from(msg: &str) -> Self {
        CliError::Failed(msg.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        failed(e)
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        failed(e)
    }
}

/// What a command returns.
pub type CliResult = Result<(), CliError>;

/// The version `--version` prints: the package version and the commit built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ERPGATE_COMMIT"), ")");

/// erpgate: a security gateway for Oracle ERP Cloud REST APIs.
#[derive(Parser, Debug)]
#[command(name = "erpgate", version = VERSION, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command runs the gateway (`serve`, `demo`): those start with the
    /// allocator settings of [`crate::allocator`].
    pub fn runs_gateway(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Demo(_))
    }
}

/// The `erpgate` subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Validate a configuration and exit (like `nginx -t`); with --replay-audit, say which
    /// recorded requests it would decide differently.
    Check(check::CheckArgs),
    /// Say what the live configuration decides for one request, step by step (exit 0:
    /// relayed, 3: refused).
    Explain(explain::ExplainArgs),
    /// Run a self-contained demo: a simulated Oracle, a gateway in front of it, a demo credential.
    Demo(demo::DemoArgs),
    /// Print a fresh master key (base64 of 32 random bytes) for ERPGATE_APP_KEY.
    Keygen,
    /// Create or upgrade the database schema (and, on PostgreSQL, grant the gateways' role).
    Migrate(migrate::MigrateArgs),
    /// Copy a SQLite state database to a new file while gateways keep serving.
    Backup(backup::BackupArgs),
    /// Manage accounts.
    Account(account::AccountArgs),
    /// Manage issued credential sets.
    Credential(credential::CredentialArgs),
    /// Manage encrypted upstream secrets.
    Secret(secret::SecretArgs),
    /// Turn the global kill switch on or off, or show it.
    Killswitch(killswitch::KillswitchArgs),
    /// Master key: rotate it (re-encrypts everything sealed), show its id.
    Key(key::KeyArgs),
    /// Verify, query, export or prune the audit trail.
    Audit(audit::AuditArgs),
    /// Run the simulated Oracle alone (load measurements, client development).
    Sim(sim::SimArgs),
    /// Manage a tenant's signing key and certificate (outbound JWT assertions).
    Tenant(tenant::TenantArgs),
    /// List or revoke gateway tokens.
    Token(token::TokenArgs),
    /// Manage admin API tokens.
    AdminToken(admin_token::AdminTokenArgs),
    /// Manage the people who log in to the operator portal.
    PortalUser(portal_user::PortalUserArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff), generated from this CLI.
    Man,
    /// Ask a running gateway's admin listener whether it is healthy (exit 0 or 1).
    Health(health::HealthArgs),
}

/// `erpgate serve` options.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Take the listening sockets over from a running erpgate (graceful upgrade): start this,
    /// then send SIGQUIT to the old process within `gateway.upgrade_wait_seconds`.
    #[arg(long)]
    pub upgrade: bool,
    /// Write the process id here once serving (removed at a clean exit, unless a newer
    /// process has written its own since): what a service manager or `kill -HUP` should signal.
    #[arg(long, env = "ERPGATE_PID_FILE")]
    pub pid_file: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
}

/// The `--config` option shared by every subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// Main configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "ERPGATE_CONFIG",
        default_value = "conf/erpgate.toml"
    )]
    pub config: PathBuf,
}

/// Runs a parsed command line and returns the exit code: the one place a failure becomes one.
pub fn run(cli: Cli) -> i32 {
    init_logging(log_format(&cli.command));
    match dispatch(cli.command) {
        Ok(()) => 0,
        Err(CliError::Reported) => 1,
        Err(CliError::Refused) => 3,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn dispatch(command: Command) -> CliResult {
    match command {
        Command::Serve(s) => serve::run(&s.config.config, s.upgrade, s.pid_file.as_deref()),
        Command::Check(c) => check::run(&c),
        Command::Explain(a) => explain::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Keygen => keygen(),
        Command::Completions(a) => docs::completions(&a),
        Command::Man => docs::man(),
        Command::Health(a) => health::run(&a),
        Command::Migrate(a) => migrate::run(&a),
        Command::Backup(a) => backup::run(&a),
        Command::Account(a) => account::run(&a),
        Command::Credential(a) => credential::run(&a),
        Command::Secret(a) => secret::run(&a),
        Command::Killswitch(a) => killswitch::run(&a),
        Command::Key(a) => key::run(&a),
        Command::Audit(a) => audit::run(&a),
        Command::Sim(a) => sim::run(&a),
        Command::Tenant(a) => tenant::run(&a),
        Command::Token(a) => token::run(&a),
        Command::AdminToken(a) => admin_token::run(&a),
        Command::PortalUser(a) => portal_user::run(&a),
    }
}

/// Logging to stderr, as text or JSON lines, at the level `ERPGATE_LOG` sets (an `EnvFilter` directive such as
/// `info` or `info,erpgate=debug`; default `info`). Other crates are pinned at `warn` whatever
/// it says: at debug and trace Pingora, hyper and rustls log request and response bytes —
/// the client's and the injected `Authorization`, unmasked Oracle bodies — and no level of
/// erpgate's log may hold a secret. erpgate's own lines carry ids, names and codes only.
/// The log format: `ERPGATE_LOG_FORMAT`, else `gateway.log_format` of the configuration the
/// command runs with (read ahead of the full load, which reports any problem with it), else
/// text.
fn log_format(command: &Command) -> LogFormat {
    let from = |s: &str| match s {
        "json" => Some(LogFormat::Json),
        "text" => Some(LogFormat::Text),
        _ => None,
    };
    if let Some(f) = std::env::var("ERPGATE_LOG_FORMAT")
        .ok()
        .as_deref()
        .and_then(from)
    {
        return f;
    }
    let config = match command {
        Command::Serve(s) => &s.config.config,
        _ => return LogFormat::Text,
    };
    std::fs::read_to_string(config)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("gateway")?.get("log_format")?.as_str().and_then(from))
        .unwrap_or(LogFormat::Text)
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// `2026-12-04T10:00:00Z  INFO message key=value …`
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the message and its fields.
    Json,
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ERPGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ours_or_warn = tracing_subscriber::filter::filter_fn(|meta| {
        let target = meta.target();
        if target.starts_with("erpgate") {
            return true;
        }
        // While `serve --upgrade` waits for the old process's sockets, Pingora logs "No
        // incoming socket transfer" at error once a second: expected, not an error. A transfer
        // that fails is still logged ("Bootstrap failed", another module) and erpgate exits.
        if target.starts_with("pingora_core::server::transfer_fd") {
            return false;
        }
        *meta.level() <= tracing::Level::WARN
    });
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let layer = layer.with_filter(filter).with_filter(ours_or_warn);
    let _ = tracing_subscriber::registry().with(layer).try_init();
    // Pingora and other crates log through the `log` facade, which `try_init` bridges at the
    // subscriber's level hint: TRACE, since `ours_or_warn` gives none. Every `debug!` and
    // `trace!` in Pingora's request path then built a record for the bridge to throw away
    // (27 per request, ≈ 13 k instructions, BENCHMARKS.md section 8). Nothing but erpgate's
    // own events (which use `tracing`, not `log`) passes above WARN, so the facade stops there.
    log::set_max_level(log::LevelFilter::Warn);
}

fn keygen() -> CliResult {
    let (_, b64) =
        MasterKey::generate().map_err(|e| failed(format_args!("cannot generate a key: {e}")))?;
    println!("{}", b64.expose());
    Ok(())
}

/// Loads and validates the configuration; an invalid one is [`CliError::Config`] listing
/// every problem.
pub fn load_config(path: &Path) -> Result<Snapshot, CliError> {
    Snapshot::load(path, 1)
        .map_err(|e| CliError::Config(format!("configuration {} is invalid:\n{e}", path.display())))
}

/// Loads the master key from `ERPGATE_APP_KEY` or the configured key file (with
/// `ERPGATE_APP_KEY_PREVIOUS` during a rotation) and checks it against the database: a key
/// that is not the database's is refused before anything is written, and a database not yet
/// bound to a key is bound to this one once it has proved itself ([`keycheck`]).
pub fn load_master(snapshot: &Snapshot) -> Result<MasterKey, CliError> {
    let env = std::env::var("ERPGATE_APP_KEY").ok();
    let master = MasterKey::load(env.as_deref(), snapshot.gateway.app_key_file.as_deref())
        .map_err(failed)?;
    let previous = match std::env::var("ERPGATE_APP_KEY_PREVIOUS")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        None => None,
        Some(v) => Some(MasterKey::from_base64(&v).map_err(|e| {
            failed(format_args!(
                "ERPGATE_APP_KEY_PREVIOUS is invalid: {e} (expected the base64 key being rotated away from)"
            ))
        })?),
    };
    Ok(keycheck::adopt(master, previous, snapshot)?)
}

/// Loads the configuration and opens its store (schema checked): what most commands start with.
/// When a master key is at hand (`ERPGATE_APP_KEY` or an existing `gateway.app_key_file`) it
/// is checked against the database here, so even a command that needs no key (a listing, a
/// query) refuses a wrong one rather than run beside it unnoticed.
pub fn config_and_store(config: &Path) -> Result<(Snapshot, Store), CliError> {
    let snapshot = load_config(config)?;
    let store = open_store(&snapshot, config)?;
    if key_available(&snapshot)? {
        load_master(&snapshot)?;
    }
    Ok((snapshot, store))
}

/// Whether a master key is configured and present: `ERPGATE_APP_KEY` set, or the configured
/// `gateway.app_key_file` exists. A malformed or unreadable key is an error (exit 1).
pub fn key_available(snapshot: &Snapshot) -> Result<bool, CliError> {
    let env = std::env::var("ERPGATE_APP_KEY").ok();
    match MasterKey::load(env.as_deref(), snapshot.gateway.app_key_file.as_deref()) {
        Ok(_) => Ok(true),
        Err(crate::crypto::KeyLoadError::Missing) => Ok(false),
        Err(crate::crypto::KeyLoadError::FileRead { err, .. })
            if err.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(false)
        }
        Err(e) => Err(failed(e)),
    }
}

/// Opens the store and refuses to continue unless its schema is exactly current.
pub fn open_store(snapshot: &Snapshot, config: &Path) -> Result<Store, CliError> {
    let store = Store::connect(&snapshot.gateway.database)
        .map_err(|e| {
            failed(format_args!(
                "cannot open database {}: {e}",
                snapshot.gateway.database
            ))
        })?
        .with_node(&snapshot.gateway.node_id);
    store.check_schema().map_err(|e| {
        failed(format_args!(
            "{e} (database {}, config {})",
            snapshot.gateway.database,
            config.display()
        ))
    })?;
    Ok(store)
}

/// The operator running this command, as the audit trail names them: `cli:` and the real
/// uid's login name; `$SUDO_USER`, if set, goes into each record's note as `sudo_user_hint`
/// (unverified).
pub fn actor() -> Actor {
    Actor {
        name: format!("cli:{}", operator::whoami()),
        hint: operator::sudo_hint(),
    }
}

/// A service operator for this command: changes are recorded synchronously under `master`
/// (the chain is keyed), failing loudly rather than acting unaudited.
pub fn operator<'a>(store: &'a mut Store, master: &'a MasterKey) -> Operator<'a> {
    Operator::offline(store, master, actor())
}

/// Records an administrative action that is not a service operation (a migration, a key
/// rotation, the demo's setup) the way [`operator`] records one.
pub fn audit_admin(
    store: &mut Store,
    master: &MasterKey,
    verb: &str,
    object: &str,
    note: Option<serde_json::Value>,
) -> CliResult {
    let who = actor();
    let note = who.annotate(note);
    crate::audit::admin_action(store, master, &who.name, verb, object, note).map_err(failed)
}

/// Prints rows as an aligned table.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", c, w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
