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
                        // As `emit_last4` writes it: ASCII plain bytes need no escaping.
                        out.extend_from_slice(&mask[..mask.len() - 1]);
                        out.extend_from_slice(&value[value.len() - 4..]);
                        out.push(b'"');
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
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::tests::{link_rules, rules, run_chunks, value_strategy};
    use super::super::{MaskRules, MaskStats};
    use crate::redact::{MaskAction, RuleSpec};

    type Outcome = Result<(Vec<u8>, MaskStats), super::super::MaskError>;

    /// The document fed whole (this path wherever it applies) gives what every split in two
    /// and a byte-by-byte feed (never this path) give: the same bytes, statistics and verdict,
    /// an error at the same offset.
    fn agree(r: &Arc<MaskRules>, input: &[u8]) -> Outcome {
        let whole = run_chunks(r, input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            whole,
            run_chunks(r, input, &bytewise),
            "byte by byte: {input:?}"
        );
        for cut in 0..=input.len() {
            assert_eq!(
                whole,
                run_chunks(r, input, &[cut]),
                "split at {cut}: {input:?}"
            );
        }
        whole
    }

    fn masked(r: &Arc<MaskRules>, input: &str) -> String {
        let (out, _) = agree(r, input.as_bytes()).unwrap_or_else(|e| panic!("{e}: {input}"));
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn plain_members_pass_and_ruled_ones_are_still_masked() {
        let r = rules(&[
            ("**.IBAN", MaskAction::Remove),
            ("items[].Tax", MaskAction::Last4),
            ("items[].Acct", MaskAction::Mask),
        ]);
        let doc = r#"{"items":[{"Id":-12.5e+3,"IBAN":"GB29","Name":"Acme","Tax":"TX-123456","ok":true,"Acct":[1,{"a":2}],"n":null,"f":false , "z" : 0 }],"count":1,"hasMore":false}"#;
        assert_eq!(
            masked(&r, doc),
            r#"{"items":[{"Id":-12.5e+3,"Name":"Acme","Tax":"****3456","ok":true,"Acct":"****","n":null,"f":false , "z" : 0 }],"count":1,"hasMore":false}"#
        );
        // A removed first, middle and last member, with whitespace around the separators.
        assert_eq!(
            masked(
                &r,
                r#"{ "IBAN" : 1 , "a" : "x" , "IBAN" : "y" , "b" : 2 , "IBAN" : [3] }"#
            ),
            r#"{  "a" : "x"  , "b" : 2  }"#
        );
        assert_eq!(masked(&r, r#"{"IBAN":1,"IBAN":2}"#), "{}");
        assert_eq!(masked(&r, r#"{"IBAN":"a","IBAN":"b"}"#), "{}");
        // Masked and last-four strings of every length, ASCII or not, escaped or not; a
        // masked number or container.
        let doc = r#"{"items":[{"Tax":"","Acct":"x"},{"Tax":"abcd","Acct":7},{"Tax":"abcde","Acct":null},{"Tax":"é1234","Acct":{"IBAN":1}},{"Tax":"ab\"cdé","Acct":"\u0041"},{"Tax":"12345é"}]}"#;
        assert_eq!(
            masked(&r, doc),
            r#"{"items":[{"Tax":"****","Acct":"****"},{"Tax":"****","Acct":"****"},{"Tax":"****bcde","Acct":"****"},{"Tax":"****1234","Acct":"****"},{"Tax":"****\"cdé","Acct":"****"},{"Tax":"****345é"}]}"#
        );
    }

    #[test]
    fn links_and_escaped_keys_leave_the_fast_path_correctly() {
        let r = link_rules(&[("**.IBAN", MaskAction::Mask)]);
        assert_eq!(
            masked(
                &r,
                r#"{"links":[{"rel":"self","href":"https://acme.oraclecloud.com/x","name":"a"}],"I\u0042AN":"GB29","IB\"AN":"x"}"#
            ),
            r#"{"links":[{"rel":"self","href":"https://gw.example.com/x","name":"a"}],"I\u0042AN":"****","IB\"AN":"x"}"#
        );
        // Values around the rule's window (the longest origin and one byte), whole origins
        // only, on both paths.
        for (href, want) in [
            ("https://acme.oraclecloud.com", "https://gw.example.com"),
            ("https://acme.oraclecloud.com/", "https://gw.example.com/"),
            ("https://acme.oraclecloud.com:443", "https://gw.example.com"),
            (
                "https://acme.oraclecloud.com:443?",
                "https://gw.example.com?",
            ),
            (
                "https://acme.oraclecloud.com:443#a",
                "https://gw.example.com#a",
            ),
            (
                "https://acme.oraclecloud.com:4430/",
                "https://acme.oraclecloud.com:4430/",
            ),
            (
                "https://acme.oraclecloud.com:44",
                "https://acme.oraclecloud.com:44",
            ),
            (
                "https://acme.oraclecloud.comx",
                "https://acme.oraclecloud.comx",
            ),
            ("https://acme.oraclecloud.co", "https://acme.oraclecloud.co"),
            ("", ""),
        ] {
            let doc = format!(r#"{{"links":[{{"href":"{href}","rel":"self"}}]}}"#);
            assert_eq!(
                masked(&r, &doc),
                format!(r#"{{"links":[{{"href":"{want}","rel":"self"}}]}}"#),
                "{href}"
            );
        }
        // An `href` that is not a string, or not under `links[]`, is left alone.
        assert_eq!(
            masked(
                &r,
                r#"{"links":[{"href":7}],"href":"https://acme.oraclecloud.com/"}"#
            ),
            r#"{"links":[{"href":7}],"href":"https://acme.oraclecloud.com/"}"#
        );
    }

    #[test]
    fn long_whitespace_and_long_keys_are_held_as_the_byte_level_path_holds_them() {
        let r = rules(&[("**.IBAN", MaskAction::Remove)]);
        for n in [62, 63, 64, 65, 66, 130] {
            let ws = " ".repeat(n);
            for doc in [
                format!(r#"{{"a":1,{ws}"IBAN":2,{ws}"b":3}}"#),
                format!(r#"{{"a":1,"b"{ws}:2,"IBAN"{ws}:3}}"#),
                format!(r#"{{"a":1{ws},"b":{ws}2{ws},{ws}"c":3}}"#),
            ] {
                agree(&r, doc.as_bytes()).expect("valid");
            }
        }
        // Keys around the key limit (256) after a held separator and whitespace: a key the
        // byte-level path stops holding can no longer be removed, on either path.
        for len in [250, 254, 255, 256, 257, 300] {
            let key = "k".repeat(len);
            let r = rules(&[(key.as_str(), MaskAction::Remove)]);
            for ws in [0, 1, 63, 64] {
                let doc = format!(r#"{{"a":1,{}"{key}":2,"b":3}}"#, " ".repeat(ws));
                agree(&r, doc.as_bytes()).expect("valid");
            }
        }
    }

    #[test]
    fn bad_scalars_fail_at_the_same_byte_on_both_paths() {
        let r = rules(&[("**.IBAN", MaskAction::Remove)]);
        for bad in [
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1e}"#,
            r#"{"a":1e+}"#,
            r#"{"a":.5}"#,
            r#"{"a":1x}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":nul,"b":1}"#,
            r#"{"a":"x"y,"b":1}"#,
            "{\"a\":\"x\ty\"}",
            r#"{"a":1,}"#,
            r#"{"a":1,"b"}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a" 1}"#,
            "{\"a\u{e9}\":1,\"b\":2}",
            "{\"a\":1,\"\u{e9}\":2}",
            "{\"a\":1,\"\u{e9}\":}",
        ] {
            let whole = agree(&r, bad.as_bytes());
            if serde_json::from_str::<serde_json::Value>(bad).is_ok() {
                assert!(whole.is_ok(), "{bad}: {whole:?}");
            } else {
                assert!(whole.is_err(), "{bad} accepted");
            }
        }
        // Invalid UTF-8 in a key is refused at the same offset on both paths.
        let mut doc = br#"{"a":1,"k?":2}"#.to_vec();
        doc[9] = 0xff;
        assert!(agree(&r, &doc).is_err());
    }

    #[test]
    fn a_masked_href_does_not_leave_the_rewrite_armed() {
        for action in [MaskAction::Mask, MaskAction::Remove, MaskAction::Last4] {
            let r = link_rules(&[("**.href", action)]);
            let doc = r#"{"links":[{"href":"abcdef"},"https://acme.oraclecloud.com/x"]}"#;
            let (out, stats) = agree(&r, doc.as_bytes()).expect("valid");
            let out = String::from_utf8(out).expect("utf8");
            assert!(
                out.ends_with(r#"},"https://acme.oraclecloud.com/x"]}"#),
                "{out}"
            );
            assert_eq!(stats.links_rewritten, 0, "{out}");
        }
    }

    #[test]
    fn other_mask_texts_and_odd_bytes_agree_on_both_paths() {
        for text in ["", "a\"b", "•••", "x"] {
            let specs = [
                RuleSpec {
                    path: "**.Tax".into(),
                    action: MaskAction::Last4,
                },
                RuleSpec {
                    path: "**.Acct".into(),
                    action: MaskAction::Mask,
                },
            ];
            let r = Arc::new(MaskRules::compile(&specs, text).expect("rules"));
            for doc in [
                &br#"{"Tax":"12345678","Acct":"secret","Tax":"ab/\x7fcd"}"#[..],
                br#"{"Tax":"ab\u00e9cd","Acct":"x\"y"}"#,
                b"{\"Tax\":\"ab\xffcdef\",\"a\":1}",
                b"{\"Acct\":\"\xff\",\"a\":\"\xfe\"}",
            ] {
                let whole = agree(&r, doc);
                if let Ok((out, _)) = &whole {
                    assert!(!String::from_utf8_lossy(out).contains("secret"), "{text}");
                }
            }
        }
        // Tabs, carriage returns and newlines, 64 and 65 of them, after a separator, before a
        // colon and after a removed first member.
        let r = rules(&[("**.IBAN", MaskAction::Remove)]);
        for n in [64, 65] {
            let ws: String = [' ', '\t', '\r', '\n'].iter().cycle().take(n).collect();
            for doc in [
                format!(r#"{{"IBAN":1,{ws}"a"{ws}:{ws}"x"{ws},{ws}"b":2}}"#),
                format!(r#"{{"a":1,{ws}"IBAN"{ws}:"x",{ws}"b":2}}"#),
            ] {
                agree(&r, doc.as_bytes()).expect("valid");
            }
        }
        // An over-long key before an object value, its whitespace held.
        let doc = format!(r#"{{"{}"{}:{{ "a":1}}}}"#, "k".repeat(400), " ".repeat(70));
        let (out, _) = agree(&r, doc.as_bytes()).expect("valid");
        assert!(String::from_utf8_lossy(&out).ends_with(r#":{ "a":1}}"#));
    }

    #[test]
    fn error_bodies_never_take_the_fast_path() {
        let r = rules(&[("**.IBAN", MaskAction::Remove)]);
        let doc = br#"{"title":"Bad GB29 account","status":"400","o:errorDetails":[{"detail":"IBAN GB29","o:errorCode":"X1","n":1}]}"#;
        let feed = |cuts: &[usize]| {
            let mut m =
                super::super::JsonMasker::new(r.clone(), Default::default()).mask_error_text();
            let mut out = Vec::new();
            let mut last = 0;
            for &c in cuts.iter().chain(std::iter::once(&doc.len())) {
                m.feed(&doc[last..c], &mut out).expect("feed");
                last = c;
            }
            m.finish(&mut out).expect("finish");
            String::from_utf8(out).expect("utf8")
        };
        let whole = feed(&[]);
        assert_eq!(whole, feed(&(1..doc.len()).collect::<Vec<_>>()));
        assert!(!whole.contains("GB29"), "{whole}");
        assert!(whole.contains(r#""status":"400""#) && whole.contains(r#""o:errorCode":"X1""#));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Generated documents, compact and pretty, with every kind of rule and the links:
        /// whole and byte by byte agree exactly.
        #[test]
        fn whole_and_byte_by_byte_agree(doc in value_strategy(), pretty in any::<bool>(),
                                        href in 0usize..4) {
            // The links rewritten, and also masked, removed or cut to four characters.
            let mut specs = vec![
                ("items[].BankAccountNumber", MaskAction::Mask),
                ("**.IBAN", MaskAction::Remove),
                ("**.Name", MaskAction::Last4),
                ("TaxpayerId", MaskAction::Mask),
            ];
            if let Some(&action) = [MaskAction::Mask, MaskAction::Remove, MaskAction::Last4].get(href) {
                specs.push(("links[].href", action));
            }
            let r = link_rules(&specs);
            let text = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.expect("ser");
            let whole = run_chunks(&r, &text, &[]);
            let bytewise: Vec<usize> = (1..text.len()).collect();
            prop_assert!(whole.is_ok());
            prop_assert_eq!(whole, run_chunks(&r, &text, &bytewise));
        }
    }
}
