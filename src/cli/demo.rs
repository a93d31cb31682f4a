//! `erpgate demo`: the whole product on one machine in one command.
//!
//! Starts the simulated Oracle on a loopback port, writes a demo configuration (tenant,
//! catalog, policy, an always-open schedule, a fresh master key) into a temporary directory,
//! migrates a fresh database, creates an account, issues a credential, stores the upstream
//! password sealed, prints curl lines to try, and serves until Ctrl-C.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::crypto::{MasterKey, PasswordHasher, SecretString};
use crate::service::credential::{self, Issued};
use crate::service::{admin_token, secret};
use crate::sim::{self, SimConfig};
use crate::store::Store;

/// Arguments of `erpgate demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port of the gateway's public listener on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of the admin API on 127.0.0.1.
    #[arg(long, default_value_t = 8081)]
    pub admin_port: u16,
    /// Directory for the demo's config and database (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

const ACCOUNT: &str = "demo-integration";
/// The Oracle user the demo's Page Integration link signs in.
const ORACLE_USER: &str = "casey.brown";
/// The demo's Fusion: the issuer of its user tokens, and their audience.
const FUSION_ISSUER: &str = "https://demo.fa.oraclecloud.example";
const FUSION_AUDIENCE: &str = "erpgate-demo";
/// The trusted-issuer name the demo tenant's assertions carry (registered in the simulator).
const ASSERTION_ISSUER: &str = "erpgate-demo";

/// Runs the demo; returns only on failure.
pub fn run(args: &DemoArgs) -> super::CliResult {
    // `_sim` keeps the simulated Oracle serving for as long as the gateway runs.
    let (config, master, _sim) = prepare(args)?;
    let snapshot = super::load_config(&config)?;
    super::serve::serve(
        &config,
        snapshot,
        master,
        PasswordHasher::default(),
        false,
        None,
    )
}

fn prepare(args: &DemoArgs) -> Result<(PathBuf, MasterKey, sim::SimHandle), CliError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("erpgate-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let upstream_password = crate::crypto::random_token(18).map_err(super::failed)?;
    // Oracle users in the browser: Fusion's key signs their launch tokens (the gateway
    // trusts its certificate); the tenant key signs the gateway's assertions (the simulated
    // Oracle trusts its certificate, as Security Console would).
    let (fusion_key, fusion_cert) = crate::jwt::cert::generate("demo-fusion", 30)?;
    let (tenant_key, tenant_cert) = crate::jwt::cert::generate(ASSERTION_ISSUER, 30)?;
    let sim_config = SimConfig {
        basic_users: vec![("FIN_INTEGRATION".into(), upstream_password.expose().clone())],
        jwt_issuers: vec![ASSERTION_ISSUER.into()],
        ..SimConfig::default()
    };
    if let Ok(mut certs) = sim_config.jwt_certs.write() {
        certs.push(tenant_cert.clone());
    }
    let launcher = sim_config.launcher.clone();
    let sim = sim::start_blocking(sim_config)
        .map_err(|e| format!("cannot start the simulated Oracle: {e}"))?;
    if let Ok(mut l) = launcher.write() {
        *l = Some(sim::launcher::PageLauncher {
            key: std::sync::Arc::new(crate::jwt::SigningKey::from_der(
                &fusion_key,
                fusion_cert.clone(),
            )?),
            issuer: FUSION_ISSUER.into(),
            audience: FUSION_AUDIENCE.into(),
            destination: format!("http://127.0.0.1:{}/launch/demo", args.port),
            parameter: "jwt".into(),
            lifetime: 600,
            roles: vec!["AP_CLERK".into()],
        });
    }
    write_private(&dir.join("fusion.pem"), fusion_cert.to_pem().as_bytes())?;

    // A directory from an earlier run keeps its key: its database is bound to it.
    let key_path = dir.join("app.key");
    let master = if key_path.exists() {
        MasterKey::load(None, Some(&key_path)).map_err(super::failed)?
    } else {
        let (master, key_b64) = MasterKey::generate().map_err(super::failed)?;
        write_private(&key_path, key_b64.expose().as_bytes())?;
        master
    };
    let config = dir.join("erpgate.toml");
    write_private(
        &config,
        demo_config(args.port, args.admin_port, &sim.base_url()).as_bytes(),
    )?;

    // Invalid would be a bug of ours, not the operator's configuration: exit 1, not 2.
    let snapshot = super::load_config(&config).map_err(super::failed)?;
    let mut store =
        Store::connect(&snapshot.gateway.database)?.with_node(&snapshot.gateway.node_id);
    store.migrate()?;
    let master = super::keycheck::adopt(master, None, &snapshot)?;
    let (issued, admin_token) = seed(&mut store, &snapshot, &master, &upstream_password)?;
    crate::service::tenant::store_key(
        &store,
        &snapshot,
        &master,
        "demo-users",
        &tenant_key,
        &tenant_cert,
        true,
    )?;
    let portal = seed_portal(&store)?;
    welcome(args, &dir, &config, &sim.base_url(), &issued, &admin_token);
    welcome_portal(args, &portal);
    println!(
        "Oracle users in the browser: open this link as Oracle user {ORACLE_USER} (Fusion's Page\n  Integration signs a token and sends you to the gateway, which shows invoices and\n  suppliers with tax ids masked):\n  {}/__sim/page-integration?user={ORACLE_USER}\n",
        sim.base_url()
    );
    Ok((config, master, sim))
}

/// The demo's account, credential set, upstream secret and owner admin token, recorded as
/// one `demo.setup` action.
fn seed(
    store: &mut Store,
    snapshot: &crate::snapshot::Snapshot,
    master: &MasterKey,
    upstream_password: &SecretString,
) -> Result<(Issued, SecretString), CliError> {
    if store.get_account(ACCOUNT)?.is_none() {
        store.create_account(ACCOUNT, "demo", None, None)?;
    }
    let issued = credential::mint(store, master, &PasswordHasher::default(), ACCOUNT)?;
    secret::seal_and_store(
        store,
        snapshot,
        master,
        "demo",
        "fin-integration-password",
        upstream_password.expose().as_bytes(),
    )?;
    let (admin_id, admin_token) = admin_token::create(
        store,
        &master.keyed_hasher(crate::crypto::HashPurpose::AdminToken),
        admin_token::Role::Owner,
        "demo-operator",
        "cli:demo",
    )?;
    super::audit_admin(
        store,
        master,
        "demo.setup",
        ACCOUNT,
        Some(
            serde_json::json!({"credential": issued.id, "admin_token": format!("eat_{admin_id}")}),
        ),
    )
    .map_err(|_| super::failed("cannot write the audit trail"))?;
    Ok((issued, admin_token))
}

/// The demo's portal users, each with a password shown once: an owner (who sets up a second
/// factor at the first login) and an auditor (no second factor: a look around without an
/// authenticator app). Made again at every start.
fn seed_portal(store: &Store) -> Result<Vec<(&'static str, &'static str, SecretString)>, CliError> {
    let hasher = PasswordHasher::default();
    let mut out = Vec::new();
    for (name, role) in [("demo-owner", "owner"), ("demo-auditor", "auditor")] {
        let password = crate::crypto::random_token(18).map_err(super::failed)?;
        let hash = hasher
            .hash(password.expose().as_bytes())
            .map_err(super::failed)?;
        if !store.reset_portal_user(name, &hash)? {
            store.insert_portal_user(name, role, &hash, "cli:demo")?;
        }
        out.push((name, role, password));
    }
    Ok(out)
}

fn welcome_portal(args: &DemoArgs, users: &[(&str, &str, SecretString)]) {
    println!(
        "Operator portal: http://127.0.0.1:{}/portal/ (passwords shown once)",
        args.admin_port
    );
    for (name, role, password) in users {
        println!("  {name} ({role}): {}", password.expose());
    }
    println!(
        "  The owner sets up a TOTP second factor at the first login (any authenticator app);"
    );
    println!("  the auditor needs none and can look around.\n");
}

/// What the demo runs and how to try it (the secrets are shown here once).
fn welcome(
    args: &DemoArgs,
    dir: &Path,
    config: &Path,
    sim_url: &str,
    issued: &Issued,
    admin_token: &SecretString,
) {
    let admin = format!("http://127.0.0.1:{}", args.admin_port);
    let gw = format!("http://127.0.0.1:{}", args.port);
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "erpgate".into());
    let cfg = config.display();
    println!(
        r#"
erpgate demo
============
simulated Oracle:  {sim}  (checks the Basic credential the gateway injects)
gateway:           {gw}
config & database: {dir}

Demo account "{ACCOUNT}", credential {id}:
  username  {user}
  password  {pass}
  x-api-key {key}

Try:
  # allowed: invoices are granted to the demo account
  curl -s -u '{user}:{pass}' '{gw}/fscmRestApi/resources/11.13.18.05/invoices?limit=2&onlyData=true'
  # redacted in flight: TaxpayerId keeps its last four, TaxRegistrationNumber is masked,
  # and the links point at the gateway
  curl -s -H 'x-api-key: {key}' '{gw}/fscmRestApi/resources/latest/suppliers/1001'
  # a filter on a masked field would read it back one guess at a time: refused (403 query.masked_field)
  curl -s -u '{user}:{pass}' '{gw}/fscmRestApi/resources/latest/suppliers?q=TaxRegistrationNumber%3D%27GB200000000%27&totalResults=true'
  # denied by policy (403 policy.denied): bank accounts are not granted
  curl -s -u '{user}:{pass}' '{gw}/fscmRestApi/resources/latest/externalBankAccounts'
  # refused: no credential (401), unknown endpoint (404), ambiguous path (400)
  curl -s '{gw}/fscmRestApi/resources/latest/invoices'
  curl -s -u '{user}:{pass}' '{gw}/fscmRestApi/resources/latest/secretStuff'
  curl -s --path-as-is -u '{user}:{pass}' '{gw}/fscmRestApi/resources/latest/invoices/..%2f..%2fadmin'
  # a short-lived bearer token for the same credential (then use it as Authorization: Bearer)
  curl -s -X POST -u '{user}:{pass}' '{gw}/gateway/token'
  # kill switch: flip it in another terminal, retry a call (503 killswitch.on), flip it back
  {exe} killswitch on  --config {cfg}
  {exe} killswitch off --config {cfg}

Admin API on {admin} (an owner token, shown once):
  admin-token {admin_token}
  curl -s -H 'Authorization: Bearer {admin_token}' '{admin}/status'
  curl -s -H 'Authorization: Bearer {admin_token}' '{admin}/audit?limit=5'
  curl -s -X PUT -H 'Authorization: Bearer {admin_token}' -d '{{"on":true}}' '{admin}/killswitch'

The demo schedule is open at all hours (a real deployment defaults to Mon-Fri 11:00-20:00
Asia/Karachi). Every response carries X-Request-Id. Ctrl-C stops the demo.
"#,
        sim = sim_url,
        dir = dir.display(),
        id = issued.id,
        user = issued.username,
        pass = issued.password.expose(),
        key = issued.api_key.expose(),
        admin_token = admin_token.expose(),
    );
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The demo configuration, pointing at the simulated Oracle.
pub fn demo_config(port: u16, admin_port: u16, sim_base_url: &str) -> String {
    format!(
        r#"# erpgate demo configuration (generated by `erpgate demo`).
[gateway]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin_port}"
# The operator portal, on the admin listener: http://127.0.0.1:{admin_port}/portal/
portal = true
database = "erpgate.db"
app_key_file = "app.key"
# The simulated Oracle is plain HTTP on loopback: allowed only because of this flag.
dangerous_allow_insecure_upstream = true
# Oracle's links[].href point here, not at the simulated Oracle.
public_base_url = "http://127.0.0.1:{port}"

# The demo is open at all hours so it works whenever you try it.
[schedule]
timezone = "Asia/Karachi"
[[schedule.window]]
days = ["daily"]
start = "00:00"
end = "24:00"

[tenants.demo]
upstream = "{sim_base_url}"
[tenants.demo.upstream_auth]
mode = "basic"
username = "FIN_INTEGRATION"
secret = "fin-integration-password"

# Response redaction for every demo response: tax ids keep their last four characters.
[[tenants.demo.redact]]
path = "**.TaxpayerId"
action = "last4"
[[tenants.demo.redact]]
path = "**.TaxRegistrationNumber"
action = "mask"

# Oracle users arriving from Fusion (Page Integration), reaching Oracle as themselves with
# an assertion signed by this tenant's key.
[tenants.demo-users]
upstream = "{sim_base_url}"
[tenants.demo-users.upstream_auth]
mode = "jwt"
issuer = "{ASSERTION_ISSUER}"
[tenants.demo-users.inbound_jwt]
issuers = ["{FUSION_ISSUER}"]
certificates = ["fusion.pem"]
audience = "{FUSION_AUDIENCE}"
roles_claim = "roles"
[tenants.demo-users.page_integration]
launch_path = "/launch/demo"
token_parameter = "jwt"
origin = "http://127.0.0.1:{port}"
session_max_minutes = 30
[[tenants.demo-users.redact]]
path = "**.TaxRegistrationNumber"
action = "mask"
[[tenants.demo-users.redact]]
path = "**.TaxpayerId"
action = "last4"

[[endpoint]]
name = "invoices.collection"
path = "/fscmRestApi/resources/{{version}}/invoices"
methods = ["GET", "HEAD", "POST"]
[[endpoint]]
name = "invoices.item"
path = "/fscmRestApi/resources/{{version}}/invoices/{{id}}"
methods = ["GET", "PATCH", "DELETE"]
[[endpoint]]
name = "suppliers.collection"
path = "/fscmRestApi/resources/{{version}}/suppliers"
methods = ["GET"]
[[endpoint]]
name = "suppliers.item"
path = "/fscmRestApi/resources/{{version}}/suppliers/{{id}}"
methods = ["GET"]
[[endpoint]]
name = "externalBankAccounts.collection"
path = "/fscmRestApi/resources/{{version}}/externalBankAccounts"
methods = ["GET"]

[[policy]]
name = "demo-read"
description = "The demo integration reads invoices and suppliers; bank accounts are not granted."
subjects = ["account:{ACCOUNT}"]
  [[policy.rule]]
  name = "read invoices and suppliers"
  endpoints = ["invoices.*", "suppliers.*"]
  methods = ["GET"]

[[policy]]
name = "casey-reads"
description = "Oracle user {ORACLE_USER}, in the browser: invoices and suppliers."
subjects = ["user:{ORACLE_USER}"]
  [[policy.rule]]
  name = "read invoices and suppliers"
  endpoints = ["invoices.*", "suppliers.*"]
  methods = ["GET"]
"#
    )
}
