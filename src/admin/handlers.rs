//! The admin API's endpoints, one function each, behind one routing table.

use serde_json::{json, Value};

use super::auth::{AdminIdentity, Role};
use super::common::{field, internal, mutate, parse_body, query, store_error, with_store};
use super::{AdminRequest, AdminState, Reply};
use crate::store::{AccountStatus, CredentialStatus, StoreError};

/// Dispatches a request: the route, then the method, then the caller's role.
pub async fn route(st: &AdminState, req: &AdminRequest) -> Reply {
    let mut segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    // Every endpoint also answers under `/admin/` (`POST /admin/reload`), for operators who
    // route the admin listener behind a path prefix.
    if segs.len() > 1 && segs[0] == "admin" {
        segs.remove(0);
    }
    use hyper::Method as M;
    let m = &req.method;
    // (allowed methods, required role per method, handler)
    let (allow, need): (&'static str, Option<Role>) = match segs.as_slice() {
        ["health"] | ["ready"] => ("GET", None),
        ["status"] | ["audit"] | ["audit", "verify"] => ("GET", Some(Role::Auditor)),
        ["reload"] => ("POST", Some(Role::Admin)),
        ["killswitch"] => (
            "GET, PUT",
            Some(if m == M::PUT {
                Role::Admin
            } else {
                Role::Auditor
            }),
        ),
        ["accounts"] | ["credentials"] => (
            "GET, POST",
            Some(if m == M::POST {
                Role::Admin
            } else {
                Role::Auditor
            }),
        ),
        ["tokens"] => ("GET", Some(Role::Auditor)),
        ["accounts", _, "suspend" | "resume"]
        | ["credentials", _, "revoke"]
        | ["tokens", _, "revoke"] => ("POST", Some(Role::Admin)),
        ["admin-tokens"] => ("GET, POST", Some(Role::Owner)),
        ["admin-tokens", _, "revoke"] => ("POST", Some(Role::Owner)),
        _ => {
            return Reply::error(404, "admin.not_found", "No such admin endpoint.", None);
        }
    };
    if !allow.split(", ").any(|a| a == m.as_str()) {
        return Reply::method_not_allowed(allow);
    }
    let who = match need {
        None => None,
        Some(role) => {
            let Ok(store) = st.store.lock() else {
                return internal("store lock poisoned");
            };
            let found = req
                .authorization
                .as_ref()
                .and_then(|a| super::auth::verify(&store, &st.hasher, a.expose()));
            drop(store);
            match found {
                None => {
                    return Reply::error(
                        401,
                        "admin.unauthorized",
                        "A valid admin token is required (Authorization: Bearer eat_…).",
                        None,
                    )
                }
                Some(w) if w.role < role => {
                    return Reply::error(
                        403,
                        "admin.forbidden",
                        &format!("This needs the {} role.", role.as_str()),
                        None,
                    )
                }
                Some(w) => Some(w),
            }
        }
    };
    let body = match parse_body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let who = who.as_ref();
    match (m.as_str(), segs.as_slice(), who) {
        ("GET", ["health"], _) => Reply::ok(json!({"status": "ok"})),
        ("GET", ["ready"], _) => ready(st),
        ("GET", ["status"], _) => status(st),
        ("POST", ["reload"], Some(w)) => reload(st, w),
        ("GET", ["killswitch"], _) => {
            with_store(st, |s| Ok(Reply::ok(json!({"on": s.killswitch()?}))))
        }
        ("PUT", ["killswitch"], Some(w)) => killswitch(st, w, &body),
        ("GET", ["accounts"], _) => with_store(st, |s| {
            let list: Vec<Value> = s.list_accounts()?.iter().map(account_json).collect();
            Ok(Reply::ok(json!({ "accounts": list })))
        }),
        ("POST", ["accounts"], Some(w)) => create_account(st, w, &body),
        ("POST", ["accounts", name, action], Some(w)) => account_status(st, w, name, action),
        ("GET", ["credentials"], _) => {
            let account = query(req, "account");
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
                Ok(Reply::ok(json!({ "credentials": list })))
            })
        }
        ("POST", ["credentials"], Some(w)) => issue_credential(st, w, &body),
        ("POST", ["credentials", id, "revoke"], Some(w)) => revoke_credential(st, w, id),
        ("GET", ["tokens"], _) => with_store(st, |s| {
            let list: Vec<Value> = s
                .list_tokens()?
                .iter()
                .map(|t| json!({"id": format!("egt_{}", t.id), "credential_id": t.credential_id,
                                "issued_at": t.issued_at, "expires_at": t.expires_at, "active": t.active}))
                .collect();
            Ok(Reply::ok(json!({ "tokens": list })))
        }),
        ("POST", ["tokens", id, "revoke"], Some(w)) => revoke_token(st, w, id),
        ("GET", ["audit"], _) => audit_query(st, req),
        ("GET", ["audit", "verify"], _) => audit_verify(st),
        ("GET", ["admin-tokens"], _) => with_store(st, |s| {
            let list: Vec<Value> = s
                .list_admin_tokens()?
                .iter()
                .map(|t| json!({"id": format!("eat_{}", t.id), "role": t.role, "name": t.name,
                                "created_at": t.created_at, "created_by": t.created_by, "active": t.active}))
                .collect();
            Ok(Reply::ok(json!({ "admin_tokens": list })))
        }),
        ("POST", ["admin-tokens"], Some(w)) => create_admin_token(st, w, &body),
        ("POST", ["admin-tokens", id, "revoke"], Some(w)) => revoke_admin_token(st, w, id),
        _ => Reply::error(404, "admin.not_found", "No such admin endpoint.", None),
    }
}

fn ready(st: &AdminState) -> Reply {
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

fn status(st: &AdminState) -> Reply {
    let c = st.app.compiled.load();
    let view = st.app.directory.load();
    Reply::ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "snapshot_version": c.snapshot.version,
        "snapshot_hash": c.snapshot.hash,
        "killswitch": view.killswitch(),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "audit_queue_depth": st.app.audit.depth(),
    }))
}

fn reload(st: &AdminState, who: &AdminIdentity) -> Reply {
    // Logged, counted and audited by `reload` whichever way it goes.
    match crate::cli::serve::reload(&st.app, &who.actor()) {
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

fn killswitch(st: &AdminState, who: &AdminIdentity, body: &Value) -> Reply {
    let on = match body.get("on") {
        Some(Value::Bool(b)) => *b,
        _ => return Reply::bad("on", "`on` must be true or false."),
    };
    mutate(
        st,
        who,
        if on {
            "killswitch.on"
        } else {
            "killswitch.off"
        },
        |s| {
            let prev = s.set_killswitch(on, &who.actor()).map_err(store_error)?;
            Ok((
                "killswitch".into(),
                Some(json!({"previous": prev})),
                Reply::ok(json!({"on": on, "previous": prev})),
            ))
        },
    )
}

fn account_json(a: &crate::store::Account) -> Value {
    json!({"name": a.name, "tenant": a.tenant, "oracle_user": a.oracle_user,
           "upstream_secret": a.upstream_secret,
           "status": if a.status == AccountStatus::Active { "active" } else { "suspended" },
           "created_at": a.created_at, "updated_at": a.updated_at})
}

fn create_account(st: &AdminState, who: &AdminIdentity, body: &Value) -> Reply {
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
    if st.app.compiled.load().snapshot.tenant(&tenant).is_none() {
        return Reply::bad(
            "tenant",
            &format!("tenant \"{tenant}\" is not in the configuration"),
        );
    }
    // Which Oracle identity an account acts as (`oracle_user`, or the stored secret that
    // authenticates it, `upstream_secret`) is an owner's decision: in `jwt` mode the gateway
    // signs assertions as whoever `oracle_user` names.
    let binding = [
        ("oracle_user", oracle_user.as_deref()),
        ("upstream_secret", upstream_secret.as_deref()),
    ];
    if let Some((field, value)) = binding.iter().find(|(_, v)| v.is_some()) {
        if who.role < Role::Owner {
            return refuse_audited(
                st,
                who,
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
    mutate(st, who, "account.create", |s| {
        let a = s
            .create_account(
                &name,
                &tenant,
                oracle_user.as_deref(),
                upstream_secret.as_deref(),
            )
            .map_err(|e| match e {
                StoreError::Invalid(m) => Reply::bad("name", &m),
                other => store_error(other),
            })?;
        let note = json!({"tenant": a.tenant, "oracle_user": a.oracle_user, "upstream_secret": a.upstream_secret});
        Ok((
            a.name.clone(),
            Some(note),
            Reply::with(201, account_json(&a)),
        ))
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

fn account_status(st: &AdminState, who: &AdminIdentity, name: &str, action: &str) -> Reply {
    let (status, verb) = if action == "suspend" {
        (AccountStatus::Suspended, "account.suspend")
    } else {
        (AccountStatus::Active, "account.resume")
    };
    mutate(st, who, verb, |s| {
        let a = s.set_account_status(name, status).map_err(store_error)?;
        Ok((a.name.clone(), None, Reply::ok(account_json(&a))))
    })
}

/// Runs argon2 once (on the admin listener's own thread, never a relay worker).
fn issue_credential(st: &AdminState, who: &AdminIdentity, body: &Value) -> Reply {
    let account = match field(body, "account", true) {
        Ok(a) => a.unwrap_or_default().to_string(),
        Err(r) => return r,
    };
    // A credential acts as its account: for an account bound to an Oracle identity that is
    // the owner's decision, as the binding itself was.
    if who.role < Role::Owner {
        let bound = st
            .store
            .lock()
            .ok()
            .and_then(|s| s.get_account(&account).ok().flatten())
            .is_some_and(|a| a.oracle_user.is_some() || a.upstream_secret.is_some());
        if bound {
            return refuse_audited(
                st,
                who,
                "credential.issue",
                &account,
                json!({"account": account}),
                "account",
                "Issuing a credential for an account bound to an Oracle identity needs the owner role.",
            );
        }
    }
    mutate(st, who, "credential.issue", |s| {
        let issued = crate::cli::credential::issue(s, st.app.master(), &st.passwords, &account)
            .map_err(|e| {
                if e.contains("does not exist") {
                    Reply::error(404, "admin.not_found", &e, Some("account"))
                } else {
                    internal(&e)
                }
            })?;
        let reply = Reply::with(
            201,
            json!({"id": issued.id, "account": issued.account, "username": issued.username,
                   "password": issued.password.expose(), "api_key": issued.api_key.expose(),
                   "note": "shown once: store these now"}),
        );
        Ok((
            issued.id.clone(),
            Some(json!({"account": issued.account})),
            reply,
        ))
    })
}

fn revoke_credential(st: &AdminState, who: &AdminIdentity, id: &str) -> Reply {
    mutate(st, who, "credential.revoke", |s| {
        let c = s.revoke_credential(id).map_err(store_error)?;
        Ok((
            c.id.clone(),
            Some(json!({"account": c.account})),
            Reply::ok(json!({"id": c.id, "status": "revoked"})),
        ))
    })
}

fn revoke_token(st: &AdminState, who: &AdminIdentity, id: &str) -> Reply {
    let bare = id.strip_prefix("egt_").unwrap_or(id);
    if bare.len() != 16 || !bare.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Reply::bad(
            "id",
            "not a gateway token id (egt_ followed by 16 hex digits)",
        );
    }
    mutate(st, who, "token.revoke", |s| {
        let changed = s.revoke_token(bare).map_err(store_error)?;
        Ok((
            crate::auth::tokens::audit_id(bare),
            None,
            Reply::ok(json!({"id": format!("egt_{bare}"), "revoked": true, "was_active": changed})),
        ))
    })
}

fn audit_query(st: &AdminState, req: &AdminRequest) -> Reply {
    let limit = match query(req, "limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(n)) if (1..=10_000).contains(&n) => n,
        Some(_) => return Reply::bad("limit", "`limit` must be 1..=10000"),
    };
    let f = crate::audit::query::Filter {
        since: query(req, "since"),
        until: query(req, "until"),
        actor: query(req, "actor"),
        request_id: query(req, "request_id"),
        decision: query(req, "decision"),
        reason: query(req, "reason"),
        path_prefix: query(req, "path_prefix"),
    };
    let Ok(store) = st.store.lock() else {
        return internal("store lock poisoned");
    };
    match crate::audit::query::select(store.connection(), &f, limit) {
        Ok(rows) => {
            let records: Vec<Value> = rows
                .iter()
                .filter_map(|r| serde_json::from_str(r).ok())
                .collect();
            Reply::ok(json!({ "records": records }))
        }
        Err(crate::audit::query::QueryError::Bound { field, message }) => {
            Reply::bad(field, &message)
        }
        Err(crate::audit::query::QueryError::Store(e)) => internal(&e),
    }
}

fn audit_verify(st: &AdminState) -> Reply {
    let Ok(store) = st.store.lock() else {
        return internal("store lock poisoned");
    };
    match crate::audit::chain::verify_db(store.connection(), &st.app.master().audit_key()) {
        Ok(crate::audit::chain::Verdict::Intact { records, last_hash }) => {
            Reply::ok(json!({"intact": true, "records": records, "last_hash": last_hash}))
        }
        Ok(crate::audit::chain::Verdict::Broken { id, why }) => {
            Reply::ok(json!({"intact": false, "first_broken_id": id, "why": why}))
        }
        Err(e) => internal(&e.to_string()),
    }
}

fn create_admin_token(st: &AdminState, who: &AdminIdentity, body: &Value) -> Reply {
    let role = match field(body, "role", true) {
        Ok(r) => r.and_then(Role::parse),
        Err(r) => return r,
    };
    let Some(role) = role else {
        return Reply::bad("role", "`role` must be owner, admin or auditor.");
    };
    if role > who.role {
        return Reply::error(
            403,
            "admin.forbidden",
            "A token cannot grant a role above its own.",
            Some("role"),
        );
    }
    let name = match field(body, "name", true) {
        Ok(n) => n.unwrap_or_default().to_string(),
        Err(r) => return r,
    };
    mutate(st, who, "admin_token.create", |s| {
        let (id, token) = super::auth::create(s, &st.hasher, role, &name, &who.actor())
            .map_err(|e| Reply::bad("name", &e))?;
        Ok((
            format!("eat_{}", id.get(..8).unwrap_or(&id)),
            Some(json!({"role": role.as_str(), "name": name})),
            Reply::with(
                201,
                json!({"id": format!("eat_{id}"), "role": role.as_str(), "name": name,
                       "token": token.expose(), "note": "shown once: store it now"}),
            ),
        ))
    })
}

fn revoke_admin_token(st: &AdminState, who: &AdminIdentity, id: &str) -> Reply {
    let bare = id.strip_prefix("eat_").unwrap_or(id).to_string();
    mutate(st, who, "admin_token.revoke", |s| {
        let changed = s.revoke_admin_token(&bare).map_err(store_error)?;
        Ok((
            format!("eat_{}", bare.get(..8).unwrap_or(&bare)),
            None,
            Reply::ok(json!({"id": format!("eat_{bare}"), "revoked": true, "was_active": changed})),
        ))
    })
}
