//! The streaming masker never panics, gives the same output for any chunking, and never emits
//! a masked value: for every document serde_json accepts, the output is JSON in which every
//! `secret` is the mask, no `gone` member exists and every `tail` is the mask plus at most
//! four characters.
#![no_main]
use std::sync::Arc;

use erpgate::redact::{JsonMasker, MaskAction, MaskError, MaskLimits, MaskRules, RuleSpec};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const MASK: &str = "#MASK#";

fn rules() -> Arc<MaskRules> {
    let spec = |p: &str, action| RuleSpec {
        path: p.into(),
        action,
    };
    Arc::new(
        MaskRules::compile(
            &[
                spec("**.secret", MaskAction::Mask),
                spec("**.gone", MaskAction::Remove),
                spec("**.tail", MaskAction::Last4),
            ],
            MASK,
        )
        .expect("rules"),
    )
}

fn run(rules: &Arc<MaskRules>, doc: &[u8], step: usize) -> Result<Vec<u8>, MaskError> {
    let mut m = JsonMasker::new(rules.clone(), MaskLimits::default());
    let mut out = Vec::new();
    for chunk in doc.chunks(step.max(1)) {
        m.feed(chunk, &mut out)?;
    }
    m.finish(&mut out)?;
    Ok(out)
}

fn check(v: &Value) {
    match v {
        Value::Object(m) => {
            assert!(!m.contains_key("gone"), "a removed member was emitted");
            if let Some(s) = m.get("secret") {
                assert_eq!(s, MASK, "a masked value was emitted");
            }
            if let Some(t) = m.get("tail") {
                let t = t.as_str().expect("last4 gives a string");
                let rest = t.strip_prefix(MASK).expect("last4 starts with the mask");
                assert!(rest.chars().count() <= 4, "last4 kept more than four");
            }
            m.values().for_each(check);
        }
        Value::Array(a) => a.iter().for_each(check),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, doc)) = data.split_first() else {
        return;
    };
    let rules = rules();
    let whole = run(&rules, doc, doc.len());
    let chunked = run(&rules, doc, usize::from(step % 17) + 1);
    assert_eq!(whole, chunked, "chunking changed the result");
    if serde_json::from_slice::<Value>(doc).is_ok() {
        match whole {
            Ok(out) => {
                let v: Value = serde_json::from_slice(&out).expect("output is JSON");
                check(&v);
            }
            Err(MaskError::TooDeep) => {}
            Err(e) => panic!("valid JSON refused: {e}"),
        }
    }
});
