//! The client's address of a Pingora session: the socket peer, or — behind a trusted proxy —
//! the hop [`crate::net`] picks from `X-Forwarded-For` (fail closed, never an address the
//! client chose). The parsing itself lives in the leaf [`crate::net`].

use std::net::IpAddr;

pub use crate::net::{client_ip, of_request, Cidr};

/// The client address of `session`'s request (`None` for a peer that is not an IP socket).
pub fn of_session(session: &pingora::proxy::Session, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = session.client_addr()?.as_inet()?.ip();
    Some(of_request(peer, &session.req_header().headers, trusted))
}
