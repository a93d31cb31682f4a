//! Error bodies under masking rules: their free text is masked whole.
//!
//! Oracle writes what failed in words (`title`, `detail`, `o:errorDetails[].detail`), and
//! those words may quote a value the rules mask (`"Supplier bank account GB29… failed
//! validation"`). A rule matches members, never a value inside a sentence, so in an error
//! body every string is masked except those of members named like codes.

use super::JsonMasker;

/// In an error body, the members whose strings are codes, not free text, and are kept.
const ERROR_CODE_KEYS: [&[u8]; 4] = [b"status", b"o:errorCode", b"type", b"errorCode"];

impl JsonMasker {
    /// Also masks the free text of an error body: every string value, wherever it is, except
    /// those of members named like codes (`status`, `o:errorCode`, `type`, `errorCode`). Oracle
    /// writes what failed into `title`, `detail` and `o:errorDetails[].detail` in words, and
    /// those words may quote a value the rules mask (`"Supplier bank account GB29… failed
    /// validation"`); a rule cannot find a value inside a sentence, so the sentence goes.
    pub fn mask_error_text(mut self) -> Self {
        self.error_text = true;
        self
    }

    /// Whether the string starting now is error free text to mask: the nearest enclosing
    /// member is not a code member.
    pub(super) fn error_free_text(&self) -> bool {
        match self.stack.iter().rev().find(|f| f.is_obj) {
            Some(f) => !(f.key_matchable && ERROR_CODE_KEYS.contains(&f.key.as_slice())),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::{JsonMasker, MaskLimits};
    use crate::redact::{MaskAction, MaskRules, RuleSpec};

    fn masked(doc: &[u8], cut: usize) -> Result<Vec<u8>, super::super::MaskError> {
        let spec = |p: &str, action| RuleSpec {
            path: p.into(),
            action,
        };
        let rules = MaskRules::compile(
            &[
                spec("**.IBAN", MaskAction::Remove),
                spec("**.Name", MaskAction::Last4),
            ],
            "****",
        )
        .expect("rules");
        let mut m = JsonMasker::new(Arc::new(rules), MaskLimits::default()).mask_error_text();
        let mut out = Vec::new();
        let cut = cut.min(doc.len());
        m.feed(&doc[..cut], &mut out)?;
        m.feed(&doc[cut..], &mut out)?;
        m.finish(&mut out)?;
        Ok(out)
    }

    /// Every string left is the mask, a `last4` result, or a code member's value.
    fn only_codes_readable(v: &Value, key: Option<&str>) -> bool {
        match v {
            Value::String(s) => {
                s.starts_with("****") || key.is_some_and(|k| ["status", "o:errorCode"].contains(&k))
            }
            Value::Array(a) => a.iter().all(|x| only_codes_readable(x, key)),
            Value::Object(m) => m.iter().all(|(k, x)| only_codes_readable(x, Some(k))),
            _ => true,
        }
    }

    fn doc() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("title".to_string()),
            Just("detail".to_string()),
            Just("status".to_string()),
            Just("o:errorCode".to_string()),
            Just("o:errorDetails".to_string()),
            Just("IBAN".to_string()),
            Just("Name".to_string()),
            "[a-z\"\\\\ ]{0,5}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(Value::from),
            "[a-zA-Z0-9 \u{e9}\"\\\\]{0,10}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// For any error document and any split: valid JSON out, the same for every split,
        /// and no free text left readable.
        #[test]
        fn error_bodies_keep_only_codes(v in doc(), cut in any::<usize>()) {
            let text = serde_json::to_vec(&v).expect("ser");
            let whole = masked(&text, text.len()).expect("valid JSON is masked");
            prop_assert_eq!(&whole, &masked(&text, cut % (text.len() + 1)).expect("split"));
            let out: Value = serde_json::from_slice(&whole).expect("output is JSON");
            prop_assert!(only_codes_readable(&out, None), "{}", out);
        }
    }
}
