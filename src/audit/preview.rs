//! Short body previews for the audit trail: off by default (ERP data is not stored), capped in
//! size when on, and scrubbed of credentials: the string value after any JSON key or form field
//! whose name looks like a credential is replaced, as are bearer/basic values and issued keys.

/// Words that make a field name sensitive (matched case-insensitively inside the name).
const SENSITIVE: [&str; 8] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "authorization",
    "credential",
];

fn sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    SENSITIVE.iter().any(|w| lower.contains(w))
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
        if self.cap == 0 || self.buf.is_empty() {
            return None;
        }
        let mut s = scrub(&String::from_utf8_lossy(&self.buf));
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
                    let mut v = k;
                    while v < chars.len() && !matches!(chars[v], ',' | '}' | ']') {
                        v += 1;
                    }
                    out.push_str("\"****\"");
                    i = v;
                }
            }
            continue;
        }
        // A form field name=value.
        if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push_str(&word);
            if chars.get(i) == Some(&'=') && sensitive_name(&word) {
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

/// Reads a JSON string starting at `start` (a quote); returns its raw content and the index
/// after the closing quote (or the end, for a truncated string).
fn read_string(chars: &[char], start: usize) -> (String, usize) {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if let Some(n) = chars.get(i + 1) {
                    s.push(*n);
                }
                i += 2;
            }
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
