//! Two roles on PostgreSQL: the schema owner runs `erpgate migrate`; the gateways (and the
//! day-to-day CLI) connect as a runtime role that may read and change the access state but
//! may only read and append the audit trail: no `UPDATE`, `DELETE` or `TRUNCATE` on it, and,
//! not owning it, no way to disable its triggers. Retention goes through the owner's
//! `erpgate_audit_prune` function, which refuses records younger than the stored floor.

use super::sql::{params, Engine};
use super::{Store, StoreError};

/// Tables the runtime role reads and changes.
const STATE_TABLES: &[&str] = &[
    "accounts",
    "credentials",
    "secrets",
    "settings",
    "tenant_keys",
    "gateway_tokens",
    "admin_tokens",
    "key_material",
    "nodes",
    "auth_failures",
    "portal_users",
    "portal_sessions",
    "browser_sessions",
];

/// Whether `role` is a plain PostgreSQL identifier (letters, digits, `_`; not starting with a
/// digit; at most 63 bytes): the only names `--grant-to` takes, so it is never quoted wrong.
pub fn valid_role(role: &str) -> bool {
    !role.is_empty()
        && role.len() <= 63
        && !role.starts_with(|c: char| c.is_ascii_digit())
        && role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Store {
    /// Grants `role` what a gateway needs and nothing more (PostgreSQL, as the schema owner).
    pub fn grant_runtime(&self, role: &str) -> Result<(), StoreError> {
        if self.conn.engine() != Engine::Postgres {
            return Err(StoreError::Invalid(
                "roles are a PostgreSQL feature: a SQLite database is protected by its file's permissions".into(),
            ));
        }
        if !valid_role(role) {
            return Err(StoreError::Invalid(
                "--grant-to: a role name is letters, digits and '_' (at most 63)".into(),
            ));
        }
        // Never the owner itself, a role the owner is a member of, or a superuser: such a role
        // could rewrite the trail whatever is granted here.
        let risky = self
            .conn
            .query_opt(
                "SELECT rolsuper OR pg_has_role(rolname, current_user, 'MEMBER') OR rolname = current_user FROM pg_roles WHERE rolname = ?1",
                &params![role],
            )?
            .map(|r| r.flag(0))
            .transpose()?;
        match risky {
            None => {
                return Err(StoreError::Invalid(format!(
                    "--grant-to: no role named {role} (create it first: CREATE ROLE {role} LOGIN PASSWORD ...)"
                )))
            }
            Some(true) => {
                return Err(StoreError::Invalid(format!(
                    "--grant-to: {role} is a superuser, the schema owner or one of its members: it could rewrite the audit trail; grant a role of its own"
                )))
            }
            Some(false) => {}
        }
        let r = format!("\"{role}\"");
        let sql = format!(
            "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC, {r};
             GRANT USAGE ON SCHEMA {schema} TO {r};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {state} TO {r};
             GRANT SELECT, UPDATE ON change_counter TO {r};
             GRANT SELECT, INSERT ON audit_batch TO {r};
             REVOKE UPDATE, DELETE, TRUNCATE ON audit_batch FROM {r};
             GRANT SELECT, UPDATE ON audit_bounds TO {r};
             REVOKE INSERT, DELETE, TRUNCATE ON audit_bounds FROM {r};
             GRANT SELECT, INSERT ON audit_actor_second TO {r};
             REVOKE UPDATE, DELETE, TRUNCATE ON audit_actor_second FROM {r};
             GRANT SELECT ON audit_gate, audit_policy, schema_migrations TO {r};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {r};
             GRANT EXECUTE ON FUNCTION erpgate_audit_prune(TEXT, BIGINT) TO {r};
             GRANT EXECUTE ON FUNCTION erpgate_audit_prune_lookup(TEXT) TO {r};",
            schema = self.current_schema()?,
            state = STATE_TABLES.join(", "),
        );
        self.conn.batch(&sql)
    }

    /// The schema the tables live in (quoted for SQL).
    fn current_schema(&self) -> Result<String, StoreError> {
        let name = self
            .conn
            .query_one("SELECT current_schema()", &[])?
            .text(0)?;
        Ok(format!("\"{}\"", name.replace('"', "\"\"")))
    }

    /// The stored retention floor, days.
    pub fn retention_floor(&self) -> Result<u32, StoreError> {
        let days = self
            .conn
            .query_one(
                "SELECT min_retention_days FROM audit_policy WHERE id = 1",
                &[],
            )?
            .int(0)?;
        Ok(u32::try_from(days).unwrap_or(0))
    }

    /// Stores the retention floor (the schema owner, on PostgreSQL).
    pub fn set_retention_floor(&self, days: u32) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE audit_policy SET min_retention_days = ?1 WHERE id = 1",
            &params![i64::from(days)],
        )?;
        Ok(())
    }
}
