//! Runs the request-side chain N times (argument 1, default 10000) for instruction counting
//! under callgrind (`benches/callgrind/run.sh`), which subtracts a run with N = 0 so the
//! fixture's setup cancels out. Instruction counts do not care how noisy the machine is.

#[path = "../common/chain_fixture.rs"]
mod chain_fixture;

use std::hint::black_box;

use erpgate::gateway::chain::{admit, RequestInput};
use erpgate::gateway::context::Trace;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let f = chain_fixture::fixture();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let compiled = f.app.compiled.load_full();
    let view = f.app.directory.load_full();
    let auth = [f.basic.as_bytes()];
    let target = b"/fscmRestApi/resources/11.13.18.05/resource7/300100?onlyData=true&limit=25";
    let headers = http::HeaderMap::new();
    let run = || {
        let input = RequestInput {
            method: b"GET",
            target,
            authorization: &auth,
            api_key: &[],
            headers: &headers,
            client_ip: None,
            now: chrono::Utc::now(),
        };
        let mut trace = Trace::default();
        rt.block_on(admit(&f.app, &compiled, &view, &input, &mut trace))
            .is_ok()
    };
    // Warm the verified-credential cache outside the counted loop (N = 0 runs it too).
    assert!(run(), "the chain admits");
    for _ in 0..n {
        black_box(run());
    }
}
