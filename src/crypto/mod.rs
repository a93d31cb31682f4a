//! Every key and every secret type in erpgate.
//!
//! Key hierarchy: one master key (`ERPGATE_APP_KEY` or a key file, 32 random bytes) → HKDF-SHA256
//! (salt `erpgate/v1`) with a label per use:
//! - `tenant-aead:<tenant>` → the tenant's AES-256-GCM key for upstream secrets ([`TenantCipher`]);
//! - `keyed-hash:<purpose>` → HMAC-SHA256 keys ([`KeyedHasher`]), one per [`HashPurpose`]:
//!   issued x-api-keys (`api-key`), gateway tokens (`gateway-token`), the verified-credential
//!   and verified-token caches (`cache`, `inbound-jwt`) and admin tokens (`admin-token`);
//!   and portal sessions and recovery codes (`portal-session`, `portal-recovery`);
//! - `audit-chain` → the key of the audit trail's hash chain;
//! - `portal-totp-aead` (from the hash root, like the keyed hashes) → the AES-256-GCM key of
//!   portal users' TOTP secrets ([`MasterKey::portal_cipher`]);
//! - `key-id` → a public fingerprint ([`MasterKey::key_id`]) to detect a wrong key early.
//!
//! Passwords are argon2id ([`PasswordHasher`]). Plaintext secrets live in [`Secret`], which
//! redacts itself in `Debug`/`Display` and zeroises on drop.

mod aead;
mod api_key;
mod keyed_hash;
mod labels;
mod master;
mod password;
pub mod pkcs11;
mod random;
mod secret;
pub mod totp;

pub use aead::{SealContext, TenantCipher};
pub use api_key::{generate_api_key, parse_api_key, ParsedApiKey, API_KEY_PREFIX};
pub use keyed_hash::KeyedHasher;
pub use labels::{HashPurpose, TENANT_KEY_SEAL_NAME, TOTP_SEAL_NAME};
pub use master::{KeyLoadError, MasterKey, HASH_ROOT};
pub use password::{PasswordHasher, PasswordParams};
pub use random::{ct_eq, random_bytes, random_id, random_token};
pub use secret::{Secret, SecretBytes, SecretString};

/// Cryptographic failures. Messages never carry key or plaintext material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// A key was not valid base64.
    #[error("key is not valid base64")]
    InvalidKeyEncoding,
    /// A key had the wrong length.
    #[error("key decodes to {0} bytes, expected 32")]
    InvalidKeyLength(usize),
    /// Sealed data did not authenticate.
    #[error("ciphertext rejected: tampered, truncated, or sealed for another context")]
    Decrypt,
    /// Sealed data has an unknown format version.
    #[error("ciphertext has an unsupported format version")]
    UnsupportedVersion,
    /// The operating system's random generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Password hashing failed.
    #[error("password hashing failed")]
    PasswordHash,
    /// Encryption failed.
    #[error("encryption failed")]
    Encrypt,
}
