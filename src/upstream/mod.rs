//! Everything about the upstream side of the relay: each tenant's upstream and how we
//! authenticate there ([`target`]), where to connect (resolution and host lock, [`peer`]),
//! and the credential the gateway injects ([`inject`], [`token_mode`]). Plain values in and
//! out: the header edits on Pingora's request live in `gateway::upstream_headers`.

pub mod inject;
pub mod peer;
pub mod target;
pub mod token_mode;
