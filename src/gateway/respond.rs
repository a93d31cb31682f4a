//! Writing gateway-generated responses (denials and failures) to the client, and mapping
//! Pingora errors to reason codes.

use std::time::Duration;

use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

use crate::gateway::context::{Decision, RequestCtx};
use crate::gateway::deny::{self, Deny, Reason};

/// Sends the JSON error for `deny` and records the decision. A request that carried a body
/// the gateway did not read loses keep-alive, so unread bytes can never be parsed as the next
/// request on the connection; so does one refused with `ctx.close_connection` set.
pub async fn deny(session: &mut Session, ctx: &mut RequestCtx, deny: Deny) -> pingora::Result<()> {
    ctx.decision = Decision::Denied(deny);
    if ctx.has_body || ctx.close_connection {
        session.set_keepalive(None);
    }
    write(session, ctx, deny).await?;
    if ctx.has_body {
        drain(session).await;
    }
    Ok(())
}

/// The most of a refused request's body read and discarded after its answer.
const DRAIN_BYTES: usize = 1024 * 1024;

/// The longest wait for the rest of a refused request's body.
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// Reads and discards what is left of a refused request's body (at most [`DRAIN_BYTES`] within
/// [`DRAIN_TIME`]) before the connection closes: closing a socket with unread bytes resets it,
/// and a client still sending its upload would often lose the answer to the reset. A client
/// that asked `Expect: 100-continue` was never told to send, so nothing is waited for.
pub(super) async fn drain(session: &mut Session) {
    let expects_continue = session
        .req_header()
        .headers
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        return;
    }
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    let mut left = DRAIN_BYTES;
    while left > 0 && !session.is_body_done() {
        match tokio::time::timeout_at(deadline, session.read_request_body()).await {
            Ok(Ok(Some(bytes))) => left = left.saturating_sub(bytes.len()),
            _ => break,
        }
    }
}

/// Writes the error response for `deny`.
pub async fn write(session: &mut Session, ctx: &RequestCtx, deny: Deny) -> pingora::Result<()> {
    let body = deny::error_body(deny.reason, &ctx.request_id);
    let mut header =
        deny::error_header(deny.reason, &ctx.request_id, body.len(), deny.retry_after)?;
    crate::redact::headers::apply(&mut header, &ctx.request_id, ctx.hsts.as_deref())?;
    if let Some(origin) = &ctx.cors_origin {
        super::cors::apply(&mut header, origin)?;
    }
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session.write_response_body(Some(body), true).await?;
    Ok(())
}

/// The reason for a proxy failure (given the request's `decision` so far), or `None` when the
/// client is gone (nothing to answer).
pub fn failure_reason(e: &Error, decision: Decision) -> Option<Reason> {
    if let Decision::Denied(d) = decision {
        return Some(d.reason);
    }
    match e.etype() {
        ErrorType::TLSHandshakeFailure | ErrorType::InvalidCert | ErrorType::HandshakeError
            if e.esource() != &ErrorSource::Downstream =>
        {
            Some(Reason::UpstreamTls)
        }
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream
                || matches!(e.etype(), ErrorType::ConnectTimedout) =>
        {
            Some(Reason::UpstreamTimeout)
        }
        ErrorType::HTTPStatus(413) => Some(Reason::BodyTooLarge),
        ErrorType::HTTPStatus(414) => Some(Reason::UriTooLong),
        ErrorType::HTTPStatus(code) if *code >= 400 && *code < 500 => Some(Reason::BadRequest),
        _ => match e.esource() {
            ErrorSource::Upstream => Some(Reason::UpstreamUnavailable),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::ReadError | ErrorType::WriteError => None,
                // The client closed its sending half before the body it announced was whole.
                // It may still be reading (a half-close): it hears why. If it is gone, the
                // write fails and nothing is sent.
                ErrorType::ConnectionClosed => Some(Reason::BadRequest),
                // A client that stopped sending its body mid-way still hears why.
                ErrorType::ReadTimedout => Some(Reason::RequestTimeout),
                ErrorType::WriteTimedout => None,
                _ => Some(Reason::BadRequest),
            },
            ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
                ErrorType::ConnectTimedout => Some(Reason::UpstreamTimeout),
                ErrorType::ConnectRefused
                | ErrorType::ConnectNoRoute
                | ErrorType::ConnectError
                | ErrorType::TLSHandshakeTimedout => Some(Reason::UpstreamUnavailable),
                _ => Some(Reason::Internal),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn downstream(etype: ErrorType) -> Box<Error> {
        Error::new_down(etype)
    }

    #[test]
    fn a_body_cut_short_is_answered_and_a_vanished_client_is_not() {
        let pending = Decision::Pending;
        assert_eq!(
            failure_reason(&downstream(ErrorType::ConnectionClosed), pending),
            Some(Reason::BadRequest)
        );
        assert_eq!(
            failure_reason(&downstream(ErrorType::ReadTimedout), pending),
            Some(Reason::RequestTimeout)
        );
        assert_eq!(
            failure_reason(&downstream(ErrorType::ReadError), pending),
            None
        );
        assert_eq!(
            failure_reason(&downstream(ErrorType::WriteError), pending),
            None
        );
    }
}
