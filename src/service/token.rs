//! Gateway tokens (issued by `POST /gateway/token`): revoke one, prune long-expired rows.
//! Only ids are ever handled here; the tokens exist only with the clients that received them.

use serde_json::json;

use super::{Change, Operator, ServiceError};
use crate::auth::tokens;

/// The bare id in `egt_<16 hex>` or `<16 hex>`; `None` for anything else.
pub fn bare_id(id: &str) -> Option<&str> {
    let bare = id.strip_prefix(tokens::TOKEN_PREFIX).unwrap_or(id);
    (bare.len() == 16 && bare.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(bare)
}

/// Revokes the token with bare id `id` (audited `token.revoke`, the token's audit id as the
/// object). Returns whether it was active until now.
pub fn revoke(
    op: &mut Operator<'_>,
    id: &str,
    shown: impl FnOnce(&bool),
) -> Result<bool, ServiceError> {
    op.perform(
        "token.revoke",
        |s| {
            let changed = s.revoke_token(id)?;
            Ok(Change {
                object: tokens::audit_id(id),
                note: None,
                value: changed,
            })
        },
        shown,
    )
}

/// Deletes the rows of tokens that expired before `before` (unix seconds; audited
/// `token.prune` with the count). Returns how many rows were deleted.
pub fn prune(
    op: &mut Operator<'_>,
    before: i64,
    shown: impl FnOnce(&usize),
) -> Result<usize, ServiceError> {
    op.perform(
        "token.prune",
        |s| {
            let n = s.prune_tokens(before)?;
            Ok(Change {
                object: "gateway_tokens".into(),
                note: Some(json!({ "deleted": n, "expired_before": before })),
                value: n,
            })
        },
        shown,
    )
}
