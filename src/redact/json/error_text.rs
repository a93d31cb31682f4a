//! Error bodies under masking rules: their free text is masked whole.
//!
//! Oracle writes what failed in words (`title`, `detail`, `o:errorDetails[].detail`), and
//! those words may quote a value the rules mask (`"Supplier bank account GB29… failed
//! validation"`). A rule matches members, never a value inside a sentence, so in an error
//! body every string is masked except those of members named like codes.

use super::JsonMasker;

/// In an error body, the members whose strings are codes, not free text, and are kept.
const ERROR_CODE_KEYS: [&[u8]; 4] = [b"status", b"o:errorCode", b"type", b"errorCode"];

impl JsonMasker {
    /// Also masks the free text of an error body: every string value, wherever it is, except
    /// those of members named like codes (`status`, `o:errorCode`, `type`, `errorCode`). Oracle
    /// writes what failed into `title`, `detail` and `o:errorDetails[].detail` in words, and
    /// those words may quote a value the rules mask (`"Supplier bank account GB29… failed
    /// validation"`); a rule cannot find a value inside a sentence, so the sentence goes.
    pub fn mask_error_text(mut self) -> Self {
        self.error_text = true;
        self
    }

    /// Whether the string starting now is error free text to mask: the nearest enclosing
    /// member is not a code member.
    pub(super) fn error_free_text(&self) -> bool {
        match self.stack.iter().rev().find(|f| f.is_obj) {
            Some(f) => !(f.key_matchable && ERROR_CODE_KEYS.contains(&f.key.as_slice())),
            None => true,
        }
    }
}
