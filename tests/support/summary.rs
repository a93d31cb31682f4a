//! What a summary of the trail must say, counted record by record from the records
//! themselves: the oracle the summary's tests (portal, CLI, both engines) compare with.

use std::collections::BTreeMap;

/// Counts by name: decisions by name, reasons most frequent first (ties by name).
pub type Counts = Vec<(String, i64)>;

/// The request records among `records` (audit JSON) at or after `since` (stored form; `""`
/// for all), by decision, and the refusals (`denied`, `failed`) by reason.
pub fn counted(records: &[serde_json::Value], since: &str) -> (Counts, Counts) {
    let mut decisions = BTreeMap::new();
    let mut reasons = BTreeMap::new();
    for r in records {
        let ts = r["ts"].as_str().unwrap_or("");
        if r["kind"] != "request" || ts < since {
            continue;
        }
        let decision = r["decision"].as_str().unwrap_or("").to_string();
        let reason = r["reason"].as_str().unwrap_or("");
        if matches!(decision.as_str(), "denied" | "failed") && !reason.is_empty() {
            *reasons.entry(reason.to_string()).or_insert(0) += 1;
        }
        *decisions.entry(decision).or_insert(0) += 1;
    }
    let mut reasons: Counts = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (decisions.into_iter().collect(), reasons)
}
