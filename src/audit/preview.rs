//! Short body previews for the audit trail: off by default (ERP data is not stored), capped in
//! size when on, and scrubbed of credentials: the string value after any JSON key or form field
//! whose name looks like a credential is replaced, as are bearer/basic values and issued keys.
//!
//! What a preview may hold: at most `gateway.audit_preview_bytes` of the body, never a value a
//! redaction rule of the request masks, never a credential-looking field's value. The response
//! preview is what the client received (already masked, error free text included). The request
//! preview is masked by the caller with the request's rules ([`Preview::finish_with`]) and
//! withheld whole when they apply and the body is not JSON. Names are compared after JSON
//! unescaping and percent-decoding, ignoring case and anything but letters and digits, so
//! `"pass\u0077ord"`, `pass%77ord=` and `"Pass-Word"` are all a password.

/// Words that make a field name sensitive, folded (lowercase letters and digits only), matched
/// inside the folded name.
const SENSITIVE: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "credential",
];

/// What a preview says instead of a body it may not show.
pub const WITHHELD: &str = "[withheld: redaction rules apply and the body is not JSON]";

/// What a request preview says instead of a body the scrubber cannot read.
pub const UNREADABLE: &str = "[withheld: the body is neither JSON nor a form]";

fn sensitive_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SENSITIVE.iter().any(|w| folded.contains(w))
}

/// Captures up to `cap` bytes of a body as it streams by.
#[derive(Debug, Default)]
pub struct Preview {
    cap: usize,
    buf: Vec<u8>,
    truncated: bool,
}

impl Preview {
    /// A preview of at most `cap` bytes (0: off).
    pub fn new(cap: usize) -> Self {
        Preview {
            cap,
            buf: Vec::new(),
            truncated: false,
        }
    }

    /// Feeds a chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.cap == 0 {
            return;
        }
        let room = self.cap.saturating_sub(self.buf.len());
        let take = room.min(chunk.len());
        self.buf.extend_from_slice(&chunk[..take]);
        if take < chunk.len() {
            self.truncated = true;
        }
    }

    /// The scrubbed preview, if previews are on and anything was seen.
    pub fn finish(&self) -> Option<String> {
        self.finish_with(|b, _| Some(b.to_vec()))
    }

    /// The scrubbed preview of a request body, withheld ([`UNREADABLE`]) unless it is JSON or a
    /// form the scrubber reads.
    pub fn finish_request(&self) -> Option<String> {
        if self.cap == 0 || self.buf.is_empty() {
            return None;
        }
        if !readable(&self.buf) {
            return Some(UNREADABLE.to_string());
        }
        self.finish()
    }

    /// The preview after `mask` rewrote the captured bytes (given them and whether the capture
    /// was cut short), then scrubbed; [`WITHHELD`] when `mask` returns `None`.
    pub fn finish_with(&self, mask: impl FnOnce(&[u8], bool) -> Option<Vec<u8>>) -> Option<String> {
        if self.cap == 0 || self.buf.is_empty() {
            return None;
        }
        let Some(masked) = mask(&self.buf, self.truncated) else {
            return Some(WITHHELD.to_string());
        };
        let mut s = scrub(&String::from_utf8_lossy(&masked));
        if self.truncated {
            s.push('…');
        }
        Some(s)
    }
}

/// Masks credentials in a (possibly truncated) JSON or form-encoded text.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        // A JSON string: read it; if it is a sensitive key followed by ':' and a string, mask.
        if c == '"' {
            let (s, end) = read_string(&chars, i);
            let raw: String = chars[i..end].iter().collect();
            out.push_str(&scrub_words(&raw));
            i = end;
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if sensitive_name(&s) && chars.get(j) == Some(&':') {
                let mut k = j + 1;
                while k < chars.len() && chars[k].is_whitespace() {
                    k += 1;
                }
                out.extend(&chars[i..k]);
                if chars.get(k) == Some(&'"') {
                    let (_, vend) = read_string(&chars, k);
                    out.push_str("\"****\"");
                    i = vend;
                } else {
                    out.push_str("\"****\"");
                    i = skip_value(&chars, k);
                }
            }
            continue;
        }
        // A form field name=value.
        if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-' | '.' | '%'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(&word);
            let decoded = percent_encoding::percent_decode_str(&word).decode_utf8_lossy();
            if chars.get(i) == Some(&'=') && sensitive_name(&decoded) {
                out.push_str("=****");
                i += 1;
                while i < chars.len() && !matches!(chars[i], '&' | '"' | ',' | '}' | ' ') {
                    i += 1;
                }
            } else if (word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic"))
                && chars.get(i) == Some(&' ')
            {
                out.push_str(" ****");
                i += 1;
                while i < chars.len() && !matches!(chars[i], '"' | ',' | '}' | ' ' | '&') {
                    i += 1;
                }
            } else if word.starts_with("egk_") {
                out.truncate(out.len() - word.len());
                out.push_str("egk_****");
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The index after the JSON value (not a string) starting at `start`: a whole object or array
/// (`{"old":"a","new":"b"}`, `["x","y"]`), strings inside it read as strings, or a bare word
/// up to the next `,`, `}` or `]`. A value cut short by truncation runs to the end.
fn skip_value(chars: &[char], start: usize) -> usize {
    if !matches!(chars.get(start), Some('{' | '[')) {
        let mut v = start;
        while v < chars.len() && !matches!(chars[v], ',' | '}' | ']') {
            v += 1;
        }
        return v;
    }
    let mut depth = 0usize;
    let mut v = start;
    while v < chars.len() {
        match chars[v] {
            '"' => {
                v = read_string(chars, v).1;
                continue;
            }
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return v + 1;
                }
            }
            _ => {}
        }
        v += 1;
    }
    v
}

/// Whether the scrubber can read `bytes`: JSON (an object or array) or a form-encoded body.
/// Anything else (multipart, XML, SOAP with `<wsse:Password>`) has credential shapes it
/// does not know, so its preview is withheld.
pub fn readable(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    matches!(trimmed.first(), Some(b'{' | b'['))
        || trimmed.iter().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'%' | b'=' | b'&' | b'+' | b'-' | b'_' | b'.' | b'*' | b'~'
                )
        })
}

/// Masks credential-shaped words inside free text: the value after `Bearer`/`Basic`, and
/// issued API keys.
fn scrub_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
        if mask_next && !bare.is_empty() {
            out.push_str("****");
            if word.ends_with('"') {
                out.push('"');
            }
            mask_next = false;
            continue;
        }
        if bare.eq_ignore_ascii_case("bearer") || bare.eq_ignore_ascii_case("basic") {
            mask_next = true;
        }
        if let Some(at) = word.find("egk_") {
            out.push_str(&word[..at]);
            out.push_str("egk_****");
            if word.ends_with('"') {
                out.push('"');
            }
            continue;
        }
        out.push_str(word);
    }
    out
}

/// Reads a JSON string starting at `start` (a quote); returns its content with escapes
/// decoded (`\u0077` is `w`; a lone or invalid surrogate becomes U+FFFD) and the index after
/// the closing quote (or the end, for a truncated string).
fn read_string(chars: &[char], start: usize) -> (String, usize) {
    let hex4 = |at: usize| -> Option<u32> {
        let digits: String = chars.get(at..at + 4)?.iter().collect();
        u32::from_str_radix(&digits, 16).ok()
    };
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => match chars.get(i + 1) {
                Some('u') => match hex4(i + 2) {
                    Some(hi @ 0xD800..=0xDBFF)
                        if chars.get(i + 6) == Some(&'\\') && chars.get(i + 7) == Some(&'u') =>
                    {
                        let lo = hex4(i + 8).filter(|lo| (0xDC00..=0xDFFF).contains(lo));
                        let c = lo.and_then(|lo| {
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        });
                        s.push(c.unwrap_or('\u{FFFD}'));
                        i += if lo.is_some() { 12 } else { 6 };
                    }
                    Some(cp) => {
                        s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        i += 6;
                    }
                    None => i += 2,
                },
                Some(n) => {
                    s.push(match n {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        other => *other,
                    });
                    i += 2;
                }
                None => i += 1,
            },
            '"' => return (s, i + 1),
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    (s, chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_scrubbed_everything_else_kept() {
        let body = r#"{"InvoiceNumber":"INV-1","password":"hunter2","nested":{"ApiKey": "k-123","clientSecret":42},"note":"Bearer abc.def"}"#;
        let s = scrub(body);
        for secret in ["hunter2", "k-123", "42", "abc.def"] {
            assert!(!s.contains(secret), "{secret} survived in {s}");
        }
        assert!(s.contains("\"InvoiceNumber\":\"INV-1\""));
        assert!(s.contains("\"password\":\"****\""));
        let form = scrub("grant_type=client_credentials&client_secret=s3cr3t&user=bob");
        assert_eq!(
            form,
            "grant_type=client_credentials&client_secret=****&user=bob"
        );
        assert!(!scrub("key egk_0123456789abcdef_AAAA").contains("AAAA"));
        // Truncated input never panics and still masks.
        assert!(!scrub(r#"{"token":"abcdef"#).contains("abcdef"));
    }

    #[test]
    fn names_are_matched_after_unescaping_and_folding() {
        for body in [
            r#"{"pass\u0077ord":"hunter2"}"#,
            r#"{"PASS\u0057ORD" : "hunter2"}"#,
            r#"{"client\u005Fsecret":"hunter2"}"#,
            r#"{"Pass-Word":"hunter2"}"#,
            r#"{"api\u002dkey":"hunter2"}"#,
            r#"{"\u0074\u006f\u006b\u0065\u006e":"hunter2"}"#,
            r#"{"x":{"pass\"word":"hunter2"}}"#,
            "pass%77ord=hunter2&user=bob",
            "client%5Fsecret=hunter2",
        ] {
            let s = scrub(body);
            assert!(!s.contains("hunter2"), "{body} -> {s}");
        }
        let (decoded, end) = read_string(&r#""a\ud83d\ude00b""#.chars().collect::<Vec<_>>(), 0);
        assert_eq!(decoded, "a\u{1F600}b");
        assert!(end > 0);
        assert_eq!(
            scrub(r#"{"InvoiceNumber":"INV-1"}"#),
            r#"{"InvoiceNumber":"INV-1"}"#
        );
    }

    #[test]
    fn a_credential_held_in_an_object_or_array_is_masked_whole() {
        for body in [
            r#"{"password":{"old":"a","new":"hunter2"},"keep":"INV-1"}"#,
            r#"{"credentials":["x","hunter2"],"keep":"INV-1"}"#,
            r#"{"secret":[{"a":"}]"},"hunter2"],"keep":"INV-1"}"#,
        ] {
            let s = scrub(body);
            assert!(!s.contains("hunter2"), "{s}");
            assert!(s.contains("INV-1"), "the rest is kept: {s}");
        }
        // Cut short inside the value: nothing of it is kept.
        let s = scrub(r#"{"token":{"a":"hunter2"#);
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn request_bodies_the_scrubber_cannot_read_are_withheld() {
        let multipart =
            "--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n--b--";
        let soap = "<wsse:Password>hunter2</wsse:Password>";
        for body in [multipart, soap] {
            let mut p = Preview::new(256);
            p.feed(body.as_bytes());
            assert_eq!(p.finish_request().as_deref(), Some(UNREADABLE), "{body}");
        }
        let mut form = Preview::new(256);
        form.feed(b"user=ap&password=hunter2");
        assert_eq!(
            form.finish_request().as_deref(),
            Some("user=ap&password=****")
        );
        let mut json = Preview::new(256);
        json.feed(br#" {"password":"hunter2"}"#);
        let s = json.finish_request().unwrap_or_default();
        assert!(s.contains("****") && !s.contains("hunter2"), "{s}");
    }

    #[test]
    fn a_mask_withholds_or_rewrites_before_scrubbing() {
        let mut p = Preview::new(64);
        p.feed(br#"{"IBAN":"GB29NWBK","password":"pw1"}"#);
        let seen = p.finish_with(|b, cut| {
            assert!(!cut);
            Some(
                String::from_utf8_lossy(b)
                    .replace("GB29NWBK", "****")
                    .into_bytes(),
            )
        });
        assert_eq!(
            seen.as_deref(),
            Some(r#"{"IBAN":"****","password":"****"}"#)
        );
        assert_eq!(p.finish_with(|_, _| None).as_deref(), Some(WITHHELD));
    }

    #[test]
    fn previews_are_capped_and_off_by_default() {
        let mut off = Preview::new(0);
        off.feed(b"{\"a\":1}");
        assert_eq!(off.finish(), None);
        let mut p = Preview::new(8);
        p.feed(b"{\"abc\":");
        p.feed(b"\"defghij\"}");
        assert_eq!(p.finish().as_deref(), Some("{\"abc\":\"…"));
    }
}
