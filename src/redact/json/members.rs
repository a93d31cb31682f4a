//! Whole object members in one go: the masker's fast path.
//!
//! Most of a Fusion response is members like `"InvoiceNumber":"INV-1001",` whose key no rule
//! names. The byte-level state machine spends a dozen steps on each (the comma, the key's
//! quotes, the colon, the value's start and end), holding the member's prefix until its key is
//! known. [`JsonMasker::members`] reads such members whole while they are plain and complete in
//! the chunk (a key without escapes, then a string without escapes, a number or a literal) and
//! copies each through with one append.
//!
//! It never decides anything the state machine would decide differently: it takes only what is
//! well-formed and leaves, at the first byte it does not handle, the state the byte-level path
//! would have reached at that byte (including what it holds back). So the output, the verdict
//! and an error's offset do not depend on which path read a byte; the unit tests feed every
//! document whole (this path) and byte by byte (never this path) and compare.

use super::scan::masked_with_tail;
use super::{is_ws, JsonMasker, MaskAction, State, PENDING_WS_CAP};
use crate::json_text::plain_run;

/// The end of the whitespace run starting at `i`.
#[inline]
fn ws_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// The end of the run of ASCII digits starting at `i`.
#[inline]
fn digits_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The end of the JSON number starting at `i`, when the number is complete in `s`: valid by
/// RFC 8259 §6 and followed by a byte that ends it (whitespace, `,`, `}` or `]`). `None` when
/// it is invalid or may go on in the next chunk: the byte-level path decides then.
fn number_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + usize::from(s.get(i) == Some(&b'-'));
    match s.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits_end(s, j + 1),
        _ => return None,
    }
    if s.get(j) == Some(&b'.') {
        let k = digits_end(s, j + 1);
        if k == j + 1 {
            return None;
        }
        j = k;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = digits_end(s, j);
        if k == j {
            return None;
        }
        j = k;
    }
    match s.get(j)? {
        b',' | b'}' | b']' => Some(j),
        &b if is_ws(b) => Some(j),
        _ => None,
    }
}

/// The closing quote of the string starting at `i` when it is whole in `s` and has no escape
/// or control byte.
fn whole_string(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let close = plain_run(s, i + 1);
    (s.get(close) == Some(&b'"')).then_some(close)
}

/// The end of the scalar value starting at `i` when it is whole in `s` and passes through
/// untouched by the byte-level rules: a string without escapes, a number, a literal.
fn plain_scalar_end(s: &[u8], i: usize) -> Option<usize> {
    match s.get(i)? {
        b'"' => whole_string(s, i).map(|close| close + 1),
        b'-' | b'0'..=b'9' => number_end(s, i),
        b't' => s[i..].starts_with(b"true").then_some(i + 4),
        b'f' => s[i..].starts_with(b"false").then_some(i + 5),
        b'n' => s[i..].starts_with(b"null").then_some(i + 4),
        _ => None,
    }
}

impl JsonMasker {
    /// A `links[].href` member whose value, at `v`, is a string without escapes complete in
    /// the chunk: writes the member from `start` with an upstream origin that starts the value
    /// rewritten, exactly as `rewrite_bytes` decides it (the value's first bytes, at most the
    /// rule's window, and the byte after them), and returns the value's end. `None`, having
    /// written nothing, for any other value.
    fn href_whole(
        &mut self,
        chunk: &[u8],
        start: usize,
        v: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let close = whole_string(chunk, v)?;
        let links = self.rules.links()?;
        let value = &chunk[v + 1..close];
        let window = links.window();
        let head = &value[..value.len().min(window)];
        let next = value.get(window).copied().unwrap_or(b'"');
        out.extend_from_slice(&chunk[start..=v]);
        match links.matched(head, next) {
            Some(n) => {
                out.extend_from_slice(links.to());
                out.extend_from_slice(&chunk[v + 1 + n..=close]);
                self.stats.links_rewritten += 1;
            }
            None => out.extend_from_slice(&chunk[v + 1..=close]),
        }
        Some(close + 1)
    }

    /// Reads object members whole from `start`, where a key's opening quote is, in state
    /// `ObjKey`. Returns where the byte-level path goes on: `start` itself when the first
    /// member is not one this path takes.
    pub(super) fn members(&mut self, chunk: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
        let max_key = self.limits.max_key_len;
        let mut i = start;
        loop {
            // The key: plain ASCII (no escape to resolve, nothing to validate as UTF-8), short
            // enough to match a rule, and never so long with its held prefix that the
            // byte-level path would have stopped holding it (see `pending_push`).
            let key_end = plain_run(chunk, i + 1);
            if chunk.get(key_end) != Some(&b'"') {
                return i;
            }
            let key = &chunk[i + 1..key_end];
            if key.len() > max_key
                || !key.is_ascii()
                || self.pending.len() + key.len() + 2 > max_key + PENDING_WS_CAP + 2
            {
                return i;
            }
            let colon = ws_end(chunk, key_end + 1);
            if colon - (key_end + 1) > PENDING_WS_CAP || chunk.get(colon) != Some(&b':') {
                return i;
            }
            let Some(top) = self.stack.last_mut() else {
                return i;
            };
            top.key.clear();
            top.key.extend_from_slice(key);
            top.key_matchable = true;
            self.decide();
            self.key_raw_overflow = false;
            self.pending_ws = 0;
            self.state = State::Value;
            let removing = matches!(self.action, Some((_, MaskAction::Remove)));
            if removing {
                // The member goes, with the separator and whitespace held before it.
                self.pending.clear();
                if let Some(f) = self.stack.last_mut() {
                    f.removing = true;
                    if !f.emitted {
                        f.skip_comma = true;
                    }
                }
            } else {
                out.extend_from_slice(&self.pending);
                self.pending.clear();
            }

            // The value, with the whitespace before it; containers and anything not whole in
            // this chunk are left to the byte-level path (state `Value`, the action decided).
            let v = ws_end(chunk, colon + 1);
            let end = if let Some((rule, action)) = self.action {
                let Some(close) = whole_string(chunk, v)
                    .filter(|&c| action != MaskAction::Last4 || chunk[v + 1..c].is_ascii())
                else {
                    if !removing {
                        out.extend_from_slice(&chunk[i..=colon]);
                    }
                    return colon + 1;
                };
                self.action = None;
                self.rewrite_next = false;
                self.stats.values_masked += 1;
                if let Some(c) = self.stats.per_rule.get_mut(rule) {
                    *c += 1;
                }
                if !removing {
                    out.extend_from_slice(&chunk[i..v]);
                    let mask = self.rules.mask_json();
                    let value = &chunk[v + 1..close];
                    if action == MaskAction::Last4 && value.len() > 4 {
                        // An ASCII value: its last four bytes are its last four characters.
                        let tail = std::str::from_utf8(&value[value.len() - 4..]);
                        masked_with_tail(out, mask, tail.unwrap_or_default());
                    } else {
                        out.extend_from_slice(mask);
                    }
                }
                close + 1
            } else if self.rewrite_next {
                let Some(end) = self.href_whole(chunk, i, v, out) else {
                    out.extend_from_slice(&chunk[i..=colon]);
                    return colon + 1;
                };
                self.rewrite_next = false;
                end
            } else {
                let Some(end) = plain_scalar_end(chunk, v) else {
                    out.extend_from_slice(&chunk[i..v]);
                    return v;
                };
                out.extend_from_slice(&chunk[i..end]);
                end
            };
            self.value_done();

            // After it: whitespace, then a separator and the next key's opening quote.
            let comma = ws_end(chunk, end);
            if comma > end {
                out.extend_from_slice(&chunk[end..comma]);
            }
            if chunk.get(comma) != Some(&b',') {
                return comma;
            }
            self.state = State::ObjKey { allow_close: false };
            self.key_raw_overflow = false;
            if let Some(f) = self.stack.last_mut() {
                if f.skip_comma {
                    f.skip_comma = false;
                } else {
                    self.pending.push(b',');
                }
            }
            // The whitespace before the next key is held with the separator.
            let quote = ws_end(chunk, comma + 1);
            if quote - (comma + 1) > PENDING_WS_CAP {
                return comma + 1;
            }
            self.pending.extend_from_slice(&chunk[comma + 1..quote]);
            self.pending_ws = quote - (comma + 1);
            if chunk.get(quote) != Some(&b'"') {
                return quote;
            }
            i = quote;
        }
    }
}

#[cfg(test)]
mod tests;
