//! HTTP methods the catalog and policies speak about, as a compact bit set.

/// A method the gateway can grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
    /// OPTIONS
    Options,
}

impl Method {
    /// Every method, in bit order.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// Parses an exact, upper-case method token (HTTP methods are case-sensitive).
    pub fn from_bytes(b: &[u8]) -> Option<Method> {
        Some(match b {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    /// The method token.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of methods.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct MethodSet(u8);

impl MethodSet {
    /// The empty set.
    pub const EMPTY: MethodSet = MethodSet(0);

    /// Whether `m` is in the set.
    pub fn contains(self, m: Method) -> bool {
        self.0 & m.bit() != 0
    }

    /// Adds `m`.
    pub fn insert(&mut self, m: Method) {
        self.0 |= m.bit();
    }

    /// The methods in both `self` and `other`.
    pub fn intersect(self, other: MethodSet) -> MethodSet {
        MethodSet(self.0 & other.0)
    }

    /// Whether empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The methods in the set.
    pub fn iter(self) -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact_and_sets_work() {
        assert_eq!(Method::from_bytes(b"GET"), Some(Method::Get));
        assert_eq!(Method::from_bytes(b"get"), None);
        assert_eq!(Method::from_bytes(b"TRACE"), None);
        let mut s = MethodSet::default();
        s.insert(Method::Get);
        s.insert(Method::Patch);
        assert!(s.contains(Method::Get) && !s.contains(Method::Head));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Method::Get, Method::Patch]
        );
        let mut t = MethodSet::default();
        t.insert(Method::Patch);
        assert_eq!(s.intersect(t), t);
        for m in Method::ALL {
            assert_eq!(Method::from_bytes(m.as_str().as_bytes()), Some(m));
        }
    }
}
