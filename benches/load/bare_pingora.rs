//! The baseline for load comparisons: a bare Pingora reverse proxy built from the same crate
//! versions as erpgate, with only `upstream_peer` (plain HTTP to one address, same timeouts
//! and thread count). Whatever erpgate costs beyond this is the price of its filters.
//!
//! `cargo build --release --example bare_pingora`, then
//! `target/release/examples/bare_pingora LISTEN UPSTREAM [THREADS] [steal|nosteal]
//! [buffer|nobuffer]`: the fourth picks Pingora's runtime flavour (`ServerConf::work_stealing`,
//! on by default), the fifth whether accepted connections get Pingora's default 64 KiB read
//! buffer (the default) or none, as erpgate's plain-TCP listener (`memory.sh` compares both).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_secs(3));
        peer.options.read_timeout = Some(Duration::from_secs(60));
        peer.options.idle_timeout = Some(Duration::from_secs(60));
        Ok(Box::new(peer))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bare_pingora LISTEN UPSTREAM [THREADS] [steal|nosteal] [buffer|nobuffer]";
    let (Some(listen), Some(upstream)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("UPSTREAM must be host:port; {usage}");
        std::process::exit(2);
    };
    let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(2);
    // An optional `on|off` word: absent or `on` is true.
    let switch = |i: usize, on: &str, off: &str| match args.get(i).map(String::as_str) {
        None => true,
        Some(w) if w == on => true,
        Some(w) if w == off => false,
        Some(_) => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let work_stealing = switch(4, "steal", "nosteal");
    let read_buffer = switch(5, "buffer", "nobuffer");
    let conf = ServerConf {
        threads,
        work_stealing,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Passthrough { upstream },
        "bare pingora",
    );
    if read_buffer {
        proxy.add_tcp(listen);
    } else {
        proxy.add_listener(erpgate::gateway::listener::relay(listen, None));
    }
    server.add_service(proxy);
    server.run(RunArgs::default());
}
