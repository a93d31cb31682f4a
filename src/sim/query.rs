//! Oracle's `q` expression language and `orderBy`, as the simulated REST framework reads them.
//!
//! Grammar of `q` (keywords case-insensitive, attribute names case-sensitive):
//!
//! ```text
//! q       := segment (';' segment)*          ; ';' (outside quotes) is AND (framework v1)
//! segment := or | legacy
//! or      := and (OR and)*
//! and     := not (AND not)*
//! not     := NOT not | '(' or ')' | cmp
//! cmp     := ATTR op value
//! op      := '=' | '!=' | '<>' | '<' | '>' | '<=' | '>=' | LIKE
//! value   := 'text with '' as a quote' | number | bare word
//! legacy  := ATTR '=' ( 'quoted' | unquoted rest of the segment, no quote in it )
//!                                            ; tried when the segment does not parse as `or`
//! ```
//!
//! A comparison is numeric when the attribute holds a JSON number and the value reads as a
//! number; otherwise both sides compare as text. `LIKE` matches the attribute's text with `%`
//! (any run) and `_` (one character). An item without the attribute matches no comparison.

use std::cmp::Ordering;

use serde_json::Value;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `LIKE`
    Like,
}

/// A parsed `q` expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// Both hold.
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// The inner expression does not hold.
    Not(Box<Expr>),
    /// `attr op value`.
    Cmp(String, Op, String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(Op),
    Open,
    Close,
}

fn unsupported(q: &str) -> String {
    format!("The query expression \"{q}\" is not supported by this service")
}

/// Parses a whole `q` value.
pub fn parse(q: &str) -> Result<Expr, String> {
    let mut out: Option<Expr> = None;
    for seg in split_segments(q).ok_or_else(|| unsupported(q))? {
        let e = parse_advanced(seg)
            .or_else(|| parse_legacy(seg))
            .ok_or_else(|| unsupported(q))?;
        out = Some(match out {
            None => e,
            Some(prev) => Expr::And(Box::new(prev), Box::new(e)),
        });
    }
    out.ok_or_else(|| unsupported(q))
}

/// `q` split at the `;` outside single quotes; None when a quote is left open.
fn split_segments(q: &str) -> Option<Vec<&str>> {
    let (mut segs, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in q.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ';' if !quoted => {
                segs.push(&q[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    segs.push(&q[start..]);
    Some(segs.into_iter().filter(|s| !s.trim().is_empty()).collect())
}

fn is_ident(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Framework v1: `Attr=value`, the value unquoted (the rest of the segment) or single-quoted.
fn parse_legacy(seg: &str) -> Option<Expr> {
    let (attr, value) = seg.split_once('=')?;
    let attr = attr.trim();
    if !is_ident(attr) {
        return None;
    }
    let value = value.trim();
    let value = match value.strip_prefix('\'') {
        // Quoted: the whole rest, with `''` as the only quote inside.
        Some(rest) => {
            let inner = rest.strip_suffix('\'')?;
            if inner.replace("''", "").contains('\'') {
                return None;
            }
            inner.replace("''", "'")
        }
        None if value.contains('\'') => return None,
        None => value.to_string(),
    };
    Some(Expr::Cmp(attr.to_string(), Op::Eq, value))
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let (mut toks, mut i) = (Vec::new(), 0);
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        i += 1;
        match (c, next) {
            (c, _) if c.is_whitespace() => {}
            ('(', _) => toks.push(Tok::Open),
            (')', _) => toks.push(Tok::Close),
            ('\'', _) => {
                let mut text = String::new();
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (Some('\''), Some('\'')) => {
                            text.push('\'');
                            i += 2;
                        }
                        (Some('\''), _) => {
                            i += 1;
                            break;
                        }
                        (Some(&c), _) => {
                            text.push(c);
                            i += 1;
                        }
                        (None, _) => return None,
                    }
                }
                toks.push(Tok::Str(text));
            }
            ('!', Some('=')) | ('<', Some('>')) => {
                i += 1;
                toks.push(Tok::Op(Op::Ne));
            }
            ('<', Some('=')) | ('>', Some('=')) => {
                i += 1;
                toks.push(Tok::Op(if c == '<' { Op::Le } else { Op::Ge }));
            }
            ('<', _) => toks.push(Tok::Op(Op::Lt)),
            ('>', _) => toks.push(Tok::Op(Op::Gt)),
            ('=', _) => toks.push(Tok::Op(Op::Eq)),
            ('!', _) => return None,
            _ => {
                let mut w = String::from(c);
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace() || "()'<>=!".contains(c) {
                        break;
                    }
                    w.push(c);
                    i += 1;
                }
                toks.push(Tok::Word(w));
            }
        }
    }
    Some(toks)
}

fn keyword(t: Option<&Tok>, k: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Option<Expr> {
        let mut e = self.and()?;
        while keyword(self.peek(), "OR") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Some(e)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut e = self.not()?;
        while keyword(self.peek(), "AND") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Some(e)
    }

    fn not(&mut self) -> Option<Expr> {
        if keyword(self.peek(), "NOT") {
            self.pos += 1;
            return Some(Expr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::Close) {
                return None;
            }
            self.pos += 1;
            return Some(e);
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Option<Expr> {
        let attr = match self.peek() {
            Some(Tok::Word(w)) if is_ident(w) => w.clone(),
            _ => return None,
        };
        self.pos += 1;
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            t if keyword(t, "LIKE") => Op::Like,
            _ => return None,
        };
        self.pos += 1;
        let value = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            Some(Tok::Word(w))
                if !["AND", "OR", "NOT"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                w.clone()
            }
            _ => return None,
        };
        self.pos += 1;
        Some(Expr::Cmp(attr, op, value))
    }
}

fn parse_advanced(seg: &str) -> Option<Expr> {
    let mut p = Parser {
        toks: tokenize(seg)?,
        pos: 0,
    };
    let e = p.or()?;
    (p.pos == p.toks.len()).then_some(e)
}

impl Expr {
    /// The attribute names the expression reads.
    pub fn attributes(&self) -> Vec<&str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.attributes();
                v.extend(b.attributes());
                v
            }
            Expr::Not(e) => e.attributes(),
            Expr::Cmp(a, _, _) => vec![a.as_str()],
        }
    }

    /// Whether `item` satisfies the expression.
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
            Expr::Not(e) => !e.matches(item),
            Expr::Cmp(attr, op, value) => item.get(attr).is_some_and(|v| compare(v, *op, value)),
        }
    }
}

/// An attribute's value as text (strings without quotes).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare(v: &Value, op: Op, lit: &str) -> bool {
    if op == Op::Like {
        return like(&text(v), lit);
    }
    let ord = match (v.as_f64(), lit.trim().parse::<f64>()) {
        (Some(a), Ok(b)) if v.is_number() => a.partial_cmp(&b),
        _ => Some(text(v).as_str().cmp(lit)),
    };
    let Some(ord) = ord else { return false };
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Gt => ord == Ordering::Greater,
        Op::Le => ord != Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Like => false,
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` exactly one; case-sensitive.
pub fn like(s: &str, pattern: &str) -> bool {
    let (s, p): (Vec<char>, Vec<char>) = (s.chars().collect(), pattern.chars().collect());
    // dp[j]: whether s[..i] matches p[..j].
    let mut dp = vec![false; p.len() + 1];
    dp[0] = true;
    for j in 0..p.len() {
        dp[j + 1] = dp[j] && p[j] == '%';
    }
    for &c in &s {
        let mut next = vec![false; p.len() + 1];
        for j in 0..p.len() {
            next[j + 1] = match p[j] {
                '%' => next[j] || dp[j + 1],
                '_' => dp[j],
                pc => dp[j] && pc == c,
            };
        }
        dp = next;
    }
    dp[p.len()]
}

/// `orderBy=A:desc,B`: attribute and whether descending.
pub fn parse_order_by(v: &str) -> Result<Vec<(String, bool)>, String> {
    v.split(',')
        .map(|part| {
            let (attr, dir) = part.split_once(':').unwrap_or((part, "asc"));
            let desc = match dir.trim().to_ascii_lowercase().as_str() {
                "asc" => false,
                "desc" => true,
                _ => return Err(format!("Invalid orderBy direction \"{dir}\"")),
            };
            let attr = attr.trim();
            if !is_ident(attr) {
                return Err(format!("Invalid orderBy attribute \"{attr}\""));
            }
            Ok((attr.to_string(), desc))
        })
        .collect()
}

/// Orders two items by one attribute: numbers numerically, else as text; absent first.
pub fn order(a: &Value, b: &Value, attr: &str) -> Ordering {
    match (a.get(attr), b.get(attr)) {
        (Some(x), Some(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(Ordering::Equal),
            _ => text(x).cmp(&text(y)),
        },
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(q: &str, item: &Value) -> bool {
        parse(q)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .matches(item)
    }

    #[test]
    fn expressions() {
        let i = json!({"A": "GB200", "N": 10, "S": "it's", "T": "Supplier 1001"});
        assert!(m("A='GB200'", &i) && !m("A='GB201'", &i));
        assert!(m("A = 'GB200' and N > 9", &i) && !m("A = 'GB200' AND N > 10", &i));
        assert!(m("A='x' OR N>=10", &i) && !m("A='x' or N<10", &i));
        assert!(m("(A LIKE 'GB2%' OR N = 1) AND NOT N <> 10", &i));
        assert!(m("A like 'GB_00'", &i) && !m("A LIKE 'GB3%'", &i));
        assert!(m("S = 'it''s'", &i) && m("S!='its'", &i));
        assert!(m("A=GB200;N=10", &i) && !m("A=GB200;N=11", &i));
        assert!(m("T=Supplier 1001", &i) && m("T='Supplier 1001'", &i));
        assert!(
            m("N < 9.5e1", &i) && !m("N > 9.5e1", &i),
            "numeric, not text"
        );
        assert!(!m("Missing = 'x'", &i) && m("NOT Missing = 'x'", &i));
        for bad in [
            "A = 'open",
            "(A = 'x'",
            "A 'x'",
            "= 'x'",
            "A = 'x' AND",
            "",
            "A ! 'x'",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("A=1 AND (B=2 OR NOT C=3)").expect("q");
        let mut attrs = e.attributes();
        attrs.sort_unstable();
        assert_eq!(attrs, ["A", "B", "C"]);
    }

    #[test]
    fn like_and_order_by() {
        assert!(like("abc", "a%") && like("abc", "%c") && like("abc", "_b_") && like("", "%"));
        assert!(!like("abc", "a_") && !like("abc", "b%") && !like("ABC", "abc"));
        assert!(!like("ab", "ab_") && !like("abc", "a_c_") && like("a%c", "a%c"));
        assert_eq!(
            parse_order_by("A:desc,B").expect("ob"),
            vec![("A".into(), true), ("B".into(), false)]
        );
        assert!(parse_order_by("A:sideways").is_err() && parse_order_by("").is_err());
        let (a, b) = (json!({"N": 9}), json!({"N": 10}));
        assert_eq!(order(&a, &b, "N"), Ordering::Less, "numeric order");
    }
}
