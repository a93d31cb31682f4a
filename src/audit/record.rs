//! One audit record: who did what, when, and what the gateway decided — never a secret.
//!
//! Records are built from plain values (the request context in `logging`, or a CLI/admin
//! action) and serialised once, as JSON with a fixed field order; those exact bytes are what the
//! hash chain covers and what `audit export` writes.

use serde::{Deserialize, Serialize};

/// What kind of event a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A relayed or refused API request.
    Request,
    /// A gateway token issuance attempt.
    Token,
    /// An administrative action (CLI or admin API).
    Admin,
    /// Retention pruned older records; this record carries the hash the chain continues from.
    Checkpoint,
}

impl Kind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Token => "token",
            Kind::Admin => "admin",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

/// An audit record. Optional fields are omitted from the JSON when absent. The writer encodes
/// it by hand ([`super::encode`]): a field added here is added there too, in the same order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// The gateway whose chain holds this record (`gateway.node_id`); absent in the default
    /// chain of a single gateway. Set by the chain as it appends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// UTC time, RFC 3339 with microseconds.
    pub ts: String,
    /// The request id the client saw (`X-Request-Id`), or an action id.
    pub request_id: String,
    /// Event kind.
    pub kind: Option<Kind>,
    /// Account, Oracle user or admin identity; `-` when unknown (unauthenticated).
    pub actor: String,
    /// Credential set id (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Token id, truncated (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The tenant the request was for, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// HTTP method or admin verb.
    pub method: String,
    /// Canonical path, or the admin object acted on.
    pub path: String,
    /// Query string with sensitive parameter values masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `relayed`, `denied`, `failed`, `ok`.
    pub decision: String,
    /// Reason code (empty when relayed).
    pub reason: String,
    /// Internal detail for the reason (e.g. which path rule), never secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Matched policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Matched rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Endpoint name from the catalog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Configuration snapshot version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_version: Option<u64>,
    /// Configuration snapshot hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_hash: Option<String>,
    /// Upstream host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_host: Option<String>,
    /// The Oracle identity asserted upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_identity: Option<String>,
    /// Status sent to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Status Oracle answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// Oracle's execution context id of its answer (`X-ORACLE-DMS-ECID`), for matching a
    /// request with Oracle support; never sent to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_ecid: Option<String>,
    /// Time spent in the gateway itself, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_us: Option<u64>,
    /// Time waiting for Oracle, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_us: Option<u64>,
    /// Total time from the request's arrival to the end of the response, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_us: Option<u64>,
    /// Request body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Response body bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// Start of the request body, credentials scrubbed (only when previews are on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_preview: Option<String>,
    /// Start of the response body, credentials scrubbed (only when previews are on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_preview: Option<String>,
    /// What response redaction did (rules and counts, never a value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<RedactionNote>,
    /// Free-form, secret-free details (admin actions, checkpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<serde_json::Value>,
}

/// What response redaction did for one request: which rules fired and how often. Values are
/// never recorded, masked or not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionNote {
    /// Whether the body went through the masker (false: no body, or link rewriting only and
    /// the body was not JSON).
    pub applied: bool,
    /// Values masked or removed.
    pub values: u64,
    /// The rules that fired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleFired>,
    /// `links[].href` values rewritten to the public base URL.
    #[serde(default)]
    pub links: u64,
}

/// One redaction rule that fired.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFired {
    /// The rule's path as configured.
    pub path: String,
    /// `remove`, `mask` or `last4`.
    pub action: String,
    /// Values it masked.
    pub values: u64,
}

/// Query parameters whose values are never stored.
pub const SENSITIVE_PARAMS: [&str; 10] = [
    "access_token",
    "token",
    "id_token",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "key",
    "secret",
    "signature",
];

/// Masks the values of sensitive parameters (case-insensitive names, `%`-encoded names not
/// decoded: an encoded sensitive name is masked too because any name containing `%` is).
pub fn mask_query(q: &str) -> String {
    mask_query_with(q, &[])
}

/// [`mask_query`], with `extra` names masked too (the configured launch token parameters).
pub fn mask_query_with(q: &str, extra: &[&str]) -> String {
    let mut out = String::with_capacity(q.len());
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _))
                if name.contains('%')
                    || SENSITIVE_PARAMS
                        .iter()
                        .chain(extra)
                        .any(|s| s.eq_ignore_ascii_case(name)) =>
            {
                out.push_str(name);
                out.push_str("=****");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Masks the values of Oracle's filter parameters (`q`, `finder`, `dependency`, any spelling, encoded
/// names included), for a request refused for filtering by a masked attribute: its values
/// are guesses at the hidden value and are not kept.
pub fn mask_filter_values(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _))
                if name.contains(['%', '+'])
                    || ["q", "finder", "dependency"]
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(name.trim())) =>
            {
                out.push_str(name);
                out.push_str("=****");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Now as RFC 3339 UTC with microseconds ([`super::clock`] makes it).
pub fn now() -> String {
    super::clock::now().as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_query_values_are_masked() {
        assert_eq!(
            mask_query("onlyData=true&access_token=abc.def&q=Name='x'&API_KEY=k&%74oken=z"),
            "onlyData=true&access_token=****&q=Name='x'&API_KEY=****&%74oken=****"
        );
        assert_eq!(mask_query("limit=5"), "limit=5");
        assert_eq!(
            mask_filter_values("q=TaxRegistrationNumber='GB2'&limit=5&FINDER=F;v=1&%71=x&q+=y"),
            "q=****&limit=5&FINDER=****&%71=****&q+=****"
        );
    }

    #[test]
    fn json_round_trips_and_omits_absent_fields() {
        let r = AuditRecord {
            ts: now(),
            request_id: "r-1".into(),
            kind: Some(Kind::Request),
            actor: "ap-sync".into(),
            method: "GET".into(),
            path: "/x".into(),
            decision: "denied".into(),
            reason: "policy.denied".into(),
            ..Default::default()
        };
        let j = serde_json::to_string(&r).expect("json");
        assert!(!j.contains("credential_id"));
        let back: AuditRecord = serde_json::from_str(&j).expect("parse");
        assert_eq!(back, r);
    }
}
