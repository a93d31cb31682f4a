//! The chain benches' fixture, shared with the callgrind instruction counter: a temporary
//! store and configuration with `ENDPOINTS` × 2 endpoints and 50 policies, one issued
//! credential (cheap argon2 parameters: the warm path is what is measured), a sealed upstream
//! secret and a running audit writer.
#![allow(dead_code)]

use std::path::Path;

use erpgate::app::App;
use erpgate::auth::AuthSettings;
use erpgate::crypto::{MasterKey, PasswordHasher, PasswordParams, SealContext};
use erpgate::directory::DirectoryView;
use erpgate::snapshot::Snapshot;
use erpgate::store::Store;

pub const ENDPOINTS: usize = 50;

pub fn config() -> String {
    config_with(ENDPOINTS)
}

/// A configuration with `resources` × 2 endpoints (collection and item each).
pub fn config_with(resources: usize) -> String {
    let mut s = String::from(
        "[gateway]\nlisten = \"127.0.0.1:1\"\ndatabase = \"bench.db\"\ndangerous_allow_insecure_upstream = true\n\
         [schedule]\ntimezone = \"Asia/Karachi\"\n[[schedule.window]]\ndays = [\"daily\"]\nstart = \"00:00\"\nend = \"24:00\"\n\
         [tenants.acme]\nupstream = \"http://127.0.0.1:9\"\n[tenants.acme.upstream_auth]\nmode = \"basic\"\nusername = \"FIN_INTEGRATION\"\nsecret = \"pw\"\n",
    );
    for i in 0..resources {
        s.push_str(&format!(
            "[[endpoint]]\nname = \"r{i}.collection\"\npath = \"/fscmRestApi/resources/{{version}}/resource{i}\"\nmethods = [\"GET\", \"POST\"]\n\
             [[endpoint]]\nname = \"r{i}.item\"\npath = \"/fscmRestApi/resources/{{version}}/resource{i}/{{id}}\"\nmethods = [\"GET\", \"PATCH\"]\n"
        ));
    }
    for i in 0..50 {
        s.push_str(&format!(
            "[[policy]]\nname = \"p{i}\"\nsubjects = [\"account:acct{i}\"]\n  [[policy.rule]]\n  endpoints = [\"r{i}.*\", \"r{}.item\"]\n  methods = [\"GET\"]\n",
            (i + 1) % resources
        ));
    }
    s
}

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub app: App,
    pub basic: String,
    pub api_key: String,
    pub credential_id: String,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("erpgate.toml");
    std::fs::write(&cfg, config()).expect("config");
    let snapshot = Snapshot::load(&cfg, 1).expect("snapshot");
    let (master, _) = MasterKey::generate().expect("key");
    let mut store = Store::connect(&snapshot.gateway.database).expect("store");
    store.migrate().expect("migrate");
    for i in 0..50 {
        store
            .create_account(&format!("acct{i}"), "acme", None, None)
            .expect("account");
    }
    let hasher = PasswordHasher::new(PasswordParams {
        m_kib: 1024,
        t: 1,
        p: 1,
    });
    let issued = erpgate::cli::credential::issue(&store, &master, &hasher, "acct7").expect("issue");
    let sealed = master
        .tenant_cipher("acme")
        .seal(
            &SealContext {
                tenant: "acme",
                name: "pw",
                upstream_host: "127.0.0.1",
            },
            b"upstream-pw",
        )
        .expect("seal");
    store.put_secret("acme", "pw", &sealed).expect("secret");
    let view = DirectoryView::build(store.load_directory().expect("dir"));
    let (sink, _writer) = erpgate::audit::writer::start(
        snapshot.gateway.database.clone(),
        &snapshot.gateway.node_id,
        master.audit_key(),
        1024,
        snapshot.gateway.audit_linger,
    )
    .expect("audit writer");
    let app = App::new(
        Path::new(&cfg),
        snapshot,
        master,
        view,
        hasher,
        &AuthSettings::default(),
        sink,
    )
    .expect("app");
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            issued.username,
            issued.password.expose()
        ))
    );
    Fixture {
        _dir: dir,
        app,
        basic,
        api_key: issued.api_key.expose().clone(),
        credential_id: issued.id.clone(),
    }
}
