//! The admin API's listener in tests: a gateway serving it, an owner token from the CLI, and
//! calls with or without a bearer token.

use serde_json::Value;

use super::{request, Gateway, Options, Response};

/// A gateway with its admin listener and an owner token.
pub struct Admin {
    pub gw: Gateway,
    pub addr: std::net::SocketAddr,
    pub owner: String,
}

impl Admin {
    /// One call, with `token` as a bearer token and `body` as JSON.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let text = body.map(|b| b.to_string());
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        super::http::raw(
            self.addr,
            &request(method, path, &headers, text.as_deref().map(str::as_bytes)),
        )
        .expect("admin answers")
    }
}

/// Starts a gateway with an admin listener and creates an owner token through the CLI.
pub fn start() -> Admin {
    start_with(Options::default())
}

/// [`start`] with other harness options (`admin_listen` is added to `gateway_extra`).
pub fn start_with(opts: Options) -> Admin {
    start_at(super::free_port(), opts)
}

/// [`start_with`] with the admin listener on `port` (a URL naming it is configured first).
pub fn start_at(port: u16, opts: Options) -> Admin {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let gateway_extra = format!("{}\nadmin_listen = \"{addr}\"", opts.gateway_extra);
    let mut gw = Gateway::start(Options {
        gateway_extra,
        ..opts
    });
    // The first owner token comes from the CLI (it holds the master key).
    let out = gw.ok(&[
        "admin-token",
        "create",
        "--role",
        "owner",
        "--name",
        "root",
        "--json",
    ]);
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let owner = v["token"].as_str().expect("token").to_string();
    assert!(owner.starts_with("eat_"));
    // The admin listener binds at start: restart so the gateway serves it with this config.
    assert_eq!(gw.stop(), Some(0));
    gw.spawn();
    gw.eventually("the admin listener", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    Admin { gw, addr, owner }
}
