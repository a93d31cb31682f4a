//! Request bodies are read whole, and their framing checked, before Oracle sees anything of
//! the request, whenever they fit Pingora's replay buffer.
//!
//! A client that stops sending mid-body, or whose chunk framing turns out invalid, or whose
//! chunked body outgrows the limit, is refused: if the body were streamed, Oracle would
//! already hold the request head, with the injected credential, of a request the client was
//! told was refused. So after admission, and before the upstream is connected, a chunked body
//! or a body whose `Content-Length` is at most [`BUFFER_LIMIT`] is read to its end into
//! Pingora's replay buffer; Pingora then sends that buffer upstream, framed with its
//! `Content-Length`. A chunked body larger than the buffer is refused with 411
//! `request.length_required` (such a client must say the length up front); a larger body with
//! a valid `Content-Length` is streamed: its framing is known from the head (the front refused
//! every ambiguous one) and its size was checked before admission, so a client that stops
//! early leaves Oracle an incomplete body, never a complete refused one.

use pingora::proxy::Session;
use pingora::ErrorType;

use super::deny::{Deny, Reason};

/// The most a chunked body may hold: Pingora's replay buffer (`BODY_BUF_LIMIT` in
/// `pingora-core`), beyond which the buffer is dropped as truncated.
pub const BUFFER_LIMIT: u64 = 64 * 1024;

/// Whether the body is read whole before connecting upstream: chunked, or a non-empty
/// `Content-Length` within [`BUFFER_LIMIT`].
pub fn read_first(chunked: bool, content_length: Option<u64>) -> bool {
    chunked || content_length.is_some_and(|n| n > 0 && n <= BUFFER_LIMIT)
}

/// Reads the body of `session` to its end (answering `Expect: 100-continue` first)
/// and returns its length; `max_body` is `gateway.max_request_body_bytes`. Produces
/// `request.body_too_large`, `request.length_required`, `request.timeout` (a stall longer than
/// `client_timeout`) and `request.malformed` (invalid chunk framing, or a body cut short).
pub async fn read_whole(session: &mut Session, max_body: u64) -> Result<u64, Deny> {
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let downstream = session.as_downstream_mut();
    if expects_continue && downstream.write_continue_response().await.is_err() {
        return Err(Deny::with_detail(Reason::BadRequest, "client_gone"));
    }
    downstream.enable_retry_buffering();
    let mut total: u64 = 0;
    loop {
        match downstream.read_request_body().await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > max_body {
                    return Err(Deny::with_detail(Reason::BodyTooLarge, "chunked"));
                }
                if total > BUFFER_LIMIT {
                    return Err(Deny::with_detail(
                        Reason::LengthRequired,
                        "chunked_over_buffer",
                    ));
                }
            }
            Ok(None) => return Ok(total),
            Err(e) => {
                return Err(match e.etype() {
                    ErrorType::ReadTimedout => Deny::with_detail(Reason::RequestTimeout, "body"),
                    ErrorType::ConnectionClosed | ErrorType::ReadError => {
                        Deny::with_detail(Reason::BadRequest, "body_incomplete")
                    }
                    _ => Deny::with_detail(Reason::BadRequest, "chunked_framing_invalid"),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_that_fit_the_buffer_are_read_before_connecting() {
        assert!(read_first(true, None));
        assert!(read_first(false, Some(1)));
        assert!(read_first(false, Some(BUFFER_LIMIT)));
        assert!(!read_first(false, Some(BUFFER_LIMIT + 1)));
        assert!(!read_first(false, Some(0)));
        assert!(!read_first(false, None));
    }
}
