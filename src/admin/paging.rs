//! Cursor pagination, the same on every list: `?limit=N` (1–1000, default 100) and
//! `?cursor=C`, where `C` is the `next_cursor` of the page before. A cursor is opaque to
//! clients (base64url of the last key served), stable under inserts (keys are unique and
//! pages are in key order), and a cursor from one list is refused by another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::common::query;
use super::{AdminRequest, Reply};

/// The query parameters of every paginated list.
pub(super) const PAGE: &[&str] = &["limit", "cursor"];

/// Items per page when `limit` is absent.
pub(super) const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` of a list (the audit trail's is its own: 10,000).
pub(super) const MAX_LIMIT: usize = 1000;

/// A page asked for.
pub(super) struct Page {
    /// Items at most.
    pub limit: usize,
    /// Serve keys after this one.
    pub after: Option<String>,
}

/// `limit` and `cursor` of a list called `list` (the cursor's scope).
pub(super) fn params(req: &AdminRequest, list: &str, max: usize) -> Result<Page, Reply> {
    let limit = match query(req, "limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT.min(max),
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => return Err(Reply::bad("limit", &format!("`limit` must be 1..={max}"))),
    };
    let after = match query(req, "cursor") {
        None => None,
        Some(c) => Some(decode(list, &c).ok_or_else(|| {
            Reply::bad(
                "cursor",
                "`cursor` is not a cursor of this list (pass the `next_cursor` of the page before)",
            )
        })?),
    };
    Ok(Page { limit, after })
}

/// The cursor after `key` in `list`.
pub(super) fn encode(list: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}\n{key}"))
}

fn decode(list: &str, cursor: &str) -> Option<String> {
    if cursor.len() > 2048 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (scope, key) = text.split_once('\n')?;
    (scope == list).then(|| key.to_string())
}

/// One page of `items` in the order of `key` (unique per item), and the cursor of the next
/// page when there is one.
pub(super) fn paginate<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> &str,
    list: &str,
    page: &Page,
) -> (Vec<T>, Option<String>) {
    items.sort_by(|a, b| key(a).cmp(key(b)));
    let start = match &page.after {
        Some(after) => items.partition_point(|i| key(i) <= after.as_str()),
        None => 0,
    };
    let rest = items.split_off(start.min(items.len()));
    let more = rest.len() > page.limit;
    let served: Vec<T> = rest.into_iter().take(page.limit).collect();
    let next = if more {
        served.last().map(|last| encode(list, key(last)))
    } else {
        None
    };
    (served, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_once_in_key_order() {
        let items: Vec<String> = (0..25).rev().map(|i| format!("k{i:02}")).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = Page {
                limit: 10,
                after: after.clone(),
            };
            let (served, next) = paginate(items.clone(), |s| s.as_str(), "accounts", &page);
            seen.extend(served);
            match next {
                Some(c) => after = Some(decode("accounts", &c).expect("own cursor")),
                None => break,
            }
        }
        let want: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_cursor_belongs_to_its_list() {
        let c = encode("accounts", "a");
        assert_eq!(decode("accounts", &c).as_deref(), Some("a"));
        assert_eq!(decode("credentials", &c), None);
        assert_eq!(decode("accounts", "%%%"), None);
        assert_eq!(decode("accounts", &"A".repeat(3000)), None);
    }

    #[test]
    fn an_exact_last_page_has_no_next_cursor() {
        let items = vec!["a".to_string(), "b".to_string()];
        let (served, next) = paginate(
            items,
            |s| s.as_str(),
            "x",
            &Page {
                limit: 2,
                after: None,
            },
        );
        assert_eq!(served.len(), 2);
        assert_eq!(next, None);
    }
}
