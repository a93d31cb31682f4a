//! Accounts: who an issued credential speaks for.

use super::sql::{params, Row};
use super::{check_name, now, Store, StoreError};

/// Whether an account may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    /// Usable: its credentials authenticate.
    Active,
    /// Refused on the next request.
    Suspended,
}

impl AccountStatus {
    /// `active` or `suspended`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }
}

/// An account.
#[derive(Clone, Debug)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Tenant (from the configuration).
    pub tenant: String,
    /// The Oracle user presented upstream (default: the tenant's).
    pub oracle_user: Option<String>,
    /// The stored secret for that user (default: the tenant's).
    pub upstream_secret: Option<String>,
    /// Active or suspended.
    pub status: AccountStatus,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

const COLUMNS: &str =
    "id, name, tenant, oracle_user, upstream_secret, status, created_at, updated_at";

fn from_row(r: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        id: r.int(0)?,
        name: r.text(1)?,
        tenant: r.text(2)?,
        oracle_user: r.opt_text(3)?,
        upstream_secret: r.opt_text(4)?,
        status: if r.text(5)? == "active" {
            AccountStatus::Active
        } else {
            AccountStatus::Suspended
        },
        created_at: r.text(6)?,
        updated_at: r.text(7)?,
    })
}

impl Store {
    /// Creates an active account.
    pub fn create_account(
        &self,
        name: &str,
        tenant: &str,
        oracle_user: Option<&str>,
        upstream_secret: Option<&str>,
    ) -> Result<Account, StoreError> {
        check_name("account", name)?;
        if let Some(s) = upstream_secret {
            check_name("secret", s)?;
        }
        if let Some(u) = oracle_user {
            if u.is_empty() || u.len() > 256 || u.chars().any(|c| c.is_control() || c == ':') {
                return Err(StoreError::Invalid(format!(
                    "oracle user \"{u}\" is invalid: 1-256 characters, no ':' or control characters"
                )));
            }
        }
        let t = now();
        self.conn
            .execute(
                "INSERT INTO accounts (name, tenant, oracle_user, upstream_secret, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?5)",
                &params![name, tenant, oracle_user, upstream_secret, t],
            )
            .map_err(|e| e.conflict("account", name))?;
        self.get_account(name)?.ok_or(StoreError::NotFound {
            what: "account",
            key: name.into(),
        })
    }

    /// Sets an account's status.
    pub fn set_account_status(
        &self,
        name: &str,
        status: AccountStatus,
    ) -> Result<Account, StoreError> {
        let n = self.conn.execute(
            "UPDATE accounts SET status = ?1, updated_at = ?2 WHERE name = ?3",
            &params![status.as_str(), now(), name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "account",
                key: name.into(),
            });
        }
        self.get_account(name)?.ok_or(StoreError::NotFound {
            what: "account",
            key: name.into(),
        })
    }

    /// One account by name.
    pub fn get_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM accounts WHERE name = ?1"),
                &params![name],
            )?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// All accounts by name.
    pub fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.conn
            .query(
                &format!("SELECT {COLUMNS} FROM accounts ORDER BY name"),
                &[],
            )?
            .iter()
            .map(from_row)
            .collect()
    }
}
