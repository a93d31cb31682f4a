//! Portal users and their sessions. A session is stored only as the keyed hash of its id; a
//! user's sessions are deleted in the same statement that disables the user, changes their
//! role or resets their password, so no stale session outlives the change.

use super::sql::{params, Row, Tx};
use super::{now, Store, StoreError};

/// A stored portal user. `Debug` shows no hash or sealed secret.
#[derive(Clone)]
pub struct PortalUser {
    /// Login name.
    pub name: String,
    /// `owner`, `admin` or `auditor`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret, sealed (None: not enrolled).
    pub totp_sealed: Option<Vec<u8>>,
    /// The last TOTP time step accepted (a code is accepted once).
    pub totp_last_step: i64,
    /// Keyed hashes (hex) of the unused recovery codes.
    pub recovery: Vec<String>,
    /// Not disabled.
    pub active: bool,
    /// Creation time.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// The single sign-on identity (`sub` or a verified email), when set.
    pub sso: Option<String>,
}

impl std::fmt::Debug for PortalUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("enrolled", &self.totp_sealed.is_some())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A stored session, joined with its user.
#[derive(Clone, Debug)]
pub struct PortalSession {
    /// The user it belongs to.
    pub user: PortalUser,
    /// `true` once the second factor was given (or is not required).
    pub full: bool,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last request, Unix ms.
    pub seen_ms: i64,
}

const COLUMNS: &str = "u.name, u.role, u.password_hash, u.totp_sealed, u.totp_last_step, u.recovery, u.status, u.created_at, u.created_by, u.sso_identity";

fn user_row(r: &Row) -> Result<PortalUser, StoreError> {
    let recovery = r.text(5)?;
    Ok(PortalUser {
        name: r.text(0)?,
        role: r.text(1)?,
        password_hash: r.text(2)?,
        totp_sealed: r.opt_blob(3)?,
        totp_last_step: r.int(4)?,
        recovery: recovery
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        active: r.text(6)? == "active",
        created_at: r.text(7)?,
        created_by: r.text(8)?,
        sso: r.opt_text(9)?,
    })
}

/// Revokes the admin API tokens a portal user made (`created_by` = `portal:<name>`): a user
/// who is disabled, changes role, is reset or deleted leaves no bearer token behind.
fn revoke_tokens_of(c: &super::sql::Conn, name: &str) -> Result<u64, StoreError> {
    c.execute(
        "UPDATE admin_tokens SET status = 'revoked', revoked_at = ?2 WHERE created_by = ?1 AND status = 'active'",
        &params![format!("portal:{name}"), now()],
    )
}

impl Store {
    /// Records a new portal user; an existing name is refused.
    pub fn insert_portal_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        created_by: &str,
    ) -> Result<(), StoreError> {
        if self.portal_user(name)?.is_some() {
            return Err(StoreError::Invalid(format!(
                "portal user \"{name}\" already exists"
            )));
        }
        let t = now();
        self.conn.execute(
            "INSERT INTO portal_users (name, role, password_hash, status, created_at, created_by, updated_at) VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?4)",
            &params![name, role, password_hash, t.as_str(), created_by],
        )?;
        Ok(())
    }

    /// One portal user.
    pub fn portal_user(&self, name: &str) -> Result<Option<PortalUser>, StoreError> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM portal_users u WHERE u.name = ?1"),
                &params![name],
            )?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    /// The portal user with single sign-on identity `sso`.
    pub fn portal_user_by_sso(&self, sso: &str) -> Result<Option<PortalUser>, StoreError> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM portal_users u WHERE u.sso_identity = ?1"),
                &params![sso],
            )?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    /// Sets (or with `None` clears) a user's single sign-on identity; an identity another
    /// user has is refused. Their sessions end.
    pub fn set_portal_user_sso(&self, name: &str, sso: Option<&str>) -> Result<bool, StoreError> {
        if let Some(id) = sso {
            if self.portal_user_by_sso(id)?.is_some_and(|u| u.name != name) {
                return Err(StoreError::Invalid(
                    "another portal user has this single sign-on identity".into(),
                ));
            }
        }
        // A session signed in under the old identity ends with it.
        self.conn.transaction(Tx::Write, |c| {
            let n = c.execute(
                "UPDATE portal_users SET sso_identity = ?2, updated_at = ?3 WHERE name = ?1",
                &params![name, sso, now()],
            )?;
            c.execute(
                "DELETE FROM portal_sessions WHERE user_name = ?1",
                &params![name],
            )?;
            Ok(n > 0)
        })
    }

    /// Every portal user, by name.
    pub fn portal_users(&self) -> Result<Vec<PortalUser>, StoreError> {
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM portal_users u ORDER BY u.name"),
                &[],
            )?
            .iter()
            .map(user_row)
            .collect()
    }

    /// Changes a user, ends every session of theirs and revokes the admin tokens they made,
    /// in one transaction. `Ok(false)` when
    /// there is no such user. `set` is an SQL assignment list over `?2…`.
    fn change_portal_user(
        &self,
        name: &str,
        set: &str,
        values: &[super::sql::Value],
    ) -> Result<bool, StoreError> {
        let mut args = vec![super::sql::Value::from(name)];
        args.extend_from_slice(values);
        let t = now();
        args.push(super::sql::Value::from(t.as_str()));
        let at = args.len();
        self.conn.transaction(Tx::Write, |c| {
            let n = c.execute(
                &format!("UPDATE portal_users SET {set}, updated_at = ?{at} WHERE name = ?1"),
                &args,
            )?;
            c.execute(
                "DELETE FROM portal_sessions WHERE user_name = ?1",
                &params![name],
            )?;
            revoke_tokens_of(c, name)?;
            Ok(n > 0)
        })
    }

    /// Disables (`false`) or enables a user; their sessions end.
    pub fn set_portal_user_active(&self, name: &str, active: bool) -> Result<bool, StoreError> {
        let status = if active { "active" } else { "disabled" };
        self.change_portal_user(name, "status = ?2", &params![status])
    }

    /// Changes a user's role; their sessions end.
    pub fn set_portal_user_role(&self, name: &str, role: &str) -> Result<bool, StoreError> {
        self.change_portal_user(name, "role = ?2", &params![role])
    }

    /// Sets a new password hash and forgets the second factor (enrolment again at the next
    /// login); their sessions end.
    pub fn reset_portal_user(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        self.change_portal_user(
            name,
            "password_hash = ?2, totp_sealed = NULL, totp_last_step = 0, recovery = ''",
            &params![password_hash],
        )
    }

    /// Sets a new password hash chosen by the user (the second factor stays); every session
    /// of theirs ends (the caller starts a fresh one for the tab that changed it).
    pub fn set_portal_user_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        self.change_portal_user(name, "password_hash = ?2", &params![password_hash])
    }

    /// Deletes a user and (by cascade and explicitly) their sessions.
    pub fn delete_portal_user(&self, name: &str) -> Result<bool, StoreError> {
        self.conn.transaction(Tx::Write, |c| {
            c.execute(
                "DELETE FROM portal_sessions WHERE user_name = ?1",
                &params![name],
            )?;
            revoke_tokens_of(c, name)?;
            Ok(c.execute("DELETE FROM portal_users WHERE name = ?1", &params![name])? > 0)
        })
    }

    /// Stores an enrolled second factor (the sealed secret, the step its confirming code
    /// used, the recovery code hashes). Sessions are kept: the user is enrolling in one.
    pub fn enroll_portal_totp(
        &self,
        name: &str,
        sealed: &[u8],
        step: i64,
        recovery: &[String],
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE portal_users SET totp_sealed = ?2, totp_last_step = ?3, recovery = ?4, updated_at = ?5 WHERE name = ?1 AND totp_sealed IS NULL",
            &params![name, sealed, step, recovery.join(","), now()],
        )?;
        Ok(n > 0)
    }

    /// Accepts TOTP step `step` for `name` if it is later than the last one accepted (a code
    /// is good once, even when two requests race).
    pub fn use_portal_totp_step(&self, name: &str, step: i64) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE portal_users SET totp_last_step = ?2 WHERE name = ?1 AND totp_last_step < ?2",
            &params![name, step],
        )?;
        Ok(n > 0)
    }

    /// Uses up recovery code hash `hash` (hex) of `name`; `false` when it is not one left.
    pub fn use_portal_recovery_code(&self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.conn.transaction(Tx::Row, |c| {
            let sql = match c.engine() {
                super::sql::Engine::Postgres => {
                    "SELECT recovery FROM portal_users WHERE name = ?1 FOR UPDATE"
                }
                super::sql::Engine::Sqlite => "SELECT recovery FROM portal_users WHERE name = ?1",
            };
            let Some(r) = c.query_opt(sql, &params![name])? else {
                return Ok(false);
            };
            let codes = r.text(0)?;
            let left: Vec<&str> = codes.split(',').filter(|s| !s.is_empty()).collect();
            // Every stored code is compared, in constant time: no early exit on a match.
            let mut found = false;
            for code in &left {
                found |= crate::crypto::ct_eq(code.as_bytes(), hash.as_bytes());
            }
            if !found {
                return Ok(false);
            }
            let rest: Vec<&str> = left.into_iter().filter(|c| *c != hash).collect();
            c.execute(
                "UPDATE portal_users SET recovery = ?2 WHERE name = ?1",
                &params![name, rest.join(",")],
            )?;
            Ok(true)
        })
    }

    /// Stores a new session (`full`: no second factor due).
    pub fn insert_portal_session(
        &self,
        id_hash: &[u8; 32],
        user: &str,
        full: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let stage = if full { "full" } else { "mfa" };
        self.conn.execute(
            "INSERT INTO portal_sessions (id_hash, user_name, stage, created_ms, seen_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
            &params![&id_hash[..], user, stage, now_ms],
        )?;
        Ok(())
    }

    /// The session with id hash `id_hash` and its user (whatever their state: the caller
    /// judges expiry and status).
    pub fn portal_session(&self, id_hash: &[u8; 32]) -> Result<Option<PortalSession>, StoreError> {
        let Some(r) = self.conn.query_opt(
            &format!("SELECT {COLUMNS}, s.stage, s.created_ms, s.seen_ms FROM portal_sessions s JOIN portal_users u ON u.name = s.user_name WHERE s.id_hash = ?1"),
            &params![&id_hash[..]],
        )? else {
            return Ok(None);
        };
        Ok(Some(PortalSession {
            user: user_row(&r)?,
            full: r.text(10)? == "full",
            created_ms: r.int(11)?,
            seen_ms: r.int(12)?,
        }))
    }

    /// Marks a session used at `now_ms` (the idle timeout counts from here).
    pub fn touch_portal_session(&self, id_hash: &[u8; 32], now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE portal_sessions SET seen_ms = ?2 WHERE id_hash = ?1",
            &params![&id_hash[..], now_ms],
        )?;
        Ok(())
    }

    /// Ends one session.
    pub fn delete_portal_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM portal_sessions WHERE id_hash = ?1",
            &params![&id_hash[..]],
        )?;
        Ok(())
    }

    /// Ends every session of `user`; how many there were.
    pub fn delete_portal_sessions_of(&self, user: &str) -> Result<u64, StoreError> {
        self.conn.execute(
            "DELETE FROM portal_sessions WHERE user_name = ?1",
            &params![user],
        )
    }

    /// Live sessions per user (for the users page).
    pub fn portal_session_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.conn
            .query(
                "SELECT user_name, COUNT(*) FROM portal_sessions GROUP BY user_name ORDER BY user_name",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
    }

    /// Deletes sessions created before `created_before_ms` or idle since `seen_before_ms`.
    pub fn forget_portal_sessions(
        &self,
        created_before_ms: i64,
        seen_before_ms: i64,
    ) -> Result<u64, StoreError> {
        self.conn.execute(
            "DELETE FROM portal_sessions WHERE created_ms < ?1 OR seen_ms < ?2",
            &params![created_before_ms, seen_before_ms],
        )
    }
}
