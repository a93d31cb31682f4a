//! Portal users: the people who log in to the operator portal. Created by the CLI (the
//! bootstrap) or by an owner in the portal, with a role as the admin API's (auditor < admin <
//! owner). A password is argon2id, at least [`PASSWORD_MIN`] characters and not containing
//! the user's name; a generated one (shown once) is the default. Disabling a user, changing
//! their role or resetting their password ends every session of theirs in the same
//! transaction; the last active owner cannot be disabled, demoted or deleted.

use serde_json::json;

use super::admin_token::Role;
use super::{Change, Operator, ServiceError};
use crate::crypto::{PasswordHasher, SecretString};
use crate::store::Store;

/// The shortest password a portal user may have.
pub const PASSWORD_MIN: usize = 12;
/// The longest (argon2 takes any length; this bounds the work a login form can ask for).
pub const PASSWORD_MAX: usize = 256;

/// Refuses a password too short, too long, or containing the user's name.
pub fn check_password(name: &str, password: &str) -> Result<(), ServiceError> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN {
        return Err(ServiceError::Invalid(format!(
            "a portal password has at least {PASSWORD_MIN} characters"
        )));
    }
    if chars > PASSWORD_MAX {
        return Err(ServiceError::Invalid(format!(
            "a portal password has at most {PASSWORD_MAX} characters"
        )));
    }
    if password.to_lowercase().contains(&name.to_lowercase()) {
        return Err(ServiceError::Invalid(
            "a portal password must not contain the user's name".into(),
        ));
    }
    Ok(())
}

/// A password to show once: 144 random bits, URL-safe.
fn generated() -> Result<SecretString, ServiceError> {
    Ok(crate::crypto::random_token(18)?)
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    crate::store::check_name("portal user name", name)
        .map_err(|e| ServiceError::Invalid(e.to_string()))
}

/// Active owners other than `name`.
fn other_owners(store: &Store, name: &str) -> Result<usize, ServiceError> {
    Ok(store
        .portal_users()?
        .iter()
        .filter(|u| u.active && u.role == "owner" && u.name != name)
        .count())
}

fn refuse_last_owner(store: &Store, name: &str, what: &str) -> Result<(), ServiceError> {
    let is_owner = store
        .portal_user(name)?
        .is_some_and(|u| u.active && u.role == "owner");
    if is_owner && other_owners(store, name)? == 0 {
        return Err(ServiceError::Invalid(format!(
            "\"{name}\" is the last active owner: {what} would leave nobody to manage portal users"
        )));
    }
    Ok(())
}

fn no_such(name: &str) -> ServiceError {
    ServiceError::Invalid(format!("portal user \"{name}\" does not exist"))
}

/// Creates a portal user (audited `portal_user.create`: name and role). With no `password`
/// one is generated; returns the password in force (the caller shows it once).
pub fn create(
    op: &mut Operator<'_>,
    hasher: &PasswordHasher,
    name: &str,
    role: Role,
    password: Option<SecretString>,
    shown: impl FnOnce(&SecretString),
) -> Result<SecretString, ServiceError> {
    check_name(name)?;
    let password = match password {
        Some(p) => p,
        None => generated()?,
    };
    check_password(name, password.expose())?;
    let hash = hasher.hash(password.expose().as_bytes())?;
    let actor = op.actor.name.clone();
    op.perform(
        "portal_user.create",
        |s| {
            s.insert_portal_user(name, role.as_str(), &hash, &actor)?;
            Ok(Change {
                object: format!("portal:{name}"),
                note: Some(json!({"role": role.as_str()})),
                value: password,
            })
        },
        shown,
    )
}

/// Disables (`active = false`) or enables a user (audited `portal_user.disable` /
/// `portal_user.enable`); their sessions end at once.
pub fn set_active(
    op: &mut Operator<'_>,
    name: &str,
    active: bool,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    if !active {
        refuse_last_owner(op.store, name, "disabling them")?;
    }
    let verb = if active {
        "portal_user.enable"
    } else {
        "portal_user.disable"
    };
    op.perform(
        verb,
        |s| {
            if !s.set_portal_user_active(name, active)? {
                return Err(no_such(name));
            }
            Ok(Change {
                object: format!("portal:{name}"),
                note: None,
                value: (),
            })
        },
        shown,
    )
}

/// Changes a user's role (audited `portal_user.role`, old and new); their sessions end.
pub fn set_role(
    op: &mut Operator<'_>,
    name: &str,
    role: Role,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    let before = op.store.portal_user(name)?.ok_or_else(|| no_such(name))?;
    if role != Role::Owner {
        refuse_last_owner(op.store, name, "demoting them")?;
    }
    op.perform(
        "portal_user.role",
        |s| {
            s.set_portal_user_role(name, role.as_str())?;
            Ok(Change {
                object: format!("portal:{name}"),
                note: Some(json!({"from": before.role, "to": role.as_str()})),
                value: (),
            })
        },
        shown,
    )
}

/// Sets a new password (generated when `password` is `None`) and forgets the second factor,
/// so the user enrols again (audited `portal_user.reset`); their sessions end.
pub fn reset(
    op: &mut Operator<'_>,
    hasher: &PasswordHasher,
    name: &str,
    password: Option<SecretString>,
    shown: impl FnOnce(&SecretString),
) -> Result<SecretString, ServiceError> {
    let password = match password {
        Some(p) => p,
        None => generated()?,
    };
    check_password(name, password.expose())?;
    let hash = hasher.hash(password.expose().as_bytes())?;
    op.perform(
        "portal_user.reset",
        |s| {
            if !s.reset_portal_user(name, &hash)? {
                return Err(no_such(name));
            }
            Ok(Change {
                object: format!("portal:{name}"),
                note: None,
                value: password,
            })
        },
        shown,
    )
}

/// A user's own new password (audited `portal_user.password`); every session of theirs ends.
/// The caller has verified the current password.
pub fn change_password(
    op: &mut Operator<'_>,
    hasher: &PasswordHasher,
    name: &str,
    password: &SecretString,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    check_password(name, password.expose())?;
    let hash = hasher.hash(password.expose().as_bytes())?;
    op.perform(
        "portal_user.password",
        |s| {
            if !s.set_portal_user_password(name, &hash)? {
                return Err(no_such(name));
            }
            Ok(Change {
                object: format!("portal:{name}"),
                note: None,
                value: (),
            })
        },
        shown,
    )
}

/// Deletes a user (audited `portal_user.delete`); their sessions end.
pub fn delete(
    op: &mut Operator<'_>,
    name: &str,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    refuse_last_owner(op.store, name, "deleting them")?;
    op.perform(
        "portal_user.delete",
        |s| {
            if !s.delete_portal_user(name)? {
                return Err(no_such(name));
            }
            Ok(Change {
                object: format!("portal:{name}"),
                note: None,
                value: (),
            })
        },
        shown,
    )
}

/// Links a user to a single sign-on identity (the issuer's `sub`, or a verified email, as
/// `gateway.portal_oidc_match` says), or with `None` unlinks them (audited
/// `portal_user.sso`, the identity in the note).
pub fn set_sso(
    op: &mut Operator<'_>,
    name: &str,
    identity: Option<&str>,
    shown: impl FnOnce(&()),
) -> Result<(), ServiceError> {
    if let Some(i) = identity {
        if i.is_empty() || i.len() > 256 || i.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "a single sign-on identity is 1-256 characters without control characters".into(),
            ));
        }
    }
    op.perform(
        "portal_user.sso",
        |s| {
            if !s.set_portal_user_sso(name, identity)? {
                return Err(no_such(name));
            }
            Ok(Change {
                object: format!("portal:{name}"),
                note: Some(json!({"sso": identity})),
                value: (),
            })
        },
        shown,
    )
}

/// Ends every session of a user (audited `portal_user.sessions_end`, with how many).
pub fn end_sessions(
    op: &mut Operator<'_>,
    name: &str,
    shown: impl FnOnce(&u64),
) -> Result<u64, ServiceError> {
    op.store.portal_user(name)?.ok_or_else(|| no_such(name))?;
    op.perform(
        "portal_user.sessions_end",
        |s| {
            let n = s.delete_portal_sessions_of(name)?;
            Ok(Change {
                object: format!("portal:{name}"),
                note: Some(json!({"sessions": n})),
                value: n,
            })
        },
        shown,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_do_not_contain_the_name() {
        assert!(check_password("ops", "short").is_err());
        assert!(check_password("ops", "my-OPS-password-1").is_err());
        assert!(check_password("ops", &"x".repeat(PASSWORD_MAX + 1)).is_err());
        assert!(check_password("ops", "correct horse battery").is_ok());
        // Characters, not bytes.
        assert!(check_password("ops", "ééééééééééé").is_err());
        assert!(check_password("ops", "éééééééééééé").is_ok());
    }
}
