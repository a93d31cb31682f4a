//! A submitted form (`application/x-www-form-urlencoded`). It may hold a password or a code:
//! `Debug` shows the field names only and the values are zeroised on drop. A field given
//! twice, or a value that is not UTF-8, refuses the form.

use zeroize::Zeroize;

/// The fields of one form.
#[derive(Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.fields.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Drop for Form {
    fn drop(&mut self) {
        for (_, v) in &mut self.fields {
            v.zeroize();
        }
    }
}

fn decode(s: &str) -> Result<String, &'static str> {
    let plus = s.replace('+', " ");
    let mut bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
    let out = String::from_utf8(bytes.clone()).map_err(|_| "The form is not UTF-8.");
    bytes.zeroize();
    out
}

impl Form {
    /// Parses a form body.
    pub fn parse(body: &[u8]) -> Result<Form, &'static str> {
        let text = std::str::from_utf8(body).map_err(|_| "The form is not UTF-8.")?;
        let mut form = Form::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            if form.fields.iter().any(|(have, _)| *have == k) {
                return Err("A form field was given twice.");
            }
            form.fields.push((k, v));
        }
        Ok(form)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key`, trimmed, or `""`.
    pub fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or("").trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses_repeats() {
        let f = Form::parse(b"user=ops+lead&password=a%26b%3Dc&empty=&bare").expect("form");
        assert_eq!(f.get("user"), Some("ops lead"));
        assert_eq!(f.get("password"), Some("a&b=c"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("bare"), Some(""));
        assert_eq!(f.get("missing"), None);
        assert!(!format!("{f:?}").contains("a&b"));
        assert!(Form::parse(b"a=1&a=2").is_err());
        assert!(Form::parse(b"a=%ff").is_err());
    }
}
