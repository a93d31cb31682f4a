//! A record's fields borrowed: what the encoder writes, and what the relay fills in from the
//! request's context without copying a configured name into a `String` of its own.
//!
//! The relay's record named the account, credential, tenant, policy, rule, endpoint, snapshot
//! hash, upstream host and identity by copies (issue 20: a dozen allocations per request, each
//! freed by the writer's thread, which is glibc's slow path). A [`RecordView`] borrows them
//! from the configuration snapshot the request holds; [`super::queued`] encodes it on the
//! sender's thread, so nothing of it crosses to the writer but its line (and, in one short
//! string beside it, the few members the chain files a batch by).

use super::record::{AuditRecord, Kind, RedactionNote};

/// Every field of an [`AuditRecord`], borrowed. Field for field the record's (a test builds
/// one from the other and back), in the same order, which is the order they are encoded in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RecordView<'a> {
    /// See [`AuditRecord::node`].
    pub node: Option<&'a str>,
    /// See [`AuditRecord::ts`].
    pub ts: &'a str,
    /// See [`AuditRecord::request_id`].
    pub request_id: &'a str,
    /// See [`AuditRecord::kind`].
    pub kind: Option<Kind>,
    /// See [`AuditRecord::actor`].
    pub actor: &'a str,
    /// See [`AuditRecord::credential_id`].
    pub credential_id: Option<&'a str>,
    /// See [`AuditRecord::token_id`].
    pub token_id: Option<&'a str>,
    /// See [`AuditRecord::tenant`].
    pub tenant: Option<&'a str>,
    /// See [`AuditRecord::client_ip`].
    pub client_ip: Option<&'a str>,
    /// See [`AuditRecord::method`].
    pub method: &'a str,
    /// See [`AuditRecord::path`].
    pub path: &'a str,
    /// See [`AuditRecord::query`].
    pub query: Option<&'a str>,
    /// See [`AuditRecord::decision`].
    pub decision: &'a str,
    /// See [`AuditRecord::reason`].
    pub reason: &'a str,
    /// See [`AuditRecord::detail`].
    pub detail: Option<&'a str>,
    /// See [`AuditRecord::policy`].
    pub policy: Option<&'a str>,
    /// See [`AuditRecord::rule`].
    pub rule: Option<&'a str>,
    /// See [`AuditRecord::endpoint`].
    pub endpoint: Option<&'a str>,
    /// See [`AuditRecord::snapshot_version`].
    pub snapshot_version: Option<u64>,
    /// See [`AuditRecord::snapshot_hash`].
    pub snapshot_hash: Option<&'a str>,
    /// See [`AuditRecord::upstream_host`].
    pub upstream_host: Option<&'a str>,
    /// See [`AuditRecord::upstream_identity`].
    pub upstream_identity: Option<&'a str>,
    /// See [`AuditRecord::status`].
    pub status: Option<u16>,
    /// See [`AuditRecord::upstream_status`].
    pub upstream_status: Option<u16>,
    /// See [`AuditRecord::oracle_ecid`].
    pub oracle_ecid: Option<&'a str>,
    /// See [`AuditRecord::gateway_us`].
    pub gateway_us: Option<u64>,
    /// See [`AuditRecord::upstream_us`].
    pub upstream_us: Option<u64>,
    /// See [`AuditRecord::total_us`].
    pub total_us: Option<u64>,
    /// See [`AuditRecord::bytes_in`].
    pub bytes_in: Option<u64>,
    /// See [`AuditRecord::bytes_out`].
    pub bytes_out: Option<u64>,
    /// See [`AuditRecord::request_preview`].
    pub request_preview: Option<&'a str>,
    /// See [`AuditRecord::response_preview`].
    pub response_preview: Option<&'a str>,
    /// See [`AuditRecord::redaction`].
    pub redaction: Option<&'a RedactionNote>,
    /// See [`AuditRecord::note`].
    pub note: Option<&'a serde_json::Value>,
}

impl AuditRecord {
    /// The record's fields, borrowed.
    pub fn view(&self) -> RecordView<'_> {
        // Every field named: a field added to the record fails to compile here.
        let AuditRecord {
            node,
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
        } = self;
        RecordView {
            node: node.as_deref(),
            ts,
            request_id,
            kind: *kind,
            actor,
            credential_id: credential_id.as_deref(),
            token_id: token_id.as_deref(),
            tenant: tenant.as_deref(),
            client_ip: client_ip.as_deref(),
            method,
            path,
            query: query.as_deref(),
            decision,
            reason,
            detail: detail.as_deref(),
            policy: policy.as_deref(),
            rule: rule.as_deref(),
            endpoint: endpoint.as_deref(),
            snapshot_version: *snapshot_version,
            snapshot_hash: snapshot_hash.as_deref(),
            upstream_host: upstream_host.as_deref(),
            upstream_identity: upstream_identity.as_deref(),
            status: *status,
            upstream_status: *upstream_status,
            oracle_ecid: oracle_ecid.as_deref(),
            gateway_us: *gateway_us,
            upstream_us: *upstream_us,
            total_us: *total_us,
            bytes_in: *bytes_in,
            bytes_out: *bytes_out,
            request_preview: request_preview.as_deref(),
            response_preview: response_preview.as_deref(),
            redaction: redaction.as_ref(),
            note: note.as_ref(),
        }
    }
}

impl RecordView<'_> {
    /// The record these fields make, owned.
    pub fn to_record(&self) -> AuditRecord {
        let s = |v: Option<&str>| v.map(str::to_string);
        AuditRecord {
            node: s(self.node),
            ts: self.ts.to_string(),
            request_id: self.request_id.to_string(),
            kind: self.kind,
            actor: self.actor.to_string(),
            credential_id: s(self.credential_id),
            token_id: s(self.token_id),
            tenant: s(self.tenant),
            client_ip: s(self.client_ip),
            method: self.method.to_string(),
            path: self.path.to_string(),
            query: s(self.query),
            decision: self.decision.to_string(),
            reason: self.reason.to_string(),
            detail: s(self.detail),
            policy: s(self.policy),
            rule: s(self.rule),
            endpoint: s(self.endpoint),
            snapshot_version: self.snapshot_version,
            snapshot_hash: s(self.snapshot_hash),
            upstream_host: s(self.upstream_host),
            upstream_identity: s(self.upstream_identity),
            status: self.status,
            upstream_status: self.upstream_status,
            oracle_ecid: s(self.oracle_ecid),
            gateway_us: self.gateway_us,
            upstream_us: self.upstream_us,
            total_us: self.total_us,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            request_preview: s(self.request_preview),
            response_preview: s(self.response_preview),
            redaction: self.redaction.cloned(),
            note: self.note.cloned(),
        }
    }
}
