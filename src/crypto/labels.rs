//! Every key-derivation label and seal name, written once. A typo in one of these strings
//! would not fail to compile: it would derive another key and silently break every stored
//! hash or sealed value. So callers name a [`HashPurpose`], never a string.

/// What an HMAC key derived from the master key is for (`MasterKey::keyed_hasher`). The
/// label of each purpose is part of the stored data: changing one invalidates every hash
/// stored under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashPurpose {
    /// Issued `x-api-key` secrets (stored keyed hashes, label `api-key`).
    ApiKey,
    /// The verified-credential cache (label `cache`).
    CredentialCache,
    /// The verified Oracle user token cache (label `inbound-jwt`).
    InboundJwt,
    /// Gateway tokens issued by `POST /gateway/token` (label `gateway-token`).
    GatewayToken,
    /// Admin API tokens (label `admin-token`).
    AdminToken,
    /// Failed-attempt counters: credential and address keys, the same on every gateway of
    /// one store (label `lockout`).
    Lockout,
    /// Portal session ids and their CSRF tokens (label `portal-session`).
    PortalSession,
    /// Portal recovery codes (label `portal-recovery`).
    PortalRecovery,
    /// Browser sessions of Oracle users and their form tokens (label `browser-session`).
    BrowserSession,
    /// Page Integration launch tokens, for the replay check and the audit trail (label
    /// `launch-token`).
    LaunchToken,
}

impl HashPurpose {
    /// The HKDF label suffix (after `keyed-hash:`).
    pub const fn label(self) -> &'static str {
        match self {
            HashPurpose::ApiKey => "api-key",
            HashPurpose::CredentialCache => "cache",
            HashPurpose::InboundJwt => "inbound-jwt",
            HashPurpose::GatewayToken => "gateway-token",
            HashPurpose::AdminToken => "admin-token",
            HashPurpose::Lockout => "lockout",
            HashPurpose::PortalSession => "portal-session",
            HashPurpose::PortalRecovery => "portal-recovery",
            HashPurpose::BrowserSession => "browser-session",
            HashPurpose::LaunchToken => "launch-token",
        }
    }

    /// Every purpose.
    pub const ALL: [HashPurpose; 10] = [
        HashPurpose::ApiKey,
        HashPurpose::CredentialCache,
        HashPurpose::InboundJwt,
        HashPurpose::GatewayToken,
        HashPurpose::AdminToken,
        HashPurpose::Lockout,
        HashPurpose::PortalSession,
        HashPurpose::PortalRecovery,
        HashPurpose::BrowserSession,
        HashPurpose::LaunchToken,
    ];
}

/// The seal name of portal users' TOTP secrets (with the user's name).
pub const TOTP_SEAL_NAME: &str = "portal-totp";

/// The name a tenant's signing key is sealed under (with the tenant and its upstream host).
pub const TENANT_KEY_SEAL_NAME: &str = "tenant-signing-key";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_stored_ones_and_distinct() {
        // These strings are in every database: a change here must be a migration.
        let labels: Vec<&str> = HashPurpose::ALL.iter().map(|p| p.label()).collect();
        assert_eq!(
            labels,
            [
                "api-key",
                "cache",
                "inbound-jwt",
                "gateway-token",
                "admin-token",
                "lockout",
                "portal-session",
                "portal-recovery",
                "browser-session",
                "launch-token"
            ]
        );
        assert_eq!(TENANT_KEY_SEAL_NAME, "tenant-signing-key");
    }
}
