//! The token endpoint client for upstream auth mode `token`: Pingora's HTTP connector,
//! plugged into [`UpstreamTokens`](crate::upstream::token_mode::UpstreamTokens) as its
//! [`TokenEndpoint`]. Certificates are verified (host name included) against
//! `gateway.upstream_ca_file` or the system roots, like the relay's own connections.

use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use zeroize::Zeroizing;

use crate::upstream::token_mode::{Answer, AnswerFuture, FetchSpec, TokenEndpoint, MAX_ANSWER};

/// Calls token endpoints over Pingora's connector (pooled connections).
pub struct TokenClient {
    connector: Connector,
}

impl TokenClient {
    /// A client verifying certificates against `ca_file` (the relay's
    /// `gateway.upstream_ca_file`), or the system roots.
    pub fn new(ca_file: Option<&std::path::Path>) -> Self {
        let options = ca_file.map(|f| {
            let mut o = pingora::connectors::ConnectorOptions::new(16);
            o.ca_file = Some(f.to_string_lossy().into_owned());
            o
        });
        TokenClient {
            connector: Connector::new(options),
        }
    }

    async fn get(&self, spec: &FetchSpec<'_>) -> Result<Answer, String> {
        let mut peer = HttpPeer::new(spec.addr, spec.tls, spec.sni.to_string());
        peer.options.verify_cert = true;
        peer.options.verify_hostname = true;
        peer.options.connection_timeout = Some(spec.timeout);
        peer.options.read_timeout = Some(spec.timeout);
        let (mut session, _) = self.connector.get_http_session(&peer).await.map_err(|e| {
            format!(
                "cannot connect to the token endpoint: {}",
                e.etype().as_str()
            )
        })?;
        let mut req = RequestHeader::build("GET", spec.path.as_bytes(), Some(4))
            .map_err(|e| e.to_string())?;
        req.insert_header(http::header::HOST, spec.host_header)
            .map_err(|e| e.to_string())?;
        req.insert_header(http::header::AUTHORIZATION, spec.basic.clone())
            .map_err(|e| e.to_string())?;
        req.insert_header(http::header::ACCEPT, "application/json")
            .map_err(|e| e.to_string())?;
        let io = |e: Box<pingora::Error>| format!("token endpoint: {}", e.etype().as_str());
        session
            .write_request_header(Box::new(req))
            .await
            .map_err(io)?;
        session.finish_request_body().await.map_err(io)?;
        session.read_response_header().await.map_err(io)?;
        let status = session.response_header().map_or(0, |h| h.status.as_u16());
        let mut body = Zeroizing::new(Vec::new());
        while let Some(chunk) = session.read_response_body().await.map_err(io)? {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err("token endpoint answer too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

impl TokenEndpoint for TokenClient {
    fn call<'a>(&'a self, spec: &'a FetchSpec<'_>) -> AnswerFuture<'a> {
        Box::pin(self.get(spec))
    }
}
