//! `erpgate migrate`: create or upgrade the database schema, and bind the master key to it.
//!
//! With the master key at hand (`ERPGATE_APP_KEY` or `gateway.app_key_file`), the key is
//! checked against the database *before* any migration runs — a wrong key changes nothing —
//! and bound to it afterwards (see [`super::keycheck`]); the migration is then an audit
//! record. Without a key (a first migration may precede it) the schema is migrated and the
//! first command that has the key binds it.

use std::path::PathBuf;

use clap::Args;

use crate::store::Store;

/// `erpgate migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The configuration.
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// PostgreSQL: connect as this role (the schema owner) instead of the configured one.
    #[arg(long, requires = "owner_password_file")]
    pub owner: Option<String>,
    /// The owner's password (first line of the file).
    #[arg(long, requires = "owner")]
    pub owner_password_file: Option<PathBuf>,
    /// PostgreSQL: grant this role what a gateway needs: the access state read and written,
    /// the audit trail read and appended, never updated, deleted or truncated.
    #[arg(long)]
    pub grant_to: Option<String>,
}

/// Applies pending migrations, records the retention floor, grants the runtime role. Exit
/// 0, 1 or 2.
pub fn run(args: &MigrateArgs) -> super::CliResult {
    let config = &args.config.config;
    let snapshot = super::load_config(config)?;
    let db = &match (&args.owner, &args.owner_password_file) {
        (Some(owner), Some(file)) => snapshot
            .gateway
            .database
            .as_user(owner, file.clone())
            .map_err(super::failed)?,
        _ => snapshot.gateway.database.clone(),
    };
    if let Some(role) = &args.grant_to {
        if !crate::store::roles::valid_role(role) {
            return Err(super::failed(
                "--grant-to: a role name is letters, digits and '_' (at most 63)",
            ));
        }
    }
    let mut store = Store::connect(db)
        .map_err(|e| super::failed(format_args!("cannot open database {}: {e}", db)))?
        .with_node(&snapshot.gateway.node_id);
    let has_key = super::key_available(&snapshot)?;
    // A wrong key is refused before the schema is touched.
    if has_key {
        super::load_master(&snapshot)?;
    }
    let applied = store
        .migrate()
        .map_err(|e| super::failed(format_args!("migration failed on {}: {e}", db)))?;
    if applied.is_empty() {
        println!("database {} is up to date", db);
    } else {
        let list: Vec<String> = applied.iter().map(u32::to_string).collect();
        println!("database {}: applied migration(s) {}", db, list.join(", "));
    }
    let floor = snapshot.gateway.audit_min_retention_days;
    let floor_changed = store.retention_floor().map_err(super::failed)? != floor;
    if floor_changed {
        store.set_retention_floor(floor).map_err(|e| {
            super::failed(format_args!(
                "cannot record the audit retention floor ({floor} days) in {db}: {e} (run migrate as the schema owner: --owner)"
            ))
        })?;
        println!("audit retention floor: {floor} days (gateway.audit_min_retention_days)");
    }
    if let Some(role) = &args.grant_to {
        store
            .grant_runtime(role)
            .map_err(|e| super::failed(format_args!("cannot grant role {role}: {e}")))?;
        println!("granted {role}: the access state read and written, the audit trail read and appended (no update, delete or truncate)");
    }
    if !has_key {
        if !applied.is_empty() {
            eprintln!("note: no master key available, so this migration is not in the audit trail; the first command run with the key binds it to this database");
        }
        return Ok(());
    }
    // Now that the schema has the key material table: bind (or re-check) the key.
    let master = super::load_master(&snapshot)?;
    if applied.is_empty() && !floor_changed && args.grant_to.is_none() {
        return Ok(());
    }
    let note = serde_json::json!({
        "applied": applied,
        "audit_min_retention_days": floor,
        "granted_to": args.grant_to,
    });
    let object = db.to_string();
    super::audit_admin(&mut store, &master, "store.migrate", &object, Some(note))
}
