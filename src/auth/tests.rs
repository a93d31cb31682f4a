use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::presented::Presented;
use super::*;
use crate::crypto::{MasterKey, PasswordParams, SecretString};
use crate::store::{NewCredential, Store};

const PARAMS: PasswordParams = PasswordParams {
    m_kib: 4096,
    t: 2,
    p: 1,
};

/// A credential set as a client presents it. Stored the way the service layer issues one
/// (argon2id password, x-api-key keyed-hashed under `api-key`); built here because `auth`
/// sits below the service layer.
struct Issued {
    username: String,
    password: SecretString,
    api_key: SecretString,
}

fn issue(store: &Store, master: &MasterKey, account: &str) -> Issued {
    let id = crate::crypto::random_id("cred_", 8).expect("id");
    let username = format!(
        "{account}.{}",
        crate::crypto::random_id("", 3).expect("suffix")
    );
    let password = crate::crypto::random_token(24).expect("password");
    let (key_id, api_key) = crate::crypto::generate_api_key().expect("api key");
    let password_hash = PasswordHasher::new(PARAMS)
        .hash(password.expose().as_bytes())
        .expect("hash");
    let api_key_hash = master
        .keyed_hasher(crate::crypto::HashPurpose::ApiKey)
        .hash(api_key.expose().as_bytes());
    store
        .insert_credential(&NewCredential {
            id: &id,
            account,
            username: &username,
            password_hash: &password_hash,
            api_key_id: &key_id,
            api_key_hash: &api_key_hash,
        })
        .expect("insert");
    Issued {
        username,
        password,
        api_key,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    view: Arc<DirectoryView>,
    auth: Arc<Authenticator>,
    issued: Vec<Issued>,
    rt: tokio::runtime::Runtime,
}

fn fixture(credentials: usize, settings: &AuthSettings) -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open(&dir.path().join("t.db")).expect("store");
    store.migrate().expect("migrate");
    store
        .create_account("acct", "acme", None, None)
        .expect("account");
    let (master, _) = MasterKey::generate().expect("key");
    let issued = (0..credentials)
        .map(|_| issue(&store, &master, "acct"))
        .collect();
    let view = Arc::new(DirectoryView::build(store.load_directory().expect("dir")));
    let auth = Arc::new(Authenticator::new(
        master.keyed_hasher(crate::crypto::HashPurpose::ApiKey),
        master.keyed_hasher(crate::crypto::HashPurpose::CredentialCache),
        master.keyed_hasher(crate::crypto::HashPurpose::InboundJwt),
        master.keyed_hasher(crate::crypto::HashPurpose::GatewayToken),
        master.keyed_hasher(crate::crypto::HashPurpose::Lockout),
        PasswordHasher::new(PARAMS),
        settings,
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    Fixture {
        _dir: dir,
        view,
        auth,
        issued,
        rt,
    }
}

fn basic(user: &str, pass: &str) -> Presented<'static> {
    let decoded = format!("{user}:{pass}");
    Presented::Basic {
        colon: user.len(),
        decoded: zeroize::Zeroizing::new(decoded.into_bytes()),
    }
}

fn ip(i: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000u32 + i)))
}

/// Short lockout delays would make these tests slow: most use a high failure budget.
fn locks_after(max_failures: u32) -> lockout::LockoutSettings {
    lockout::LockoutSettings {
        max_failures,
        lock_for: Duration::from_secs(60),
        window: Duration::from_secs(600),
    }
}

#[test]
fn concurrent_requests_with_one_credential_run_argon2_once() {
    let f = fixture(1, &AuthSettings::default());
    let (auth, view) = (&f.auth, &f.view);
    let decoded = format!("{}:{}", f.issued[0].username, f.issued[0].password.expose());
    let results: Vec<bool> = f.rt.block_on(async {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (auth, view, decoded) = (auth.clone(), view.clone(), decoded.clone());
                tokio::spawn(async move {
                    let colon = decoded.find(':').unwrap_or(0);
                    let p = Presented::Basic {
                        decoded: zeroize::Zeroizing::new(decoded.into_bytes()),
                        colon,
                    };
                    auth.authenticate(&p, &view, None, lockout::LockoutSettings::default())
                        .await
                        .is_ok()
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
    assert!(auth.inflight.is_idle(), "gates are cleaned up");
}

#[test]
fn a_repeated_wrong_secret_costs_no_argon2() {
    let f = fixture(1, &AuthSettings::default());
    let s = locks_after(100);
    let user = f.issued[0].username.clone();
    f.rt.block_on(async {
        for i in 0..5 {
            let r = f
                .auth
                .authenticate(&basic(&user, "wrong-secret"), &f.view, ip(i), s)
                .await;
            assert_eq!(r.err().map(|d| d.reason), Some(Reason::AuthInvalid));
            let r = f
                .auth
                .authenticate(&basic("nobody.000000", "wrong-secret"), &f.view, ip(i), s)
                .await;
            assert_eq!(r.err().map(|d| d.reason), Some(Reason::AuthInvalid));
        }
    });
    assert_eq!(
        f.auth.verifications(),
        2,
        "one argon2 run per (credential, secret) pair, known user or not"
    );
    // The right secret is not affected by the failure cache.
    let right = basic(&user, f.issued[0].password.expose());
    assert!(f
        .rt
        .block_on(f.auth.authenticate(&right, &f.view, ip(9), s))
        .is_ok());
}

#[test]
fn failed_basic_and_api_key_proofs_lock_the_credential_and_the_address() {
    let f = fixture(2, &AuthSettings::default());
    let (a, b) = (&f.issued[0], &f.issued[1]);
    let reason = |p: &Presented<'_>, client| {
        f.rt.block_on(f.auth.authenticate(p, &f.view, client, locks_after(3)))
            .err()
            .map(|d| d.reason)
    };
    // Three wrong secrets for `a`, from three addresses: `a` is locked everywhere, even with
    // its right password; its right x-api-key (which cannot be guessed) still proves it, so
    // knowing a username or key id is not enough to lock an integration out; `b` is not
    // locked.
    assert_eq!(
        reason(&basic(&a.username, "w1"), ip(1)),
        Some(Reason::AuthInvalid)
    );
    assert_eq!(
        reason(&basic(&a.username, "w2"), ip(2)),
        Some(Reason::AuthInvalid)
    );
    assert_eq!(
        reason(&basic(&a.username, "w3"), ip(3)),
        Some(Reason::AuthLocked)
    );
    let a_right = basic(&a.username, a.password.expose());
    assert_eq!(reason(&a_right, ip(4)), Some(Reason::AuthLocked));
    let a_key = a.api_key.expose().to_string();
    assert_eq!(reason(&Presented::ApiKey(&a_key), ip(4)), None);
    // A wrong x-api-key for `a` is refused by the lock before it is even compared.
    let other_last = if a_key.ends_with('x') { 'y' } else { 'x' };
    let a_wrong_key = format!("{}{other_last}", &a_key[..a_key.len() - 1]);
    assert_eq!(
        reason(&Presented::ApiKey(&a_wrong_key), ip(5)),
        Some(Reason::AuthLocked)
    );
    assert_eq!(
        reason(&basic(&b.username, b.password.expose()), ip(4)),
        None
    );
    // Three unknown x-api-keys from one address lock that address for every credential.
    let unknown: Vec<String> = (0..3)
        .map(|i| format!("egk_{i:016x}_{}", "A".repeat(43)))
        .collect();
    for (k, expected) in
        unknown
            .iter()
            .zip([Reason::AuthInvalid, Reason::AuthInvalid, Reason::AuthLocked])
    {
        assert_eq!(reason(&Presented::ApiKey(k), ip(7)), Some(expected), "{k}");
    }
    let b_key = b.api_key.expose().to_string();
    assert_eq!(
        reason(&Presented::ApiKey(&b_key), ip(7)),
        Some(Reason::AuthLocked)
    );
    assert_eq!(reason(&Presented::ApiKey(&b_key), ip(8)), None);
}

#[test]
fn a_full_argon2_queue_answers_busy_at_once() {
    let s = AuthSettings {
        max_concurrent_hashes: 1,
        max_queued_hashes: 2,
        ..AuthSettings::default()
    };
    let f = fixture(1, &s);
    let started = std::time::Instant::now();
    let reasons: Vec<Option<Reason>> = f.rt.block_on(async {
        let tasks: Vec<_> = (0..40u32)
            .map(|i| {
                let (auth, view) = (f.auth.clone(), f.view.clone());
                tokio::spawn(async move {
                    let p = basic(&format!("nobody.{i:06}"), "guess");
                    auth.authenticate(&p, &view, ip(i), locks_after(100))
                        .await
                        .err()
                        .map(|d| d.reason)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.ok().flatten());
        }
        out
    });
    let busy = reasons
        .iter()
        .filter(|r| **r == Some(Reason::AuthBusy))
        .count();
    assert!(
        busy >= 30,
        "at most 1 running + 2 queued (+ races): {reasons:?}"
    );
    assert!(
        f.auth.verifications() <= 10,
        "{} argon2 runs",
        f.auth.verifications()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
