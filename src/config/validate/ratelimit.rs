//! Validating policies' `rate_limit` and assigning each limiting policy its slot.

use super::super::Files;
use crate::policy::grants::CompiledPolicy;
use crate::policy::ratelimit::{Per, RateLimit};

/// The most policies that may set a rate limit (one bit each in a grant decision).
pub const MAX_LIMITING_POLICIES: usize = 128;

/// Checks every `rate_limit` and gives the policies that set one a slot in `policies` (which
/// are in file order). Returns the limits indexed by slot.
pub(super) fn assign(
    files: &Files,
    policies: &mut [CompiledPolicy],
    p: &mut Vec<String>,
) -> Vec<RateLimit> {
    let mut out = Vec::new();
    let mut compiled = policies.iter_mut();
    for f in &files.files {
        for pol in &f.model.policy {
            let Some(cp) = compiled.next() else { break };
            let Some(rl) = &pol.rate_limit else { continue };
            let key = format!("{}: policy \"{}\".rate_limit", f.name, pol.name);
            let per = match rl.per.as_str() {
                "credential" => Some(Per::Credential),
                "account" => Some(Per::Account),
                other => {
                    p.push(format!(
                        "{key}.per: \"{other}\" is not credential or account"
                    ));
                    None
                }
            };
            let rate = rl.requests_per_second;
            if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
                p.push(format!(
                    "{key}.requests_per_second: {rate} must be above 0 and at most 1000000"
                ));
                continue;
            }
            let burst = match rl.burst {
                Some(0) => {
                    p.push(format!("{key}.burst: must be at least 1"));
                    continue;
                }
                Some(b) => f64::from(b),
                None => rate.ceil().max(1.0),
            };
            let Some(per) = per else { continue };
            if out.len() == MAX_LIMITING_POLICIES {
                p.push(format!(
                    "{key}: at most {MAX_LIMITING_POLICIES} policies may set a rate limit"
                ));
                continue;
            }
            cp.rate_slot = u8::try_from(out.len()).ok();
            out.push(RateLimit {
                policy: pol.name.clone(),
                per,
                rate,
                burst,
            });
        }
    }
    out
}
