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
                note: Some(json!({ "previous": previous })),
                value: previous,
            })
        },
        shown,
    )
}
