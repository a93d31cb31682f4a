//! Master-key rotation against the real binary: everything sealed is re-encrypted under the
//! new key, credentials, gateway tokens and the audit chain keep working, the old key is
//! refused afterwards, and a rotation that cannot open everything changes nothing.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::{request, Gateway, Options};

const V: &str = "/fscmRestApi/resources/11.13.18.05";

fn sealed_blobs(gw: &Gateway) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
    let mut st = conn
        .prepare("SELECT ciphertext FROM secrets ORDER BY tenant, name")
        .expect("prepare");
    st.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn key_file(gw: &Gateway, name: &str) -> (std::path::PathBuf, String) {
    let (_, b64) = erpgate::crypto::MasterKey::generate().expect("key");
    let path = gw.dir.path().join(name);
    std::fs::write(&path, b64.expose()).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (path, b64.expose().clone())
}

#[test]
fn rotation_reseals_everything_and_keeps_credentials_tokens_and_the_chain() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let globex = gw.issue("globex-app");
    let token = gw
        .send(&request(
            "POST",
            "/gateway/token",
            &[("Authorization", &cred.basic())],
            Some(b""),
        ))
        .json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    let before = sealed_blobs(&gw);
    assert_eq!(before.len(), 2, "both tenants' upstream secrets are sealed");
    assert_eq!(gw.stop(), Some(0));

    let old_key = gw.app_key.clone();
    let (new_file, new_key) = key_file(&gw, "new.key");
    let out = gw.ok(&[
        "key",
        "rotate",
        "--new-key-file",
        new_file.to_str().expect("path"),
    ]);
    assert!(out.contains("2 upstream secret(s)"), "{out}");
    let after = sealed_blobs(&gw);
    assert_eq!(after.len(), 2);
    for (a, b) in before.iter().zip(&after) {
        assert_ne!(a, b, "every secret is re-sealed");
    }
    // The old key is refused from now on, saying why.
    let refused = gw.cli(&["audit", "verify"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("rotated"), "{err}");

    // With the new key: the same credentials, the token issued before, the upstream secrets
    // (the simulated Oracle checks the injected password and API key) all work.
    gw.app_key = new_key;
    gw.spawn();
    let r = gw.get_as(&cred, &format!("{V}/invoices?limit=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = gw.get(
        &format!("{V}/invoices?limit=1"),
        &[("x-api-key", &cred.api_key)],
    );
    assert_eq!(r.status, 200, "x-api-key hashes survive: {}", r.text());
    let r = gw.get_as(&globex, &format!("{V}/invoices?limit=1"));
    assert_eq!(
        r.status,
        200,
        "the api-key upstream secret opens: {}",
        r.text()
    );
    let r = gw.get(
        &format!("{V}/invoices?limit=1"),
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "gateway tokens survive: {}", r.text());
    // One chain across the rotation, with both records, never holding a key.
    let verify = gw.ok(&["audit", "verify"]);
    assert!(verify.starts_with("audit chain intact"), "{verify}");
    let recs = gw.audit(&[
        "--actor",
        &format!("cli:{}", erpgate::cli::killswitch::whoami()),
    ]);
    let verbs: Vec<&str> = recs.iter().filter_map(|r| r["method"].as_str()).collect();
    assert!(verbs.contains(&"key.rotate.begin"), "{verbs:?}");
    let done = recs
        .iter()
        .find(|r| r["method"] == "key.rotate")
        .expect("key.rotate record");
    assert_eq!(done["note"]["secrets"], 2, "{done}");
    let db = std::fs::read(gw.db_path()).expect("db");
    for k in [&old_key, &gw.app_key] {
        assert!(
            !db.windows(k.len()).any(|w| w == k.as_bytes()),
            "a master key is in the database"
        );
    }
}

#[test]
fn a_rotation_that_cannot_open_everything_changes_nothing() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    assert_eq!(gw.stop(), Some(0));
    let before = sealed_blobs(&gw);
    // A tampered secret (one flipped byte) cannot be opened, so nothing is rotated.
    {
        let conn = rusqlite::Connection::open(gw.db_path()).expect("db");
        let mut blob = before[1].clone();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        conn.execute(
            "UPDATE secrets SET ciphertext = ?1 WHERE tenant = 'globex'",
            [&blob],
        )
        .expect("tamper");
    }
    let tampered = sealed_blobs(&gw);
    let (new_file, _) = key_file(&gw, "new.key");
    let out = gw.cli(&[
        "key",
        "rotate",
        "--new-key-file",
        new_file.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing changed") && err.contains("globex"),
        "{err}"
    );
    assert_eq!(sealed_blobs(&gw), tampered, "no row was re-sealed");
    // The current key still works for everything else.
    gw.spawn();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    // A key file readable by others, or the current key again, is refused.
    let (loose, _) = key_file(&gw, "loose.key");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = gw.cli(&[
        "key",
        "rotate",
        "--new-key-file",
        loose.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let same = gw.dir.path().join("same.key");
    std::fs::write(&same, &gw.app_key).expect("write");
    std::fs::set_permissions(&same, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = gw.cli(&["key", "rotate", "--new-key-file", same.to_str().expect("p")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the current key"));
}

#[test]
fn with_the_previous_key_alongside_a_running_gateway_rotates_without_a_failed_request() {
    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let globex = gw.issue("globex-app");
    let old_key = gw.app_key.clone();
    let (new_file, new_key) = key_file(&gw, "new.key");
    // Step 1: run on the new key with the old one as previous, before anything is re-sealed.
    assert_eq!(gw.stop(), Some(0));
    gw.app_key = new_key.clone();
    gw.serve_env = vec![("ERPGATE_APP_KEY_PREVIOUS".into(), old_key.clone())];
    gw.spawn();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    assert_eq!(gw.get_as(&globex, &format!("{V}/invoices")).status, 200);

    // Step 2: rotate (with the old key, as the database still expects) under load.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let load = {
        let (stop, statuses) = (stop.clone(), statuses.clone());
        let raw = request(
            "GET",
            &format!("{V}/invoices?limit=1"),
            &[("Authorization", &globex.basic())],
            None,
        );
        let addr = gw.addr;
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let s = support::http::raw(addr, &raw)
                    .map(|r| r.status)
                    .unwrap_or(0);
                statuses.lock().expect("lock").push(s);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["key", "rotate", "--new-key-file"])
        .arg(&new_file)
        .env("ERPGATE_CONFIG", &gw.config)
        .env("ERPGATE_APP_KEY", &old_key)
        .env_remove("ERPGATE_APP_KEY_PREVIOUS")
        .output()
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The store poll (100 ms in tests) brings the re-sealed secrets to the running gateway.
    std::thread::sleep(std::time::Duration::from_millis(600));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().expect("load");
    let statuses = statuses.lock().expect("lock").clone();
    assert!(statuses.len() > 20, "load ran ({})", statuses.len());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every request succeeded across the rotation: {statuses:?}"
    );
    // Step 3: the previous key is no longer needed.
    assert_eq!(gw.stop(), Some(0));
    gw.serve_env.clear();
    gw.spawn();
    assert_eq!(gw.get_as(&cred, &format!("{V}/invoices")).status, 200);
    assert_eq!(gw.get_as(&globex, &format!("{V}/invoices")).status, 200);
    let verify = gw.ok(&["audit", "verify"]);
    assert!(verify.starts_with("audit chain intact"), "{verify}");
    // The previous key equal to the current one is refused.
    let same = gw.cli_env(
        &["audit", "verify"],
        &[("ERPGATE_APP_KEY_PREVIOUS", &new_key)],
    );
    assert_eq!(same.status.code(), Some(1));
}
