//! Response redaction: header rules (`headers`) and streaming JSON field masking (`rules`,
//! `json`), applied in `response_filter` and `response_body_filter`.

pub mod body;
pub mod head;
pub mod headers;
pub mod hold;
pub mod json;
pub mod needles;
pub mod rules;
pub mod table;

pub use head::ResponseHead;
pub use json::{JsonMasker, MaskError, MaskLimits, MaskStats};
pub use rules::{java_fold, MaskAction, MaskRules, RulePathError, RuleSpec};
