//! The simulated Oracle's token relay (`GET /fscmRestApi/tokenrelay`): a Basic-authenticated
//! caller receives a bearer token for its user, accepted on the REST API until it expires or
//! is revoked (`GET /__sim/tokens/revoke`, to test the gateway's refresh on 401).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tokens the relay issued, shared between the relay and the authentication check.
#[derive(Clone, Default)]
pub struct RelayTokens(Arc<Mutex<RelayState>>);

#[derive(Default)]
struct RelayState {
    tokens: HashMap<String, (String, Instant)>,
    issued: u64,
}

impl std::fmt::Debug for RelayTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayTokens(..)")
    }
}

impl RelayTokens {
    /// Issues a token for `user`, valid for `ttl`.
    pub fn issue(&self, user: &str, ttl: Duration) -> String {
        let token = format!(
            "simrelay-{}",
            hex::encode(crate::crypto::random_bytes::<16>().unwrap_or_default())
        );
        if let Ok(mut s) = self.0.lock() {
            s.issued += 1;
            s.tokens
                .insert(token.clone(), (user.to_string(), Instant::now() + ttl));
        }
        token
    }

    /// The user of a valid token.
    pub fn check(&self, token: &str) -> Option<String> {
        let s = self.0.lock().ok()?;
        let (user, until) = s.tokens.get(token)?;
        (Instant::now() < *until).then(|| user.clone())
    }

    /// Invalidates every token (Oracle rotating its keys, or a session purge).
    pub fn revoke_all(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.tokens.clear();
        }
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.0.lock().map_or(0, |s| s.issued)
    }
}
