//! Redaction of one response: the header decision (`on_header`, from `response_filter`) and
//! the streaming body (`BodyRedaction::on_chunk`, from `response_body_filter`).
//!
//! Fail closed: when masking rules apply and the body is not JSON, or is compressed in an
//! encoding the gateway does not decode, the response is refused before its header goes
//! out. Link rewriting alone never refuses: a non-JSON body is then passed through as is.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};

use super::head::ResponseHead;
use super::hold::{Held, Hold};
use super::json::{JsonMasker, MaskError, MaskLimits, MaskStats};
use super::rules::MaskRules;

/// Why a response cannot be redacted and is refused (the audit detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Masking rules apply and the body is not JSON (or says no type at all).
    NotJson,
    /// The body is compressed; the gateway asks for identity and does not decode.
    Encoded,
}

impl Refusal {
    /// The detail code recorded with `redaction.failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotJson => "content_type_not_json",
            Refusal::Encoded => "content_encoding_unsupported",
        }
    }
}

/// The audit detail for a masker error after the header went out.
pub fn mid_stream_detail(e: MaskError) -> &'static str {
    match e {
        MaskError::InvalidJson { .. } => "invalid_json",
        MaskError::TooDeep => "json_too_deep",
        MaskError::Incomplete => "json_incomplete",
        MaskError::TrailingData => "json_trailing_data",
    }
}

/// Whether `content_type` is JSON: `application/json` or any `application/…+json`
/// (Oracle's `application/vnd.oracle.adf.resourcecollection+json` and friends).
pub fn is_json(content_type: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(content_type) else {
        return false;
    };
    let essence = s
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json") && sub.len() > 5)
}

/// Fields that describe the unmasked body (its length, digests, byte ranges): dropped when the
/// body is masked.
static UNMASKED_BODY_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("content-length"),
    HeaderName::from_static("content-md5"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-digest"),
    HeaderName::from_static("repr-digest"),
    HeaderName::from_static("accept-ranges"),
];

/// Weakens an entity tag (`"x"` → `W/"x"`): the masked body is not byte-identical to the
/// one the tag names, only equivalent for the caller.
fn weaken(etag: &[u8]) -> Vec<u8> {
    if etag.starts_with(b"W/") {
        etag.to_vec()
    } else {
        [b"W/", etag].concat()
    }
}

/// Decides, from the response header, whether the body goes through the masker, and adjusts
/// the header when it does: `Content-Length` and digests removed (the length changes), range
/// support withdrawn. A body to mask leaves the head unframed: the caller frames it, with the
/// masked body's own length when the whole body is known before the head goes out, else
/// chunked for an HTTP/1.1 client (`gateway::framing`, [`BodyRedaction::chunked_unless_whole`]).
/// A HEAD response gets the header its GET would, chunked here (the same checks; Pingora sends
/// no body, and none is fetched to measure), so the unmasked body's length never leaves.
///
/// With masking rules (not only link rewriting) `ETag` is dropped on every response, 304 and
/// HEAD included: Oracle computed it over the unmasked body, so it would let a caller test
/// guesses of the hidden values (and `no-store` forbids caching anyway). With link rewriting
/// alone it is weakened (`W/"…"`). Error bodies (status ≥ 400) under masking rules also have
/// their free text masked ([`JsonMasker::mask_error_text`]).
///
/// `no_body` is true for HEAD requests; 1xx, 204 and 304 are detected here.
pub fn on_header<H: ResponseHead>(
    resp: &mut H,
    rules: &Arc<MaskRules>,
    no_body: bool,
    downstream_http10: bool,
) -> Result<Result<Option<BodyRedaction>, Refusal>, H::Error> {
    let status = resp.status();
    let strict = !rules.is_empty();
    if strict {
        resp.remove(&http::header::ETAG);
    }
    if status < 200 || status == 204 || status == 304 {
        return Ok(Ok(None));
    }
    let declared_empty = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if declared_empty && !no_body {
        return Ok(Ok(None));
    }
    let encoded = resp
        .headers()
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| is_json(v.as_bytes()));
    match (encoded, json) {
        (true, _) if strict => return Ok(Err(Refusal::Encoded)),
        (false, false) if strict => return Ok(Err(Refusal::NotJson)),
        (true, _) | (false, false) => return Ok(Ok(None)),
        (false, true) => {}
    }
    resp.remove_present(&UNMASKED_BODY_HEADERS);
    if let Some(tag) = resp
        .headers()
        .get(http::header::ETAG)
        .map(|v| weaken(v.as_bytes()))
    {
        resp.insert_bytes("ETag", &tag)?;
    }
    let chunked =
        !downstream_http10 && !resp.headers().contains_key(http::header::TRANSFER_ENCODING);
    if no_body {
        if chunked {
            frame_chunked(resp)?;
        }
        return Ok(Ok(None));
    }
    Ok(Ok(Some(BodyRedaction {
        rules: rules.clone(),
        error_text: strict && status >= 400,
        chunked,
        masker: None,
        hold: Hold::default(),
        unparsed: false,
        stats: None,
    })))
}

/// Frames a masked head chunked (HTTP/1.1, `Transfer-Encoding: chunked`): what a masked body
/// gets when its length is not known before the head goes out
/// ([`BodyRedaction::chunked_unless_whole`]).
pub fn frame_chunked<H: ResponseHead>(resp: &mut H) -> Result<(), H::Error> {
    resp.set_http11();
    resp.insert("Transfer-Encoding", HeaderValue::from_static("chunked"))
}

/// Masks the captured start of a request body for its audit preview with the request's
/// rules (the same key matching, after JSON unescaping, as responses). `truncated`: the
/// capture was cut short, so an unfinished document is expected. `None` when the bytes are
/// not JSON: the preview is then withheld rather than stored unmasked.
pub fn mask_preview(rules: &Arc<MaskRules>, bytes: &[u8], truncated: bool) -> Option<Vec<u8>> {
    let mut masker = JsonMasker::new(rules.clone(), MaskLimits::default());
    let mut out = Vec::with_capacity(bytes.len());
    masker.feed(bytes, &mut out).ok()?;
    if !truncated {
        masker.finish(&mut out).ok()?;
    }
    Some(out)
}

/// The masker of one response body.
pub struct BodyRedaction {
    rules: Arc<MaskRules>,
    /// Mask an error body's free text ([`JsonMasker::mask_error_text`]).
    error_text: bool,
    /// See [`BodyRedaction::chunked_unless_whole`].
    chunked: bool,
    /// Made when the body is first parsed: a body that passes whole (`needles.rs`) needs none.
    masker: Option<JsonMasker>,
    /// The pieces held until the body can be judged whole (`hold.rs`).
    hold: Hold,
    /// The body went out as it came, unparsed.
    unparsed: bool,
    stats: Option<MaskStats>,
}

impl BodyRedaction {
    /// Masks one chunk in place; at `end`, checks the document is complete. On error the
    /// caller must abort the response: what was sent so far is masked, the rest never goes.
    ///
    /// A body that is not an error body is held while it arrives in pieces, up to
    /// [`HOLD_LIMIT`](super::hold::HOLD_LIMIT) (`hold.rs`), and when it names nothing the rules
    /// look for it passes whole, as it is, unparsed (`needles.rs`); `body` is `None` while it
    /// is held.
    pub fn on_chunk(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<(), MaskError> {
        let piece = body.take().filter(|c| !c.is_empty());
        // Parsing already (the hold let the body go), or an error body: the piece as it comes.
        let released;
        let pieces = if self.error_text || self.masker.is_some() {
            piece.as_slice()
        } else {
            match self.hold.take(&self.rules, piece, end) {
                Held::Waiting => return Ok(()),
                Held::Unparsed(whole) => {
                    *body = Some(whole);
                    self.unparsed = true;
                    self.stats = Some(MaskStats::default());
                    return Ok(());
                }
                Held::Parse(pieces) => {
                    released = pieces;
                    released.as_slice()
                }
            }
        };
        if !pieces.is_empty() {
            let (rules, error_text) = (&self.rules, self.error_text);
            let masker = self.masker.get_or_insert_with(|| {
                let m = JsonMasker::new(rules.clone(), MaskLimits::default());
                if error_text {
                    m.mask_error_text()
                } else {
                    m
                }
            });
            let size = pieces.iter().map(Bytes::len).sum::<usize>();
            let mut out = Vec::with_capacity(size + 64);
            for piece in pieces {
                masker.feed(piece, &mut out)?;
            }
            if !out.is_empty() {
                *body = Some(Bytes::from(out));
            }
        }
        if end && self.stats.is_none() {
            // An empty body holds nothing to mask; anything else must be one whole document.
            let stats = match self.masker.as_mut() {
                Some(m) => m.finish(&mut Vec::new())?,
                None => MaskStats::default(),
            };
            self.stats = Some(stats);
        }
        Ok(())
    }

    /// Whether the head, unframed by [`on_header`] (its `Content-Length` gone), goes out
    /// chunked ([`frame_chunked`]) unless the whole masked body is known before it leaves and
    /// it gets that length instead (`gateway::framing`). False for an HTTP/1.0 client (the
    /// body then ends with the connection) and when Oracle's answer is chunked already.
    pub fn chunked_unless_whole(&self) -> bool {
        self.chunked
    }

    /// Whether the body went out unparsed, as it named nothing the rules look for.
    pub fn passed_unparsed(&self) -> bool {
        self.unparsed
    }

    /// Bytes of the body held now, waiting to be judged whole (`hold.rs`).
    pub fn held(&self) -> usize {
        self.hold.held()
    }

    /// What the masker did, once the body has ended.
    pub fn stats(&self) -> Option<&MaskStats> {
        self.stats.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::head::TestHead;
    use crate::redact::{MaskAction, RuleSpec};

    fn rules(active: bool) -> Arc<MaskRules> {
        let specs = if active {
            vec![RuleSpec {
                path: "**.IBAN".into(),
                action: MaskAction::Remove,
            }]
        } else {
            vec![]
        };
        Arc::new(MaskRules::compile(&specs, "****").expect("rules"))
    }

    fn resp(status: u16, headers: &[(&str, &str)]) -> TestHead {
        let mut r = TestHead::new(status);
        for (k, v) in headers {
            r.append_header(k.to_string(), v).expect("header");
        }
        r
    }

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "application/json; charset=UTF-8",
            "Application/JSON",
            "application/vnd.oracle.adf.resourcecollection+json",
            "application/vnd.oracle.adf.resourceitem+json;charset=utf-8",
            "application/vnd.oracle.adf.error+json",
        ] {
            assert!(is_json(ok.as_bytes()), "{ok}");
        }
        for no in [
            "text/html",
            "application/octet-stream",
            "application/+json",
            "text/json+html",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn header_decisions() {
        let r = rules(true);
        let ct = (
            "content-type",
            "application/vnd.oracle.adf.resourcecollection+json",
        );
        let mut h = resp(200, &[ct, ("content-length", "99"), ("etag", "\"abc\"")]);
        let m = on_header(&mut h, &r, false, false)
            .expect("ok")
            .expect("masks");
        assert!(m.as_ref().is_some_and(BodyRedaction::chunked_unless_whole));
        assert!(h.headers.get("content-length").is_none());
        assert!(
            h.headers.get("etag").is_none(),
            "the unmasked body's tag is an oracle for the hidden values"
        );
        assert!(
            h.headers.get("transfer-encoding").is_none() && !h.http11,
            "unframed: the caller frames it once it knows whether the length is known"
        );
        // Oracle's answer chunked already: it stays so unless the caller gives it a length.
        let mut h = resp(200, &[ct, ("transfer-encoding", "chunked")]);
        let m = on_header(&mut h, &r, false, false)
            .expect("ok")
            .expect("masks");
        assert!(m.is_some_and(|m| !m.chunked_unless_whole()));

        let mut h = resp(200, &[ct, ("content-encoding", "gzip")]);
        assert_eq!(
            on_header(&mut h, &r, false, false).expect("ok").err(),
            Some(Refusal::Encoded)
        );
        let mut h = resp(200, &[("content-type", "text/html")]);
        assert_eq!(
            on_header(&mut h, &r, false, false).expect("ok").err(),
            Some(Refusal::NotJson)
        );
        let mut h = resp(200, &[]);
        assert_eq!(
            on_header(&mut h, &r, false, false).expect("ok").err(),
            Some(Refusal::NotJson),
            "no type: refused"
        );
        for status in [204, 304] {
            let mut h = resp(status, &[("content-type", "text/html"), ("etag", "\"x\"")]);
            assert!(matches!(on_header(&mut h, &r, false, false), Ok(Ok(None))));
            assert!(
                h.headers.get("etag").is_none(),
                "{status}: no tag of the unmasked body"
            );
        }
        // HEAD: the header its GET would get, and no body to mask.
        let mut h = resp(200, &[ct, ("content-length", "4242"), ("etag", "\"x\"")]);
        assert!(matches!(on_header(&mut h, &r, true, false), Ok(Ok(None))));
        assert!(h.headers.get("content-length").is_none());
        assert!(h.headers.get("etag").is_none());
        assert_eq!(
            h.headers.get("transfer-encoding").map(|v| v.as_bytes()),
            Some(&b"chunked"[..])
        );
        let mut h = resp(
            200,
            &[("content-type", "text/html"), ("content-length", "9")],
        );
        assert_eq!(
            on_header(&mut h, &r, true, false).expect("ok").err(),
            Some(Refusal::NotJson),
            "a HEAD is refused where its GET would be"
        );
        // Link rewriting alone: the tag is weakened, not dropped (nothing is hidden).
        let mut h = resp(200, &[ct, ("etag", "\"abc\"")]);
        assert!(matches!(
            on_header(&mut h, &rules(false), false, false),
            Ok(Ok(Some(_)))
        ));
        assert_eq!(
            h.headers.get("etag").map(|v| v.as_bytes()),
            Some(&b"W/\"abc\""[..])
        );
        // Links only (no masking rules): non-JSON passes untouched.
        let mut h = resp(
            200,
            &[("content-type", "application/pdf"), ("content-length", "5")],
        );
        assert!(matches!(
            on_header(&mut h, &rules(false), false, false),
            Ok(Ok(None))
        ));
        assert!(h.headers.get("content-length").is_some());
        // HTTP/1.0 clients get a close-delimited body, not chunked framing.
        let mut h = resp(200, &[ct, ("content-length", "9")]);
        let m = on_header(&mut h, &r, false, true)
            .expect("ok")
            .expect("masks");
        assert!(m.is_some_and(|m| !m.chunked_unless_whole()));
        assert!(h.headers.get("transfer-encoding").is_none());
        assert!(h.headers.get("content-length").is_none());
    }

    #[test]
    fn a_head_removes_only_the_fields_it_has() {
        let names = [
            HeaderName::from_static("content-md5"),
            HeaderName::from_static("etag"),
            HeaderName::from_static("digest"),
        ];
        let mut h = resp(200, &[("ETag", "\"a\""), ("Digest", "x"), ("Via", "1.1 p")]);
        h.remove_present(&names);
        assert_eq!(
            h.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["via"]
        );
    }

    #[test]
    fn chunks_are_masked_and_truncation_fails() {
        let r = rules(true);
        let mut h = resp(200, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("should mask")
        };
        let mut a = Some(Bytes::from_static(br#"{"IBAN":"GB12","#));
        m.on_chunk(&mut a, false).expect("chunk");
        let mut b = Some(Bytes::from_static(br#""k":1}"#));
        m.on_chunk(&mut b, false).expect("chunk");
        let mut end = None;
        m.on_chunk(&mut end, true).expect("end");
        assert!(a.is_none() && b.is_none(), "held until the end");
        assert_eq!(end.as_deref(), Some(&br#"{"k":1}"#[..]));
        assert_eq!(m.stats().map(|s| s.values_masked), Some(1));

        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("should mask")
        };
        let mut a = Some(Bytes::from_static(br#"{"IBAN":"GB"#));
        m.on_chunk(&mut a, false).expect("chunk");
        assert_eq!(m.on_chunk(&mut None, true), Err(MaskError::Incomplete));
        let mut empty = resp(200, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut empty, &r, false, false) else {
            panic!("should mask")
        };
        m.on_chunk(&mut None, true).expect("an empty body is fine");
    }

    #[test]
    fn a_whole_body_naming_nothing_passes_unparsed_and_anything_else_is_masked() {
        let r = rules(true);
        let whole = |status: u16, body: &'static [u8]| {
            let mut h = resp(status, &[("content-type", "application/json")]);
            let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
                panic!("masks")
            };
            let mut chunk = Some(Bytes::from_static(body));
            let res = m.on_chunk(&mut chunk, true);
            (res, chunk.unwrap_or_default(), m.stats().cloned())
        };
        let unparsed = |status: u16, body: &'static [u8]| {
            let mut h = resp(status, &[("content-type", "application/json")]);
            let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
                panic!("masks")
            };
            let _ = m.on_chunk(&mut Some(Bytes::from_static(body)), true);
            m.passed_unparsed()
        };
        // No rule's key and no escape: the same bytes, nothing counted. Not parsed, so a
        // malformed body that names nothing passes too.
        let plain = br#"{"InvoiceId":1,"Description":"paper"}"#;
        let (res, out, stats) = whole(200, plain);
        assert_eq!((res, &out[..]), (Ok(()), &plain[..]));
        assert!(unparsed(200, plain));
        assert!(!unparsed(200, br#"{"IBAN":"GB12","k":1}"#));
        assert_eq!(stats, Some(MaskStats::default()));
        let (res, out, _) = whole(200, br#"{"InvoiceId":1,,}"#);
        assert_eq!((res, &out[..]), (Ok(()), &br#"{"InvoiceId":1,,}"#[..]));
        // Not an object or array from end to end: parsed, and refused.
        assert_eq!(
            whole(200, br#"{"InvoiceId":1,"#).0,
            Err(MaskError::Incomplete)
        );
        // The key anywhere, or an escape that could spell it: parsed, masked or refused.
        let (res, out, stats) = whole(200, br#"{"IBAN":"GB12","k":1}"#);
        assert_eq!((res, &out[..]), (Ok(()), &br#"{"k":1}"#[..]));
        assert_eq!(stats.map(|s| s.values_masked), Some(1));
        let (_, out, _) = whole(200, br#"{"I\u0042AN":"GB12","k":1}"#);
        assert_eq!(&out[..], br#"{"k":1}"#);
        assert_eq!(
            whole(200, br#"{"IBAN":"GB12","#).0,
            Err(MaskError::Incomplete)
        );
        // An error body's free text is masked whatever its keys.
        let (_, out, _) = whole(400, br#"{"detail":"account GB12 failed"}"#);
        assert_eq!(&out[..], br#"{"detail":"****"}"#);
        // A body in pieces that names a rule's key is held and parsed whole at its end, even
        // when the piece that ends it names nothing: a value a rule masks may have begun in an
        // earlier one.
        let mut h = resp(200, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("masks")
        };
        // The last piece is JSON text of its own that names nothing.
        let mut a = Some(Bytes::from_static(br#"{"IBAN":"#));
        m.on_chunk(&mut a, false).expect("chunk");
        let mut b = Some(Bytes::from_static(br#"{"x":"GB1234"}}"#));
        m.on_chunk(&mut b, true).expect("end");
        assert_eq!((a, b.as_deref()), (None, Some(&b"{}"[..])));
        assert_eq!(m.stats().map(|s| s.values_masked), Some(1));
        assert!(!m.passed_unparsed());
    }

    #[test]
    fn a_body_in_pieces_is_held_and_passes_unparsed_when_it_names_nothing() {
        let r = rules(true);
        let mut h = resp(200, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("masks")
        };
        let mut a = Some(Bytes::from_static(br#"{"InvoiceId":1,"#));
        m.on_chunk(&mut a, false).expect("chunk");
        assert_eq!((a, m.held()), (None, 15), "held, nothing leaves");
        let mut b = Some(Bytes::from_static(br#""Description":"paper"}"#));
        m.on_chunk(&mut b, true).expect("end");
        assert_eq!(
            b.as_deref(),
            Some(&br#"{"InvoiceId":1,"Description":"paper"}"#[..]),
            "the whole body leaves at its end, as it came"
        );
        assert!(m.passed_unparsed());
        assert_eq!(m.stats(), Some(&MaskStats::default()));
        assert_eq!(m.held(), 0);

        // The same pieces ended by a piece that names the rule's key: masked, all at once.
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("masks")
        };
        let mut a = Some(Bytes::from_static(br#"{"InvoiceId":1,"#));
        m.on_chunk(&mut a, false).expect("chunk");
        let mut b = Some(Bytes::from_static(br#""IBAN":"GB29"}"#));
        m.on_chunk(&mut b, true).expect("end");
        assert_eq!((a, b.as_deref()), (None, Some(&br#"{"InvoiceId":1}"#[..])));
        assert!(!m.passed_unparsed());

        // An upstream that stops while a body is held: nothing left, and nothing was unparsed.
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("masks")
        };
        let mut a = Some(Bytes::from_static(br#"{"InvoiceId":1,"#));
        m.on_chunk(&mut a, false).expect("chunk");
        assert!(a.is_none() && !m.passed_unparsed() && m.stats().is_none());
    }

    fn run(m: &mut BodyRedaction, body: &[u8]) -> String {
        let mut out = Vec::new();
        // Byte by byte: the decision must not depend on how the body is split.
        for b in body {
            let mut chunk = Some(Bytes::copy_from_slice(&[*b]));
            m.on_chunk(&mut chunk, false).expect("chunk");
            out.extend_from_slice(&chunk.unwrap_or_default());
        }
        // A body held while it arrived (`hold.rs`) leaves at its end.
        let mut last = None;
        m.on_chunk(&mut last, true).expect("end");
        out.extend_from_slice(&last.unwrap_or_default());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn error_free_text_is_masked_codes_are_kept() {
        let r = rules(true);
        let error = br#"{"title":"Bad Request","status":"400","detail":"IBAN GB29NWBK601613 is wrong","o:errorDetails":[{"detail":"Supplier bank account GB29NWBK601613 failed validation.","o:errorCode":"27021","o:errorPath":["GB29NWBK601613"]}],"n":5}"#;
        let mut h = resp(
            400,
            &[("content-type", "application/vnd.oracle.adf.error+json")],
        );
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &r, false, false) else {
            panic!("masks")
        };
        let out = run(&mut m, error);
        assert!(!out.contains("GB29"), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("still JSON");
        assert_eq!(v["title"], "****");
        assert_eq!(v["detail"], "****");
        assert_eq!(v["status"], "400");
        assert_eq!(v["o:errorDetails"][0]["detail"], "****");
        assert_eq!(v["o:errorDetails"][0]["o:errorCode"], "27021");
        assert_eq!(v["o:errorDetails"][0]["o:errorPath"][0], "****");
        assert_eq!(v["n"], 5, "numbers are not free text");
        let stats = m.stats().expect("stats");
        assert_eq!(stats.error_text_masked, 4);
        // A success body keeps its text; link rewriting alone never masks error text.
        let mut ok = resp(200, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut ok, &r, false, false) else {
            panic!("masks")
        };
        assert_eq!(
            run(&mut m, br#"{"detail":"fine","IBAN":"GB29"}"#),
            r#"{"detail":"fine"}"#
        );
        assert!(!m.passed_unparsed(), "parsed: it names the rule's key");
        let mut h = resp(400, &[("content-type", "application/json")]);
        let Ok(Ok(Some(mut m))) = on_header(&mut h, &rules(false), false, false) else {
            panic!("runs")
        };
        assert_eq!(run(&mut m, br#"{"detail":"x"}"#), r#"{"detail":"x"}"#);
    }

    #[test]
    fn request_previews_are_masked_or_withheld() {
        let r = rules(true);
        let body = br#"{"IBAN":"GB29NWBK","Note":"n"}"#;
        let out = mask_preview(&r, body, false).expect("json");
        assert_eq!(out, br#"{"Note":"n"}"#);
        // Keys are matched after unescaping, as in responses.
        let out = mask_preview(&r, br#"{"I\u0042AN":"GB29NWBK","Note":"n"}"#, false).expect("json");
        assert!(!String::from_utf8_lossy(&out).contains("GB29"));
        // A capture cut short is still masked as far as it goes.
        let out = mask_preview(&r, br#"{"Note":"n","IBAN":"GB29NW"#, true).expect("prefix");
        assert!(!String::from_utf8_lossy(&out).contains("GB29"));
        assert_eq!(mask_preview(&r, b"IBAN=GB29NWBK&x=1", false), None);
        assert_eq!(
            mask_preview(&r, br#"{"IBAN":"GB29"#, false),
            None,
            "incomplete"
        );
    }
}
