//! The names a `q` filter expression refers to, in either of Oracle's two syntaxes: the
//! legacy one (`Status=ACTIVE;Amount>100`, `;` meaning AND) and the expression language of
//! REST framework 2 and later (`Status = 'ACTIVE' and (Amount > 100 or Supplier LIKE 'A%')`,
//! `BETWEEN`, `IN (…)`, `IS [NOT] NULL`, functions such as `UPPER(…)`, dotted child
//! attributes `child.Attr`).
//!
//! The reading is deliberately conservative: the gateway does not need to evaluate the
//! expression, only to know every name it could touch. String literals (`'…'`, `''` escaping
//! a quote) are skipped; every other word is a name. A word in attribute position (at the
//! start of a condition, or followed by an operator) is an attribute, and its dotted prefix
//! names child resources; a word elsewhere (an unquoted legacy value, a function name) is a
//! mere name, still compared with masked attributes by the caller, so no spelling of a masked
//! attribute goes unnoticed wherever it stands. Double-quoted words are names too.

/// One word of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// Its dot-separated parts (`["nationalIdentifiers", "NationalIdentifierNumber"]`).
    pub parts: Vec<String>,
    /// Whether it stands where an attribute stands (its prefix names child resources).
    pub attribute: bool,
}

impl Name {
    /// The last part: the attribute itself.
    pub fn last(&self) -> &str {
        self.parts.last().map_or("", String::as_str)
    }
}

/// Why a filter cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterError {
    /// A quote (`'` or `"`) is never closed.
    Unterminated,
    /// A control character outside a string literal.
    Control,
    /// An empty part in a dotted name (`a..b`, `.a`, `a.`).
    EmptyPart,
}

/// Keywords of the expression language (compared without case).
const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "like", "between", "in", "is", "null", "escape",
];

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str, bool),
    Literal,
    Punct(&'a str),
}

fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#' | b'.') || b >= 0x80
}

fn tokens(q: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            0x00..=0x1f | 0x7f => return Err(FilterError::Control),
            b'\'' => {
                // A literal; '' inside it is an escaped quote.
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(FilterError::Unterminated),
                        Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                        Some(b'\'') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                out.push(Token::Literal);
            }
            b'"' => {
                let start = i + 1;
                let len = bytes
                    .get(start..)
                    .and_then(|r| r.iter().position(|&c| c == b'"'))
                    .ok_or(FilterError::Unterminated)?;
                out.push(Token::Word(q.get(start..start + len).unwrap_or(""), true));
                i = start + len + 1;
            }
            b'0'..=b'9' => {
                // A number or an unquoted date (`2026-01-31`, `1.5e3`): a literal.
                while bytes
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':'))
                {
                    i += 1;
                }
                out.push(Token::Literal);
            }
            _ if word_byte(b) => {
                let start = i;
                while bytes.get(i).is_some_and(|&c| word_byte(c)) {
                    i += 1;
                }
                out.push(Token::Word(q.get(start..i).unwrap_or(""), false));
            }
            _ => {
                let two = q.get(i..i + 2).unwrap_or("");
                let len = if matches!(two, "<=" | ">=" | "<>" | "!=") {
                    2
                } else {
                    // One byte, or one whole UTF-8 character (never split one).
                    q.get(i..)
                        .and_then(|r| r.chars().next())
                        .map_or(1, char::len_utf8)
                };
                out.push(Token::Punct(q.get(i..i + len).unwrap_or("")));
                i += len;
            }
        }
    }
    Ok(out)
}

fn keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

fn comparison(t: Option<&Token<'_>>) -> bool {
    match t {
        Some(Token::Punct(p)) => matches!(*p, "=" | "<" | ">" | "<=" | ">=" | "<>" | "!="),
        Some(Token::Word(w, false)) => ["like", "between", "in", "is", "not"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(w)),
        _ => false,
    }
}

fn condition_start(t: Option<&Token<'_>>) -> bool {
    match t {
        None => true,
        Some(Token::Punct(p)) => matches!(*p, "(" | ";" | ","),
        Some(Token::Word(w, false)) => ["and", "or", "not"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(w)),
        _ => false,
    }
}

/// Every name in the filter `q` (already percent-decoded), in order.
pub fn names(q: &str) -> Result<Vec<Name>, FilterError> {
    let toks = tokens(q)?;
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let Token::Word(w, quoted) = t else {
            continue;
        };
        if !quoted && keyword(w) {
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| toks.get(p));
        let next = toks.get(i + 1);
        let function = matches!(next, Some(Token::Punct("(")));
        // A quoted name is split at its dots like any other: whether Oracle reads
        // `"child.Attr"` as one name or as a path, both readings are checked.
        let parts: Vec<String> = w.split('.').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            return Err(FilterError::EmptyPart);
        }
        out.push(Name {
            parts,
            attribute: !function && (condition_start(prev) || comparison(next)),
        });
        if *quoted {
            // Whatever else the quotes hold (spaces, operators, quotes of the other kind):
            // every word in them is a name too, in case Oracle does not read them as quotes.
            out.extend(
                w.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '#')))
                    .filter(|r| !r.is_empty() && r != w)
                    .map(|r| Name {
                        parts: vec![r.to_string()],
                        attribute: false,
                    }),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(q: &str) -> Vec<(String, bool)> {
        names(q)
            .expect("parses")
            .into_iter()
            .map(|n| (n.parts.join("."), n.attribute))
            .collect()
    }

    fn s(v: &[(&str, bool)]) -> Vec<(String, bool)> {
        v.iter().map(|(n, a)| (n.to_string(), *a)).collect()
    }

    #[test]
    fn legacy_syntax() {
        assert_eq!(
            attrs("Status=ACTIVE;InvoiceAmount>100"),
            s(&[("Status", true), ("ACTIVE", false), ("InvoiceAmount", true)])
        );
        assert_eq!(
            attrs("TaxRegistrationNumber=GB200000000"),
            s(&[("TaxRegistrationNumber", true), ("GB200000000", false)])
        );
    }

    #[test]
    fn expression_syntax() {
        assert_eq!(
            attrs("TaxRegistrationNumber LIKE 'GB2%' AND (Status = 'A''B' or Amount >= 5)"),
            s(&[
                ("TaxRegistrationNumber", true),
                ("Status", true),
                ("Amount", true)
            ])
        );
        assert_eq!(
            attrs("InvoiceDate BETWEEN 2026-01-01 AND 2026-12-31"),
            s(&[("InvoiceDate", true)])
        );
        assert_eq!(
            attrs("Status IN ('A','B') and Supplier IS NOT NULL"),
            s(&[("Status", true), ("Supplier", true)])
        );
        assert_eq!(
            attrs("UPPER(TaxRegistrationNumber) = 'GB'"),
            s(&[("UPPER", false), ("TaxRegistrationNumber", true)])
        );
        assert_eq!(
            attrs("nationalIdentifiers.NationalIdentifierNumber='1'"),
            s(&[("nationalIdentifiers.NationalIdentifierNumber", true)])
        );
        // A quoted name is a name, whatever it holds.
        assert_eq!(
            attrs("\"TaxRegistrationNumber\" = 'x'"),
            s(&[("TaxRegistrationNumber", true)])
        );
        // A quoted dotted name reaches into the child, like an unquoted one.
        assert_eq!(
            attrs("\"nationalIdentifiers.NationalIdentifierNumber\" = 'x'")[0],
            (
                "nationalIdentifiers.NationalIdentifierNumber".to_string(),
                true
            )
        );
        // Every word inside quotes is a name, should Oracle not read them as quotes.
        let inside = attrs("\"Status = 'A' OR TaxRegistrationNumber\" = 'x'");
        assert!(
            inside.contains(&("TaxRegistrationNumber".to_string(), false)),
            "{inside:?}"
        );
    }

    #[test]
    fn hostile_spellings_are_still_names() {
        // No space, odd case, tabs and newlines: the attribute is found.
        assert_eq!(
            attrs("taxregistrationnumber>'A'")[0].0,
            "taxregistrationnumber"
        );
        assert_eq!(
            attrs("\tTaxRegistrationNumber\n=\t'A'")[0].0,
            "TaxRegistrationNumber"
        );
        assert_eq!(
            attrs("Amount>5 OR TaxRegistrationNumber<'GC'")[1],
            ("TaxRegistrationNumber".to_string(), true)
        );
        // Non-ASCII runs belong to the word, never split it.
        assert_eq!(attrs("Tax\u{00e9}=1")[0].0, "Tax\u{00e9}");
    }

    #[test]
    fn unreadable_filters_are_errors() {
        assert_eq!(names("Status='ACTIVE"), Err(FilterError::Unterminated));
        assert_eq!(names("\"Status = 1"), Err(FilterError::Unterminated));
        assert_eq!(names("Status\u{0}=1"), Err(FilterError::Control));
        assert_eq!(names("a..b=1"), Err(FilterError::EmptyPart));
        assert_eq!(names(".a=1"), Err(FilterError::EmptyPart));
        assert_eq!(names("'it''s'"), Ok(vec![]));
    }
}
