//! The admin API: JSON over HTTP on its own listener (`gateway.admin_listen`, keep it on
//! loopback or a management network), authenticated with admin tokens, apart from the relay:
//! the kill switch never blocks it. Every mutation is audited with the admin identity and
//! reaches the relay path at once (the directory view is rebuilt after it, not at the next
//! store poll).
//!
//! Errors share one shape: `{"error":{"code":"admin.bad_request","message":"…","field":"name"}}`.

/// Admin tokens and roles: they live in the service layer (the CLI creates them too).
pub use crate::service::admin_token as auth;
mod common;
mod handlers;
pub mod openapi;
mod openapi_schemas;
mod paging;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Value};

use crate::app::App;
use crate::store::Store;

/// The largest request body the admin API reads.
pub const MAX_BODY: usize = 64 * 1024;

/// What every admin request can reach.
pub struct AdminState {
    /// The gateway.
    pub app: Arc<App>,
    /// The admin API's own store connection (reopened when it has failed: see
    /// [`AdminState::store`]).
    pub store: Mutex<Store>,
    /// Keys admin token hashes.
    pub hasher: crate::crypto::KeyedHasher,
    /// Hashes passwords of credential sets issued here.
    pub passwords: crate::crypto::PasswordHasher,
    /// When the gateway started.
    pub started: Instant,
}

impl AdminState {
    /// The store connection, reopened first if it has been lost (a PostgreSQL restart): an
    /// admin call never keeps failing on a dead connection. A poisoned lock or a failed
    /// reconnect is a 500.
    pub fn store(&self) -> Result<std::sync::MutexGuard<'_, Store>, Reply> {
        let mut guard = self
            .store
            .lock()
            .map_err(|_| common::internal("store lock poisoned"))?;
        if guard.is_closed() {
            let db = self.app.compiled.load().snapshot.gateway.database.clone();
            match Store::connect(&db) {
                Ok(fresh) => *guard = fresh,
                Err(e) => {
                    tracing::error!(error = %e, "admin API cannot reconnect to the store");
                    return Err(common::internal("the state database is unreachable"));
                }
            }
        }
        Ok(guard)
    }
}

/// A finished response.
pub struct Reply {
    status: u16,
    body: Value,
    allow: Option<String>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            allow: None,
        }
    }

    /// `status` with `body`.
    pub fn with(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            allow: None,
        }
    }

    /// An error in the standard shape; `field` names the offending input when there is one.
    pub fn error(status: u16, code: &str, message: &str, field: Option<&str>) -> Reply {
        let mut e = json!({"code": code, "message": message});
        if let Some(f) = field {
            e["field"] = json!(f);
        }
        Reply::with(status, json!({ "error": e }))
    }

    /// 400 naming `field`.
    pub fn bad(field: &str, message: &str) -> Reply {
        Reply::error(400, "admin.bad_request", message, Some(field))
    }

    /// 405 with `Allow` (the methods the path answers, as `GET, POST`).
    pub fn method_not_allowed(allow: String) -> Reply {
        let mut r = Reply::error(
            405,
            "admin.method_not_allowed",
            "This method is not allowed here.",
            None,
        );
        r.allow = Some(allow);
        r
    }

    fn into_response(self) -> hyper::Response<Full<Bytes>> {
        let mut r = hyper::Response::new(Full::new(Bytes::from(self.body.to_string())));
        *r.status_mut() = hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::OK);
        let h = r.headers_mut();
        // The relay's security headers (no-store, nosniff, frame denial, …) apply here too.
        for (k, _, v) in &crate::redact::headers::SECURITY_HEADERS {
            h.insert(k.clone(), v.clone());
        }
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        if let Some(allow) = self
            .allow
            .and_then(|a| hyper::header::HeaderValue::try_from(a).ok())
        {
            h.insert("allow", allow);
        }
        r
    }
}

/// One admin request as the handlers see it.
pub struct AdminRequest {
    /// The request method.
    pub method: hyper::Method,
    /// The request path, without the query.
    pub path: String,
    /// Query pairs (percent-decoded).
    pub query: Vec<(String, String)>,
    /// `Authorization`, when present (redacted in `Debug`, zeroised on drop).
    pub authorization: Option<crate::crypto::SecretString>,
    /// Body (at most `MAX_BODY` bytes).
    pub body: Bytes,
}

async fn read(req: hyper::Request<hyper::body::Incoming>) -> Result<AdminRequest, Reply> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(Reply::error(
            413,
            "admin.body_too_large",
            "The request body is too large.",
            None,
        ));
    }
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Reply::error(
                413,
                "admin.body_too_large",
                "The request body is too large.",
                None,
            )
        })?
        .to_bytes();
    let query = crate::path::query_pairs(parts.uri.query().unwrap_or(""));
    Ok(AdminRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query,
        authorization: parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| crate::crypto::SecretString::new(v.to_string())),
        body,
    })
}

/// Why the admin API could not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Its own store connection.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Binding or serving the listener.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Binds `addr` now (a taken port fails `serve` at start) and serves until `stop`.
pub fn spawn(addr: SocketAddr, app: Arc<App>, stop: Arc<AtomicBool>) -> Result<(), SpawnError> {
    let db = app.compiled.load().snapshot.gateway.database.clone();
    let store = Store::connect(&db)?;
    let state = Arc::new(AdminState {
        hasher: app
            .master()
            .keyed_hasher(crate::crypto::HashPurpose::AdminToken),
        app,
        store: Mutex::new(store),
        passwords: crate::crypto::PasswordHasher::default(),
        started: Instant::now(),
    });
    // The operator portal, when configured, answers `/portal/` on this listener.
    let portal = match state.app.compiled.load().snapshot.gateway.portal {
        Some(_) => Some(Arc::new(crate::portal::PortalState::new(
            state.app.clone(),
        )?)),
        None => None,
    };
    let listener = crate::listen::bind_shared(addr)?;
    crate::listen::serve_http("admin", listener, stop, move |req| {
        let state = state.clone();
        let portal = portal.clone();
        async move {
            if let Some(portal) = portal.filter(|_| crate::portal::owns(req.uri().path())) {
                return crate::portal::serve(portal, req).await;
            }
            // Store work is blocking (and a PostgreSQL client cannot run inside this
            // runtime): each call is handled on the blocking pool.
            let reply = match read(req).await {
                Ok(r) => tokio::task::spawn_blocking(move || routes::route(&state, &r))
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "admin handler failed");
                        common::internal("admin handler failed")
                    }),
                Err(reply) => reply,
            };
            reply.into_response()
        }
    })?;
    Ok(())
}
