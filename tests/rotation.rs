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

/// Kills a process when the test ends, whatever happens.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_documented_rotation_steps_under_load_fail_no_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let mut gw = Gateway::start(Options::default());
    let cred = gw.issue("ap-sync");
    let globex = gw.issue("globex-app");
    let old_key = gw.app_key.clone();
    let (new_file, new_key) = key_file(&gw, "new.key");

    // Load through the whole procedure: both tenants (a sealed password and a sealed API
    // key), a new connection per request, so both processes take connections while both run.
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(Vec::<(u16, String)>::new()));
    let load: Vec<_> = [cred.basic(), globex.basic()]
        .into_iter()
        .map(|auth| {
            let (stop, statuses) = (stop.clone(), statuses.clone());
            let raw = request(
                "GET",
                &format!("{V}/invoices?limit=1"),
                &[("Authorization", &auth)],
                None,
            );
            let addr = gw.addr;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = support::http::raw(addr, &raw)
                        .map(|r| (r.status, r.text()))
                        .unwrap_or_else(|e| (0, e.to_string()));
                    statuses.lock().expect("lock").push(r);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // Step 1, as the README has it: the new process on the new key with the old one as
    // previous, `serve --upgrade`, then SIGQUIT to the old one.
    let log = std::fs::File::create(gw.dir.path().join("new.log")).expect("log");
    let new = std::process::Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["serve", "--upgrade", "--config"])
        .arg(&gw.config)
        .env("ERPGATE_APP_KEY", &new_key)
        .env("ERPGATE_APP_KEY_PREVIOUS", &old_key)
        .env("ERPGATE_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .spawn()
        .expect("spawn the new process");
    let mut new = Reaper(new);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        new.0.try_wait().expect("wait").is_none(),
        "the new process waits"
    );
    gw.signal("-QUIT");
    // Step 2, at once: the old process still accepts for seconds after SIGQUIT (as in real
    // life), so it sees the re-sealed rows at its next store poll while it serves.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_erpgate"))
        .args(["key", "rotate", "--new-key-file"])
        .arg(&new_file)
        .env("ERPGATE_CONFIG", &gw.config)
        .env("ERPGATE_APP_KEY", &old_key)
        .env_remove("ERPGATE_APP_KEY_PREVIOUS")
        .output()
        .expect("rotate");
    let rotated = Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served_at_rotation = statuses.lock().expect("lock").len();
    assert_eq!(gw.wait_exit("-QUIT", Duration::from_secs(30)), Some(0));
    let old_left = Instant::now();
    assert!(
        old_left > rotated + Duration::from_secs(1),
        "the old process kept running well after the rotation ({:?})",
        old_left - rotated
    );
    // The new process alone for a while, then stop the load.
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().expect("load");
    }
    let statuses = statuses.lock().expect("lock").clone();
    assert!(
        statuses.len() > served_at_rotation + 100,
        "load ran after the rotation ({served_at_rotation} → {})",
        statuses.len()
    );
    let failed: Vec<_> = statuses.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the rotation: {:?}",
        failed.len(),
        statuses.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    assert!(gw
        .log_text()
        .contains("keeps serving the value it opened before"));

    // Step 3: the previous key is no longer needed.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &new.0.id().to_string()])
        .status();
    let _ = new.0.wait();
    gw.app_key = new_key.clone();
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
