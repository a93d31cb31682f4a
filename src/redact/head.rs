//! The response head as redaction edits it. The rules here never name an HTTP library's
//! response type: the gateway implements [`ResponseHead`] for Pingora's `ResponseHeader`
//! (whose edits keep its header-name case map in step with the fields), tests for
//! [`TestHead`].

use http::header::{HeaderName, HeaderValue};

/// A response head that header rules and the body decision edit in place.
pub trait ResponseHead {
    /// What a failed edit reports (Pingora's error, in the gateway).
    type Error;
    /// The status code.
    fn status(&self) -> u16;
    /// The header fields.
    fn headers(&self) -> &http::HeaderMap;
    /// Removes every field called `name`.
    fn remove(&mut self, name: &HeaderName);
    /// Sets the field spelled `name` to `value`, replacing the fields of that name (in any
    /// case). `name` is the spelling that goes out where the head keeps spellings (Pingora's
    /// does, and keeps a static one without copying it; a name the `http` crate knows is then
    /// parsed and stored without allocating).
    fn insert(&mut self, name: &'static str, value: HeaderValue) -> Result<(), Self::Error>;
    /// Sets the field spelled `name` to `value` (checked as a header value: an invalid one is
    /// an error).
    fn insert_bytes(&mut self, name: &'static str, value: &[u8]) -> Result<(), Self::Error>;
    /// Marks the response HTTP/1.1 (for chunked framing).
    fn set_http11(&mut self);
    /// Removes the fields of `names` the head has. For names that are usually absent: a
    /// removal looks the name up in each of Pingora's two maps, a check in one.
    fn remove_present(&mut self, names: &[HeaderName]) {
        for name in names {
            if self.headers().contains_key(name) {
                self.remove(name);
            }
        }
    }
}

/// A plain response head for unit tests: a status and a header map.
#[cfg(test)]
#[derive(Debug)]
pub struct TestHead {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: http::HeaderMap,
    /// Set by [`ResponseHead::set_http11`].
    pub http11: bool,
}

#[cfg(test)]
impl TestHead {
    /// A head with `status` and no fields.
    pub fn new(status: u16) -> TestHead {
        TestHead {
            status,
            headers: http::HeaderMap::new(),
            http11: false,
        }
    }

    /// Sets a field (test helper; panics on an invalid name or value).
    pub fn insert_header(&mut self, name: &str, value: &str) -> Result<(), String> {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let v = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        self.headers.insert(n, v);
        Ok(())
    }

    /// Adds a field (test helper).
    pub fn append_header(&mut self, name: String, value: &str) -> Result<(), String> {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let v = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        self.headers.append(n, v);
        Ok(())
    }
}

#[cfg(test)]
impl ResponseHead for TestHead {
    type Error = String;
    fn status(&self) -> u16 {
        self.status
    }
    fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }
    fn remove(&mut self, name: &HeaderName) {
        self.headers.remove(name);
    }
    fn insert(&mut self, name: &'static str, value: HeaderValue) -> Result<(), String> {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        self.headers.insert(n, value);
        Ok(())
    }
    fn insert_bytes(&mut self, name: &'static str, value: &[u8]) -> Result<(), String> {
        let v = HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        self.insert(name, v)
    }
    fn set_http11(&mut self) {
        self.http11 = true;
    }
}
