//! `erpgate backup --to FILE`: a consistent copy of a SQLite state database, taken with
//! SQLite's online backup API while gateways keep serving and writing (one read snapshot; WAL
//! readers never block the writer). The copy is created private (0600: it holds password
//! hashes, sealed secrets and the audit trail), checked (`PRAGMA integrity_check`, the schema
//! version) and the backup is an audit record. PostgreSQL is backed up with `pg_dump` (README).

use std::path::{Path, PathBuf};

use clap::Args;

use super::{CliResult, ConfigArg};
use crate::store::{Database, Store};

/// `erpgate backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Where to write the copy (must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

/// Runs the command.
pub fn run(args: &BackupArgs) -> CliResult {
    let snapshot = super::load_config(&args.config.config)?;
    let Database::Sqlite(source) = &snapshot.gateway.database else {
        return Err(super::failed(
            "erpgate backup copies a SQLite database; for PostgreSQL use pg_dump (see README, \"Running several gateways\")",
        ));
    };
    let master = super::load_master(&snapshot)?;
    let mut store = super::open_store(&snapshot, &args.config.config)?;
    let records = copy(source, &args.to).map_err(super::failed)?;
    println!(
        "backed up {} to {} ({records} audit record(s), integrity ok)",
        source.display(),
        args.to.display()
    );
    let note = serde_json::json!({ "to": args.to.display().to_string(), "audit_records": records });
    super::audit_admin(
        &mut store,
        &master,
        "store.backup",
        &source.display().to_string(),
        Some(note),
    )
}

/// Copies `source` to a new private file `to` and checks the copy; returns its audit record
/// count. On any failure the partial copy is removed.
pub fn copy(source: &Path, to: &Path) -> Result<i64, String> {
    create_private(to)?;
    let result = backup_into(source, to);
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

fn create_private(to: &Path) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map(|_| ())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} already exists: choose a new file (a backup never overwrites)",
                to.display()
            ),
            _ => format!("cannot create {}: {e}", to.display()),
        })
}

fn backup_into(source: &Path, to: &Path) -> Result<i64, String> {
    let from = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", source.display()))?;
    let mut dest =
        rusqlite::Connection::open(to).map_err(|e| format!("cannot open {}: {e}", to.display()))?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut dest)
            .map_err(|e| format!("cannot start the backup: {e}"))?;
        // All pages in one step: one read snapshot, so the copy is consistent even while
        // gateways write (a stepwise copy restarts whenever another connection writes).
        // Busy or locked (a checkpoint in progress): try again shortly, for up to 30 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match backup.step(-1).map_err(|e| format!("backup failed: {e}"))? {
                rusqlite::backup::StepResult::Done => break,
                _ if std::time::Instant::now() > deadline => {
                    return Err("backup failed: the database stayed busy for 30 s".into());
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    drop(dest);
    let copy = Store::open(to).map_err(|e| format!("cannot open the copy: {e}"))?;
    let check = copy
        .conn()
        .query_one("PRAGMA integrity_check", &[])
        .and_then(|r| r.text(0))
        .map_err(|e| format!("cannot check the copy: {e}"))?;
    if check != "ok" {
        return Err(format!("the copy fails its integrity check: {check}"));
    }
    copy.check_schema()
        .map_err(|e| format!("the copy's schema: {e}"))?;
    copy.conn()
        .query_one(
            "SELECT coalesce(sum(last_id - id + 1), 0) FROM audit_batch",
            &[],
        )
        .and_then(|r| r.int(0))
        .map_err(|e| format!("cannot count the copy's audit records: {e}"))
}
