use std::sync::Arc;

use super::presented::Presented;
use super::*;
use crate::crypto::{MasterKey, PasswordParams};
use crate::store::Store;

#[test]
fn concurrent_requests_with_one_credential_run_argon2_once() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("t.db")).expect("store");
    store.migrate().expect("migrate");
    store
        .create_account("acct", "acme", None, None)
        .expect("account");
    let (master, _) = MasterKey::generate().expect("key");
    let params = PasswordParams {
        m_kib: 4096,
        t: 2,
        p: 1,
    };
    let issued =
        crate::cli::credential::issue(&store, &master, &PasswordHasher::new(params), "acct")
            .expect("issue");
    let view = Arc::new(DirectoryView::build(store.load_directory().expect("dir")));
    let auth = Arc::new(Authenticator::new(
        master.keyed_hasher("api-key"),
        master.keyed_hasher("cache"),
        master.keyed_hasher("inbound-jwt"),
        master.keyed_hasher("gateway-token"),
        PasswordHasher::new(params),
        &AuthSettings::default(),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let decoded = format!("{}:{}", issued.username, issued.password.expose());
    let results: Vec<bool> = rt.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (auth, view, decoded) = (auth.clone(), view.clone(), decoded.clone());
                tokio::spawn(async move {
                    let colon = decoded.find(':').unwrap_or(0);
                    let p = Presented::Basic {
                        decoded: zeroize::Zeroizing::new(decoded.into_bytes()),
                        colon,
                    };
                    auth.authenticate(&p, &view, None).await.is_ok()
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or(false));
        }
        out
    });
    assert!(results.iter().all(|ok| *ok), "{results:?}");
    assert_eq!(
        auth.verifications(),
        1,
        "one argon2 run for 32 concurrent requests"
    );
    assert_eq!(auth.cache_len(), 1);
    assert!(
        auth.inflight.lock().map(|m| m.is_empty()).unwrap_or(false),
        "gates are cleaned up"
    );
}
