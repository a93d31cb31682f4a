//! A masked response's framing: `Content-Length` when the whole masked body is known before
//! its head goes out, chunked otherwise (to an HTTP/1.0 client, which has no chunked framing,
//! the body ends with the connection).
//!
//! A masked body cannot keep Oracle's `Content-Length`, and `response_filter` runs on the head
//! before any of the body is seen, so `redact::body::on_header` removes the length and leaves
//! the head unframed; this module frames it when it goes out. Pingora 0.9 flushes a chunked
//! head at once, writes each chunk in a flushed write of its own and the last chunk in
//! another: two writes more than the unmasked answer's.
//!
//! Pingora, however, runs the proxy's filters over every upstream task that is ready (head,
//! body, end) before it runs the downstream modules' filters and writes the batch
//! (`process_upstream_tasks`, then `write_response_tasks`). So when Oracle's whole answer
//! arrived at once, which is usual for a modest body, the masker has seen all of it by the
//! time [`MaskedFraming`]'s header filter sees the head. The head then goes out with the masked
//! body's exact length and no `Transfer-Encoding`, buffered with the body: one write while
//! both fit Pingora's write buffer (1,460 bytes), else the head and then the body, as for an
//! unmasked answer of that size. When the body arrives over several batches the head goes out
//! chunked (for an HTTP/1.1 client), and the body follows in chunks: whole, in one, when it
//! was held until its end (`redact::hold`: it named nothing within 64 KiB), else as it is
//! masked. Nothing is held back to learn a length.
//! Which way a response goes depends on how Oracle's bytes arrived; both are valid HTTP.
//!
//! The length said is the masked body's: what the client receives. Nothing of the unmasked
//! body's length leaves (a HEAD answer keeps its chunked head, since no body is fetched to
//! measure). The module's body filter checks the bytes written against the length said
//! ([`MaskedFraming::check`]).

use std::any::Any;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::modules::http::{HttpModule, HttpModuleBuilder, HttpModules, Module};
use pingora::proxy::Session;

/// Where one response's framing stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// No masked body for this response (yet): the head is left as it is.
    #[default]
    Idle,
    /// The head will be masked and has not gone out; the masked bytes so far.
    Counting(u64),
    /// The whole masked body is known before the head went out: its length.
    Whole(u64),
    /// The head says `Content-Length: said`; the body bytes written against it so far.
    Framed { said: u64, seen: u64 },
    /// The head went out without a length of ours: framing is settled.
    Sent,
}

/// The downstream module that frames a masked response: its length when it can, chunked
/// otherwise (see the module documentation). One per request.
#[derive(Debug, Default)]
pub struct MaskedFraming {
    state: State,
    /// Frame the masked head chunked when its length is not known
    /// (`BodyRedaction::chunked_unless_whole`).
    chunked: bool,
}

impl MaskedFraming {
    /// The head about to be filtered is masked and unframed: count its body from here.
    fn arm(&mut self, chunked: bool) {
        if self.state == State::Idle {
            self.state = State::Counting(0);
            self.chunked = chunked;
        }
    }

    /// `len` masked bytes leave for the client; `end`: the body ends with them.
    fn counted(&mut self, len: usize, end: bool) {
        if let State::Counting(n) = self.state {
            let n = n.saturating_add(len as u64);
            self.state = if end {
                State::Whole(n)
            } else {
                State::Counting(n)
            };
        }
    }

    /// Frames `resp` by what is known now. An informational head (`100 Continue`) is not the
    /// answer and leaves the state alone.
    fn frame(&mut self, resp: &mut ResponseHeader) -> pingora::Result<()> {
        if resp.status.is_informational() {
            return Ok(());
        }
        let state = std::mem::replace(&mut self.state, State::Sent);
        let te = &http::header::TRANSFER_ENCODING;
        match state {
            State::Whole(n) => {
                if self.chunked {
                    resp.set_version(http::Version::HTTP_11);
                }
                // Oracle's own chunked framing, when its answer came that way.
                if resp.headers.contains_key(te) {
                    resp.remove_header(te);
                }
                resp.insert_header("Content-Length", n)?;
                self.state = State::Framed { said: n, seen: 0 };
            }
            // The masked head, its length not known yet. A head that carries a framing of its
            // own is another's (`fail_to_proxy`'s refusal after a masking error) and is left
            // as it is.
            State::Counting(_)
                if self.chunked
                    && !resp.headers.contains_key(te)
                    && !resp.headers.contains_key(http::header::CONTENT_LENGTH) =>
            {
                crate::redact::body::frame_chunked(resp)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the body written against the length said. The module's filters run over the
    /// whole batch before any of it is written, so a mismatch (only possible if something
    /// changed the body after `response_body_filter` counted it) fails the response before a
    /// byte leaves, instead of a truncated or hanging answer on a connection kept alive.
    fn check(&mut self, len: usize, end: bool) -> pingora::Result<()> {
        if let State::Framed { said, seen } = &mut self.state {
            *seen = seen.saturating_add(len as u64);
            if *seen > *said || (end && *seen != *said) {
                return pingora::Error::e_explain(
                    pingora::ErrorType::InternalError,
                    "masked body length differs from the length framed",
                );
            }
        }
        Ok(())
    }
}

#[async_trait]
impl HttpModule for MaskedFraming {
    async fn response_header_filter(
        &mut self,
        resp: &mut ResponseHeader,
        _end_of_stream: bool,
    ) -> pingora::Result<()> {
        self.frame(resp)
    }

    fn response_body_filter(
        &mut self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
    ) -> pingora::Result<()> {
        self.check(body.as_ref().map_or(0, Bytes::len), end_of_stream)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Builds a [`MaskedFraming`] per request.
struct MaskedFramingBuilder;

impl HttpModuleBuilder for MaskedFramingBuilder {
    fn init(&self) -> Module {
        Box::new(MaskedFraming::default())
    }
}

/// The gateway's downstream modules: [`MaskedFraming`] only. Pingora's default, a response
/// compression module switched off, is left out: the gateway never compresses (it asks Oracle
/// for identity bodies when it redacts, and passes other encodings through untouched).
pub fn install(modules: &mut HttpModules) {
    modules.add_module(Box::new(MaskedFramingBuilder));
}

/// From `response_filter`, once the response is known to be masked and its head is unframed;
/// `chunked`: frame it chunked if its length is not known when it goes out. False when the
/// module is not installed: the caller frames the head itself then.
pub fn arm(session: &mut Session, chunked: bool) -> bool {
    match session.downstream_modules_ctx.get_mut::<MaskedFraming>() {
        Some(m) => {
            m.arm(chunked);
            true
        }
        None => false,
    }
}

/// From `response_body_filter`, with the masked chunk as it leaves for the client.
pub fn counted(session: &mut Session, body: &Option<Bytes>, end: bool) {
    if let Some(m) = session.downstream_modules_ctx.get_mut::<MaskedFraming>() {
        m.counted(body.as_ref().map_or(0, Bytes::len), end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked head as `on_header` leaves it: no length, no framing.
    fn unframed_head(status: u16) -> ResponseHeader {
        let mut h = ResponseHeader::build(status, None).expect("head");
        h.set_version(http::Version::HTTP_10);
        h.insert_header("Content-Type", "application/json")
            .expect("type");
        h
    }

    /// A masked head whose upstream answer was chunked already.
    fn chunked_head(status: u16) -> ResponseHeader {
        let mut h = unframed_head(status);
        h.insert_header("Transfer-Encoding", "chunked").expect("te");
        h
    }

    fn framed(resp: &ResponseHeader) -> (Option<String>, Option<String>) {
        let get = |n: http::header::HeaderName| {
            resp.headers
                .get(n)
                .map(|v| v.to_str().expect("ascii").to_string())
        };
        (
            get(http::header::CONTENT_LENGTH),
            get(http::header::TRANSFER_ENCODING),
        )
    }

    #[test]
    fn a_body_whole_before_the_head_goes_out_is_sent_with_its_masked_length() {
        let mut m = armed(&[(100, false), (0, false), (23, true)]);
        let mut head = unframed_head(200);
        m.frame(&mut head).expect("frame");
        assert_eq!(framed(&head), (Some("123".into()), None));
        assert_eq!(head.version, http::Version::HTTP_11);
        // The wire form says it once, spelled as set.
        let mut wire = bytes::BytesMut::new();
        head.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire.to_vec()).expect("ascii");
        assert_eq!(wire.matches("Content-Length: 123\r\n").count(), 1, "{wire}");
        assert!(!wire.to_ascii_lowercase().contains("transfer-encoding"));
        // Oracle's own chunked framing gives way to the length too.
        let mut m = MaskedFraming::default();
        m.arm(false);
        m.counted(23, true);
        let mut head = chunked_head(200);
        m.frame(&mut head).expect("frame");
        assert_eq!(framed(&head), (Some("23".into()), None));
    }

    #[test]
    fn a_body_that_differs_from_the_length_said_fails_before_it_is_written() {
        let framed = |n: usize| {
            let mut m = armed(&[(n, true)]);
            m.frame(&mut chunked_head(200)).expect("frame");
            m
        };
        // Exactly as said, in any split: fine.
        let mut m = framed(10);
        m.check(4, false).expect("part");
        m.check(6, true).expect("rest");
        // Longer than said.
        let mut m = framed(10);
        m.check(8, false).expect("part");
        assert!(m.check(3, false).is_err());
        // Shorter than said at the end.
        let mut m = framed(10);
        assert!(m.check(9, true).is_err());
        // Not framed by us: nothing is checked.
        let mut m = MaskedFraming::default();
        m.frame(&mut chunked_head(200)).expect("frame");
        m.check(1_000, true).expect("chunked");
    }

    /// A module armed for a masked answer to an HTTP/1.1 client, then told of these chunks
    /// (length, end).
    fn armed(chunks: &[(usize, bool)]) -> MaskedFraming {
        let mut m = MaskedFraming::default();
        m.arm(true);
        for &(len, end) in chunks {
            m.counted(len, end);
        }
        m
    }

    /// Frames a fresh unframed 200 head with `m` and says how it is framed.
    fn frame_fresh(m: &mut MaskedFraming) -> (Option<String>, Option<String>) {
        let mut head = unframed_head(200);
        m.frame(&mut head).expect("frame");
        framed(&head)
    }

    fn is_chunked(f: &(Option<String>, Option<String>)) -> bool {
        f.0.is_none() && f.1.as_deref() == Some("chunked")
    }

    #[test]
    fn an_empty_masked_body_says_zero() {
        assert_eq!(
            frame_fresh(&mut armed(&[(0, true)])),
            (Some("0".into()), None)
        );
    }

    #[test]
    fn a_body_still_arriving_gets_a_chunked_head_and_later_chunks_change_nothing() {
        let mut m = armed(&[(4096, false)]);
        let mut head = unframed_head(200);
        m.frame(&mut head).expect("frame");
        assert!(is_chunked(&framed(&head)));
        assert_eq!(head.version, http::Version::HTTP_11);
        // The rest arrives after the head went out: nothing to frame any more.
        m.counted(10, true);
        m.arm(true);
        assert_eq!(m.state, State::Sent);
        m.check(10, true)
            .expect("streamed chunked: nothing to check");
        assert_eq!(frame_fresh(&mut m), (None, None), "settled: left alone");
        // An HTTP/1.0 client's head stays unframed: the body ends with the connection.
        let mut m = MaskedFraming::default();
        m.arm(false);
        m.counted(4096, false);
        assert_eq!(frame_fresh(&mut m), (None, None));
    }

    #[test]
    fn unmasked_responses_and_informational_heads_are_left_alone() {
        // Never armed: an unmasked answer keeps its own framing, even if chunks are counted.
        let mut m = MaskedFraming::default();
        m.counted(5, true);
        let mut head = chunked_head(200);
        m.frame(&mut head).expect("frame");
        assert!(is_chunked(&framed(&head)));
        assert_eq!(frame_fresh(&mut MaskedFraming::default()), (None, None));

        // A `100 Continue` before the answer settles nothing.
        let mut m = armed(&[]);
        let mut cont = ResponseHeader::build(100, None).expect("head");
        m.frame(&mut cont).expect("frame");
        assert!(cont.headers.get(http::header::CONTENT_LENGTH).is_none());
        m.counted(7, true);
        assert_eq!(frame_fresh(&mut m), (Some("7".into()), None));
    }

    #[test]
    fn a_masking_failure_never_gets_a_length() {
        // The masker failed at the end: the body filter returns the error before counting the
        // end, so the refusal's head (written by `fail_to_proxy`) is framed by its own writer.
        let mut m = armed(&[(50, false)]);
        let mut refusal = ResponseHeader::build(502, None).expect("head");
        refusal.insert_header("Content-Length", "61").expect("cl");
        m.frame(&mut refusal).expect("frame");
        assert_eq!(framed(&refusal), (Some("61".into()), None));
    }
}
