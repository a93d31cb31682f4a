//! The global kill switch, persisted in the store: on, every public API request is refused
//! with `killswitch.on`; the admin API and the CLI keep working.

use serde_json::json;

use super::{Change, Operator, ServiceError};

/// Turns the kill switch on or off (audited `killswitch.on` / `killswitch.off`, the previous
/// state in the note). Returns the previous state.
pub fn set(
    op: &mut Operator<'_>,
    on: bool,
    shown: impl FnOnce(&bool),
) -> Result<bool, ServiceError> {
    set_because(op, on, None, shown)
}

/// [`set`] with the operator's reason recorded in the note (the portal requires one): at
/// most 500 characters, no control characters.
pub fn set_because(
    op: &mut Operator<'_>,
    on: bool,
    reason: Option<&str>,
    shown: impl FnOnce(&bool),
) -> Result<bool, ServiceError> {
    if let Some(r) = reason {
        if r.trim().is_empty() || r.chars().count() > 500 || r.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "a reason is 1-500 characters without control characters".into(),
            ));
        }
    }
    let verb = if on {
        "killswitch.on"
    } else {
        "killswitch.off"
    };
    let actor = op.actor.name.clone();
    op.perform(
        verb,
        |s| {
            let previous = s.set_killswitch(on, &actor)?;
            Ok(Change {
                object: "killswitch".into(),
                note: Some(match reason {
                    Some(r) => json!({ "previous": previous, "reason": r.trim() }),
                    None => json!({ "previous": previous }),
                }),
                value: previous,
            })
        },
        shown,
    )
}
