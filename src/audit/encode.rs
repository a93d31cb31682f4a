//! A record's line as the writer stores it: the bytes `serde_json` gives for an
//! [`AuditRecord`] (with the chain's node first), written directly.
//!
//! The writer encodes every record once, and `serde_json`'s string escaping, a table lookup
//! and a branch per byte, was most of that cost (issue 20). Here a string is first checked
//! for a byte that needs escaping, eight bytes at a time ([`crate::json_text::plain_run`], the
//! masker's own scan); a string without one (nearly all: names, ids, paths, times) is copied
//! as is, and any other goes through `serde_json` itself. It is written as a `String`, so no
//! one checks it for UTF-8 again (the writer did, over every batch). The output is byte for byte
//! `serde_json`'s, field order included: the chain covers these bytes, and lookups search them
//! for members written the same way. A test compares the two on records with every field set.

use super::view::RecordView;
use crate::json_text::plain_run;

/// Writes `r` as one JSON object into `out`, with `node` as its first member when given (in
/// place of the record's own: [`super::batch::encode_into`] and [`super::queued`] are the
/// callers that check them).
pub(super) fn record_into(
    r: &RecordView<'_>,
    node: Option<&str>,
    out: &mut String,
) -> Result<(), serde_json::Error> {
    // Every field named: a field added to the record fails to compile here until it is
    // written too (in its declaration order, where serde puts it). The record's own node is
    // `node` (`batch::encode_into` decides which).
    let RecordView {
        node: _,
        ts,
        request_id,
        kind,
        actor,
        credential_id,
        token_id,
        tenant,
        client_ip,
        method,
        path,
        query,
        decision,
        reason,
        detail,
        policy,
        rule,
        endpoint,
        snapshot_version,
        snapshot_hash,
        upstream_host,
        upstream_identity,
        status,
        upstream_status,
        oracle_ecid,
        gateway_us,
        upstream_us,
        total_us,
        bytes_in,
        bytes_out,
        request_preview,
        response_preview,
        redaction,
        note,
    } = r;
    out.push('{');
    if let Some(n) = node {
        node_member(out, n)?;
    }
    out.push_str("\"ts\":");
    string(out, ts)?;
    field(out, "request_id", request_id)?;
    key(out, "kind");
    match kind {
        // Its serde name (a test checks every kind).
        Some(k) => string(out, k.as_str())?,
        None => out.push_str("null"),
    }
    field(out, "actor", actor)?;
    optional(out, "credential_id", credential_id)?;
    optional(out, "token_id", token_id)?;
    optional(out, "tenant", tenant)?;
    optional(out, "client_ip", client_ip)?;
    field(out, "method", method)?;
    field(out, "path", path)?;
    optional(out, "query", query)?;
    field(out, "decision", decision)?;
    field(out, "reason", reason)?;
    optional(out, "detail", detail)?;
    optional(out, "policy", policy)?;
    optional(out, "rule", rule)?;
    optional(out, "endpoint", endpoint)?;
    number(out, "snapshot_version", *snapshot_version);
    optional(out, "snapshot_hash", snapshot_hash)?;
    optional(out, "upstream_host", upstream_host)?;
    optional(out, "upstream_identity", upstream_identity)?;
    number(out, "status", status.map(u64::from));
    number(out, "upstream_status", upstream_status.map(u64::from));
    optional(out, "oracle_ecid", oracle_ecid)?;
    number(out, "gateway_us", *gateway_us);
    number(out, "upstream_us", *upstream_us);
    number(out, "total_us", *total_us);
    number(out, "bytes_in", *bytes_in);
    number(out, "bytes_out", *bytes_out);
    optional(out, "request_preview", request_preview)?;
    optional(out, "response_preview", response_preview)?;
    if let Some(note) = redaction {
        key(out, "redaction");
        out.push_str(&serde_json::to_string(*note)?);
    }
    if let Some(note) = note {
        key(out, "note");
        out.push_str(&serde_json::to_string(*note)?);
    }
    out.push('}');
    Ok(())
}

/// `"node":"n",`: the chain's node, a line's first member (also spliced into a line encoded
/// without one, [`super::queued`]).
pub(super) fn node_member(out: &mut String, n: &str) -> Result<(), serde_json::Error> {
    out.push_str("\"node\":");
    string(out, n)?;
    out.push(',');
    Ok(())
}

/// `,"name":`
fn key(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
}

/// `,"name":"value"`
fn field(out: &mut String, name: &str, value: &str) -> Result<(), serde_json::Error> {
    key(out, name);
    string(out, value)
}

/// [`field`] when present.
fn optional(out: &mut String, name: &str, value: &Option<&str>) -> Result<(), serde_json::Error> {
    match value {
        Some(v) => field(out, name, v),
        None => Ok(()),
    }
}

/// `,"name":123` when present.
fn number(out: &mut String, name: &str, value: Option<u64>) {
    if let Some(v) = value {
        key(out, name);
        out.push_str(itoa::Buffer::new().format(v));
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else escaped by
/// `serde_json`.
pub(super) fn string(out: &mut String, s: &str) -> Result<(), serde_json::Error> {
    if plain_run(s.as_bytes(), 0) == s.len() {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        Ok(())
    } else {
        out.push_str(&serde_json::to_string(s)?);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::record::{AuditRecord, Kind, RedactionNote, RuleFired};

    /// Every field set (a struct literal without `..`: a new field fails to compile here
    /// until the encoder and this test know it).
    pub(crate) fn full(text: &str) -> AuditRecord {
        let s = |tag: &str| format!("{tag}{text}");
        AuditRecord {
            node: Some(s("node")),
            ts: s("2026-12-06T10:00:00.000001Z"),
            request_id: s("6b143fd8c2d4e5f6-"),
            kind: Some(Kind::Request),
            actor: s("acct"),
            credential_id: Some(s("cred_")),
            token_id: Some(s("tok_")),
            tenant: Some(s("acme")),
            client_ip: Some(s("10.0.0.1")),
            method: s("GET"),
            path: s("/fscmRestApi/resources/"),
            query: Some(s("q=Name='x'&limit=")),
            decision: s("denied"),
            reason: s("policy.denied"),
            detail: Some(s("path rule ")),
            policy: Some(s("ap")),
            rule: Some(s("read invoices")),
            endpoint: Some(s("invoices.item")),
            snapshot_version: Some(u64::MAX),
            snapshot_hash: Some(s("107a5d84")),
            upstream_host: Some(s("acme.fa.us2.oraclecloud.com")),
            upstream_identity: Some(s("FIN_INTEGRATION")),
            status: Some(503),
            upstream_status: Some(0),
            oracle_ecid: Some(s("ecid")),
            gateway_us: Some(4),
            upstream_us: Some(48_000),
            total_us: Some(0),
            bytes_in: Some(1),
            bytes_out: Some(2_048),
            request_preview: Some(s("{\"a\":1}")),
            response_preview: Some(s("{\"items\":[]}")),
            redaction: Some(RedactionNote {
                applied: true,
                values: 3,
                rules: vec![RuleFired {
                    path: s("**.BankAccount"),
                    action: "mask".into(),
                    values: 3,
                }],
                links: 2,
            }),
            note: Some(serde_json::json!({ "launch_token": s("lt"), "n": [1, null, true] })),
        }
    }

    /// The writer's encoding and `serde_json`'s of the same record (node inserted first the
    /// way the chain does).
    fn both(r: &AuditRecord, node: Option<&str>) -> (String, String) {
        let mut mine = String::new();
        record_into(&r.view(), node, &mut mine).expect("encode");
        let theirs = match (&r.node, node) {
            (Some(_), _) | (None, None) => serde_json::to_string(r).expect("json"),
            (None, Some(n)) => {
                let rest = serde_json::to_string(r).expect("json");
                format!(
                    "{{\"node\":{},{}",
                    serde_json::to_string(n).expect("json"),
                    &rest[1..]
                )
            }
        };
        (mine, theirs)
    }

    /// Text that needs every kind of escape, text that needs none but is not ASCII, and text
    /// longer than the scan's word.
    pub(crate) const TEXTS: [&str; 6] = [
        "",
        "plain",
        "quote\" backslash\\ slash/ </script>",
        "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}",
        "é ü 日本 \u{2028}\u{2029} 🦀",
        "a longer text of more than thirty-two bytes, read a word at a time, then \"escaped\"",
    ];

    #[test]
    fn the_bytes_are_serde_jsons() {
        // `full` sets every field: its JSON has a member per field, none of them null.
        let members = serde_json::to_value(full("x")).expect("json");
        let members = members.as_object().expect("an object");
        assert_eq!(members.len(), 34, "a member per field of AuditRecord");
        assert!(members.values().all(|v| !v.is_null()));
        for text in TEXTS {
            let mut r = full(text);
            let node = r.node.clone();
            let (mine, theirs) = both(&r, node.as_deref());
            assert_eq!(mine, theirs, "text {text:?}");
            // The record without its own node, the chain's node inserted first.
            r.node = None;
            let (mine, theirs) = both(&r, Some(text));
            assert_eq!(mine, theirs, "node {text:?}");
            let back: AuditRecord = serde_json::from_str(&mine).expect("parses");
            assert_eq!(back.actor, r.actor);
        }
        // Every kind, and every optional field absent.
        for kind in [
            None,
            Some(Kind::Request),
            Some(Kind::Token),
            Some(Kind::Admin),
            Some(Kind::Checkpoint),
        ] {
            let r = AuditRecord {
                kind,
                ..Default::default()
            };
            let (mine, theirs) = both(&r, None);
            assert_eq!(mine, theirs);
        }
    }
}
