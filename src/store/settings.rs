//! Settings persisted in the store: the kill switch.

use super::sql::params;

use super::{now, Store, StoreError};

const KILLSWITCH: &str = "killswitch";

impl Store {
    /// Whether the kill switch is on.
    pub fn killswitch(&self) -> Result<bool, StoreError> {
        let v = self
            .conn
            .query_opt(
                "SELECT value FROM settings WHERE key = ?1",
                &params![KILLSWITCH],
            )?
            .map(|r| r.text(0))
            .transpose()?;
        Ok(v.as_deref() == Some("on"))
    }

    /// Sets the kill switch; returns the previous state.
    pub fn set_killswitch(&self, on: bool, actor: &str) -> Result<bool, StoreError> {
        let prev = self.killswitch()?;
        self.conn.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            &params![KILLSWITCH, if on { "on" } else { "off" }, now(), actor],
        )?;
        Ok(prev)
    }
}
