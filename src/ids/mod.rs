//! Identifiers shared by every layer: [`TenantId`] (a tenant's index in its snapshot) and
//! request ids ([`RequestIds`]). A leaf: it imports nothing from the crate.

mod request;

pub use request::{made_at, RequestIds, ID_LEN, POOL_IDS};

/// Index of a tenant in its snapshot (`Snapshot::tenants`, `Compiled::tenants`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(pub u32);
