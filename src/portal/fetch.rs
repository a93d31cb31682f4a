//! The portal's one outbound HTTP client: OpenID Connect discovery, keys and the token
//! request, to the configured issuer only. HTTPS is checked against the configured PEM roots
//! (`gateway.portal_oidc_ca_file`); plain HTTP exists for loopback tests. Each call has its
//! own small runtime (sign-ins are rare and run off the listener's thread), a 10-second
//! deadline and a 256 KiB answer limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

/// The most bytes of an answer read.
const MAX_ANSWER: usize = 256 * 1024;
/// The longest a call may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// `GET url` (or `POST url` with `form` as `application/x-www-form-urlencoded`): the status
/// and the body.
pub fn call(url: &str, form: Option<&str>, ca: Option<&Path>) -> Result<(u16, Vec<u8>), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    rt.block_on(async {
        tokio::time::timeout(DEADLINE, call_async(url, form, ca))
            .await
            .map_err(|_| format!("no answer within {} s", DEADLINE.as_secs()))?
    })
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
        let cert: rustls_pki_types::CertificateDer<'_> = cert.map_err(|e| e.to_string())?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no certificate", ca.display()));
    }
    Ok(roots)
}

async fn call_async(
    url: &str,
    form: Option<&str>,
    ca: Option<&Path>,
) -> Result<(u16, Vec<u8>), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("not a URL: {url}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("not an http(s) URL: {url}")),
    };
    let host = uri.host().ok_or("a URL without a host")?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    let method = if form.is_some() { "POST" } else { "GET" };
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::ACCEPT, "application/json");
    if form.is_some() {
        req = req.header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    }
    let req = req
        .body(Full::new(Bytes::from(form.unwrap_or("").to_string())))
        .map_err(|e| e.to_string())?;
    if tls {
        let ca = ca.ok_or("an https issuer needs gateway.portal_oidc_ca_file")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots(ca)?)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(host.clone())
            .map_err(|_| format!("not a server name: {host}"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {authority}: {e}"))?;
        send(stream, req).await
    } else {
        send(tcp, req).await
    }
}

async fn send<S>(stream: S, req: http::Request<Full<Bytes>>) -> Result<(u16, Vec<u8>), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|_| format!("an answer over {MAX_ANSWER} bytes"))?
        .to_bytes();
    Ok((status, body.to_vec()))
}
