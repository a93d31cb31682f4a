//! `erpgate migrate`: create or upgrade the database schema.

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
    match store.migrate() {
        Ok(applied) if applied.is_empty() => {
            println!("database {} is up to date", db.display());
            0
        }
        Ok(applied) => {
            let list: Vec<String> = applied.iter().map(u32::to_string).collect();
            println!(
                "database {}: applied migration(s) {}",
                db.display(),
                list.join(", ")
            );
            // Recorded when the master key is at hand; a first migration may precede the key.
            let env = std::env::var("ERPGATE_APP_KEY").ok();
            let key_file = snapshot.gateway.app_key_file.as_deref();
            match crate::crypto::MasterKey::load(env.as_deref(), key_file) {
                Ok(master) => {
                    let note = serde_json::json!({ "applied": applied });
                    let object = db.display().to_string();
                    match super::audit_admin(
                        &mut store,
                        &master,
                        "store.migrate",
                        &object,
                        Some(note),
                    ) {
                        Ok(()) => 0,
                        Err(c) => c,
                    }
                }
                Err(_) => {
                    eprintln!("note: no master key available, so this migration is not in the audit trail");
                    0
                }
            }
        }
        Err(e) => super::fail(format_args!("migration failed on {}: {e}", db.display())),
    }
}
