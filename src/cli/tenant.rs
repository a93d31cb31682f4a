//! `erpgate tenant gen-key|import-key|show-key`: the tenant's certificate pair for outbound
//! JWT assertions. The private key is stored sealed (AES-256-GCM under the tenant's derived
//! key, bound to tenant and upstream host); the certificate in clear, for Oracle's Security
//! Console.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::{CliError, CliResult, ConfigArg};
use crate::crypto::pkcs11::{self, KeyRef};
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
        #[command(flatten)]
        token: TokenArgs,
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
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Print the tenant's certificate, thumbprint and issuer name.
    ShowKey {
        /// The tenant, as named in the configuration.
        #[arg(long)]
        tenant: String,
    },
}

/// Where the key goes: a PKCS#11 token (the tenant's `[tenants.T.pkcs11]` module and PIN)
/// instead of the database.
#[derive(Args, Debug)]
struct TokenArgs {
    /// Put the private key in the tenant's PKCS#11 token, non-extractable; the database keeps
    /// only where it is and the certificate.
    #[arg(long, requires_all = ["token_label", "key_label"])]
    pkcs11: bool,
    /// The token's label (with --pkcs11).
    #[arg(long, requires = "pkcs11")]
    token_label: Option<String>,
    /// The key's label in the token (with --pkcs11); must not be in use.
    #[arg(long, requires = "pkcs11")]
    key_label: Option<String>,
}

impl TokenArgs {
    /// The reference to the key in `t`'s token, when `--pkcs11` is given.
    fn key_ref(&self, t: &Tenant) -> Result<Option<KeyRef>, CliError> {
        if !self.pkcs11 {
            return Ok(None);
        }
        let access = t.pkcs11.as_ref().ok_or_else(|| {
            super::failed(format_args!(
                "--pkcs11: tenant {} has no [tenants.{}.pkcs11] (module and pin_file or pin_env) in the configuration",
                t.name, t.name
            ))
        })?;
        let (Some(token), Some(label)) = (&self.token_label, &self.key_label) else {
            return Err("--pkcs11 needs --token-label and --key-label".into());
        };
        if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
            return Err("--key-label: 1-64 printable characters".into());
        }
        Ok(Some(KeyRef {
            module: access.module.clone(),
            token: token.clone(),
            label: label.clone(),
        }))
    }
}

fn access(t: &Tenant) -> Result<&crate::crypto::pkcs11::TokenAccess, CliError> {
    t.pkcs11
        .as_ref()
        .ok_or_else(|| super::failed(format_args!("tenant {} has no pkcs11 settings", t.name)))
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
            match k.key_ref.as_deref().map(KeyRef::from_text) {
                None => println!("key:           sealed in the database"),
                Some(Ok(r)) => println!("key:           in a PKCS#11 token: {r} (non-extractable; the database holds only this reference)"),
                Some(Err(e)) => println!("key:           unreadable reference: {e}"),
            }
            Ok(())
        }
        TenantAction::GenKey {
            tenant,
            common_name,
            days,
            force,
            token,
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
            if let Some(r) = token.key_ref(&t)? {
                // Before anything goes into the token.
                tenant::ensure_replaceable(&store, tenant, *force)?;
                let pin = access(&t)?.pin.clone();
                let (n, e) = pkcs11::generate(&r, &pin).map_err(super::failed)?;
                let sign = |m: &[u8]| pkcs11::sign(&r, &pin, m).map_err(|e| e.to_string());
                let signer = cert::ExternalSigner {
                    public_der: pkcs11::rsa_public_der(&n, &e).map_err(super::failed)?,
                    sign: &sign,
                };
                let cert = cert::generate_for(&cn, *days, &signer)?;
                let mut op = super::operator(&mut store, &master);
                tenant::install_key_ref(
                    &mut op,
                    &snapshot,
                    &t.name,
                    &r,
                    &cert,
                    *force,
                    KeyOrigin::Generated,
                    |()| {
                        print_registration(&t, &cert);
                        println!(
                            "key:           generated in the PKCS#11 token: {r} (non-extractable)"
                        );
                    },
                )?;
                return Ok(());
            }
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
            token,
        } => {
            let t = tenant_of(tenant)?;
            let master = super::load_master(&snapshot)?;
            let (key_der, c) = read_pair(key, cert)?;
            if let Some(r) = token.key_ref(&t)? {
                // Checked against the certificate before anything goes into the token.
                crate::jwt::SigningKey::from_der(&key_der, c.clone()).map_err(super::failed)?;
                // Before anything goes into the token.
                tenant::ensure_replaceable(&store, tenant, *force)?;
                pkcs11::import(&r, &access(&t)?.pin, &key_der).map_err(super::failed)?;
                drop(key_der);
                let mut op = super::operator(&mut store, &master);
                tenant::install_key_ref(
                    &mut op,
                    &snapshot,
                    &t.name,
                    &r,
                    &c,
                    *force,
                    KeyOrigin::Imported,
                    |()| {
                        print_registration(&t, &c);
                        println!("key:           imported into the PKCS#11 token: {r} (non-extractable); delete the PEM file");
                    },
                )?;
                return Ok(());
            }
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
