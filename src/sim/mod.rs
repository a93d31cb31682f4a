//! A simulated Oracle ERP Cloud (Fusion) REST host, for the tests and `erpgate demo`.
//!
//! It imitates what matters to a gateway: `items`/`count`/`hasMore`/`limit`/`offset`/`links`
//! collections with `onlyData` and `totalResults`; `q` in Oracle's expression language (legacy
//! `A=v;B=w` and advanced `=`, `!=`, `<>`, `<`, `>`, `<=`, `>=`, `LIKE`, `AND`, `OR`, `NOT`,
//! parentheses; see `query`), `orderBy=A:desc,B`, `finder=Name;Var=value` (`PrimaryKey`, and
//! the suppliers' `SupplierByTaxRegistration;TaxRegNum=…`); child collections
//! (`invoiceLines`, `sites`, `nationalIdentifiers`) shown as `child` links, served under
//! `/{id}/child/{name}`, and inlined by `expand=a,b|all` or `fields=A,B;child:C,D`;
//! method-override headers on POST (`X-HTTP-Method-Override`, `X-HTTP-Method`,
//! `X-Method-Override`); `Upsert-Mode: true` on invoice POSTs; batches POSTed to an API's
//! version root (`batch`); ADF media types; ETags with
//! `If-None-Match` (304) and `If-Match` (412); Oracle-style error bodies; Oracle's
//! backend-revealing headers (so header redaction has something to remove); and — above all —
//! it checks the credential the gateway injected and answers 401 like Oracle when it is wrong.
//! It records every request it receives so tests can assert exactly what reached "Oracle".
//!
//! Diagnostics (no authentication, outside Oracle's prefixes): `/__sim/echo[/…]` (what was
//! received, credential values redacted), `/__sim/big?items=N` (a large streamed
//! collection), `/__sim/slow?ms=N`, `/__sim/status/{code}` (a 401 carries Oracle's Basic
//! challenge naming the integration user), `/__sim/page-integration?user=NAME` (Fusion's Page
//! Integration: a signed user token sent to the Secure Destination, see `launcher`). Every answer sets Fusion's session cookies
//! (`JSESSIONID`, an OAM SSO cookie) and `X-ORACLE-DMS-CONTEXT`, like real Fusion.

mod auth;
mod batch;
mod collections;
mod data;
mod diagnostics;
mod expand;
mod fusion;
pub mod launcher;
mod query;
mod routes;
pub mod tokenrelay;
mod write;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the simulator accepts and serves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Accepted Basic users and passwords.
    pub basic_users: Vec<(String, String)>,
    /// Accepted API key values.
    pub api_keys: Vec<String>,
    /// Header carrying the API key.
    pub api_key_header: String,
    /// Number of seeded invoices.
    pub invoices: usize,
    /// Number of seeded suppliers.
    pub suppliers: usize,
    /// A twin Oracle: the same suppliers, with their `TaxRegistrationNumber`s dealt out in
    /// reverse order (what a test compares a masked field's two worlds with).
    pub twin_hidden_values: bool,
    /// Keep every request for inspection (tests); off for load runs, where it would grow.
    pub record_requests: bool,
    /// Listen address (default `127.0.0.1:0`).
    pub listen: Option<SocketAddr>,
    /// Trusted issuers for JWT assertions (`Authorization: Bearer`), as registered in
    /// Oracle's Security Console.
    pub jwt_issuers: Vec<String>,
    /// Certificates whose assertions are accepted (the tenant certificates). Shared, so a
    /// test can register a certificate generated after the simulator started, as an
    /// operator registers one in Oracle's Security Console.
    pub jwt_certs: JwtTrust,
    /// Assertions verified so far (token → user, exp), per simulator.
    pub jwt_verified: Arc<Mutex<std::collections::HashMap<String, (String, i64)>>>,
    /// Tokens issued by `/fscmRestApi/tokenrelay` (shared, so tests can count and revoke).
    pub relay_tokens: tokenrelay::RelayTokens,
    /// Lifetime of relay tokens.
    pub relay_token_ttl: Duration,
    /// Serve HTTPS with this configuration (Oracle's endpoints are HTTPS only).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Page Integration's Secure Destination (`/__sim/page-integration?user=NAME`).
    pub launcher: launcher::SharedLauncher,
}

/// The simulator's registered assertion certificates.
pub type JwtTrust = std::sync::Arc<std::sync::RwLock<Vec<crate::jwt::Certificate>>>;

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            basic_users: vec![("FIN_INTEGRATION".into(), "sim-password".into())],
            api_keys: Vec::new(),
            api_key_header: "x-api-key".into(),
            invoices: 25,
            suppliers: 10,
            twin_hidden_values: false,
            record_requests: true,
            listen: None,
            jwt_issuers: Vec::new(),
            jwt_certs: JwtTrust::default(),
            relay_tokens: tokenrelay::RelayTokens::default(),
            jwt_verified: Arc::default(),
            relay_token_ttl: Duration::from_secs(3600),
            tls: None,
            launcher: launcher::SharedLauncher::default(),
        }
    }
}

/// One request as the simulator received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The request method as received.
    pub method: String,
    /// Path and query exactly as received.
    pub target: String,
    /// Headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Body length.
    pub body_len: usize,
    /// Basic user name, `api-key`, or None when the credential was missing or wrong.
    pub authenticated_as: Option<String>,
}

struct State {
    invoices: data::Resource,
    suppliers: data::Resource,
    bank_accounts: data::Resource,
    workers: data::Resource,
    salaries: data::Resource,
}

/// State shared by the connections of one simulator.
pub struct Shared {
    config: SimConfig,
    state: Mutex<State>,
    log: Mutex<Vec<RecordedRequest>>,
    /// Request heads received, counted before the body is read (a request whose body never
    /// completes is not in `log`, but its head, with the credential in it, did arrive).
    heads: std::sync::atomic::AtomicUsize,
    /// Drop every request that is not the first on its connection, unanswered: a load
    /// balancer closing a kept-alive connection just as the next request arrives.
    drop_reused: std::sync::atomic::AtomicBool,
}

/// A running simulator. Stops accepting when dropped.
pub struct SimHandle {
    /// Its address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` when serving TLS (certificates
    /// name hosts, and `localhost` is the name a test certificate carries).
    pub fn base_url(&self) -> String {
        if self.shared.config.tls.is_some() {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        if let Ok(mut l) = self.shared.log.lock() {
            l.clear();
        }
    }

    /// The values of `field` in the items of resource `name` (e.g. `externalBankAccounts`,
    /// `BankAccountNumber`), as Oracle holds them: what a test must never see unmasked.
    pub fn unmasked_values(&self, name: &str, field: &str) -> Vec<String> {
        let Ok(state) = self.shared.state.lock() else {
            return Vec::new();
        };
        [
            &state.invoices,
            &state.suppliers,
            &state.bank_accounts,
            &state.workers,
            &state.salaries,
        ]
        .into_iter()
        .filter(|r| r.name == name)
        .flat_map(|r| r.items.iter())
        .filter_map(|item| match item.get(field)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        })
        .collect()
    }

    /// The values of `field` in the `child` collections of every item of resource `name`
    /// (e.g. `workers`, `nationalIdentifiers`, `NationalIdentifierNumber`).
    pub fn child_values(&self, name: &str, child: &str, field: &str) -> Vec<String> {
        let Ok(state) = self.shared.state.lock() else {
            return Vec::new();
        };
        [
            &state.invoices,
            &state.suppliers,
            &state.bank_accounts,
            &state.workers,
            &state.salaries,
        ]
        .into_iter()
        .filter(|r| r.name == name)
        .flat_map(|r| {
            r.items
                .iter()
                .filter_map(|p| expand::child_items(r.name, child, p, r.key))
                .flatten()
        })
        .filter_map(|c| match c.get(field)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v => Some(v.to_string()),
        })
        .collect()
    }

    /// While on, every request that is not the first on its connection is dropped without an
    /// answer (the connection closes), as a load balancer in front of Oracle does to a
    /// kept-alive connection it timed out just as the next request arrived.
    pub fn drop_reused_connections(&self, on: bool) {
        self.shared
            .drop_reused
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Number of request heads received, including those whose body never completed.
    pub fn heads_seen(&self) -> usize {
        self.shared.heads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Number of requests received.
    pub fn request_count(&self) -> usize {
        self.shared.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Stops accepting connections.
    pub fn shutdown(self) {}
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn shared(config: SimConfig) -> Arc<Shared> {
    let state = State {
        invoices: data::Resource {
            name: "invoices",
            key: "InvoiceId",
            items: data::invoices(config.invoices),
        },
        suppliers: data::Resource {
            name: "suppliers",
            key: "SupplierId",
            items: data::suppliers(config.suppliers, config.twin_hidden_values),
        },
        bank_accounts: data::Resource {
            name: "externalBankAccounts",
            key: "BankAccountId",
            items: data::bank_accounts(10),
        },
        workers: data::Resource {
            name: "workers",
            key: "PersonId",
            items: data::workers(10),
        },
        salaries: data::Resource {
            name: "salaries",
            key: "SalaryId",
            items: data::salaries(10),
        },
    };
    Arc::new(Shared {
        config,
        state: Mutex::new(state),
        log: Mutex::new(Vec::new()),
        heads: std::sync::atomic::AtomicUsize::new(0),
        drop_reused: std::sync::atomic::AtomicBool::new(false),
    })
}

/// Starts a simulator on `127.0.0.1:0` in the current tokio runtime.
pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
    let bind = config
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let acceptor = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let shared = shared(config);
    let (stop, mut stopped) = watch::channel(false);
    let s2 = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let s3 = s2.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                        let svc = service_fn(move |req| {
                            let shared = s3.clone();
                            let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            async move {
                                if n > 0 && shared.drop_reused.load(std::sync::atomic::Ordering::SeqCst) {
                                    shared.heads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                                    return Err(std::io::Error::other("connection timed out by the balancer"));
                                }
                                handle(shared, req).await.map_err(|never| match never {})
                            }
                        });
                        let http = hyper::server::conn::http1::Builder::new();
                        match acceptor {
                            None => {
                                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                            }
                            Some(a) => {
                                // A failed handshake (an untrusting client) just closes.
                                if let Ok(tls) = a.accept(stream).await {
                                    let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                                }
                            }
                        }
                    });
                }
                _ = stopped.changed() => break,
            }
        }
    });
    Ok(SimHandle {
        addr,
        shared,
        stop,
        _runtime: None,
    })
}

/// Starts a simulator on its own runtime (two worker threads), callable from sync code.
pub fn start_blocking(config: SimConfig) -> std::io::Result<SimHandle> {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("erpgate-sim")
            .enable_all()
            .build()?,
    );
    let mut handle = rt.block_on(start(config))?;
    handle._runtime = Some(rt);
    Ok(handle)
}

/// Answers one request: records it, routes it, and adds Fusion's headers and cookies.
async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<routes::Body>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    shared
        .heads
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // A body cut short (the client went away mid-request) is never acted on, like Oracle.
    let body: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(routes::error(
                http::StatusCode::BAD_REQUEST,
                "The request body was incomplete.",
                "OJ-INCOMPLETE",
            ))
        }
    };
    let who = auth::authenticate(&shared.config, &parts.headers);
    if shared.config.record_requests {
        record(&shared, &parts, body.len(), who.as_deref());
    }
    let r = routes::Req {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
        host: host_of(&parts.headers),
    };
    let mut resp = route(&shared, &r, who.as_deref()).await;
    fusion::add_fusion_headers(resp.headers_mut());
    Ok(resp)
}

/// Appends the request to the log.
fn record(shared: &Shared, parts: &http::request::Parts, body_len: usize, who: Option<&str>) {
    let Ok(mut log) = shared.log.lock() else {
        return;
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| parts.uri.to_string());
    log.push(RecordedRequest {
        method: parts.method.to_string(),
        target,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body_len,
        authenticated_as: who.map(str::to_string),
    });
}

/// The `Host` header, or `oracle.invalid`.
fn host_of(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("oracle.invalid")
        .to_string()
}

/// Whether the request carries a Basic `Authorization`.
fn is_basic(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "))
}

/// The answer to a request whose credential authenticated `who` (None: missing or wrong).
async fn route(
    shared: &Shared,
    r: &routes::Req<'_>,
    who: Option<&str>,
) -> hyper::Response<routes::Body> {
    let path = r.path;
    let is_oracle = path.starts_with("/fscmRestApi/") || path.starts_with("/hcmRestApi/");
    if path == "/fscmRestApi/tokenrelay" {
        fusion::token_relay(shared, who, is_basic(r.headers))
    } else if path == "/__sim/page-integration" {
        launcher::launch(r, &shared.config.launcher)
    } else if path.starts_with("/__sim/") {
        diagnostics::diagnostics(r, shared).await
    } else if !is_oracle {
        routes::error(
            http::StatusCode::NOT_FOUND,
            "The requested resource was not found",
            "SIM-404",
        )
    } else if who.is_none() {
        routes::unauthorized()
    } else if batch::is_batch_root(r) {
        batch::run(shared, r).await
    } else {
        routes::oracle(r, shared)
    }
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
