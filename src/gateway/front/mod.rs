//! The connection front: erpgate reads every HTTP/1.1 request head itself before Pingora does.
//!
//! Pingora answers some requests on its own, before any filter runs: a head its parser
//! refuses gets a bare `400` with no request id, no security headers and no audit record
//! (`pingora-proxy` `lib.rs` `handle_new_request`, `respond_error(400)`), a `CONNECT` a bare
//! `405`, and a head it can repair (an illegal byte escaped, a fragment dropped, one of two
//! framing headers removed) is relayed in its repaired form. None of that has a hook in
//! `ProxyHttp`, so the front sits one level lower, as the listener's `ServerApp`:
//!
//! 1. read the head from the connection (first byte within the idle timeout; once it has
//!    started, the whole head within `client_timeout`), bounded by the configured limits;
//! 2. check it strictly (`head.rs`: a superset of Pingora's refusals);
//! 3. refused → erpgate's JSON refusal with a reason code, request id, security headers and an
//!    audit record carrying the connection's address (`refuse.rs`), then close;
//! 4. passed → hand the connection to Pingora's proxy with the bytes already read as its
//!    pipelined prefix: Pingora parses the same head from memory (no second read) and the
//!    relay path runs as before. Between requests on a kept-alive connection, back to 1.
//!
//! What this costs a request: one extra `httparse` pass over the head, no extra syscall.

pub mod head;
mod in_flight;
mod refuse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use tokio::io::AsyncReadExt;

use super::deny::Reason;
use super::Gateway;
use crate::app::App;
use head::{Limits, Line, Refusal, Verdict};
use in_flight::InFlightGuard;
pub use in_flight::{InFlight, FIRST_REQUEST_AFTER_SHUTDOWN};

/// The listener's application: the front, then Pingora's proxy with the erpgate relay.
pub struct Front {
    proxy: Arc<HttpProxy<Gateway>>,
    app: Arc<App>,
    in_flight: InFlight,
}

impl Front {
    /// The front over `proxy` (built with `pingora::proxy::http_proxy`), counting requests in
    /// `in_flight`.
    pub fn new(proxy: HttpProxy<Gateway>, app: Arc<App>, in_flight: InFlight) -> Self {
        Front {
            proxy: Arc::new(proxy),
            app,
            in_flight,
        }
    }

    /// Limits and timeouts from the snapshot in force: (limits, idle wait, head deadline).
    fn settings(&self) -> (Limits, Duration, Duration) {
        let c = self.app.compiled.load();
        let g = &c.snapshot.gateway;
        (
            Limits {
                max_uri: g.max_uri_length,
                max_header_count: g.max_header_count,
                max_header_bytes: g.max_header_bytes,
                max_body: g.max_request_body_bytes,
            },
            Duration::from_secs(g.client_idle_timeout_seconds),
            g.client_timeout,
        )
    }
}

#[async_trait]
impl ServerApp for Front {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            // The listener offers HTTP/1.1 only; a connection that still got h2 is closed
            // rather than served around the front.
            return None;
        }
        // A connection this process accepted is answered by this process or by none: its
        // first request counts as awaited from here, and may still begin a little after a
        // shutdown has started (`FIRST_REQUEST_AFTER_SHUTDOWN`).
        let mut awaited = Some(self.in_flight.enter());
        loop {
            // A kept-alive connection (its first request answered, `awaited` gone) is not
            // reused once the server is shutting down.
            if awaited.is_none() && *shutdown.borrow() {
                return None;
            }
            let (limits, idle, deadline) = self.settings();
            let mut buf = BytesMut::with_capacity(4096);
            let reading = Reading {
                limits: &limits,
                idle,
                deadline,
                in_flight: &self.in_flight,
                after_shutdown: if awaited.is_some() {
                    FIRST_REQUEST_AFTER_SHUTDOWN
                } else {
                    Duration::ZERO
                },
            };
            let head = read_head(&mut stream, &mut buf, &reading, shutdown).await;
            drop(awaited.take());
            let (more, counted) = match head {
                Head::Ready { more, counted } => (more, counted),
                Head::Closed => return None,
                Head::Refused(refusal, line, started, _counted) => {
                    // Boxed: the refusal's future (its linger buffer among it) is allocated
                    // only when a head is refused, not carried in every connection's future.
                    Box::pin(refuse::answer(&self.app, stream, refusal, line, started)).await;
                    return None;
                }
            };
            let mut session = ServerSession::new_http1(stream);
            // A client that half-closes after sending its whole request still gets the answer
            // (Pingora's default drops the request without a word when it sees the FIN).
            session.set_abort_on_close(false);
            // Bytes of a next request already here: pipelining is off, so the connection
            // closes after this answer, and the answer must say so (`Connection: close`)
            // rather than leave the client to find its next request silently dropped. Pingora
            // resets keep-alive from the request's own header when it parses it, so the
            // proxy sets it after that (`Gateway::on_connection_reuse`).
            if more {
                session.set_connection_user_context(Some(Box::new(PipelinedBytes)));
            }
            if *shutdown.borrow() {
                session.set_keepalive(None);
            } else {
                session.set_keepalive(Some(idle.as_secs()));
            }
            session.set_pipelined_prefix(fitted(buf));
            // Pipelining stays off (Pingora's default): bytes past a request's body close the
            // connection after it, so the settings carried to the next request (keep-alive
            // time, user context) are ours to set again and nothing is left in them.
            let reused = self.proxy.process_new_http(session, shutdown).await;
            drop(counted);
            let (next, _settings) = reused?.consume();
            stream = next;
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

/// Marks a request whose head arrived with bytes of a next request behind it: its answer
/// closes the connection and says so.
#[derive(Debug)]
pub struct PipelinedBytes;

/// The outcome of reading one head. A request counts as in flight from its first byte (a
/// graceful shutdown waits for a head still arriving), which `counted` holds.
enum Head {
    /// `buf` holds a head that passed (and possibly the start of its body). `more`: `buf`
    /// also holds bytes past the body the head declared (a pipelined next request).
    Ready { more: bool, counted: InFlightGuard },
    /// The connection ended or went idle before a head began: nothing to answer.
    Closed,
    /// The head was refused; answer it. `Instant`: when its first byte arrived.
    Refused(Refusal, Line, Instant, InFlightGuard),
}

/// How one head is read: its limits, the wait for its first byte, the deadline for the rest,
/// the count it joins once it has begun, and how long its first byte may still come once a
/// shutdown has started.
struct Reading<'a> {
    limits: &'a Limits,
    idle: Duration,
    deadline: Duration,
    in_flight: &'a InFlight,
    after_shutdown: Duration,
}

/// Spare room in the read buffer above which the head is handed to Pingora in a copy of its
/// own size (`fitted`).
const FIT_SLACK: usize = 1024;

/// `buf`, or a copy of its bytes with no spare room when it has `FIT_SLACK` or more. Pingora
/// keeps the prefix as the request head's storage until the answer is done, so a 300-byte
/// head would otherwise hold the whole 4 KiB read buffer for as long as its request is in
/// flight (≈ 3.6 MiB with 1,000 requests in flight). The copy is one allocation and the
/// head's bytes; no read is added.
fn fitted(buf: BytesMut) -> BytesMut {
    if buf.capacity() - buf.len() >= FIT_SLACK {
        BytesMut::from(&buf[..])
    } else {
        buf
    }
}

/// The most bytes ever handed to Pingora as a prefix: it refuses a longer one on its own
/// (`MAX_HEADER_SIZE` in `pingora-core`'s HTTP/1 server), so no read goes past it.
const PINGORA_MAX_PREFIX: usize = 1_048_575;

/// Empty lines tolerated before a request line (RFC 9112 §2.2 asks a server to ignore at
/// least one); more are refused, so a stream of them costs no repeated parsing.
const MAX_LEADING_NEWLINE_BYTES: usize = 4;

/// Reads one head into `buf` and checks it. The first byte may take `idle` (or a shutdown
/// ends the wait); from then on the whole head must arrive within `deadline`. The check runs
/// when the bytes hold a blank line (or would exceed the limits), not after every read, so a
/// head dribbled byte by byte costs one parse.
async fn read_head(
    stream: &mut Stream,
    buf: &mut BytesMut,
    how: &Reading<'_>,
    shutdown: &ShutdownWatch,
) -> Head {
    let mut shutdown = shutdown.clone();
    let mut started: Option<(Instant, InFlightGuard)> = None;
    loop {
        let scanned = buf.len().saturating_sub(3);
        let Some(read) = read_more(
            stream,
            buf,
            how,
            started.as_ref().map(|s| s.0),
            &mut shutdown,
        )
        .await
        else {
            return Head::Closed;
        };
        if started.is_none() && !buf.is_empty() {
            started = Some((Instant::now(), how.in_flight.enter()));
        }
        let Some(begun) = started.take() else {
            return Head::Closed;
        };
        match read {
            Err(_) => {
                return refused(
                    buf,
                    how.limits,
                    Reason::RequestTimeout,
                    "head_timeout",
                    begun,
                )
            }
            Ok(Err(_)) => return Head::Closed,
            Ok(Ok(0)) => {
                return refused(buf, how.limits, Reason::BadRequest, "head_truncated", begun)
            }
            Ok(Ok(_)) => {}
        }
        match judge(buf, scanned, how.limits, begun) {
            Judged::Done(head) => return head,
            Judged::More(begun) => started = Some(begun),
        }
    }
}

/// One read of at most what Pingora takes as a prefix: before the head's first byte within
/// the idle wait (`None` when a shutdown ends the wait), after it within what is left of the
/// deadline.
async fn read_more(
    stream: &mut Stream,
    buf: &mut BytesMut,
    how: &Reading<'_>,
    started: Option<Instant>,
    shutdown: &mut ShutdownWatch,
) -> Option<Result<std::io::Result<usize>, tokio::time::error::Elapsed>> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    let room = PINGORA_MAX_PREFIX.saturating_sub(buf.len()) as u64;
    let mut bounded = (&mut *stream).take(room);
    match started {
        None => {
            let stop = async {
                // A dropped sender never signals: wait on the timeout alone then.
                if !*shutdown.borrow_and_update() && shutdown.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                if !how.after_shutdown.is_zero() {
                    tokio::time::sleep(how.after_shutdown).await;
                }
            };
            tokio::select! {
                biased;
                r = tokio::time::timeout(how.idle, bounded.read_buf(buf)) => Some(r),
                _ = stop => None,
            }
        }
        Some(t) => {
            let left = how.deadline.saturating_sub(t.elapsed());
            Some(tokio::time::timeout(left, bounded.read_buf(buf)).await)
        }
    }
}

/// What the bytes so far make of a head.
enum Judged {
    /// Answered: passed, or refused.
    Done(Head),
    /// Not whole yet: read more (the head's start and its in-flight count carried on).
    More((Instant, InFlightGuard)),
}

/// Judges `buf` after a read (`scanned`: where the new bytes begin, less three, for the
/// blank-line search): too many leading empty lines, a head still short of its end, or the
/// head check's verdict.
fn judge(buf: &[u8], scanned: usize, limits: &Limits, begun: (Instant, InFlightGuard)) -> Judged {
    let max = limits.max_head_bytes();
    let (at, counted) = begun;
    if leading_newlines(buf) > MAX_LEADING_NEWLINE_BYTES {
        let refusal = Refusal {
            reason: Reason::BadRequest,
            detail: "leading_empty_lines",
        };
        return Judged::Done(Head::Refused(refusal, head::line(b""), at, counted));
    }
    let ended = has_blank_line(&buf[scanned..]);
    if !ended && buf.len() <= max && has_line_end_or_short(buf, limits) {
        return Judged::More((at, counted));
    }
    Judged::Done(match head::check(buf, limits) {
        Verdict::Pass { len, body } => {
            let past = |body_len: usize| buf.len() > len.saturating_add(body_len);
            let more = match body {
                Some(b) => usize::try_from(b).is_ok_and(past),
                None => buf.get(len..).and_then(head::chunked_len).is_some_and(past),
            };
            Head::Ready { more, counted }
        }
        Verdict::Refused(r, line) => Head::Refused(r, line, at, counted),
        Verdict::Partial if buf.len() > max => refused(
            buf,
            limits,
            Reason::HeadersTooLarge,
            "head_too_large",
            (at, counted),
        ),
        Verdict::Partial => return Judged::More((at, counted)),
    })
}

/// CR and LF bytes before the request line.
fn leading_newlines(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Whether the request line is still short enough to wait for (a request line longer than the
/// target limit is refused as soon as it is seen).
fn has_line_end_or_short(buf: &[u8], limits: &Limits) -> bool {
    buf.contains(&b'\n') || buf.len() <= limits.max_uri + 32
}

/// `\n\n` or `\n\r\n`: the end of a head (httparse accepts bare LF line ends, as Pingora does).
fn has_blank_line(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .enumerate()
        .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && bytes.get(i + 2) == Some(&b'\n')))
}

/// A refusal for a head that did not complete: if what arrived already broke a rule, that
/// rule; otherwise `reason`. With as much of the request line as was read.
fn refused(
    buf: &[u8],
    limits: &Limits,
    reason: Reason,
    detail: &'static str,
    (at, counted): (Instant, InFlightGuard),
) -> Head {
    match head::check(buf, limits) {
        Verdict::Refused(r, line) => Head::Refused(r, line, at, counted),
        Verdict::Partial | Verdict::Pass { .. } => {
            Head::Refused(Refusal { reason, detail }, head::line(buf), at, counted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection carries the front's future for its whole life, so whatever that
    /// future holds is paid per client: the refusal path's 4 KiB linger buffer, once inlined
    /// in it, was 4 MiB at 1,000 keep-alive clients. What a rare path needs is boxed there.
    #[test]
    fn a_connections_future_stays_small() {
        const MAX_BYTES: usize = 1536;
        let (_dir, app) = crate::app::tests::app(crate::app::tests::CONFIG);
        let app = Arc::new(app);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("address");
            let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (server, _) = listener.accept().await.expect("accept");
            let conf = Arc::new(pingora::server::configuration::ServerConf::default());
            let relay = pingora::proxy::http_proxy(&conf, Gateway::new(app.clone()));
            let front = Arc::new(Front::new(relay, app, InFlight::default()));
            let (_stop, watch) = tokio::sync::watch::channel(false);
            let stream: Stream = Box::new(pingora::protocols::l4::stream::Stream::from(server));
            let future = front.process_new(stream, &watch);
            let size = std::mem::size_of_val(&*future);
            assert!(
                size <= MAX_BYTES,
                "the front's connection future is {size} bytes: box the future of a rare path \
                 (as the refusal is) or move a large local to the heap"
            );
            drop(future);
            drop(client);
        });
    }

    #[test]
    fn a_head_goes_to_pingora_without_the_read_buffers_spare_room() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = BytesMut::with_capacity(4096);
        buf.extend_from_slice(head);
        let read_buffer = buf.as_ptr();
        let fit = fitted(buf);
        assert_eq!(&fit[..], &head[..]);
        assert_ne!(fit.as_ptr(), read_buffer, "the head was not copied");
        assert_eq!(fit.capacity(), head.len());
        // A buffer nearly full keeps its allocation (no copy of a large prefix).
        let mut full = BytesMut::with_capacity(4096);
        full.resize(4096 - FIT_SLACK + 1, b'x');
        let ptr = full.as_ptr();
        let kept = fitted(full);
        assert_eq!(kept.as_ptr(), ptr);
        assert_eq!(kept.len(), 4096 - FIT_SLACK + 1);
    }

    #[test]
    fn blank_line_detection() {
        assert!(has_blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(has_blank_line(b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(!has_blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!has_blank_line(b"\r\n\r"));
    }

    #[test]
    fn leading_newlines_are_counted_up_to_the_request_line() {
        assert_eq!(leading_newlines(b"\r\n\r\nGET / HTTP/1.1\r\n"), 4);
        assert_eq!(leading_newlines(b"GET / HTTP/1.1\r\n\r\n"), 0);
        assert_eq!(leading_newlines(b"\n\n\n\n\n"), 5);
    }
}
