//! The byte-level inner loops: keys, string values, numbers, skipped values and `last4`.

use super::{Esc, JsonMasker, MaskError, Num, State, PENDING_WS_CAP};
use crate::json_text::{plain, plain_run};

fn hex(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

fn simple_escape(b: u8) -> Option<char> {
    Some(match b {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// Advances a `\uXXXX` escape by one hex digit; returns a completed char when there is one.
/// Surrogate pairs are combined; lone surrogates are errors.
fn unicode_step(esc: &mut Esc, b: u8) -> Result<Option<char>, ()> {
    let d = hex(b).ok_or(())?;
    esc.hex = esc.hex * 16 + d;
    esc.mode += 1;
    if esc.mode < 6 {
        return Ok(None);
    }
    esc.mode = 0;
    let cp = esc.hex;
    esc.hex = 0;
    match (cp, esc.high) {
        (0xD800..=0xDBFF, None) => {
            esc.high = Some(cp);
            Ok(None)
        }
        (0xDC00..=0xDFFF, Some(h)) => {
            esc.high = None;
            char::from_u32(0x10000 + ((h - 0xD800) << 10) + (cp - 0xDC00))
                .map(Some)
                .ok_or(())
        }
        (_, Some(_)) | (0xDC00..=0xDFFF, None) => Err(()),
        (cp, None) => char::from_u32(cp).map(Some).ok_or(()),
    }
}

impl JsonMasker {
    #[inline]
    fn pending_push(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        if self.key_raw_overflow {
            out.extend_from_slice(bytes);
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() > self.limits.max_key_len + PENDING_WS_CAP + 2 {
            // Too long to be any rule's key: stream it from here on.
            self.key_raw_overflow = true;
            if let Some(f) = self.stack.last_mut() {
                f.key_matchable = false;
            }
            out.extend_from_slice(&self.pending);
            self.pending.clear();
        }
    }

    fn key_push_char(&mut self, c: char) {
        let max = self.limits.max_key_len;
        if let Some(f) = self.stack.last_mut() {
            let mut buf = [0u8; 4];
            let enc = c.encode_utf8(&mut buf).as_bytes();
            if f.key.len() + enc.len() > max {
                f.key_matchable = false;
            } else if f.key_matchable {
                f.key.extend_from_slice(enc);
            }
        }
    }

    /// Bytes of an object key: raw bytes held back (pending), unescaped key collected.
    pub(super) fn key_byte(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        while i < chunk.len() {
            let b = chunk[i];
            match self.esc.mode {
                0 => {
                    if self.esc.high.is_some() && b != b'\\' {
                        return Err(self.invalid(i));
                    }
                    if plain(b) {
                        let start = i;
                        i = plain_run(chunk, i);
                        let run = &chunk[start..i];
                        self.pending_push(out, run);
                        if let Some(f) = self.stack.last_mut() {
                            if f.key_matchable {
                                if f.key.len() + run.len() > self.limits.max_key_len {
                                    f.key_matchable = false;
                                } else {
                                    f.key.extend_from_slice(run);
                                }
                            }
                        }
                        continue;
                    }
                    match b {
                        b'"' => {
                            self.pending_push(out, &[b]);
                            if let Some(f) = self.stack.last_mut() {
                                if f.key_matchable
                                    && !f.key.is_ascii()
                                    && std::str::from_utf8(&f.key).is_err()
                                {
                                    return Err(self.invalid(i));
                                }
                            }
                            self.pending_ws = 0;
                            self.state = State::Colon;
                            return Ok(i + 1);
                        }
                        b'\\' => {
                            self.pending_push(out, &[b]);
                            self.esc.mode = 1;
                        }
                        _ => return Err(self.invalid(i)),
                    }
                }
                1 => {
                    self.pending_push(out, &[b]);
                    if b == b'u' {
                        self.esc.mode = 2;
                        self.esc.hex = 0;
                    } else {
                        if self.esc.high.is_some() {
                            return Err(self.invalid(i));
                        }
                        let c = simple_escape(b).ok_or(self.invalid(i))?;
                        self.esc.mode = 0;
                        self.key_push_char(c);
                    }
                }
                _ => {
                    self.pending_push(out, &[b]);
                    match unicode_step(&mut self.esc, b) {
                        Ok(Some(c)) => self.key_push_char(c),
                        Ok(None) => {}
                        Err(()) => return Err(self.invalid(i)),
                    }
                }
            }
            i += 1;
        }
        Ok(i)
    }

    /// Bytes of a string value passed through.
    pub(super) fn string_bytes(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        while i < chunk.len() {
            let b = chunk[i];
            match self.esc.mode {
                0 => {
                    if plain(b) {
                        let start = i;
                        i = plain_run(chunk, i);
                        out.extend_from_slice(&chunk[start..i]);
                        continue;
                    }
                    out.push(b);
                    match b {
                        b'"' => {
                            self.value_done();
                            return Ok(i + 1);
                        }
                        b'\\' => self.esc.mode = 1,
                        _ => return Err(self.invalid(i)),
                    }
                }
                1 => {
                    out.push(b);
                    if b == b'u' {
                        self.esc.mode = 2;
                    } else if simple_escape(b).is_some() {
                        self.esc.mode = 0;
                    } else {
                        return Err(self.invalid(i));
                    }
                }
                m => {
                    out.push(b);
                    if hex(b).is_none() {
                        return Err(self.invalid(i));
                    }
                    self.esc.mode = if m == 5 { 0 } else { m + 1 };
                }
            }
            i += 1;
        }
        Ok(i)
    }

    /// One byte of a number passed through (delimiters end it without being consumed).
    pub(super) fn number_byte(
        &mut self,
        chunk: &[u8],
        i: usize,
        n: Num,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        let b = chunk[i];
        let digit = b.is_ascii_digit();
        let next = match (n, b) {
            (Num::Minus, b'0') => Num::Zero,
            (Num::Minus, _) if digit => Num::Int,
            (Num::Int, _) if digit => Num::Int,
            (Num::Zero | Num::Int, b'.') => Num::Dot,
            (Num::Dot | Num::Frac, _) if digit => Num::Frac,
            (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Num::E,
            (Num::E, b'+' | b'-') => Num::ESign,
            (Num::E | Num::ESign | Num::Exp, _) if digit => Num::Exp,
            (Num::Zero | Num::Int | Num::Frac | Num::Exp, _)
                if super::is_ws(b) || matches!(b, b',' | b'}' | b']') =>
            {
                self.value_done();
                return Ok(i);
            }
            _ => return Err(self.invalid(i)),
        };
        out.push(b);
        self.state = State::Num(next);
        Ok(i + 1)
    }

    /// Bytes of a masked container or string, skipped (validated for structure, not emitted).
    pub(super) fn skip_bytes(&mut self, chunk: &[u8], mut i: usize) -> Result<usize, MaskError> {
        while i < chunk.len() {
            let b = chunk[i];
            if self.skip_in_str {
                if self.skip_esc {
                    self.skip_esc = false;
                } else if b == b'\\' {
                    self.skip_esc = true;
                } else if b == b'"' {
                    self.skip_in_str = false;
                    if self.skip_depth == 0 {
                        self.value_done();
                        return Ok(i + 1);
                    }
                } else if b < 0x20 {
                    return Err(self.invalid(i));
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => self.skip_in_str = true,
                b'{' | b'[' => {
                    if self.skip_depth >= 127
                        || self.stack.len() + self.skip_depth as usize >= self.limits.max_depth
                    {
                        return Err(MaskError::TooDeep);
                    }
                    self.skip_bits = (self.skip_bits << 1) | u128::from(b == b'[');
                    self.skip_depth += 1;
                }
                b'}' | b']' => {
                    if (self.skip_bits & 1 == 1) != (b == b']') {
                        return Err(self.invalid(i));
                    }
                    self.skip_bits >>= 1;
                    self.skip_depth -= 1;
                    if self.skip_depth == 0 {
                        self.value_done();
                        return Ok(i + 1);
                    }
                }
                _ if b < 0x20 && !super::is_ws(b) => return Err(self.invalid(i)),
                _ => {}
            }
            i += 1;
        }
        Ok(i)
    }

    /// Bytes at the start of a `links[].href` string: held (at most the rule's window) until
    /// the first non-plain byte or a full window decides whether an upstream origin starts
    /// the value; then the held bytes, rewritten or not, go out and the rest of the string
    /// is passed through as usual (the deciding byte included, by `State::Str`).
    pub(super) fn rewrite_bytes(
        &mut self,
        chunk: &[u8],
        mut i: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        let rules = self.rules.clone();
        let Some(links) = rules.links() else {
            self.state = State::Str;
            return Ok(i);
        };
        let window = links.window();
        while i < chunk.len() {
            let b = chunk[i];
            let room = window.saturating_sub(self.rw.len());
            if plain(b) && room > 0 {
                // The run of plain bytes, at most what the window still holds.
                let end = plain_run(&chunk[..chunk.len().min(i + room)], i);
                self.rw.extend_from_slice(&chunk[i..end]);
                i = end;
                continue;
            }
            match links.matched(&self.rw, b) {
                Some(n) => {
                    out.extend_from_slice(links.to());
                    out.extend_from_slice(&self.rw[n..]);
                    self.stats.links_rewritten += 1;
                }
                None => out.extend_from_slice(&self.rw),
            }
            self.rw.clear();
            self.state = State::Str;
            return Ok(i);
        }
        Ok(i)
    }

    fn ring_push(&mut self, c: char) {
        self.ring[self.ring_len % 4] = c;
        self.ring_len += 1;
    }

    /// Bytes of a string whose last four characters are kept.
    pub(super) fn last4_byte(
        &mut self,
        chunk: &[u8],
        i: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, MaskError> {
        let b = chunk[i];
        match self.esc.mode {
            0 => {
                if self.esc.high.is_some() && b != b'\\' {
                    return Err(self.invalid(i));
                }
                if self.utf8_need > 0 {
                    if b & 0xC0 != 0x80 {
                        return Err(self.invalid(i));
                    }
                    self.utf8[self.utf8_len] = b;
                    self.utf8_len += 1;
                    self.utf8_need -= 1;
                    if self.utf8_need == 0 {
                        let c = std::str::from_utf8(&self.utf8[..self.utf8_len])
                            .ok()
                            .and_then(|s| s.chars().next())
                            .ok_or(self.invalid(i))?;
                        self.ring_push(c);
                    }
                    return Ok(i + 1);
                }
                match b {
                    b'"' => {
                        self.emit_last4(out);
                        self.value_done();
                    }
                    b'\\' => self.esc.mode = 1,
                    0x00..=0x1f => return Err(self.invalid(i)),
                    0x20..=0x7f => self.ring_push(b as char),
                    0xC2..=0xF4 => {
                        self.utf8[0] = b;
                        self.utf8_len = 1;
                        self.utf8_need = if b < 0xE0 {
                            1
                        } else if b < 0xF0 {
                            2
                        } else {
                            3
                        };
                    }
                    _ => return Err(self.invalid(i)),
                }
            }
            1 => {
                if b == b'u' {
                    self.esc.mode = 2;
                    self.esc.hex = 0;
                } else {
                    if self.esc.high.is_some() {
                        return Err(self.invalid(i));
                    }
                    let c = simple_escape(b).ok_or(self.invalid(i))?;
                    self.esc.mode = 0;
                    self.ring_push(c);
                }
            }
            _ => match unicode_step(&mut self.esc, b) {
                Ok(Some(c)) => self.ring_push(c),
                Ok(None) => {}
                Err(()) => return Err(self.invalid(i)),
            },
        }
        Ok(i + 1)
    }

    fn emit_last4(&mut self, out: &mut Vec<u8>) {
        let mask = self.rules.mask_json();
        if self.ring_len <= 4 {
            out.extend_from_slice(mask);
            return;
        }
        // The four characters, UTF-8 on the stack (at most 16 bytes), then written JSON-escaped
        // straight into `out` in place of the mask's closing quote: no allocation per value.
        let mut buf = [0u8; 16];
        let mut len = 0;
        for k in self.ring_len - 4..self.ring_len {
            len += self.ring[k % 4].encode_utf8(&mut buf[len..]).len();
        }
        let tail = std::str::from_utf8(&buf[..len]).unwrap_or_default();
        masked_with_tail(out, mask, tail);
    }
}

/// The mask (a JSON string literal) with `tail`, the value's last four characters, kept at its
/// end: `"****abcd"`. Written straight into `out` in place of the mask's closing quote, copied
/// when nothing in it needs escaping, else escaped by `serde_json`. Both last-four paths (the
/// byte-level one and `members`) write through here.
pub(super) fn masked_with_tail(out: &mut Vec<u8>, mask: &[u8], tail: &str) {
    out.extend_from_slice(&mask[..mask.len().saturating_sub(1)]);
    if plain_run(tail.as_bytes(), 0) == tail.len() {
        out.extend_from_slice(tail.as_bytes());
        out.push(b'"');
        return;
    }
    let quote = out.len();
    if serde_json::to_writer(&mut *out, tail).is_ok() {
        // `to_writer` opened the string again: drop that quote.
        out.remove(quote);
    } else {
        out.truncate(quote);
        out.push(b'"');
    }
}
