//! `Secret<T>`: a value that never prints and is wiped from memory when dropped.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value. `Debug` and `Display` print `Secret(redacted)`; the memory is zeroised on
/// drop. There is deliberately no `Serialize` and no way to move the value out.
#[derive(Clone)]
pub struct Secret<T: Zeroize>(T);

/// A secret string.
pub type SecretString = Secret<String>;
/// Secret bytes.
pub type SecretBytes = Secret<Vec<u8>>;

impl<T: Zeroize> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret value. Keep the borrow short.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl<T: Zeroize> std::fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = SecretString::new("hunter2-canary".into());
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
        assert_eq!(format!("{s}"), "Secret(redacted)");
        assert_eq!(s.expose(), "hunter2-canary");
        let c = s.clone();
        assert_eq!(c.expose(), s.expose());
    }
}
