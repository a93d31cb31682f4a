//! The gateway's in-memory view of the store: accounts, credential sets, encrypted upstream
//! secrets and the kill switch, indexed for the request path.
//!
//! The request path never touches SQLite. It reads one [`DirectoryView`] per request from an
//! `ArcSwap`; the [`poller`] reloads the view whenever the store's change counter moves (the
//! CLI and the admin API bump it through triggers), so a revocation, a suspension or a kill
//! switch flip reaches a running gateway within one poll interval.

pub mod cluster;
pub mod freshness;
pub mod poller;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::{Account, AccountStatus, Credential, CredentialStatus, Directory};

/// An immutable, indexed copy of the store's access state.
#[derive(Default)]
pub struct DirectoryView {
    counter: i64,
    killswitch: bool,
    accounts: Vec<Account>,
    credentials: Vec<Credential>,
    account_by_id: HashMap<i64, usize>,
    account_by_name: HashMap<String, usize>,
    credential_by_id: HashMap<String, usize>,
    credential_by_username: HashMap<String, usize>,
    credential_by_key_id: HashMap<String, usize>,
    /// tenant → secret name → sealed ciphertext.
    secrets: HashMap<String, HashMap<String, Vec<u8>>>,
    /// tenant → signing key (sealed) and its parsed certificate.
    tenant_keys: HashMap<String, TenantKey>,
    /// Gateway tokens by id.
    tokens: HashMap<String, crate::store::StoredToken>,
    /// Browser sessions by the keyed hash of their id.
    browser_sessions: HashMap<[u8; 32], Arc<crate::store::StoredBrowserSession>>,
    /// The launch hashes of those sessions (their tokens are refused on the Bearer path).
    launched: std::collections::HashSet<String>,
}

/// A tenant's signing key as the view holds it: sealed key (or where a PKCS#11 token holds
/// it), parsed certificate.
#[derive(Clone)]
pub struct TenantKey {
    /// The sealed private key (empty when a token holds it).
    pub sealed: Vec<u8>,
    /// The PKCS#11 token's key, when the key lives there.
    pub hsm: Option<crate::crypto::pkcs11::KeyRef>,
    /// The certificate (its `x5t` goes into every assertion header).
    pub cert: crate::jwt::Certificate,
}

impl std::fmt::Debug for DirectoryView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryView")
            .field("counter", &self.counter)
            .field("killswitch", &self.killswitch)
            .field("accounts", &self.accounts.len())
            .field("credentials", &self.credentials.len())
            .finish_non_exhaustive()
    }
}

/// The index of a credential inside one [`DirectoryView`]; valid only for that view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialIdx(usize);

/// The index of an account inside one [`DirectoryView`]; valid only for that view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountIdx(usize);

impl DirectoryView {
    /// Builds the indexes over a directory loaded from the store.
    pub fn build(dir: Directory) -> DirectoryView {
        let Directory {
            counter,
            accounts,
            credentials,
            secrets,
            tenant_keys,
            tokens,
            browser_sessions,
            killswitch,
        } = dir;
        let tokens = tokens.into_iter().map(|t| (t.id.clone(), t)).collect();
        let launched = browser_sessions
            .iter()
            .map(|s| s.launch_hash.clone())
            .collect();
        let browser_sessions = browser_sessions
            .into_iter()
            .map(|s| (s.session_hash, Arc::new(s)))
            .collect();
        let tenant_keys = tenant_keys
            .into_iter()
            .filter_map(|k| match crate::jwt::Certificate::from_der(&k.cert_der) {
                Ok(cert) => {
                    let hsm = match k.key_ref.as_deref().map(crate::crypto::pkcs11::KeyRef::from_text) {
                        None => None,
                        Some(Ok(r)) => Some(r),
                        Some(Err(e)) => {
                            tracing::error!(tenant = %k.tenant, error = %e, "stored tenant key reference does not parse; the tenant cannot sign assertions");
                            return None;
                        }
                    };
                    Some((
                        k.tenant,
                        TenantKey {
                            sealed: k.key_ciphertext,
                            hsm,
                            cert,
                        },
                    ))
                }
                Err(e) => {
                    tracing::error!(tenant = %k.tenant, error = %e, "stored tenant certificate does not parse; the tenant cannot sign assertions");
                    None
                }
            })
            .collect();
        let account_by_id = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i))
            .collect();
        let account_by_name = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect();
        let credential_by_id = credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let credential_by_username = credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (c.username.clone(), i))
            .collect();
        let credential_by_key_id = credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (c.api_key_id.clone(), i))
            .collect();
        let mut by_tenant: HashMap<String, HashMap<String, Vec<u8>>> = HashMap::new();
        for s in secrets {
            by_tenant
                .entry(s.tenant.clone())
                .or_default()
                .insert(s.name.clone(), s.ciphertext.clone());
        }
        DirectoryView {
            counter,
            killswitch,
            accounts,
            credentials,
            account_by_id,
            account_by_name,
            credential_by_id,
            credential_by_username,
            credential_by_key_id,
            secrets: by_tenant,
            tenant_keys,
            tokens,
            browser_sessions,
            launched,
        }
    }

    /// For every sealed value (upstream secret, tenant signing key) that changed since `old`
    /// to a ciphertext `opens` rejects while `old`'s still opens, keeps `old`'s. Returns the
    /// `(tenant, name)` of each value kept.
    ///
    /// This is what lets a process that runs on the key a rotation moves away from — the
    /// old process of a graceful upgrade, still accepting for seconds after SIGQUIT while
    /// `erpgate key rotate` runs — keep serving: it cannot open what was re-sealed under the
    /// new key, so it keeps the same secret as sealed under the key it holds. Values that
    /// were deleted are not kept, nor values it could not open before either.
    pub fn keep_openable(
        &mut self,
        old: &DirectoryView,
        opens: &dyn Fn(&str, &str, &[u8]) -> bool,
    ) -> Vec<(String, String)> {
        let mut kept = Vec::new();
        for (tenant, names) in &mut self.secrets {
            for (name, ct) in names.iter_mut() {
                let Some(prev) = old.secret(tenant, name) else {
                    continue;
                };
                if prev != ct.as_slice() && !opens(tenant, name, ct) && opens(tenant, name, prev) {
                    *ct = prev.to_vec();
                    kept.push((tenant.clone(), name.clone()));
                }
            }
        }
        let seal_name = crate::crypto::TENANT_KEY_SEAL_NAME;
        for (tenant, key) in &mut self.tenant_keys {
            let Some(prev) = old.tenant_key(tenant) else {
                continue;
            };
            // A key moved into a token has nothing sealed: it is never traded back for the
            // sealed one it replaced.
            if key.hsm.is_some() {
                continue;
            }
            if prev.sealed != key.sealed
                && !opens(tenant, seal_name, &key.sealed)
                && opens(tenant, seal_name, &prev.sealed)
            {
                // The whole entry: the sealed key and the certificate that belongs to it.
                *key = prev.clone();
                kept.push((tenant.clone(), seal_name.to_string()));
            }
        }
        kept
    }

    /// The store change counter this view was built at.
    pub fn counter(&self) -> i64 {
        self.counter
    }

    /// Whether the global kill switch is on.
    pub fn killswitch(&self) -> bool {
        self.killswitch
    }

    /// Looks up a credential set by its API username.
    pub fn credential_by_username(&self, username: &str) -> Option<CredentialIdx> {
        self.credential_by_username
            .get(username)
            .copied()
            .map(CredentialIdx)
    }

    /// Looks up a credential set by the public id of its x-api-key.
    pub fn credential_by_key_id(&self, key_id: &str) -> Option<CredentialIdx> {
        self.credential_by_key_id
            .get(key_id)
            .copied()
            .map(CredentialIdx)
    }

    /// Looks up a credential set by its public id.
    pub fn credential_by_id(&self, id: &str) -> Option<CredentialIdx> {
        self.credential_by_id.get(id).copied().map(CredentialIdx)
    }

    /// The credential at `idx`.
    pub fn credential(&self, idx: CredentialIdx) -> Option<&Credential> {
        self.credentials.get(idx.0)
    }

    /// Whether the credential at `idx` is active.
    pub fn credential_active(&self, idx: CredentialIdx) -> bool {
        self.credential(idx)
            .is_some_and(|c| c.status == CredentialStatus::Active)
    }

    /// The account a credential belongs to.
    pub fn account_of(&self, idx: CredentialIdx) -> Option<AccountIdx> {
        let c = self.credential(idx)?;
        self.account_by_id
            .get(&c.account_id)
            .copied()
            .map(AccountIdx)
    }

    /// Looks up an account by name.
    pub fn account_by_name(&self, name: &str) -> Option<AccountIdx> {
        self.account_by_name.get(name).copied().map(AccountIdx)
    }

    /// The account at `idx`.
    pub fn account(&self, idx: AccountIdx) -> Option<&Account> {
        self.accounts.get(idx.0)
    }

    /// Whether the account at `idx` is active.
    pub fn account_active(&self, idx: AccountIdx) -> bool {
        self.account(idx)
            .is_some_and(|a| a.status == AccountStatus::Active)
    }

    /// The browser session whose id hashes to `hash`, if the store held it when this view
    /// was built (ended ones included).
    pub fn browser_session(
        &self,
        hash: &[u8; 32],
    ) -> Option<&Arc<crate::store::StoredBrowserSession>> {
        self.browser_sessions.get(hash)
    }

    /// Whether the launch token of keyed hash `launch_hash` started a session the store still
    /// kept when this view was built.
    pub fn launched(&self, launch_hash: &str) -> bool {
        self.launched.contains(launch_hash)
    }

    /// Whether the store kept any launched token when this view was built.
    pub fn any_launched(&self) -> bool {
        !self.launched.is_empty()
    }

    /// The gateway token with public id `id`, if the store held it when this view was built.
    pub fn token(&self, id: &str) -> Option<&crate::store::StoredToken> {
        self.tokens.get(id)
    }

    /// The signing key of `tenant`, if one is stored.
    pub fn tenant_key(&self, tenant: &str) -> Option<&TenantKey> {
        self.tenant_keys.get(tenant)
    }

    /// The sealed upstream secret `name` of `tenant`, if stored.
    pub fn secret(&self, tenant: &str, name: &str) -> Option<&[u8]> {
        self.secrets
            .get(tenant)
            .and_then(|m| m.get(name))
            .map(Vec::as_slice)
    }
}

/// The shared, atomically swapped handle to the current view.
pub type DirectoryHandle = Arc<ArcSwap<DirectoryView>>;

/// A handle holding `view`.
pub fn handle(view: DirectoryView) -> DirectoryHandle {
    Arc::new(ArcSwap::from_pointee(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredSecret;

    fn view(counter: i64, secrets: &[(&str, &str, &[u8])]) -> DirectoryView {
        DirectoryView::build(Directory {
            counter,
            secrets: secrets
                .iter()
                .map(|(t, n, c)| StoredSecret {
                    tenant: (*t).into(),
                    name: (*n).into(),
                    ciphertext: c.to_vec(),
                    updated_at: String::new(),
                })
                .collect(),
            ..Directory::default()
        })
    }

    #[test]
    fn only_values_changed_to_unopenable_ones_are_kept_from_the_old_view() {
        // "Opens" stands for: sealed under a key this process holds.
        let opens = |_: &str, _: &str, c: &[u8]| c.starts_with(b"mine");
        let old = view(
            1,
            &[
                ("acme", "pw", b"mine-1"),
                ("acme", "changed", b"mine-2"),
                ("acme", "gone", b"mine-3"),
                ("acme", "never", b"theirs-0"),
            ],
        );
        let mut new = view(
            2,
            &[
                ("acme", "pw", b"theirs-1"),     // re-sealed under another key: keep ours
                ("acme", "changed", b"mine-2b"), // changed under our key: take it
                ("acme", "never", b"theirs-0b"), // we never opened it: nothing to keep
                ("globex", "new", b"theirs-new"), // new, unopenable: nothing to keep
            ],
        );
        let kept = new.keep_openable(&old, &opens);
        assert_eq!(kept, vec![("acme".to_string(), "pw".to_string())]);
        assert_eq!(new.secret("acme", "pw"), Some(&b"mine-1"[..]));
        assert_eq!(new.secret("acme", "changed"), Some(&b"mine-2b"[..]));
        assert_eq!(new.secret("acme", "never"), Some(&b"theirs-0b"[..]));
        assert_eq!(
            new.secret("acme", "gone"),
            None,
            "a deleted secret stays deleted"
        );
        assert_eq!(new.secret("globex", "new"), Some(&b"theirs-new"[..]));
        assert_eq!(new.counter(), 2);
    }
}
