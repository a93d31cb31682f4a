//! What Oracle's REST framework does with a request beyond its path and method: the query
//! parameters it acts on ([`query`], with the `q` expression language in [`filter`]), the
//! request headers it acts on ([`headers`]) and batch bodies ([`batch`]). Pure readers: the
//! decisions built on them are the chain's (`gateway::governed`, `gateway::batch`).

pub mod batch;
pub mod filter;
pub mod headers;
pub mod query;
