//! Everything about the upstream side of the relay: where to connect (resolution and host
//! lock), what headers leave the gateway, and the credential the gateway injects.

pub mod headers;
pub mod inject;
pub mod peer;
pub mod token_mode;
