//! Response redaction: header rules and (soon) streaming JSON field masking.

pub mod headers;
