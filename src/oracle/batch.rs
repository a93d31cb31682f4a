//! Oracle's batch requests: one POST to a resource root (`/fscmRestApi/resources/{version}`)
//! with the media type [`MEDIA_TYPE`] and a body of parts, each an operation on its own path.
//! Every part is a request in its own right and is admitted as one (see
//! `gateway::batch`); this module only reads the body, strictly: unknown members, duplicate
//! members, unknown operations and paths that are not relative to the root are refused.

use serde::Deserialize;

/// The media type of a batch request.
pub const MEDIA_TYPE: &str = "application/vnd.oracle.adf.batch+json";

/// The most parts one batch may carry.
pub const MAX_PARTS: usize = 100;

/// One part, as the gateway judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The HTTP method the operation amounts to.
    pub method: &'static str,
    /// `upsert`: a POST with `Upsert-Mode`.
    pub upsert: bool,
    /// The path (and query) relative to the batch's root, starting with `/`.
    pub path: String,
}

/// Why a batch body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// Not a JSON object of the batch shape (or an unknown or repeated member).
    Shape,
    /// No parts.
    Empty,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
    /// An operation Oracle's batch does not define.
    Operation,
    /// A path that does not start with a single `/`.
    Path,
}

impl BatchError {
    /// A stable detail for the audit record.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchError::Shape => "batch_shape",
            BatchError::Empty => "batch_empty",
            BatchError::TooManyParts => "batch_too_many_parts",
            BatchError::Operation => "batch_operation",
            BatchError::Path => "batch_path",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchFile {
    parts: Vec<PartFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartFile {
    #[allow(dead_code)]
    id: Option<String>,
    path: String,
    operation: String,
    #[allow(dead_code)]
    payload: Option<serde::de::IgnoredAny>,
}

/// The method (and upsert flag) of a batch operation name.
fn operation(op: &str) -> Option<(&'static str, bool)> {
    Some(match op.to_ascii_lowercase().as_str() {
        "get" => ("GET", false),
        "create" => ("POST", false),
        "update" => ("PATCH", false),
        "replace" => ("PUT", false),
        "delete" => ("DELETE", false),
        "upsert" => ("POST", true),
        _ => return None,
    })
}

/// Reads a batch body.
pub fn parse(body: &[u8]) -> Result<Vec<Part>, BatchError> {
    let file: BatchFile = serde_json::from_slice(body).map_err(|_| BatchError::Shape)?;
    if file.parts.is_empty() {
        return Err(BatchError::Empty);
    }
    if file.parts.len() > MAX_PARTS {
        return Err(BatchError::TooManyParts);
    }
    file.parts
        .into_iter()
        .map(|p| {
            let (method, upsert) = operation(&p.operation).ok_or(BatchError::Operation)?;
            if !p.path.starts_with('/') || p.path.starts_with("//") {
                return Err(BatchError::Path);
            }
            Ok(Part {
                method,
                upsert,
                path: p.path,
            })
        })
        .collect()
}

/// Whether a `Content-Type` value is the batch media type (parameters ignored).
pub fn is_batch_media_type(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    essence.eq_ignore_ascii_case(MEDIA_TYPE.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read() {
        let parts = parse(
            br#"{"parts":[{"id":"p1","path":"/invoices/1?expand=invoiceLines","operation":"get"},
                {"id":"p2","path":"/invoices","operation":"upsert","payload":{"InvoiceId":1}}]}"#,
        )
        .expect("reads");
        assert_eq!(
            parts,
            [
                Part {
                    method: "GET",
                    upsert: false,
                    path: "/invoices/1?expand=invoiceLines".into()
                },
                Part {
                    method: "POST",
                    upsert: true,
                    path: "/invoices".into()
                },
            ]
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for (body, want) in [
            (&br#"[]"#[..], BatchError::Shape),
            (br#"{"parts":[]}"#, BatchError::Empty),
            (
                br#"{"parts":[{"path":"/a","operation":"get","headers":{}}]}"#,
                BatchError::Shape,
            ),
            (
                br#"{"parts":[{"path":"/a","path":"/b","operation":"get"}]}"#,
                BatchError::Shape,
            ),
            (
                br#"{"parts":[{"path":"/a","operation":"merge"}]}"#,
                BatchError::Operation,
            ),
            (
                br#"{"parts":[{"path":"a","operation":"get"}]}"#,
                BatchError::Path,
            ),
            (
                br#"{"parts":[{"path":"//evil/a","operation":"get"}]}"#,
                BatchError::Path,
            ),
            (
                br#"{"parts":[{"path":"/a","operation":"get"}],"more":1}"#,
                BatchError::Shape,
            ),
        ] {
            assert_eq!(parse(body), Err(want), "{}", String::from_utf8_lossy(body));
        }
        let many = format!(
            "{{\"parts\":[{}]}}",
            vec![r#"{"path":"/a","operation":"get"}"#; MAX_PARTS + 1].join(",")
        );
        assert_eq!(parse(many.as_bytes()), Err(BatchError::TooManyParts));
    }

    #[test]
    fn media_type() {
        assert!(is_batch_media_type(
            b"application/vnd.oracle.adf.batch+json; charset=UTF-8"
        ));
        assert!(is_batch_media_type(
            b" Application/VND.oracle.adf.batch+JSON"
        ));
        assert!(!is_batch_media_type(b"application/json"));
    }
}
