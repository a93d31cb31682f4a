//! The operator portal in tests: a gateway with its admin listener and `gateway.portal = true`,
//! a first owner created by the CLI, and a cookie-keeping client that speaks to the portal as
//! a browser's forms would.

use std::net::SocketAddr;

use super::admin::Admin;
use super::{Options, Response};

/// A gateway serving the portal, and its first owner.
pub struct Portal {
    pub admin: Admin,
    pub owner: String,
    pub owner_password: String,
}

/// Starts a gateway with the portal and creates the owner `root-owner` through the CLI.
pub fn start() -> Portal {
    start_with(Options::default())
}

/// [`start`] with more harness options (`portal = true` is added to `gateway_extra`).
pub fn start_with(opts: Options) -> Portal {
    start_at(super::free_port(), opts)
}

/// [`start_with`] with the admin listener (and so the portal) on `port`.
pub fn start_at(port: u16, opts: Options) -> Portal {
    let gateway_extra = format!("{}\nportal = true", opts.gateway_extra);
    let admin = super::admin::start_at(
        port,
        Options {
            gateway_extra,
            ..opts
        },
    );
    let out = admin.gw.ok(&[
        "portal-user",
        "create",
        "--name",
        "root-owner",
        "--role",
        "owner",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    Portal {
        owner: "root-owner".into(),
        owner_password: v["password"].as_str().expect("password").to_string(),
        admin,
    }
}

impl Portal {
    /// A client holding `other`'s session (a second tab).
    pub fn client_with(&self, other: &Client) -> Client {
        Client {
            addr: self.admin.addr,
            cookie: other.cookie.clone(),
            last_set_cookie: None,
        }
    }

    /// A new client without a session.
    pub fn client(&self) -> Client {
        Client {
            addr: self.admin.addr,
            cookie: None,
            last_set_cookie: None,
        }
    }
}

/// A client that keeps the session cookie as a browser would.
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    /// The last `Set-Cookie` received, whole.
    pub last_set_cookie: Option<String>,
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl Client {
    /// This portal's origin, as a browser would send it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One request: `form` urlencoded as the body, `origin` as `Origin`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        origin: Option<&str>,
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(c) = &self.cookie {
            head.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(o) = origin {
            head.push_str(&format!("Origin: {o}\r\n"));
        }
        let body = form.map(|f| {
            f.iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect::<Vec<_>>()
                .join("&")
        });
        if let Some(b) = &body {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let mut raw = head.into_bytes();
        if let Some(b) = &body {
            raw.extend_from_slice(b.as_bytes());
        }
        let r = super::http::raw(self.addr, &raw).expect("portal answers");
        if let Some(set) = r.header("set-cookie") {
            self.last_set_cookie = Some(set.to_string());
            let pair = set.split(';').next().unwrap_or("").trim().to_string();
            let value = pair.split_once('=').map(|(_, v)| v).unwrap_or("");
            self.cookie = if value.is_empty() { None } else { Some(pair) };
        }
        r
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, None, None)
    }

    /// `POST path` with the portal's own origin.
    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let origin = self.origin();
        self.send("POST", path, Some(form), Some(&origin))
    }

    /// Password, then (when due) the enrolment of a new TOTP secret; returns the secret (raw
    /// bytes) and the recovery codes of the enrolment, or `None` when no factor was due.
    pub fn login_and_enroll(
        &mut self,
        user: &str,
        password: &str,
    ) -> Option<(Vec<u8>, Vec<String>)> {
        let r = self.post(
            "/portal/login",
            &[("username", user), ("password", password)],
        );
        assert_eq!(r.status, 303, "{}", r.text());
        if r.header("location") == Some("/portal/overview") {
            return None;
        }
        assert_eq!(r.header("location"), Some("/portal/mfa"));
        let page = self.get("/portal/mfa").text();
        let key = between(&page, "<code id=\"totp-key\">", "</code>");
        let secret = base32_decode(&key);
        let code = totp_now(&secret);
        let done = self.post(
            "/portal/mfa/enroll",
            &[
                ("csrf", &csrf(&page)),
                ("pending", &field(&page, "pending")),
                ("code", &code),
            ],
        );
        assert_eq!(done.status, 200, "{}", done.text());
        let text = done.text();
        let list = between(&text, "<ol id=\"recovery-codes\">", "</ol>");
        let codes = list
            .split("<code>")
            .skip(1)
            .map(|c| c.split("</code>").next().unwrap_or("").to_string())
            .collect();
        Some((secret, codes))
    }
}

/// The text between `a` and `b` in `s`.
pub fn between(s: &str, a: &str, b: &str) -> String {
    let start = s
        .find(a)
        .unwrap_or_else(|| panic!("{a:?} not in page:\n{s}"))
        + a.len();
    let len = s[start..]
        .find(b)
        .unwrap_or_else(|| panic!("{b:?} not after {a:?}"));
    s[start..start + len].to_string()
}

/// The value of the hidden input `name` in a page.
pub fn field(page: &str, name: &str) -> String {
    between(page, &format!("name=\"{name}\" value=\""), "\"")
}

/// The form token in a page.
pub fn csrf(page: &str) -> String {
    field(page, "csrf")
}

/// The current TOTP code of `secret`.
pub fn totp_now(secret: &[u8]) -> String {
    let now = chrono::Utc::now().timestamp();
    format!(
        "{:06}",
        erpgate::crypto::totp::code_at(secret, erpgate::crypto::totp::step_of(now))
    )
}

/// The TOTP code of `secret` `steps` steps from now.
pub fn totp_at(secret: &[u8], steps: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!(
        "{:06}",
        erpgate::crypto::totp::code_at(secret, erpgate::crypto::totp::step_of(now) + steps)
    )
}

/// RFC 4648 base32 (no padding) decoded.
pub fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
