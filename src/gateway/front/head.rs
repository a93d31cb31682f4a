//! The strict request-head check of the front: what a request head must look like before
//! Pingora (and so the relay path) ever sees it.
//!
//! Pingora's own parser is lenient where a gateway must not be (it repairs request lines by
//! escaping bytes, drops a fragment, keeps one of two framing headers) and, where it refuses,
//! answers with its own bare `400`. This check is a strict superset of what Pingora 0.9
//! refuses (`pingora-core` `protocols/http/v1/server.rs` `read_request` and
//! `validate_request`, `protocols/http/authority.rs`), so a head that passes here is one
//! Pingora parses as it is, and every head that does not is refused by erpgate, in erpgate's
//! shape. Pure: bytes in, a verdict out.

use std::mem::MaybeUninit;

use crate::gateway::deny::Reason;

/// Pingora's limit on header fields (`MAX_HEADERS` in `pingora-core`); `max_header_count` is
/// validated to at most this.
pub const MAX_HEADERS: usize = 256;

/// The longest request target (defined with the path rules; Pingora refuses longer ones
/// itself).
pub use crate::path::MAX_TARGET;

/// The longest field name the `http` crate takes (Pingora refuses a longer one itself).
const MAX_FIELD_NAME: usize = 65_535;

/// The most head bytes handed to Pingora, which refuses a head past 1 MiB on its own
/// (`MAX_HEADER_SIZE`); kept one read buffer below it.
const MAX_HEAD: usize = 1_048_575 - 16 * 1024;

/// Limits from the configuration snapshot in force.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `gateway.max_uri_length`.
    pub max_uri: usize,
    /// `gateway.max_header_count`.
    pub max_header_count: usize,
    /// `gateway.max_header_bytes` (names + values + 4 per field, as the relay counts them).
    pub max_header_bytes: usize,
    /// `gateway.max_request_body_bytes`.
    pub max_body: u64,
}

impl Limits {
    /// The most bytes a head may take on the wire before it is refused as too large: the
    /// request line (method, target, version) plus the header fields, with slack for
    /// separators and line ends.
    pub fn max_head_bytes(&self) -> usize {
        (self.max_uri + self.max_header_bytes + 2 * self.max_header_count + 64).min(MAX_HEAD)
    }
}

/// A refusal of the head: the reason code and a secret-free detail for the audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason code the client sees.
    pub reason: Reason,
    /// Which rule, for the audit trail (a static string: never bytes of the request).
    pub detail: &'static str,
}

fn refuse<T>(reason: Reason, detail: &'static str) -> Result<T, Refusal> {
    Err(Refusal { reason, detail })
}

/// What the audit record may say of a refused head: its method and target when the request
/// line could be read (bounded by the caller), nothing from the header fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The method token, when parsed.
    pub method: Option<String>,
    /// The request target's path (before `?`), when parsed.
    pub path: Option<String>,
    /// The query (after `?`), when present; the caller masks it before recording.
    pub query: Option<String>,
}

/// The request line of `buf` as far as it can be read.
pub fn line(buf: &[u8]) -> Line {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS + 1];
    let mut req = httparse::Request::new(&mut fields);
    let _ = req.parse(buf);
    line_of(&req)
}

fn line_of(req: &httparse::Request<'_, '_>) -> Line {
    Line {
        method: req.method.map(str::to_string),
        path: req
            .path
            .map(|p| p.split_once('?').map_or(p, |(path, _)| path).to_string()),
        query: req
            .path
            .and_then(|p| p.split_once('?').map(|(_, q)| q.to_string())),
    }
}

/// Outcome of looking at the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The head is complete, `len` bytes long, and passed every rule.
    Pass {
        /// Bytes of the head (request line and fields, with the blank line).
        len: usize,
        /// The body's length when the head declares it (`Content-Length`, or none: 0);
        /// `None` for a chunked body.
        body: Option<u64>,
    },
    /// More bytes are needed.
    Partial,
    /// Refused; the request line as far as it could be read.
    Refused(Refusal, Line),
}

/// Checks the head at the start of `buf`.
pub fn check(buf: &[u8], limits: &Limits) -> Verdict {
    // Only the request line can be looked at before the head is complete.
    let line_end = buf.iter().position(|&b| b == b'\n');
    if line_end.is_none() && buf.len() > limits.max_uri + 32 {
        return Verdict::Refused(
            Refusal {
                reason: Reason::UriTooLong,
                detail: "request_line_too_long",
            },
            Line::default(),
        );
    }
    // Uninitialised slots: httparse writes only those it fills (no 8 KiB clearing per head).
    let mut fields = [MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS + 1];
    let cap = (limits.max_header_count + 1).min(fields.len());
    let mut req = httparse::Request::new(&mut []);
    let parsed = req.parse_with_uninit_headers(buf, &mut fields[..cap]);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head_bytes() {
                let line = line_of(&req);
                return Verdict::Refused(
                    Refusal {
                        reason: Reason::HeadersTooLarge,
                        detail: "head_too_large",
                    },
                    line,
                );
            }
            return Verdict::Partial;
        }
        Err(e) => {
            let line = line_of(&req);
            return Verdict::Refused(parse_error(e, line.method.is_some()), line);
        }
    };
    match rules(&req, limits) {
        Ok(body) => Verdict::Pass { len, body },
        Err(r) => Verdict::Refused(r, line_of(&req)),
    }
}

/// `method_read`: the method token was read, so a token error is in the target.
fn parse_error(e: httparse::Error, method_read: bool) -> Refusal {
    let (reason, detail) = match e {
        httparse::Error::TooManyHeaders => (Reason::HeadersTooLarge, "too_many_header_fields"),
        httparse::Error::Token if method_read => (Reason::PathRejected, "target_invalid"),
        httparse::Error::Token => (Reason::BadRequest, "method_invalid"),
        httparse::Error::Version => (Reason::BadRequest, "http_version_invalid"),
        httparse::Error::HeaderName => (Reason::BadRequest, "header_name_invalid"),
        httparse::Error::HeaderValue => (Reason::BadRequest, "header_value_invalid"),
        httparse::Error::NewLine => (Reason::BadRequest, "line_end_invalid"),
        httparse::Error::Status => (Reason::BadRequest, "request_line_invalid"),
    };
    Refusal { reason, detail }
}

/// The rules on a complete, parsed head; passed: the body length it declares (`None`:
/// chunked).
fn rules(req: &httparse::Request<'_, '_>, limits: &Limits) -> Result<Option<u64>, Refusal> {
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return refuse(Reason::BadRequest, "request_line_invalid");
    };
    if method == "CONNECT" {
        return refuse(Reason::MethodNotAllowed, "connect");
    }
    if target.len() > limits.max_uri {
        return refuse(Reason::UriTooLong, "target_too_long");
    }
    // The bound `check` puts on a request line whose end has not arrived, applied to a whole
    // one too, so the verdict does not depend on how the bytes were split into reads (a
    // 9,000-byte method was 414 when dribbled but passed to the relay in one write).
    if method.len() + target.len() + " HTTP/1.1\r\n".len() + 1 > limits.max_uri + 32 {
        return refuse(Reason::UriTooLong, "request_line_too_long");
    }
    // Only what Pingora would refuse or alter is the front's concern: it keeps a target that
    // is not origin-form as the request's authority, and drops a `#fragment` from what the
    // relay sees. Every other rule on the target is the chain's (`src/path/`), on the same
    // bytes, so it is not run twice.
    if !target.starts_with('/') {
        return refuse(Reason::PathRejected, "not_origin_form");
    }
    if target.contains('#') {
        return refuse(Reason::PathRejected, "fragment");
    }
    // Pingora turns the target into an `http::Uri` before any filter runs and answers a bare
    // 400 itself when that fails (`pingora-http` `parse_request_target`): bytes the `http`
    // crate does not take in a path or query (`<`, `>`, `` ` ``, `"` unencoded, non-ASCII)
    // are refused here, by the same parser, so the refusal is erpgate's.
    if !target.is_ascii() || http::uri::PathAndQuery::try_from(target).is_err() {
        return refuse(Reason::PathRejected, "target_unencoded");
    }
    let mut bytes = 0usize;
    let mut host: Option<&[u8]> = None;
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    for f in req.headers.iter() {
        bytes += f.name.len() + f.value.len() + 4;
        if f.name.len() > MAX_FIELD_NAME {
            return refuse(Reason::HeadersTooLarge, "field_name_too_long");
        }
        if f.name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return refuse(Reason::BadRequest, "host_duplicate");
            }
            if f.value.contains(&b'@') {
                return refuse(Reason::BadRequest, "host_userinfo");
            }
            host = Some(f.value);
        } else if f.name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return refuse(Reason::BadRequest, "content_length_duplicate");
            }
            content_length = Some(f.value);
        } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding.is_some() {
                return refuse(Reason::BadRequest, "transfer_encoding_duplicate");
            }
            transfer_encoding = Some(f.value);
        }
    }
    if req.headers.len() > limits.max_header_count || bytes > limits.max_header_bytes {
        return refuse(Reason::HeadersTooLarge, "header_limits");
    }
    let body = framing(transfer_encoding, content_length, version, limits)?;
    // RFC 9112 §3.2: an HTTP/1.1 request without `Host`, or with one that is not a valid
    // authority, is answered 400. Pingora relays both (and `Host` is replaced upstream), but
    // a head two parsers could disagree on is refused here rather than repaired.
    match host {
        Some(h) if !valid_host(h) => refuse(Reason::BadRequest, "host_invalid"),
        None if version == 1 => refuse(Reason::BadRequest, "host_missing"),
        _ => Ok(body),
    }
}

/// A `Host` value: a non-empty authority (`host[:port]`) and nothing else.
fn valid_host(value: &[u8]) -> bool {
    !value.is_empty()
        && !value.contains(&b'@')
        && http::uri::Authority::try_from(value).is_ok_and(|a| a.as_str().len() == value.len())
}

/// At most one framing header, `chunked` only on HTTP/1.1, a `Content-Length` of digits
/// within the body limit.
fn framing(
    transfer_encoding: Option<&[u8]>,
    content_length: Option<&[u8]>,
    version: u8,
    limits: &Limits,
) -> Result<Option<u64>, Refusal> {
    match (transfer_encoding, content_length) {
        (Some(_), Some(_)) => refuse(Reason::BadRequest, "content_length_with_transfer_encoding"),
        (Some(_), None) if version == 0 => refuse(Reason::BadRequest, "transfer_encoding_http10"),
        (Some(te), None) => {
            if trim(te).eq_ignore_ascii_case(b"chunked") {
                Ok(None)
            } else {
                refuse(Reason::BadRequest, "transfer_encoding_unsupported")
            }
        }
        (None, Some(cl)) => match parse_length(cl) {
            None => refuse(Reason::BadRequest, "content_length_invalid"),
            Some(n) if n > limits.max_body => refuse(Reason::BodyTooLarge, "content_length"),
            Some(n) => Ok(Some(n)),
        },
        (None, None) => Ok(Some(0)),
    }
}

/// `1*DIGIT` and nothing else (no sign, no inner space, no list), at most 19 digits.
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The length of the chunked body at the start of `bytes` (chunks, last chunk, trailer
/// section and its blank line), when all of it is there; `None` when it is not (or is not
/// valid framing: the relay's own reader judges that).
pub fn chunked_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        let (line, size) = match httparse::parse_chunk_size(bytes.get(at..)?) {
            Ok(httparse::Status::Complete(found)) => found,
            _ => return None,
        };
        at = at.checked_add(line)?;
        if size == 0 {
            break;
        }
        at = at
            .checked_add(usize::try_from(size).ok()?)?
            .checked_add(2)?;
        if bytes.get(at - 2..at)? != b"\r\n" {
            return None;
        }
    }
    let rest = bytes.get(at..)?;
    if rest.starts_with(b"\r\n") {
        return Some(at + 2);
    }
    let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(at + end + 4)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

#[cfg(test)]
mod tests;
