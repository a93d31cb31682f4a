//! Parsing of `Authorization` / `x-api-key` values never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len().max(1)));
    let (a, k) = data.split_at(split);
    let _ = erpgate::auth::presented::parse(&[a], &[]);
    let _ = erpgate::auth::presented::parse(&[], &[k]);
    let _ = erpgate::auth::presented::parse(&[a], &[k]);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = erpgate::crypto::parse_api_key(s);
    }
});
