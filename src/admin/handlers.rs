//! The admin API's endpoints, one function each; [`super::routes`] declares which path,
//! method and role reaches which. Every change is a [`crate::service`] operation, audited
//! with the admin identity; the handlers parse the input and render the answer.

use serde_json::{json, Value};

use super::auth::{AdminIdentity, Role};
use super::common::{field, internal, operate, query, service_error, with_store};
use super::paging;
use super::routes::Call;
use super::{AdminState, Reply};
use crate::service::{self, ServiceError};
use crate::store::{AccountStatus, CredentialStatus, StoreError};

/// One page of a list's JSON items, in the order of their `key` field, as
/// `{"<list>": [...], "next_cursor": ...}`.
fn page_of(call: &Call<'_>, list: &str, key: &str, items: Vec<Value>) -> Reply {
    let page = match paging::params(call.req, list, paging::MAX_LIMIT) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let (served, next) = paging::paginate(items, |v| v[key].as_str().unwrap_or(""), list, &page);
    Reply::ok(json!({ list: served, "next_cursor": next }))
}

/// `GET /openapi.json`: this API's contract (open: it describes, it reveals no state).
pub(super) fn openapi(_: &AdminState) -> Reply {
    Reply::ok(super::openapi::document())
}

/// `GET /health`: the listener answers.
pub(super) fn health(_: &AdminState) -> Reply {
    Reply::ok(json!({"status": "ok"}))
}

/// `GET /ready`: whether the audit trail takes records (503 when not).
pub(super) fn ready(st: &AdminState) -> Reply {
    let depth = st.app.audit.depth();
    let audit_ok = st.app.audit.accepting();
    if audit_ok {
        Reply::ok(json!({"ready": true, "audit_queue_depth": depth}))
    } else {
        Reply::with(
            503,
            json!({"ready": false, "why": "the audit trail cannot take records", "audit_queue_depth": depth}),
        )
    }
}

/// `GET /status`: versions, kill switch, uptime, audit queue depth, and the gateways on the
/// store with the shared part of the snapshot each serves (`shared_hash`: all configuration
/// but `[gateway]`; `snapshots_differ` when the live ones disagree).
pub(super) fn status(st: &AdminState, _: &Call<'_>) -> Reply {
    use crate::directory::cluster::{unix_ms, Cluster};
    let c = st.app.compiled.load();
    let view = st.app.directory.load();
    let now_ms = unix_ms();
    let nodes: Vec<Value> = st
        .app
        .cluster
        .nodes()
        .iter()
        .map(|n| {
            json!({"node": n.node, "shared_hash": n.snapshot, "version": n.version,
                   "started_at": n.started_at, "live": Cluster::is_live(n, now_ms),
                   "seen_seconds_ago": now_ms.saturating_sub(n.seen_at_ms) / 1000})
        })
        .collect();
    let (_, snapshots) = st.app.cluster.summary(now_ms);
    Reply::ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "node": c.snapshot.gateway.node_id,
        "snapshot_version": c.snapshot.version,
        "snapshot_hash": c.snapshot.hash,
        "shared_hash": c.snapshot.shared_hash,
        "killswitch": view.killswitch(),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "audit_queue_depth": st.app.audit.depth(),
        "nodes": nodes,
        "snapshots_differ": snapshots > 1,
    }))
}

/// `POST /reload`: swap the configuration or answer 400 with the problems.
pub(super) fn reload(st: &AdminState, call: &Call<'_>) -> Reply {
    // Logged, counted and audited by `reload` whichever way it goes.
    match service::reload::reload(&st.app, &call.who.actor()) {
        Ok(version) => {
            let c = st.app.compiled.load();
            Reply::ok(json!({"snapshot_version": version, "snapshot_hash": c.snapshot.hash}))
        }
        Err(e) => Reply::with(
            400,
            json!({"error": {"code": "admin.config_invalid",
                             "message": "The configuration was refused; the previous one keeps serving.",
                             "problems": e.problems}}),
        ),
    }
}

/// `GET /killswitch`.
pub(super) fn killswitch_get(st: &AdminState, _: &Call<'_>) -> Reply {
    with_store(st, |s| Ok(Reply::ok(json!({"on": s.killswitch()?}))))
}

/// `PUT /killswitch` with `{"on": bool}`.
pub(super) fn killswitch_put(st: &AdminState, call: &Call<'_>) -> Reply {
    let on = match call.body.get("on") {
        Some(Value::Bool(b)) => *b,
        _ => return Reply::bad("on", "`on` must be true or false."),
    };
    operate(st, call.who, service_error, |op| {
        let prev = service::killswitch::set(op, on, |_| {})?;
        Ok(Reply::ok(json!({"on": on, "previous": prev})))
    })
}

fn account_json(a: &crate::store::Account) -> Value {
    json!({"name": a.name, "tenant": a.tenant, "oracle_user": a.oracle_user,
           "upstream_secret": a.upstream_secret,
           "status": if a.status == AccountStatus::Active { "active" } else { "suspended" },
           "created_at": a.created_at, "updated_at": a.updated_at})
}

/// `GET /accounts`: by name, a page at a time.
pub(super) fn list_accounts(st: &AdminState, call: &Call<'_>) -> Reply {
    with_store(st, |s| {
        let list: Vec<Value> = s.list_accounts()?.iter().map(account_json).collect();
        Ok(page_of(call, "accounts", "name", list))
    })
}

/// `GET /accounts/{name}`.
pub(super) fn get_account(st: &AdminState, call: &Call<'_>) -> Reply {
    let name = call.param(0);
    with_store(st, |s| {
        Ok(match s.get_account(name)? {
            Some(a) => Reply::ok(account_json(&a)),
            None => Reply::error(404, "admin.not_found", "No such account.", Some("name")),
        })
    })
}

/// `POST /accounts`: name and tenant; binding `oracle_user` or `upstream_secret` needs the
/// owner role (a refused attempt is audited).
pub(super) fn create_account(st: &AdminState, call: &Call<'_>) -> Reply {
    let body = &call.body;
    let fields = (|| {
        Ok::<_, Reply>((
            field(body, "name", true)?.unwrap_or_default().to_string(),
            field(body, "tenant", true)?.unwrap_or_default().to_string(),
            field(body, "oracle_user", false)?.map(str::to_string),
            field(body, "upstream_secret", false)?.map(str::to_string),
        ))
    })();
    let (name, tenant, oracle_user, upstream_secret) = match fields {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(unknown) = body.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["name", "tenant", "oracle_user", "upstream_secret"].contains(&k.as_str()))
    }) {
        return Reply::bad(unknown, &format!("unknown field `{unknown}`"));
    }
    let compiled = st.app.compiled.load();
    let snapshot = &compiled.snapshot;
    if let Err(e) = service::account::known_tenant(snapshot, &tenant) {
        return Reply::bad("tenant", &e.to_string());
    }
    // Which Oracle identity an account acts as (`oracle_user`, or the stored secret that
    // authenticates it, `upstream_secret`) is an owner's decision: in `jwt` mode the gateway
    // signs assertions as whoever `oracle_user` names.
    let binding = [
        ("oracle_user", oracle_user.as_deref()),
        ("upstream_secret", upstream_secret.as_deref()),
    ];
    if let Some((field, value)) = binding.iter().find(|(_, v)| v.is_some()) {
        if call.who.role < Role::Owner {
            return refuse_audited(
                st,
                call.who,
                "account.create",
                &name,
                json!({"tenant": tenant, (*field): value}),
                field,
                &format!(
                    "Binding an account to an Oracle identity (`{field}`) needs the owner role."
                ),
            );
        }
    }
    let new = service::account::NewAccount {
        name: &name,
        tenant: &tenant,
        oracle_user: oracle_user.as_deref(),
        upstream_secret: upstream_secret.as_deref(),
    };
    let to_reply = |e: ServiceError| match e {
        ServiceError::Store(StoreError::Invalid(m)) => Reply::bad("name", &m),
        other => service_error(other),
    };
    operate(st, call.who, to_reply, |op| {
        let a = service::account::create(op, snapshot, &new, |_| {})?;
        Ok(Reply::with(201, account_json(&a)))
    })
}

/// Refuses with 403 `admin.forbidden` naming `field`, and records the attempt: decision
/// `denied`, reason `admin.forbidden`, what was asked in the note. Without an audit slot the
/// answer is 503 instead (nothing was changed either way).
fn refuse_audited(
    st: &AdminState,
    who: &AdminIdentity,
    verb: &str,
    object: &str,
    asked: Value,
    field: &str,
    message: &str,
) -> Reply {
    let Ok(slot) = st.app.audit.reserve() else {
        return Reply::error(
            503,
            "audit.unavailable",
            "The audit trail cannot record this request right now; nothing was changed.",
            None,
        );
    };
    slot.send(crate::audit::AuditRecord {
        ts: crate::audit::record::now(),
        request_id: crate::crypto::random_id("adm-", 8).unwrap_or_else(|_| "adm-api".into()),
        kind: Some(crate::audit::Kind::Admin),
        actor: who.actor(),
        method: verb.to_string(),
        path: object.chars().take(256).collect(),
        decision: "denied".into(),
        reason: "admin.forbidden".into(),
        note: Some(asked),
        ..Default::default()
    });
    Reply::error(403, "admin.forbidden", message, Some(field))
}

fn set_account_active(st: &AdminState, call: &Call<'_>, active: bool) -> Reply {
    let name = call.param(0);
    operate(st, call.who, service_error, |op| {
        let a = service::account::set_active(op, name, active, |_| {})?;
        Ok(Reply::ok(account_json(&a)))
    })
}

/// `POST /accounts/{name}/suspend`.
pub(super) fn suspend_account(st: &AdminState, call: &Call<'_>) -> Reply {
    set_account_active(st, call, false)
}

/// `POST /accounts/{name}/resume`.
pub(super) fn resume_account(st: &AdminState, call: &Call<'_>) -> Reply {
    set_account_active(st, call, true)
}

/// `GET /credentials[?account=]`: never a secret.
pub(super) fn list_credentials(st: &AdminState, call: &Call<'_>) -> Reply {
    let account = query(call.req, "account");
    with_store(st, |s| {
        let list: Vec<Value> = s
            .list_credentials(account.as_deref())?
            .iter()
            .map(|c| {
                json!({"id": c.id, "account": c.account, "username": c.username,
                       "api_key_id": c.api_key_id,
                       "status": if c.status == CredentialStatus::Active { "active" } else { "revoked" },
                       "created_at": c.created_at, "revoked_at": c.revoked_at})
            })
            .collect();
        Ok(page_of(call, "credentials", "id", list))
    })
}

/// `POST /credentials` with `{"account"}`: the secrets are in this answer only. Runs argon2
/// once (on the admin listener's own thread, never a relay worker).
pub(super) fn issue_credential(st: &AdminState, call: &Call<'_>) -> Reply {
    let account = match field(&call.body, "account", true) {
        Ok(a) => a.unwrap_or_default().to_string(),
        Err(r) => return r,
    };
    // A credential acts as its account: for an account bound to an Oracle identity that is
    // the owner's decision, as the binding itself was.
    if call.who.role < Role::Owner {
        let bound = st
            .store
            .lock()
            .ok()
            .and_then(|s| s.get_account(&account).ok().flatten())
            .is_some_and(|a| a.oracle_user.is_some() || a.upstream_secret.is_some());
        if bound {
            return refuse_audited(
                st,
                call.who,
                "credential.issue",
                &account,
                json!({"account": account}),
                "account",
                "Issuing a credential for an account bound to an Oracle identity needs the owner role.",
            );
        }
    }
    let to_reply = |e: ServiceError| match e {
        ServiceError::NoSuchAccount(_) => {
            Reply::error(404, "admin.not_found", &e.to_string(), Some("account"))
        }
        ServiceError::AuditUnavailable => service_error(e),
        other => internal(&other.to_string()),
    };
    operate(st, call.who, to_reply, |op| {
        let issued = service::credential::issue(op, &st.passwords, &account, |_| {})?;
        Ok(Reply::with(
            201,
            json!({"id": issued.id, "account": issued.account, "username": issued.username,
                   "password": issued.password.expose(), "api_key": issued.api_key.expose(),
                   "note": "shown once: store these now"}),
        ))
    })
}

/// `POST /credentials/{id}/revoke`.
pub(super) fn revoke_credential(st: &AdminState, call: &Call<'_>) -> Reply {
    let id = call.param(0);
    operate(st, call.who, service_error, |op| {
        let c = service::credential::revoke(op, id, |_| {})?;
        Ok(Reply::ok(json!({"id": c.id, "status": "revoked"})))
    })
}

/// `GET /tokens`: gateway token ids, never the tokens.
pub(super) fn list_tokens(st: &AdminState, call: &Call<'_>) -> Reply {
    with_store(st, |s| {
        let list: Vec<Value> = s
            .list_tokens()?
            .iter()
            .map(|t| json!({"id": format!("egt_{}", t.id), "credential_id": t.credential_id,
                            "issued_at": t.issued_at, "expires_at": t.expires_at, "active": t.active}))
            .collect();
        Ok(page_of(call, "tokens", "id", list))
    })
}

/// `POST /tokens/{egt_id}/revoke`.
pub(super) fn revoke_token(st: &AdminState, call: &Call<'_>) -> Reply {
    let Some(bare) = service::token::bare_id(call.param(0)) else {
        return Reply::bad(
            "id",
            "not a gateway token id (egt_ followed by 16 hex digits)",
        );
    };
    operate(st, call.who, service_error, |op| {
        let changed = service::token::revoke(op, bare, |_| {})?;
        Ok(Reply::ok(
            json!({"id": format!("egt_{bare}"), "revoked": true, "was_active": changed}),
        ))
    })
}

/// `GET /audit?…`: records matching the filter, newest rules as in `erpgate audit query`.
pub(super) fn audit_query(st: &AdminState, call: &Call<'_>) -> Reply {
    let req = call.req;
    let page = match paging::params(req, "audit", 10_000) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let before = match page.after.as_deref().map(audit_cursor) {
        None => None,
        Some(Some(b)) => Some(b),
        Some(None) => return Reply::bad("cursor", "`cursor` is not a cursor of this list"),
    };
    let f = crate::audit::query::Filter {
        since: query(req, "since"),
        until: query(req, "until"),
        actor: query(req, "actor"),
        request_id: query(req, "request_id"),
        decision: query(req, "decision"),
        reason: query(req, "reason"),
        path_prefix: query(req, "path_prefix"),
        node: query(req, "node"),
        before,
    };
    let store = match st.store() {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let limit = u32::try_from(page.limit).unwrap_or(10_000);
    match crate::audit::query::select_rows(store.conn(), &f, limit) {
        Ok(rows) => {
            // Newest `limit` in time order; the next page holds the older ones.
            let next = (rows.len() == page.limit)
                .then(|| rows.first())
                .flatten()
                .map(|oldest| paging::encode("audit", &format!("{}|{}", oldest.ts, oldest.id)));
            let records: Vec<Value> = rows
                .iter()
                .filter_map(|r| serde_json::from_str(&r.record).ok())
                .collect();
            Reply::ok(json!({ "records": records, "next_cursor": next }))
        }
        Err(
            crate::audit::query::QueryError::Bound { field, message }
            | crate::audit::query::QueryError::Unknown { field, message },
        ) => Reply::bad(field, &message),
        Err(crate::audit::query::QueryError::Store(e)) => internal(&e),
    }
}

/// The (time, id) an audit cursor stands for.
fn audit_cursor(key: &str) -> Option<(String, i64)> {
    let (ts, id) = key.rsplit_once('|')?;
    Some((ts.to_string(), id.parse().ok()?))
}

/// `GET /audit/verify`: whether the hash chain is intact.
pub(super) fn audit_verify(st: &AdminState, _: &Call<'_>) -> Reply {
    let store = match st.store() {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    use crate::audit::chain::Verdict;
    let report = match crate::audit::chain::verify_db(store.conn(), &st.app.master().audit_key()) {
        Ok(r) => r,
        Err(e) => return internal(&e.to_string()),
    };
    let chains: Vec<Value> = report
        .chains
        .iter()
        .map(|(node, v)| match v {
            Verdict::Intact { records, last_hash } => {
                json!({"node": node, "intact": true, "records": records, "last_hash": last_hash})
            }
            Verdict::Broken { id, why } => {
                json!({"node": node, "intact": false, "first_broken_id": id, "why": why})
            }
        })
        .collect();
    let mut body = json!({
        "intact": report.intact(),
        "records": report.records(),
        "chains": chains,
        "untallied_batches": report.untallied,
    });
    // The single-gateway shape stays: one chain's last hash, or the first break.
    if let Some((node, id, why)) = report.first_broken() {
        body["first_broken_id"] = json!(id);
        body["first_broken_node"] = json!(node);
        body["why"] = json!(why);
    } else if let [(_, Verdict::Intact { last_hash, .. })] = report.chains.as_slice() {
        body["last_hash"] = json!(last_hash);
    }
    Reply::ok(body)
}

/// `GET /admin-tokens`: ids, roles, names; never a token.
pub(super) fn list_admin_tokens(st: &AdminState, call: &Call<'_>) -> Reply {
    with_store(st, |s| {
        let list: Vec<Value> = s
            .list_admin_tokens()?
            .iter()
            .map(|t| json!({"id": format!("eat_{}", t.id), "role": t.role, "name": t.name,
                            "created_at": t.created_at, "created_by": t.created_by, "active": t.active}))
            .collect();
        Ok(page_of(call, "admin_tokens", "id", list))
    })
}

/// `POST /admin-tokens` with `{"role","name"}`: never a role above the caller's own.
pub(super) fn create_admin_token(st: &AdminState, call: &Call<'_>) -> Reply {
    let role = match field(&call.body, "role", true) {
        Ok(r) => r.and_then(Role::parse),
        Err(r) => return r,
    };
    let Some(role) = role else {
        return Reply::bad("role", "`role` must be owner, admin or auditor.");
    };
    if role > call.who.role {
        return Reply::error(
            403,
            "admin.forbidden",
            "A token cannot grant a role above its own.",
            Some("role"),
        );
    }
    let name = match field(&call.body, "name", true) {
        Ok(n) => n.unwrap_or_default().to_string(),
        Err(r) => return r,
    };
    let to_reply = |e: ServiceError| match e {
        ServiceError::AuditUnavailable => service_error(e),
        other => Reply::bad("name", &other.to_string()),
    };
    operate(st, call.who, to_reply, |op| {
        let (id, token) = service::admin_token::issue(op, &st.hasher, role, &name, |_| {})?;
        Ok(Reply::with(
            201,
            json!({"id": format!("eat_{id}"), "role": role.as_str(), "name": name,
                   "token": token.expose(), "note": "shown once: store it now"}),
        ))
    })
}

/// `POST /admin-tokens/{eat_id}/revoke`.
pub(super) fn revoke_admin_token(st: &AdminState, call: &Call<'_>) -> Reply {
    let id = call.param(0);
    let bare = id.strip_prefix("eat_").unwrap_or(id);
    operate(st, call.who, service_error, |op| {
        let changed = service::admin_token::revoke(op, bare, |_| {})?;
        Ok(Reply::ok(
            json!({"id": format!("eat_{bare}"), "revoked": true, "was_active": changed}),
        ))
    })
}
