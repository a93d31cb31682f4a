//! Redaction rules: JSON paths to mask, compiled once per configuration snapshot.
//!
//! Grammar: keys separated by `.`; `[]` after a key means "each element of this array"; a
//! leading `**.` means "at any depth". Examples: `items[].BankAccountNumber`,
//! `items[].nationalIdentifiers[].NationalIdentifierNumber`, `**.IBAN`, `TaxpayerId`.
//! Keys are compared exactly (case-sensitive) with the document's key after JSON unescaping.

use std::sync::OnceLock;

use super::needles::{looks_like_unescaped_json_text, Needles};

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
    /// How much of the value the action hides; when several rules match one value the
    /// strongest wins (`remove` > `mask` > `last4`), so adding a rule never reveals more.
    pub fn strength(self) -> u8 {
        match self {
            MaskAction::Remove => 3,
            MaskAction::Mask => 2,
            MaskAction::Last4 => 1,
        }
    }

    /// The action's name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskAction::Remove => "remove",
            MaskAction::Mask => "mask",
            MaskAction::Last4 => "last4",
        }
    }

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
    /// Bit `b` set when some final key starts with byte `b`: the second pre-filter, which
    /// turns away most keys of a matching length (`href`, `name` against `IBAN`) before any
    /// comparison.
    key_firsts: [u64; 4],
    /// The mask string as a JSON string literal, quotes included.
    mask_json: Vec<u8>,
    mask_text: String,
    /// Rewriting of `links[].href` origins, when configured.
    links: Option<LinkRewrite>,
    /// What a whole body is searched for before it is parsed (`needles.rs`). Built on first
    /// use (≈ 20 µs for a few rules), so the many tenant × policy rule sets of a configuration
    /// cost nothing until one serves a request; emptied whenever the final keys or the link
    /// rewriting change. Holds `None` when bodies are not searched (a merge made per request,
    /// [`MaskRules::merged_unsearched`]) or the needles could not be built: every body is
    /// parsed then.
    needles: OnceLock<Option<Needles>>,
}

/// Rewrites the upstream origin at the start of Oracle's `links[].href` values to the
/// gateway's public base URL, so clients follow links through the gateway.
///
/// An origin matches only as a whole: it must be followed by `/`, `?`, `#` or the end of the
/// string (`https://erp.example.com` never matches `https://erp.example.com.evil/`). Values
/// are compared as raw JSON bytes; an origin written with escapes is left alone.
#[derive(Clone, Debug)]
pub struct LinkRewrite {
    /// Longest first, so `https://h:443` is tried before `https://h`.
    origins: Vec<Vec<u8>>,
    to: Vec<u8>,
}

impl LinkRewrite {
    /// Rewrites any of `origins` (e.g. `https://acme.fa.ocs.oraclecloud.com` and the same
    /// with `:443`) to `to` (an origin without a trailing slash, JSON-safe: validated by the
    /// configuration).
    pub fn new(mut origins: Vec<String>, to: &str) -> LinkRewrite {
        origins.sort_by_key(|o| std::cmp::Reverse(o.len()));
        origins.dedup();
        LinkRewrite {
            origins: origins.into_iter().map(String::into_bytes).collect(),
            to: to.as_bytes().to_vec(),
        }
    }

    /// Bytes of a value's start the masker must hold to decide (longest origin plus the
    /// boundary byte).
    pub fn window(&self) -> usize {
        self.origins.first().map_or(0, Vec::len) + 1
    }

    /// The replacement origin.
    pub fn to(&self) -> &[u8] {
        &self.to
    }

    /// The length of the origin `head` starts with, if any. `head` is the value's first
    /// bytes (all plain string bytes); `next` is the byte after them (`"` when the string
    /// ends there), consulted only when `head` is exactly an origin.
    pub fn matched(&self, head: &[u8], next: u8) -> Option<usize> {
        self.origins
            .iter()
            .find(|o| {
                head.starts_with(o)
                    && match head.get(o.len()) {
                        Some(b) => matches!(b, b'/' | b'?' | b'#'),
                        None => next == b'"',
                    }
            })
            .map(Vec::len)
    }
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

/// `name` with the non-ASCII characters Java's `equalsIgnoreCase` equates with an ASCII
/// letter replaced by it (`ı` U+0131 and `İ` U+0130 → `i`, `ſ` U+017F → `s`, Kelvin sign
/// U+212A → `k`) and every other non-ASCII character left out.
pub fn java_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            '\u{0131}' | '\u{0130}' => Some('i'),
            '\u{017f}' => Some('s'),
            '\u{212a}' => Some('k'),
            c if c.is_ascii() => Some(c),
            _ => None,
        })
        .collect()
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
        let mut out = MaskRules {
            links: None,
            needles: OnceLock::new(),
            rules,
            key_lens: 0,
            key_firsts: [0; 4],
            last_keys,
            mask_json,
            mask_text: mask_text.to_string(),
        };
        out.prefilter();
        Ok(out)
    }

    /// The needles of `last_keys` and `links`, built on first use; `None` when bodies are not
    /// searched.
    pub fn needles(&self) -> Option<&Needles> {
        self.needles
            .get_or_init(|| {
                Needles::new(
                    self.last_keys.iter().map(Vec::as_slice),
                    self.links
                        .iter()
                        .flat_map(|l| l.origins.iter().map(Vec::as_slice)),
                )
            })
            .as_ref()
    }

    /// Sets the pre-filters from `last_keys`.
    fn prefilter(&mut self) {
        self.key_lens = 0;
        self.key_firsts = [0; 4];
        for k in &self.last_keys {
            if k.len() < 64 {
                self.key_lens |= 1u64 << k.len();
            }
            if let Some(&b) = k.first() {
                self.key_firsts[usize::from(b >> 6)] |= 1u64 << (b & 63);
            }
        }
    }

    /// The same rules, also rewriting `links[].href` origins.
    pub fn with_links(mut self, links: Option<LinkRewrite>) -> MaskRules {
        self.links = links;
        self.needles = OnceLock::new();
        self
    }

    /// The link rewriting, when configured.
    pub fn links(&self) -> Option<&LinkRewrite> {
        self.links.as_ref()
    }

    /// Whether there are no masking rules (link rewriting aside).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether responses must go through the masker at all (rules or link rewriting).
    pub fn is_active(&self) -> bool {
        !self.rules.is_empty() || self.links.is_some()
    }

    /// These rules followed by `more`'s (used when several policies grant one request; the
    /// strongest action still wins per value). Link rewriting comes from `self`.
    pub fn merged(&self, more: &MaskRules) -> MaskRules {
        let mut out = self.merged_unsearched(more);
        out.needles = OnceLock::new();
        out
    }

    /// [`merged`](Self::merged) without the needles, for a merge made per request (a request
    /// several redacting policies grant): building them would cost more than a parse saves,
    /// so such a request's bodies are always parsed.
    pub fn merged_unsearched(&self, more: &MaskRules) -> MaskRules {
        let mut out = self.clone();
        out.needles = OnceLock::from(None);
        for r in &more.rules {
            if let Some(Step::Key(k)) = r.steps.last() {
                if !out.last_keys.contains(k) {
                    out.last_keys.push(k.clone());
                }
            }
            out.rules.push(r.clone());
        }
        out.prefilter();
        out
    }

    /// The same rules, each applied at any depth by its final key (`items[].X` becomes
    /// `**.X`, keeping its action and source): for a response that carries other resources'
    /// data in another shape (children inlined by `expand`, the parts of a batch), where a
    /// path written for the resource's own shape would miss. Stronger, never weaker.
    pub fn anywhere(&self) -> MaskRules {
        // The same keys and links: built here once, the needles go with every copy made per
        // request instead of being built for each.
        let _ = self.needles();
        let mut out = self.clone();
        for r in &mut out.rules {
            if let Some(last) = r.steps.last().cloned() {
                r.anywhere = true;
                r.steps = vec![last];
            }
        }
        out
    }

    /// Whether some rule masks an attribute called `name` (the final key, compared without
    /// ASCII case: a spelling Oracle might accept for the same attribute counts).
    ///
    /// A name that is not ASCII is also compared as Java would fold it
    /// ([`java_fold`]): `ı`, `İ`, `ſ` and the Kelvin sign equal `i`, `i`, `s` and `k` to
    /// `String.equalsIgnoreCase`, and other characters (a zero-width or Unicode space
    /// glued to the name) are left out of the comparison. Stronger, never weaker.
    pub fn masks_name(&self, name: &str) -> bool {
        let hit = |n: &str| {
            self.last_keys
                .iter()
                .any(|k| k.eq_ignore_ascii_case(n.as_bytes()))
        };
        hit(name) || (!name.is_ascii() && hit(&java_fold(name)))
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

    /// Whether `body` is UTF-8 JSON text that names no final key and no origin of the link
    /// rewriting and holds no escape, so the masker would give it back unchanged
    /// (`needles.rs`).
    pub fn leaves_untouched(&self, body: &[u8]) -> bool {
        self.needles().is_some_and(|n| n.absent_from(body)) && looks_like_unescaped_json_text(body)
    }

    /// Whether `key` is the final key of some rule (cheap pre-check).
    pub fn is_candidate(&self, key: &[u8]) -> bool {
        if key.len() < 64 && self.key_lens & (1u64 << key.len()) == 0 {
            return false;
        }
        match key.first() {
            Some(&b) if self.key_firsts[usize::from(b >> 6)] & (1u64 << (b & 63)) != 0 => {}
            _ => return false,
        }
        self.last_keys.iter().any(|k| k.as_slice() == key)
    }

    /// The strongest rule matching `path` (outermost first; the last step is the member's
    /// key); among equally strong rules, the first.
    pub fn find<'p>(
        &self,
        path: impl Iterator<Item = PathStep<'p>> + Clone,
    ) -> Option<(usize, MaskAction)> {
        let len = path.clone().count();
        let matches = self.rules.iter().enumerate().filter_map(|(i, r)| {
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
        });
        matches.fold(None, |best: Option<(usize, MaskAction)>, m| match best {
            Some(b) if b.1.strength() >= m.1.strength() => Some(b),
            _ => Some(m),
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
    fn candidates_pass_both_prefilters_and_others_do_not() {
        let r = MaskRules::compile(&[spec("items[].IBAN"), spec("**.éX")], "*").expect("rules");
        let more = MaskRules::compile(&[spec("z")], "*").expect("rules");
        let m = r.merged(&more);
        for (rules, key, want) in [
            (&r, &b"IBAN"[..], true),
            (&r, "éX".as_bytes(), true),
            (&r, b"href", false),
            (&r, b"INAN", false),
            (&r, "éY".as_bytes(), false),
            (&r, b"z", false),
            (&r, b"", false),
            (&m, b"z", true),
            (&m, b"IBAN", true),
            (&m, b"y", false),
        ] {
            assert_eq!(
                rules.is_candidate(key),
                want,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
        // Keys of 64 bytes and more are past the length filter; the first byte still counts.
        let long = "L".repeat(70);
        let r = MaskRules::compile(&[spec(&long)], "*").expect("rules");
        assert!(r.is_candidate(long.as_bytes()));
        assert!(!r.is_candidate("M".repeat(70).as_bytes()));
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

    #[test]
    fn masked_names_are_found_in_spellings_java_folds() {
        let r =
            MaskRules::compile(&[spec("items[].TaxRegistrationNumber")], "****").expect("compile");
        for n in [
            "taxregistrationnumber",
            "TaxReg\u{0131}strationNumber",
            "TaxReg\u{0130}strationNumber",
            "TaxRegi\u{017f}trationNumber",
            "TaxRegistrationNumber\u{3000}",
            "Tax\u{200b}RegistrationNumber",
        ] {
            assert!(r.masks_name(n), "{n:?}");
        }
        assert!(!r.masks_name("TaxRegistrationNumbers") && !r.masks_name("Status"));
    }
}
