//! Canonical request targets: the policy sees exactly the bytes Oracle will receive.
//!
//! erpgate never "normalises" a path. A target is either already in the one canonical form we
//! accept — and then those exact bytes are matched *and* relayed — or it is rejected with
//! `path.rejected`. Everything that two parsers could read differently is refused: encoded
//! `/`, `\`, `.` and `%` (double encoding), dot segments, empty segments, NUL and control
//! characters, raw non-ASCII, escapes of unreserved characters (`invo%69ces` must not slip
//! past a literal match), invalid UTF-8 after decoding (overlong forms included), `;` matrix
//! parameters, fragments, and anything that is not origin-form (`/path?query`).
//!
//! One pass over the bytes, no allocation. The query string is checked only for bytes that
//! can never be valid in a request line and is otherwise relayed untouched; it is never used
//! for matching.

/// A request target that passed every rule. Borrows the original bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalTarget<'a> {
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> CanonicalTarget<'a> {
    /// The path, exactly as received (e.g. `/fscmRestApi/resources/latest/invoices/1`).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query without the `?`, exactly as received.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The path's segments (the empty string before the leading `/` is skipped; the bare
    /// root `/` has no segments).
    pub fn segments(&self) -> impl Iterator<Item = &'a str> {
        let rest = self.path.get(1..).unwrap_or("");
        rest.split('/').filter(move |_| !rest.is_empty())
    }
}

/// Why a target was rejected. The detail goes to the audit trail, never to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRejection {
    /// Not origin-form: absolute-form (`http://host/…`), authority-form or asterisk-form.
    NotOriginForm,
    /// Longer than the configured maximum.
    TooLong,
    /// An empty segment (`//` or a trailing `/`).
    EmptySegment,
    /// A `.` or `..` segment.
    DotSegment,
    /// A raw backslash.
    Backslash,
    /// `%2F`.
    EncodedSlash,
    /// `%5C`.
    EncodedBackslash,
    /// `%2E`.
    EncodedDot,
    /// `%25`: double encoding.
    EncodedPercent,
    /// An escape of a character that is allowed raw (unreserved or a permitted sub-delimiter):
    /// each byte has one accepted form.
    EncodedUnreserved,
    /// `%` not followed by two hex digits.
    BadPercentEncoding,
    /// A control character, raw or encoded (NUL included).
    ControlCharacter,
    /// A raw byte ≥ 0x80 (clients must percent-encode).
    NonAscii,
    /// A segment that is not valid UTF-8 once decoded (overlong forms included).
    InvalidUtf8,
    /// `;`, raw or encoded (matrix parameters).
    Semicolon,
    /// `#`.
    Fragment,
    /// Any other byte not allowed in a path (space, quotes, `<>[]^{|}` and backtick).
    DisallowedCharacter,
}

impl PathRejection {
    /// A stable snake_case name for the audit trail.
    pub fn as_str(&self) -> &'static str {
        match self {
            PathRejection::NotOriginForm => "not_origin_form",
            PathRejection::TooLong => "too_long",
            PathRejection::EmptySegment => "empty_segment",
            PathRejection::DotSegment => "dot_segment",
            PathRejection::Backslash => "backslash",
            PathRejection::EncodedSlash => "encoded_slash",
            PathRejection::EncodedBackslash => "encoded_backslash",
            PathRejection::EncodedDot => "encoded_dot",
            PathRejection::EncodedPercent => "encoded_percent",
            PathRejection::EncodedUnreserved => "encoded_unreserved",
            PathRejection::BadPercentEncoding => "bad_percent_encoding",
            PathRejection::ControlCharacter => "control_character",
            PathRejection::NonAscii => "non_ascii",
            PathRejection::InvalidUtf8 => "invalid_utf8",
            PathRejection::Semicolon => "semicolon",
            PathRejection::Fragment => "fragment",
            PathRejection::DisallowedCharacter => "disallowed_character",
        }
    }
}

impl std::fmt::Display for PathRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The longest request target the `http` crate's `Uri` holds (`u16::MAX - 1`); longer ones
/// are refused before they reach us, so `max_uri_length` is validated to at most this.
pub const MAX_TARGET: usize = 65_534;

/// Raw bytes allowed in a path besides `/` and `%`: RFC 3986 `pchar` minus `;`. The one
/// table: endpoint catalog literals (`policy::catalog`) are checked with it too, so a
/// template can only name paths the canonicaliser lets through.
pub fn path_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Incremental UTF-8 validation of decoded bytes within one segment (no allocation).
/// Rejects overlong encodings, surrogates and values above U+10FFFF, per RFC 3629.
#[derive(Default)]
struct Utf8 {
    need: u8,
    lo: u8,
    hi: u8,
}

impl Utf8 {
    fn push(&mut self, b: u8) -> Result<(), PathRejection> {
        if self.need == 0 {
            (self.need, self.lo, self.hi) = match b {
                0x00..=0x7f => return Ok(()),
                0xc2..=0xdf => (1, 0x80, 0xbf),
                0xe0 => (2, 0xa0, 0xbf),
                0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
                0xed => (2, 0x80, 0x9f),
                0xf0 => (3, 0x90, 0xbf),
                0xf1..=0xf3 => (3, 0x80, 0xbf),
                0xf4 => (3, 0x80, 0x8f),
                _ => return Err(PathRejection::InvalidUtf8),
            };
            return Ok(());
        }
        if b < self.lo || b > self.hi {
            return Err(PathRejection::InvalidUtf8);
        }
        self.need -= 1;
        (self.lo, self.hi) = (0x80, 0xbf);
        Ok(())
    }

    fn end(&self) -> Result<(), PathRejection> {
        if self.need == 0 {
            Ok(())
        } else {
            Err(PathRejection::InvalidUtf8)
        }
    }
}

/// Checks one decoded byte from a `%XX` escape. Every byte has exactly one accepted form: a
/// byte that may appear raw must appear raw, so `invo%69ces` or `a%2Cb` can never match
/// differently from what Oracle decodes them to.
fn escaped_byte_ok(v: u8) -> Result<(), PathRejection> {
    match v {
        b'/' => Err(PathRejection::EncodedSlash),
        b'\\' => Err(PathRejection::EncodedBackslash),
        b'.' => Err(PathRejection::EncodedDot),
        b'%' => Err(PathRejection::EncodedPercent),
        b';' => Err(PathRejection::Semicolon),
        0x00..=0x1f | 0x7f => Err(PathRejection::ControlCharacter),
        _ if path_byte_ok(v) => Err(PathRejection::EncodedUnreserved),
        _ => Ok(()),
    }
}

fn raw_byte_rejection(b: u8) -> PathRejection {
    match b {
        b'\\' => PathRejection::Backslash,
        b';' => PathRejection::Semicolon,
        b'#' => PathRejection::Fragment,
        0x00..=0x1f | 0x7f => PathRejection::ControlCharacter,
        0x80..=0xff => PathRejection::NonAscii,
        _ => PathRejection::DisallowedCharacter,
    }
}

/// The `key=value` pairs of a query string, each side percent-decoded (`+` is a space;
/// invalid escapes stay literal, invalid UTF-8 becomes U+FFFD). For the admin API and the
/// simulator; the relay never decodes queries (it passes them through byte for byte).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Validates the request target `target` (at most `max_len` bytes) and returns its canonical
/// view, or the first rule it breaks.
pub fn canonicalize(target: &[u8], max_len: usize) -> Result<CanonicalTarget<'_>, PathRejection> {
    if target.len() > max_len {
        return Err(PathRejection::TooLong);
    }
    if target.first() != Some(&b'/') {
        return Err(PathRejection::NotOriginForm);
    }
    let split = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    let (path, query) = target.split_at(split);
    check_path(path)?;
    let query = match query.split_first() {
        None => None,
        Some((_, q)) => {
            check_query(q)?;
            Some(q)
        }
    };
    // Every byte was checked to be ASCII, so these conversions cannot fail; map defensively.
    let path = std::str::from_utf8(path).map_err(|_| PathRejection::NonAscii)?;
    let query = match query {
        Some(q) => Some(std::str::from_utf8(q).map_err(|_| PathRejection::NonAscii)?),
        None => None,
    };
    Ok(CanonicalTarget { path, query })
}

fn check_path(path: &[u8]) -> Result<(), PathRejection> {
    if path == b"/" {
        return Ok(());
    }
    // Walk the segments after the leading '/'.
    for seg in path.get(1..).unwrap_or(&[]).split(|&b| b == b'/') {
        check_segment(seg)?;
    }
    Ok(())
}

fn check_segment(seg: &[u8]) -> Result<(), PathRejection> {
    if seg.is_empty() {
        return Err(PathRejection::EmptySegment);
    }
    if seg == b"." || seg == b".." {
        return Err(PathRejection::DotSegment);
    }
    let mut utf8 = Utf8::default();
    let mut i = 0;
    while let Some(&b) = seg.get(i) {
        if b == b'%' {
            let (Some(h), Some(l)) = (
                seg.get(i + 1).copied().and_then(hex),
                seg.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathRejection::BadPercentEncoding);
            };
            let v = (h << 4) | l;
            escaped_byte_ok(v)?;
            utf8.push(v)?;
            i += 3;
        } else if path_byte_ok(b) {
            utf8.push(b)?;
            i += 1;
        } else {
            return Err(raw_byte_rejection(b));
        }
    }
    utf8.end()
}

fn check_query(q: &[u8]) -> Result<(), PathRejection> {
    for &b in q {
        match b {
            b'#' => return Err(PathRejection::Fragment),
            0x00..=0x1f | 0x7f => return Err(PathRejection::ControlCharacter),
            0x80..=0xff => return Err(PathRejection::NonAscii),
            b' ' => return Err(PathRejection::DisallowedCharacter),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
