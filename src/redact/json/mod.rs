//! The streaming JSON masker: a byte-level state machine fed chunk by chunk.
//!
//! Memory is bounded by the nesting depth and the key length limit, never by the body: values
//! that are masked or removed are skipped without being buffered, and `last4` keeps four
//! characters. Bytes outside masked values are copied through unchanged, with one exception:
//! a whitespace run longer than 64 bytes between an object member separator and the next key
//! is shortened (it is held until the key is known, in case that member must be removed).
//! The input is validated strictly (structure, strings and escapes, numbers, literals, UTF-8
//! of keys); anything invalid is an error, so the caller can fail closed.

use std::sync::Arc;

use super::rules::{MaskAction, MaskRules, PathStep};

/// Limits protecting the masker from hostile documents.
#[derive(Clone, Copy, Debug)]
pub struct MaskLimits {
    /// Maximum nesting depth.
    pub max_depth: usize,
    /// Keys longer than this are streamed and can never match a rule.
    pub max_key_len: usize,
}

impl Default for MaskLimits {
    fn default() -> Self {
        MaskLimits {
            max_depth: 128,
            max_key_len: 256,
        }
    }
}

/// What the masker did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskStats {
    /// Values masked or removed.
    pub values_masked: u64,
    /// Per rule index, how many values it masked.
    pub per_rule: Vec<u64>,
    /// `links[].href` values whose upstream origin was rewritten.
    pub links_rewritten: u64,
    /// Free-text strings of an error body masked (see [`JsonMasker::mask_error_text`]); also
    /// counted in `values_masked`.
    pub error_text_masked: u64,
}

/// Why masking failed. Never carries document content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    /// Not valid JSON at this byte offset.
    #[error("response is not valid JSON (at byte {offset})")]
    InvalidJson {
        /// Byte offset in the whole body.
        offset: u64,
    },
    /// Nested deeper than the limit.
    #[error("response JSON is nested too deeply")]
    TooDeep,
    /// The body ended inside the document.
    #[error("response JSON is incomplete")]
    Incomplete,
    /// Something other than whitespace follows the document.
    #[error("response has data after the JSON document")]
    TrailingData,
}

const PENDING_WS_CAP: usize = 64;

/// A key buffer's first capacity: Fusion's member names are rarely longer
/// (`TaxRegistrationNumber` is 21 bytes).
const KEY_CAPACITY: usize = 32;

#[derive(Debug)]
struct Frame {
    is_obj: bool,
    /// The current member's unescaped key (objects).
    key: Vec<u8>,
    key_matchable: bool,
    /// A member has been written to the output (decides comma handling on removal).
    emitted: bool,
    /// Drop the next separator at this level (a leading member was removed).
    skip_comma: bool,
    /// The current member is being removed.
    removing: bool,
    /// An array that has not had an element yet (so `]` may close it).
    fresh: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Expecting a value.
    Value,
    /// After a value: separator, closer, or (top level) end.
    AfterValue,
    /// In an object, expecting a key (or `}` when `allow_close`).
    ObjKey { allow_close: bool },
    /// Inside a key string.
    KeyStr,
    /// After a key, expecting `:`.
    Colon,
    /// Inside a string value passed through.
    Str,
    /// Inside a number passed through.
    Num(Num),
    /// Inside a literal (`true`, `false`, `null`) passed through.
    Lit { which: u8, pos: u8 },
    /// Skipping a masked container or string.
    Skip,
    /// Skipping a masked scalar (ends at a delimiter).
    SkipScalar,
    /// Inside a string whose last four characters are kept.
    Last4,
    /// At the start of a `links[].href` string, holding bytes until the origin is decided.
    Rewrite,
    /// The top-level value is complete.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

const LITERALS: [&[u8]; 3] = [b"true", b"false", b"null"];

/// Escape progress inside a string.
#[derive(Clone, Copy, Debug, Default)]
struct Esc {
    /// 0: none; 1: after `\`; 2..=5: reading hex digit (5 - n remaining).
    mode: u8,
    hex: u32,
    /// A high surrogate waiting for its low half.
    high: Option<u32>,
}

/// Streams one JSON document through a rule set.
pub struct JsonMasker {
    rules: Arc<MaskRules>,
    limits: MaskLimits,
    state: State,
    stack: Vec<Frame>,
    pending: Vec<u8>,
    pending_ws: usize,
    key_raw_overflow: bool,
    esc: Esc,
    /// The action decided for the value about to start.
    action: Option<(usize, MaskAction)>,
    /// The value about to start is a `links[].href` to rewrite.
    rewrite_next: bool,
    /// Rewrite: the value's first bytes, at most the link rule's window.
    rw: Vec<u8>,
    /// Skip: bracket stack as bits (1 = array) and depth; string state.
    skip_bits: u128,
    skip_depth: u32,
    skip_in_str: bool,
    skip_esc: bool,
    /// Last4: ring of the last four chars and UTF-8 assembly.
    ring: [char; 4],
    ring_len: usize,
    utf8: [u8; 4],
    utf8_len: usize,
    utf8_need: usize,
    offset: u64,
    stats: MaskStats,
    /// Key buffers of popped frames, reused so objects cost no allocation.
    spare_keys: Vec<Vec<u8>>,
    /// Mask every string of an error body that is not a code (`error_text.rs`).
    error_text: bool,
}

impl JsonMasker {
    /// A masker for one document.
    pub fn new(rules: Arc<MaskRules>, limits: MaskLimits) -> Self {
        let n = rules.len();
        JsonMasker {
            rules,
            limits,
            state: State::Value,
            stack: Vec::with_capacity(8),
            pending: Vec::with_capacity(KEY_CAPACITY + 8),
            pending_ws: 0,
            key_raw_overflow: false,
            esc: Esc::default(),
            action: None,
            rewrite_next: false,
            rw: Vec::new(),
            skip_bits: 0,
            skip_depth: 0,
            skip_in_str: false,
            skip_esc: false,
            ring: ['\0'; 4],
            ring_len: 0,
            utf8: [0; 4],
            utf8_len: 0,
            utf8_need: 0,
            offset: 0,
            spare_keys: Vec::new(),
            error_text: false,
            stats: MaskStats {
                values_masked: 0,
                per_rule: vec![0; n],
                links_rewritten: 0,
                error_text_masked: 0,
            },
        }
    }

    /// Bytes held internally (pending member prefix and keys), for memory checks.
    pub fn buffered_bytes(&self) -> usize {
        self.pending.capacity()
            + self.rw.capacity()
            + self.stack.iter().map(|f| f.key.capacity()).sum::<usize>()
            + self.spare_keys.iter().map(Vec::capacity).sum::<usize>()
    }

    fn invalid(&self, i: usize) -> MaskError {
        MaskError::InvalidJson {
            offset: self.offset + i as u64,
        }
    }

    /// Feeds one chunk; appends output to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        let mut i = 0;
        while i < chunk.len() {
            i = self.step(chunk, i, out)?;
        }
        self.offset += chunk.len() as u64;
        Ok(())
    }

    /// Ends the document.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<MaskStats, MaskError> {
        match self.state {
            State::Done => {}
            State::Num(n)
                if self.stack.is_empty()
                    && matches!(n, Num::Zero | Num::Int | Num::Frac | Num::Exp) => {}
            State::SkipScalar if self.stack.is_empty() => {}
            _ => return Err(MaskError::Incomplete),
        }
        let _ = out;
        Ok(self.stats.clone())
    }

    /// Emits a structural/pass-through byte: into `pending` while a member prefix is held.
    fn emit(&mut self, out: &mut Vec<u8>, b: u8) {
        if self.holding() {
            self.pending.push(b);
        } else {
            out.push(b);
        }
    }

    fn holding(&self) -> bool {
        matches!(
            self.state,
            State::ObjKey { .. } | State::KeyStr | State::Colon
        ) && !self.key_raw_overflow
    }

    fn flush_pending(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        self.pending_ws = 0;
    }

    fn push_frame(&mut self, is_obj: bool, i: usize) -> Result<(), MaskError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(MaskError::TooDeep);
        }
        let _ = i;
        // Room for the usual Fusion member name, so a key does not grow its buffer.
        let mut key = self
            .spare_keys
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(KEY_CAPACITY));
        key.clear();
        self.stack.push(Frame {
            is_obj,
            key,
            key_matchable: true,
            emitted: false,
            skip_comma: false,
            removing: false,
            fresh: !is_obj,
        });
        Ok(())
    }

    fn pop_frame(&mut self) {
        if let Some(f) = self.stack.pop() {
            self.spare_keys.push(f.key);
        }
    }

    /// A value just completed (any kind): move to AfterValue or Done.
    fn value_done(&mut self) {
        if let Some(f) = self.stack.last_mut() {
            if f.removing {
                f.removing = false;
            } else {
                f.emitted = true;
            }
        }
        self.state = if self.stack.is_empty() {
            State::Done
        } else {
            State::AfterValue
        };
    }

    /// Decides what happens to the value of the member whose key was just read.
    fn decide(&mut self) {
        self.action = None;
        self.rewrite_next = false;
        let Some(top) = self.stack.last() else { return };
        if !top.key_matchable {
            return;
        }
        if top.key == b"href" && self.rules.links().is_some() {
            let n = self.stack.len();
            self.rewrite_next = n >= 3
                && !self.stack[n - 2].is_obj
                && self.stack[n - 3].is_obj
                && self.stack[n - 3].key == b"links";
        }
        if !self.rules.is_candidate(&top.key) {
            return;
        }
        let path = self.stack.iter().map(|f| {
            if f.is_obj {
                PathStep::Key(&f.key)
            } else {
                PathStep::Index
            }
        });
        self.action = self.rules.find(path);
    }

    /// Starts the value at `b` (not whitespace), honouring a decided action.
    fn start_value(
        &mut self,
        chunk: &[u8],
        i: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        let b = chunk[i];
        // Whatever this value is, a rewrite decided for it ends with it (a masked `href` must
        // not leave the rewrite armed for the next value).
        let rewrite = std::mem::take(&mut self.rewrite_next);
        if let Some((rule, action)) = self.action.take() {
            self.stats.values_masked += 1;
            if let Some(c) = self.stats.per_rule.get_mut(rule) {
                *c += 1;
            }
            match action {
                MaskAction::Remove => {}
                MaskAction::Last4 if b == b'"' => {
                    self.ring_len = 0;
                    self.utf8_need = 0;
                    self.esc = Esc::default();
                    self.state = State::Last4;
                    return Ok(i + 1);
                }
                MaskAction::Mask | MaskAction::Last4 => {
                    out.extend_from_slice(self.rules.mask_json())
                }
            }
            return self.start_skip(b, i);
        }
        if self.error_text && b == b'"' && self.error_free_text() {
            self.stats.values_masked += 1;
            self.stats.error_text_masked += 1;
            out.extend_from_slice(self.rules.mask_json());
            return self.start_skip(b, i);
        }
        if rewrite && b == b'"' {
            out.push(b);
            self.rw.clear();
            self.esc = Esc::default();
            self.state = State::Rewrite;
            return Ok(i + 1);
        }
        match b {
            b'{' => {
                out.push(b);
                self.push_frame(true, i)?;
                self.state = State::ObjKey { allow_close: true };
            }
            b'[' => {
                out.push(b);
                self.push_frame(false, i)?;
                self.state = State::Value;
                // An empty array closes immediately; handled in Value on ']'.
            }
            b'"' => {
                out.push(b);
                self.esc = Esc::default();
                self.state = State::Str;
            }
            b'-' => {
                out.push(b);
                self.state = State::Num(Num::Minus);
            }
            b'0' => {
                out.push(b);
                self.state = State::Num(Num::Zero);
            }
            b'1'..=b'9' => {
                out.push(b);
                self.state = State::Num(Num::Int);
            }
            b't' | b'f' | b'n' => {
                out.push(b);
                let which = match b {
                    b't' => 0,
                    b'f' => 1,
                    _ => 2,
                };
                self.state = State::Lit { which, pos: 1 };
            }
            _ => return Err(self.invalid(i)),
        }
        Ok(i + 1)
    }

    fn start_skip(&mut self, b: u8, i: usize) -> Result<usize, MaskError> {
        match b {
            b'{' | b'[' => {
                self.skip_bits = u128::from(b == b'[');
                self.skip_depth = 1;
                self.skip_in_str = false;
                self.state = State::Skip;
            }
            b'"' => {
                self.skip_depth = 0;
                self.skip_in_str = true;
                self.skip_esc = false;
                self.state = State::Skip;
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.state = State::SkipScalar,
            _ => return Err(self.invalid(i)),
        }
        Ok(i + 1)
    }

    fn step(&mut self, chunk: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, MaskError> {
        let b = chunk[i];
        match self.state {
            State::Value => {
                if is_ws(b) {
                    // Whitespace before a removed member's value goes with the member.
                    if !self.stack.last().is_some_and(|f| f.removing) {
                        out.push(b);
                    }
                    return Ok(i + 1);
                }
                if b == b']' {
                    // Only valid directly after '[' (an empty array), never after ','.
                    if self.action.is_none()
                        && self.stack.last().is_some_and(|f| !f.is_obj && f.fresh)
                    {
                        out.push(b);
                        self.pop_frame();
                        self.value_done();
                        return Ok(i + 1);
                    }
                    return Err(self.invalid(i));
                }
                if let Some(f) = self.stack.last_mut() {
                    f.fresh = false;
                }
                self.start_value(chunk, i, out)
            }
            State::AfterValue => {
                let Some(top) = self.stack.last_mut() else {
                    return Err(self.invalid(i));
                };
                match b {
                    _ if is_ws(b) => out.push(b),
                    b',' if top.is_obj => {
                        if top.skip_comma {
                            top.skip_comma = false;
                        } else {
                            self.pending.clear();
                            self.pending_ws = 0;
                            self.pending.push(b);
                        }
                        self.state = State::ObjKey { allow_close: false };
                        self.key_raw_overflow = false;
                    }
                    b',' => {
                        out.push(b);
                        self.state = State::Value;
                    }
                    b'}' if top.is_obj => {
                        out.push(b);
                        self.pop_frame();
                        self.value_done();
                    }
                    b']' if !top.is_obj => {
                        out.push(b);
                        self.pop_frame();
                        self.value_done();
                    }
                    _ => return Err(self.invalid(i)),
                }
                Ok(i + 1)
            }
            State::ObjKey { allow_close } => {
                if b == b'"' && !self.error_text {
                    let j = self.members(chunk, i, out);
                    if j != i {
                        return Ok(j);
                    }
                }
                match b {
                    _ if is_ws(b) => {
                        if self.pending_ws < PENDING_WS_CAP {
                            self.pending.push(b);
                            self.pending_ws += 1;
                        }
                    }
                    b'"' => {
                        self.pending.push(b);
                        if let Some(f) = self.stack.last_mut() {
                            f.key.clear();
                            f.key_matchable = true;
                        }
                        self.key_raw_overflow = false;
                        self.esc = Esc::default();
                        self.state = State::KeyStr;
                    }
                    b'}' if allow_close => {
                        self.flush_pending(out);
                        out.push(b);
                        self.pop_frame();
                        self.value_done();
                    }
                    _ => return Err(self.invalid(i)),
                }
                Ok(i + 1)
            }
            State::KeyStr => self.key_byte(chunk, i, out),
            State::Colon => {
                match b {
                    _ if is_ws(b) => {
                        if self.pending_ws < PENDING_WS_CAP || self.key_raw_overflow {
                            self.emit(out, b);
                            self.pending_ws += 1;
                        }
                    }
                    b':' => {
                        self.decide();
                        let removing = matches!(self.action, Some((_, MaskAction::Remove)));
                        if removing {
                            self.pending.clear();
                            self.pending_ws = 0;
                            if let Some(f) = self.stack.last_mut() {
                                f.removing = true;
                                if !f.emitted {
                                    f.skip_comma = true;
                                }
                            }
                            self.state = State::Value;
                        } else {
                            if !self.key_raw_overflow {
                                self.pending.push(b);
                                self.flush_pending(out);
                            } else {
                                out.push(b);
                                self.pending_ws = 0;
                            }
                            self.state = State::Value;
                        }
                        self.key_raw_overflow = false;
                    }
                    _ => return Err(self.invalid(i)),
                }
                Ok(i + 1)
            }
            State::Str => self.string_bytes(chunk, i, out),
            State::Num(n) => self.number_byte(chunk, i, n, out),
            State::Lit { which, pos } => {
                let lit = LITERALS[usize::from(which)];
                if lit.get(usize::from(pos)) != Some(&b) {
                    return Err(self.invalid(i));
                }
                out.push(b);
                if usize::from(pos) + 1 == lit.len() {
                    self.value_done();
                } else {
                    self.state = State::Lit {
                        which,
                        pos: pos + 1,
                    };
                }
                Ok(i + 1)
            }
            State::Skip => self.skip_bytes(chunk, i),
            State::SkipScalar => {
                if is_ws(b) || matches!(b, b',' | b'}' | b']') {
                    self.value_done();
                    return Ok(i); // the delimiter is handled by AfterValue
                }
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.') {
                    return Ok(i + 1);
                }
                Err(self.invalid(i))
            }
            State::Last4 => self.last4_byte(chunk, i, out),
            State::Rewrite => self.rewrite_bytes(chunk, i, out),
            State::Done => {
                if is_ws(b) {
                    out.push(b);
                    Ok(i + 1)
                } else {
                    Err(MaskError::TrailingData)
                }
            }
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

mod error_text;
mod members;
mod scan;

#[cfg(test)]
mod tests;
