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
            0
        }
        Err(e) => super::fail(format_args!("migration failed on {}: {e}", db.display())),
    }
}
