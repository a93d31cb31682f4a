//! The path canonicaliser never panics, and whatever it accepts is unambiguous.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = erpgate::path::canonicalize(data, 8192) {
        let p = c.path();
        assert!(p.starts_with('/'));
        assert!(!p.contains("//") && !p.contains(';') && !p.contains('\\'));
        let lower = p.to_ascii_lowercase();
        for bad in ["%2f", "%2e", "%25", "%5c", "%00"] {
            assert!(!lower.contains(bad), "{p}");
        }
        assert!(c.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
        let mut joined = p.to_string();
        if let Some(q) = c.query() {
            joined.push('?');
            joined.push_str(q);
        }
        assert_eq!(joined.as_bytes(), data, "accepted targets are relayed byte for byte");
    }
});
