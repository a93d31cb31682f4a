//! A body held while it arrives in pieces, so that one naming nothing the rules look for can
//! still pass unparsed.
//!
//! `needles.rs` lets a body that names no rule's key, no rewritten origin and no escape go out
//! as it came instead of through the masker. Only a whole body can be judged so, and Pingora
//! hands a body over as it reads it: a modest answer usually in one piece, a larger one (or
//! one from a distant Oracle) in several. So the pieces of a masked body are held, not sent,
//! while together they stay within [`HOLD_LIMIT`]: each new piece is searched for the needles
//! (with the end of the piece before it, where a needle may have begun), and
//!
//! - a hit sends everything held, and every later piece, through the masker: the body names
//!   something, and streams masked from there;
//! - a body that would grow past the limit goes to the masker the same way, so memory per
//!   response stays bounded and a long body streams;
//! - at the end, a body with no hit that is UTF-8 JSON text without an escape
//!   ([`looks_like_unescaped_json_text`]) goes out whole and unparsed, in one piece; anything
//!   else is masked, all at once.
//!
//! The cost of holding: the client receives nothing of such a body until Oracle has sent all
//! of it (at most 64 KiB, usually a few milliseconds), and each response being held keeps up
//! to 64 KiB. Its head has gone out already (chunked: its length was not known), so only the
//! body waits.

use bytes::Bytes;

use super::needles::{looks_like_unescaped_json_text, Needles};

/// The most a body is held while it arrives in pieces: the issue's bound for a modest body.
pub const HOLD_LIMIT: usize = 64 * 1024;

/// What becomes of a body's bytes after a piece.
#[derive(Debug, PartialEq, Eq)]
pub enum Held {
    /// Held: nothing leaves yet.
    Waiting,
    /// The whole body, which names nothing: it leaves as it came.
    Unparsed(Bytes),
    /// These bytes (all held so far with the piece; empty for an empty body) go to the
    /// masker, and so does every later piece.
    Parse(Bytes),
}

/// The pieces of one body held so far.
#[derive(Debug, Default)]
pub struct Hold {
    bytes: Vec<u8>,
}

impl Hold {
    /// Takes the next `piece` of the body (`end`: it is the last), searching it for `needles`.
    pub fn take(&mut self, needles: &Needles, piece: Option<Bytes>, end: bool) -> Held {
        match piece {
            // The whole body in one piece: nothing to copy.
            Some(piece) if end && self.bytes.is_empty() => {
                if needles.absent_from(&piece) && looks_like_unescaped_json_text(&piece) {
                    Held::Unparsed(piece)
                } else {
                    Held::Parse(piece)
                }
            }
            Some(piece) => {
                if self.bytes.len() + piece.len() > HOLD_LIMIT {
                    if self.bytes.is_empty() {
                        return Held::Parse(piece);
                    }
                    self.bytes.extend_from_slice(&piece);
                    return Held::Parse(self.release());
                }
                // A needle that ends in this piece began at most `longest - 1` bytes before it.
                let from = self
                    .bytes
                    .len()
                    .saturating_sub(needles.longest().saturating_sub(1));
                self.bytes.extend_from_slice(&piece);
                if !needles.absent_from(&self.bytes[from..]) {
                    return Held::Parse(self.release());
                }
                if end {
                    self.settle()
                } else {
                    Held::Waiting
                }
            }
            None if end => self.settle(),
            None => Held::Waiting,
        }
    }

    /// The end of a body whose every piece was searched: out unparsed when it is JSON text
    /// without an escape, else to the masker.
    fn settle(&mut self) -> Held {
        let whole = self.release();
        if !whole.is_empty() && looks_like_unescaped_json_text(&whole) {
            Held::Unparsed(whole)
        } else {
            Held::Parse(whole)
        }
    }

    fn release(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.bytes))
    }

    /// Bytes held now (for memory checks).
    pub fn held(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needles() -> Needles {
        Needles::new(
            [&b"BankAccountNumber"[..], &b"IBAN"[..]],
            [&b"https://erp.example.com"[..]],
        )
        .expect("needles")
    }

    /// Feeds `body` in pieces cut at `cuts`; returns what each piece gave.
    fn feed(body: &[u8], cuts: &[usize]) -> Vec<Held> {
        let n = needles();
        let mut hold = Hold::default();
        let mut out = Vec::new();
        let mut at = 0;
        let mut bounds = cuts.to_vec();
        bounds.push(body.len());
        for (k, &to) in bounds.iter().enumerate() {
            let piece = Bytes::copy_from_slice(&body[at..to]);
            out.push(hold.take(&n, Some(piece), k + 1 == bounds.len()));
            at = to;
        }
        out
    }

    #[test]
    fn a_body_naming_nothing_leaves_whole_at_its_end() {
        let body = br#"{"items":[{"InvoiceId":1,"Supplier":"Acme"}],"count":1,"hasMore":false}"#;
        let got = feed(body, &[10, 30]);
        assert_eq!(got[..2], [Held::Waiting, Held::Waiting]);
        assert_eq!(got[2], Held::Unparsed(Bytes::copy_from_slice(body)));
        // In one piece: the piece itself, uncopied.
        assert_eq!(
            feed(body, &[]),
            [Held::Unparsed(Bytes::copy_from_slice(body))]
        );
    }

    #[test]
    fn a_needle_split_anywhere_between_two_pieces_is_found() {
        for needle in ["BankAccountNumber", "IBAN", "https://erp.example.com"] {
            let body = format!(r#"{{"a":"{}","b":1}}"#, needle);
            let start = body.find(needle).expect("placed");
            for cut in start + 1..start + needle.len() {
                let got = feed(body.as_bytes(), &[cut]);
                assert_eq!(got[0], Held::Waiting, "{needle} cut at {cut}");
                assert_eq!(
                    got[1],
                    Held::Parse(Bytes::copy_from_slice(body.as_bytes())),
                    "{needle} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_hit_sends_what_is_held_to_the_masker_at_once() {
        let body = br#"{"items":[{"InvoiceId":1},{"IBAN":"GB29"},{"InvoiceId":3}]}"#;
        let got = feed(body, &[15, 40]);
        assert_eq!(got[0], Held::Waiting);
        assert_eq!(got[1], Held::Parse(Bytes::copy_from_slice(&body[..40])));
        // Once released, the holder starts empty: the caller parses every later piece itself.
    }

    #[test]
    fn a_body_past_the_limit_streams_through_the_masker() {
        let item = br#"{"InvoiceId":1,"Supplier":"Acme"},"#;
        let mut body = b"[".to_vec();
        while body.len() <= 2 * HOLD_LIMIT {
            body.extend_from_slice(item);
        }
        let n = needles();
        let mut hold = Hold::default();
        let half = HOLD_LIMIT / 2 + 1;
        let first = hold.take(&n, Some(Bytes::copy_from_slice(&body[..half])), false);
        assert_eq!(first, Held::Waiting);
        assert_eq!(hold.held(), half);
        let second = hold.take(
            &n,
            Some(Bytes::copy_from_slice(&body[half..2 * half])),
            false,
        );
        assert_eq!(
            second,
            Held::Parse(Bytes::copy_from_slice(&body[..2 * half]))
        );
        assert_eq!(hold.held(), 0, "nothing is kept once the masker has it");
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
            assert_eq!(got[1], Held::Parse(Bytes::copy_from_slice(body)));
        }
        let mut hold = Hold::default();
        assert_eq!(hold.take(&needles(), None, false), Held::Waiting);
        assert_eq!(hold.take(&needles(), None, true), Held::Parse(Bytes::new()));
    }

    #[test]
    fn the_end_may_come_without_a_piece() {
        let body = br#"{"InvoiceId":1}"#;
        let n = needles();
        let mut hold = Hold::default();
        assert_eq!(
            hold.take(&n, Some(Bytes::copy_from_slice(body)), false),
            Held::Waiting
        );
        assert_eq!(
            hold.take(&n, None, true),
            Held::Unparsed(Bytes::copy_from_slice(body))
        );
    }
}
