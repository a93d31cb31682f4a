//! `erpgate tenant gen-key|import-key|show-key`: the tenant's certificate pair for outbound
//! JWT assertions. The private key is stored sealed (AES-256-GCM under the tenant's derived
//! key, bound to tenant and upstream host); the certificate in clear, for Oracle's Security
//! Console.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::ConfigArg;
use crate::jwt::cert::{self, Certificate, SigningKey};
use crate::snapshot::UpstreamAuth;
use crate::snapshot::{Snapshot, Tenant};
use crate::store::Store;
use crate::upstream::inject::seal_tenant_key;

/// Arguments of `erpgate tenant`.
#[derive(Args, Debug)]
pub struct TenantArgs {
    #[command(subcommand)]
    action: TenantAction,
    #[command(flatten)]
    config: ConfigArg,
}

// The command names (`gen-key`, `import-key`, `show-key`) are the interface.
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand, Debug)]
enum TenantAction {
    /// Generate an RSA-2048 key and a self-signed certificate for the tenant, store them, and
    /// print the certificate and the issuer name to register in Oracle.
    GenKey {
        /// Tenant.
        #[arg(long)]
        tenant: String,
        /// Certificate common name (default: the tenant's issuer name, else `erpgate-TENANT`).
        #[arg(long)]
        common_name: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// Replace an existing key (rotation: register the new certificate in Oracle first).
        #[arg(long)]
        force: bool,
    },
    /// Import an existing key pair (PEM; the key unencrypted, PKCS#8 or PKCS#1 RSA).
    ImportKey {
        /// Tenant.
        #[arg(long)]
        tenant: String,
        /// Private key PEM file.
        #[arg(long)]
        key: PathBuf,
        /// Certificate PEM file.
        #[arg(long)]
        cert: PathBuf,
        /// Replace an existing key.
        #[arg(long)]
        force: bool,
    },
    /// Print the tenant's certificate, thumbprint and issuer name.
    ShowKey {
        /// Tenant.
        #[arg(long)]
        tenant: String,
    },
}

fn issuer(t: &Tenant) -> Option<&str> {
    match &t.auth {
        UpstreamAuth::Jwt { issuer, .. } => Some(issuer),
        _ => None,
    }
}

fn print_registration(t: &Tenant, c: &Certificate) {
    print!("{}", c.to_pem());
    println!();
    println!("tenant:        {}", t.name);
    println!("subject:       {}", c.subject());
    println!("x5t (SHA-1):   {}", c.x5t());
    println!(
        "not after:     {}",
        chrono::DateTime::from_timestamp(c.not_after(), 0)
            .map_or_else(|| c.not_after().to_string(), |d| d.to_rfc3339())
    );
    match issuer(t) {
        Some(i) => println!("issuer name:   {i}   (register this certificate in Oracle Security Console > API Authentication as a trusted issuer with this name)"),
        None => println!("issuer name:   (tenant {} is not in upstream_auth mode \"jwt\"; set mode = \"jwt\" and issuer = \"...\" to use this key)", t.name),
    }
}

/// Seals and stores `key_der` with `cert` for `tenant`, after checking they belong together.
pub fn store_key(
    store: &Store,
    snapshot: &Snapshot,
    master: &crate::crypto::MasterKey,
    tenant: &str,
    key_der: &[u8],
    cert: &Certificate,
    force: bool,
) -> Result<(), String> {
    let (_, t) = snapshot
        .tenant(tenant)
        .ok_or_else(|| format!("tenant \"{tenant}\" is not in the configuration"))?;
    SigningKey::from_der(key_der, cert.clone())?;
    if !force
        && store
            .get_tenant_key(tenant)
            .map_err(|e| e.to_string())?
            .is_some()
    {
        return Err(format!("tenant {tenant} already has a key; pass --force to replace it (register the new certificate in Oracle first)"));
    }
    let sealed = seal_tenant_key(&master.tenant_cipher(tenant), t, key_der)?;
    store
        .put_tenant_key(tenant, &sealed, cert.der(), cert.x5t())
        .map_err(|e| e.to_string())
}

/// Runs the command.
pub fn run(args: &TenantArgs) -> i32 {
    let (snapshot, mut store) = match super::config_and_store(&args.config.config) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let tenant_of = |name: &str| {
        snapshot
            .tenant(name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                super::fail(format_args!(
                    "tenant \"{name}\" is not in the configuration"
                ))
            })
    };
    match &args.action {
        TenantAction::ShowKey { tenant } => {
            let t = match tenant_of(tenant) {
                Ok(t) => t,
                Err(c) => return c,
            };
            match store.get_tenant_key(tenant) {
                Ok(Some(k)) => match Certificate::from_der(&k.cert_der) {
                    Ok(c) => {
                        print_registration(&t, &c);
                        0
                    }
                    Err(e) => super::fail(format_args!("stored certificate does not parse: {e}")),
                },
                Ok(None) => super::fail(format_args!(
                    "tenant {tenant} has no key; run `erpgate tenant gen-key --tenant {tenant}` or `import-key`"
                )),
                Err(e) => super::fail(e),
            }
        }
        TenantAction::GenKey {
            tenant,
            common_name,
            days,
            force,
        } => {
            let t = match tenant_of(tenant) {
                Ok(t) => t,
                Err(c) => return c,
            };
            let master = match super::load_master(&snapshot) {
                Ok(m) => m,
                Err(c) => return c,
            };
            if !(1..=3650).contains(days) {
                return super::fail("--days must be 1..=3650");
            }
            let cn = common_name
                .clone()
                .or_else(|| issuer(&t).map(str::to_string))
                .unwrap_or_else(|| format!("erpgate-{tenant}"));
            let (key, cert) = match cert::generate(&cn, *days) {
                Ok(k) => k,
                Err(e) => return super::fail(e),
            };
            finish(
                &mut store,
                &snapshot,
                &master,
                &t,
                &key,
                &cert,
                *force,
                "tenant.gen_key",
            )
        }
        TenantAction::ImportKey {
            tenant,
            key,
            cert,
            force,
        } => {
            let t = match tenant_of(tenant) {
                Ok(t) => t,
                Err(c) => return c,
            };
            let master = match super::load_master(&snapshot) {
                Ok(m) => m,
                Err(c) => return c,
            };
            let key_pem = match std::fs::read(key) {
                Ok(b) => Zeroizing::new(b),
                Err(e) => return super::fail(format_args!("cannot read {}: {e}", key.display())),
            };
            let key_der = match cert::private_key_der_from_pem(&key_pem) {
                Ok(d) => d,
                Err(e) => return super::fail(format_args!("{}: {e}", key.display())),
            };
            let cert_pem = match std::fs::read(cert) {
                Ok(b) => b,
                Err(e) => return super::fail(format_args!("cannot read {}: {e}", cert.display())),
            };
            let c = match Certificate::from_pem_all(&cert_pem) {
                Ok(mut list) if list.len() == 1 => list.remove(0),
                Ok(_) => {
                    return super::fail(format_args!(
                        "{}: holds several certificates; give the tenant's own only",
                        cert.display()
                    ))
                }
                Err(e) => return super::fail(format_args!("{}: {e}", cert.display())),
            };
            finish(
                &mut store,
                &snapshot,
                &master,
                &t,
                &key_der,
                &c,
                *force,
                "tenant.import_key",
            )
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    store: &mut Store,
    snapshot: &Snapshot,
    master: &crate::crypto::MasterKey,
    t: &Tenant,
    key_der: &[u8],
    cert: &Certificate,
    force: bool,
    verb: &str,
) -> i32 {
    if let Err(e) = store_key(store, snapshot, master, &t.name, key_der, cert, force) {
        return super::fail(e);
    }
    print_registration(t, cert);
    let note = serde_json::json!({"x5t": cert.x5t(), "subject": cert.subject(), "replaced": force});
    match super::audit_admin(store, master, verb, &t.name, Some(note)) {
        Ok(()) => 0,
        Err(c) => c,
    }
}
