use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::redact::rules::{RuleSpec, Step};

pub(super) fn rules(specs: &[(&str, MaskAction)]) -> Arc<MaskRules> {
    let s: Vec<RuleSpec> = specs
        .iter()
        .map(|(p, a)| RuleSpec {
            path: p.to_string(),
            action: *a,
        })
        .collect();
    Arc::new(MaskRules::compile(&s, "****").expect("rules"))
}

pub(super) fn run_chunks(
    r: &Arc<MaskRules>,
    input: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, MaskStats), MaskError> {
    let mut m = JsonMasker::new(r.clone(), MaskLimits::default());
    let mut out = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        let c = c.clamp(last, input.len());
        m.feed(&input[last..c], &mut out)?;
        last = c;
    }
    let stats = m.finish(&mut out)?;
    Ok((out, stats))
}

fn run(r: &Arc<MaskRules>, input: &str) -> String {
    let (out, _) = run_chunks(r, input.as_bytes(), &[]).unwrap_or_else(|e| panic!("{e}: {input}"));
    String::from_utf8(out).expect("utf8")
}

/// The reference: parse everything, apply rules on the tree.
fn reference(r: &MaskRules, v: &Value) -> Value {
    fn walk(r: &MaskRules, v: &Value, path: &mut Vec<Option<String>>) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, val) in m {
                    path.push(Some(k.clone()));
                    let steps: Vec<PathStep<'_>> = path
                        .iter()
                        .map(|p| match p {
                            Some(k) => PathStep::Key(k.as_bytes()),
                            None => PathStep::Index,
                        })
                        .collect();
                    let action = r.find(steps.iter().copied()).map(|x| x.1);
                    match action {
                        Some(MaskAction::Remove) => {}
                        Some(MaskAction::Mask) => {
                            out.insert(k.clone(), json!(r.mask_text()));
                        }
                        Some(MaskAction::Last4) => {
                            let masked = match val {
                                Value::String(s) if s.chars().count() > 4 => {
                                    let tail: String =
                                        s.chars().skip(s.chars().count() - 4).collect();
                                    format!("{}{tail}", r.mask_text())
                                }
                                _ => r.mask_text().to_string(),
                            };
                            out.insert(k.clone(), json!(masked));
                        }
                        None => {
                            out.insert(k.clone(), walk(r, val, path));
                        }
                    }
                    path.pop();
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                path.push(None);
                let out = a.iter().map(|x| walk(r, x, path)).collect();
                path.pop();
                Value::Array(out)
            }
            other => other.clone(),
        }
    }
    walk(r, v, &mut Vec::new())
}

#[test]
fn actions_at_every_position() {
    let r = rules(&[
        ("items[].BankAccountNumber", MaskAction::Mask),
        ("**.IBAN", MaskAction::Remove),
        ("TaxpayerId", MaskAction::Last4),
    ]);
    assert_eq!(
        run(
            &r,
            r#"{"TaxpayerId":"TX-123456789","items":[{"BankAccountNumber":"400000000001","IBAN":"GB10","n":1}],"count":1}"#
        ),
        r#"{"TaxpayerId":"****6789","items":[{"BankAccountNumber":"****","n":1}],"count":1}"#
    );
    // Remove first / middle / last / only member; whitespace kept elsewhere.
    assert_eq!(run(&r, r#"{"IBAN":"x","a":1}"#), r#"{"a":1}"#);
    assert_eq!(run(&r, r#"{"a":1,"IBAN":"x","b":2}"#), r#"{"a":1,"b":2}"#);
    assert_eq!(run(&r, r#"{"a":1, "IBAN":"x"}"#), r#"{"a":1}"#);
    assert_eq!(run(&r, r#"{"IBAN":"x"}"#), r#"{}"#);
    assert_eq!(run(&r, r#"{"IBAN":"x","IBAN":{"deep":[1,2]}}"#), r#"{}"#);
    assert_eq!(
        run(
            &r,
            "{ \"a\" : [ 1 , 2 ] ,\n \"IBAN\" : [ {\"x\": \"]\"} ] }"
        ),
        "{ \"a\" : [ 1 , 2 ]  }"
    );
    // Mask replaces any type, untouched values stay byte for byte.
    let m = rules(&[("**.v", MaskAction::Mask)]);
    for v in [
        "1",
        "-2.5e10",
        "true",
        "false",
        "null",
        "\"s\"",
        "[1,[2]]",
        "{\"a\":{}}",
        "[]",
        "{}",
    ] {
        assert_eq!(
            run(&m, &format!("{{\"v\": {v}, \"w\": {v}}}")),
            format!("{{\"v\": \"****\", \"w\": {v}}}")
        );
    }
    // Top-level scalars and arrays pass.
    assert_eq!(
        run(&m, " [1, \"two\", {\"v\":3}] "),
        " [1, \"two\", {\"v\":\"****\"}] "
    );
    assert_eq!(run(&m, "42"), "42");
}

#[test]
fn escaped_keys_cannot_slip_past_and_unicode_is_handled() {
    let r = rules(&[
        ("**.BankAccountNumber", MaskAction::Mask),
        ("**.Name", MaskAction::Last4),
    ]);
    assert_eq!(
        run(&r, r#"{"Bank\u0041ccountNumber":"123"}"#),
        r#"{"Bank\u0041ccountNumber":"****"}"#
    );
    assert_eq!(
        run(&r, r#"{"\u0042ankAccountNumber":"123"}"#),
        r#"{"\u0042ankAccountNumber":"****"}"#
    );
    assert_eq!(
        run(&r, r#"{"Name":"Zoë Ångström 😀é"}"#),
        r#"{"Name":"****m 😀é"}"#
    );
    assert_eq!(
        run(&r, r#"{"Name":"ab\"\\\ud83d\ude00"}"#),
        r#"{"Name":"****b\"\\😀"}"#
    );
    assert_eq!(
        run(&r, r#"{"Name":"abcd"}"#),
        r#"{"Name":"****"}"#,
        "short strings are fully masked"
    );
    assert_eq!(run(&r, r#"{"Name":7}"#), r#"{"Name":"****"}"#);
}

#[test]
fn invalid_documents_fail_closed() {
    let r = rules(&[("**.x", MaskAction::Mask)]);
    for bad in [
        "{",
        "[1,",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "[1,]",
        "[,1]",
        "{,}",
        "01",
        "1.",
        "-",
        "1e",
        "tru",
        "nul",
        "\"abc",
        "{\"a\":\"\u{1}\"}",
        "\"\\x\"",
        "\"\\u12g4\"",
        "{\"a\":1}}",
        "[}",
        "{]",
        "{\"x\":[}]}",
        "{\"x\":{\"a\":\"b\"]}",
        "{\"\\ud800\":1}",
        "{\"\\udc00\":1}",
        "{\"a\" 1}",
        "{a:1}",
        "[1 2]",
        "'x'",
    ] {
        let res = run_chunks(&r, bad.as_bytes(), &[]);
        assert!(
            res.is_err(),
            "{bad:?} was accepted as {:?}",
            res.map(|(o, _)| String::from_utf8_lossy(&o).into_owned())
        );
    }
    assert_eq!(
        run_chunks(&r, b"{} x", &[]).err(),
        Some(MaskError::TrailingData)
    );
    assert_eq!(
        run_chunks(&r, b"[1", &[]).err(),
        Some(MaskError::Incomplete)
    );
    assert!(run_chunks(&r, b"{\"k\\u00ff\\udfff\":1}", &[]).is_err());
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(
        run_chunks(&r, deep.as_bytes(), &[]).err(),
        Some(MaskError::TooDeep)
    );
    let deep_masked = format!("{{\"x\":{}{}}}", "[".repeat(200), "]".repeat(200));
    assert_eq!(
        run_chunks(&r, deep_masked.as_bytes(), &[]).err(),
        Some(MaskError::TooDeep)
    );
}

#[test]
fn stats_count_what_fired() {
    let r = rules(&[
        ("items[].a", MaskAction::Mask),
        ("**.b", MaskAction::Remove),
    ]);
    let (_, s) =
        run_chunks(&r, br#"{"items":[{"a":1,"b":2},{"a":3}],"b":4}"#, &[5, 9]).expect("ok");
    assert_eq!(s.values_masked, 4);
    assert_eq!(s.per_rule, vec![2, 2]);
}

#[test]
fn fifty_megabytes_stream_with_flat_memory() {
    let r = rules(&[
        ("items[].BankAccountNumber", MaskAction::Mask),
        ("**.IBAN", MaskAction::Remove),
        ("items[].Name", MaskAction::Last4),
    ]);
    let mut m = JsonMasker::new(r, MaskLimits::default());
    let item = br#"{"Id":1,"Name":"Supplier Ltd","BankAccountNumber":"400000000001","IBAN":"GB10NWBK60161331926819","Notes":"lorem ipsum dolor sit amet"},"#;
    let mut chunk = Vec::with_capacity(64 * 1024);
    while chunk.len() + item.len() < 64 * 1024 {
        chunk.extend_from_slice(item);
    }
    let mut out = Vec::with_capacity(128 * 1024);
    m.feed(b"{\"items\":[", &mut out).expect("head");
    let mut total = 0usize;
    let mut max_buffer = 0;
    while total < 50 * 1024 * 1024 {
        out.clear();
        m.feed(&chunk, &mut out).expect("chunk");
        total += chunk.len();
        max_buffer = max_buffer.max(m.buffered_bytes());
        assert!(!out.windows(12).any(|w| w == b"400000000001"));
    }
    out.clear();
    m.feed(b"{}]}", &mut out).expect("tail");
    m.finish(&mut out).expect("finish");
    assert!(
        max_buffer < 4096,
        "internal buffers grew to {max_buffer} bytes"
    );
}

pub(super) fn value_strategy() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("BankAccountNumber".to_string()),
        Just("IBAN".to_string()),
        Just("items".to_string()),
        Just("Name".to_string()),
        Just("TaxpayerId".to_string()),
        Just("links".to_string()),
        Just("href".to_string()),
        "[a-zA-Z\u{e9}\"\\\\ ]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 \u{e9}\u{1F600}\"\\\\\n/]{0,12}".prop_map(Value::String),
        Just(json!("https://acme.oraclecloud.com/x")),
        Just(json!("https://acme.oraclecloud.com:443")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_split_gives_the_reference_result(doc in value_strategy(), pretty in any::<bool>(),
                                            cuts in proptest::collection::vec(0usize..4096, 0..8)) {
        let r = rules(&[
            ("items[].BankAccountNumber", MaskAction::Mask),
            ("**.IBAN", MaskAction::Remove),
            ("**.Name", MaskAction::Last4),
            ("TaxpayerId", MaskAction::Mask),
        ]);
        let text = if pretty { serde_json::to_vec_pretty(&doc) } else { serde_json::to_vec(&doc) }.expect("ser");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
        cuts.sort_unstable();
        let (whole, _) = run_chunks(&r, &text, &[]).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let (split, _) = run_chunks(&r, &text, &cuts).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&whole, &split, "output independent of chunking");
        let parsed: Value = serde_json::from_slice(&whole).map_err(|e| TestCaseError::fail(format!("invalid output {e}: {}", String::from_utf8_lossy(&whole))))?;
        // Compare with the reference applied to the same text parsed the same way (serde_json's
        // float parsing is not exactly round-trip, so `doc` itself is not the baseline).
        let original: Value = serde_json::from_slice(&text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(parsed, reference(&r, &original));
    }

    /// Damaged documents (one byte replaced): the verdict and the output do not depend on the
    /// chunking, and whenever serde_json still accepts the document the masker does too.
    #[test]
    fn damaged_documents_behave_the_same_in_any_chunking(doc in value_strategy(), at in any::<usize>(),
                                                        byte in any::<u8>(), cut in any::<usize>()) {
        let r = rules(&[("**.IBAN", MaskAction::Remove), ("**.Name", MaskAction::Last4), ("items", MaskAction::Mask)]);
        let mut text = serde_json::to_vec(&doc).expect("ser");
        let at = at % text.len();
        text[at] = byte;
        let cut = cut % (text.len() + 1);
        let whole = run_chunks(&r, &text, &[]);
        let bytewise: Vec<usize> = (1..text.len()).collect();
        prop_assert_eq!(&whole, &run_chunks(&r, &text, &[cut]));
        prop_assert_eq!(&whole, &run_chunks(&r, &text, &bytewise));
        if serde_json::from_slice::<Value>(&text).is_ok() {
            let (out, _) = whole.map_err(|e| TestCaseError::fail(format!("valid JSON refused: {e}")))?;
            let parsed: Value = serde_json::from_slice(&out).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let original: Value = serde_json::from_slice(&text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(parsed, reference(&r, &original));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256), cut in 0usize..256) {
        let r = rules(&[("**.a", MaskAction::Last4), ("b", MaskAction::Remove)]);
        let _ = run_chunks(&r, &bytes, &[cut]);
    }
}

#[test]
fn rule_steps_are_exposed_for_the_reference() {
    let r = rules(&[("a[].b", MaskAction::Mask)]);
    assert_eq!(
        r.rules()[0].steps,
        vec![
            Step::Key(b"a".to_vec()),
            Step::Each,
            Step::Key(b"b".to_vec())
        ]
    );
}

pub(super) fn link_rules(specs: &[(&str, MaskAction)]) -> Arc<MaskRules> {
    let base = rules(specs);
    Arc::new(
        (*base)
            .clone()
            .with_links(Some(crate::redact::rules::LinkRewrite::new(
                vec![
                    "https://acme.oraclecloud.com".into(),
                    "https://acme.oraclecloud.com:443".into(),
                ],
                "https://gw.example.com",
            ))),
    )
}

/// Every split of `input` into two chunks, and byte by byte, gives `want`.
fn assert_all_splits(r: &Arc<MaskRules>, input: &str, want: &str) -> MaskStats {
    let bytes = input.as_bytes();
    let mut stats = None;
    for cut in 0..=bytes.len() {
        let (out, s) = run_chunks(r, bytes, &[cut]).unwrap_or_else(|e| panic!("{e} at {cut}"));
        assert_eq!(String::from_utf8_lossy(&out), want, "split at {cut}");
        stats = Some(s);
    }
    let cuts: Vec<usize> = (1..bytes.len()).collect();
    let (out, _) = run_chunks(r, bytes, &cuts).expect("bytewise");
    assert_eq!(String::from_utf8_lossy(&out), want, "byte by byte");
    stats.expect("at least one split")
}

#[test]
fn links_are_rewritten_to_the_public_origin_whole_origins_only() {
    let r = link_rules(&[]);
    let input = r#"{"items":[{"Id":1,"links":[
        {"rel":"self","href":"https://acme.oraclecloud.com:443/fscmRestApi/resources/11.13.18.05/suppliers/1"},
        {"rel":"alt","href":"https://acme.oraclecloud.com/fscmRestApi/x?q=1"},
        {"rel":"bare","href":"https://acme.oraclecloud.com"},
        {"rel":"evil","href":"https://acme.oraclecloud.com.evil.example/x"},
        {"rel":"port","href":"https://acme.oraclecloud.com:4430/x"},
        {"rel":"esc","href":"https:\/\/acme.oraclecloud.com\/x"},
        {"rel":"short","href":"/relative"},
        {"rel":"num","href":7}]}],
        "href":"https://acme.oraclecloud.com/not-in-links",
        "links":[{"href":"https://acme.oraclecloud.com#top"}]}"#;
    let want = input
        .replace(
            "https://acme.oraclecloud.com:443/fscmRestApi",
            "https://gw.example.com/fscmRestApi",
        )
        .replace(
            "https://acme.oraclecloud.com/fscmRestApi/x?q=1",
            "https://gw.example.com/fscmRestApi/x?q=1",
        )
        .replace(
            r#""https://acme.oraclecloud.com""#,
            r#""https://gw.example.com""#,
        )
        .replace(
            "https://acme.oraclecloud.com#top",
            "https://gw.example.com#top",
        );
    assert_ne!(want, input);
    let stats = assert_all_splits(&r, input, &want);
    assert_eq!(stats.links_rewritten, 4);
    assert_eq!(stats.values_masked, 0);
    let v: Value = serde_json::from_str(&want).expect("still JSON");
    assert_eq!(
        v["href"], "https://acme.oraclecloud.com/not-in-links",
        "only links[].href"
    );
}

#[test]
fn links_and_masks_together_and_a_masked_href_stays_masked() {
    let r = link_rules(&[
        ("**.href", MaskAction::Mask),
        ("**.IBAN", MaskAction::Remove),
    ]);
    let input = r#"{"links":[{"href":"https://acme.oraclecloud.com/a"}],"IBAN":"GB1"}"#;
    let stats = assert_all_splits(&r, input, r#"{"links":[{"href":"****"}]}"#);
    assert_eq!((stats.values_masked, stats.links_rewritten), (2, 0));
}

#[test]
fn the_strongest_matching_action_wins() {
    let r = rules(&[
        ("**.a", MaskAction::Last4),
        ("x.a", MaskAction::Remove),
        ("**.b", MaskAction::Last4),
        ("**.b", MaskAction::Mask),
    ]);
    assert_eq!(
        run(
            &r,
            r#"{"x":{"a":"123456","k":1},"a":"123456","b":"123456"}"#
        ),
        r#"{"x":{"k":1},"a":"****3456","b":"****"}"#
    );
    let merged = rules(&[("**.a", MaskAction::Last4)]).merged(&rules(&[("a", MaskAction::Mask)]));
    assert_eq!(
        run(&Arc::new(merged), r#"{"a":"123456","y":{"a":"123456"}}"#),
        r#"{"a":"****","y":{"a":"****3456"}}"#
    );
}

#[test]
fn last4_keeps_escaped_and_wide_characters_as_valid_json() {
    let r = rules(&[("a", MaskAction::Last4)]);
    // Last four: a backslash, a newline, an emoji (a surrogate pair when escaped), a quote.
    let input = br#"{"a":"secret-\\\n\ud83d\ude00\"","b":1}"#;
    for cut in 0..input.len() {
        let (out, stats) = run_chunks(&r, input, &[cut]).expect("masked");
        let v: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(
            v,
            json!({"a": "****\\\n\u{1F600}\"", "b": 1}),
            "cut at {cut}"
        );
        assert_eq!(stats.values_masked, 1);
    }
    // Four characters or fewer: the mask alone.
    let (out, _) = run_chunks(&r, br#"{"a":"\u00e9xy"}"#, &[]).expect("masked");
    assert_eq!(out, br#"{"a":"****"}"#);
}
