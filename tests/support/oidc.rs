//! A small OpenID Connect provider on loopback for the portal's single sign-on tests:
//! discovery, `/authorize` (redirects straight back with a code, as if the person had signed
//! in), `/token` (checks the client secret, the code — once — and the PKCE verifier against
//! the challenge) and `/jwks`. What the next ID token says, and how it is signed, is the
//! test's to choose ([`Next`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// What the next ID token says and how it is made.
#[derive(Clone, Debug)]
pub struct Next {
    pub sub: String,
    pub email: Option<(String, bool)>,
    pub aud: Value,
    pub nonce: Option<String>,
    pub exp_in: i64,
    pub rogue_key: bool,
}

impl Next {
    pub fn as_subject(sub: &str, client_id: &str) -> Next {
        Next {
            sub: sub.into(),
            email: None,
            aud: json!(client_id),
            nonce: None,
            exp_in: 300,
            rogue_key: false,
        }
    }
}

#[derive(Default)]
struct Shared {
    next: Option<Next>,
    /// Issued code → (nonce, code challenge, redirect_uri).
    codes: Vec<(String, String, String, String)>,
    /// Every authorize request's query, for the test to inspect.
    authorizations: Vec<Vec<(String, String)>>,
}

/// The running provider.
pub struct Provider {
    pub addr: SocketAddr,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    shared: Arc<Mutex<Shared>>,
}

struct Keys {
    trusted: rsa::RsaPrivateKey,
    rogue: rsa::RsaPrivateKey,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn query(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |x: &str| {
                percent_encoding::percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .to_string()
            };
            (d(k), d(v))
        })
        .collect()
}

fn get<'a>(q: &'a [(String, String)], k: &str) -> &'a str {
    q.iter()
        .find(|(key, _)| key == k)
        .map_or("", |(_, v)| v.as_str())
}

impl Provider {
    /// Starts the provider with two fresh RSA keys (one published, one not).
    pub fn start() -> Provider {
        Provider::start_on("127.0.0.1")
    }

    /// [`Provider::start`], its issuer named with `host` (`localhost`: another site than a
    /// portal on `127.0.0.1`, as a real provider is).
    pub fn start_on(host: &str) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut rng = rand_core::OsRng;
        let keys = Arc::new(Keys {
            trusted: rsa::RsaPrivateKey::new(&mut rng, 2048).expect("key"),
            rogue: rsa::RsaPrivateKey::new(&mut rng, 2048).expect("key"),
        });
        let p = Provider {
            addr,
            issuer: format!("http://{host}:{}", addr.port()),
            client_id: "erpgate-portal".into(),
            client_secret: "oidc-client-secret-canary".into(),
            shared: Arc::new(Mutex::new(Shared::default())),
        };
        let (shared, issuer, secret, client) = (
            p.shared.clone(),
            p.issuer.clone(),
            p.client_secret.clone(),
            p.client_id.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (path, q) = target.split_once('?').unwrap_or((&target, ""));
                let (status, headers, out) = answer(
                    &shared,
                    &keys,
                    &issuer,
                    &client,
                    &secret,
                    path,
                    &query(q),
                    &body,
                );
                let mut w = stream;
                let _ = write!(
                    w,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{out}",
                    out.len()
                );
            }
        });
        p
    }

    /// What the next ID token will be.
    pub fn next(&self, n: Next) {
        self.shared.lock().expect("lock").next = Some(n);
    }

    /// The query of the last authorization request.
    pub fn last_authorization(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .expect("lock")
            .authorizations
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Mutex<Shared>,
    keys: &Keys,
    issuer: &str,
    client: &str,
    secret: &str,
    path: &str,
    q: &[(String, String)],
    body: &[u8],
) -> (u16, String, String) {
    let mut s = shared.lock().expect("lock");
    match path {
        "/.well-known/openid-configuration" => (
            200,
            String::new(),
            json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/authorize"),
                   "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks")})
            .to_string(),
        ),
        "/jwks" => {
            let k = keys.trusted.to_public_key();
            (
                200,
                String::new(),
                json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                                 "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())}]})
                .to_string(),
            )
        }
        "/authorize" => {
            s.authorizations.push(q.to_vec());
            let code = format!("code-{}", s.codes.len() + 1);
            s.codes.push((
                code.clone(),
                get(q, "nonce").to_string(),
                get(q, "code_challenge").to_string(),
                get(q, "redirect_uri").to_string(),
            ));
            let to = format!(
                "{}?code={code}&state={}",
                get(q, "redirect_uri"),
                percent_encoding::utf8_percent_encode(get(q, "state"), percent_encoding::NON_ALPHANUMERIC)
            );
            (302, format!("Location: {to}\r\n"), String::new())
        }
        "/token" => {
            let f = query(std::str::from_utf8(body).unwrap_or(""));
            let pos = s.codes.iter().position(|c| c.0 == get(&f, "code"));
            let Some(pos) = pos else {
                return (400, String::new(), json!({"error": "invalid_grant"}).to_string());
            };
            // A code is good once.
            let (_, nonce, challenge, redirect) = s.codes.remove(pos);
            let verifier = get(&f, "code_verifier");
            let s256 = b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
            if get(&f, "client_secret") != secret
                || get(&f, "client_id") != client
                || get(&f, "grant_type") != "authorization_code"
                || get(&f, "redirect_uri") != redirect
                || s256 != challenge
            {
                return (400, String::new(), json!({"error": "invalid_client_or_pkce"}).to_string());
            }
            let n = s.next.clone().expect("the test sets the next token");
            let now = chrono::Utc::now().timestamp();
            let mut claims = json!({"iss": issuer, "sub": n.sub, "aud": n.aud, "iat": now,
                                    "exp": now + n.exp_in, "nonce": n.nonce.unwrap_or(nonce)});
            if let Some((email, verified)) = n.email {
                claims["email"] = json!(email);
                claims["email_verified"] = json!(verified);
            }
            let key = if n.rogue_key { &keys.rogue } else { &keys.trusted };
            let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).expect("pem");
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = Some("k1".into());
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("key"),
            )
            .expect("sign");
            (200, String::new(), json!({"id_token": token, "token_type": "Bearer", "access_token": "unused"}).to_string())
        }
        _ => (404, String::new(), "{}".into()),
    }
}
