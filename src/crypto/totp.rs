//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 30-second
//! steps, six digits — what every authenticator app speaks. SHA-1 is the algorithm those apps
//! assume; as an HMAC over a 160-bit random secret it is not the weak point.

use ring::hmac;

use super::{CryptoError, SecretBytes};

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from (clock drift, a code typed as it changed).
pub const SKEW_STEPS: i64 = 1;

/// A fresh 160-bit secret.
pub fn generate_secret() -> Result<SecretBytes, CryptoError> {
    Ok(SecretBytes::new(super::random_bytes::<20>()?.to_vec()))
}

/// HOTP value of `secret` at counter `step` (RFC 4226 §5.3).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    bin % 10u32.pow(DIGITS)
}

/// The step of Unix time `unix_secs`.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step `code` belongs to when it is the code of a step within [`SKEW_STEPS`] of
/// `unix_secs`; every candidate is compared, in constant time. Anything but six ASCII digits
/// (spaces are ignored) is no code.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let digits: String = code.chars().filter(|c| *c != ' ').collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let expected = format!("{:06}", code_at(secret, step));
        if super::ct_eq(expected.as_bytes(), digits.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app scans: issuer and account percent-encoded.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
    let account = utf8_percent_encode(account, NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B (SHA-1, 8 digits there; the last six here).
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code_at(secret, step_of(t)), eight % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn verify_takes_adjacent_steps_only_and_digits_only() {
        let secret = b"12345678901234567890";
        let t = 1_111_111_111;
        let now = format!("{:06}", code_at(secret, step_of(t)));
        assert_eq!(verify(secret, &now, t), Some(step_of(t)));
        let spaced = format!("{} {}", &now[..3], &now[3..]);
        assert_eq!(verify(secret, &spaced, t), Some(step_of(t)));
        let prev = format!("{:06}", code_at(secret, step_of(t) - 1));
        assert_eq!(verify(secret, &prev, t), Some(step_of(t) - 1));
        let old = format!("{:06}", code_at(secret, step_of(t) - 3));
        assert_eq!(verify(secret, &old, t), None);
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "+12345"] {
            assert_eq!(verify(secret, bad, t), None, "{bad}");
        }
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let uri = otpauth_uri("erpgate", "ops lead", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/erpgate:ops%20lead?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=erpgate&algorithm=SHA1&digits=6&period=30"
        );
    }
}
