//! What the caller presented: parsing of `Authorization` and `x-api-key` header values.
//!
//! Pure functions over header bytes; no lookups. Anything ambiguous (two credentials, two
//! `Authorization` headers, a scheme we do not take) is refused rather than guessed at.

use zeroize::Zeroizing;

/// A credential as presented by the client, before any lookup.
pub enum Presented<'a> {
    /// Nothing presented.
    Nothing,
    /// HTTP Basic: the decoded `username:password`, zeroised on drop; `colon` is the split.
    Basic {
        /// The decoded `user:pass` bytes.
        decoded: Zeroizing<Vec<u8>>,
        /// Index of the first ':' in `decoded`.
        colon: usize,
    },
    /// An `x-api-key` header value.
    ApiKey(&'a str),
    /// A bearer token (gateway tokens and Oracle JWTs, handled by later modules).
    Bearer(&'a str),
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Presented::Nothing => "Presented::Nothing",
            Presented::Basic { .. } => "Presented::Basic(redacted)",
            Presented::ApiKey(_) => "Presented::ApiKey(redacted)",
            Presented::Bearer(_) => "Presented::Bearer(redacted)",
        })
    }
}

impl Presented<'_> {
    /// For Basic: the username and password bytes.
    pub fn basic_parts(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Presented::Basic { decoded, colon } => {
                let (u, rest) = decoded.split_at(*colon);
                Some((u, rest.get(1..).unwrap_or(&[])))
            }
            _ => None,
        }
    }
}

/// Why the presented headers could not be read as one credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentedError {
    /// More than one credential, or the same header twice.
    Ambiguous,
    /// An `Authorization` scheme other than Basic or Bearer.
    UnsupportedScheme,
    /// Malformed Basic (bad base64, no colon, empty username, control characters).
    MalformedBasic,
    /// Malformed header value (not visible ASCII, too long).
    Malformed,
}

/// The longest credential header value we will look at. Larger values are refused unread.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// Reads the credential out of the `Authorization` values and the `x-api-key` values
/// (each as all occurrences of that header, in order).
pub fn parse<'a>(
    authorization: &[&'a [u8]],
    api_key: &[&'a [u8]],
) -> Result<Presented<'a>, PresentedError> {
    if authorization.len() > 1 || api_key.len() > 1 {
        return Err(PresentedError::Ambiguous);
    }
    match (authorization.first(), api_key.first()) {
        (None, None) => Ok(Presented::Nothing),
        (Some(_), Some(_)) => Err(PresentedError::Ambiguous),
        (None, Some(key)) => Ok(Presented::ApiKey(visible_ascii(key)?.trim())),
        (Some(auth), None) => parse_authorization(auth),
    }
}

fn visible_ascii(v: &[u8]) -> Result<&str, PresentedError> {
    if v.len() > MAX_CREDENTIAL_LEN || v.iter().any(|b| !(0x20..0x7f).contains(b)) {
        return Err(PresentedError::Malformed);
    }
    std::str::from_utf8(v).map_err(|_| PresentedError::Malformed)
}

fn parse_authorization(v: &[u8]) -> Result<Presented<'_>, PresentedError> {
    let s = visible_ascii(v)?.trim();
    let (scheme, rest) = s.split_once(' ').ok_or(PresentedError::UnsupportedScheme)?;
    let rest = rest.trim_start();
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| PresentedError::MalformedBasic)?,
        );
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(PresentedError::MalformedBasic)?;
        if colon == 0 || decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(PresentedError::MalformedBasic);
        }
        Ok(Presented::Basic { decoded, colon })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(PresentedError::Malformed);
        }
        Ok(Presented::Bearer(rest))
    } else {
        Err(PresentedError::UnsupportedScheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> Vec<u8> {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
        .into_bytes()
    }

    #[test]
    fn basic_splits_at_first_colon() {
        let h = basic("api-user:pa:ss");
        let p = parse(&[&h], &[]).expect("parses");
        assert_eq!(p.basic_parts(), Some((&b"api-user"[..], &b"pa:ss"[..])));
        assert!(!format!("{p:?}").contains("pa:ss"));
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let mut h = basic("u:p");
        h[..5].copy_from_slice(b"bAsIc");
        assert!(matches!(parse(&[&h], &[]), Ok(Presented::Basic { .. })));
        assert!(matches!(
            parse(&[b"bearer abc"], &[]),
            Ok(Presented::Bearer("abc"))
        ));
    }

    #[test]
    fn refuses_ambiguity_and_garbage() {
        let h = basic("u:p");
        assert_eq!(parse(&[&h, &h], &[]).err(), Some(PresentedError::Ambiguous));
        assert_eq!(parse(&[&h], &[b"k"]).err(), Some(PresentedError::Ambiguous));
        assert_eq!(
            parse(&[], &[b"a", b"b"]).err(),
            Some(PresentedError::Ambiguous)
        );
        assert_eq!(
            parse(&[b"Digest x"], &[]).err(),
            Some(PresentedError::UnsupportedScheme)
        );
        assert_eq!(
            parse(&[b"Basic !!!"], &[]).err(),
            Some(PresentedError::MalformedBasic)
        );
        assert_eq!(
            parse(&[&basic("nocolon")], &[]).err(),
            Some(PresentedError::MalformedBasic)
        );
        assert_eq!(
            parse(&[&basic(":p")], &[]).err(),
            Some(PresentedError::MalformedBasic)
        );
        assert_eq!(
            parse(&[&basic("u\u{0}:p")], &[]).err(),
            Some(PresentedError::MalformedBasic)
        );
        assert_eq!(
            parse(&[], &[b"k\x01"]).err(),
            Some(PresentedError::Malformed)
        );
        let huge = vec![b'a'; MAX_CREDENTIAL_LEN + 1];
        assert_eq!(parse(&[], &[&huge]).err(), Some(PresentedError::Malformed));
    }

    #[test]
    fn nothing_is_nothing() {
        assert!(matches!(parse(&[], &[]), Ok(Presented::Nothing)));
    }
}
