//! Which redaction rules a request gets: compiled once per snapshot, looked up per request.
//!
//! A response is masked with its tenant's default rules plus the rules of *every* policy
//! that granted the request (not only the first), so adding a broader policy can never lift
//! a narrower one's masking; when several rules match one value the strongest action wins.
//! Link rewriting (`gateway.public_base_url`) rides along with the tenant's rules.

use std::sync::Arc;

use super::headers::LocationRewrite;
use super::rules::MaskRules;
use crate::ids::TenantId;

/// The most policies that may carry redaction rules (one bit each in a grant decision).
pub const MAX_REDACTING_POLICIES: usize = 128;

/// Redaction rules by tenant and policy slot.
#[derive(Debug, Default)]
pub struct RedactionTable {
    /// Per tenant: its default rules and link rewriting.
    tenant: Vec<Arc<MaskRules>>,
    /// Per policy slot, per tenant: the tenant's rules merged with the policy's.
    by_slot: Vec<Vec<Arc<MaskRules>>>,
    /// Per tenant: how its `Location`/`Content-Location` headers are rewritten.
    locations: Vec<LocationRewrite>,
}

impl RedactionTable {
    /// Builds the table from each tenant's rules (indexed by `TenantId`) and each redacting
    /// policy's own rules (indexed by slot, at most [`MAX_REDACTING_POLICIES`]).
    pub fn new(tenant: Vec<MaskRules>, slots: &[MaskRules]) -> RedactionTable {
        let by_slot = slots
            .iter()
            .map(|p| tenant.iter().map(|t| Arc::new(t.merged(p))).collect())
            .collect();
        RedactionTable {
            tenant: tenant.into_iter().map(Arc::new).collect(),
            by_slot,
            locations: Vec::new(),
        }
    }

    /// The same table with each tenant's `Location` rewriting (indexed by `TenantId`).
    pub fn with_locations(mut self, locations: Vec<LocationRewrite>) -> RedactionTable {
        self.locations = locations;
        self
    }

    /// How `tenant`'s `Location`/`Content-Location` headers are rewritten.
    pub fn location(&self, tenant: TenantId) -> Option<&LocationRewrite> {
        self.locations.get(tenant.0 as usize)
    }

    /// The rules for a request of `tenant` granted by the policies in `slots` (see
    /// `GrantDecision::redact`), or `None` when its responses pass through untouched. One
    /// redacting policy (the usual case) is a lookup; several are merged here.
    pub fn for_request(&self, tenant: TenantId, slots: u128) -> Option<Arc<MaskRules>> {
        let t = tenant.0 as usize;
        let base = self.tenant.get(t)?;
        let rules = match slots.count_ones() {
            0 => base.clone(),
            1 => self
                .by_slot
                .get(slots.trailing_zeros() as usize)?
                .get(t)?
                .clone(),
            _ => {
                let mut merged = (**base).clone();
                for slot in (0..self.by_slot.len()).filter(|s| slots & (1u128 << s) != 0) {
                    // The slot's entry is the tenant's rules plus the policy's; merging the
                    // whole entry repeats the tenant's rules, which is harmless (first wins
                    // among equals) and keeps one representation. Made per request, it is not
                    // searched: its bodies are always parsed (`MaskRules::merged_unsearched`).
                    merged = merged.merged_unsearched(self.by_slot[slot].get(t)?);
                }
                Arc::new(merged)
            }
        };
        rules.is_active().then_some(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::{MaskAction, RuleSpec};

    fn rules(paths: &[(&str, MaskAction)]) -> MaskRules {
        let specs: Vec<RuleSpec> = paths
            .iter()
            .map(|(p, a)| RuleSpec {
                path: p.to_string(),
                action: *a,
            })
            .collect();
        MaskRules::compile(&specs, "****").expect("compile")
    }

    #[test]
    fn tenant_defaults_and_every_granting_policy_apply() {
        let table = RedactionTable::new(
            vec![rules(&[("**.IBAN", MaskAction::Remove)]), rules(&[])],
            &[
                rules(&[("**.Salary", MaskAction::Mask)]),
                rules(&[("**.Tax", MaskAction::Last4)]),
            ],
        );
        let sources = |r: Option<Arc<MaskRules>>| -> Vec<String> {
            r.map(|r| r.rules().iter().map(|x| x.source.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(sources(table.for_request(TenantId(0), 0)), ["**.IBAN"]);
        assert!(
            table.for_request(TenantId(1), 0).is_none(),
            "nothing to do: pass through"
        );
        assert_eq!(
            sources(table.for_request(TenantId(1), 0b10)),
            ["**.Tax"],
            "one policy"
        );
        let both = sources(table.for_request(TenantId(0), 0b11));
        for want in ["**.IBAN", "**.Salary", "**.Tax"] {
            assert!(both.iter().any(|s| s == want), "{want} in {both:?}");
        }
        assert!(table.for_request(TenantId(9), 0).is_none());
    }
}
