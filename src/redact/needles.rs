//! Whether a whole response body can pass without a parse: it names nothing the rules look for.
//!
//! Rules are usually a tenant's, in force on every response of the tenant (`**.BankAccountNumber`),
//! and most responses (invoices, journals, orders) hold none of the fields they name. The
//! masker would read such a body byte by byte to give back the same bytes. So a whole body
//! (one Pingora handed over in one piece, or one held until its end by `hold.rs`) is first
//! searched for every byte string that could make the masker change anything:
//!
//! - each rule's final key: a rule masks a value only when its member's key, after JSON
//!   unescaping, equals the final key exactly (case-sensitive bytes, `rules.rs`);
//! - each upstream origin the link rewriting replaces: a `links[].href` is rewritten only when
//!   its raw bytes start with one (`LinkRewrite::matched`);
//! - and `\` anywhere: an escape could spell a key or an origin without its bytes appearing.
//!
//! That reasoning holds for UTF-8 JSON text, so the body must also look like it
//! ([`looks_like_unescaped_json_text`], which also rejects the `\`): valid UTF-8, no control
//! byte but JSON's whitespace, and an object or array from its first byte to its last. A body in UTF-16 (`I\0B\0A\0N\0`, which a
//! Java client would still read as `IBAN`) or compressed without saying so fails that, and is
//! parsed (and refused) as before.
//!
//! None present, and JSON text: no key of the document can equal a final key and no value can
//! start with an origin, read as the masker reads JSON, so the masker's output would be the input
//! (but for a whitespace run over 64 bytes before a key, which it shortens). The body goes out
//! as received, not parsed, and so not checked to be well-formed JSON in every detail (a
//! structure the masker would refuse passes when it names nothing; there is nothing in it to
//! hide). One hit anywhere, a body in pieces that grew past what is held (`hold.rs`), or an
//! error body under masking rules (whose free text is masked whatever its keys): the masker
//! reads it as before.
//! The charset a body declares is not consulted, by this search as by the masker: both read
//! UTF-8 JSON (RFC 8259 §8.1), and a body that is not UTF-8 JSON text is parsed and refused.
//!
//! The keys and origins are found by one pass of an Aho-Corasick automaton (the `aho-corasick`
//! crate: a contiguous NFA of ≈ 2 KiB for a few rules, with its SIMD prefilter), built once per
//! rule set. The `\` is looked for with the control bytes, in blocks of 32 bytes the compiler
//! turns into vector compares, not by the automaton: a one-byte pattern among the keys took
//! the automaton's prefilter away (the search of a 64 KiB body took 8 µs, 2.6 without it;
//! with the checks of the text, 14.5 µs before and 7.2 after, `benches/redact.rs`).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// The byte strings whose presence in a body sends it through the masker.
#[derive(Clone)]
pub struct Needles {
    automaton: AhoCorasick,
    count: usize,
}

impl std::fmt::Debug for Needles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Needles({} patterns)", self.count)
    }
}

impl Needles {
    /// The needles for rules with these final `keys` and link rewriting of these `origins`
    /// (the `\` is [`looks_like_unescaped_json_text`]'s to find). `None` when the automaton
    /// cannot be built; every body is then parsed.
    pub fn new<'a>(
        keys: impl IntoIterator<Item = &'a [u8]>,
        origins: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<Needles> {
        let mut patterns: Vec<&[u8]> = keys.into_iter().collect();
        patterns.extend(origins);
        let count = patterns.len();
        AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok()
            .map(|automaton| Needles { automaton, count })
    }

    /// Whether `body` holds none of the keys and origins.
    pub fn absent_from(&self, body: &[u8]) -> bool {
        !self.automaton.is_match(body)
    }
}

/// Whether `body` looks like UTF-8 JSON text without an escape: valid UTF-8, no `\`, no
/// control byte other than JSON's whitespace (tab, line feed, carriage return), and `{…}` or
/// `[…]` from its first to its last byte that is not whitespace. Not a full check of the
/// structure; enough that the needles' reasoning applies to it.
pub fn looks_like_unescaped_json_text(body: &[u8]) -> bool {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let first = body.iter().find(|b| !ws(b));
    let last = body.iter().rev().find(|b| !ws(b));
    let framed = matches!(
        (first, last),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
    );
    framed && !escape_or_control(body) && std::str::from_utf8(body).is_ok()
}

/// Whether `b` is a `\` or a control byte other than JSON's whitespace.
#[inline(always)]
fn escape_or_control_byte(b: u8) -> u8 {
    (u8::from(b < 0x20) & u8::from(b != b'\t') & u8::from(b != b'\n') & u8::from(b != b'\r'))
        | u8::from(b == b'\\')
}

/// Whether `body` holds a `\` or a control byte other than JSON's whitespace. Blocks of 32
/// bytes are first tested for any byte below 0x20 or a `\` (a few vector instructions, and
/// compact JSON has neither); only a block that has one is tested exactly, as whitespace
/// between tokens would be.
fn escape_or_control(body: &[u8]) -> bool {
    let blocks = body.chunks_exact(32);
    let rest = blocks.remainder();
    let suspect = |b: &[u8]| {
        b.iter()
            .fold(0, |m, &x| m | u8::from(x < 0x20) | u8::from(x == b'\\'))
            != 0
    };
    let exact = |b: &[u8]| b.iter().fold(0, |m, &x| m | escape_or_control_byte(x)) != 0;
    blocks.into_iter().any(|b| suspect(b) && exact(b)) || exact(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::rules::LinkRewrite;
    use crate::redact::{JsonMasker, MaskAction, MaskLimits, MaskRules, RuleSpec};
    use std::sync::Arc;

    #[test]
    fn any_key_or_origin_is_found_wherever_it_is() {
        let n = Needles::new(
            [&b"IBAN"[..], &b"TaxpayerId"[..]],
            [&b"https://erp.example.com"[..]],
        )
        .expect("needles");
        assert!(n.absent_from(br#"{"InvoiceId":1,"Description":"paper"}"#));
        assert!(n.absent_from(b""));
        for hit in [
            &br#"{"IBAN":"DE89"}"#[..],
            br#"{"a":{"b":[{"TaxpayerId":"1"}]}}"#,
            br#"{"Note":"no IBAN here"}"#,
            br#"{"links":[{"href":"https://erp.example.com/x"}]}"#,
            b"IBAN",
        ] {
            assert!(!n.absent_from(hit), "{}", String::from_utf8_lossy(hit));
        }
        // Exact bytes, as the rules compare keys: another case is another key.
        assert!(n.absent_from(br#"{"iban":"DE89"}"#));
    }

    fn masking_rules() -> Arc<MaskRules> {
        let spec = |path: &str, action| RuleSpec {
            path: path.into(),
            action,
        };
        let rules = MaskRules::compile(
            &[
                spec("**.IBAN", MaskAction::Remove),
                spec("items[].TaxpayerId", MaskAction::Last4),
            ],
            "****",
        )
        .expect("rules");
        Arc::new(rules.with_links(Some(LinkRewrite::new(
            vec!["https://erp.example.com".into()],
            "https://gw.example.com",
        ))))
    }

    #[test]
    fn the_masker_gives_back_a_body_that_names_nothing() {
        // The premise of passing such a body unparsed, checked on the masker itself.
        let rules = masking_rules();
        for doc in [
            r#"{"items":[{"InvoiceId":300100,"Amount":-1.5e3,"Paid":true,"Note":null,"Name":"Ünicøde ✓","links":[{"rel":"self","href":"https://other.example.com/x"}]}],"count":1,"hasMore":false}"#,
            "{ \"a\" : [ 1 , 2.0 , [ ] ] ,\r\n \"b\" : { } }\n",
            "[]",
            "\t[\"text\", 42]",
        ] {
            let doc = doc.as_bytes();
            assert!(
                rules.leaves_untouched(doc),
                "{}",
                String::from_utf8_lossy(doc)
            );
            let mut masker = JsonMasker::new(rules.clone(), MaskLimits::default());
            let mut out = Vec::new();
            masker.feed(doc, &mut out).expect("valid");
            masker.finish(&mut out).expect("complete");
            assert_eq!(out, doc);
        }
    }

    #[test]
    fn rules_search_for_what_they_were_last_given() {
        let rules = masking_rules();
        assert!(!rules.leaves_untouched(br#"{"href":"https://erp.example.com/a"}"#));
        let more = MaskRules::compile(
            &[RuleSpec {
                path: "Salary".into(),
                action: MaskAction::Mask,
            }],
            "*",
        )
        .expect("rules");
        let body = br#"{"Salary":1}"#;
        assert!(rules.leaves_untouched(body));
        assert!(!rules.merged(&more).leaves_untouched(body), "merged keys");
        assert!(
            rules.merged(&more).leaves_untouched(br#"{"k":1}"#),
            "a merge made with the configuration is searched"
        );
        assert!(
            !rules.merged_unsearched(&more).leaves_untouched(b"{}"),
            "a merge made per request is always parsed"
        );
        assert!(!rules.anywhere().leaves_untouched(br#"{"IBAN":1}"#));
        let relinked = (*rules).clone().with_links(Some(LinkRewrite::new(
            vec!["http://10.0.0.5:8080".into()],
            "https://gw.example.com",
        )));
        assert!(!relinked.leaves_untouched(br#"{"href":"http://10.0.0.5:8080/x"}"#));
    }

    #[test]
    fn only_utf8_json_text_is_taken_for_it() {
        for text in [&b"{}"[..], b" [1, \"\xc3\x9c\"]\r\n", b"{\"a\":\t{}}"] {
            assert!(
                looks_like_unescaped_json_text(text),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        for not in [
            &b""[..],
            b"   ",
            b"\"IBAN\"",
            b"42",
            b"{\"a\":1",
            b"[1}",
            // UTF-16: `{"IBAN":1}` little-endian, and big-endian with its mark.
            b"{\0\"\0I\0B\0A\0N\0\"\0:\x001\0}\0",
            b"\xfe\xff\0{\0}",
            // gzip's magic and a stray control byte.
            b"\x1f\x8b\x08\0{}",
            b"{\"a\":\"\x01\"}",
            // Not UTF-8.
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                !looks_like_unescaped_json_text(not),
                "{}",
                String::from_utf8_lossy(not)
            );
        }
        // An escape anywhere: it could spell a key (or an origin) the search cannot see.
        for escaped in [
            &br#"{"Tax\u0070ayerId":"1"}"#[..],
            br#"{"a":"\/"}"#,
            br#"{"a":"x\"y"}"#,
        ] {
            assert!(!looks_like_unescaped_json_text(escaped));
            assert!(!masking_rules().leaves_untouched(escaped));
        }
        // Through the rules: a UTF-16 body naming a key in its own encoding is not passed.
        let rules = masking_rules();
        let utf16: Vec<u8> =
            r#"{"IBAN":"GB29"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(!rules.leaves_untouched(&utf16));
    }

    #[test]
    fn escapes_and_control_bytes_are_found_at_every_offset() {
        // Every byte value at every offset of bodies around the 32-byte blocks, among plain
        // bytes and among whitespace (which sends blocks to the exact test).
        for len in [1, 31, 32, 33, 64, 95] {
            for fill in [b'a', b' ', b'\n', 0x7f, 0x21] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut body = vec![fill; len];
                        body[at] = byte;
                        let want = byte == b'\\'
                            || (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r'));
                        assert_eq!(
                            escape_or_control(&body),
                            want,
                            "{byte:#x} at {at} of {len} among {fill:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn debug_names_no_pattern() {
        let n = Needles::new([&b"SecretField"[..]], []).expect("needles");
        let shown = format!("{n:?}");
        assert_eq!(shown, "Needles(1 patterns)");
    }
}
