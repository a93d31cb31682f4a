//! `erpgate health --addr HOST:PORT`: asks a running gateway's admin listener for `GET
//! /health` and exits 0 when it answers 200. For container health checks and scripts on hosts
//! without curl; plain HTTP over TCP, two-second timeouts, nothing else.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Args;

use super::CliResult;

/// `erpgate health`.
#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The admin listener (`gateway.admin_listen`).
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub addr: SocketAddr,
}

/// Exit 0 when `GET /health` answers 200, 1 otherwise (saying why).
pub fn run(args: &HealthArgs) -> CliResult {
    let timeout = Duration::from_secs(2);
    let status = (|| -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&args.addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: erpgate\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 64];
        let n = s.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_string())
    })()
    .map_err(|e| super::failed(format_args!("{}: {e}", args.addr)))?;
    if status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200") {
        println!("healthy ({})", args.addr);
        Ok(())
    } else {
        Err(super::failed(format_args!(
            "{} answered {status:?}",
            args.addr
        )))
    }
}
