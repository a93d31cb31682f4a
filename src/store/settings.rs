//! Settings persisted in the store: the kill switch.

use rusqlite::{params, OptionalExtension};

use super::{now, Store, StoreError};

const KILLSWITCH: &str = "killswitch";

impl Store {
    /// Whether the kill switch is on.
    pub fn killswitch(&self) -> Result<bool, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [KILLSWITCH],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.as_deref() == Some("on"))
    }

    /// Sets the kill switch; returns the previous state.
    pub fn set_killswitch(&self, on: bool, actor: &str) -> Result<bool, StoreError> {
        let prev = self.killswitch()?;
        self.conn.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            params![KILLSWITCH, if on { "on" } else { "off" }, now(), actor],
        )?;
        Ok(prev)
    }
}
