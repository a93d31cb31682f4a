//! A body held while it arrives in pieces, so that one naming nothing the rules look for can
//! still pass unparsed.
//!
//! `needles.rs` lets a body that names no rule's key, no rewritten origin and no escape go out
//! as it came instead of through the masker. Only a whole body can be judged so, and Pingora
//! hands a body over as it reads it: a modest answer usually in one piece, a larger one (or
//! one from a distant Oracle) in several. So the pieces of a masked body are held, not sent,
//! while together they stay within [`HOLD_LIMIT`] (each piece counted with [`PIECE_COST`]
//! bytes more, so that an upstream sending one-byte chunks cannot make the pieces' own
//! bookkeeping the larger part), and
//!
//! - at the end, the pieces are joined (one copy, of the body's exact size) and the whole body
//!   is judged as a body in one piece is ([`MaskRules::leaves_untouched`]): it goes out whole
//!   and unparsed, in one chunk, or through the masker, all at once, in one chunk as well;
//! - the piece that would take the body past the limit sends everything held, and every later
//!   piece, to the masker: memory per response stays bounded, and a long body streams.
//!
//! The pieces are not searched as they come: a body within the limit goes out in one chunk at
//! its end whether or not it names anything, so its chunks and their timing do not tell a
//! client whether it named a rule's key (the masker's microseconds aside), and the search runs
//! once.
//!
//! The cost of holding: the client receives nothing of such a body until Oracle has sent all
//! of it (usually a few milliseconds; no longer than the upstream's read timeout allows
//! between pieces), and each response being held keeps up to 64 KiB in pieces (128 KiB for the
//! moment they are joined). Its head has gone out already (chunked: its length was not
//! known), so only the body waits.

use bytes::Bytes;

use super::rules::MaskRules;

/// The most a body is held while it arrives in pieces: the issue's bound for a modest body.
pub const HOLD_LIMIT: usize = 64 * 1024;

/// What a piece costs against [`HOLD_LIMIT`] beyond its bytes: its entry in the list and its
/// own allocation.
pub const PIECE_COST: usize = 64;

/// What becomes of a body's bytes after a piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// Held: nothing leaves yet.
    Waiting,
    /// The whole body, which names nothing: it leaves as it came.
    Unparsed(Bytes),
    /// These pieces, in order (every piece held so far and this one; none for an empty body),
    /// go to the masker, and so does every later piece.
    Parse(Vec<Bytes>),
}

/// The pieces of one body held so far.
#[derive(Debug, Default)]
pub struct Hold {
    /// The pieces, as Pingora handed them over (not copied until the body is judged whole).
    pieces: Vec<Bytes>,
    /// Their bytes and [`PIECE_COST`] for each, against [`HOLD_LIMIT`].
    cost: usize,
    /// Judged or handed to the masker: every later piece goes to the masker.
    released: bool,
}

impl Hold {
    /// Takes the next `piece` of the body (`end`: it is the last) under `rules`.
    pub fn take(&mut self, rules: &MaskRules, piece: Option<Bytes>, end: bool) -> Held {
        let piece = piece.filter(|p| !p.is_empty());
        if self.released {
            return Held::Parse(piece.into_iter().collect());
        }
        if rules.needles().is_none() {
            // Bodies are not searched under these rules: every one is parsed as it comes.
            self.pieces.extend(piece);
            return Held::Parse(self.release());
        }
        if let Some(piece) = piece {
            if end && self.pieces.is_empty() {
                // The whole body in one piece: nothing to copy.
                self.released = true;
                return judge(rules, piece);
            }
            let cost = piece.len() + PIECE_COST;
            if self.cost + cost > HOLD_LIMIT {
                self.pieces.push(piece);
                return Held::Parse(self.release());
            }
            self.cost += cost;
            self.pieces.push(piece);
        }
        if end {
            self.settle(rules)
        } else {
            Held::Waiting
        }
    }

    /// The end of a body held whole: joined (one copy, of its exact size) and judged.
    fn settle(&mut self, rules: &MaskRules) -> Held {
        let mut pieces = self.release();
        let whole = match pieces.len() {
            0 => return Held::Parse(pieces),
            1 => pieces.swap_remove(0),
            _ => {
                let mut whole = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
                for p in &pieces {
                    whole.extend_from_slice(p);
                }
                Bytes::from(whole)
            }
        };
        judge(rules, whole)
    }

    fn release(&mut self) -> Vec<Bytes> {
        self.released = true;
        self.cost = 0;
        std::mem::take(&mut self.pieces)
    }

    /// Bytes held now (for memory checks).
    pub fn held(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }
}

/// A whole body: out unparsed when the rules leave it untouched ([`MaskRules::leaves_untouched`],
/// the one test of that), else to the masker.
fn judge(rules: &MaskRules, whole: Bytes) -> Held {
    if rules.leaves_untouched(&whole) {
        Held::Unparsed(whole)
    } else {
        Held::Parse(vec![whole])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::rules::LinkRewrite;
    use crate::redact::{MaskAction, RuleSpec};

    fn rules() -> MaskRules {
        let spec = |path: &str| RuleSpec {
            path: path.into(),
            action: MaskAction::Remove,
        };
        MaskRules::compile(&[spec("**.BankAccountNumber"), spec("**.IBAN")], "****")
            .expect("rules")
            .with_links(Some(LinkRewrite::new(
                vec!["https://erp.example.com".into()],
                "https://gw.example.com",
            )))
    }

    fn b(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    /// Feeds `body` in pieces cut at `cuts`; returns what each piece gave.
    fn feed(body: &[u8], cuts: &[usize]) -> Vec<Held> {
        let r = rules();
        let mut hold = Hold::default();
        let mut bounds = cuts.to_vec();
        bounds.push(body.len());
        let mut at = 0;
        let mut out = Vec::new();
        for (k, &to) in bounds.iter().enumerate() {
            out.push(hold.take(&r, Some(b(&body[at..to])), k + 1 == bounds.len()));
            at = to;
        }
        out
    }

    /// The bytes a `Parse` hands to the masker, joined.
    fn joined(held: &Held) -> Vec<u8> {
        match held {
            Held::Parse(pieces) => pieces.concat(),
            other => panic!("not parsed: {other:?}"),
        }
    }

    #[test]
    fn a_body_naming_nothing_leaves_whole_at_its_end() {
        let body = br#"{"items":[{"InvoiceId":1,"Supplier":"Acme"}],"count":1,"hasMore":false}"#;
        let got = feed(body, &[10, 30]);
        assert_eq!(got[..2], [Held::Waiting, Held::Waiting]);
        assert_eq!(got[2], Held::Unparsed(b(body)));
        // In one piece: the piece itself, uncopied.
        assert_eq!(feed(body, &[]), [Held::Unparsed(b(body))]);
    }

    #[test]
    fn a_needle_split_anywhere_over_pieces_is_found_at_the_end() {
        for needle in ["BankAccountNumber", "IBAN", "https://erp.example.com"] {
            let body = format!(r#"{{"a":"{needle}","b":1}}"#);
            let start = body.find(needle).expect("placed");
            let end = start + needle.len();
            let whole = Held::Parse(vec![b(body.as_bytes())]);
            // Cut once inside the needle, and into one-byte pieces over its whole span: held
            // to the end either way, then parsed whole.
            for cut in start + 1..end {
                let got = feed(body.as_bytes(), &[cut]);
                assert_eq!(got, [Held::Waiting, whole.clone()], "{needle} cut at {cut}");
            }
            let cuts: Vec<usize> = (start..=end).collect();
            let got = feed(body.as_bytes(), &cuts);
            assert!(
                got[..cuts.len()].iter().all(|h| *h == Held::Waiting),
                "{got:?}"
            );
            assert_eq!(got[cuts.len()], whole);
        }
    }

    #[test]
    fn a_body_naming_a_key_is_held_too_and_masked_whole() {
        // Its chunks look like those of a body naming nothing: one, at the end.
        let body = br#"[[{"IBAN":"GB29"}],[{"InvoiceId":1}],[3]]"#;
        let got = feed(body, &[10, body.len() - 4]);
        assert_eq!(
            got,
            [Held::Waiting, Held::Waiting, Held::Parse(vec![b(body)])]
        );
    }

    #[test]
    fn a_body_past_the_limit_streams_through_the_masker() {
        let item = br#"{"InvoiceId":1,"Supplier":"Acme"},"#;
        let mut body = b"[".to_vec();
        while body.len() <= 2 * HOLD_LIMIT {
            body.extend_from_slice(item);
        }
        let r = rules();
        // Exactly the limit (two pieces and their cost) is held; a byte more is not.
        let half = HOLD_LIMIT / 2;
        let full = HOLD_LIMIT - 2 * PIECE_COST;
        let mut hold = Hold::default();
        assert_eq!(hold.take(&r, Some(b(&body[..half])), false), Held::Waiting);
        assert_eq!(
            hold.take(&r, Some(b(&body[half..full])), false),
            Held::Waiting
        );
        assert_eq!(hold.held(), full);
        let third = hold.take(&r, Some(b(&body[full..full + 1])), false);
        assert_eq!(joined(&third), &body[..full + 1]);
        assert_eq!(hold.held(), 0, "nothing is kept once the masker has it");
        let mut hold = Hold::default();
        assert_eq!(hold.take(&r, Some(b(&body[..half])), false), Held::Waiting);
        let over = hold.take(&r, Some(b(&body[half..full + 1])), false);
        assert_eq!(joined(&over), &body[..full + 1]);
        // Released: every later piece is parsed, even one that is JSON text naming nothing.
        let later = hold.take(&r, Some(b(b"[1]")), true);
        assert_eq!(later, Held::Parse(vec![b(b"[1]")]));
        // Past the limit with the piece that ends the body: parsed as well.
        let mut hold = Hold::default();
        assert_eq!(hold.take(&r, Some(b(&body[..half])), false), Held::Waiting);
        let last = hold.take(&r, Some(b(&body[half..HOLD_LIMIT + 1])), true);
        assert_eq!(joined(&last), &body[..HOLD_LIMIT + 1]);
        // A first piece past the limit on its own goes straight to the masker.
        let mut hold = Hold::default();
        let first = hold.take(&r, Some(b(&body[..HOLD_LIMIT + 1])), false);
        assert_eq!(first, Held::Parse(vec![b(&body[..HOLD_LIMIT + 1])]));
    }

    #[test]
    fn one_byte_pieces_count_their_bookkeeping() {
        let mut body = b"[".to_vec();
        for _ in 0..2000 {
            body.extend_from_slice(b"1,");
        }
        body.extend_from_slice(b"1]");
        let cuts: Vec<usize> = (1..body.len()).collect();
        let got = feed(&body, &cuts);
        let most = HOLD_LIMIT / (1 + PIECE_COST);
        let parsed = got
            .iter()
            .position(|h| *h != Held::Waiting)
            .expect("released");
        assert_eq!(parsed, most, "held {most} one-byte pieces at most");
        assert_eq!(joined(&got[parsed]), &body[..=parsed]);
        // Empty pieces are not pieces: they cost nothing and change nothing.
        let r = rules();
        let mut hold = Hold::default();
        for _ in 0..100_000 {
            assert_eq!(hold.take(&r, Some(Bytes::new()), false), Held::Waiting);
        }
        assert_eq!(hold.held(), 0);
        assert_eq!(
            hold.take(&r, Some(b(b"[]")), true),
            Held::Unparsed(b(b"[]"))
        );
    }

    #[test]
    fn escapes_text_that_is_not_json_and_empty_bodies_are_parsed() {
        for body in [
            &br#"{"Tax\u0070ayerId":"1","x":2}"#[..],
            b"<html>not json</html>",
            b"{\"a\":\"\xff\"}",
        ] {
            let got = feed(body, &[5]);
            assert_eq!(got[0], Held::Waiting, "{}", String::from_utf8_lossy(body));
            assert_eq!(joined(&got[1]), body);
        }
        let r = rules();
        let mut hold = Hold::default();
        assert_eq!(hold.take(&r, None, false), Held::Waiting);
        assert_eq!(hold.take(&r, None, true), Held::Parse(Vec::new()));
    }

    #[test]
    fn the_end_may_come_without_a_piece() {
        let body = br#"{"InvoiceId":1}"#;
        let r = rules();
        let mut hold = Hold::default();
        assert_eq!(hold.take(&r, Some(b(&body[..4])), false), Held::Waiting);
        assert_eq!(hold.take(&r, Some(b(&body[4..])), false), Held::Waiting);
        assert_eq!(hold.take(&r, None, true), Held::Unparsed(b(body)));
    }

    #[test]
    fn rules_whose_bodies_are_not_searched_parse_from_the_first_piece() {
        let unsearched = rules().merged_unsearched(&rules());
        let mut hold = Hold::default();
        let got = hold.take(&unsearched, Some(b(br#"{"a":1"#)), false);
        assert_eq!(got, Held::Parse(vec![b(br#"{"a":1"#)]));
        let got = hold.take(&unsearched, Some(b(b"}")), true);
        assert_eq!(got, Held::Parse(vec![b(b"}")]));
    }
}
