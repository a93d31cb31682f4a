//! Deny-by-default grants: subjects × endpoints × methods, optionally scoped to a tenant.
//!
//! Compiled per subject into a table indexed by endpoint, so a check is one hash lookup and
//! one index. When several grants match, the first in file order is reported (policy, then
//! rule); the first schedule-exempt match, if any, is reported too, so the schedule step can
//! tell whether an otherwise closed window may be passed.

use std::collections::HashMap;

use super::catalog::EndpointId;
use super::method::{Method, MethodSet};
use crate::ids::TenantId;

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The integration account, for issued credentials.
    pub account: Option<&'a str>,
    /// The Oracle user, for delegated identities.
    pub oracle_user: Option<&'a str>,
    /// Role claims of the Oracle user.
    pub roles: &'a [String],
}

/// A (policy, rule) pair, by index in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantRef {
    /// Policy index.
    pub policy: u32,
    /// Rule index within the policy.
    pub rule: u32,
    /// Whether the policy skips the schedule.
    pub schedule_exempt: bool,
}

/// The outcome of a check. Denied when `first` is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantDecision {
    /// The first matching grant.
    pub first: Option<GrantRef>,
    /// The first matching schedule-exempt grant.
    pub exempt: Option<GrantRef>,
    /// Redaction slots (bit `n`: slot `n`) of every matching policy that carries redaction
    /// rules: all of them apply, so a broader policy can never lift a narrower one's masking.
    pub redact: u128,
    /// Rate-limit slots (bit `n`: slot `n`) of every matching policy that sets a limit: every
    /// one of them applies.
    pub limited: u128,
    /// Governed request headers (`oracle::headers::Governed` bits) granted by any matching
    /// rule.
    pub headers: u8,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    methods: MethodSet,
    tenant: Option<TenantId>,
    grant: GrantRef,
    redact_slot: Option<u8>,
    rate_slot: Option<u8>,
    headers: u8,
}

/// Grants of one subject, indexed by endpoint.
#[derive(Default, Debug)]
struct Table {
    by_endpoint: Vec<Vec<Entry>>,
}

impl Table {
    fn add(&mut self, endpoints: usize, endpoint: EndpointId, entry: Entry) {
        if self.by_endpoint.len() < endpoints {
            self.by_endpoint.resize_with(endpoints, Vec::new);
        }
        if let Some(v) = self.by_endpoint.get_mut(endpoint.0 as usize) {
            v.push(entry);
        }
    }

    fn scan(&self, tenant: TenantId, endpoint: EndpointId, method: Method, d: &mut GrantDecision) {
        let Some(list) = self.by_endpoint.get(endpoint.0 as usize) else {
            return;
        };
        for e in list {
            if !e.methods.contains(method) || e.tenant.is_some_and(|t| t != tenant) {
                continue;
            }
            if d.first.is_none_or(|f| e.grant < f) {
                d.first = Some(e.grant);
            }
            if e.grant.schedule_exempt && d.exempt.is_none_or(|f| e.grant < f) {
                d.exempt = Some(e.grant);
            }
            if let Some(slot) = e.redact_slot {
                d.redact |= 1u128 << slot;
            }
            if let Some(slot) = e.rate_slot {
                d.limited |= 1u128 << slot;
            }
            d.headers |= e.headers;
        }
    }
}

/// What one compiled rule grants (input to [`Grants::build`]).
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Rule name.
    pub name: String,
    /// (endpoint, methods) pairs granted.
    pub grants: Vec<(EndpointId, MethodSet)>,
    /// Governed request headers granted with them (`oracle::headers::Governed` bits).
    pub headers: u8,
}

/// One compiled policy (input to [`Grants::build`]).
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// Policy name.
    pub name: String,
    /// Subjects, already validated (`account:…`, `user:…`, `user:…*`, `role:…`).
    pub subjects: Vec<String>,
    /// Tenant scope.
    pub tenant: Option<TenantId>,
    /// Skips the schedule.
    pub schedule_exempt: bool,
    /// The policy's redaction slot (below 128), when it carries redaction rules.
    pub redact_slot: Option<u8>,
    /// The policy's rate-limit slot (below 128), when it sets a limit.
    pub rate_slot: Option<u8>,
    /// The compiled rules, in the order they are checked.
    pub rules: Vec<CompiledRule>,
}

/// All grants of a snapshot.
#[derive(Debug, Default)]
pub struct Grants {
    names: Vec<(String, Vec<String>)>,
    accounts: HashMap<String, Table>,
    users: HashMap<String, Table>,
    user_prefixes: Vec<(String, Table)>,
    roles: HashMap<String, Table>,
}

impl Grants {
    /// Compiles policies for a catalog of `endpoints` entries.
    pub fn build(policies: &[CompiledPolicy], endpoints: usize) -> Grants {
        let mut g = Grants::default();
        for (pi, p) in policies.iter().enumerate() {
            g.names.push((
                p.name.clone(),
                p.rules.iter().map(|r| r.name.clone()).collect(),
            ));
            for subject in &p.subjects {
                let table = if let Some(a) = subject.strip_prefix("account:") {
                    g.accounts.entry(a.to_string()).or_default()
                } else if let Some(prefix) = subject
                    .strip_prefix("user:")
                    .and_then(|u| u.strip_suffix('*'))
                {
                    match g.user_prefixes.iter().position(|(p, _)| p == prefix) {
                        Some(i) => &mut g.user_prefixes[i].1,
                        None => {
                            g.user_prefixes.push((prefix.to_string(), Table::default()));
                            let last = g.user_prefixes.len() - 1;
                            &mut g.user_prefixes[last].1
                        }
                    }
                } else if let Some(u) = subject.strip_prefix("user:") {
                    g.users.entry(u.to_string()).or_default()
                } else if let Some(r) = subject.strip_prefix("role:") {
                    g.roles.entry(r.to_string()).or_default()
                } else {
                    continue;
                };
                for (ri, rule) in p.rules.iter().enumerate() {
                    for (endpoint, methods) in &rule.grants {
                        table.add(
                            endpoints,
                            *endpoint,
                            Entry {
                                methods: *methods,
                                tenant: p.tenant,
                                grant: GrantRef {
                                    policy: pi as u32,
                                    rule: ri as u32,
                                    schedule_exempt: p.schedule_exempt,
                                },
                                redact_slot: p.redact_slot,
                                rate_slot: p.rate_slot,
                                headers: rule.headers,
                            },
                        );
                    }
                }
            }
        }
        g
    }

    /// Checks `subject` for `method` on `endpoint` in `tenant`.
    pub fn check(
        &self,
        subject: &Subject<'_>,
        tenant: TenantId,
        endpoint: EndpointId,
        method: Method,
    ) -> GrantDecision {
        let mut d = GrantDecision::default();
        if let Some(t) = subject.account.and_then(|a| self.accounts.get(a)) {
            t.scan(tenant, endpoint, method, &mut d);
        }
        if let Some(user) = subject.oracle_user {
            if let Some(t) = self.users.get(user) {
                t.scan(tenant, endpoint, method, &mut d);
            }
            for (prefix, t) in &self.user_prefixes {
                if user.starts_with(prefix.as_str()) {
                    t.scan(tenant, endpoint, method, &mut d);
                }
            }
            for role in subject.roles {
                if let Some(t) = self.roles.get(role) {
                    t.scan(tenant, endpoint, method, &mut d);
                }
            }
        }
        d
    }

    /// The policy's name.
    pub fn policy_name(&self, g: GrantRef) -> &str {
        self.names.get(g.policy as usize).map_or("", |(n, _)| n)
    }

    /// The rule's name.
    pub fn rule_name(&self, g: GrantRef) -> &str {
        self.names
            .get(g.policy as usize)
            .and_then(|(_, r)| r.get(g.rule as usize))
            .map_or("", String::as_str)
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.names.len()
    }

    /// Whether any policy grants by role (`role:NAME`): such grants depend on the roles in
    /// an Oracle user's token, which the audit trail does not keep.
    pub fn grants_by_role(&self) -> bool {
        !self.roles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ms: &[Method]) -> MethodSet {
        let mut s = MethodSet::default();
        for m in ms {
            s.insert(*m);
        }
        s
    }

    fn policy(
        name: &str,
        subjects: &[&str],
        tenant: Option<u32>,
        exempt: bool,
        grants: &[(u32, &[Method])],
    ) -> CompiledPolicy {
        CompiledPolicy {
            name: name.into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            tenant: tenant.map(TenantId),
            schedule_exempt: exempt,
            redact_slot: None,
            rate_slot: None,
            rules: vec![CompiledRule {
                name: "r".into(),
                headers: 0,
                grants: grants
                    .iter()
                    .map(|(e, m)| (EndpointId(*e), set(m)))
                    .collect(),
            }],
        }
    }

    #[test]
    fn deny_by_default_first_match_and_exempt() {
        let g = Grants::build(
            &[
                policy("p0", &["account:a"], None, false, &[(0, &[Method::Get])]),
                policy(
                    "p1",
                    &["account:a", "account:b"],
                    None,
                    true,
                    &[(0, &[Method::Get]), (1, &[Method::Post])],
                ),
                policy("p2", &["account:c"], Some(1), false, &[(0, &[Method::Get])]),
            ],
            3,
        );
        let a = Subject {
            account: Some("a"),
            oracle_user: None,
            roles: &[],
        };
        let d = g.check(&a, TenantId(0), EndpointId(0), Method::Get);
        assert_eq!(d.first.map(|f| f.policy), Some(0));
        assert_eq!(d.exempt.map(|f| f.policy), Some(1));
        assert_eq!(g.policy_name(d.first.expect("first")), "p0");
        assert_eq!(
            g.check(&a, TenantId(0), EndpointId(0), Method::Delete),
            GrantDecision::default()
        );
        assert_eq!(
            g.check(&a, TenantId(0), EndpointId(2), Method::Get),
            GrantDecision::default()
        );
        let nobody = Subject {
            account: Some("z"),
            oracle_user: None,
            roles: &[],
        };
        assert!(g
            .check(&nobody, TenantId(0), EndpointId(0), Method::Get)
            .first
            .is_none());
        let c = Subject {
            account: Some("c"),
            oracle_user: None,
            roles: &[],
        };
        assert!(
            g.check(&c, TenantId(0), EndpointId(0), Method::Get)
                .first
                .is_none(),
            "tenant scope"
        );
        assert!(g
            .check(&c, TenantId(1), EndpointId(0), Method::Get)
            .first
            .is_some());
    }

    #[test]
    fn every_granting_redacting_policy_is_reported() {
        let mut p0 = policy("p0", &["account:a"], None, false, &[(0, &[Method::Get])]);
        p0.redact_slot = Some(0);
        let p1 = policy("p1", &["account:a"], None, false, &[(0, &[Method::Get])]);
        let mut p2 = policy("p2", &["account:a"], None, false, &[(0, &[Method::Get])]);
        p2.redact_slot = Some(5);
        let mut p3 = policy("p3", &["account:a"], None, false, &[(0, &[Method::Post])]);
        p3.redact_slot = Some(7);
        let mut p4 = policy("p4", &["account:a"], Some(1), false, &[(0, &[Method::Get])]);
        p4.redact_slot = Some(9);
        let g = Grants::build(&[p0, p1, p2, p3, p4], 1);
        let subject = Subject {
            account: Some("a"),
            oracle_user: None,
            roles: &[],
        };
        let d = g.check(&subject, TenantId(0), EndpointId(0), Method::Get);
        assert_eq!(d.first.map(|f| f.policy), Some(0));
        assert_eq!(
            d.redact,
            (1 << 0) | (1 << 5),
            "not p3 (other method), not p4 (other tenant)"
        );
    }

    #[test]
    fn users_prefixes_and_roles() {
        let g = Grants::build(
            &[
                policy("u", &["user:JANE.DOE"], None, false, &[(0, &[Method::Get])]),
                policy("p", &["user:AP_*"], None, false, &[(1, &[Method::Get])]),
                policy(
                    "r",
                    &["role:AP_INVOICE_VIEWER"],
                    None,
                    false,
                    &[(2, &[Method::Get])],
                ),
            ],
            3,
        );
        let roles = vec!["AP_INVOICE_VIEWER".to_string()];
        let s = Subject {
            account: None,
            oracle_user: Some("AP_CLERK"),
            roles: &roles,
        };
        assert!(g
            .check(&s, TenantId(0), EndpointId(0), Method::Get)
            .first
            .is_none());
        assert!(g
            .check(&s, TenantId(0), EndpointId(1), Method::Get)
            .first
            .is_some());
        assert!(g
            .check(&s, TenantId(0), EndpointId(2), Method::Get)
            .first
            .is_some());
        let j = Subject {
            account: None,
            oracle_user: Some("JANE.DOE"),
            roles: &[],
        };
        assert!(g
            .check(&j, TenantId(0), EndpointId(0), Method::Get)
            .first
            .is_some());
        // An account named like a user grants nothing to that user, and vice versa.
        let acct = Subject {
            account: Some("JANE.DOE"),
            oracle_user: None,
            roles: &[],
        };
        assert!(g
            .check(&acct, TenantId(0), EndpointId(0), Method::Get)
            .first
            .is_none());
    }
}
