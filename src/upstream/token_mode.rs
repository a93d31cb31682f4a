//! Upstream auth mode `token`: the gateway trades the tenant's stored credential for a bearer
//! token at Oracle's token endpoint (`/fscmRestApi/tokenrelay` by default), keeps it in
//! memory only (a sensitive header value, never logged or stored), reuses it until a fifth of
//! its lifetime is left, and refreshes it at most once per token when Oracle answers 401.
//! One fetch per (tenant, user) is in flight at a time: concurrent requests wait for it.
//!
//! The HTTP call itself is made by a [`TokenEndpoint`] the caller plugs in (the gateway's
//! Pingora connector, `gateway::token_client`): this module holds the cache, the single
//! flight and the answer's parsing, and knows no HTTP client.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::HeaderValue;
use zeroize::Zeroizing;

/// The most bytes of a token endpoint answer we read.
pub const MAX_ANSWER: usize = 64 * 1024;
/// Shortest and longest lifetime we believe from the endpoint.
const MIN_TTL: u64 = 30;
const MAX_TTL: u64 = 86_400;

/// Where and how to fetch one token.
pub struct FetchSpec<'a> {
    /// Upstream address.
    pub addr: SocketAddr,
    /// TLS on.
    pub tls: bool,
    /// TLS server name and `Host`.
    pub sni: &'a str,
    /// `Host` header value.
    pub host_header: &'a str,
    /// Token endpoint path.
    pub path: &'a str,
    /// `Authorization: Basic …` for the endpoint (sensitive).
    pub basic: HeaderValue,
    /// Connect plus answer budget.
    pub timeout: Duration,
}

/// What a token endpoint answered: the status and the body (sensitive: it holds the token).
pub type Answer = (u16, Zeroizing<Vec<u8>>);

/// The future of one token endpoint call.
pub type AnswerFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send + 'a>>;

/// The HTTP client that calls a token endpoint: `GET spec.path` on `spec.addr` with
/// `Host: spec.host_header`, `Authorization: spec.basic` and `Accept: application/json`,
/// verifying the certificate and host name when `spec.tls`. A body longer than
/// [`MAX_ANSWER`] is an error. Errors never carry the credential or the token.
pub trait TokenEndpoint: Send + Sync {
    /// Makes one call.
    fn call<'a>(&'a self, spec: &'a FetchSpec<'_>) -> AnswerFuture<'a>;
}

/// The endpoint of a cache nobody plugged a client into: every fetch fails (closed).
struct Unconfigured;

impl TokenEndpoint for Unconfigured {
    fn call<'a>(&'a self, _spec: &'a FetchSpec<'_>) -> AnswerFuture<'a> {
        Box::pin(async { Err("no token endpoint client is configured".to_string()) })
    }
}

struct Entry {
    header: HeaderValue,
    refresh_at: Instant,
    generation: u64,
}

/// Upstream tokens by (tenant, user, secret).
pub struct UpstreamTokens {
    endpoint: Arc<dyn TokenEndpoint>,
    map: Mutex<HashMap<String, Entry>>,
    inflight: crate::sync::SingleFlight<String>,
    generation: AtomicU64,
    fetches: AtomicU64,
}

impl Default for UpstreamTokens {
    /// A cache without a client: fetches fail until one is plugged in with [`UpstreamTokens::new`].
    fn default() -> Self {
        UpstreamTokens::new(Arc::new(Unconfigured))
    }
}

impl UpstreamTokens {
    /// An empty cache that calls token endpoints through `endpoint`.
    pub fn new(endpoint: Arc<dyn TokenEndpoint>) -> Self {
        UpstreamTokens {
            endpoint,
            map: Mutex::new(HashMap::new()),
            inflight: crate::sync::SingleFlight::new(),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }
}

/// A token ready to inject, with the generation that identifies it (for invalidation).
pub struct Held {
    /// `Authorization: Bearer …`, sensitive.
    pub header: HeaderValue,
    /// Identifies this token in [`UpstreamTokens::invalidate`].
    pub generation: u64,
}

impl UpstreamTokens {
    fn fresh(&self, key: &str, now: Instant) -> Option<Held> {
        let map = self.map.lock().ok()?;
        map.get(key).filter(|e| now < e.refresh_at).map(|e| Held {
            header: e.header.clone(),
            generation: e.generation,
        })
    }

    /// The token for `key`, fetched with `spec()` when there is none or it is due. The
    /// caller's error type `E` carries both why `spec()` refused and (from its text) why the
    /// token endpoint failed, so the caller tells them apart by variant, not by message.
    pub async fn get<'s, E: From<String>>(
        &self,
        key: &str,
        spec: impl FnOnce() -> Result<FetchSpec<'s>, E>,
    ) -> Result<Held, E> {
        if let Some(h) = self.fresh(key, Instant::now()) {
            return Ok(h);
        }
        self.inflight
            .run(&key.to_string(), async {
                match self.fresh(key, Instant::now()) {
                    Some(h) => Ok(h),
                    None => match spec() {
                        Ok(spec) => self.fetch_into(key, spec).await.map_err(E::from),
                        Err(e) => Err(e),
                    },
                }
            })
            .await
    }

    /// Forgets the token `generation` of `key` (Oracle refused it). A newer token fetched
    /// meanwhile by another request is kept: one refusal causes at most one refresh.
    pub fn invalidate(&self, key: &str, generation: u64) {
        if let Ok(mut map) = self.map.lock() {
            if map.get(key).is_some_and(|e| e.generation == generation) {
                map.remove(key);
            }
        }
    }

    /// Token endpoint calls made so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn fetch_into(&self, key: &str, spec: FetchSpec<'_>) -> Result<Held, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let (token, ttl) = tokio::time::timeout(spec.timeout, self.fetch(&spec))
            .await
            .map_err(|_| "token endpoint timed out".to_string())??;
        let mut value = Zeroizing::new(String::with_capacity(token.len() + 7));
        value.push_str("Bearer ");
        value.push_str(&token);
        drop(token);
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| "token endpoint returned a token that is not header-safe".to_string())?;
        header.set_sensitive(true);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry {
            header: header.clone(),
            refresh_at: started + Duration::from_secs(ttl - ttl / 5),
            generation,
        };
        if let Ok(mut map) = self.map.lock() {
            map.insert(key.to_string(), entry);
        }
        Ok(Held { header, generation })
    }

    async fn fetch(&self, spec: &FetchSpec<'_>) -> Result<(Zeroizing<String>, u64), String> {
        let (status, body) = self.endpoint.call(spec).await?;
        if body.len() > MAX_ANSWER {
            return Err("token endpoint answer too large".into());
        }
        if status != 200 {
            return Err(format!("token endpoint answered {status}"));
        }
        parse_answer(&body)
    }
}

/// `{"access_token": "...", "expires_in": N}` → (token, lifetime clamped to 30 s..1 day).
pub fn parse_answer(body: &[u8]) -> Result<(Zeroizing<String>, u64), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: String,
        expires_in: Option<u64>,
    }
    let a: Answer = serde_json::from_slice(body).map_err(|_| {
        "token endpoint answer is not {\"access_token\", \"expires_in\"} JSON".to_string()
    })?;
    let token = Zeroizing::new(a.access_token);
    if token.is_empty() || token.len() > 16 * 1024 {
        return Err("token endpoint returned an empty or oversized token".into());
    }
    Ok((token, a.expires_in.unwrap_or(3600).clamp(MIN_TTL, MAX_TTL)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_strictly_and_lifetimes_clamped() {
        let (t, ttl) =
            parse_answer(br#"{"access_token":"abc","token_type":"Bearer","expires_in":3600}"#)
                .expect("ok");
        assert_eq!((t.as_str(), ttl), ("abc", 3600));
        assert_eq!(
            parse_answer(br#"{"access_token":"a","expires_in":1}"#)
                .expect("ok")
                .1,
            30
        );
        assert_eq!(
            parse_answer(br#"{"access_token":"a","expires_in":999999999}"#)
                .expect("ok")
                .1,
            86_400
        );
        assert_eq!(
            parse_answer(br#"{"access_token":"a"}"#).expect("ok").1,
            3600
        );
        for bad in [
            &b"{}"[..],
            b"<html>",
            br#"{"access_token":""}"#,
            br#"{"access_token":5}"#,
        ] {
            assert!(parse_answer(bad).is_err());
        }
    }

    #[test]
    fn invalidation_only_drops_the_refused_generation() {
        let t = UpstreamTokens::default();
        let mut hv = HeaderValue::from_static("Bearer x");
        hv.set_sensitive(true);
        if let Ok(mut m) = t.map.lock() {
            m.insert(
                "k".into(),
                Entry {
                    header: hv,
                    refresh_at: Instant::now() + Duration::from_secs(60),
                    generation: 7,
                },
            );
        }
        t.invalidate("k", 6);
        assert!(
            t.fresh("k", Instant::now()).is_some(),
            "an older refusal keeps the newer token"
        );
        t.invalidate("k", 7);
        assert!(t.fresh("k", Instant::now()).is_none());
    }
}
