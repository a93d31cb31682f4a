use super::*;
use proptest::prelude::*;

const MAX: usize = 8192;

fn reject(t: &str) -> PathRejection {
    match canonicalize(t.as_bytes(), MAX) {
        Ok(c) => panic!("{t:?} was accepted as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn accepts_real_oracle_targets_unchanged() {
    for t in [
        "/fscmRestApi/resources/11.13.18.05/invoices/300000001?onlyData=true&q=InvoiceNum='A-1'",
        "/hcmRestApi/resources/latest/workers/00020000000EACED0005770800/child/names",
        "/fscmRestApi/resources/latest/suppliers/describe",
        "/fscmRestApi/resources/latest/invoices/INV%20001",
        "/fscmRestApi/resources/latest/invoices/A%7B1%7D",
        "/fscmRestApi/resources/latest/suppliers/Caf%C3%A9",
        "/fscmRestApi/resources/latest/invoices?q=InvoiceAmount>100;Supplier='Lee'&limit=5",
        "/",
    ] {
        let c = canonicalize(t.as_bytes(), MAX).unwrap_or_else(|e| panic!("{t}: {e}"));
        let joined = match c.query() {
            Some(q) => format!("{}?{}", c.path(), q),
            None => c.path().to_string(),
        };
        assert_eq!(joined, t);
    }
}

#[test]
fn segments_skip_only_the_leading_slash() {
    let c = canonicalize(b"/fscmRestApi/resources/latest/invoices?x=1", MAX).expect("ok");
    assert_eq!(
        c.segments().collect::<Vec<_>>(),
        vec!["fscmRestApi", "resources", "latest", "invoices"]
    );
    assert_eq!(canonicalize(b"/", MAX).expect("root").segments().count(), 0);
}

#[test]
fn rejects_every_ambiguous_form() {
    use PathRejection::*;
    let cases = [
        (
            "/fscmRestApi/resources/latest/invoices/..%2f..%2fadmin",
            EncodedSlash,
        ),
        ("/a/%2Fb", EncodedSlash),
        ("/a/%252e%252e", EncodedPercent),
        ("/a/%2e%2e/b", EncodedDot),
        ("/a/%2E", EncodedDot),
        ("/a/../b", DotSegment),
        ("/a/./b", DotSegment),
        ("/..", DotSegment),
        ("/a;jsessionid=x/b", Semicolon),
        ("/a%3bx", Semicolon),
        ("/a\\b", Backslash),
        ("/a%5Cb", EncodedBackslash),
        ("/a%00", ControlCharacter),
        ("/a%0d%0aX-Injected:1", ControlCharacter),
        ("/a%7f", ControlCharacter),
        ("/a%c0%ae", InvalidUtf8),
        ("/a%ff", InvalidUtf8),
        ("/a%e2%82", InvalidUtf8),
        ("/a%ed%a0%80", InvalidUtf8),
        ("/invo%69ces", EncodedUnreserved),
        ("/a%41", EncodedUnreserved),
        ("/a%7e", EncodedUnreserved),
        ("/a%2Cb", EncodedUnreserved),
        ("/a%2b", EncodedUnreserved),
        ("/a%40b", EncodedUnreserved),
        ("/a%3D", EncodedUnreserved),
        ("/a%2", BadPercentEncoding),
        ("/a%zz", BadPercentEncoding),
        ("/a%", BadPercentEncoding),
        ("/a/", EmptySegment),
        ("//a", EmptySegment),
        ("/a//b", EmptySegment),
        ("/a#frag", Fragment),
        ("/a?b#c", Fragment),
        ("/a b", DisallowedCharacter),
        ("/a<b>", DisallowedCharacter),
        ("/a{b}", DisallowedCharacter),
        ("/a|b", DisallowedCharacter),
        ("/a\"b", DisallowedCharacter),
        ("http://evil/a", NotOriginForm),
        ("*", NotOriginForm),
        ("evil:443", NotOriginForm),
        ("", NotOriginForm),
        ("/a?b\u{1}", ControlCharacter),
        ("/a?b c", DisallowedCharacter),
    ];
    for (t, want) in cases {
        assert_eq!(reject(t), want, "{t:?}");
    }
    assert_eq!(
        canonicalize(b"/caf\xc3\xa9", MAX).err(),
        Some(PathRejection::NonAscii)
    );
    assert_eq!(
        canonicalize(b"/a?\xff", MAX).err(),
        Some(PathRejection::NonAscii)
    );
    assert_eq!(canonicalize(b"/a\0", MAX).err(), Some(ControlCharacter));
}

#[test]
fn length_is_capped() {
    let long = format!("/{}", "a".repeat(100));
    assert_eq!(
        canonicalize(long.as_bytes(), 50).err(),
        Some(PathRejection::TooLong)
    );
    assert!(canonicalize(long.as_bytes(), 101).is_ok());
}

#[test]
fn rejection_names_are_stable_snake_case() {
    assert_eq!(PathRejection::EncodedSlash.as_str(), "encoded_slash");
    assert_eq!(PathRejection::DotSegment.to_string(), "dot_segment");
}

fn safe_segment() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9_~!$&'()*+,=:@-]{1,12}(%3F|%20|%C3%A9)?")
        .expect("regex")
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

proptest! {
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = canonicalize(&bytes, MAX);
    }

    #[test]
    fn accepted_paths_hold_the_invariants(bytes in proptest::collection::vec(
        prop_oneof![Just(b'/'), Just(b'.'), Just(b'%'), Just(b'2'), Just(b'e'), Just(b'f'),
                    Just(b'F'), Just(b'5'), Just(b';'), Just(b'a'), Just(b'?'), Just(b'\\')],
        1..40)) {
        let mut t = vec![b'/'];
        t.extend_from_slice(&bytes);
        if let Ok(c) = canonicalize(&t, MAX) {
            let p = c.path();
            prop_assert!(!p.contains("//"));
            prop_assert!(!p.contains(';'));
            prop_assert!(!p.contains('\\'));
            let lower = p.to_ascii_lowercase();
            prop_assert!(!lower.contains("%2f") && !lower.contains("%2e") && !lower.contains("%25") && !lower.contains("%5c"));
            prop_assert!(c.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
        }
    }

    #[test]
    fn safe_targets_round_trip(segs in proptest::collection::vec(safe_segment(), 1..6),
                               query in proptest::option::of("[A-Za-z0-9=&'%<>;]{0,20}")) {
        let mut t = format!("/{}", segs.join("/"));
        if let Some(q) = &query {
            t.push('?');
            t.push_str(q);
        }
        let c = canonicalize(t.as_bytes(), MAX).map_err(|e| TestCaseError::fail(format!("{t}: {e}")))?;
        prop_assert_eq!(c.path(), format!("/{}", segs.join("/")));
        prop_assert_eq!(c.query(), query.as_deref());
        prop_assert_eq!(c.segments().collect::<Vec<_>>(), segs.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

#[test]
fn query_pairs_decode_both_sides_and_keep_bad_escapes() {
    assert_eq!(
        query_pairs("since=2026-12-03T00%3A00%3A00Z&actor=cli%3Aops+team&flag&bad=%zz%4&&k%5F=v"),
        vec![
            ("since".to_string(), "2026-12-03T00:00:00Z".to_string()),
            ("actor".to_string(), "cli:ops team".to_string()),
            ("flag".to_string(), String::new()),
            ("bad".to_string(), "%zz%4".to_string()),
            ("k_".to_string(), "v".to_string()),
        ]
    );
    assert!(query_pairs("").is_empty());
    assert_eq!(query_pairs("x=%FF")[0].1, "\u{fffd}");
}
