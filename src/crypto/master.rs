//! The master key and everything derived from it (HKDF-SHA256, one label per use).
//!
//! Two roots: the master key itself (the operator's `ERPGATE_APP_KEY`) derives the per-tenant
//! AES-GCM keys that seal secrets; the *hash root* derives the HMAC keys of stored credential
//! hashes and the audit chain. Until the first rotation the hash root is the master key; a
//! rotation stores it wrapped (AES-256-GCM) under the new master key, so every stored hash and
//! the chain stay valid while everything sealed is re-encrypted (`erpgate key rotate`).

use std::path::Path;

use base64::Engine as _;
use ring::hkdf;
use zeroize::Zeroizing;

use super::{CryptoError, KeyedHasher, SecretString, TenantCipher};

const SALT: &[u8] = b"erpgate/v1";

/// The 32-byte master key. Zeroised on drop; `Debug` is redacted.
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    /// The hash root once rotated away from the master key (None: the master key itself).
    hash_root: Option<Zeroizing<[u8; 32]>>,
    /// The key being rotated away from (`ERPGATE_APP_KEY_PREVIOUS`): opens what is still
    /// sealed under it; never seals.
    previous: Option<Zeroizing<[u8; 32]>>,
}

/// The store row name the wrapped hash root is kept under.
pub const HASH_ROOT: &str = "hash_root";

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

/// Why the master key could not be loaded. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// Neither source is configured.
    #[error("no master key: ERPGATE_APP_KEY is not set and no gateway.app_key_file is configured; create one with `erpgate keygen`")]
    Missing,
    /// The environment variable is malformed.
    #[error("ERPGATE_APP_KEY is invalid: {0} (expected base64 of 32 random bytes, as printed by `erpgate keygen`)")]
    Env(CryptoError),
    /// The key file cannot be read.
    #[error("key file {path}: cannot read: {err}")]
    FileRead {
        /// The file.
        path: String,
        /// The I/O error.
        err: std::io::Error,
    },
    /// The key file is readable by others.
    #[error(
        "key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    FileMode {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file's content is malformed.
    #[error("key file {path} is invalid: {err} (expected base64 of 32 random bytes, as printed by `erpgate keygen`)")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        err: CryptoError,
    },
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl MasterKey {
    /// Parses base64 (standard alphabet, padding optional, surrounding whitespace ignored).
    pub fn from_base64(s: &str) -> Result<MasterKey, CryptoError> {
        let s = s.trim();
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .map_err(|_| CryptoError::InvalidKeyEncoding)?,
        );
        if decoded.len() != 32 {
            return Err(CryptoError::InvalidKeyLength(decoded.len()));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey {
            bytes,
            hash_root: None,
            previous: None,
        })
    }

    /// A fresh random key and its base64 form.
    pub fn generate() -> Result<(MasterKey, SecretString), CryptoError> {
        let raw = Zeroizing::new(super::random_bytes::<32>()?);
        let b64 = SecretString::new(base64::engine::general_purpose::STANDARD.encode(*raw));
        Ok((
            MasterKey {
                bytes: raw,
                hash_root: None,
                previous: None,
            },
            b64,
        ))
    }

    /// Loads the key: `env_value` (ERPGATE_APP_KEY) wins over `key_file`.
    pub fn load(
        env_value: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<MasterKey, KeyLoadError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return MasterKey::from_base64(v).map_err(KeyLoadError::Env);
        }
        let path = key_file.ok_or(KeyLoadError::Missing)?;
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|err| KeyLoadError::FileRead {
            path: shown.clone(),
            err,
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyLoadError::FileMode { path: shown, mode });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
            KeyLoadError::FileRead {
                path: shown.clone(),
                err,
            }
        })?);
        MasterKey::from_base64(&text).map_err(|err| KeyLoadError::File { path: shown, err })
    }

    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        derive_from(&self.bytes, label)
    }

    /// Derivations of the hash root (stored hashes, the audit chain).
    fn derive_hashing(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        derive_from(self.hash_root.as_ref().unwrap_or(&self.bytes), label)
    }

    fn wrap_cipher(&self) -> TenantCipher {
        TenantCipher::from_raw(&self.derive(b"hash-root-wrap"))
    }

    /// Adopts the hash root stored wrapped under this key. Fails when this is not the key
    /// the database was last rotated to.
    pub fn with_wrapped_hash_root(mut self, wrapped: &[u8]) -> Result<MasterKey, CryptoError> {
        let plain = self.wrap_cipher().open(&WRAP_CONTEXT, wrapped)?;
        if plain.expose().len() != 32 {
            return Err(CryptoError::Decrypt);
        }
        // Copied straight into its zeroising home: no plain stack copy is left behind.
        let mut root = Zeroizing::new([0u8; 32]);
        root.copy_from_slice(plain.expose());
        self.hash_root = Some(root);
        Ok(self)
    }

    /// Runs with `previous` as the key being rotated away from: sealed values open under
    /// either key, and the hash root is `previous`'s (which the caller has adopted into
    /// `previous` from the store, if a past rotation stored one).
    pub fn with_previous(mut self, previous: &MasterKey) -> MasterKey {
        self.previous = Some(previous.bytes.clone());
        if self.hash_root.is_none() {
            self.hash_root = Some(
                previous
                    .hash_root
                    .clone()
                    .unwrap_or_else(|| previous.bytes.clone()),
            );
        }
        self
    }

    /// This key's hash root, wrapped under `next` (for a rotation to `next`).
    pub fn wrap_hash_root_for(&self, next: &MasterKey) -> Result<Vec<u8>, CryptoError> {
        let root = self.hash_root.as_ref().unwrap_or(&self.bytes);
        next.wrap_cipher().seal(&WRAP_CONTEXT, &root[..])
    }
}

const WRAP_CONTEXT: super::SealContext<'static> = super::SealContext {
    tenant: "",
    name: HASH_ROOT,
    upstream_host: "",
};

fn derive_from(key: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(&key[..]);
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [label];
    // expand/fill only fail for lengths above 255 * 32; 32 is always valid.
    if let Ok(okm) = prk.expand(&info, Len(32)) {
        let _ = okm.fill(&mut out[..]);
    }
    out
}

impl MasterKey {
    /// The AES-256-GCM key of `tenant` (from the master key: re-sealed on rotation).
    pub fn tenant_cipher(&self, tenant: &str) -> TenantCipher {
        let mut label = b"tenant-aead:".to_vec();
        label.extend_from_slice(tenant.as_bytes());
        match &self.previous {
            None => TenantCipher::from_raw(&self.derive(&label)),
            Some(p) => TenantCipher::with_previous(&self.derive(&label), &derive_from(p, &label)),
        }
    }

    /// The HMAC key for `purpose`.
    pub fn keyed_hasher(&self, purpose: super::HashPurpose) -> KeyedHasher {
        let mut label = b"keyed-hash:".to_vec();
        label.extend_from_slice(purpose.label().as_bytes());
        KeyedHasher::from_raw(&self.derive_hashing(&label)[..])
    }

    /// The AES-256-GCM key of portal users' TOTP secrets. Derived from the hash root, which
    /// the master key wraps and a rotation carries over: the secrets need no re-sealing.
    pub fn portal_cipher(&self) -> TenantCipher {
        TenantCipher::from_raw(&self.derive_hashing(b"portal-totp-aead"))
    }

    /// The audit chain key (from the hash root: unchanged by rotation).
    pub fn audit_key(&self) -> KeyedHasher {
        KeyedHasher::from_raw(&self.derive_hashing(b"audit-chain")[..])
    }

    /// A public 8-hex-digit fingerprint of this key.
    pub fn key_id(&self) -> String {
        let h = KeyedHasher::from_raw(&self.derive(b"key-id")[..]).hash(b"erpgate");
        hex::encode(&h[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HashPurpose;

    #[test]
    fn rfc5869_case_1_through_ring() {
        // Checks our use of ring's HKDF (extract + expand) against the RFC's vector.
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").expect("hex");
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").expect("hex");
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(&ikm);
        let mut okm = [0u8; 42];
        prk.expand(&[&info], Len(42))
            .expect("expand")
            .fill(&mut okm)
            .expect("fill");
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn derivations_are_deterministic_and_separated() {
        let (k, b64) = MasterKey::generate().expect("gen");
        let k2 = MasterKey::from_base64(b64.expose()).expect("parse");
        assert_eq!(k.key_id(), k2.key_id());
        assert_eq!(
            k.keyed_hasher(HashPurpose::ApiKey).hash(b"x"),
            k2.keyed_hasher(HashPurpose::ApiKey).hash(b"x")
        );
        assert_ne!(
            k.keyed_hasher(HashPurpose::ApiKey).hash(b"x"),
            k.keyed_hasher(HashPurpose::GatewayToken).hash(b"x")
        );
        assert_ne!(
            k.audit_key().hash(b"x"),
            k.keyed_hasher(HashPurpose::CredentialCache).hash(b"x")
        );
        let (other, _) = MasterKey::generate().expect("gen");
        assert_ne!(k.key_id(), other.key_id());
        assert_eq!(format!("{k:?}"), "MasterKey(redacted)");
        assert!(!format!("{k:?}").contains(b64.expose().as_str()));
    }

    #[test]
    fn parse_errors_are_precise() {
        assert_eq!(
            MasterKey::from_base64("not base64 !!").err(),
            Some(CryptoError::InvalidKeyEncoding)
        );
        assert_eq!(
            MasterKey::from_base64("AAAA").err(),
            Some(CryptoError::InvalidKeyLength(3))
        );
        let (_, b64) = MasterKey::generate().expect("gen");
        let unpadded = b64.expose().trim_end_matches('=').to_string();
        assert!(MasterKey::from_base64(&format!("  {unpadded}\n")).is_ok());
    }

    #[test]
    fn load_prefers_env_and_checks_file_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        assert!(matches!(
            MasterKey::load(None, None),
            Err(KeyLoadError::Missing)
        ));
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("app.key");
        let (k, b64) = MasterKey::generate().expect("gen");
        std::fs::write(&p, b64.expose()).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = MasterKey::load(None, Some(&p)).expect_err("mode");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            MasterKey::load(None, Some(&p)).expect("load").key_id(),
            k.key_id()
        );
        let (k2, b2) = MasterKey::generate().expect("gen");
        assert_eq!(
            MasterKey::load(Some(b2.expose()), Some(&p))
                .expect("env")
                .key_id(),
            k2.key_id()
        );
        let e = MasterKey::load(Some("short"), Some(&p)).expect_err("bad env");
        assert!(e.to_string().contains("ERPGATE_APP_KEY"), "{e}");
        assert!(!e.to_string().contains(b64.expose().as_str()));
    }
}
