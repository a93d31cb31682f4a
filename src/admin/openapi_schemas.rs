//! The shapes of the admin API's bodies and answers, as OpenAPI 3.0 schemas
//! (`components.schemas` of [`super::openapi`]). Each mirrors the `json!` its handler builds
//! in `handlers.rs`; `tests/openapi.rs` checks live answers against the required fields.

use serde_json::{json, Value};

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn page(list: &str, item: &str) -> Value {
    object(
        &[list, "next_cursor"],
        json!({
            list: {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "next_cursor": {"type": "string", "nullable": true, "description": "Pass as `cursor` for the next page; null on the last."},
        }),
    )
}

const STR: &str = "string";

fn s() -> Value {
    json!({"type": STR})
}

fn opt_s() -> Value {
    json!({"type": STR, "nullable": true})
}

fn int() -> Value {
    json!({"type": "integer"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// Every schema the document references.
pub fn schemas() -> Value {
    json!({
        "Error": object(&["error"], json!({"error": object(&["code", "message"], json!({
            "code": {"type": STR, "description": "A stable code, e.g. admin.bad_request, admin.not_found, admin.forbidden, admin.config_invalid."},
            "message": s(),
            "field": {"type": STR, "description": "The input the error is about, when one is."},
            "problems": {"type": "array", "items": s(), "description": "admin.config_invalid: every problem."},
        }))})),
        "Health": object(&["status"], json!({"status": {"type": STR, "enum": ["ok"]}})),
        "Ready": object(&["ready", "audit_queue_depth"], json!({"ready": boolean(), "audit_queue_depth": int(), "why": s()})),
        "OpenApi": {"type": "object", "description": "This document."},
        "Node": object(&["node", "live"], json!({
            "node": s(), "shared_hash": s(), "version": int(), "started_at": s(), "live": boolean(), "seen_seconds_ago": int(),
        })),
        "Status": object(
            &["version", "snapshot_version", "snapshot_hash", "shared_hash", "killswitch", "uptime_seconds", "audit_queue_depth", "nodes", "snapshots_differ"],
            json!({
                "version": s(), "node": s(), "snapshot_version": int(), "snapshot_hash": s(), "shared_hash": s(),
                "killswitch": boolean(), "uptime_seconds": int(), "audit_queue_depth": int(),
                "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "snapshots_differ": boolean(),
            }),
        ),
        "AuditRecord": {"type": "object", "required": ["ts", "request_id", "actor", "method", "path", "decision", "reason"],
            "description": "One audit record as stored and hash-chained (the README's audit trail section lists every field).",
            "additionalProperties": true,
            "properties": {"ts": s(), "request_id": s(), "kind": s(), "actor": s(), "method": s(), "path": s(), "decision": s(), "reason": s(), "node": s(), "status": int()}},
        "AuditPage": page("records", "AuditRecord"),
        "AuditChain": object(&["node", "intact"], json!({
            "node": s(), "intact": boolean(), "records": int(), "last_hash": s(), "first_broken_id": int(), "why": s(),
        })),
        "AuditVerify": object(&["intact", "records", "chains", "untallied_batches"], json!({
            "intact": boolean(), "records": int(), "untallied_batches": int(),
            "chains": {"type": "array", "items": {"$ref": "#/components/schemas/AuditChain"}},
        })),
        "Reloaded": object(&["snapshot_version", "snapshot_hash"], json!({"snapshot_version": int(), "snapshot_hash": s()})),
        "Killswitch": object(&["on"], json!({"on": boolean()})),
        "KillswitchChange": object(&["on"], json!({"on": boolean()})),
        "KillswitchChanged": object(&["on", "previous"], json!({"on": boolean(), "previous": boolean()})),
        "Account": object(&["name", "tenant", "status", "created_at", "updated_at"], json!({
            "name": s(), "tenant": s(), "oracle_user": opt_s(), "upstream_secret": opt_s(),
            "status": {"type": STR, "enum": ["active", "suspended"]}, "created_at": s(), "updated_at": s(),
        })),
        "AccountPage": page("accounts", "Account"),
        "NewAccount": {"type": "object", "required": ["name", "tenant"], "additionalProperties": false, "properties": {
            "name": s(), "tenant": s(),
            "oracle_user": {"type": STR, "description": "Owner only."},
            "upstream_secret": {"type": STR, "description": "Owner only."},
        }},
        "Credential": object(&["id", "account", "username", "api_key_id", "status", "created_at"], json!({
            "id": s(), "account": s(), "username": s(), "api_key_id": s(),
            "status": {"type": STR, "enum": ["active", "revoked"]}, "created_at": s(), "revoked_at": opt_s(),
        })),
        "CredentialPage": page("credentials", "Credential"),
        "NewCredential": object(&["account"], json!({"account": s()})),
        "IssuedCredential": object(&["id", "account", "username", "password", "api_key", "note"], json!({
            "id": s(), "account": s(), "username": s(),
            "password": {"type": STR, "description": "Shown once."},
            "api_key": {"type": STR, "description": "Shown once."}, "note": s(),
        })),
        "Revoked": object(&["id", "status"], json!({"id": s(), "status": {"type": STR, "enum": ["revoked"]}})),
        "Token": object(&["id", "credential_id", "issued_at", "expires_at", "active"], json!({
            "id": s(), "credential_id": s(), "issued_at": s(), "expires_at": int(), "active": boolean(),
        })),
        "TokenPage": page("tokens", "Token"),
        "TokenRevoked": object(&["id", "revoked", "was_active"], json!({"id": s(), "revoked": boolean(), "was_active": boolean()})),
        "AdminToken": object(&["id", "role", "name", "created_at", "active"], json!({
            "id": s(), "role": {"type": STR, "enum": ["owner", "admin", "auditor"]}, "name": s(),
            "created_at": s(), "created_by": s(), "active": boolean(),
        })),
        "AdminTokenPage": page("admin_tokens", "AdminToken"),
        "NewAdminToken": object(&["role", "name"], json!({"role": {"type": STR, "enum": ["owner", "admin", "auditor"]}, "name": s()})),
        "IssuedAdminToken": object(&["id", "role", "name", "token", "note"], json!({
            "id": s(), "role": s(), "name": s(), "token": {"type": STR, "description": "Shown once."}, "note": s(),
        })),
    })
}
