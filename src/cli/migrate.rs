//! `erpgate migrate`: create or upgrade the database schema, and bind the master key to it.
//!
//! With the master key at hand (`ERPGATE_APP_KEY` or `gateway.app_key_file`), the key is
//! checked against the database *before* any migration runs — a wrong key changes nothing —
//! and bound to it afterwards (see [`super::keycheck`]); the migration is then an audit
//! record. Without a key (a first migration may precede it) the schema is migrated and the
//! first command that has the key binds it.

use std::path::Path;

use crate::store::Store;

/// Applies pending migrations. Exit 0, 1 or 2.
pub fn run(config: &Path) -> super::CliResult {
    let snapshot = super::load_config(config)?;
    let db = &snapshot.gateway.database;
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
    if !has_key {
        if !applied.is_empty() {
            eprintln!("note: no master key available, so this migration is not in the audit trail; the first command run with the key binds it to this database");
        }
        return Ok(());
    }
    // Now that the schema has the key material table: bind (or re-check) the key.
    let master = super::load_master(&snapshot)?;
    if applied.is_empty() {
        return Ok(());
    }
    let note = serde_json::json!({ "applied": applied });
    let object = db.to_string();
    super::audit_admin(&mut store, &master, "store.migrate", &object, Some(note))
}
