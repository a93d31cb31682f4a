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
pub fn run(config: &Path) -> i32 {
    let snapshot = match super::load_config(config) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let db = &snapshot.gateway.database;
    let mut store = match Store::open(db) {
        Ok(s) => s,
        Err(e) => return super::fail(format_args!("cannot open database {}: {e}", db.display())),
    };
    let has_key = match super::key_available(&snapshot) {
        Ok(k) => k,
        Err(c) => return c,
    };
    // A wrong key is refused before the schema is touched.
    if has_key {
        if let Err(c) = super::load_master(&snapshot) {
            return c;
        }
    }
    let applied = match store.migrate() {
        Ok(a) => a,
        Err(e) => return super::fail(format_args!("migration failed on {}: {e}", db.display())),
    };
    if applied.is_empty() {
        println!("database {} is up to date", db.display());
    } else {
        let list: Vec<String> = applied.iter().map(u32::to_string).collect();
        println!(
            "database {}: applied migration(s) {}",
            db.display(),
            list.join(", ")
        );
    }
    if !has_key {
        if !applied.is_empty() {
            eprintln!("note: no master key available, so this migration is not in the audit trail; the first command run with the key binds it to this database");
        }
        return 0;
    }
    // Now that the schema has the key material table: bind (or re-check) the key.
    let master = match super::load_master(&snapshot) {
        Ok(m) => m,
        Err(c) => return c,
    };
    if applied.is_empty() {
        return 0;
    }
    let note = serde_json::json!({ "applied": applied });
    let object = db.display().to_string();
    match super::audit_admin(&mut store, &master, "store.migrate", &object, Some(note)) {
        Ok(()) => 0,
        Err(c) => c,
    }
}
