//! Randomness from the operating system, and constant-time comparison.

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use super::{CryptoError, SecretString};

/// `N` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CryptoError::Random)?;
    Ok(b)
}

fn random_vec(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut b = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| CryptoError::Random)?;
    Ok(b)
}

/// A secret token of `nbytes` random bytes, base64url without padding.
pub fn random_token(nbytes: usize) -> Result<SecretString, CryptoError> {
    let mut b = random_vec(nbytes)?;
    let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
    zeroize::Zeroize::zeroize(&mut b);
    Ok(SecretString::new(s))
}

/// A public identifier: `prefix` + `nbytes` random bytes in lowercase hex.
pub fn random_id(prefix: &str, nbytes: usize) -> Result<String, CryptoError> {
    Ok(format!("{prefix}{}", hex::encode(random_vec(nbytes)?)))
}

/// Constant-time equality (different lengths compare unequal).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_ids_are_random_and_well_formed() {
        let a = random_token(32).expect("token");
        let b = random_token(32).expect("token");
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        let id = random_id("cred_", 8).expect("id");
        assert!(id.starts_with("cred_") && id.len() == 21);
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
