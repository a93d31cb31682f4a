//! Pingora's `ResponseHeader` as the [`ResponseHead`] redaction edits: every edit goes through
//! Pingora's own methods, so its header-name case map stays in step with the fields.

use http::header::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

use crate::redact::ResponseHead;

impl ResponseHead for ResponseHeader {
    type Error = Box<pingora::Error>;

    fn status(&self) -> u16 {
        self.status.as_u16()
    }

    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }

    fn insert(&mut self, name: &'static str, value: HeaderValue) -> pingora::Result<()> {
        self.insert_header(name, value)
    }

    fn insert_bytes(&mut self, name: &'static str, value: &[u8]) -> pingora::Result<()> {
        self.insert_header(name, value)
    }

    fn set_http11(&mut self) {
        self.set_version(http::Version::HTTP_11);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::redact::{MaskAction, MaskRules, RuleSpec};

    #[test]
    fn pingora_heads_take_the_same_edits() {
        let mut r = ResponseHeader::build(200, None).expect("build");
        r.insert_header("Server", "Oracle-HTTP-Server").expect("h");
        r.insert_header("Content-Type", "application/json")
            .expect("h");
        r.insert_header("Content-Length", "10").expect("h");
        r.insert_header("Set-Cookie", "JSESSIONID=1").expect("h");
        crate::redact::headers::filter_upstream(&mut r, &[], None).expect("filter");
        // Already there in another spelling (as on a head the gateway built): replaced by the
        // gateway's own, never doubled.
        r.append_header("x-frame-options".to_string(), "SAMEORIGIN")
            .expect("h");
        r.append_header("CACHE-CONTROL".to_string(), "max-age=3600")
            .expect("h");
        crate::redact::headers::apply(&mut r, "rid-1", Some("max-age=60")).expect("apply");
        assert!(r.headers.get("server").is_none());
        assert!(r.headers.get("set-cookie").is_none());
        assert_eq!(
            r.headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"rid-1"[..])
        );
        assert!(r.headers.get("strict-transport-security").is_some());
        // What the gateway sets goes out in its static spelling, once.
        let mut wire = Vec::new();
        r.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).expect("ascii");
        for line in [
            "X-Request-Id: rid-1\r\n",
            "Cache-Control: no-store\r\n",
            "X-Content-Type-Options: nosniff\r\n",
            "X-Frame-Options: DENY\r\n",
            "Strict-Transport-Security: max-age=60\r\n",
        ] {
            assert_eq!(wire.matches(line).count(), 1, "{line:?} in {wire}");
        }
        let lower = wire.to_ascii_lowercase();
        for name in ["x-frame-options:", "cache-control:"] {
            assert_eq!(lower.matches(name).count(), 1, "{name} in {wire}");
        }
        assert!(
            !wire.contains("SAMEORIGIN") && !wire.contains("max-age=3600"),
            "{wire}"
        );
        assert!(
            crate::redact::headers::apply(&mut r, "bad\nid", None).is_err(),
            "an invalid value is an error, not a header"
        );
        let rules = Arc::new(
            MaskRules::compile(
                &[RuleSpec {
                    path: "**.IBAN".into(),
                    action: MaskAction::Remove,
                }],
                "****",
            )
            .expect("rules"),
        );
        let masked = crate::redact::body::on_header(&mut r, &rules, false, false)
            .expect("edit")
            .expect("json");
        assert!(masked.is_some());
        assert!(r.headers.get("content-length").is_none());
        assert!(
            r.headers.get("transfer-encoding").is_none(),
            "left unframed"
        );
        crate::redact::body::frame_chunked(&mut r).expect("frame");
        assert_eq!(r.version, http::Version::HTTP_11);
        assert_eq!(
            r.headers.get("transfer-encoding").map(|v| v.as_bytes()),
            Some(&b"chunked"[..])
        );
        // The case map follows: the wire form carries what the fields say.
        let mut wire = Vec::new();
        r.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).expect("ascii");
        assert!(
            !wire.to_ascii_lowercase().contains("content-length"),
            "{wire}"
        );
        assert!(
            wire.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{wire}"
        );
    }
}
