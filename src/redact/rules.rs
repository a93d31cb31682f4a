//! Redaction rules: JSON paths to mask, compiled once per configuration snapshot.
//!
//! Grammar: keys separated by `.`; `[]` after a key means "each element of this array"; a
//! leading `**.` means "at any depth". Examples: `items[].BankAccountNumber`,
//! `items[].nationalIdentifiers[].NationalIdentifierNumber`, `**.IBAN`, `TaxpayerId`.
//! Keys are compared exactly (case-sensitive) with the document's key after JSON unescaping.

/// What to do with a matched value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskAction {
    /// Remove the member (key and value).
    Remove,
    /// Replace the value, whatever its type, with the mask string.
    Mask,
    /// Keep the last four characters of a string after the mask string (`"****1234"`); strings
    /// of four characters or fewer, and non-strings, are fully masked.
    Last4,
}

impl MaskAction {
    /// Parses `remove`, `mask` or `last4`.
    pub fn parse(s: &str) -> Option<MaskAction> {
        match s {
            "remove" => Some(MaskAction::Remove),
            "mask" => Some(MaskAction::Mask),
            "last4" => Some(MaskAction::Last4),
            _ => None,
        }
    }
}

/// One rule as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// The path.
    pub path: String,
    /// The action.
    pub action: MaskAction,
}

/// One step of a compiled path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object member with this (unescaped) key.
    Key(Vec<u8>),
    /// Any element of an array.
    Each,
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Matches at any depth (the steps must be a suffix of the path).
    pub anywhere: bool,
    /// The steps; always ends with a `Key`.
    pub steps: Vec<Step>,
    /// The action.
    pub action: MaskAction,
    /// The rule as written (for stats and audit).
    pub source: String,
}

/// A compiled rule set.
#[derive(Clone, Debug, Default)]
pub struct MaskRules {
    rules: Vec<Rule>,
    /// The final keys of all rules (a value can only match if its key is one of these).
    last_keys: Vec<Vec<u8>>,
    /// Bit `n` set when some final key is `n` bytes long (n < 64), a cheap pre-filter.
    key_lens: u64,
    /// The mask string as a JSON string literal, quotes included.
    mask_json: Vec<u8>,
    mask_text: String,
}

/// A malformed rule path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("redaction path \"{path}\": {why}")]
pub struct RulePathError {
    /// The path.
    pub path: String,
    /// What is wrong.
    pub why: String,
}

fn compile_one(spec: &RuleSpec) -> Result<Rule, RulePathError> {
    let err = |why: &str| RulePathError {
        path: spec.path.clone(),
        why: why.to_string(),
    };
    let (anywhere, rest) = match spec.path.strip_prefix("**.") {
        Some(r) => (true, r),
        None => (false, spec.path.as_str()),
    };
    if rest.is_empty() {
        return Err(err("is empty"));
    }
    let mut steps = Vec::new();
    for part in rest.split('.') {
        let (key, each) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        if key.is_empty() {
            return Err(err(
                "has an empty key (\"..\", a leading/trailing '.', or a bare \"[]\")",
            ));
        }
        if key.contains(['[', ']', '*']) || key.chars().any(char::is_control) {
            return Err(err("keys may not contain '[', ']', '*' or control characters; use \"**.\" only as a prefix"));
        }
        steps.push(Step::Key(key.as_bytes().to_vec()));
        if each {
            steps.push(Step::Each);
        }
    }
    if steps.last() == Some(&Step::Each) {
        return Err(err("must end with a key, not \"[]\""));
    }
    Ok(Rule {
        anywhere,
        steps,
        action: spec.action,
        source: spec.path.clone(),
    })
}

impl MaskRules {
    /// Compiles `specs`; `mask_text` replaces masked values (e.g. `****`).
    pub fn compile(specs: &[RuleSpec], mask_text: &str) -> Result<MaskRules, RulePathError> {
        let rules = specs
            .iter()
            .map(compile_one)
            .collect::<Result<Vec<_>, _>>()?;
        let mut last_keys: Vec<Vec<u8>> = Vec::new();
        for r in &rules {
            if let Some(Step::Key(k)) = r.steps.last() {
                if !last_keys.contains(k) {
                    last_keys.push(k.clone());
                }
            }
        }
        let mask_json = serde_json::to_vec(mask_text).unwrap_or_else(|_| b"\"****\"".to_vec());
        Ok(MaskRules {
            rules,
            key_lens: last_keys
                .iter()
                .filter(|k| k.len() < 64)
                .fold(0, |m, k| m | 1u64 << k.len()),
            last_keys,
            mask_json,
            mask_text: mask_text.to_string(),
        })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The mask string as a JSON literal.
    pub fn mask_json(&self) -> &[u8] {
        &self.mask_json
    }

    /// The mask text.
    pub fn mask_text(&self) -> &str {
        &self.mask_text
    }

    /// Whether `key` is the final key of some rule (cheap pre-check).
    pub fn is_candidate(&self, key: &[u8]) -> bool {
        if key.len() < 64 && self.key_lens & (1u64 << key.len()) == 0 {
            return false;
        }
        self.last_keys.iter().any(|k| k.as_slice() == key)
    }

    /// The first rule matching `path` (outermost first; the last step is the member's key).
    pub fn find<'p>(
        &self,
        path: impl Iterator<Item = PathStep<'p>> + Clone,
    ) -> Option<(usize, MaskAction)> {
        let len = path.clone().count();
        self.rules.iter().enumerate().find_map(|(i, r)| {
            let n = r.steps.len();
            if n > len || (!r.anywhere && n != len) {
                return None;
            }
            let ok = path
                .clone()
                .skip(len - n)
                .zip(r.steps.iter())
                .all(|(p, s)| match (p, s) {
                    (PathStep::Key(k), Step::Key(want)) => k == want.as_slice(),
                    (PathStep::Index, Step::Each) => true,
                    _ => false,
                });
            ok.then_some((i, r.action))
        })
    }
}

/// One step of the document path at a point of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathStep<'a> {
    /// Inside an object member with this key.
    Key(&'a [u8]),
    /// Inside an array element.
    Index,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: &str) -> RuleSpec {
        RuleSpec {
            path: p.into(),
            action: MaskAction::Mask,
        }
    }

    #[test]
    fn grammar() {
        let r = MaskRules::compile(
            &[
                spec("items[].nationalIdentifiers[].NationalIdentifierNumber"),
                spec("**.IBAN"),
                spec("TaxpayerId"),
            ],
            "****",
        )
        .expect("compile");
        assert_eq!(r.len(), 3);
        assert!(r.is_candidate(b"IBAN") && !r.is_candidate(b"items"));
        let path = [
            PathStep::Key(b"items"),
            PathStep::Index,
            PathStep::Key(b"nationalIdentifiers"),
            PathStep::Index,
            PathStep::Key(b"NationalIdentifierNumber"),
        ];
        assert_eq!(r.find(path.iter().copied()).map(|x| x.0), Some(0));
        let deep = [PathStep::Key(b"a"), PathStep::Index, PathStep::Key(b"IBAN")];
        assert_eq!(r.find(deep.iter().copied()).map(|x| x.0), Some(1));
        assert_eq!(
            r.find([PathStep::Key(b"TaxpayerId")].iter().copied())
                .map(|x| x.0),
            Some(2)
        );
        assert_eq!(
            r.find(
                [PathStep::Key(b"x"), PathStep::Key(b"TaxpayerId")]
                    .iter()
                    .copied()
            ),
            None,
            "anchored at the top"
        );
        for bad in [
            "", "**.", "a..b", "a.", ".a", "[]", "a[]", "a.*.b", "a[0].b",
        ] {
            assert!(MaskRules::compile(&[spec(bad)], "****").is_err(), "{bad}");
        }
        assert_eq!(r.mask_json(), b"\"****\"");
    }
}
