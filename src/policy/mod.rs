//! Deciding whether a request may pass: the endpoint catalog, deny-by-default grants, and the
//! access schedule. Compiled once per configuration snapshot; every lookup on the request path
//! is a hash or an index, with no allocation.

pub mod catalog;
pub mod grants;
pub mod method;
pub mod ratelimit;
pub mod schedule;

pub use catalog::{Catalog, Endpoint, EndpointId};
pub use grants::{GrantDecision, GrantRef, Grants, Subject};
pub use method::{Method, MethodSet};
pub use schedule::Schedule;
