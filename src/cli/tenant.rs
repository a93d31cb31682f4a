//! `erpgate tenant gen-key|import-key|show-key`: the tenant's certificate pair for outbound
//! JWT assertions. The private key is stored sealed (AES-256-GCM under the tenant's derived
//! key, bound to tenant and upstream host); the certificate in clear, for Oracle's Security
//! Console.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{CliError, CliResult, ConfigArg};
use crate::jwt::cert::{self, Certificate};
use crate::service::tenant::{self, KeyOrigin};
use crate::service::Operator;
use crate::snapshot::UpstreamAuth;
use crate::snapshot::{Snapshot, Tenant};

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
        /// The tenant, as named in the configuration.
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
        /// The tenant, as named in the configuration.
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
        /// The tenant, as named in the configuration.
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

/// Runs the command.
pub fn run(args: &TenantArgs) -> CliResult {
    let (snapshot, mut store) = super::config_and_store(&args.config.config)?;
    let tenant_of = |name: &str| {
        snapshot
            .tenant(name)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                super::failed(format_args!(
                    "tenant \"{name}\" is not in the configuration"
                ))
            })
    };
    match &args.action {
        TenantAction::ShowKey { tenant } => {
            let t = tenant_of(tenant)?;
            let Some(k) = store.get_tenant_key(tenant)? else {
                return Err(super::failed(format_args!(
                    "tenant {tenant} has no key; run `erpgate tenant gen-key --tenant {tenant}` or `import-key`"
                )));
            };
            let c = Certificate::from_der(&k.cert_der).map_err(|e| {
                super::failed(format_args!("stored certificate does not parse: {e}"))
            })?;
            print_registration(&t, &c);
            Ok(())
        }
        TenantAction::GenKey {
            tenant,
            common_name,
            days,
            force,
        } => {
            let t = tenant_of(tenant)?;
            let master = super::load_master(&snapshot)?;
            if !(1..=3650).contains(days) {
                return Err("--days must be 1..=3650".into());
            }
            let cn = common_name
                .clone()
                .or_else(|| issuer(&t).map(str::to_string))
                .unwrap_or_else(|| format!("erpgate-{tenant}"));
            let (key, cert) = cert::generate(&cn, *days)?;
            let mut op = super::operator(&mut store, &master);
            install(
                &mut op,
                &snapshot,
                &t,
                &key,
                &cert,
                *force,
                KeyOrigin::Generated,
            )
        }
        TenantAction::ImportKey {
            tenant,
            key,
            cert,
            force,
        } => {
            let t = tenant_of(tenant)?;
            let master = super::load_master(&snapshot)?;
            let (key_der, c) = read_pair(key, cert)?;
            let mut op = super::operator(&mut store, &master);
            install(
                &mut op,
                &snapshot,
                &t,
                &key_der,
                &c,
                *force,
                KeyOrigin::Imported,
            )
        }
    }
}

/// The private key (PEM, any of the usual forms) and the one certificate to import.
fn read_pair(key: &Path, cert: &Path) -> Result<(Zeroizing<Vec<u8>>, Certificate), CliError> {
    let key_pem = std::fs::read(key)
        .map(Zeroizing::new)
        .map_err(|e| super::failed(format_args!("cannot read {}: {e}", key.display())))?;
    let key_der = cert::private_key_der_from_pem(&key_pem)
        .map_err(|e| super::failed(format_args!("{}: {e}", key.display())))?;
    let cert_pem = std::fs::read(cert)
        .map_err(|e| super::failed(format_args!("cannot read {}: {e}", cert.display())))?;
    match Certificate::from_pem_all(&cert_pem) {
        Ok(mut list) if list.len() == 1 => Ok((key_der, list.remove(0))),
        Ok(_) => Err(super::failed(format_args!(
            "{}: holds several certificates; give the tenant's own only",
            cert.display()
        ))),
        Err(e) => Err(super::failed(format_args!("{}: {e}", cert.display()))),
    }
}

/// Stores the pair (audited) and prints what to register in Oracle.
fn install(
    op: &mut Operator<'_>,
    snapshot: &Snapshot,
    t: &Tenant,
    key_der: &[u8],
    cert: &Certificate,
    force: bool,
    origin: KeyOrigin,
) -> CliResult {
    tenant::install_key(op, snapshot, &t.name, key_der, cert, force, origin, |()| {
        print_registration(t, cert);
    })?;
    Ok(())
}
