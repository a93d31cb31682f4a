//! The fast path against the byte-level path: every document fed whole and byte by byte.

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
        let mut m = super::super::JsonMasker::new(r.clone(), Default::default()).mask_error_text();
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
