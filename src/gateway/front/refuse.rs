//! Answering a head the front refused: the same JSON error, request id and security headers as
//! every other refusal, an audit record with the connection's address, one log line and the
//! metrics, then a lingering close (so the answer is not lost to a reset while the client is
//! still sending).

use std::time::{Duration, Instant};

use pingora::protocols::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::head::{Line, Refusal};
use crate::app::App;
use crate::audit::{record, AuditRecord, Kind};
use crate::gateway::deny::{self, Reason};

/// How long a refused connection is drained before it is closed, and how much of it.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;

/// Answers `refusal` on `stream` and closes it. `started`: when the head's first byte came.
pub async fn answer(app: &App, mut stream: Stream, refusal: Refusal, line: Line, started: Instant) {
    let compiled = app.compiled.load();
    let gw = &compiled.snapshot.gateway;
    let request_id = app.ids.next_id();
    // No record slot, no answer of ours without a record: say the audit is unavailable.
    let slot = app.audit.reserve();
    let reason = if slot.is_ok() {
        refusal.reason
    } else {
        Reason::AuditUnavailable
    };
    let hsts = gw.tls.as_ref().and_then(|t| t.hsts.clone());
    let status = match response(reason, &request_id, hsts.as_deref()) {
        Ok(bytes) => {
            let write = async {
                stream.write_all(&bytes).await?;
                stream.flush().await
            };
            match tokio::time::timeout(gw.client_timeout, write).await {
                Ok(Ok(())) => Some(reason.status()),
                _ => None,
            }
        }
        Err(e) => {
            tracing::warn!(request_id = %request_id, error = %e, "cannot build a refusal");
            None
        }
    };
    let client_ip = stream
        .get_socket_digest()
        .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
    let refused = Refused {
        request_id,
        reason,
        detail: refusal.detail,
        status,
        started,
    };
    let rec = refusal_record(&compiled.snapshot, refused, client_ip, &line);
    tracing::info!(
        request_id = %rec.request_id,
        method = %rec.method,
        decision = "denied",
        reason = reason.code(),
        detail = refusal.detail,
        status = status.unwrap_or(0),
        "request refused before parsing"
    );
    app.metrics.record(&crate::metrics::RequestSample {
        reason: Some(reason),
        method: &rec.method,
        status,
        ..Default::default()
    });
    match slot {
        Ok(slot) => slot.send(rec),
        Err(why) => {
            tracing::warn!(request_id = %rec.request_id, ?why, "request not audited (audit unavailable)")
        }
    }
    linger(&mut stream).await;
}

/// What became of one refusal, for its audit record.
struct Refused {
    request_id: String,
    reason: Reason,
    detail: &'static str,
    status: Option<u16>,
    started: Instant,
}

/// The audit record of a request refused before parsing: what of its line was readable,
/// bounded and with the query masked.
fn refusal_record(
    snapshot: &crate::snapshot::Snapshot,
    r: Refused,
    client_ip: Option<std::net::IpAddr>,
    line: &Line,
) -> AuditRecord {
    AuditRecord {
        ts: record::now(),
        request_id: r.request_id,
        kind: Some(Kind::Request),
        actor: "-".to_string(),
        client_ip: client_ip.map(|ip| ip.to_string()),
        method: line.method.as_deref().map_or_else(
            || "-".to_string(),
            |m| crate::gateway::record::bounded(m.as_bytes()),
        ),
        path: line.path.as_deref().map_or_else(
            || "-".to_string(),
            |p| crate::gateway::record::bounded(p.as_bytes()),
        ),
        query: line.query.as_deref().and_then(|q| {
            crate::gateway::launch::recorded_query(
                snapshot,
                line.path.as_deref().unwrap_or("").as_bytes(),
                &crate::gateway::record::bounded(q.as_bytes()),
            )
        }),
        decision: "denied".to_string(),
        reason: r.reason.code().to_string(),
        detail: Some(r.detail.to_string()),
        snapshot_version: Some(snapshot.version),
        snapshot_hash: Some(snapshot.hash.clone()),
        status: r.status,
        total_us: Some(r.started.elapsed().as_micros() as u64),
        bytes_in: Some(0),
        bytes_out: Some(0),
        ..AuditRecord::default()
    }
}

/// The whole response, head and body, as bytes.
fn response(reason: Reason, request_id: &str, hsts: Option<&str>) -> pingora::Result<Vec<u8>> {
    let body = deny::error_body(reason, request_id);
    let mut header = deny::error_header(reason, request_id, body.len(), None)?;
    crate::redact::headers::apply(&mut header, request_id, hsts)?;
    header.insert_header(http::header::CONNECTION, "close")?;
    let mut out = Vec::with_capacity(512 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(header.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        header
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (name, value) in header.headers.iter() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Ok(out)
}

/// Half-closes, then reads and discards what the client still sends for a bounded time, so
/// closing with unread bytes does not reset the connection before the client read the answer.
async fn linger(stream: &mut Stream) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_is_erpgates_refusal() {
        let bytes = response(Reason::BadRequest, "abc-1", None).expect("response");
        let text = String::from_utf8(bytes).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("\r\nx-request-id: abc-1\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(
            text.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{text}"
        );
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "request.malformed");
        assert_eq!(json["error"]["request_id"], "abc-1");
    }
}
