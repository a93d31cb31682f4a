use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::auth::AuthSettings;
use crate::crypto::PasswordHasher;
use crate::store::Store;

pub(crate) const CONFIG: &str = r#"
[gateway]
listen = "127.0.0.1:1"
database = "app.db"
dangerous_allow_insecure_upstream = true
token_max_failures = 4

[schedule]
timezone = "UTC"
[[schedule.window]]
days = ["daily"]
start = "00:00"
end = "24:00"

[tenants.acme]
upstream = "http://127.0.0.1:9"
[tenants.acme.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "pw"

[[endpoint]]
name = "invoices.collection"
path = "/fscmRestApi/resources/{version}/invoices"
methods = ["GET"]

[[policy]]
name = "metered"
subjects = ["account:metered"]
rate_limit = { per = "credential", requests_per_second = 1, burst = 5 }
  [[policy.rule]]
  endpoints = ["invoices.collection"]
  methods = ["GET"]
"#;

/// An `App` over `config` in a temporary directory (no listener, no poller).
pub(crate) fn app(config: &str) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("erpgate.toml");
    std::fs::write(&path, config).expect("config");
    let snapshot = Snapshot::load(&path, 1).expect("snapshot");
    let mut store = Store::connect(&snapshot.gateway.database).expect("store");
    store.migrate().expect("migrate");
    let (master, _) = MasterKey::generate().expect("key");
    let (sink, _writer) = crate::audit::writer::start(
        snapshot.gateway.database.clone(),
        &snapshot.gateway.node_id,
        master.audit_key(),
        64,
        snapshot.gateway.audit_linger,
    )
    .expect("audit writer");
    let app = App::new(
        &path,
        snapshot,
        master,
        DirectoryView::build(crate::store::Directory::default()),
        PasswordHasher::default(),
        &AuthSettings::default(),
        sink,
    )
    .expect("app");
    (dir, app)
}

#[test]
fn concurrent_reloads_publish_every_version_once_and_in_order() {
    const THREADS: u64 = 4;
    const EACH: u64 = 25;
    let (_dir, app) = app(CONFIG);
    let app = Arc::new(app);
    // A reader watches every snapshot published: a new one must carry a higher version than
    // the one it replaced (two snapshots with one version, or a step back, fail the test).
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = app.compiled.load_full();
            let mut problems = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let now = app.compiled.load_full();
                if !Arc::ptr_eq(&now, &seen) {
                    if now.snapshot.version <= seen.snapshot.version {
                        problems.push((seen.snapshot.version, now.snapshot.version));
                    }
                    seen = now;
                }
                std::thread::yield_now();
            }
            problems
        })
    };
    let reloaders: Vec<_> = (0..THREADS)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|_| app.reload().expect("the configuration is valid"))
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut versions: Vec<u64> = reloaders
        .into_iter()
        .flat_map(|r| r.join().expect("reloader"))
        .collect();
    done.store(true, Ordering::Relaxed);
    let problems = watcher.join().expect("watcher");
    versions.sort_unstable();
    let expected: Vec<u64> = (2..=1 + THREADS * EACH).collect();
    assert_eq!(
        versions, expected,
        "every reload returned its own version, with no gap"
    );
    assert_eq!(
        app.compiled.load().snapshot.version,
        1 + THREADS * EACH,
        "the last version published is the one serving"
    );
    assert!(
        problems.is_empty(),
        "a snapshot replaced one of the same or a newer version (old, new): {problems:?}"
    );
}

#[test]
fn a_reload_changes_the_lockout_settings_in_the_same_swap() {
    let (dir, app) = app(CONFIG);
    let before = app.compiled.load_full();
    assert_eq!(before.snapshot.gateway.token_lockout.max_failures, 4);
    let path = dir.path().join("erpgate.toml");
    std::fs::write(
        &path,
        CONFIG.replace("token_max_failures = 4", "token_max_failures = 2"),
    )
    .expect("config");
    assert_eq!(app.reload().expect("reload"), 2);
    let after = app.compiled.load_full();
    assert_eq!(after.snapshot.gateway.token_lockout.max_failures, 2);
    // A refused reload changes nothing, the version included.
    std::fs::write(&path, "[gateway]\nno_such_setting = 1\n").expect("config");
    assert!(app.reload().is_err());
    assert!(Arc::ptr_eq(&app.compiled.load_full(), &after));
    std::fs::write(&path, CONFIG).expect("config");
    assert_eq!(app.reload().expect("reload"), 3, "refusals use no version");
}
